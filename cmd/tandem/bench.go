package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/bench"
	"tandem/bench/selfsigned"
	"tandem/turn"
)

// benchUsage is the help of `tandem bench`.
const benchUsage = `Usage: tandem bench signal|turn|capacity|call|flags [flags]

Measures a Tandem server on this machine, over loopback only. Without a
target flag (-url, -server) each mode starts its own Tandem, this binary,
with every per-address limit off (see bench.ServerFlags), and stops it at
the end. Progress goes to stderr, the final table to stdout.

  signal    WebSocket pairs join rooms; join latency, relay latency at a
            fixed rate, highest clean relay rate, server RSS per socket, CPU
  turn      TURN clients bounce datagrams off an echo peer through the
            relay; allocations/s, packets/s, Mbit/s, loss, RTT, CPU/packet
  capacity  relayed 1:1 video calls, ramped until loss or added delay is
            too high; the most calls that held, and the CPU they took
  call      two peers time a call's setup, direct and relay-only
  flags     prints the limit flags those servers get, for scripts that
            start servers of their own (bench/*.sh)

'tandem bench MODE -h' lists the flags of a mode.
`

// runBench is `tandem bench MODE [flags]`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, benchUsage)
		return flag.ErrHelp
	}
	if args[0] == "flags" {
		_, err := fmt.Fprintln(stdout, strings.Join(bench.LimitFlags(), " "))
		return err
	}
	if n, err := bench.RaiseFileLimit(200_000); err != nil {
		fmt.Fprintln(stderr, "bench: cannot raise the open-file limit:", err)
	} else if n < 200_000 {
		fmt.Fprintf(stderr, "bench: open-file limit is %d: large runs may fail\n", n)
	}
	switch args[0] {
	case "signal":
		return benchSignal(ctx, args[1:], stdout, stderr)
	case "turn":
		return benchTURN(ctx, args[1:], stdout, stderr)
	case "capacity":
		return benchCapacity(ctx, args[1:], stdout, stderr)
	case "call":
		return benchCall(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, benchUsage)
	return fmt.Errorf("bench: unknown mode %q", args[0])
}

// ownServer is a Tandem started by the bench tool for one run.
type ownServer struct {
	proc   *bench.Process
	url    string // http://127.0.0.1:port
	turn   string // 127.0.0.1:port
	secret string
}

// startOwnServer runs this binary as a Tandem server on free loopback ports
// with the benchmark flags and any extra flags.
func startOwnServer(extra string, stderr io.Writer) (*ownServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find this binary: %w", err)
	}
	httpPort, err := bench.FreePort("127.0.0.1", false)
	if err != nil {
		return nil, err
	}
	turnPort, err := bench.FreePort("127.0.0.1", true)
	if err != nil {
		return nil, err
	}
	s := &ownServer{
		url:    "http://127.0.0.1:" + strconv.Itoa(httpPort),
		turn:   net.JoinHostPort("127.0.0.1", strconv.Itoa(turnPort)),
		secret: turn.RandomSecret(),
	}
	args := append(bench.ServerFlags(strings.TrimPrefix(s.url, "http://"), s.turn, s.secret), strings.Fields(extra)...)
	fmt.Fprintf(stderr, "bench: starting %s %s\n", exe, strings.Join(args, " "))
	s.proc, err = bench.StartServer(exe, args, strings.TrimPrefix(s.url, "http://"), stderr)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// selfSignedFlags are -tls-cert and -tls-key flags for a certificate made
// for this run, the pool that trusts it, and what removes its files.
func selfSignedFlags() (string, *x509.CertPool, func(), error) {
	cert, err := selfsigned.New("127.0.0.1", "localhost")
	if err != nil {
		return "", nil, nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-bench-tls-")
	if err != nil {
		return "", nil, nil, fmt.Errorf("bench: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	certFile, keyFile, err := cert.WriteFiles(dir)
	if err != nil {
		cleanup()
		return "", nil, nil, err
	}
	return "-tls-cert " + certFile + " -tls-key " + keyFile, cert.Pool, cleanup, nil
}

func (s *ownServer) stop(stderr io.Writer) {
	if err := s.proc.Stop(); err != nil {
		fmt.Fprintln(stderr, err)
	}
}

// intList parses "1,2,3".
func intList(s string) ([]int, error) {
	var out []int
	for _, part := range splitList(s) {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func benchSignal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tandem bench signal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "a running server: http://host:port, ws://host:port or host:port, on loopback (default: start one)")
	pid := fs.Int("pid", 0, "process id of the server at -url, for RSS and CPU")
	serverFlags := fs.String("server-flags", "", "extra flags for the server this run starts, e.g. \"-pprof 127.0.0.1:6060\"")
	var cfg bench.SignalConfig
	fs.StringVar(&cfg.PeerURL, "peer-url", "", "base URL of a second instance sharing rooms with -url through Redis: the second client of each room joins there")
	fs.StringVar(&cfg.Protocol, "protocol", bench.ProtocolTandem, "what the server at -url speaks: tandem, or socketio (the classic socket.io signaling server, for side-by-side runs)")
	fs.IntVar(&cfg.Pairs, "pairs", 1000, "rooms, two WebSocket clients each")
	fs.IntVar(&cfg.JoinRate, "join-rate", 2000, "joins per second while connecting; 0: unpaced")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "joins in flight at most")
	fs.IntVar(&cfg.SourceAddrs, "source-addrs", 0, "loopback source addresses from 127.0.0.2 (default: 1 per 12,000 sockets)")
	fs.IntVar(&cfg.MessageSize, "size", 1024, "bytes per signal message")
	fs.IntVar(&cfg.FixedRate, "rate", 20000, "aggregate messages/s of the fixed-rate run; 0: skip")
	steps := fs.String("steps", "10000,20000,40000,60000,80000,100000", "rates of the step-up search; empty: skip")
	fs.IntVar(&cfg.Refine, "refine", 2, "bisection steps after the first unclean rate")
	fs.DurationVar(&cfg.StepDuration, "step-duration", 5*time.Second, "how long each rate is held")
	fs.DurationVar(&cfg.P99Limit, "p99-limit", 50*time.Millisecond, "p99 under which a rate is clean (with no loss)")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Second, "pause after joining before memory is read")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Steps, err = intList(*steps); err != nil {
		return fmt.Errorf("-steps: %w", err)
	}
	cfg.URL, cfg.PID, cfg.Progress = *target, *pid, stderr
	if cfg.URL == "" {
		srv, err := startOwnServer(*serverFlags, stderr)
		if err != nil {
			return err
		}
		defer srv.stop(stderr)
		cfg.URL, cfg.PID = srv.url, srv.proc.PID()
	}
	res, err := bench.RunSignal(ctx, cfg)
	if res != nil {
		res.WriteTable(stdout)
	}
	return err
}

func benchTURN(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tandem bench turn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "host:port of a running TURN server (default: start a Tandem)")
	secret := fs.String("secret", "", "TURN REST API shared secret of -server")
	pid := fs.Int("pid", 0, "process id of the server at -server, for CPU per packet")
	serverFlags := fs.String("server-flags", "", "extra flags for the server this run starts")
	var cfg bench.TURNConfig
	fs.IntVar(&cfg.Clients, "clients", 50, "TURN clients, one allocation each")
	fs.IntVar(&cfg.Rate, "rate", 1000, "datagrams per second each client sends")
	fs.IntVar(&cfg.Size, "size", 1200, "bytes per datagram")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long the clients send")
	fs.IntVar(&cfg.EchoSockets, "echo-sockets", 4, "UDP sockets of the echo peer")
	fs.StringVar(&cfg.Transport, "transport", bench.TransportUDP, "how clients reach the server: udp, tcp, or tls (a server this run starts: TLS on its web port, the way browsers on networks that pass only HTTPS reach it)")
	fs.DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Server, cfg.Secret, cfg.PID, cfg.Progress = *server, *secret, *pid, stderr
	if cfg.Server == "" {
		extra := *serverFlags
		if cfg.Transport == bench.TransportTLS {
			tlsFlags, _, cleanup, err := selfSignedFlags()
			if err != nil {
				return err
			}
			defer cleanup()
			extra = tlsFlags + " " + extra
		}
		srv, err := startOwnServer(extra, stderr)
		if err != nil {
			return err
		}
		defer srv.stop(stderr)
		cfg.Server, cfg.Secret, cfg.PID = srv.turn, srv.secret, srv.proc.PID()
		if cfg.Transport == bench.TransportTLS {
			cfg.Server = strings.TrimPrefix(srv.url, "http://") // the web port
		}
	} else if cfg.Secret == "" {
		return errors.New("-server needs -secret")
	}
	res, err := bench.RunTURN(ctx, cfg)
	if res != nil {
		res.WriteTable(stdout)
	}
	return err
}

func benchCapacity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tandem bench capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "host:port of a running TURN server (default: start a Tandem)")
	secret := fs.String("secret", "", "TURN REST API shared secret of -server")
	pid := fs.Int("pid", 0, "process id of the server at -server, for its CPU")
	serverFlags := fs.String("server-flags", "", "extra flags for the server this run starts")
	steps := fs.String("steps", "10,20,40,60,80,100,130,160,200", "numbers of calls to ramp through")
	var cfg bench.CapacityConfig
	fs.DurationVar(&cfg.StepDuration, "step-duration", 8*time.Second, "how long each step is measured")
	fs.IntVar(&cfg.VideoBitrate, "video-bitrate", 1_500_000, "video bits per second, each way of a call")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Steps, err = intList(*steps); err != nil {
		return fmt.Errorf("-steps: %w", err)
	}
	cfg.Server, cfg.Secret, cfg.PID, cfg.Progress = *server, *secret, *pid, stderr
	if cfg.Server == "" {
		srv, err := startOwnServer(*serverFlags, stderr)
		if err != nil {
			return err
		}
		defer srv.stop(stderr)
		cfg.Server, cfg.Secret, cfg.PID = srv.turn, srv.secret, srv.proc.PID()
	} else if cfg.Secret == "" {
		return errors.New("-server needs -secret")
	}
	res, err := bench.RunCapacity(ctx, cfg)
	if res != nil {
		res.WriteTable(stdout)
	}
	return err
}

func benchCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tandem bench call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "a running server: http://host:port, ws://host:port or host:port, on loopback (default: start one)")
	serverFlags := fs.String("server-flags", "", "extra flags for the server this run starts")
	paths := fs.String("paths", "direct,relay", "which calls to time: direct, relay (relay-only ICE), relay-tls (relay-only over TURN over TLS on the web port; pion peers; a server this run starts then serves HTTPS)")
	var cfg bench.CallConfig
	fs.StringVar(&cfg.Peer, "peer", "pion", "who calls: pion (two Go peers) or chromium (two headless browser tabs)")
	fs.StringVar(&cfg.Chromium, "chromium", "/usr/bin/chromium", "the browser for -peer chromium")
	fs.IntVar(&cfg.Runs, "runs", 10, "calls per path")
	fs.DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.URL, cfg.Progress = *target, stderr
	if cfg.URL == "" {
		extra := *serverFlags
		withTLS := slices.Contains(splitList(*paths), "relay-tls")
		if withTLS {
			tlsFlags, pool, cleanup, err := selfSignedFlags()
			if err != nil {
				return err
			}
			defer cleanup()
			extra = tlsFlags + " " + extra
			cfg.TLS = &tls.Config{RootCAs: pool}
		}
		srv, err := startOwnServer(extra, stderr)
		if err != nil {
			return err
		}
		defer srv.stop(stderr)
		cfg.URL = srv.url
		if withTLS {
			cfg.URL = "https://" + strings.TrimPrefix(srv.url, "http://")
		}
	}
	var results []*bench.CallResult
	var errs []error
	for _, path := range splitList(*paths) {
		c := cfg
		switch path {
		case "direct":
		case "relay":
			c.Relay = true
		case "relay-tls":
			c.RelayTLS = true
		default:
			return fmt.Errorf("-paths: unknown path %q", path)
		}
		res, err := bench.RunCall(ctx, c)
		if res != nil {
			results = append(results, res)
		}
		errs = append(errs, err)
	}
	bench.WriteCallTable(stdout, results)
	return errors.Join(errs...)
}

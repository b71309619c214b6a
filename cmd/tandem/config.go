package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the tandem command. Each is a flag with an
// environment twin: -turn-secret is also TANDEM_TURN_SECRET.
type config struct {
	addr           string
	tlsCert        string
	tlsKey         string
	allowedOrigins string
	turnAddr       string
	turnTLSAddr    string
	turnSecret     string
	turnPublicIP   string
	turnHost       string
	turnRelayPorts string
	turnAllowPeers string
	turnTTL        time.Duration
	turn           turnLimits
	logLevel       string
	logRooms       bool
	trustedProxies string
	redisURL       string
	iceServers     string
	signaling      signalingLimits
	pprofAddr      string
}

// turnLimits are the TURN server's quotas and rotation settings.
type turnLimits struct {
	previousSecret   string
	maxAllocsPerUser int
	maxAllocsPerIP   int
	maxBitrate       int
	maxLifetime      time.Duration
}

// signalingLimits are the abuse limits of the signaling server.
type signalingLimits struct {
	maxMessageSize      int
	messageRate         float64
	messageBurst        int
	maxConnsPerIP       int
	joinsPerIPPerMinute int
	maxConns            int
	maxRooms            int
}

// envName is the environment twin of a flag.
func envName(flagName string) string {
	return "TANDEM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags, then fills every flag not given on the command
// line from its environment twin.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("tandem", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.addr, "addr", ":8080", "HTTP(S) listen address; it carries TURN over TLS (over TCP without a certificate) too")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS when set with -tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "comma-separated origins, besides the page's own, allowed to open the signaling WebSocket")
	fs.StringVar(&c.turnAddr, "turn-addr", ":3478", "TURN listen address, UDP and TCP")
	fs.StringVar(&c.turnTLSAddr, "turn-tls-addr", "", "a TLS listener of TURN's own, e.g. :5349 (default: off; the web port carries TURN over TLS already when -tls-cert is set)")
	fs.StringVar(&c.turnSecret, "turn-secret", "", "TURN REST API shared secret (default: a random one at each start)")
	fs.StringVar(&c.turnPublicIP, "turn-public-ip", "", "public IP announced for TURN relays (default 127.0.0.1: relay-to-relay only)")
	fs.StringVar(&c.turnHost, "turn-host", "", "host name of the TURN server given to browsers (default: the public IP, else the page's host)")
	fs.StringVar(&c.turnRelayPorts, "turn-relay-ports", "49152-65535", "UDP port range for TURN relays")
	fs.StringVar(&c.turnAllowPeers, "turn-allow-peers", "", "comma-separated CIDRs TURN may relay to although private (e.g. 10.0.0.0/8)")
	fs.DurationVar(&c.turnTTL, "turn-credential-ttl", 6*time.Hour, "lifetime of the TURN credentials handed to browsers; longer ones are refused, so a system that shares -turn-secret and mints longer credentials (coturn's tools: 24h) needs a matching value")
	fs.StringVar(&c.turn.previousSecret, "turn-previous-secret", "", "the secret before a rotation: credentials minted with it before this start keep working until they expire")
	fs.IntVar(&c.turn.maxAllocsPerUser, "turn-max-allocs-per-user", 10, "live TURN allocations per credential (one person); -1: no limit")
	fs.IntVar(&c.turn.maxAllocsPerIP, "turn-max-allocs-per-ip", 200, "live TURN allocations per client address; -1: no limit")
	fs.IntVar(&c.turn.maxBitrate, "turn-max-bitrate", 20_000_000, "bits per second each TURN allocation may relay in each direction (at least 100000); -1: no cap")
	fs.DurationVar(&c.turn.maxLifetime, "turn-max-lifetime", 12*time.Hour, "a TURN relay is closed after this long, refreshed or not")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.redisURL, "redis", "", "share rooms with other instances through this Redis, e.g. redis://127.0.0.1:6379/0 (default: rooms in memory)")
	fs.StringVar(&c.iceServers, "ice-servers", "", "comma-separated extra STUN/TURN URLs for browsers (e.g. turn:turn2.example.org:3478); TURN ones get the same REST credentials, so they must share -turn-secret")
	fs.BoolVar(&c.logRooms, "log-rooms", false, "write room names and client addresses to logs in clear (default: a keyed hash)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed: its right-most entry that is not one of them is the client")
	fs.IntVar(&c.signaling.maxMessageSize, "max-message-size", 64<<10, "largest signaling frame in bytes; larger closes the connection with 1009")
	fs.Float64Var(&c.signaling.messageRate, "message-rate", 50, "signaling messages per second allowed per connection (sustained)")
	fs.IntVar(&c.signaling.messageBurst, "message-burst", 200, "signaling messages a connection may send in a burst")
	fs.IntVar(&c.signaling.maxConnsPerIP, "max-conns-per-ip", 500, "concurrent signaling connections per client address")
	fs.IntVar(&c.signaling.joinsPerIPPerMinute, "joins-per-ip-per-minute", 1200, "room joins per client address per minute")
	fs.IntVar(&c.signaling.maxConns, "max-conns", 100000, "concurrent signaling connections on the server")
	fs.IntVar(&c.signaling.maxRooms, "max-rooms", 50000, "rooms open at once on the server")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060 (default: off)")
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: tandem [flags]\n\nTandem serves 1:1 video calls: web pages, signaling and TURN in one binary.\nEvery flag can also be set through the environment variable shown.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(output, "  -%s (%s)\n    \t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" {
				fmt.Fprintf(output, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(output)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !given[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	if c.pprofAddr != "" {
		if err := checkPprofAddr(c.pprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("-pprof: %w", err))
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	return c, errors.Join(errs...)
}

// portRange parses "min-max".
func portRange(s string) (uint16, uint16, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want min-max", s)
	}
	min, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	max, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err := errors.Join(err1, err2); err != nil || min == 0 || min > max {
		return 0, 0, fmt.Errorf("port range %q: want min-max with 0 < min <= max <= 65535", s)
	}
	return uint16(min), uint16(max), nil
}

// prefixes parses a comma-separated list of CIDRs.
func prefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// hostsOrPrefixes parses a comma-separated list of addresses and CIDRs; an
// address stands for itself alone.
func hostsOrPrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		if a, err := netip.ParseAddr(part); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a network: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

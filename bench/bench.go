// Package bench measures a running Tandem (or another server speaking the
// same protocols) on this machine: signaling joins and relay latency, the
// TURN relay's packet rate, and how long a call takes to set up. It is what
// `tandem bench` runs; docs/performance.md records its figures.
//
// Every run is bounded in count and in time, talks to loopback only, and
// reads the server's memory and CPU from /proc when given its process id.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LimitFlags are the tandem flags every benchmark server needs: every
// per-address and per-connection limit that would otherwise refuse one
// machine opening tens of thousands of connections is off, the TURN relay
// may reach the loopback echo peer, and no allocation is policed to 20
// Mbit/s. The bench scripts that start servers themselves read them from
// `tandem bench flags`.
func LimitFlags() []string {
	return []string{
		"-log-level", "warn",
		// Signaling: one machine plays every client.
		"-max-conns-per-ip", "-1",
		"-joins-per-ip-per-minute", "-1",
		"-message-burst", "-1", // -1 turns the per-connection rate limit off
		"-max-conns", "-1",
		"-max-rooms", "-1",
		// TURN: the echo peer is on loopback; many clients share 127.0.0.1.
		"-turn-allow-peers", "127.0.0.0/8",
		"-turn-max-bitrate", "-1",
		"-turn-max-allocs-per-ip", "-1",
		"-turn-max-allocs-per-user", "-1",
	}
}

// ServerFlags are LimitFlags with where to listen (httpAddr, turnAddr) and
// which TURN secret to use.
func ServerFlags(httpAddr, turnAddr, secret string) []string {
	return append([]string{"-addr", httpAddr, "-turn-addr", turnAddr, "-turn-secret", secret}, LimitFlags()...)
}

// Process is a server started by the bench tool.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartServer runs exe with args as a child process, sends its output to
// out, and waits until something accepts TCP connections on addr.
func StartServer(exe string, args []string, addr string, out io.Writer) (*Process, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start server: %w", err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("bench: server exited before listening on %s", addr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("bench: server not listening on %s after 10s: %w", addr, err)
		}
	}
}

// PID is the server's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop asks the server to shut down (SIGTERM) and kills it if it has not
// exited after ten seconds.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("bench: server ignored SIGTERM for 10s and was killed")
	}
}

// FreePort returns a TCP port on host that was free a moment ago and, when
// udp is set, free for UDP too. It picks from 20000-29999, below the
// ephemeral ranges (Linux 32768-60999, others 49152-65535) where the
// system's own picks would often land inside the TURN relay range
// (49152-65535), which a server refuses to listen in.
func FreePort(host string, udp bool) (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(10000)
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = ln.Close()
		if !udp {
			return port, nil
		}
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			_ = pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("bench: no port free in 20000-29999")
}

// RaiseFileLimit raises the soft limit on open files to want, and the hard
// limit too when the process may (root). It returns the soft limit in force.
// Child processes started afterwards inherit it.
func RaiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("bench: getrlimit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	raised := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
		return want, nil
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("bench: setrlimit: %w", err)
	}
	return lim.Cur, nil
}

// Summary is the distribution of a set of durations.
type Summary struct {
	N             int
	P50, P90, P99 time.Duration
	Max           time.Duration
}

// summarize sorts d in place and returns its percentiles.
func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	pct := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return Summary{N: len(d), P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: d[len(d)-1]}
}

// ms formats a duration in milliseconds with three decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// progress writes one line of progress, prefixed with the time since start.
type progress struct {
	w     io.Writer
	start time.Time
}

func newProgress(w io.Writer) progress {
	if w == nil {
		w = io.Discard
	}
	return progress{w: w, start: time.Now()}
}

func (p progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// sleepCtx waits for d or until ctx ends, reporting whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// isLoopback reports whether host (an IP or "localhost") is a loopback
// address: the bench tool refuses to load anything else.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrNotLoopback is returned for a target outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("bench: target is not a loopback address")

// ParseTarget reads a server's address the way people type it: a URL with
// http, https, ws or wss, or a bare host:port (http). It returns the
// server's base URL, http or https; the host must be on loopback.
func ParseTarget(s string) (*url.URL, error) {
	raw := s
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bench: target %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("bench: target %q: want http://, https://, ws://, wss:// or host:port", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("bench: target %q: no host", raw)
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, raw)
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// checkLoopback returns ErrNotLoopback unless hostPort is on loopback.
func checkLoopback(hostPort string) error {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return fmt.Errorf("bench: address %q: %w", hostPort, err)
	}
	if !isLoopback(host) {
		return fmt.Errorf("%w: %s", ErrNotLoopback, hostPort)
	}
	return nil
}

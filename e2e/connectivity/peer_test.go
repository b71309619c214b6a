package connectivity

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"tandem/bench"
	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

// The peer process: the test binary, run in a site's host namespace with
// envPeer set, is one side of a call instead of a test run.
const (
	// envPeer is the room URL to join, wss://203.0.113.10/ws/<room>. Its
	// presence makes the test binary a peer.
	envPeer = "TANDEM_CONNECTIVITY_PEER"
	// envPeerTimeout bounds the peer's call setup (a Go duration).
	envPeerTimeout = "TANDEM_CONNECTIVITY_TIMEOUT"
)

// peerEvent is one line a peer writes on standard output. A peer writes
// "hello" once it is in the room and "result" once its call is up or has
// failed; then it stays in the call until its standard input closes.
type peerEvent struct {
	Event string `json:"event"` // hello or result
	// Role is the server's hello: created (first in the room: it answers)
	// or joined (second: it offers, and is ICE's controlling agent).
	Role string `json:"role,omitempty"`

	// Connected says that ICE and DTLS are connected and the other's
	// video arrives.
	Connected bool `json:"connected"`
	// Joined and ICEConnected are when the peer dialled the room and when
	// its ICE was first connected, in Unix nanoseconds (0: never).
	Joined       int64 `json:"joined,omitempty"`
	ICEConnected int64 `json:"iceConnected,omitempty"`
	// ICEConnectedMs is ICEConnected from Joined, in milliseconds.
	ICEConnectedMs float64 `json:"iceConnectedMs,omitempty"`
	// Pair is the selected candidate pair, as this side sees it.
	Pair  *bench.CandidatePair `json:"pair,omitempty"`
	Error string               `json:"error,omitempty"`
}

// runPeer is the peer process: it joins roomURL, reports, and waits for
// its standard input to close. It returns the process's exit code.
func runPeer(roomURL string) int {
	timeout, err := time.ParseDuration(os.Getenv(envPeerTimeout))
	if err != nil {
		timeout = 25 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := json.NewEncoder(os.Stdout)

	p, err := bench.JoinCall(ctx, roomURL, bench.PeerConfig{PreferDirect: true, Log: os.Stderr})
	if err != nil {
		_ = out.Encode(peerEvent{Event: "result", Error: err.Error()})
		return 1
	}
	_ = out.Encode(peerEvent{Event: "hello", Role: p.Role()})

	res := peerEvent{Event: "result", Role: p.Role(), Connected: true}
	if err := p.Wait(ctx); err != nil {
		res.Connected, res.Error = false, err.Error()
	}
	times := p.Times()
	res.Joined = times.Joined.UnixNano()
	if !times.ICEConnected.IsZero() {
		res.ICEConnected = times.ICEConnected.UnixNano()
		res.ICEConnectedMs = float64(times.ICEConnected.Sub(times.Joined).Microseconds()) / 1000
	}
	if pair, err := p.SelectedPair(); err == nil {
		res.Pair = &pair
	} else if res.Error == "" {
		res.Error = err.Error()
	}
	_ = out.Encode(res)

	// Stay in the call, sending media, until the test is done with both
	// sides: the other one may still be waiting for its first frame.
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stdinClosed:
	case <-time.After(timeout):
	}
	// A TCP dial pion started towards a port that a firewall drops can hold
	// Close for minutes; the process ends anyway.
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
	}
	return 0
}

// peerProc is a peer process as the test sees it.
type peerProc struct {
	name   string // site and role, for messages
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan peerEvent // closed when standard output ends
	stderr *harness.LogBuffer

	exited  chan struct{} // closed once cmd.Wait has returned
	waitErr error         // written before exited is closed
}

// startPeer starts a peer process in namespace ns that joins roomURL,
// trusting the PEM certificate in certFile.
func startPeer(lab *netlab.Lab, ns, name, roomURL, certFile string, timeout time.Duration) (*peerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := lab.Command(ns, exe)
	// Only what the peer needs: no proxy settings, no TANDEM_* from the
	// test's environment.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"SSL_CERT_FILE=" + certFile,
		envPeer + "=" + roomURL,
		envPeerTimeout + "=" + timeout.String(),
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PION_LOG_") || strings.HasPrefix(kv, "PIONS_LOG_") {
			cmd.Env = append(cmd.Env, kv) // pion's debug logs, to the peer's stderr
		}
	}
	p := &peerProc{name: name, cmd: cmd, events: make(chan peerEvent, 16), stderr: &harness.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start peer %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev peerEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event == "" {
				continue // not one of ours
			}
			select {
			case p.events <- ev:
			default: // nobody asks for more than two
			}
		}
		close(p.events)
		p.waitErr = cmd.Wait() // after the last read of stdout, as exec requires
		close(p.exited)
	}()
	return p, nil
}

// errPeerGone is returned by next when the peer exited before it said what
// was asked.
var errPeerGone = errors.New("peer process ended")

// next returns the peer's next event of kind want, skipping others.
func (p *peerProc) next(ctx context.Context, want string) (peerEvent, error) {
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				<-p.exited
				return peerEvent{}, fmt.Errorf("%s: %w before %q (%v); stderr:\n%s", p.name, errPeerGone, want, p.waitErr, p.stderr.Tail())
			}
			if ev.Event == want {
				return ev, nil
			}
			if ev.Event == "result" && ev.Error != "" {
				return ev, fmt.Errorf("%s: %s", p.name, ev.Error)
			}
		case <-ctx.Done():
			return peerEvent{}, fmt.Errorf("%s: no %q: %w; stderr:\n%s", p.name, want, ctx.Err(), p.stderr.Tail())
		}
	}
}

// stop ends the peer: it closes its standard input, which makes it leave,
// and kills it by its PID when it has not exited after a few seconds. Its
// error says how the process ended when it did not exit with 0 by itself
// (the race detector, for one, exits with 66).
func (p *peerProc) stop() error {
	_ = p.stdin.Close()
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s: %w", p.name, p.waitErr)
		}
		return nil
	case <-time.After(4 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("%s: still running 4 s after its standard input closed; killed", p.name)
}

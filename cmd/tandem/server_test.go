package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"tandem/e2e/harness"
)

// testServer is a whole Tandem started in-process on loopback ports.
type testServer struct {
	URL      string // http://127.0.0.1:PORT
	TURNPort int
	stop     func() // stops it and waits; safe to call twice
}

// startServer runs tandem with harness.LoopbackArgs plus extra flags (later flags win)
// and stops it when the test ends.
func startServer(t *testing.T, extra ...string) testServer {
	t.Helper()
	srv, _ := startServerListening(t, extra...)
	return srv
}

// startServerListening is startServer that also says what it listens on.
func startServerListening(t *testing.T, extra ...string) (testServer, listening) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan listening, 1)
	done := make(chan error, 1)
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
	args := append(append([]string{}, harness.LoopbackArgs...), extra...)
	go func() { done <- run(ctx, args, func(string) string { return "" }, logs, func(l listening) { up <- l }) }()
	var l listening
	select {
	case l = <-up:
	case err := <-done:
		cancel()
		t.Fatalf("tandem did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("tandem did not start within 10s")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tandem exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("tandem did not shut down within 10s")
		}
	}
	t.Cleanup(stop)
	return testServer{URL: "http://" + l.HTTP.String(), TURNPort: l.TURN, stop: stop}, l
}

// addr is the server's HTTP host:port.
func (s testServer) addr() string { return strings.TrimPrefix(s.URL, "http://") }

// wsURL is the signaling URL of room on s.
func (s testServer) wsURL(room string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws/" + room
}

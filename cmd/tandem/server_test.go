package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// testServer is a whole Tandem started in-process on free loopback ports.
type testServer struct {
	URL      string // http://127.0.0.1:PORT
	TURNPort int
}

// startServer runs tandem with extra flags and stops it when the test ends.
// The TURN relay is announced on 127.0.0.2 so that 127.0.0.1 stays a
// forbidden peer, as any loopback address is for a real deployment.
func startServer(t *testing.T, extra ...string) testServer {
	t.Helper()
	args := append([]string{
		"-addr", "127.0.0.1:0",
		"-turn-addr", "127.0.0.1:0",
		"-turn-public-ip", "127.0.0.2",
		"-turn-relay-ports", "61000-61999", // above the ephemeral range that :0 picks from
		"-log-level", "warn",
	}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan listening, 1)
	done := make(chan error, 1)
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
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
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tandem exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("tandem did not shut down within 10s")
		}
	})
	return testServer{URL: "http://" + l.HTTP.String(), TURNPort: l.TURN}
}

// wsURL is the signaling URL of room on s.
func (s testServer) wsURL(room string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws/" + room
}

func (s testServer) roomURL(room, query string) string {
	u := fmt.Sprintf("%s/r/%s", s.URL, room)
	if query != "" {
		u += "?" + query
	}
	return u
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// testServer is a whole Tandem started in-process on loopback ports.
type testServer struct {
	URL      string // http://127.0.0.1:PORT
	TURNPort int
	stop     func() // stops it and waits; safe to call twice
}

// baseArgs run a test server on free loopback ports. The TURN relay is
// announced on 127.0.0.2 so that 127.0.0.1 stays a forbidden peer, as any
// loopback address is for a real deployment.
var baseArgs = []string{
	"-addr", "127.0.0.1:0",
	"-turn-addr", "127.0.0.1:0",
	"-turn-public-ip", "127.0.0.2",
	"-turn-relay-ports", "61000-61999", // above the ephemeral range that :0 picks from
	"-log-level", "warn",
}

// startServer runs tandem with baseArgs plus extra flags (later flags win)
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
	args := append(append([]string{}, baseArgs...), extra...)
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

func (s testServer) roomURL(room, query string) string {
	u := fmt.Sprintf("%s/r/%s", s.URL, room)
	if query != "" {
		u += "?" + query
	}
	return u
}

// freePort returns a TCP and UDP port free on 127.0.0.1 right now.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

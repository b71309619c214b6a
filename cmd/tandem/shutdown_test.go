package main

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// TestGracefulShutdown: peers in a call are told the server is going away,
// then their sockets close, and run returns promptly.
func TestGracefulShutdown(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan listening, 1)
	done := make(chan error, 1)
	args := []string{"-addr", "127.0.0.1:0", "-turn-addr", "127.0.0.1:0", "-turn-relay-ports", "61000-61999"}
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, io.Discard, func(l listening) { up <- l })
	}()
	l := <-up
	srv := testServer{URL: "http://" + l.HTTP.String(), TURNPort: l.TURN}

	// Two people in a call: each is seated before the next dials.
	var conns []*wiretest.Client
	for _, want := range []string{wire.TypeCreated, wire.TypeJoined} {
		c := wiretest.Dial(t, srv.wsURL("bye"), nil)
		conns = append(conns, c)
		c.MustExpect(want)
	}
	conns[0].MustExpect(wire.TypePeerJoined)

	start := time.Now()
	cancel()
	for i, c := range conns {
		if m := c.MustExpect(wire.TypeError); m.Code != wire.CodeServerShutdown {
			t.Fatalf("peer %d got %+v, want error server-shutdown", i, m)
		}
		if m, err := c.Next(5 * time.Second); !errors.Is(err, wire.ErrClosed) || c.CloseCode() != wire.CloseGoingAway {
			t.Fatalf("peer %d: %+v, %v, want close 1001", i, m, err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of the signal")
	}
	t.Logf("shut down in %v", time.Since(start))

	// Nothing is left running: every goroutine the server started is gone.
	for c := range conns {
		conns[c].Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutinesBefore+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after shutdown:\n%s", goroutinesBefore, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
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
	var conns []*websocket.Conn
	for _, want := range []string{"created", "joined"} {
		c, _, err := websocket.DefaultDialer.Dial(srv.wsURL("bye"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		if got := readMessage(t, c).Type; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got := readMessage(t, conns[0]).Type; got != "peer-joined" {
		t.Fatalf("first peer got %q, want peer-joined", got)
	}

	start := time.Now()
	cancel()
	for i, c := range conns {
		m := readMessage(t, c)
		if m.Type != "error" || m.Code != "server-shutdown" {
			t.Fatalf("peer %d got %+v, want error server-shutdown", i, m)
		}
		_, _, err := c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("peer %d: %v, want close 1001", i, err)
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

func readMessage(t *testing.T, c *websocket.Conn) wireMessage {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var m wireMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

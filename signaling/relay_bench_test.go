package signaling_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/signaling"
	"tandem/signaling/wire"
	"tandem/turn"
)

// These benchmarks drive the hub through its public API with in-memory
// connections, so they measure the hub alone: no sockets, no WebSocket
// framing. Run them with
//
//	go test -run '^$' -bench . -benchmem ./signaling/...
//
// docs/performance.md records their figures.

// benchConn is a Conn whose reads come from a channel and whose writes are
// counted. It allocates nothing per message.
type benchConn struct {
	in      chan []byte // frames the client sends; closed: the client says goodbye
	frame   bytes.Reader
	written atomic.Int64
	notify  chan struct{} // gets a token per written frame, if not nil
	closed  chan struct{}
}

func newBenchConn(notify bool) *benchConn {
	c := &benchConn{in: make(chan []byte, 64), closed: make(chan struct{})}
	if notify {
		c.notify = make(chan struct{}, 1<<16)
	}
	return c
}

var errGoodbye = &websocket.CloseError{Code: wire.CloseNormal}

// NextReader hands out the next frame through a reader of c's own, as the
// WebSocket does (the hub reads one frame at a time).
func (c *benchConn) NextReader() (int, io.Reader, error) {
	select {
	case f, ok := <-c.in:
		if !ok {
			return 0, nil, errGoodbye
		}
		c.frame.Reset(f)
		return websocket.TextMessage, &c.frame, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *benchConn) WriteMessage(_ int, _ []byte) error {
	c.written.Add(1)
	if c.notify != nil {
		c.notify <- struct{}{}
	}
	return nil
}

func (c *benchConn) WriteControl(int, []byte, time.Time) error { return nil }
func (c *benchConn) SetReadDeadline(time.Time) error           { return nil }
func (c *benchConn) SetWriteDeadline(time.Time) error          { return nil }
func (c *benchConn) SetReadLimit(int64)                        {}
func (c *benchConn) SetPongHandler(func(string) error)         {}
func (c *benchConn) NetConn() net.Conn                         { return nil }

func (c *benchConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

// benchHub is a hub with every limit off and an in-memory store.
func benchHub(b *testing.B) *signaling.Hub {
	h := signaling.NewHub(signaling.Config{
		MessageBurst:        -1,
		MaxConnsPerIP:       -1,
		JoinsPerIPPerMinute: -1,
		MaxConns:            -1,
		MaxRooms:            -1,
	}, signaling.NewMemoryStore(), slog.New(slog.DiscardHandler))
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			b.Error(err)
		}
	})
	return h
}

func joinReq(room string) signaling.JoinRequest {
	return signaling.JoinRequest{Room: room, Page: turn.Page{Host: "127.0.0.1"}, ClientIP: netip.MustParseAddr("127.0.0.1")}
}

// waitWritten waits until c has written n frames.
func waitWritten(b *testing.B, c *benchConn, n int64) {
	deadline := time.Now().Add(10 * time.Second)
	for c.written.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d frames written, want %d", c.written.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkRelay is the relay path: one 1 KB signal read from one peer's
// connection, checked, framed and written to the other's. allocs/op are
// the allocations of one relayed message.
func BenchmarkRelay(b *testing.B) {
	h := benchHub(b)
	sender, receiver := newBenchConn(false), newBenchConn(true)
	h.Start(sender, joinReq("bench-relay"))
	waitWritten(b, sender, 1) // created
	h.Start(receiver, joinReq("bench-relay"))
	waitWritten(b, receiver, 1) // joined
	waitWritten(b, sender, 2)   // peer-joined
	for len(receiver.notify) > 0 {
		<-receiver.notify
	}
	frame, err := json.Marshal(wire.ClientMessage{Type: wire.TypeSignal,
		Data: json.RawMessage(`{"session":"s","description":{"type":"offer","sdp":"` + padding(960) + `"}}`)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sender.in <- frame
		<-receiver.notify
	}
	b.StopTimer()
	close(sender.in)
	close(receiver.in)
}

// BenchmarkJoinLeave is one connection joining an empty room, being told
// created, and leaving with a goodbye.
func BenchmarkJoinLeave(b *testing.B) {
	h := benchHub(b)
	b.ReportAllocs()
	for i := range b.N {
		c := newBenchConn(false)
		close(c.in) // the goodbye comes right after the join
		h.Start(c, joinReq("bench-join-"+strconv.Itoa(i)))
		<-c.closed
	}
}

func padding(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

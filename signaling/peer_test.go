package signaling

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"tandem/signaling/wire"
)

// gateConn is a Conn whose writes wait at a gate, so a test can queue
// frames behind a write in flight.
type gateConn struct {
	gate  chan struct{}
	wrote chan string
}

func (c *gateConn) WriteMessage(_ int, p []byte) error {
	<-c.gate
	c.wrote <- string(p)
	return nil
}
func (c *gateConn) NextReader() (int, io.Reader, error)       { return 0, nil, io.EOF }
func (c *gateConn) WriteControl(int, []byte, time.Time) error { return nil }
func (c *gateConn) SetReadDeadline(time.Time) error           { return nil }
func (c *gateConn) SetWriteDeadline(time.Time) error          { return nil }
func (c *gateConn) SetReadLimit(int64)                        {}
func (c *gateConn) SetPongHandler(func(string) error)         {}
func (c *gateConn) NetConn() net.Conn                         { return nil }
func (c *gateConn) Close() error                              { return nil }

// TestPeerWriterBurst queues a burst behind a write in flight: the frames
// go out in order, the writer exits when the queue is empty, and the idle
// peer keeps no frame alive (the queue's inline slots are cleared too).
func TestPeerWriterBurst(t *testing.T) {
	h := NewHub(Config{PingInterval: time.Hour}, NewMemoryStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close(context.Background())
	c := &gateConn{gate: make(chan struct{}), wrote: make(chan string, 8)}
	p := &Peer{hub: h}
	p.outbox.init(p, c)

	// "a" is in flight at the gate; "b" and "c" fill the inline slots; "d"
	// moves the queue to a larger array.
	burst := []string{"a", "b", "c", "d"}
	for _, f := range burst {
		p.send([]byte(f))
	}
	close(c.gate)
	var got []string
	for range burst {
		select {
		case f := <-c.wrote:
			got = append(got, f)
		case <-time.After(5 * time.Second):
			t.Fatalf("wrote %v, want %v", got, burst)
		}
	}
	if !slices.Equal(got, burst) {
		t.Fatalf("wrote %v, want %v", got, burst)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.outbox.mu.Lock()
		idle := !p.writing && p.queue == nil && p.slots[0].data == nil && p.slots[1].data == nil
		p.outbox.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writer still running, or frames still held, after the queue drained")
		}
		time.Sleep(time.Millisecond)
	}

	p.stop(wire.CloseNormal, "")
	close(p.readerDone)
	select {
	case <-p.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not close the connection")
	}
}

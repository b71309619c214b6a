package signaling

import (
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// TestSeatResume covers the seat token: its owner takes the seat back after
// a drop, even before the server noticed the old socket died, and the other
// peer is not disturbed; nobody else can take it.
func TestSeatResume(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{SeatGrace: 5 * time.Second})

		a := dial(t, base+"seat")
		created := a.expect(TypeCreated)
		if len(created.Seat) < 32 {
			t.Fatalf("seat token %q is too short to be unguessable", created.Seat)
		}
		b := dial(t, base+"seat")
		joined := b.expect(TypeJoined)
		a.expect(TypePeerJoined)

		t.Run("stranger without token is full", func(t *testing.T) {
			c := dial(t, base+"seat")
			c.expect(TypeFull)
		})
		t.Run("stranger with a wrong token is full", func(t *testing.T) {
			c := dial(t, base+"seat?seat="+created.Seat[:len(created.Seat)-1]+"0")
			c.expect(TypeFull)
		})
		t.Run("a token works only in its own room", func(t *testing.T) {
			c := dial(t, base+"elsewhere?seat="+joined.Seat)
			if m := c.expect(TypeCreated); m.Resumed || m.Peer == joined.Peer {
				t.Fatalf("token leaked into another room: %+v", m)
			}
		})

		// b's network dies, but the server has not noticed yet: b comes back
		// with its token and is not told full by its own ghost.
		b2 := dial(t, base+"seat?seat="+joined.Seat)
		back := b2.expect(TypeJoined)
		if !back.Resumed || back.Peer != joined.Peer || back.Seat != joined.Seat || back.Peers[0] != created.Peer {
			t.Fatalf("resume = %+v, want the same seat back", back)
		}
		if code := b.closeCode(); code != closeReplaced {
			t.Fatalf("ghost connection closed with %d, want %d", code, closeReplaced)
		}
		// a was not told anything: the next thing it hears is b2's signal.
		b2.sendText(`{"type":"signal","data":{"after":"resume"}}`)
		if m := a.expect(TypeSignal); m.From != joined.Peer || string(m.Data) != `{"after":"resume"}` {
			t.Fatalf("a got %+v", m)
		}

		// Now a drops abruptly and comes back within the grace period.
		a.conn.UnderlyingConn().Close()
		time.Sleep(50 * time.Millisecond) // let the server see the drop
		b2.sendText(`{"type":"signal","data":{}}`)
		if m := b2.expect(TypeError); m.Code != CodeNoPeer {
			t.Fatalf("signal to an away peer: %+v, want no-peer", m)
		}
		a2 := dial(t, base+"seat?seat="+created.Seat)
		if m := a2.expect(TypeJoined); !m.Resumed || m.Peer != created.Peer {
			t.Fatalf("a's resume = %+v", m)
		}
		a2.sendText(`{"type":"signal","data":{"a":"back"}}`)
		if m := b2.expect(TypeSignal); string(m.Data) != `{"a":"back"}` {
			t.Fatalf("b2 got %+v", m)
		}
	})
}

func TestSeatExpiresAfterGrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		hub, base := newTestHub(t, be, Config{SeatGrace: 100 * time.Millisecond})
		a, b, _, bID := pair(t, base, "grace")
		b.conn.UnderlyingConn().Close()
		start := time.Now()
		if m := a.expect(TypePeerLeft); m.Peer != bID {
			t.Fatalf("got %+v", m)
		}
		if waited := time.Since(start); waited < 90*time.Millisecond { // Redis leases are whole milliseconds
			t.Fatalf("peer-left after %v, before the grace period", waited)
		}
		if s := stats(t, hub); s.Seats != 1 || s.Rooms != 1 {
			t.Fatalf("stats %+v", s)
		}
		// The seat is free for someone new.
		c := dial(t, base+"grace")
		c.expect(TypeJoined)
	})
}

func TestGoodbyeFreesSeatAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		tests := []struct {
			name string
			bye  func(c *client)
		}{
			{"leave", func(c *client) { c.sendText(`{"type":"leave"}`) }},
			{"close 1001", func(c *client) {
				_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, base := newTestHub(t, be, Config{SeatGrace: time.Hour})
				a, b, _, _ := pair(t, base, "bye")
				tt.bye(b)
				a.expect(TypePeerLeft) // would time out if the seat were held for the hour
			})
		}
	})
}

package signaling

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// TestSeatResume covers the seat token: its owner takes the seat back after
// a drop, even before the server noticed the old socket died, and the other
// peer is not disturbed; nobody else can take it.
func TestSeatResume(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{SeatGrace: 5 * time.Second})

		a := wiretest.Dial(t, base+"seat", nil)
		created := a.MustExpect(wire.TypeCreated)
		if len(created.Seat) < 32 {
			t.Fatalf("seat token %q is too short to be unguessable", created.Seat)
		}
		b := wiretest.Dial(t, base+"seat", nil)
		joined := b.MustExpect(wire.TypeJoined)
		a.MustExpect(wire.TypePeerJoined)

		t.Run("stranger without token is full", func(t *testing.T) {
			c := wiretest.Dial(t, base+"seat", nil)
			c.MustExpect(wire.TypeFull)
		})
		t.Run("stranger with a wrong token is full", func(t *testing.T) {
			wrong := []byte(created.Seat)
			wrong[len(wrong)-1] ^= 1 // another hex digit, never the same
			c := wiretest.Dial(t, base+"seat?seat="+string(wrong), nil)
			c.MustExpect(wire.TypeFull)
		})
		t.Run("a token works only in its own room", func(t *testing.T) {
			c := wiretest.Dial(t, base+"elsewhere?seat="+joined.Seat, nil)
			if m := c.MustExpect(wire.TypeCreated); m.Resumed || m.Peer == joined.Peer {
				t.Fatalf("token leaked into another room: %+v", m)
			}
		})

		// b's network dies, but the server has not noticed yet: b comes back
		// with its token and is not told full by its own ghost.
		b2 := wiretest.Dial(t, base+"seat?seat="+joined.Seat, nil)
		back := b2.MustExpect(wire.TypeJoined)
		if !back.Resumed || back.Peer != joined.Peer || back.Seat != joined.Seat || back.Peers[0] != created.Peer {
			t.Fatalf("resume = %+v, want the same seat back", back)
		}
		if code := b.MustCloseCode(); code != wire.CloseReplaced {
			t.Fatalf("ghost connection closed with %d, want %d", code, wire.CloseReplaced)
		}
		// a was not told anything: the next thing it hears is b2's signal.
		b2.MustSignal(`{"after":"resume"}`)
		if m := a.MustExpect(wire.TypeSignal); m.From != joined.Peer || string(m.Data) != `{"after":"resume"}` {
			t.Fatalf("a got %+v", m)
		}

		// Now a drops abruptly and comes back within the grace period.
		a.Close()
		time.Sleep(50 * time.Millisecond) // let the server see the drop
		b2.MustSignal(`{}`)
		if m := b2.MustExpect(wire.TypeError); m.Code != wire.CodeNoPeer {
			t.Fatalf("signal to an away peer: %+v, want no-peer", m)
		}
		a2 := wiretest.Dial(t, base+"seat?seat="+created.Seat, nil)
		if m := a2.MustExpect(wire.TypeJoined); !m.Resumed || m.Peer != created.Peer {
			t.Fatalf("a's resume = %+v", m)
		}
		a2.MustSignal(`{"a":"back"}`)
		if m := b2.MustExpect(wire.TypeSignal); string(m.Data) != `{"a":"back"}` {
			t.Fatalf("b2 got %+v", m)
		}
	})
}

func TestSeatExpiresAfterGrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		hub, base := newTestHub(t, be, Config{SeatGrace: 100 * time.Millisecond})
		a, b, _, bID := pair(t, base, "grace")
		b.Close()
		start := time.Now()
		if m := a.MustExpect(wire.TypePeerLeft); m.Peer != bID {
			t.Fatalf("got %+v", m)
		}
		if waited := time.Since(start); waited < 90*time.Millisecond { // Redis leases are whole milliseconds
			t.Fatalf("peer-left after %v, before the grace period", waited)
		}
		if s := stats(t, hub); s.Seats != 1 || s.Rooms != 1 {
			t.Fatalf("stats %+v", s)
		}
		// The seat is free for someone new.
		c := wiretest.Dial(t, base+"grace", nil)
		c.MustExpect(wire.TypeJoined)
	})
}

func TestGoodbyeFreesSeatAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		tests := []struct {
			name string
			bye  func(c *wiretest.Client)
		}{
			{"leave", func(c *wiretest.Client) { c.MustLeave() }},
			{"close 1001", func(c *wiretest.Client) {
				_ = c.SendClose(wire.CloseGoingAway, "")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, base := newTestHub(t, be, Config{SeatGrace: time.Hour})
				a, b, _, _ := pair(t, base, "bye")
				tt.bye(b)
				a.MustExpect(wire.TypePeerLeft) // would time out if the seat were held for the hour
			})
		}
	})
}

// TestSimultaneousJoins: two people who open a room at the same moment both
// learn of each other, however their joins interleave, in many rooms at once.
func TestSimultaneousJoins(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		// Maintenance would repair a missed peer-joined later; keep it out.
		_, base := newTestHub(t, be, Config{MaxConnsPerIP: -1, JoinsPerIPPerMinute: -1, MaintainInterval: time.Hour})
		const rooms = 150
		errs := make(chan error, rooms)
		for r := range rooms {
			go func() { errs <- joinTogether(base + "together-" + strconv.Itoa(r)) }()
		}
		for range rooms {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// joinTogether dials room twice at once and checks that whoever got
// created hears peer-joined with the other's id.
func joinTogether(room string) error {
	type hello struct {
		conn *wire.Client
		msg  wire.ServerMessage
		err  error
	}
	got := make(chan hello, 2)
	for range 2 {
		go func() {
			conn, err := wire.Dial(context.Background(), room, nil)
			if err != nil {
				got <- hello{err: err}
				return
			}
			m, err := conn.Next(5 * time.Second)
			got <- hello{conn, m, err}
		}()
	}
	a, b := <-got, <-got
	for _, h := range []hello{a, b} {
		if h.conn != nil {
			defer h.conn.Close()
		}
		if h.err != nil {
			return h.err
		}
	}
	first, second := a, b
	if a.msg.Type != wire.TypeCreated {
		first, second = b, a
	}
	if first.msg.Type != wire.TypeCreated || second.msg.Type != wire.TypeJoined {
		return fmt.Errorf("%s: got %s and %s", room, a.msg.Type, b.msg.Type)
	}
	m, err := first.conn.Next(5 * time.Second)
	if err != nil || m.Type != wire.TypePeerJoined || m.Peer != second.msg.Peer {
		return fmt.Errorf("%s: the first got %+v, %v; want peer-joined %s", room, m, err, second.msg.Peer)
	}
	return nil
}

// stallingStore holds the first joiner of a room between its Join and the
// moment its connection is registered, until the second has joined and
// announced itself: the interleaving that once lost peer-joined.
type stallingStore struct {
	Store
	secondJoined chan struct{}
}

func (s *stallingStore) Join(ctx context.Context, room, token string) (JoinResult, error) {
	res, err := s.Store.Join(ctx, room, token)
	if err == nil && res.OtherID == "" {
		select {
		case <-s.secondJoined:
		case <-time.After(5 * time.Second):
		}
	} else if err == nil {
		defer func() {
			go func() { // after the second's peer-joined went out
				time.Sleep(50 * time.Millisecond)
				close(s.secondJoined)
			}()
		}()
	}
	return res, err
}

func TestPeerJoinedDuringJoin(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		stall := backend{name: be.name, newStore: func(t *testing.T) Store {
			return &stallingStore{Store: be.newStore(t), secondJoined: make(chan struct{})}
		}}
		_, base := newTestHub(t, stall, Config{MaintainInterval: time.Hour})
		if err := joinTogether(base + "stalled"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMaintainManySeats renews more seats than one Redis pipeline carries
// and checks each seat's state comes back in order, the freed ones too.
func TestMaintainManySeats(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		store := be.newStore(t)
		ctx := context.Background()
		const rooms = 1200 // seats: 2 per room, over several batches
		var held []SeatRef
		for i := range rooms {
			room := fmt.Sprintf("room-%d", i)
			for range 2 {
				res, err := store.Join(ctx, room, "")
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, SeatRef{Room: room, PeerID: res.PeerID})
			}
		}
		// Free the first seat of the last room: its partner is alone now.
		last := len(held) - 2
		if _, err := store.Leave(ctx, held[last].Room, held[last].PeerID); err != nil {
			t.Fatal(err)
		}
		states, err := store.Maintain(ctx, held)
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != len(held) {
			t.Fatalf("%d states for %d seats", len(states), len(held))
		}
		for i, st := range states {
			var want SeatState
			switch i {
			case last:
				want = SeatState{}
			case last + 1:
				want = SeatState{Exists: true}
			default:
				want = SeatState{Exists: true, OtherID: held[i^1].PeerID}
			}
			if st != want {
				t.Fatalf("seat %d: %+v, want %+v", i, st, want)
			}
		}
	})
}

// TestMaintenanceAnswerOlderThanNews holds a maintenance call back while
// the other person joins or leaves, before the store answers and after:
// an answer older than that news must not undo it (a false peer-left
// tears down a call that has just begun; a false peer-joined summons a
// ghost).
func TestMaintenanceAnswerOlderThanNews(t *testing.T) {
	type world struct {
		t     *testing.T
		base  string
		a, b  *wiretest.Client
		newID string // b's seat
	}
	join := func(w *world) {
		w.b = wiretest.Dial(w.t, w.base+"late", nil)
		w.newID = w.b.MustExpect(wire.TypeJoined).Peer
		w.a.MustExpect(wire.TypePeerJoined)
	}
	leave := func(w *world) {
		w.b.MustLeave()
		w.a.MustExpect(wire.TypePeerLeft)
	}
	aHearsSignal := func(w *world) {
		w.b.MustSignal(`{"n":1}`)
		if m := w.a.MustNext(); m.Type != wire.TypeSignal {
			w.t.Fatalf("a heard %+v, want b's signal: a stale answer undid b's join", m)
		}
	}
	aHearsNewcomer := func(w *world) {
		c := wiretest.Dial(w.t, w.base+"late", nil)
		joined := c.MustExpect(wire.TypeJoined)
		if m := w.a.MustNext(); m.Type != wire.TypePeerJoined || m.Peer != joined.Peer {
			w.t.Fatalf("a heard %+v, want peer-joined %s: a stale answer brought back %s", m, joined.Peer, w.newID)
		}
	}
	nothing := func(*world) {}
	tests := []struct {
		name    string
		paired  bool         // b is in the room before maintenance is held
		asked   func(*world) // before the store answers
		answer  func(*world) // after it answers, before the answer is applied
		applied func(*world) // checks what a hears next
	}{
		{"someone joins", false, nothing, join, aHearsSignal},
		{"someone leaves", true, nothing, leave, aHearsNewcomer},
		{"someone joins, and leaves after the answer", false, join, leave, aHearsNewcomer},
	}
	eachBackend(t, func(t *testing.T, be backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				late := &lateStore{entered: make(chan struct{}), ask: make(chan struct{}),
					answered: make(chan struct{}), release: make(chan struct{})}
				held := backend{name: be.name, newStore: func(t *testing.T) Store {
					late.Store = be.newStore(t)
					return late
				}}
				_, base := newTestHub(t, held, Config{MaintainInterval: 10 * time.Millisecond})
				var once [2]sync.Once
				ask := func() { once[0].Do(func() { close(late.ask) }) }
				release := func() { once[1].Do(func() { close(late.release) }) }
				t.Cleanup(func() { ask(); release() }) // before the hub closes: its loop may be held
				wait := func(ch chan struct{}, what string) {
					select {
					case <-ch:
					case <-time.After(5 * time.Second):
						t.Fatal(what)
					}
				}

				w := &world{t: t, base: base, a: wiretest.Dial(t, base+"late", nil)}
				w.a.MustExpect(wire.TypeCreated)
				// Its reader answers only once the join, and the store
				// call that ends it, are over: the next call is the loop's.
				w.a.MustSignal(`{}`)
				w.a.MustExpect(wire.TypeError)
				if tt.paired {
					join(w)
				}
				late.armed.Store(true)
				wait(late.entered, "no maintenance call")
				tt.asked(w)
				ask()
				wait(late.answered, "the store did not answer")
				tt.answer(w)
				n := late.started.Load()
				release()
				// The loop is sequential: once its next call starts, the
				// held answer has been applied.
				for end := time.Now().Add(5 * time.Second); late.started.Load() == n; time.Sleep(time.Millisecond) {
					if time.Now().After(end) {
						t.Fatal("maintenance stopped")
					}
				}
				tt.applied(w)
			})
		}
	})
}

// lateStore, once armed, holds the next maintenance call twice: before it
// asks the store (until ask is closed) and before it returns the answer
// (until release is closed).
type lateStore struct {
	Store
	armed    atomic.Bool
	started  atomic.Int64  // maintenance calls begun
	entered  chan struct{} // closed when the held call begins
	ask      chan struct{}
	answered chan struct{} // closed once the held call has its answer
	release  chan struct{}
}

func (s *lateStore) Maintain(ctx context.Context, held []SeatRef) ([]SeatState, error) {
	s.started.Add(1)
	hold := s.armed.CompareAndSwap(true, false)
	if hold {
		close(s.entered)
		<-s.ask
	}
	states, err := s.Store.Maintain(ctx, held)
	if hold {
		close(s.answered)
		<-s.release
	}
	return states, err
}

package signaling

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// gatedStore holds the first Away at a gate, as a slow store round trip
// would (a Redis in a reconnect storm).
type gatedStore struct {
	Store
	aways   atomic.Int32
	entered chan struct{} // buffered: the first Away need not wait for the test to look
	release chan struct{}
}

func (s *gatedStore) Away(ctx context.Context, room, peerID string, grace time.Duration) error {
	if s.aways.Add(1) == 1 {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Store.Away(ctx, room, peerID, grace)
}

// A connection that drops and comes straight back to the same instance
// takes its seat back; the departure of the dropped one, reaching the
// store later, must not undo that. It did: the store cannot tell the two
// connections apart, so the seat went away and expired with its grace,
// the one back was told its place was lost, and the other person
// peer-left, which ends the call.
func TestResumeAmidDeparture(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		var st *gatedStore
		gated := backend{be.name, func(t *testing.T) Store {
			st = &gatedStore{Store: be.newStore(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
			return st
		}}
		// The grace is long enough for b2's join to follow the departure
		// on a loaded machine, and short enough to wait out.
		const grace = 1500 * time.Millisecond
		_, base := newTestHub(t, gated, Config{SeatGrace: grace, MaintainInterval: 100 * time.Millisecond})
		a := wiretest.Dial(t, base+"resume-race", nil)
		a.MustExpect(wire.TypeCreated)
		b := wiretest.Dial(t, base+"resume-race", nil)
		joined := b.MustExpect(wire.TypeJoined)
		a.MustExpect(wire.TypePeerJoined)

		_ = b.Close() // b's network drops
		<-st.entered  // the departure is on its way to the store
		b2 := wiretest.Dial(t, base+"resume-race?seat="+joined.Seat, nil)
		time.AfterFunc(100*time.Millisecond, func() { close(st.release) }) // and gets there after b2 asked
		if m := b2.MustExpect(wire.TypeJoined); !m.Resumed {
			t.Fatalf("b2 did not take the seat back: %+v", m)
		}

		time.Sleep(grace + 500*time.Millisecond) // past the grace, and several maintenance rounds
		a.MustSignal(`{"x":1}`)
		if m := b2.MustExpect(wire.TypeSignal); string(m.Data) != `{"x":1}` {
			t.Errorf("b2 got %+v, want the signal", m)
		}
		if m, err := a.Next(300 * time.Millisecond); err == nil {
			t.Errorf("a got %+v, although b is back", m)
		}
	})
}

package signaling

import (
	"testing"
	"time"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// TestCounts: the hub counts joins by outcome, refusals by reason and the
// messages it reads.
func TestCounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		hub, base := newTestHub(t, be, Config{MaxConnsPerIP: 3, SeatGrace: time.Second})
		a, b, _, _ := pair(t, base, "counted") // created, joined
		wiretest.Dial(t, base+"counted", nil).MustExpect(wire.TypeFull)
		refused := wiretest.Dial(t, base+"other", nil) // the fourth connection of this address
		if m := refused.MustExpect(wire.TypeError); m.Code != wire.CodeTooManyConnections {
			t.Fatalf("got %+v", m)
		}
		for range 3 {
			a.MustSignal(`{}`)
			b.MustExpect(wire.TypeSignal)
		}
		want := Counts{
			Joins:    map[string]uint64{JoinCreated: 1, JoinJoined: 1, JoinResumed: 0, JoinFull: 1, JoinRefused: 1},
			Messages: 3,
		}
		got := hub.Counts()
		for k, n := range want.Joins {
			if got.Joins[k] != n {
				t.Errorf("joins %s = %d, want %d (%+v)", k, got.Joins[k], n, got.Joins)
			}
		}
		if got.Refused[wire.CodeTooManyConnections] != 1 || got.Messages != want.Messages {
			t.Errorf("refused %v, messages %d; want one %s and %d", got.Refused, got.Messages, wire.CodeTooManyConnections, want.Messages)
		}
		for _, k := range refusalCodes {
			if _, ok := got.Refused[k]; !ok {
				t.Errorf("no count for %s", k)
			}
		}
	})
}

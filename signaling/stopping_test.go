package signaling

import (
	"testing"

	"tandem/signaling/wire"
)

// A signal to a peer that is being put out (here too slow: its queue
// overflowed) cannot reach it; the sender is told so, not left waiting for
// an answer that will never come. With one process the hub knows at once;
// across instances the one holding the peer cannot answer back.
func TestSignalToStoppingPeerIsRefused(t *testing.T) {
	hub, base := newTestHub(t, backend{"memory", func(*testing.T) Store { return NewMemoryStore() }}, Config{})
	a, _, _, bID := pair(t, base, "stopping")
	hub.mu.Lock()
	b := hub.local[bID]
	hub.mu.Unlock()
	b.stop(wire.ClosePolicyViolation, "too slow")
	a.MustSignal(`{"answer":"important"}`)
	if m := a.MustExpect(wire.TypeError); m.Code != wire.CodeNoPeer { // before b's seat is given up
		t.Fatalf("a got %+v, want error %s", m, wire.CodeNoPeer)
	}
}

// A QueueSize of 0 or less is the default, not a queue that refuses
// everything (which put every client out at its first message).
func TestQueueSizeNotPositive(t *testing.T) {
	for _, q := range []int{0, -1} {
		if got := (Config{QueueSize: q}).withDefaults().QueueSize; got != 256 {
			t.Errorf("QueueSize %d became %d, want 256", q, got)
		}
	}
}

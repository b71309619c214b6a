package signaling

import (
	"context"
	"time"

	"tandem/signaling/wire"
)

// Maintenance: the loop that renews this instance's seat leases and
// corrects what peers believe of each other. A connection's pings are its
// outbox's (startPinging, in outbox.go); a dropped seat's grace is the
// store's (Away).

// maintain renews the leases of the seats held here and tells each peer
// whose partner's seat expired (vanished, or its instance died).
func (h *Hub) maintain() {
	defer h.wg.Done()
	tick := time.NewTicker(h.cfg.MaintainInterval)
	defer tick.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-tick.C:
		}
		peers := h.heldPeers()
		refs := make([]SeatRef, len(peers))
		for i, p := range peers {
			refs[i] = SeatRef{Room: p.room, PeerID: p.peerID}
		}
		// How often each peer's partner had changed before the store is
		// asked: news that arrives during the call is newer than the answer.
		gens := make([]uint64, len(peers))
		for i, p := range peers {
			_, gens[i] = p.partner()
		}

		// A renewal costs Redis time per seat: allow 100 µs a seat, several
		// times what it takes, so a busy machine with many seats still
		// renews within the lease.
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout+time.Duration(len(refs))*100*time.Microsecond)
		err := h.store.Ready(ctx)
		if h.storeDown.Swap(err != nil) != (err != nil) {
			h.log.Warn("room store readiness changed", "ready", err == nil, "err", err)
		}
		var states []SeatState
		if err == nil {
			states, err = h.store.Maintain(ctx, refs)
		}
		cancel()
		if err != nil {
			h.log.Warn("seat maintenance failed", "err", err)
			continue
		}
		for i, st := range states {
			p := peers[i]
			switch {
			case st.Moved:
				// Its owner came back through another instance.
				p.stop(wire.CloseReplaced, "replaced by a newer connection")
				h.release(p)
			case !st.Exists:
				// The store lost this seat (it expired while the store was
				// unreachable): the client must join again.
				p.send(errorMessage(wire.CodeUnavailable, "Your place in the room was lost. Rejoining…"))
				p.stop(wire.CloseTryAgainLater, wire.CodeUnavailable)
			default:
				// A no-op unless a peer-joined or peer-left was missed.
				p.correctOther(gens[i], st.OtherID)
			}
		}
	}
}

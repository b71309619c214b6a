package signaling

import "sync"

// The local registry: which connections this instance holds, by peer id
// (Hub.local), and the rooms it holds, is seating or is changing seats of
// (Hub.rooms). Both are guarded by Hub.mu.

// roomHere is what the hub keeps of a room while connections of it are
// here, joining or held, or while someone uses its seats lock. It is
// dropped from Hub.rooms when all three counts are zero (see unused), so a
// room counts against MaxRooms exactly while one of them is not.
type roomHere struct {
	// Guarded by Hub.mu.
	joining int // connections joining the room: from claimRoom until hold, or releaseRoom if the join fails
	held    int // connections of the room in Hub.local
	lockers int // goroutines in withSeats for the room: holding seats or waiting for it

	// seats orders this instance's changes to the room's seats: taking a
	// seat back, from the store's answer until the peer is held, and a
	// departure, from the check that the peer still holds its seat until
	// the store is told. Otherwise a connection taking its seat back here
	// could be undone by the late departure of the one it replaces, which
	// the store cannot tell apart from it (same seat, same instance).
	seats sync.Mutex
}

// unused reports whether nothing keeps r: no connection joining or held,
// and nobody in withSeats. Hub.mu must be held.
func (r *roomHere) unused() bool { return r.joining == 0 && r.held == 0 && r.lockers == 0 }

// hold registers p, whose room claimRoom counted as joining, as the
// connection of its seat here. It returns the connection that held the
// seat here before, if any, or ErrHubClosed (and the claim is given back).
func (h *Hub) hold(p *Peer) (previous *Peer, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.room]
	r.joining--
	if h.closed {
		h.dropIfUnusedLocked(p.room, r)
		return nil, ErrHubClosed
	}
	previous = h.local[p.peerID]
	h.local[p.peerID] = p
	if previous == nil {
		r.held++ // else p takes over previous's place in held
	}
	return previous, nil
}

// release forgets p, unless a newer connection holds its seat here now.
func (h *Hub) release(p *Peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.local[p.peerID] != p {
		return
	}
	delete(h.local, p.peerID)
	r := h.rooms[p.room]
	r.held--
	h.dropIfUnusedLocked(p.room, r)
}

// localPeer returns the connection holding peerID here, or nil.
func (h *Hub) localPeer(peerID string) *Peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.local[peerID]
}

// heldPeers returns the connections held here.
func (h *Hub) heldPeers() []*Peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	peers := make([]*Peer, 0, len(h.local))
	for _, p := range h.local {
		peers = append(peers, p)
	}
	return peers
}

// track counts a connection the hub must wait for (Hub.wg), unless the hub
// is closed, and reports whether it did. Counting under mu, which Close
// takes to set closed, means Close's wait cannot miss it.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// isClosed reports whether Close has been called.
func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// shut marks the hub closed and returns the connections held here, or
// first false if it was closed already.
func (h *Hub) shut() (peers []*Peer, first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	h.closed = true
	peers = make([]*Peer, 0, len(h.local))
	for _, p := range h.local {
		peers = append(peers, p)
	}
	return peers, true
}

// holds reports whether p is still the connection of its seat here.
func (h *Hub) holds(p *Peer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.local[p.peerID] == p
}

// claimRoom counts a connection joining room, unless room would be one
// more than MaxRooms. Counting before the join, rather than once the peer
// is held, keeps the bound under concurrent joins; releaseRoom gives the
// claim back if the join fails, and hold turns it into a held connection.
func (h *Hub) claimRoom(room string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[room] == nil && h.cfg.MaxRooms > 0 && len(h.rooms) >= h.cfg.MaxRooms {
		return false
	}
	h.roomLocked(room).joining++
	return true
}

// releaseRoom gives back a claim claimRoom took, for a join that failed.
func (h *Hub) releaseRoom(room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	r.joining--
	h.dropIfUnusedLocked(room, r)
}

// withSeats runs fn holding room's seats lock (see roomHere.seats). It
// counts itself in the room's lockers meanwhile, which keeps the roomHere
// for whoever waits on the lock: a departing peer may not be counted in
// held any more (a newer connection took its place with the seat).
func (h *Hub) withSeats(room string, fn func()) {
	r := h.enterSeats(room)
	defer h.exitSeats(room, r)
	r.seats.Lock()
	defer r.seats.Unlock()
	fn()
}

// enterSeats counts one more locker of room's seats and returns its
// roomHere, made if need be.
func (h *Hub) enterSeats(room string) *roomHere {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.roomLocked(room)
	r.lockers++
	return r
}

// exitSeats takes the locker enterSeats counted off r, room's roomHere.
func (h *Hub) exitSeats(room string, r *roomHere) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.lockers--
	h.dropIfUnusedLocked(room, r)
}

// roomLocked returns room's roomHere, made if need be. h.mu must be held.
func (h *Hub) roomLocked(room string) *roomHere {
	r := h.rooms[room]
	if r == nil {
		r = &roomHere{}
		h.rooms[room] = r
	}
	return r
}

// dropIfUnusedLocked forgets r, room's roomHere, once nothing keeps it.
// h.mu must be held.
func (h *Hub) dropIfUnusedLocked(room string, r *roomHere) {
	if r.unused() {
		delete(h.rooms, room)
	}
}

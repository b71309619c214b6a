package signaling

import (
	"context"
	"log/slog"
	"sync"

	"tandem/signaling/wire"
)

// Peer is one connected client: its seat, what it knows of the other
// peer, and its outbox (outbox.go), whose methods (send, sendCopy, stop)
// only enqueue. Calls into a Peer from other connections never write to
// its socket.
type Peer struct {
	// Static after construction (peerID: after join, before anyone else
	// can see the peer).
	hub    *Hub
	room   string
	peerID string

	mu       sync.Mutex // guards otherID and otherGen; may be held while taking outbox.mu
	otherID  string     // the other peer's id, or ""
	otherGen uint64     // counts changes of otherID: tells a store's answer it is stale

	outbox // the connection and its writer

	reports reportState // owned by the reader
}

// log writes a record about this peer, with its room and seat. Nothing is
// kept per connection for it, and nothing is computed (the room's label is
// a keyed hash) unless the level is enabled.
func (p *Peer) log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !p.hub.log.Enabled(ctx, level) {
		return
	}
	p.hub.log.With("room", p.hub.label(p.room), "peer", p.peerID).Log(ctx, level, msg, args...)
}

// partner returns the other peer's id and how many times it has changed.
func (p *Peer) partner() (id string, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.otherID, p.otherGen
}

// meet records that peer id took the other seat, and tells the client,
// once, however many ways the news arrives.
func (p *Peer) meet(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.otherID != id {
		p.setOtherLocked(id)
	}
}

// partnerLeft forgets the other seat if it is id, and tells the client.
func (p *Peer) partnerLeft(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id != "" && p.otherID == id {
		p.setOtherLocked("")
	}
}

// correctOther makes id, a store's answer, the other seat and tells the
// client, unless the other seat has changed since gen, when the store was
// asked: then the answer is older than the news.
func (p *Peer) correctOther(gen uint64, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.otherGen == gen && p.otherID != id {
		p.setOtherLocked(id)
	}
}

// setOtherLocked changes the other seat and queues the news for the
// client under the same lock, so the client hears changes in the order
// they were made. p.mu must be held (and is held while enqueue takes
// outbox.mu).
func (p *Peer) setOtherLocked(id string) {
	msg := wire.ServerMessage{Type: wire.TypePeerJoined, Peer: id}
	if id == "" {
		msg = wire.ServerMessage{Type: wire.TypePeerLeft, Peer: p.otherID}
	}
	p.otherID = id
	p.otherGen++
	_ = p.enqueue(outFrame{data: encode(msg)})
}

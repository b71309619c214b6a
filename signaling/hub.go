// Package signaling runs two-person rooms and the WebSocket protocol that
// relays WebRTC offers, answers and ICE candidates between the two. It knows
// nothing of Fiber: it serves any connection that satisfies Conn. Seats live
// in a Store: in memory for one instance, in Redis for several.
package signaling

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"

	"tandem/signaling/wire"
)

// Hub serves this instance's connections. Seats are in the store; the hub
// knows the connections it holds, by peer id.
//
// Locks, and what each guards:
//   - Hub.mu: local, rooms (and every roomHere's counts), closed. Held only
//     for map and counter updates: nothing is called out under it.
//   - roomHere.seats, one per room here: orders the changes this instance
//     makes to the room's seats (see roomHere). Taken only through
//     withSeats, and held across store calls, publishing and hold.
//   - Peer.mu, one per connection: what the peer knows of the other one
//     (otherID, otherGen).
//   - outbox.mu, one per connection: its queue and writer state.
//   - admission.mu: the per-address and global connection counts. Taken
//     with no other lock held.
//   - The store's own locks (MemoryStore.mu) are held only inside a store
//     call, never while it delivers.
//
// Order: a lock may be taken while holding only locks above it in
// roomHere.seats -> Hub.mu -> Peer.mu -> outbox.mu, never the other way.
// So Hub.mu is released before waiting for a seats lock (withSeats), a
// peer found in local is used after Hub.mu is released (deliver, maintain,
// Close), and the news of the other peer is queued under Peer.mu
// (setOtherLocked). Every lock is released, with defer, in the function
// that takes it.
type Hub struct {
	// Static after construction.
	cfg    Config
	log    *slog.Logger
	logKey []byte // keys the hashes that stand for room names in logs
	admit  *admission
	store  Store
	frames sync.Pool // *bytes.Buffer: clients' frames read, and relayed frames queued

	// wg counts the connections being served and the maintenance loop.
	wg   sync.WaitGroup
	quit chan struct{} // closed by Close: stops the maintenance loop

	// storeDown is set by the maintenance loop while the store is not ready
	// (Redis unreachable, or its subscription not back yet): joins are then
	// refused at once instead of half-working.
	storeDown atomic.Bool

	counters counters // totals for metrics; atomics

	mu     sync.Mutex
	local  map[string]*Peer     // guarded by mu; peer id -> its connection here
	rooms  map[string]*roomHere // guarded by mu; the rooms with connections here
	closed bool                 // guarded by mu
}

// NewHub returns a hub whose rooms live in store.
func NewHub(cfg Config, store Store, logger *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{
		cfg:    cfg,
		log:    logger.With("component", "signaling"),
		logKey: randomBytes(32),
		admit:  newAdmission(cfg),
		store:  store,
		quit:   make(chan struct{}),
		local:  make(map[string]*Peer),
		rooms:  make(map[string]*roomHere),

		counters: newCounters(),
	}
	h.frames.New = func() any { return new(bytes.Buffer) }
	store.Listen(h.deliver)
	h.wg.Add(1)
	go h.maintain()
	return h
}

// maxPooledFrame bounds the buffers kept for reuse, so that a rare large
// frame (up to MaxMessageSize) does not stay in the pool, or come out of it
// to hold a small frame in a queue.
const maxPooledFrame = 16 << 10

// getFrame returns an empty buffer from the pool.
func (h *Hub) getFrame() *bytes.Buffer {
	buf := h.frames.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

// putFrame gives back a buffer nothing refers to any more.
func (h *Hub) putFrame(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledFrame {
		h.frames.Put(buf)
	}
}

// deliver hands a message from the store to the connection holding peerID
// here, if any, and reports whether it took the message: a frame for a
// client being put out is not taken, so that the sender hears so. msg is
// the store's: it is copied if kept.
func (h *Hub) deliver(peerID string, msg []byte) bool {
	p := h.localPeer(peerID)
	if p == nil || len(msg) == 0 {
		return false
	}
	switch msg[0] {
	case msgFrame:
		return p.sendCopy(msg[1:])
	case msgPeerJoined:
		p.meet(string(msg[1:]))
	case msgPeerLeft:
		p.partnerLeft(string(msg[1:]))
	}
	return true
}

// publish sends msg (a kind byte, then the payload) to the connection of
// peerID in room, wherever it is. It runs for every relayed message, so it
// takes no context with a deadline of its own: the memory store does not
// block, and the Redis client has read and write timeouts.
func (h *Hub) publish(room, peerID string, msg []byte) (bool, error) {
	return h.store.Publish(context.Background(), room, peerID, msg)
}

// control builds a message of kind with a text payload.
func control(kind byte, payload string) []byte {
	return append([]byte{kind}, payload...)
}

// Stats is a snapshot of the hub's size.
type Stats struct {
	Rooms int // rooms with at least one seat taken, in the store
	Seats int // taken seats, including those whose owner is away
	Peers int // connections held by this instance
}

// Stats counts rooms and seats in the store and connections here.
func (h *Hub) Stats(ctx context.Context) (Stats, error) {
	rooms, seats, err := h.store.Counts(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Rooms: rooms, Seats: seats, Peers: len(h.local)}, err
}

// Close tells every peer the server is shutting down, closes their
// connections and waits, until ctx ends, for every one to be closed.
// Seats are kept for their grace period, so people can take them back on
// another instance. New connections are refused from then on.
func (h *Hub) Close(ctx context.Context) error {
	peers, first := h.shut()
	if !first {
		return nil
	}
	close(h.quit)

	for _, p := range peers {
		p.send(errorMessage(wire.CodeServerShutdown, "The server is restarting. Reconnecting shortly."))
		p.stop(wire.CloseGoingAway, "server shutdown")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// label is how a room name or client address appears in logs: a keyed hash
// unless LogRooms is set.
func (h *Hub) label(s string) string {
	if h.cfg.LogRooms {
		return s
	}
	mac := hmac.New(sha256.New, h.logKey)
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil)[:6])
}

func newPeerID() string { return hex.EncodeToString(randomBytes(8)) }

// newSeatToken returns 128 random bits, in hex.
func newSeatToken() string { return hex.EncodeToString(randomBytes(16)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return b
}

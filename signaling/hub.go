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
	"time"

	"tandem/signaling/wire"
	"tandem/turn"
)

// Config tunes a Hub. Zero fields take the defaults in withDefaults; limits
// set to a negative value are off.
type Config struct {
	// ICEServers returns the STUN/TURN servers handed to a peer on join.
	// page is where the client loaded the page from.
	ICEServers func(peerID string, page turn.Page) []turn.ICEServer
	// MaxMessageSize is the largest frame a client may send; a larger one
	// closes that connection with 1009. Default 64 KiB.
	MaxMessageSize int64
	// PingInterval is how often the server pings; PongTimeout is how long a
	// connection may stay silent before it counts as gone. Defaults 5 s and
	// 12 s.
	PingInterval, PongTimeout time.Duration
	// SeatGrace is how long a seat whose connection dropped without a
	// goodbye is kept for its owner to come back with the seat token before
	// the other peer is told peer-left. Default 15 s.
	SeatGrace time.Duration
	// MaintainInterval is how often seat leases are renewed and expired
	// seats are noticed. Default 2 s. PongTimeout + SeatGrace +
	// MaintainInterval bound how late a vanished peer is announced (29 s).
	MaintainInterval time.Duration
	// StoreTimeout bounds one store operation, so that an unreachable Redis
	// fails a join fast. Default 2 s.
	StoreTimeout time.Duration
	// WriteTimeout bounds one write to a client. Default 10 s.
	WriteTimeout time.Duration
	// QueueSize is how many messages may wait for a slow client before it
	// is disconnected. Default (and for 0 or less) 64.
	QueueSize int
	// MessageRate and MessageBurst bound each connection's messages (a
	// token bucket). Defaults 50/s and 200: an ICE gathering burst fits.
	MessageRate  float64
	MessageBurst int
	// MaxConnsPerIP and JoinsPerIPPerMinute bound one client address.
	// Defaults 500 and 1200: an office behind one NAT address never notices.
	MaxConnsPerIP, JoinsPerIPPerMinute int
	// MaxConns and MaxRooms bound this instance: its connections, and the
	// rooms it holds a connection in. Defaults 100,000 and 50,000.
	MaxConns, MaxRooms int
	// LogRooms writes room names and client addresses to logs in clear.
	// By default they are logged as a keyed hash, enough to correlate.
	LogRooms bool
}

func (c Config) withDefaults() Config {
	if c.ICEServers == nil {
		c.ICEServers = func(string, turn.Page) []turn.ICEServer { return nil }
	}
	def := func(v *int, d int) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0 // off
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 64 << 10
	}
	defDur(&c.PingInterval, 5*time.Second)
	defDur(&c.PongTimeout, 12*time.Second)
	defDur(&c.SeatGrace, 15*time.Second)
	defDur(&c.MaintainInterval, 2*time.Second)
	defDur(&c.StoreTimeout, 2*time.Second)
	defDur(&c.WriteTimeout, 10*time.Second)
	if c.QueueSize <= 0 { // no "off": an unbounded queue is a slow client's memory
		c.QueueSize = 64
	}
	if c.MessageRate == 0 {
		c.MessageRate = 50
	}
	def(&c.MessageBurst, 200)
	def(&c.MaxConnsPerIP, 500)
	def(&c.JoinsPerIPPerMinute, 1200)
	def(&c.MaxConns, 100_000)
	def(&c.MaxRooms, 50_000)
	return c
}

// Hub serves this instance's connections. Seats are in the store; the hub
// knows the connections it holds, by seat.
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

	mu     sync.Mutex
	local  map[string]*Peer     // guarded by mu; seat id -> its connection here
	rooms  map[string]*roomHere // guarded by mu; the rooms with connections here
	closed bool                 // guarded by mu
}

// roomHere is what the hub keeps of a room while connections of it are
// here, joining or held.
type roomHere struct {
	conns int // guarded by Hub.mu
	// seats orders this instance's changes to the room's seats: taking a
	// seat back, from the store's answer until the peer is held, and a
	// departure, from the check that the peer still holds its seat until
	// the store is told. Otherwise a connection taking its seat back here
	// could be undone by the late departure of the one it replaces, which
	// the store cannot tell apart from it (same seat, same instance).
	seats sync.Mutex
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

// deliver hands a message from the store to the connection holding seatID
// here, if any, and reports whether it took the message: a frame for a
// client being put out is not taken, so that the sender hears so. msg is
// the store's: it is copied if kept.
func (h *Hub) deliver(seatID string, msg []byte) bool {
	h.mu.Lock()
	p := h.local[seatID]
	h.mu.Unlock()
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
// seatID in room, wherever it is. It runs for every relayed message, so it
// takes no context with a deadline of its own: the memory store does not
// block, and the Redis client has read and write timeouts.
func (h *Hub) publish(room, seatID string, msg []byte) (bool, error) {
	return h.store.Publish(context.Background(), room, seatID, msg)
}

// control builds a message of kind with a text payload.
func control(kind byte, payload string) []byte {
	return append([]byte{kind}, payload...)
}

// hold registers p, whose room claimRoom counted, as the connection of its
// seat here. It returns the connection that held the seat here before, if
// any, or ErrHubClosed.
func (h *Hub) hold(p *Peer) (previous *Peer, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.uncount(p.room)
		return nil, ErrHubClosed
	}
	previous = h.local[p.seatID]
	h.local[p.seatID] = p
	if previous != nil {
		h.uncount(p.room) // p takes over previous's count
	}
	return previous, nil
}

// release forgets p, unless a newer connection holds its seat here now.
func (h *Hub) release(p *Peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.local[p.seatID] != p {
		return
	}
	delete(h.local, p.seatID)
	h.uncount(p.room)
}

// holds reports whether p is still the connection of its seat here.
func (h *Hub) holds(p *Peer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.local[p.seatID] == p
}

// claimRoom counts a connection joining room, unless room would be one
// more than MaxRooms. Counting before the join, rather than once the peer
// is held, keeps the bound under concurrent joins; releaseRoom gives the
// count back if the join fails.
func (h *Hub) claimRoom(room string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[room] == nil && h.cfg.MaxRooms > 0 && len(h.rooms) >= h.cfg.MaxRooms {
		return false
	}
	h.countLocked(room)
	return true
}

// countLocked counts one more connection of room and returns its
// roomHere, made if need be. h.mu must be held.
func (h *Hub) countLocked(room string) *roomHere {
	r := h.rooms[room]
	if r == nil {
		r = &roomHere{}
		h.rooms[room] = r
	}
	r.conns++
	return r
}

// lockSeats locks room's roomHere.seats and returns its unlock. It counts
// itself as a connection of the room meanwhile, which keeps the roomHere
// for whoever waits on the lock: a departing peer may hold no count of its
// own any more (a newer connection took it over with the seat).
func (h *Hub) lockSeats(room string) (unlock func()) {
	h.mu.Lock()
	r := h.countLocked(room)
	h.mu.Unlock()
	r.seats.Lock()
	return func() {
		r.seats.Unlock()
		h.releaseRoom(room)
	}
}

// releaseRoom gives back a count claimRoom took.
func (h *Hub) releaseRoom(room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.uncount(room)
}

// uncount takes one connection off room's count. h.mu must be held.
func (h *Hub) uncount(room string) {
	if r := h.rooms[room]; r != nil {
		if r.conns--; r.conns <= 0 {
			delete(h.rooms, room)
		}
	}
}

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
		h.mu.Lock()
		peers := make([]*Peer, 0, len(h.local))
		refs := make([]SeatRef, 0, len(h.local))
		for _, p := range h.local {
			peers = append(peers, p)
			refs = append(refs, SeatRef{Room: p.room, SeatID: p.seatID})
		}
		h.mu.Unlock()
		// How often each peer's partner had changed before the store is
		// asked: news that arrives during the call is newer than the answer.
		gens := make([]uint64, len(peers))
		for i, p := range peers {
			_, gens[i] = p.partner()
		}

		// A renewal costs Redis ~20 µs a seat; allow five times that, so a
		// busy machine with many seats still renews within the lease.
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
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	peers := make([]*Peer, 0, len(h.local))
	for _, p := range h.local {
		peers = append(peers, p)
	}
	h.mu.Unlock()
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

// Package signaling runs two-person rooms and the WebSocket protocol that
// relays WebRTC offers, answers and ICE candidates between the two. It knows
// nothing of Fiber: it serves any connection that satisfies Conn.
package signaling

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"tandem/turn"
)

// Config tunes a Hub. Zero fields take the defaults in withDefaults; limits
// set to a negative value are off.
type Config struct {
	// ICEServers returns the STUN/TURN servers handed to a peer on join.
	// pageHost is the host the client connected to.
	ICEServers func(peerID, pageHost string) []turn.ICEServer
	// MaxMessageSize is the largest frame a client may send; a larger one
	// closes that connection with 1009. Default 64 KiB.
	MaxMessageSize int64
	// PingInterval is how often the server pings; PongTimeout is how long a
	// connection may stay silent before it counts as gone. Defaults 5 s and
	// 12 s.
	PingInterval, PongTimeout time.Duration
	// SeatGrace is how long a seat whose connection dropped without a
	// goodbye is kept for its owner to come back with the seat token before
	// the other peer is told peer-left. Default 15 s, so with PongTimeout a
	// vanished peer is announced within 30 s.
	SeatGrace time.Duration
	// WriteTimeout bounds one write to a client. Default 10 s.
	WriteTimeout time.Duration
	// QueueSize is how many messages may wait for a slow client before it
	// is disconnected. Default 64.
	QueueSize int
	// MessageRate and MessageBurst bound each connection's messages (a
	// token bucket). Defaults 50/s and 200: an ICE gathering burst fits.
	MessageRate  float64
	MessageBurst int
	// MaxConnsPerIP and JoinsPerIPPerMinute bound one client address.
	// Defaults 500 and 1200: an office behind one NAT address never notices.
	MaxConnsPerIP, JoinsPerIPPerMinute int
	// MaxConns and MaxRooms bound the whole server. Defaults 100,000 and
	// 50,000.
	MaxConns, MaxRooms int
	// LogRooms writes room names and client addresses to logs in clear.
	// By default they are logged as a keyed hash, enough to correlate.
	LogRooms bool
}

func (c Config) withDefaults() Config {
	if c.ICEServers == nil {
		c.ICEServers = func(string, string) []turn.ICEServer { return nil }
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
	defDur(&c.WriteTimeout, 10*time.Second)
	def(&c.QueueSize, 64)
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

// Hub holds every room of this process.
type Hub struct {
	// Static after construction.
	cfg    Config
	log    *slog.Logger
	logKey []byte // keys the hashes that stand for room names in logs
	admit  *admission

	// wg counts running Serve calls, so Close can wait for them.
	wg sync.WaitGroup

	mu     sync.Mutex
	rooms  map[string]*room   // guarded by mu
	peers  map[*Peer]struct{} // guarded by mu; every connected, seated peer
	closed bool               // guarded by mu
}

// room is two seats. A seat is empty when nil.
type room struct {
	name  string
	seats [2]*seat
}

// seat is one person's place in a room. It outlives a connection: its owner
// can take it back with the token after a drop.
type seat struct {
	id    string      // the peer id others see
	token string      // proves ownership on reconnect
	peer  *Peer       // the current connection, nil while away
	grace *time.Timer // runs while away; frees the seat when it fires
}

// NewHub returns an empty Hub.
func NewHub(cfg Config, logger *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{
		cfg:    cfg,
		log:    logger.With("component", "signaling"),
		logKey: randomBytes(32),
		admit:  newAdmission(cfg),
		rooms:  make(map[string]*room),
		peers:  make(map[*Peer]struct{}),
	}
}

// joinResult is what join decided for a connection.
type joinResult struct {
	seat      *seat
	otherID   string // the other seat's peer id, or "" when alone
	otherPeer *Peer  // the other seat's connection, nil when alone or away
	resumed   bool   // the seat was taken back with its token
	replaced  *Peer  // the connection the seat had before a resume, if any
}

func (r *room) otherThan(s *seat) (id string, p *Peer) {
	for _, o := range r.seats {
		if o != nil && o != s {
			return o.id, o.peer
		}
	}
	return "", nil
}

// join seats p in its room: back in its own seat when token matches one,
// else in a free seat.
func (h *Hub) join(p *Peer, token string) (joinResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return joinResult{}, ErrHubClosed
	}
	r := h.rooms[p.room]
	if r != nil && token != "" {
		for _, s := range r.seats {
			if s != nil && subtle.ConstantTimeCompare([]byte(s.token), []byte(token)) == 1 {
				res := joinResult{seat: s, resumed: true, replaced: s.peer}
				res.otherID, res.otherPeer = r.otherThan(s)
				if s.grace != nil {
					s.grace.Stop()
					s.grace = nil
				}
				delete(h.peers, s.peer)
				s.peer = p
				p.seat = s
				h.peers[p] = struct{}{}
				return res, nil
			}
		}
	}
	if r == nil {
		if h.cfg.MaxRooms > 0 && len(h.rooms) >= h.cfg.MaxRooms {
			return joinResult{}, ErrServerBusy
		}
		r = &room{name: p.room}
		h.rooms[p.room] = r
	}
	for i, s := range r.seats {
		if s == nil {
			s = &seat{id: newPeerID(), token: hex.EncodeToString(randomBytes(16)), peer: p}
			r.seats[i] = s
			p.seat = s
			h.peers[p] = struct{}{}
			res := joinResult{seat: s}
			res.otherID, res.otherPeer = r.otherThan(s)
			return res, nil
		}
	}
	return joinResult{}, ErrRoomFull
}

// leave takes p out of its seat. After a goodbye (a leave message or a
// close frame) the seat is freed at once and the other peer, returned, must
// be told. After a drop the seat is held for SeatGrace; if its owner does
// not come back by then, the seat is freed and the other told. Leaving
// twice, or after the seat was taken over by a newer connection, is a no-op.
func (h *Hub) leave(p *Peer, goodbye bool) (other *Peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := p.seat
	if s == nil || s.peer != p {
		return nil
	}
	delete(h.peers, p)
	s.peer = nil
	r := h.rooms[p.room]
	if r == nil { // the hub was closed
		return nil
	}
	if !goodbye {
		s.grace = time.AfterFunc(h.cfg.SeatGrace, func() { h.expire(r, s) })
		return nil
	}
	return h.freeSeat(r, s)
}

// expire frees a seat whose owner did not come back in time.
func (h *Hub) expire(r *room, s *seat) {
	h.mu.Lock()
	other := (*Peer)(nil)
	if s.peer == nil && s.grace != nil {
		s.grace = nil
		other = h.freeSeat(r, s)
	}
	h.mu.Unlock()
	if other != nil {
		other.send(encode(ServerMessage{Type: TypePeerLeft, Peer: s.id}))
	}
}

// freeSeat removes s from r, drops r when it is empty, and returns the
// connected peer left behind, if any. The caller holds mu.
func (h *Hub) freeSeat(r *room, s *seat) (other *Peer) {
	for i, seated := range r.seats {
		switch {
		case seated == s:
			r.seats[i] = nil
		case seated != nil:
			other = seated.peer
		}
	}
	if r.seats[0] == nil && r.seats[1] == nil && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
	return other
}

// other returns the connected peer sharing p's room, and whether the room
// has another seat at all (whose owner may be away).
func (h *Hub) other(p *Peer) (other *Peer, seated bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.room]
	if r == nil || p.seat == nil || p.seat.peer != p {
		return nil, false
	}
	for _, s := range r.seats {
		if s != nil && s != p.seat {
			return s.peer, true
		}
	}
	return nil, false
}

// Stats is a snapshot of the hub's size.
type Stats struct {
	Rooms int // rooms with at least one seat taken
	Seats int // taken seats, including those whose owner is away
	Peers int // connected, seated peers
}

// Stats counts rooms, seats and connected peers.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Rooms: len(h.rooms), Peers: len(h.peers)}
	for _, r := range h.rooms {
		for _, s := range r.seats {
			if s != nil {
				st.Seats++
			}
		}
	}
	return st
}

// Close tells every peer the server is shutting down, closes their
// connections and waits, until ctx ends, for every Serve call to return.
// New connections are refused from then on.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	peers := make([]*Peer, 0, len(h.peers))
	for p := range h.peers {
		peers = append(peers, p)
	}
	for _, r := range h.rooms {
		for _, s := range r.seats {
			if s != nil && s.grace != nil {
				s.grace.Stop()
			}
		}
	}
	h.rooms = make(map[string]*room)
	h.mu.Unlock()

	for _, p := range peers {
		p.send(errorMessage(CodeServerShutdown, "The server is restarting. Reconnecting shortly."))
		p.stop(closeGoingAway, "server shutdown")
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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return b
}

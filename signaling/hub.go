// Package signaling runs two-person rooms and the WebSocket protocol that
// relays WebRTC offers, answers and ICE candidates between the two. It knows
// nothing of Fiber: it serves any connection that satisfies Conn.
package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"tandem/turn"
)

// Config tunes a Hub. Zero fields take the defaults in withDefaults.
type Config struct {
	// ICEServers returns the STUN/TURN servers handed to a peer on join.
	// pageHost is the host the client connected to.
	ICEServers func(peerID, pageHost string) []turn.ICEServer
	// MaxMessageSize is the largest frame a client may send; a larger one
	// closes that connection with 1009. Default 64 KiB.
	MaxMessageSize int64
	// PingInterval is how often the server pings; PongTimeout is how long a
	// connection may stay silent before it counts as gone. Defaults 10 s and
	// 25 s, so a vanished peer is announced within 30 s.
	PingInterval, PongTimeout time.Duration
	// WriteTimeout bounds one write to a client. Default 10 s.
	WriteTimeout time.Duration
	// QueueSize is how many messages may wait for a slow client before it
	// is disconnected. Default 64.
	QueueSize int
}

func (c Config) withDefaults() Config {
	if c.ICEServers == nil {
		c.ICEServers = func(string, string) []turn.ICEServer { return nil }
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 64 << 10
	}
	if c.PingInterval == 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.PongTimeout == 0 {
		c.PongTimeout = 25 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.QueueSize == 0 {
		c.QueueSize = 64
	}
	return c
}

// Hub holds every room of this process.
type Hub struct {
	// Static after construction.
	cfg Config
	log *slog.Logger

	// wg counts running Serve calls, so Close can wait for them.
	wg sync.WaitGroup

	mu     sync.Mutex
	rooms  map[string]*room   // guarded by mu
	peers  map[*Peer]struct{} // guarded by mu; every peer in a room
	closed bool               // guarded by mu
}

// room is two seats. A seat is empty when nil.
type room struct {
	seats [2]*Peer
}

// NewHub returns an empty Hub.
func NewHub(cfg Config, logger *slog.Logger) *Hub {
	return &Hub{
		cfg:   cfg.withDefaults(),
		log:   logger.With("component", "signaling"),
		rooms: make(map[string]*room),
		peers: make(map[*Peer]struct{}),
	}
}

// join seats p in its room and returns the peer already there, if any.
func (h *Hub) join(p *Peer) (other *Peer, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	r := h.rooms[p.room]
	if r == nil {
		r = &room{}
		h.rooms[p.room] = r
	}
	free := -1
	for i, s := range r.seats {
		switch {
		case s == nil && free < 0:
			free = i
		case s != nil:
			other = s
		}
	}
	if free < 0 {
		return nil, ErrRoomFull
	}
	r.seats[free] = p
	h.peers[p] = struct{}{}
	return other, nil
}

// leave frees p's seat and returns the peer left behind, if any. Leaving
// twice is harmless.
func (h *Hub) leave(p *Peer) (other *Peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.room]
	if r == nil {
		return nil
	}
	seated := false
	for i, s := range r.seats {
		switch s {
		case nil:
		case p:
			r.seats[i] = nil
			seated = true
		default:
			other = s
		}
	}
	if !seated {
		return nil
	}
	delete(h.peers, p)
	if other == nil {
		delete(h.rooms, p.room)
	}
	return other
}

// other returns the peer sharing p's room, or nil.
func (h *Hub) other(p *Peer) *Peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.room]
	if r == nil {
		return nil
	}
	for _, s := range r.seats {
		if s != nil && s != p {
			return s
		}
	}
	return nil
}

// Stats is a snapshot of the hub's size.
type Stats struct {
	Rooms, Peers int
}

// Stats counts rooms and seated peers.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Rooms: len(h.rooms), Peers: len(h.peers)}
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

func newPeerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

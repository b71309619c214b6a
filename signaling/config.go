package signaling

import (
	"time"

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
	// is disconnected. Default (and for 0 or less) 256: more than the
	// other peer's whole burst (MessageBurst), so that a burst within the
	// limits, which arrives faster than a busy machine schedules the
	// writer, never puts its receiver out.
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
		c.QueueSize = 256
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

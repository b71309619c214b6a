package signaling

import (
	"sync/atomic"

	"tandem/signaling/wire"
)

// Join outcomes, as Counts reports them.
const (
	JoinCreated = "created" // first in the room
	JoinJoined  = "joined"  // second
	JoinResumed = "resumed" // a seat taken back with its token
	JoinFull    = "full"
	JoinRefused = "refused" // a limit, shutdown or the store: see Counts.Refused
)

// Why a connection is turned away or put out, as Counts.Refused names it:
// the wire error code it is told, or for the limits that end a connection
// without one, the limit's name.
const (
	RefusedMessageTooBig = "message-too-big" // -max-message-size; close 1009
	RefusedTooSlow       = "too-slow"        // its queue overflowed or a write timed out
)

var refusalCodes = []string{
	wire.CodeServerBusy, wire.CodeTooManyConnections, wire.CodeTooManyJoins, wire.CodeUnavailable,
	wire.CodeServerShutdown, wire.CodeRateLimited, RefusedMessageTooBig, RefusedTooSlow,
}

// counters are the hub's running totals, for metrics. They are atomics,
// so counting costs the hot paths (every message) no lock and no
// allocation.
type counters struct {
	joins    [5]atomic.Uint64 // by joinKinds
	refused  [8]atomic.Uint64 // by refusalCodes
	messages atomic.Uint64    // frames read from clients
}

var joinKinds = []string{JoinCreated, JoinJoined, JoinResumed, JoinFull, JoinRefused}

func (c *counters) join(kind string) {
	for i, k := range joinKinds {
		if k == kind {
			c.joins[i].Add(1)
			return
		}
	}
}

// refuse counts a refusal; a join refused counts as a join too.
func (c *counters) refuse(code string, join bool) {
	for i, k := range refusalCodes {
		if k == code {
			c.refused[i].Add(1)
		}
	}
	if join {
		c.join(JoinRefused)
	}
}

// Counts is a snapshot of the hub's totals since it started.
type Counts struct {
	Joins    map[string]uint64 // by JoinCreated, JoinJoined, …
	Refused  map[string]uint64 // by wire error code, or RefusedMessageTooBig, RefusedTooSlow
	Messages uint64
}

// Counts reads the hub's totals.
func (h *Hub) Counts() Counts {
	c := Counts{Joins: make(map[string]uint64, len(joinKinds)), Refused: make(map[string]uint64, len(refusalCodes)),
		Messages: h.counters.messages.Load()}
	for i, k := range joinKinds {
		c.Joins[k] = h.counters.joins[i].Load()
	}
	for i, k := range refusalCodes {
		c.Refused[k] = h.counters.refused[i].Load()
	}
	return c
}

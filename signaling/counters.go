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

	// From the pages' call reports (reports.go).
	callsConnected [4]atomic.Uint64 // by wire.Paths
	callsFailed    [3]atomic.Uint64 // by wire.FailureReasons
	iceRestarts    atomic.Uint64
	setup          *histogram       // seconds from the second join to connected
	duration       *histogram       // seconds a connected call lasted
	reportsDropped [2]atomic.Uint64 // ReportInvalid, ReportTooMany
}

func newCounters() counters {
	return counters{
		setup:    newHistogram(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60),
		duration: newHistogram(10, 30, 60, 300, 600, 1800, 3600, 7200, 14400),
	}
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

	// From the pages' call reports.
	CallsConnected map[string]uint64 // by wire.Paths
	CallsFailed    map[string]uint64 // by wire.FailureReasons
	ICERestarts    uint64
	CallSetup      Histogram         // seconds
	CallDuration   Histogram         // seconds
	ReportsDropped map[string]uint64 // by ReportInvalid, ReportTooMany
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
	c.CallsConnected, c.CallsFailed = map[string]uint64{}, map[string]uint64{}
	for i, k := range wire.Paths {
		c.CallsConnected[k] = h.counters.callsConnected[i].Load()
	}
	for i, k := range wire.FailureReasons {
		c.CallsFailed[k] = h.counters.callsFailed[i].Load()
	}
	c.ICERestarts = h.counters.iceRestarts.Load()
	c.CallSetup, c.CallDuration = h.counters.setup.snapshot(), h.counters.duration.snapshot()
	c.ReportsDropped = map[string]uint64{ReportInvalid: h.counters.reportsDropped[0].Load(), ReportTooMany: h.counters.reportsDropped[1].Load()}
	return c
}

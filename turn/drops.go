package turn

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// dropReason says why a relay dropped a datagram.
type dropReason int

const (
	// dropPeerPort: to the server's own address, on a port that is not a
	// live relay of this server.
	dropPeerPort dropReason = iota
	// dropBitrateOut and dropBitrateIn: over the allocation's bitrate cap,
	// towards the peer and from it.
	dropBitrateOut
	dropBitrateIn
	// dropBacklog: a datagram for pion (a request, an indication) while
	// pion had inboxSize of them waiting on that socket.
	dropBacklog
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"peer-port", "bitrate-out", "bitrate-in", "backlog"}

func (r dropReason) String() string { return dropReasonNames[r] }

// dropLogInterval is the least time between two log lines about the drops
// of one reason.
const dropLogInterval = 10 * time.Second

// drops counts the datagrams relays drop, by reason, and logs them at debug
// level, at most once per dropLogInterval and reason. Safe for concurrent
// use; counting takes no lock.
type drops struct {
	log    *slog.Logger
	counts [numDropReasons]atomic.Uint64
	logged [numDropReasons]atomic.Int64 // unix nanoseconds of the last line
}

func (d *drops) add(r dropReason) {
	n := d.counts[r].Add(1)
	if !d.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	now := time.Now().UnixNano()
	last := d.logged[r].Load()
	if now-last >= int64(dropLogInterval) && d.logged[r].CompareAndSwap(last, now) {
		d.log.Debug("TURN relay dropped datagrams", "reason", r.String(), "total", n)
	}
}

// snapshot returns the counts by reason name.
func (d *drops) snapshot() map[string]uint64 {
	out := make(map[string]uint64, numDropReasons)
	for r := range numDropReasons {
		out[r.String()] = d.counts[r].Load()
	}
	return out
}

package signaling

import (
	"log/slog"
	"slices"
	"sync/atomic"

	"tandem/signaling/wire"
)

// maxReports bounds the call reports one connection may send.
const maxReports = 16

// Why a report was dropped, as Counts.ReportsDropped names it.
const (
	ReportInvalid = "invalid"  // not a wire.Report: bad fields, words or bounds
	ReportTooMany = "too_many" // over maxReports on its connection
)

// reportState is what a connection's reports have counted. It is owned
// by the connection's reader, which handles its reports.
type reportState struct {
	sent         int
	connected    bool // a connected call was counted: later ones add restarts only
	restartsSeen int
	ended        bool
}

// report counts a call report from p, or drops it.
func (h *Hub) report(p *Peer, data []byte) {
	st := &p.reports
	st.sent++
	if st.sent > maxReports {
		h.counters.reportsDropped[1].Add(1)
		return
	}
	r, err := wire.DecodeReport(data)
	if err != nil {
		h.counters.reportsDropped[0].Add(1)
		p.log(slog.LevelDebug, "call report dropped", "err", err)
		p.send(errorMessage(wire.CodeBadMessage, err.Error()))
		return
	}
	c := &h.counters
	switch r.Event {
	case wire.ReportConnected:
		if !st.connected {
			st.connected = true
			c.callsConnected[slices.Index(wire.Paths, r.Path)].Add(1)
			c.setup.observe(float64(r.SetupMs) / 1000)
		}
		if r.Restarts > st.restartsSeen {
			c.iceRestarts.Add(uint64(r.Restarts - st.restartsSeen))
			st.restartsSeen = r.Restarts
		}
	case wire.ReportFailed:
		c.callsFailed[slices.Index(wire.FailureReasons, r.Reason)].Add(1)
	case wire.ReportEnded:
		if st.connected && !st.ended {
			st.ended = true
			c.duration.observe(float64(r.DurationS))
		}
	}
}

// histogram counts observations into fixed buckets, lock-free.
type histogram struct {
	bounds []float64       // upper bounds, ascending
	counts []atomic.Uint64 // per bucket, the last for above every bound
	sumMs  atomic.Uint64   // the observations' sum, in milliseconds
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	h.sumMs.Add(uint64(v * 1000))
}

// Histogram is a snapshot of a histogram, as Prometheus takes it.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64 // cumulative counts by upper bound
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Buckets: make(map[float64]uint64, len(h.bounds)), Sum: float64(h.sumMs.Load()) / 1000}
	for i := range h.counts {
		s.Count += h.counts[i].Load()
		if i < len(h.bounds) {
			s.Buckets[h.bounds[i]] = s.Count
		}
	}
	return s
}

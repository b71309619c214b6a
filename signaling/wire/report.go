package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Report is how a call went, as a page tells it in a TypeReport message's
// data. The server counts it (it never sees ICE); it holds nothing about
// who called or from where.
type Report struct {
	// Event is ReportConnected (the call's media flows), ReportFailed (it
	// could not, for good) or ReportEnded (it was up, and ended).
	Event string `json:"event"`
	// SetupMs: connected, the time from the second person's join to
	// connected, in milliseconds.
	SetupMs int `json:"setupMs,omitempty"`
	// Path: connected, the selected candidate pair's path, one of Paths.
	Path string `json:"path,omitempty"`
	// Restarts: connected, the ICE restarts this call has taken so far.
	Restarts int `json:"restarts,omitempty"`
	// Reason: failed, one of FailureReasons.
	Reason string `json:"reason,omitempty"`
	// DurationS: ended, how long the call was connected, in seconds.
	DurationS int `json:"durationS,omitempty"`
}

// Report events.
const (
	ReportConnected = "connected"
	ReportFailed    = "failed"
	ReportEnded     = "ended"
)

// Paths a connected call takes: directly, or through the relay over UDP,
// TCP or TLS (the page's side of it).
var Paths = []string{"direct", "relay_udp", "relay_tcp", "relay_tls"}

// FailureReasons: ICE found no path (ice), or none through the relay with
// ?relay=1 (relay), or the browser refused to set the call up (setup).
var FailureReasons = []string{"ice", "relay", "setup"}

// Bounds of a report's numbers, and of its size.
const (
	MaxReportSize      = 512
	MaxReportSetupMs   = 600_000 // ten minutes
	MaxReportRestarts  = 100
	MaxReportDurationS = 7 * 24 * 3600
)

// DecodeReport decodes and checks a TypeReport message's data: known
// fields only, known words, numbers in their bounds, the fields of its
// event only.
func DecodeReport(data []byte) (Report, error) {
	var r Report
	if len(data) > MaxReportSize {
		return r, fmt.Errorf("%w: report over %d bytes", ErrBadMessage, MaxReportSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("%w: report: %v", ErrBadMessage, err)
	}
	bad := func(why string) (Report, error) { return Report{}, fmt.Errorf("%w: report: %s", ErrBadMessage, why) }
	switch r.Event {
	case ReportConnected:
		if !slices.Contains(Paths, r.Path) || r.SetupMs < 0 || r.SetupMs > MaxReportSetupMs ||
			r.Restarts < 0 || r.Restarts > MaxReportRestarts || r.Reason != "" || r.DurationS != 0 {
			return bad("connected needs a known path, setupMs and restarts in bounds, nothing else")
		}
	case ReportFailed:
		if !slices.Contains(FailureReasons, r.Reason) || r.Path != "" || r.SetupMs != 0 || r.DurationS != 0 || r.Restarts != 0 {
			return bad("failed needs a known reason, nothing else")
		}
	case ReportEnded:
		if r.DurationS < 0 || r.DurationS > MaxReportDurationS || r.Path != "" || r.SetupMs != 0 || r.Reason != "" || r.Restarts != 0 {
			return bad("ended needs durationS in bounds, nothing else")
		}
	default:
		return bad("unknown event")
	}
	return r, nil
}

package bench

import (
	"github.com/pion/webrtc/v4"

	"tandem/signaling/wire"
)

// Package wire keeps pion/webrtc out of the protocol; these convert its
// small structs to pion's, whose JSON is the same. A candidate needs no
// function: wire.Candidate and webrtc.ICECandidateInit convert to each
// other, (*wire.Candidate)(&init) and webrtc.ICECandidateInit(c).

// PionICEServers returns the ICE servers of a created or joined message
// in pion's shape.
func PionICEServers(servers []wire.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		ice := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			ice.Credential = s.Credential
		}
		out = append(out, ice)
	}
	return out
}

// WireDescription returns d, a local description, in the protocol's
// shape; nil when d is.
func WireDescription(d *webrtc.SessionDescription) *wire.Description {
	if d == nil {
		return nil
	}
	return &wire.Description{Type: d.Type.String(), SDP: d.SDP}
}

// PionDescription returns a description from the other peer in pion's
// shape.
func PionDescription(d wire.Description) webrtc.SessionDescription {
	return webrtc.SessionDescription{Type: webrtc.NewSDPType(d.Type), SDP: d.SDP}
}

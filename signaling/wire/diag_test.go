package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeDiagRequest(t *testing.T) {
	for _, tt := range []struct {
		frame string
		ok    bool
	}{
		{`{"type":"diag-offer","check":"turn-udp","sdp":"v=0"}`, true},
		{`{"type":"diag-offer","check":"turn-tls","sdp":"v=0"}`, true},
		{`{"type":"diag-stun","ports":[50000,50001]}`, true},
		{`{"type":"diag-offer","check":"stun","sdp":"v=0"}`, false}, // not a relay check
		{`{"type":"diag-offer","check":"turn-udp"}`, false},         // no SDP
		{`{"type":"diag-offer","check":"turn-udp","sdp":"v=0","ports":[1]}`, false},
		{`{"type":"diag-stun","ports":[]}`, false},
		{`{"type":"diag-stun","ports":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}`, false},
		{`{"type":"diag-stun","ports":[70000]}`, false}, // not a port
		{`{"type":"diag-stun","ports":[1],"check":"turn-udp"}`, false},
		{`{"type":"diag-welcome","checks":{}}`, false},                   // the server's
		{`{"type":"diag-answer","check":"turn-udp","sdp":"v=0"}`, false}, // the server's
		{`{"type":"diag-stun","ports":[1],"secondPorts":[1]}`, false},
		{`{"type":"diag-stun","ports":[1],"room":"secret"}`, false},    // unknown field
		{`{"type":"diag-stun","type":"diag-stun","ports":[1]}`, false}, // a name twice
		{`{"ports":[1]}`, false},
		{`{"type":"signal","data":{}}`, false},
		{`[1,2]`, false},
		{`not json`, false},
		{"{\"type\":\"diag-offer\",\"check\":\"turn-udp\",\"sdp\":\"\xff\"}", false},
		{`{"type":"diag-offer","check":"turn-udp","sdp":"` + strings.Repeat("a", MaxDiagFrame) + `"}`, false},
	} {
		m, err := DecodeDiagRequest([]byte(tt.frame))
		if (err == nil) != tt.ok {
			t.Errorf("DecodeDiagRequest(%.80s) = %+v, %v; want ok %v", tt.frame, m, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadMessage) {
			t.Errorf("DecodeDiagRequest(%.80s): %v is not ErrBadMessage", tt.frame, err)
		}
	}
}

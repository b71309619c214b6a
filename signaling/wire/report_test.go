package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeReport(t *testing.T) {
	for _, tt := range []struct {
		data string
		ok   bool
	}{
		{`{"event":"connected","setupMs":1234,"path":"relay_udp","restarts":1}`, true},
		{`{"event":"connected","setupMs":0,"path":"direct"}`, true},
		{`{"event":"failed","reason":"relay"}`, true},
		{`{"event":"ended","durationS":65}`, true},
		{`{"event":"connected","setupMs":1,"path":"carrier-pigeon"}`, false},
		{`{"event":"connected","setupMs":-1,"path":"direct"}`, false},
		{`{"event":"connected","setupMs":600001,"path":"direct"}`, false},
		{`{"event":"connected","path":"direct","restarts":101}`, false},
		{`{"event":"connected","path":"direct","room":"secret"}`, false},
		{`{"event":"connected","path":"direct","reason":"ice"}`, false},
		{`{"event":"failed","reason":"because"}`, false},
		{`{"event":"failed","reason":"ice","path":"direct"}`, false},
		{`{"event":"ended","durationS":604801}`, false},
		{`{"event":"exploded"}`, false},
		{`{"event":"connected","path":"direct","setupMs":"12"}`, false},
		{`{"event":"ended","durationS":1,"padding":"` + strings.Repeat("x", 600) + `"}`, false},
	} {
		r, err := DecodeReport([]byte(tt.data))
		if (err == nil) != tt.ok {
			t.Errorf("DecodeReport(%.80s) = %+v, %v; want ok %v", tt.data, r, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadMessage) {
			t.Errorf("DecodeReport(%.80s): %v is not ErrBadMessage", tt.data, err)
		}
	}
}

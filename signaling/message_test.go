package signaling

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestDecodeClientMessage(t *testing.T) {
	tests := []struct {
		frame string
		typ   string
		ok    bool
	}{
		{`{"type":"signal","data":{"candidate":{"candidate":"x"}}}`, TypeSignal, true},
		{`{"type":"signal","data": {"a":1},"extra":true}`, TypeSignal, true},
		{`{"type":"leave"}`, TypeLeave, true},
		{`{"type":"ping"}`, TypePing, true},
		{`{"type":"pi\u006eg","data":{"ignored":1}}`, TypePing, true},
		{`{"type":"signal","data":null}`, "", false},
		{`{"type":"signal","data":[1]}`, "", false},
		{`{"type":"signal"}`, "", false},
		{`{"type":1}`, "", false},
		{`{"type":"created"}`, "", false},
		{`null`, "", false},
		{``, "", false},
		{`{"type":"leave"`, "", false},
		{` { "data" : {"x":[1,{"y":"}"}]} , "type" : "signal" } `, TypeSignal, true},
		{`{"type":"sig\u006eal","data":{}}`, TypeSignal, true},
		{`{"type":"signal","data":{},"type":"leave"}`, "", false}, // duplicate names
		{`{"type":"signal","data":{"a":1,"a":2}}`, "", false},
		{"{\"type\":\"signal\",\"data\":{\"a\":\"\xff\"}}", "", false}, // not UTF-8
		{`{"type":"signal","data":{"a":"\ud800"}}`, "", false},         // lone surrogate
		{`{"type":"signal","data":{"a":"\ud83d\ude00 é"}}`, TypeSignal, true},
		{`{"type":"signal","data":"{}"}`, "", false},
		{`{"type":"signal","data":{}}x`, "", false},
		{`{"type":"signal","data":{"a":"\"}"}}`, TypeSignal, true},
		{`{"data":{"a":"x\\"},"type":"signal"}`, TypeSignal, true},                       // the quote after an escaped backslash ends the string
		{`{"data":{"a":"\\\"},\"type\":\"leave\"}"},"type":"signal"}`, TypeSignal, true}, // an escaped quote does not
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			m, err := DecodeClientMessage([]byte(tt.frame))
			if (err == nil) != tt.ok || m.Type != tt.typ {
				t.Fatalf("DecodeClientMessage(%s) = %+v, %v", tt.frame, m, err)
			}
		})
	}
}

func TestEncodeSignalIsValidJSON(t *testing.T) {
	data := json.RawMessage(`{"description":{"type":"offer","sdp":"v=0\r\n"}}`)
	frame := appendSignal(nil, "0123456789abcdef", data)
	if len(frame) != signalSize(data) {
		t.Errorf("frame is %d bytes, signalSize says %d", len(frame), signalSize(data))
	}
	var m ServerMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		t.Fatalf("%s: %v", frame, err)
	}
	if m.Type != TypeSignal || m.From != "0123456789abcdef" || string(m.Data) != `{"description":{"type":"offer","sdp":"v=0\r\n"}}` {
		t.Fatalf("decoded %+v", m)
	}
}

func compact(t *testing.T, raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %q: %v", raw, err)
	}
	return b.Bytes()
}

func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{`{"type":"signal","data":{}}`, `{"type":"leave"}`, `{"type":`, `[]`, `{"type":"signal","data":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := DecodeClientMessage(frame)
		if err != nil {
			return
		}
		// What was accepted means the same to encoding/json.
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(frame, &ref); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", frame, err)
		}
		var typ string
		if err := json.Unmarshal(ref["type"], &typ); err != nil || typ != m.Type {
			t.Fatalf("%q: type %q, encoding/json says %q (%v)", frame, m.Type, typ, err)
		}
		if m.Type == TypeSignal && !bytes.Equal(compact(t, m.Data), compact(t, ref["data"])) {
			t.Fatalf("%q: data %q, encoding/json says %q", frame, m.Data, ref["data"])
		}
		if m.Type == TypeSignal {
			// What is relayed must be valid JSON.
			out := appendSignal(nil, "00", m.Data)
			if !json.Valid(out) {
				t.Fatalf("relay of %q is not JSON: %q", frame, out)
			}
		}
	})
}

package wire

import (
	"bytes"
	"encoding/json"
	"strings"
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

func TestAppendSignal(t *testing.T) {
	data := json.RawMessage(`{"description":{"type":"offer","sdp":"v=0\r\n"}}`)
	var m ServerMessage
	if err := json.Unmarshal(AppendSignal(nil, "0123456789abcdef", data), &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeSignal || m.From != "0123456789abcdef" || string(m.Data) != string(data) {
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
			out := AppendSignal(nil, "00", m.Data)
			if !json.Valid(out) {
				t.Fatalf("relay of %q is not JSON: %q", frame, out)
			}
		}
	})
}

// BenchmarkDecodeClientMessage is the check every relayed frame gets: an
// ICE candidate, and an SDP offer whose lines end in escaped CRLFs.
func BenchmarkDecodeClientMessage(b *testing.B) {
	sdp := strings.Repeat(`a=candidate:1 1 udp 2113937151 192.0.2.10 54400 typ host generation 0\r\n`, 14)
	frames := []struct{ name, frame string }{
		{"candidate", `{"type":"signal","data":{"session":"s","candidate":{"candidate":"candidate:1 1 udp 2113937151 192.0.2.10 54400 typ host","sdpMid":"0","sdpMLineIndex":0}}}`},
		{"offer", `{"type":"signal","data":{"session":"s","description":{"type":"offer","sdp":"` + sdp + `"}}}`},
	}
	for _, f := range frames {
		b.Run(f.name, func(b *testing.B) {
			frame := []byte(f.frame)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for range b.N {
				if _, err := DecodeClientMessage(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The server writes the type first, which IsType relies on.
func TestIsType(t *testing.T) {
	for _, typ := range []string{TypeCreated, TypeJoined, TypePeerJoined, TypePeerLeft, TypeFull, TypeError, TypePong} {
		frame, err := json.Marshal(ServerMessage{Type: typ, Room: "r", Peer: "p", Code: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if !IsType(frame, typ) {
			t.Errorf("IsType(%s, %q) = false", frame, typ)
		}
	}
	signal := AppendSignal(nil, "00", json.RawMessage(`{}`))
	if !IsType(signal, TypeSignal) || IsType(signal, "sig") || IsType([]byte(`{"type":"signal`), TypeSignal) {
		t.Errorf("IsType wrong about %s", signal)
	}
	if n := testing.AllocsPerRun(100, func() { IsType(signal, TypeSignal) }); n != 0 {
		t.Errorf("IsType allocates %v times", n)
	}
}

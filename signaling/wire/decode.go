package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// ErrBadMessage is wrapped by DecodeClientMessage's errors. Its text, with
// the reason, is the message of the CodeBadMessage error the server sends,
// so it keeps the words it always had.
var ErrBadMessage = errors.New("signaling: bad message")

// DecodeClientMessage parses and checks one client frame. A signal must carry
// a JSON object in data; anything else is an error wrapping ErrBadMessage,
// with a reason fit to show a person.
//
// It runs on every relayed message, so it does not unmarshal: the frame is
// validated, then only its top-level "type" and "data" members are located.
// Neither is copied. Validation is RFC 7493's (I-JSON): valid UTF-8 and no
// duplicate names, so no reader can take a relayed message to mean
// something else than the server did. jsontext (encoding/json/v2 to be)
// validates several times faster than json.Valid, and validation is a large
// part of what a relayed message costs (docs/performance.md).
func DecodeClientMessage(frame []byte) (ClientMessage, error) {
	if !jsontext.Value(frame).IsValid() {
		return ClientMessage{}, fmt.Errorf("%w: not valid JSON (UTF-8, each name once)", ErrBadMessage)
	}
	typ, data, ok := topLevelMembers(frame)
	if !ok {
		return ClientMessage{}, fmt.Errorf("%w: not a JSON object", ErrBadMessage)
	}
	m := ClientMessage{Data: data}
	switch string(typ) { // compiled to a comparison: no allocation
	case `"` + TypeSignal + `"`:
		m.Type = TypeSignal
	case `"` + TypeLeave + `"`:
		m.Type = TypeLeave
	case `"` + TypePing + `"`:
		m.Type = TypePing
	case `"` + TypeReport + `"`:
		m.Type = TypeReport
	case "":
		return ClientMessage{}, fmt.Errorf("%w: missing type", ErrBadMessage)
	default:
		var name string
		if json.Unmarshal(typ, &name) != nil {
			return ClientMessage{}, fmt.Errorf("%w: type must be a string", ErrBadMessage)
		}
		switch name { // the rare spelling with escapes, such as "sig\u006eal"
		case TypeSignal, TypeLeave, TypePing, TypeReport:
			m.Type = name
		default:
			return ClientMessage{}, fmt.Errorf("%w: unknown type %q", ErrBadMessage, truncate(name))
		}
	}
	if (m.Type == TypeSignal || m.Type == TypeReport) && (len(data) == 0 || data[0] != '{') {
		return ClientMessage{}, fmt.Errorf("%w: %s needs an object in data", ErrBadMessage, m.Type)
	}
	if m.Type != TypeSignal && m.Type != TypeReport {
		m.Data = nil
	}
	return m, nil
}

// topLevelMembers finds the raw values of the "type" and "data" members of
// a valid JSON document that is an object without duplicate names. Keys
// spelt with escapes are not recognised.
func topLevelMembers(doc []byte) (typ, data []byte, ok bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, nil, false
	}
	i = skipSpace(doc, i+1)
	for i < len(doc) && doc[i] != '}' {
		keyEnd := endOfValue(doc, i)
		key := doc[i:keyEnd]
		i = skipSpace(doc, keyEnd)
		i = skipSpace(doc, i+1) // the colon
		valueEnd := endOfValue(doc, i)
		switch string(key) {
		case `"type"`:
			typ = doc[i:valueEnd]
		case `"data"`:
			data = doc[i:valueEnd]
		}
		i = skipSpace(doc, valueEnd)
		if i < len(doc) && doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
	}
	return typ, data, true
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// endOfValue returns the index just past the JSON value that starts at i,
// in a document already known to be valid.
func endOfValue(doc []byte, i int) int {
	switch doc[i] {
	case '"':
		return endOfString(doc, i)
	case '{', '[':
		depth := 0
		for i < len(doc) {
			switch doc[i] {
			case '"':
				i = endOfString(doc, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number, true, false or null
		for i < len(doc) && doc[i] != ',' && doc[i] != '}' && doc[i] != ']' &&
			doc[i] != ' ' && doc[i] != '\t' && doc[i] != '\n' && doc[i] != '\r' {
			i++
		}
		return i
	}
}

// endOfString returns the index just past the string whose opening quote
// is at i: the first quote after it that an even run of backslashes (or
// none) precedes. bytes.IndexByte finds quotes many bytes at a time, and
// the signals relayed are mostly long strings (SDP).
func endOfString(doc []byte, i int) int {
	for i++; ; i++ {
		j := bytes.IndexByte(doc[i:], '"')
		if j < 0 {
			return len(doc)
		}
		i += j
		backslashes := 0
		for doc[i-1-backslashes] == '\\' { // stops at the opening quote
			backslashes++
		}
		if backslashes%2 == 0 {
			return i + 1
		}
	}
}

// truncate shortens what a client sent before it is echoed in an error.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

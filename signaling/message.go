package signaling

import (
	"encoding/json"
	"errors"
	"fmt"

	"tandem/turn"
)

// Message types of the wire protocol (docs/protocol.md).
const (
	TypeCreated    = "created"
	TypeJoined     = "joined"
	TypePeerJoined = "peer-joined"
	TypePeerLeft   = "peer-left"
	TypeFull       = "full"
	TypeSignal     = "signal"
	TypeLeave      = "leave"
	TypeError      = "error"
)

// ServerMessage is every message the server sends. Fields a type does not
// use are left empty and omitted.
type ServerMessage struct {
	Type       string           `json:"type"`
	Room       string           `json:"room,omitempty"`
	Peer       string           `json:"peer,omitempty"`
	Peers      []string         `json:"peers,omitempty"`
	Seat       string           `json:"seat,omitempty"`
	Resumed    bool             `json:"resumed,omitempty"`
	ICEServers []turn.ICEServer `json:"iceServers,omitempty"`
	From       string           `json:"from,omitempty"`
	Data       json.RawMessage  `json:"data,omitempty"`
	Code       string           `json:"code,omitempty"`
	Message    string           `json:"message,omitempty"`
}

// ClientMessage is every message a client may send.
type ClientMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

var errBadMessage = errors.New("signaling: bad message")

// DecodeClientMessage parses and checks one client frame. A signal must carry
// a JSON object in data; anything else is an error wrapping errBadMessage,
// with a reason fit to show a person.
func DecodeClientMessage(frame []byte) (ClientMessage, error) {
	var m ClientMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		return ClientMessage{}, fmt.Errorf("%w: not a JSON object", errBadMessage)
	}
	switch m.Type {
	case TypeSignal:
		if len(m.Data) == 0 || m.Data[0] != '{' {
			return ClientMessage{}, fmt.Errorf("%w: signal needs an object in data", errBadMessage)
		}
	case TypeLeave:
	case "":
		return ClientMessage{}, fmt.Errorf("%w: missing type", errBadMessage)
	default:
		return ClientMessage{}, fmt.Errorf("%w: unknown type %q", errBadMessage, m.Type)
	}
	return m, nil
}

// appendSignal appends {"type":"signal","from":ID,"data":DATA} to dst
// without a round trip through encoding/json: data was validated on the way
// in and is forwarded untouched.
func appendSignal(dst []byte, from string, data json.RawMessage) []byte {
	dst = append(dst, `{"type":"signal","from":"`...)
	dst = append(dst, from...) // peer IDs are hex: nothing to escape
	dst = append(dst, `","data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}

// signalSize is the length of a signal frame from a 16-digit peer id.
func signalSize(data json.RawMessage) int {
	return len(`{"type":"signal","from":"0123456789abcdef","data":}`) + len(data)
}

func encode(m ServerMessage) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Only a bug can get here: every field is a plain value.
		panic(fmt.Sprintf("signaling: encode %s: %v", m.Type, err))
	}
	return b
}

func errorMessage(code, message string) []byte {
	return encode(ServerMessage{Type: TypeError, Code: code, Message: message})
}

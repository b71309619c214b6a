package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

// DiagPath is the diagnosis page's WebSocket. It sits under /ws/, where
// reverse proxies already pass upgrades, in a form no room's path takes
// (a room's is one segment).
const DiagPath = "/ws/-/diag"

// Diagnosis messages. The server greets with TypeDiagWelcome; the page
// then sends a TypeDiagOffer per TURN check, answered by TypeDiagAnswer
// (or TypeError with the check), and at most one TypeDiagSTUN, answered by
// TypeDiagSTUNSeen.
const (
	TypeDiagWelcome  = "diag-welcome"
	TypeDiagOffer    = "diag-offer"
	TypeDiagAnswer   = "diag-answer"
	TypeDiagSTUN     = "diag-stun"
	TypeDiagSTUNSeen = "diag-stun-seen"
)

// Diagnosis checks, as the page's rows name them (data-check).
const (
	CheckWebSocket = "websocket"
	CheckMedia     = "media"
	CheckSTUN      = "stun"
	CheckNAT       = "nat"
	CheckTURNUDP   = "turn-udp"
	CheckTURNTCP   = "turn-tcp"
	CheckTURNTLS   = "turn-tls"
)

// TURNChecks are the checks that relay a data channel through the server.
var TURNChecks = []string{CheckTURNUDP, CheckTURNTCP, CheckTURNTLS}

// Bounds of the diagnosis socket's client messages.
const (
	MaxDiagFrame = 32 << 10 // an offer whose SDP lists every candidate
	MaxDiagPorts = 16       // host candidates a page asks about
)

// DiagMessage is every message of the diagnosis socket, both ways. Fields
// a type does not use are left empty and omitted.
type DiagMessage struct {
	Type string `json:"type"`
	// Checks, in a welcome: the ICE servers each network check is to use,
	// by check. A check the server cannot offer (TURN over TLS on a server
	// without a certificate) is absent.
	Checks map[string][]ICEServer `json:"checks,omitempty"`
	// Check: offer, answer, error: which TURN check.
	Check string `json:"check,omitempty"`
	// SDP: offer, answer, with every candidate (no trickle).
	SDP string `json:"sdp,omitempty"`
	// Ports: stun, the page's host candidates' ports; stun-seen, those
	// from which the TURN port answered a Binding request in the last
	// minute.
	Ports []uint16 `json:"ports,omitempty"`
	// SecondPorts: stun-seen, those the second STUN port answered.
	SecondPorts []uint16 `json:"secondPorts,omitempty"`
	Code        string   `json:"code,omitempty"`    // error: a Code constant
	Message     string   `json:"message,omitempty"` // error: a sentence for people
}

// DecodeDiagRequest parses and checks one frame a diagnosis page sent:
// I-JSON, known fields only, a client type, a TURN check, an SDP offer
// that fits, a bounded list of ports. Errors wrap ErrBadMessage.
func DecodeDiagRequest(frame []byte) (DiagMessage, error) {
	var m DiagMessage
	if len(frame) > MaxDiagFrame {
		return m, fmt.Errorf("%w: over %d bytes", ErrBadMessage, MaxDiagFrame)
	}
	if !jsontext.Value(frame).IsValid() {
		return m, fmt.Errorf("%w: not valid JSON (UTF-8, each name once)", ErrBadMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return DiagMessage{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	bad := func(why string) (DiagMessage, error) { return DiagMessage{}, fmt.Errorf("%w: %s", ErrBadMessage, why) }
	if m.Checks != nil || m.SecondPorts != nil || m.Code != "" || m.Message != "" {
		return bad("fields the server sends")
	}
	switch m.Type {
	case TypeDiagOffer:
		if !slices.Contains(TURNChecks, m.Check) {
			return bad(fmt.Sprintf("offer for an unknown check %q", truncate(m.Check)))
		}
		if m.SDP == "" || m.Ports != nil {
			return bad("an offer carries an SDP and no ports")
		}
	case TypeDiagSTUN:
		if len(m.Ports) == 0 || len(m.Ports) > MaxDiagPorts || m.Check != "" || m.SDP != "" {
			return bad(fmt.Sprintf("stun carries 1 to %d ports only", MaxDiagPorts))
		}
	case "":
		return bad("missing type")
	default:
		return bad(fmt.Sprintf("unknown type %q", truncate(m.Type)))
	}
	return m, nil
}

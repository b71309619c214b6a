package wire

import "encoding/json"

// ServerMessage is every message the server sends. Fields a type does not
// use are left empty and omitted.
type ServerMessage struct {
	Type       string          `json:"type"`
	Room       string          `json:"room,omitempty"`       // created, joined, full
	Peer       string          `json:"peer,omitempty"`       // created, joined: yours; peer-joined, peer-left: the other's
	Peers      []string        `json:"peers,omitempty"`      // joined: the other's id
	Seat       string          `json:"seat,omitempty"`       // created, joined: your seat token
	Resumed    bool            `json:"resumed,omitempty"`    // created, joined: the seat was taken back
	ICEServers []ICEServer     `json:"iceServers,omitempty"` // created, joined
	From       string          `json:"from,omitempty"`       // signal: the sender's id
	Data       json.RawMessage `json:"data,omitempty"`       // signal: what the sender sent, untouched
	Code       string          `json:"code,omitempty"`       // error: a Code constant
	Message    string          `json:"message,omitempty"`    // error: a sentence for people
}

// ClientMessage is every message a client may send.
type ClientMessage struct {
	Type string `json:"type"`
	// Data is the raw JSON object of a signal. From DecodeClientMessage it
	// points into the frame it was decoded from: copy it before the
	// frame's buffer is reused.
	Data json.RawMessage `json:"data,omitempty"`
}

// ICEServer has the shape of the browser's RTCIceServer (and the same
// fields as turn.ICEServer, so either converts to the other).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Signal is what the browser client puts in a signal's data, and so what
// Go peers send too: a description or a candidate, from the peer
// connection named by Session. The server does not look inside.
type Signal struct {
	Session     string       `json:"session,omitempty"`
	Description *Description `json:"description,omitempty"`
	Candidate   *Candidate   `json:"candidate,omitempty"`
}

// Description has the JSON of RTCSessionDescriptionInit (and of
// webrtc.SessionDescription).
type Description struct {
	Type string `json:"type"` // offer, answer, pranswer or rollback
	SDP  string `json:"sdp"`
}

// Candidate has the JSON of RTCIceCandidateInit, and the fields of
// webrtc.ICECandidateInit: one converts to the other.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
	UsernameFragment *string `json:"usernameFragment"`
}

// AppendSignal appends the server's signal frame,
// {"type":"signal","from":FROM,"data":DATA}, to dst without a round trip
// through encoding/json: data, checked by DecodeClientMessage on the way
// in, is forwarded untouched. from must need no escaping (peer ids are
// hex).
func AppendSignal(dst []byte, from string, data json.RawMessage) []byte {
	dst = append(dst, `{"type":"`+TypeSignal+`","from":"`...)
	dst = append(dst, from...)
	dst = append(dst, `","data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}

// IsType reports whether frame, a server frame as the server writes it
// (type first: ServerMessage's order, AppendSignal's), is of type typ. It
// decodes nothing and allocates nothing, for clients that read many
// frames, such as the bench.
func IsType(frame []byte, typ string) bool {
	const head = `{"type":"`
	return len(frame) > len(head)+len(typ) &&
		string(frame[:len(head)]) == head &&
		string(frame[len(head):len(head)+len(typ)]) == typ &&
		frame[len(head)+len(typ)] == '"'
}

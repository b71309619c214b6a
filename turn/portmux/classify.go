package portmux

import "encoding/binary"

// Kind is where a connection's first bytes say it belongs.
type Kind int

const (
	// Web is HTTP, or anything that is not TURN (the web server answers
	// garbage with 400 Bad Request).
	Web Kind = iota
	// TURN is a STUN message or ChannelData.
	TURN
)

func (k Kind) String() string {
	if k == TURN {
		return "turn"
	}
	return "web"
}

// stunMagicCookie is the fixed value in bytes 4-7 of every STUN message
// (RFC 5389).
const stunMagicCookie = 0x2112A442

// Classify decides from a connection's first bytes (at least 8) whether it
// carries TURN or HTTP.
//
// A STUN message starts with two zero bits and has the magic cookie in
// bytes 4-7. ChannelData starts with a channel number in 0x4000-0x7FFF
// (RFC 5766, as pion reads it), whose first byte, 0x40-0x7F, may also be
// an upper-case letter, as in "GET " or "OPTIONS ": what looks like an
// HTTP method followed by a space is HTTP.
func Classify(first []byte) Kind {
	if len(first) < 8 {
		return Web
	}
	if first[0]&0xC0 == 0 && binary.BigEndian.Uint32(first[4:8]) == stunMagicCookie {
		return TURN
	}
	if first[0] >= 0x40 && first[0] <= 0x7F && !looksLikeHTTPMethod(first) {
		return TURN
	}
	return Web
}

// looksLikeHTTPMethod reports whether b starts with upper-case letters
// followed by a space, as every HTTP request line does.
func looksLikeHTTPMethod(b []byte) bool {
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
		case c == ' ' && i > 0:
			return true
		default:
			return false
		}
	}
	return true // eight letters and no space yet: a long method (PROPFIND)
}

package turn

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"
)

// bindingLogSize is how many Binding requests a bindingLog remembers: a
// diagnosis page asks within seconds of sending its own, and a flood only
// makes the log forget sooner.
const bindingLogSize = 256

// bindingWindow is how long a Binding request counts as recent.
const bindingWindow = time.Minute

// bindingLog remembers the source ports of the last STUN Binding requests
// a socket answered. A browser drops a server-reflexive candidate equal to
// one of its host candidates, so on a network without NAT the only sign
// that the server answered is that the server saw the request; a
// diagnosis page asks with its host candidates' ports (Server.Bindings).
// Ports alone, not addresses: the log tells nobody who else used the
// server. Safe for concurrent use.
type bindingLog struct {
	mu   sync.Mutex // guards ring and next
	ring [bindingLogSize]seenBinding
	next int
}

type seenBinding struct {
	port uint16
	at   time.Time
}

func (l *bindingLog) add(port uint16, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = seenBinding{port: port, at: now}
	l.next = (l.next + 1) % bindingLogSize
}

// seen returns those of ports that sent a Binding request since since.
func (l *bindingLog) seen(ports []uint16, since time.Time) []uint16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uint16
	for _, b := range l.ring {
		if !b.at.IsZero() && !b.at.Before(since) && slices.Contains(ports, b.port) && !slices.Contains(out, b.port) {
			out = append(out, b.port)
		}
	}
	slices.Sort(out)
	return out
}

// stunMagicCookie is RFC 5389's fixed value in every STUN header.
const stunMagicCookie = 0x2112A442

// isBindingRequest reports whether b starts a STUN Binding request, from
// its header alone: cheap enough for every datagram.
func isBindingRequest(b []byte) bool {
	return len(b) >= 20 && b[0] == 0x00 && b[1] == 0x01 && binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie
}

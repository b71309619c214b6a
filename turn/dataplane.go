package turn

import (
	"net"
	"net/netip"
	"sync"
)

// The data plane reads every datagram that reaches the TURN port's UDP
// sockets and the relay sockets, instead of one pion goroutine per
// socket. A datagram the channel mirror knows (ChannelData between a UDP
// client and a bound peer, both ways) it relays itself, with the same
// checks as before: the peer policy, the bitrate policers, the counters.
// Every other datagram it puts in the socket's inbox, where pion's
// goroutine for that socket reads it as from the socket itself.
//
// On Linux (dataplane_linux.go) a few loops wait on epoll and read and
// write in batches; elsewhere (dataplane_other.go) a goroutine per socket
// reads.

const (
	// datagramBuffer is the size of a data plane buffer: pion reads 1,600
	// bytes at most, and a frame to a client adds 4 to the datagram.
	datagramBuffer = 2048
	// headroom is kept before each datagram read from a peer, for the
	// ChannelData header that goes in front of it.
	headroom = 4
	// inboxSize bounds the datagrams waiting for pion on one socket:
	// requests and indications, which are few; past it they are dropped,
	// as by a full socket buffer.
	inboxSize = 256
)

// datagramHandler takes the datagrams a socket reads.
type datagramHandler interface {
	// received handles a datagram read into buf[headroom:headroom+n]. It
	// may return a frame, within buf, to send to a client from the TURN
	// port.
	received(buf []byte, n int, from netip.AddrPort) (frame []byte, to netip.AddrPort)
}

// datagram is a copy of what a socket read, for pion.
type datagram struct {
	b    []byte
	from netip.AddrPort
}

// inbox hands pion's reading goroutine the datagrams the data plane leaves
// to it. Safe for concurrent use.
type inbox struct {
	ch        chan datagram
	done      chan struct{} // closed by close
	closeOnce sync.Once
}

func newInbox() *inbox {
	return &inbox{ch: make(chan datagram, inboxSize), done: make(chan struct{})}
}

// put queues a copy of b, and reports false when the inbox is full. The
// data plane is its only writer, so a full inbox stays full until put
// returns, and a flood costs no copies.
func (q *inbox) put(b []byte, from netip.AddrPort) bool {
	if len(q.ch) == cap(q.ch) {
		return false
	}
	select {
	case q.ch <- datagram{b: append([]byte(nil), b...), from: from}:
		return true
	default:
		return false
	}
}

// take waits for a datagram and copies it into p, truncated as a socket
// read truncates it; after close it returns net.ErrClosed.
func (q *inbox) take(p []byte) (int, netip.AddrPort, error) {
	select {
	case d := <-q.ch:
		return copy(p, d.b), d.from, nil
	case <-q.done:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (q *inbox) close() { q.closeOnce.Do(func() { close(q.done) }) }

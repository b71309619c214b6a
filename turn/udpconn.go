package turn

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// addrCacheMax bounds an addrCache. A socket sees a handful of sources (a
// relay its peers, a listener its clients); a flood of spoofed sources
// only makes the cache start over.
const addrCacheMax = 1024

// addrCache hands out one *net.UDPAddr per source address, so that reading
// a datagram allocates nothing once its source is known. pion/turn takes
// each datagram's source as a net.Addr and only compares and copies it; no
// one modifies the addresses handed out.
//
// The IP is always 16 bytes long (IPv4 in its IPv4-mapped form, as a
// dual-stack socket reports it): pion/turn keys allocations by the 16-byte
// form, and converting a 4-byte IP allocates on every packet.
//
// An addrCache is owned by the one goroutine that reads its socket.
type addrCache struct {
	last     netip.AddrPort
	lastAddr *net.UDPAddr
	m        map[netip.AddrPort]*net.UDPAddr
}

func (c *addrCache) get(ap netip.AddrPort) *net.UDPAddr {
	if c.lastAddr != nil && ap == c.last {
		return c.lastAddr
	}
	a, ok := c.m[ap]
	if !ok {
		if c.m == nil || len(c.m) >= addrCacheMax {
			c.m = make(map[netip.AddrPort]*net.UDPAddr)
		}
		a = udpAddr(ap)
		c.m[ap] = a
	}
	c.last, c.lastAddr = ap, a
	return a
}

// udpAddr converts ap to a *net.UDPAddr with a 16-byte IP.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	ip := ap.Addr().As16()
	return &net.UDPAddr{IP: ip[:], Port: int(ap.Port()), Zone: ap.Addr().Zone()}
}

// listenerConn is a TURN listening socket as pion/turn reads it: one
// goroutine calls ReadFrom in a loop, and many write. The data plane reads
// the socket (received): ChannelData on a channel the mirror knows goes
// straight out of its relay, anything else to pion. ChannelBind requests
// that the bindGuard refuses are answered here and never reach pion;
// Binding requests are noted in bindings and passed on.
type listenerConn struct {
	// Static after construction.
	sock     *udpSocket
	guard    *bindGuard
	bindings *bindingLog
	channels *channels
	drops    *drops
	inbox    *inbox
	// Owned by pion's reading goroutine.
	addrs addrCache
}

func newListenerConn(sock *udpSocket, guard *bindGuard, bindings *bindingLog, chans *channels, dropped *drops) *listenerConn {
	return &listenerConn{sock: sock, guard: guard, bindings: bindings, channels: chans, drops: dropped, inbox: newInbox()}
}

// received is a datagram from a client, in the data plane.
func (l *listenerConn) received(buf []byte, n int, from netip.AddrPort) ([]byte, netip.AddrPort) {
	b := buf[headroom : headroom+n]
	if !l.channels.fromClient(b, from) && !l.inbox.put(b, from) {
		l.drops.add(dropBacklog)
	}
	return nil, netip.AddrPort{}
}

// ReadFrom is pion's read: the datagrams the data plane left to it, with
// their sources from the cache.
func (l *listenerConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := l.inbox.take(p)
		if err != nil {
			return 0, nil, err
		}
		addr := l.addrs.get(from)
		if isBindingRequest(p[:n]) {
			l.bindings.add(from.Port(), time.Now())
		}
		if !isChannelBindRequest(p[:n]) {
			return n, addr, nil
		}
		reply := l.guard.refusal(p[:n], addr)
		if reply == nil {
			return n, addr, nil
		}
		_, _ = l.WriteTo(reply, addr)
	}
}

func (l *listenerConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	to, ok := addrPort(addr)
	if !ok {
		return 0, fmt.Errorf("turn: send to %v: not a UDP address", addr)
	}
	if err := l.sock.writeTo(p, to); err != nil {
		return 0, err
	}
	return len(p), nil
}

// LocalAddr is the socket's address, with a 16-byte IP (see addrCache).
// pion/turn asks for it on every datagram.
func (l *listenerConn) LocalAddr() net.Addr { return l.sock.local }

func (l *listenerConn) Close() error {
	l.inbox.close()
	return l.sock.close()
}

// The data plane never blocks, so there is nothing to time out.
func (l *listenerConn) SetDeadline(time.Time) error      { return nil }
func (l *listenerConn) SetReadDeadline(time.Time) error  { return nil }
func (l *listenerConn) SetWriteDeadline(time.Time) error { return nil }

package turn

import (
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

// read reads a datagram from conn and gives its source from the cache.
func (c *addrCache) read(conn *net.UDPConn, p []byte) (int, net.Addr, error) {
	n, ap, err := conn.ReadFromUDPAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, c.get(ap), nil
}

// udpAddr converts ap to a *net.UDPAddr with a 16-byte IP.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	ip := ap.Addr().As16()
	return &net.UDPAddr{IP: ip[:], Port: int(ap.Port()), Zone: ap.Addr().Zone()}
}

// listenerConn is a TURN listening socket as pion/turn reads it: one
// goroutine calls ReadFrom in a loop, and many write. ChannelBind requests
// that the bindGuard refuses are answered here and never reach pion;
// Binding requests are noted in bindings and passed on.
type listenerConn struct {
	*net.UDPConn
	// Static after construction.
	laddr    *net.UDPAddr
	guard    *bindGuard
	bindings *bindingLog
	// Owned by the reading goroutine.
	addrs addrCache
}

func newListenerConn(c *net.UDPConn, guard *bindGuard, bindings *bindingLog) *listenerConn {
	l := &listenerConn{UDPConn: c, laddr: c.LocalAddr().(*net.UDPAddr), guard: guard, bindings: bindings}
	if ap := l.laddr.AddrPort(); ap.IsValid() {
		l.laddr = udpAddr(ap)
	}
	return l
}

// LocalAddr is the socket's address, with a 16-byte IP (see addrCache).
// pion/turn asks for it on every datagram.
func (l *listenerConn) LocalAddr() net.Addr { return l.laddr }

// ReadFrom reads a datagram without allocating its source address.
func (l *listenerConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := l.addrs.read(l.UDPConn, p)
		if err == nil && isBindingRequest(p[:n]) {
			l.bindings.add(uint16(addr.(*net.UDPAddr).Port), time.Now())
		}
		if err != nil || !isChannelBindRequest(p[:n]) {
			return n, addr, err
		}
		reply := l.guard.refusal(p[:n], addr)
		if reply == nil {
			return n, addr, nil
		}
		_, _ = l.UDPConn.WriteTo(reply, addr)
	}
}

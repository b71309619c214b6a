package turn

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// relayGenerator hands out UDP relay sockets inside the configured port range
// and wraps each in a guardedConn. TCP relays (RFC 6062) are refused: browsers
// do not use them and they would widen what a relay can reach.
type relayGenerator struct {
	inner       *turn.RelayAddressGeneratorPortRange
	policy      *peerPolicy
	drops       *drops
	counters    *counters
	maxBitrate  int           // bits per second and direction; 0: no cap
	maxLifetime time.Duration // 0: no cap
}

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if p := conf.RequestedPort; p != 0 && (p < int(g.inner.MinPort) || p > int(g.inner.MaxPort)) {
		return nil, nil, fmt.Errorf("%w: requested port %d", ErrBadPortRange, p)
	}
	conn, addr, err := g.inner.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	gc := &guardedConn{PacketConn: conn, policy: g.policy, drops: g.drops, counters: g.counters}
	gc.udp, _ = conn.(*net.UDPConn)
	if ap, err := netip.ParseAddrPort(conn.LocalAddr().String()); err == nil {
		gc.port = ap.Port()
		g.policy.relays.add(gc.port)
	}
	if g.maxBitrate > 0 {
		bytesPerSec := g.maxBitrate / 8
		burst := max(bytesPerSec/4, 64<<10) // a quarter second, at least one big burst of packets
		gc.out = newPolicer(bytesPerSec, burst)
		gc.in = newPolicer(bytesPerSec, burst)
	}
	if g.maxLifetime > 0 {
		gc.expiry = time.AfterFunc(g.maxLifetime, func() { _ = gc.closeConn() })
	}
	return gc, addr, nil
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPRelay
}

// guardedConn is a relay socket that
//   - may send to the server's own address only on the ports of live
//     relays (peerPolicy.permitDatagram): other allocations, never the TURN
//     listener, the web server or anything else bound on that address;
//   - polices its bitrate in each direction, dropping what exceeds it;
//   - closes itself at the maximum allocation lifetime.
//
// What it drops it counts by reason, and reports as sent: an error would
// make pion log every datagram.
type guardedConn struct {
	net.PacketConn
	// Static after construction.
	udp      *net.UDPConn // PacketConn, when it is one (always, but in tests)
	port     uint16       // the relay's port, live while the socket is open
	policy   *peerPolicy
	drops    *drops
	counters *counters
	out, in  *policer    // nil: no cap
	expiry   *time.Timer // nil: no cap

	closeOnce sync.Once
	closeErr  error // written once, inside closeOnce

	// Owned by the reading goroutine (pion/turn has one per allocation).
	peers addrCache
}

func (c *guardedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		if !c.policy.permitDatagram(netip.AddrPortFrom(ip, uint16(ua.Port))) {
			c.drops.add(dropPeerPort)
			return len(p), nil
		}
	}
	if c.out != nil && !c.out.allow(len(p)) {
		c.drops.add(dropBitrateOut) // over the cap: dropped, as a policer does
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.counters.toPeer.Add(uint64(n))
	return n, err
}

func (c *guardedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.readFrom(p)
		if err != nil || c.in == nil || c.in.allow(n) {
			c.counters.toCli.Add(uint64(n))
			return n, addr, err
		}
		c.drops.add(dropBitrateIn)
	}
}

// readFrom reads a datagram, without allocating its source address when
// the socket is a UDPConn.
func (c *guardedConn) readFrom(p []byte) (int, net.Addr, error) {
	if c.udp == nil {
		return c.PacketConn.ReadFrom(p)
	}
	return c.peers.read(c.udp, p)
}

func (c *guardedConn) Close() error {
	if c.expiry != nil {
		c.expiry.Stop()
	}
	return c.closeConn()
}

// closeConn closes the socket once. The expiry timer calls it rather than
// Close, which reads c.expiry: the timer may fire before AllocatePacketConn
// has stored it.
func (c *guardedConn) closeConn() error {
	c.closeOnce.Do(func() {
		if c.port != 0 {
			c.policy.relays.remove(c.port)
		}
		c.closeErr = c.PacketConn.Close()
	})
	return c.closeErr
}

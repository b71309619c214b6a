package turn

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/turn/v5"
)

// relayGenerator hands out UDP relay sockets inside the configured port range
// and wraps each in a guardedConn. TCP relays (RFC 6062) are refused: browsers
// do not use them and they would widen what a relay can reach.
type relayGenerator struct {
	inner *turn.RelayAddressGeneratorPortRange
	self  netip.Addr
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
	return &guardedConn{PacketConn: conn, self: g.self, minPort: g.inner.MinPort, maxPort: g.inner.MaxPort}, addr, nil
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPRelay
}

// guardedConn is a relay socket that may send to the server's own address
// only inside the relay port range: other allocations, never the TURN
// listener, the web server or anything else bound on that address.
type guardedConn struct {
	net.PacketConn
	self             netip.Addr
	minPort, maxPort uint16
}

func (c *guardedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		if ip.Unmap() == c.self && (ua.Port < int(c.minPort) || ua.Port > int(c.maxPort)) {
			return 0, fmt.Errorf("%w: %s", ErrForbiddenPeer, addr)
		}
	}
	return c.PacketConn.WriteTo(p, addr)
}

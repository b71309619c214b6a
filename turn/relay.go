package turn

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
)

// relayGenerator hands out UDP relay sockets inside the configured port range,
// each a guardedConn that the data plane reads. TCP relays (RFC 6062) are
// refused: browsers do not use them and they would widen what a relay can
// reach.
type relayGenerator struct {
	inner       *turn.RelayAddressGeneratorPortRange
	plane       *dataPlane
	channels    *channels
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
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("turn: relay socket is a %T", conn)
	}
	sock, err := detach(udp)
	if err != nil {
		return nil, nil, err
	}
	gc := &guardedConn{sock: sock, port: uint16(sock.local.Port), policy: g.policy, drops: g.drops,
		counters: g.counters, channels: g.channels, inbox: newInbox()}
	g.policy.relays.add(gc.port)
	g.channels.addRelay(gc)
	if g.maxBitrate > 0 {
		bytesPerSec := g.maxBitrate / 8
		burst := max(bytesPerSec/4, 64<<10) // a quarter second, at least one big burst of packets
		gc.out = newPolicer(bytesPerSec, burst)
		gc.in = newPolicer(bytesPerSec, burst)
	}
	if err := g.plane.watch(sock, gc); err != nil {
		_ = gc.closeConn()
		return nil, nil, err
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
// make pion log every datagram. The data plane reads it (received): a
// datagram from a peer bound to a channel goes straight to the client, any
// other to pion, which reads it with ReadFrom.
type guardedConn struct {
	// Static after construction.
	sock     *udpSocket
	port     uint16 // the relay's port, live while the socket is open
	policy   *peerPolicy
	drops    *drops
	counters *counters
	channels *channels
	inbox    *inbox
	out, in  *policer    // nil: no cap
	expiry   *time.Timer // nil: no cap

	// Written by channels, under its mutex; read without a lock.
	client atomic.Pointer[netip.AddrPort] // the allocation's client, when it came over UDP
	bound  atomic.Pointer[[]boundChannel] // its channel bindings, copy-on-write

	closeOnce sync.Once
	closeErr  error // written once, inside closeOnce

	// Owned by pion's reading goroutine (one per allocation).
	peers addrCache
}

// WriteTo is pion's way to a peer: a Send indication, or ChannelData from
// a TCP client.
func (c *guardedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	peer, ok := addrPort(addr)
	if !ok {
		return 0, fmt.Errorf("turn: relay to %v: not a UDP address", addr)
	}
	if err := c.toPeer(p, peer); err != nil {
		return 0, err
	}
	return len(p), nil
}

// toPeer sends a datagram to a peer, if the policy and the cap allow it.
func (c *guardedConn) toPeer(p []byte, peer netip.AddrPort) error {
	if !c.policy.permitDatagram(peer) {
		c.drops.add(dropPeerPort)
		return nil
	}
	if c.out != nil && !c.out.allow(len(p)) {
		c.drops.add(dropBitrateOut) // over the cap: dropped, as a policer does
		return nil
	}
	if err := c.sock.writeTo(p, peer); err != nil {
		return err
	}
	c.counters.toPeer.Add(uint64(len(p)))
	return nil
}

// pionRelayMTU is the size of pion's read buffer on a relay socket: it
// relays what fills it truncated, and so a datagram that large goes to
// pion.
const pionRelayMTU = 1600

// received is a datagram from a peer, in the data plane. On a bound
// channel of a UDP client it becomes the ChannelData frame to send, padded
// to 4 bytes as pion pads it.
func (c *guardedConn) received(buf []byte, n int, from netip.AddrPort) ([]byte, netip.AddrPort) {
	if c.in != nil && !c.in.allow(n) {
		c.drops.add(dropBitrateIn)
		return nil, netip.AddrPort{}
	}
	c.counters.toCli.Add(uint64(n))
	if client := c.client.Load(); client != nil && n < pionRelayMTU {
		if number, ok := c.channelOf(from); ok {
			binary.BigEndian.PutUint16(buf[0:2], number)
			binary.BigEndian.PutUint16(buf[2:4], uint16(n))
			end := headroom + n
			padded := (end + 3) &^ 3
			clear(buf[end:padded])
			return buf[:padded], *client
		}
	}
	if !c.inbox.put(buf[headroom:headroom+n], from) {
		c.drops.add(dropBacklog)
	}
	return nil, netip.AddrPort{}
}

// channelOf is the channel bound to peer, if any.
func (c *guardedConn) channelOf(peer netip.AddrPort) (uint16, bool) {
	if bound := c.bound.Load(); bound != nil {
		for _, b := range *bound {
			if b.peer == peer {
				return b.number, true
			}
		}
	}
	return 0, false
}

// channel is the peer bound to a channel number, if any.
func (c *guardedConn) channel(number uint16) (netip.AddrPort, bool) {
	if bound := c.bound.Load(); bound != nil {
		for _, b := range *bound {
			if b.number == number {
				return b.peer, true
			}
		}
	}
	return netip.AddrPort{}, false
}

// ReadFrom is pion's read: the datagrams the data plane left to it.
func (c *guardedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.inbox.take(p)
	if err != nil {
		return 0, nil, err
	}
	return n, c.peers.get(from), nil
}

func (c *guardedConn) LocalAddr() net.Addr { return c.sock.local }

// The data plane never blocks, so there is nothing to time out.
func (c *guardedConn) SetDeadline(time.Time) error      { return nil }
func (c *guardedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *guardedConn) SetWriteDeadline(time.Time) error { return nil }

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
		c.channels.removeRelay(c)
		c.policy.relays.remove(c.port)
		c.inbox.close()
		c.closeErr = c.sock.close()
	})
	return c.closeErr
}

package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// channels mirrors pion's channel bindings on allocations whose client
// reached the server over UDP, so that the data plane relays ChannelData
// both ways without pion: a client's ChannelData goes straight out of its
// relay, and a bound peer's datagram straight back to the client. pion
// keeps every decision: the mirror learns a binding from pion's
// OnChannelCreated, which fires only once pion has authenticated the
// request, checked the peer policy and the binding rules, and forgets it
// from OnChannelDeleted, which pion fires when the binding expires
// unrefreshed or its allocation goes. What the mirror does not know goes
// to pion as before: STUN requests, Send and Data indications, TCP clients.
//
// Readers (the data plane, on every datagram) take no lock: they load
// copy-on-write snapshots.
type channels struct {
	mu sync.Mutex // guards relays, and every write of clients and of a relay's bound and client
	// relays are the live relay sockets, by port.
	relays map[uint16]*guardedConn
	// clients are the relays of UDP clients, by the client's address.
	clients atomic.Pointer[map[netip.AddrPort]*guardedConn]
}

func newChannels() *channels {
	c := &channels{relays: map[uint16]*guardedConn{}}
	c.clients.Store(&map[netip.AddrPort]*guardedConn{})
	return c
}

// pionInboundMTU is the size of pion's read buffer on the TURN port: it
// drops a datagram that fills it as possibly truncated, and so does the
// mirror, by leaving it to pion.
const pionInboundMTU = 1600

// boundChannel is one channel binding of an allocation.
type boundChannel struct {
	number uint16
	peer   netip.AddrPort // unmapped
}

// addRelay registers a relay socket as it is allocated.
func (c *channels) addRelay(r *guardedConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.relays[r.port] = r
}

// removeRelay forgets a relay as it closes, with its client and bindings.
func (c *channels) removeRelay(r *guardedConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.relays[r.port] == r {
		delete(c.relays, r.port)
	}
	client := r.client.Load()
	if client == nil {
		return
	}
	old := *c.clients.Load()
	if old[*client] != r {
		return
	}
	m := make(map[netip.AddrPort]*guardedConn, len(old))
	for k, v := range old {
		if k != *client {
			m[k] = v
		}
	}
	c.clients.Store(&m)
}

// allocated is pion's OnAllocationCreated: a UDP client's relay learns
// where its client is.
func (c *channels) allocated(client, relay net.Addr) {
	src, ok := addrPort(client)
	if !ok {
		return // TCP or TLS: pion relays those
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.relayAt(relay)
	if r == nil {
		return
	}
	r.client.Store(&src)
	old := *c.clients.Load()
	m := make(map[netip.AddrPort]*guardedConn, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[src] = r
	c.clients.Store(&m)
}

// bound is pion's OnChannelCreated. A refresh of a binding fires nothing:
// the mirror holds a binding for as long as pion does.
func (c *channels) bound(client, relay, peer net.Addr, number uint16) {
	p, ok := addrPort(peer)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.relayOf(client, relay)
	if r == nil {
		return
	}
	next := append(r.without(number), boundChannel{number: number, peer: p})
	r.bound.Store(&next)
}

// unbound is pion's OnChannelDeleted.
func (c *channels) unbound(client, relay net.Addr, number uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.relayOf(client, relay)
	if r == nil {
		return
	}
	next := r.without(number)
	r.bound.Store(&next)
}

// relayAt is the live relay at a relay address pion gives. Called with mu held.
func (c *channels) relayAt(relay net.Addr) *guardedConn {
	ap, ok := addrPort(relay)
	if !ok {
		return nil
	}
	return c.relays[ap.Port()]
}

// relayOf is the live relay at a relay address pion gives, if it is that
// UDP client's. A relay closed at its maximum lifetime frees its port
// before pion deletes the allocation, and a new allocation may take the
// port meanwhile: the old one's events must not touch it. Called with mu
// held.
func (c *channels) relayOf(client, relay net.Addr) *guardedConn {
	src, ok := addrPort(client)
	r := c.relayAt(relay)
	if !ok || r == nil {
		return nil
	}
	if owner := r.client.Load(); owner == nil || *owner != src {
		return nil
	}
	return r
}

// fromClient relays a datagram a UDP client sent to the TURN port when it
// is ChannelData on a channel the mirror knows, and reports whether it
// did. As pion, it takes the data the length field gives, and leaves
// malformed frames (a number out of range, a length past the datagram) to
// pion, which refuses them.
func (c *channels) fromClient(b []byte, src netip.AddrPort) bool {
	if len(b) < 4 || len(b) >= pionInboundMTU || b[0]&0xC0 != 0x40 {
		return false
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length > len(b)-4 {
		return false
	}
	r := (*c.clients.Load())[src]
	if r == nil {
		return false
	}
	peer, ok := r.channel(binary.BigEndian.Uint16(b[0:2]))
	if ok {
		_ = r.toPeer(b[4:4+length], peer) // a failed send is a lost datagram, as in pion
	}
	return ok
}

// without is a copy of r's bindings but number's. Called with mu held.
func (r *guardedConn) without(number uint16) []boundChannel {
	var next []boundChannel
	if old := r.bound.Load(); old != nil {
		for _, b := range *old {
			if b.number != number {
				next = append(next, b)
			}
		}
	}
	return next
}

// addrPort converts a UDP address pion gives to its unmapped AddrPort.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(ua.Port)), true
}

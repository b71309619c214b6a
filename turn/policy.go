package turn

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// forbiddenPeers are networks a TURN relay must not reach by default: without
// this list an open TURN port is a free proxy into the host's own network and
// its cloud metadata service (169.254.169.254).
var forbiddenPeers = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network", including 0.0.0.0
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT shared space
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, including broadcast
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: embeds IPv4 addresses
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds IPv4 addresses
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// peerPolicy decides which peer addresses an allocation may send to.
// Static after construction, but for relays, which is safe for concurrent
// use.
type peerPolicy struct {
	// self is the server's own relay address. Two allocations of this server
	// must reach each other (both people forced to relay), so it is allowed,
	// but only on the ports of live relays (permitPeer).
	self netip.Addr
	// allow are the networks the operator opened explicitly; they win over
	// every built-in rule.
	allow []netip.Prefix
	// relays are this server's live relay ports.
	relays *relayPorts
	// selfAllowed is whether allow contains self.
	selfAllowed bool
	// refused counts the permissions and channel bindings refused.
	refused atomic.Uint64
}

func newPeerPolicy(self netip.Addr, allow []netip.Prefix) *peerPolicy {
	p := &peerPolicy{self: self.Unmap(), allow: allow, relays: &relayPorts{}}
	p.selfAllowed = p.allowed(p.self)
	return p
}

// permit reports whether a permission or channel to peerIP may be created:
// whether some port of that address may be reached. It is pion's
// PermissionHandler.
// permit decides a permission or a channel binding, and counts refusals.
func (p *peerPolicy) permit(peerIP net.IP) bool {
	ip, ok := netip.AddrFromSlice(peerIP)
	if ok && p.permitAddr(ip) {
		return true
	}
	p.refused.Add(1)
	return false
}

func (p *peerPolicy) permitAddr(ip netip.Addr) bool {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if ip.Zone() != "" {
		return false
	}
	if ip == p.self || p.allowed(ip) {
		return true
	}
	for _, forbidden := range forbiddenPeers {
		if forbidden.Contains(ip) {
			return false
		}
	}
	return true
}

// permitPeer reports whether a relay may send to peer, port included: on
// the server's own address only a live relay of this server may be reached
// (not the TURN port, the web server, or another process's socket), unless
// the operator allowed that address explicitly.
func (p *peerPolicy) permitPeer(peer netip.AddrPort) bool {
	ip := peer.Addr().Unmap()
	if ip == p.self && !p.selfAllowed {
		return p.relays.live(peer.Port())
	}
	return p.permitAddr(ip)
}

// permitDatagram is permitPeer for a datagram to a peer whose address pion
// has already permitted (permit): only the server's own address still needs
// its port looked at. Every relayed datagram passes it.
func (p *peerPolicy) permitDatagram(peer netip.AddrPort) bool {
	return peer.Addr().Unmap() != p.self || p.selfAllowed || p.relays.live(peer.Port())
}

func (p *peerPolicy) allowed(ip netip.Addr) bool {
	for _, allowed := range p.allow {
		if allowed.Contains(ip) {
			return true
		}
	}
	return false
}

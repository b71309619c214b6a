package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// Kind is what stands between a site's host and the internet.
type Kind int

// The site kinds, in RFC 4787 terms. See the package documentation.
const (
	Open    Kind = iota // public address, no NAT, no firewall
	EasyNAT             // masquerade: endpoint-independent mapping, address-and-port-dependent filtering
	HardNAT             // masquerade fully-random: address-and-port-dependent mapping
	NoUDP               // EasyNAT, and all forwarded UDP dropped
	Only443             // EasyNAT, and only TCP to port 443 forwarded
)

// Kinds lists every kind, for tables that try them all.
func Kinds() []Kind { return []Kind{Open, EasyNAT, HardNAT, NoUDP, Only443} }

func (k Kind) String() string {
	switch k {
	case Open:
		return "open"
	case EasyNAT:
		return "easynat"
	case HardNAT:
		return "hardnat"
	case NoUDP:
		return "noudp"
	case Only443:
		return "only443"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// lanNet is cut into /28s, one per site: site n gets 198.51.100.16n/28,
// the router .16n+1 and the host .16n+2.
var lanNet = netip.MustParsePrefix("198.51.100.0/24")

const lanBits = 28

// Site is one client network: a host namespace and, unless the site is
// Open, the NAT router in front of it.
type Site struct {
	// Static after AddSite.
	lab    *Lab
	kind   Kind
	host   string
	router string // "" for Open
	dev    string // the interface holding the public address: wan, or eth0 for Open

	mu       sync.Mutex // guards the addresses, serializes ChangePublicIP
	lanIP    netip.Addr // the host's own address
	publicIP netip.Addr
}

// AddSite builds a site of kind k: its host namespace, and its router for
// every kind but Open.
func (l *Lab) AddSite(ctx context.Context, k Kind) (*Site, error) {
	if k < Open || k > Only443 {
		return nil, fmt.Errorf("netlab: no site kind %v", k)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netlab: AddSite on a closed lab")
	}
	l.siteCount++
	n := l.siteCount
	l.mu.Unlock()
	if n >= 1<<(lanBits-lanNet.Bits()) {
		return nil, errors.New("netlab: out of LAN subnets")
	}
	public, err := l.allocPublic()
	if err != nil {
		return nil, err
	}
	s := &Site{
		lab:      l,
		kind:     k,
		host:     fmt.Sprintf("%s-h%d-%s", l.id, n, k),
		publicIP: public,
	}
	if err := s.build(ctx, n); err != nil {
		return nil, fmt.Errorf("netlab: add %v site: %w", k, err)
	}
	return s, nil
}

func (s *Site) build(ctx context.Context, n int) error {
	l := s.lab
	port := fmt.Sprintf("s%d", n)
	if s.kind == Open {
		s.dev, s.lanIP = "eth0", s.publicIP
		if err := l.addNamespace(ctx, s.host, false); err != nil {
			return err
		}
		return l.plugIn(ctx, s.host, port, s.dev, s.publicIP)
	}

	s.router = fmt.Sprintf("%s-r%d-%s", l.id, n, s.kind)
	s.dev = "wan"
	base := lanNet.Addr().As4()
	base[3] = byte(n << (32 - lanBits))
	routerLAN := netip.AddrFrom4(base).Next()
	s.lanIP = routerLAN.Next()

	if err := l.addNamespace(ctx, s.router, true); err != nil {
		return err
	}
	if err := l.plugIn(ctx, s.router, port, s.dev, s.publicIP); err != nil {
		return err
	}
	if err := l.addNamespace(ctx, s.host, false); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", s.router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", s.host},
		{"-n", s.router, "addr", "add", netip.PrefixFrom(routerLAN, lanBits).String(), "dev", "lan"},
		{"-n", s.router, "link", "set", "lan", "up"},
		{"-n", s.host, "addr", "add", netip.PrefixFrom(s.lanIP, lanBits).String(), "dev", "eth0"},
		{"-n", s.host, "link", "set", "eth0", "up"},
		{"-n", s.host, "route", "add", "default", "via", routerLAN.String(), "dev", "eth0"},
	}
	for _, args := range steps {
		if err := l.ip(ctx, args...); err != nil {
			return err
		}
	}
	if _, err := l.outputStdin(ctx, []byte(ruleset(s.kind)), "ip", "netns", "exec", s.router, "nft", "-f", "-"); err != nil {
		return err
	}
	return nil
}

// ruleset is the router's nftables configuration for kind k: source NAT
// on the way out of wan, a forward chain that lets the LAN out and only
// replies in, minus what the kind's firewall drops, and an input chain
// that drops what the internet sends the router itself unasked. Dropped
// means dropped: no ICMP error tells the sender.
//
// The input chain matters for hole punching. A peer's first packet often
// arrives before the host behind the NAT has written to that peer; it is
// addressed to the router's own WAN address. Accepted there, it would leave
// a conntrack entry whose reply tuple clashes with the mapping the host's
// own packet to that peer needs next, and masquerade would then pick
// another port: an endpoint-dependent mapping, just for the peers that
// wrote first. A packet dropped in the filter hook is never confirmed in
// conntrack, so the port stays, as on home routers that drop unsolicited
// input.
func ruleset(k Kind) string {
	masquerade := "masquerade"
	if k == HardNAT {
		masquerade = "masquerade fully-random"
	}
	var first, out string
	switch k {
	case NoUDP:
		first = "meta l4proto udp drop"
	case Only443:
		out = "tcp dport 443"
	}
	return fmt.Sprintf(`table ip netlab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" %s
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		%s
		ct state established,related accept
		iifname "lan" oifname "wan" %s accept
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state != established,related drop
	}
}
`, masquerade, first, out)
}

// Kind returns the site's kind.
func (s *Site) Kind() Kind { return s.kind }

// Host returns the namespace of the site's client host, where its peers
// and browsers run.
func (s *Site) Host() string { return s.host }

// Router returns the namespace of the site's NAT router, or "" for an Open
// site.
func (s *Site) Router() string { return s.router }

// LANIP returns the host's own address: on its LAN behind a NAT, or its
// public address on an Open site.
func (s *Site) LANIP() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lanIP
}

// PublicIP returns the address the internet sees the site's host come
// from: the router's WAN address, or the host's own on an Open site.
func (s *Site) PublicIP() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publicIP
}

// ChangePublicIP moves the site to a new public address, as when a phone
// goes from Wi-Fi to mobile data, and returns it. The router's WAN address
// (the host's own on an Open site) is replaced by a fresh one and the
// router forgets the NAT mappings of the old one: the host's flows carry
// on from the new address (an EasyNAT keeps their ports, a HardNAT draws
// new ones), replies sent to the old address are lost, and TCP
// connections through the NAT are dead.
func (s *Site) ChangePublicIP(ctx context.Context) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lab
	ns := s.router
	if ns == "" {
		ns = s.host
	}
	next, err := l.allocPublic()
	if err != nil {
		return netip.Addr{}, err
	}
	old := s.publicIP
	steps := [][]string{
		{"-n", ns, "addr", "del", netip.PrefixFrom(old, internetNet.Bits()).String(), "dev", s.dev},
		{"-n", ns, "addr", "add", netip.PrefixFrom(next, internetNet.Bits()).String(), "dev", s.dev},
		{"-n", ns, "route", "replace", "default", "via", gatewayIP.String(), "dev", s.dev},
	}
	for _, args := range steps {
		if err := l.ip(ctx, args...); err != nil {
			return netip.Addr{}, fmt.Errorf("netlab: change public address of %s: %w", ns, err)
		}
	}
	s.publicIP = next
	if s.router != "" {
		if err := l.forgetMappings(ctx, s.router, old); err != nil {
			return netip.Addr{}, err
		}
	}
	if s.kind == Open {
		s.lanIP = next
	}
	return next, nil
}

// forgetMappings deletes the router's conntrack entries that NAT to the
// address old. Removing the address already makes the kernel flush them
// (masquerade watches address events), but from a work queue: a packet
// that comes first would still leave with the old address. conntrack -D
// fails when it finds nothing to delete, so a failure is checked by
// listing.
func (l *Lab) forgetMappings(ctx context.Context, router string, old netip.Addr) error {
	_, err := l.output(ctx, "ip", "netns", "exec", router, "conntrack", "-D", "--reply-dst", old.String())
	if err == nil {
		return nil
	}
	out, lerr := l.output(ctx, "ip", "netns", "exec", router, "conntrack", "-L", "--reply-dst", old.String())
	if lerr != nil || strings.TrimSpace(string(out)) != "" {
		return fmt.Errorf("netlab: forget the NAT mappings of %s in %s: %w", old, router, errors.Join(err, lerr))
	}
	return nil
}

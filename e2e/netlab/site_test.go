package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// services is what the tests run in the server namespace.
type services struct {
	stun1, stun2 netip.AddrPort // STUN Binding responders
	probe        net.PacketConn // a third UDP port, for unsolicited packets
	closedUDP    netip.AddrPort // a UDP port nothing listens on
	tcp443       netip.AddrPort // TCP listeners that accept and hang up
	tcp3478      netip.AddrPort
}

// startServices starts the services in the lab's server namespace and
// stops them, waiting for their goroutines, when t ends.
func startServices(t *testing.T, l *Lab) *services {
	t.Helper()
	ns, ip := l.Server()
	at := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(ip, port) }
	s := &services{stun1: at(3478), stun2: at(3479), closedUDP: at(9), tcp443: at(443), tcp3478: at(3478)}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for _, addr := range []netip.AddrPort{s.stun1, s.stun2} {
		pc, err := l.ListenPacket(ns, "udp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		wg.Go(func() {
			if err := ServeSTUN(pc); err != nil {
				t.Error(err)
			}
		})
	}
	probe, err := l.ListenPacket(ns, "udp4", at(3480).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { probe.Close() })
	s.probe = probe
	for _, addr := range []netip.AddrPort{s.tcp443, s.tcp3478} {
		ln, err := l.Listen(ns, "tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
	}
	return s
}

// TestSiteKinds checks that each kind of site maps, filters and firewalls
// as its documentation says, as seen from its host.
func TestSiteKinds(t *testing.T) {
	l := Start(t, Options{})
	srv := startServices(t, l)
	tests := []struct {
		kind        Kind
		udp         bool // STUN answers
		sameMapping bool // both STUN ports see one address: endpoint-independent mapping
		keepsPort   bool // that address has the socket's own port
		unsolicited bool // a port the host never wrote to reaches it: no filtering
		icmp        bool // a UDP packet to a closed port is refused (ICMP comes back), not lost
		tcp443      bool
		tcp3478     bool
	}{
		{kind: Open, udp: true, sameMapping: true, keepsPort: true, unsolicited: true, icmp: true, tcp443: true, tcp3478: true},
		{kind: EasyNAT, udp: true, sameMapping: true, keepsPort: true, icmp: true, tcp443: true, tcp3478: true},
		{kind: HardNAT, udp: true, icmp: true, tcp443: true, tcp3478: true},
		{kind: NoUDP, tcp443: true, tcp3478: true},
		{kind: Only443, tcp443: true},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			site, err := l.AddSite(t.Context(), tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			if nat := tt.kind != Open; nat != (site.LANIP() != site.PublicIP()) || nat != (site.Router() != "") {
				t.Errorf("LAN %v, public %v, router %q for a %v site", site.LANIP(), site.PublicIP(), site.Router(), tt.kind)
			}
			if tt.kind != Open && !netip.MustParsePrefix("198.51.100.0/24").Contains(site.LANIP()) {
				t.Errorf("LAN address %v outside 198.51.100.0/24", site.LANIP())
			}

			pc, err := l.ListenPacket(site.Host(), "udp4", "0.0.0.0:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if tt.udp {
				checkMapping(t, srv, site, pc, tt.sameMapping, tt.keepsPort, tt.unsolicited)
			} else {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				if got, err := site.MappedAddrs(ctx, srv.stun1); !errors.Is(err, ErrNoResponse) {
					t.Errorf("STUN over UDP: %v, %v; want no response", got, err)
				}
			}
			if refused := udpRefused(t, l, site); refused != tt.icmp {
				t.Errorf("UDP to a closed port refused: %v, want %v", refused, tt.icmp)
			}
			for _, c := range []struct {
				addr netip.AddrPort
				want bool
			}{{srv.tcp443, tt.tcp443}, {srv.tcp3478, tt.tcp3478}} {
				if err := tcpConnect(t, l, site, c.addr); (err == nil) != c.want {
					t.Errorf("TCP to %v: %v, want connected: %v", c.addr, err, c.want)
				} else if err != nil && !isTimeout(err) {
					t.Errorf("TCP to %v: %v, want a silent drop (a timeout)", c.addr, err)
				}
			}
		})
	}
}

// checkMapping asks both STUN ports from pc and sends pc a packet from a
// port it never wrote to.
func checkMapping(t *testing.T, srv *services, site *Site, pc net.PacketConn, same, keepsPort, unsolicited bool) {
	t.Helper()
	m1, err := MappedAddr(t.Context(), pc, srv.stun1)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := MappedAddr(t.Context(), pc, srv.stun2)
	if err != nil {
		t.Fatal(err)
	}
	local := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	t.Logf("socket port %d, mapped %v and %v", local, m1, m2)
	if m1.Addr() != site.PublicIP() || m2.Addr() != site.PublicIP() {
		t.Errorf("mapped %v and %v, want the public address %v", m1, m2, site.PublicIP())
	}
	if (m1 == m2) != same {
		t.Errorf("mapped %v and %v, want the same: %v", m1, m2, same)
	}
	if (m1.Port() == local) != keepsPort {
		t.Errorf("mapped port %d for socket port %d, want kept: %v", m1.Port(), local, keepsPort)
	}

	if _, err := srv.probe.WriteTo([]byte("unsolicited"), net.UDPAddrFromAddrPort(m1)); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	defer pc.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, _, err := pc.ReadFrom(buf)
	if got := err == nil && string(buf[:n]) == "unsolicited"; got != unsolicited {
		t.Errorf("a packet from a port never written to came in: %v (%v), want %v", got, err, unsolicited)
	}

	// Hole punching: now the host writes to the port whose packet came
	// first. An endpoint-independent mapping must still be m1, and a
	// symmetric one a port of its own.
	if _, err := pc.WriteTo([]byte("punch"), net.UDPAddrFromAddrPort(srv.probeAddr())); err != nil {
		t.Fatal(err)
	}
	_ = srv.probe.SetReadDeadline(time.Now().Add(time.Second))
	defer srv.probe.SetReadDeadline(time.Time{})
	for {
		n, from, err := srv.probe.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the host's packet to the port that wrote first: %v", err)
		}
		if string(buf[:n]) != "punch" {
			continue
		}
		if got := from.(*net.UDPAddr).AddrPort(); (got == m1) != same {
			t.Errorf("after an unsolicited packet, the host's packet to its sender comes from %v; want the mapping %v: %v", got, m1, same)
		}
		return
	}
}

// probeAddr is the address of the services' probe port.
func (s *services) probeAddr() netip.AddrPort {
	return s.probe.LocalAddr().(*net.UDPAddr).AddrPort()
}

// udpRefused reports whether a UDP packet from the site's host to a closed
// port of the server brings back ICMP port unreachable.
func udpRefused(t *testing.T, l *Lab, site *Site) bool {
	t.Helper()
	_, ip := l.Server()
	c, err := l.DialContext(t.Context(), site.Host(), "udp4", netip.AddrPortFrom(ip, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 16)
	for range 3 { // the refusal is reported by the read, or the next write
		if _, err := c.Write([]byte("ping")); errors.Is(err, syscall.ECONNREFUSED) {
			return true
		}
		if _, err := c.Read(buf); errors.Is(err, syscall.ECONNREFUSED) {
			return true
		} else if isTimeout(err) {
			return false
		}
	}
	return false
}

func tcpConnect(t *testing.T, l *Lab, site *Site, addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	c, err := l.DialContext(ctx, site.Host(), "tcp4", addr.String())
	if err == nil {
		c.Close()
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestChangePublicIP checks that after ChangePublicIP the same socket is
// seen from the new address, the way a host is after a network change.
func TestChangePublicIP(t *testing.T) {
	l := Start(t, Options{})
	srv := startServices(t, l)
	for _, kind := range []Kind{Open, EasyNAT, HardNAT} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			site, err := l.AddSite(t.Context(), kind)
			if err != nil {
				t.Fatal(err)
			}
			pc, err := l.ListenPacket(site.Host(), "udp4", "0.0.0.0:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			before, err := MappedAddr(t.Context(), pc, srv.stun1)
			if err != nil {
				t.Fatal(err)
			}
			old := site.PublicIP()
			next, err := site.ChangePublicIP(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if next == old || site.PublicIP() != next {
				t.Fatalf("ChangePublicIP: %v, PublicIP %v, was %v", next, site.PublicIP(), old)
			}
			if kind == Open && site.LANIP() != next {
				t.Errorf("Open site's LANIP %v, want its new public address %v", site.LANIP(), next)
			}
			after, err := MappedAddr(t.Context(), pc, srv.stun1)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mapped %v, then %v", before, after)
			if before.Addr() != old || after.Addr() != next {
				t.Errorf("mapped %v then %v, want %v then %v", before, after, old, next)
			}
			edge := site.Router()
			if kind == Open {
				edge = site.Host()
			}
			if out := run(t, "ip", "-n", edge, "route", "show", "default"); out == "" {
				t.Error("no default route after the change")
			}
		})
	}
}

package turn

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Run with: go test -run '^$' -bench . -benchmem ./turn/
// docs/performance.md records the figures.

// BenchmarkCredentialCheck is the auth handler on a valid TURN REST API
// username: parse, expiry, HMAC-SHA1 of the password, then pion's
// long-term key (MD5). It runs once per authenticated request (Allocate,
// Refresh, CreatePermission, ChannelBind), never per relayed packet.
func BenchmarkCredentialCheck(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	check := authHandler("bench-secret", "", time.Now(), time.Hour, log, &pionLoggerFactory{log: log})
	username, _, err := turn.GenerateLongTermTURNRESTCredentials("bench-secret", "3f2a9c1d0b7e4a11", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ra := &turn.RequestAttributes{Username: username, Realm: "tandem",
		SrcAddr: &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}, Method: stun.MethodAllocate}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := check(ra); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkCredentialRefusal is the same handler on a malformed username:
// refused before any HMAC, as a 401 flood needs.
func BenchmarkCredentialRefusal(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	check := authHandler("bench-secret", "", time.Now(), time.Hour, log, &pionLoggerFactory{log: log})
	ra := &turn.RequestAttributes{Username: "not-a-rest-username", Realm: "tandem"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := check(ra); ok {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkPeerPolicy is the permission check on a public peer address,
// which walks every forbidden network, and on a forbidden one. It runs once
// per CreatePermission and ChannelBind, not per packet.
func BenchmarkPeerPolicy(b *testing.B) {
	policy := newPeerPolicy(netip.MustParseAddr("203.0.113.10"), []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")})
	for _, tc := range []struct {
		name string
		ip   net.IP
		want bool
	}{
		{"public", net.ParseIP("198.51.100.7"), true},
		{"loopback", net.ParseIP("127.0.0.1"), false},
		{"public-ipv6", net.ParseIP("2a00:1450:4001:82b::200e"), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if policy.permit(tc.ip) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// BenchmarkGuardedWrite is the per-packet check every relayed datagram
// passes on its way to a peer: the peer policy, without and with the
// bitrate policer (a cap it never reaches, so every datagram passes), and
// to another relay on the server's own address (a live relay port).
func BenchmarkGuardedWrite(b *testing.B) {
	self := netip.MustParseAddr("203.0.113.10")
	for _, tc := range []struct {
		name string
		out  *policer
		to   *net.UDPAddr
	}{
		{"uncapped", nil, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}},
		{"capped", newPolicer(maxPolicedRate, maxPolicedRate), &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}},
		{"own-relay", nil, &net.UDPAddr{IP: self.AsSlice(), Port: 50000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			policy := newPeerPolicy(self, nil)
			policy.relays.add(50000)
			c := &guardedConn{PacketConn: discardConn{}, policy: policy, drops: &drops{log: slog.New(slog.DiscardHandler)}, counters: &counters{}, out: tc.out}
			to := tc.to
			p := make([]byte, 1200)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.WriteTo(p, to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardConn is a PacketConn whose writes go nowhere.
type discardConn struct{ net.PacketConn }

func (discardConn) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }

// BenchmarkRead is the read side of every relayed datagram, through a real
// loopback socket: a TURN listener reading a client's ChannelData and a
// relay reading a peer's datagram. Each iteration also sends the datagram,
// so ns/op is two system calls; allocs/op is what the read costs the heap.
func BenchmarkRead(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(*net.UDPConn) net.PacketConn
	}{
		{"plain", func(c *net.UDPConn) net.PacketConn { return c }},
		{"listener", func(c *net.UDPConn) net.PacketConn { return newListenerConn(c, nil, &bindingLog{}) }},
		{"relay", func(c *net.UDPConn) net.PacketConn { return &guardedConn{PacketConn: c, udp: c, counters: &counters{}} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer recv.Close()
			send, err := net.DialUDP("udp4", nil, recv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				b.Fatal(err)
			}
			defer send.Close()
			conn := tc.wrap(recv)
			p, buf := make([]byte, 1200), make([]byte, 1600)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := send.Write(p); err != nil {
					b.Fatal(err)
				}
				if _, _, err := conn.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

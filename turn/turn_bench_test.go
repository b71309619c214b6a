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

// BenchmarkGuardedWrite is the way every relayed datagram takes to a peer:
// the peer policy, without and with the bitrate policer (a cap it never
// reaches, so every datagram passes), and to another relay on the server's
// own address (a live relay port), then the system call that sends it to
// a loopback socket that never reads (the kernel drops what overflows).
func BenchmarkGuardedWrite(b *testing.B) {
	self := netip.MustParseAddr("127.0.0.1")
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	sinkPort := uint16(sink.LocalAddr().(*net.UDPAddr).Port)
	for _, tc := range []struct {
		name string
		out  *policer
		to   netip.AddrPort
	}{
		{"uncapped", nil, netip.AddrPortFrom(self, sinkPort)},
		{"capped", newPolicer(maxPolicedRate, maxPolicedRate), netip.AddrPortFrom(self, sinkPort)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			policy := newPeerPolicy(self, nil)
			policy.relays.add(sinkPort)
			u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			sock, err := detach(u)
			if err != nil {
				b.Fatal(err)
			}
			defer sock.close()
			c := &guardedConn{sock: sock, policy: policy, drops: &drops{log: slog.New(slog.DiscardHandler)}, counters: &counters{}, out: tc.out}
			p := make([]byte, 1200)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.toPeer(p, tc.to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRelayPath is one round trip through a running server's data
// plane: a client's ChannelData to its bound peer and the peer's answer
// back as ChannelData, four datagrams on loopback in all. It runs the
// whole process's path (the poll loop, the channel mirror, the policers
// and counters), so allocs/op is what relaying costs the heap. The cap is
// one the loop never reaches: the default 20 Mbit/s would drop datagrams,
// and a lost one ends the run.
func BenchmarkRelayPath(b *testing.B) {
	s := startTURN(b, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, MaxBitrate: 10_000_000_000})
	c := newChannelClient(b, s, "bench")
	c.bind(0x4001)
	client := c.conn.(*net.UDPConn)
	server := c.server.(*net.UDPAddr).AddrPort()
	out := channelData(0x4001, string(make([]byte, 1200)))
	answer := make([]byte, 1200)
	buf := make([]byte, 2048)
	// One deadline for the whole run: a lost datagram fails it, and one
	// per read would add a timer to every iteration.
	deadline := time.Now().Add(5 * time.Minute)
	_ = client.SetReadDeadline(deadline)
	_ = c.peer.SetReadDeadline(deadline)
	b.SetBytes(2 * 1200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.WriteToUDPAddrPort(out, server); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.peer.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := c.peer.WriteToUDPAddrPort(answer, c.relay); err != nil {
			b.Fatal(err)
		}
		if n, _, err := client.ReadFromUDPAddrPort(buf); err != nil || n != 4+1200 {
			b.Fatalf("client read %d bytes: %v", n, err)
		}
	}
}

package turn

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
)

func TestAddrCache(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // UDPAddr.String of the address handed out
	}{
		{"198.51.100.7:40000", "198.51.100.7:40000"},
		{"[::ffff:198.51.100.7]:40000", "198.51.100.7:40000"},
		{"[2001:db8::1]:3478", "[2001:db8::1]:3478"},
		{"[fe80::1%eth0]:3478", "[fe80::1%eth0]:3478"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var c addrCache
			ap := netip.MustParseAddrPort(tc.in)
			a := c.get(ap)
			if a.String() != tc.want || len(a.IP) != net.IPv6len {
				t.Errorf("get(%s) = %s with a %d-byte IP, want %s with 16", tc.in, a, len(a.IP), tc.want)
			}
			if got := a.AddrPort(); got.Addr().Unmap() != ap.Addr().Unmap() || got.Port() != ap.Port() {
				t.Errorf("get(%s) round-trips to %s", tc.in, got)
			}
			c.get(netip.MustParseAddrPort("203.0.113.1:1")) // not the last one any more
			if c.get(ap) != a {
				t.Errorf("get(%s) twice: two addresses", tc.in)
			}
		})
	}
}

// TestAddrCacheBounded floods a cache with sources: it starts over instead
// of growing, and still answers correctly.
func TestAddrCacheBounded(t *testing.T) {
	var c addrCache
	for i := range 3 * addrCacheMax {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 5000)
		if got := c.get(ap).AddrPort(); got.Addr().Unmap() != ap.Addr() || got.Port() != ap.Port() {
			t.Fatalf("get(%s) = %s", ap, got)
		}
		if len(c.m) > addrCacheMax {
			t.Fatalf("%d addresses cached, want at most %d", len(c.m), addrCacheMax)
		}
	}
}

// TestListenerConnReads reads from real sockets on loopback through the
// data plane into a listenerConn and a guardedConn, as pion reads them:
// each datagram arrives whole, with its source, and a source seen before
// is the same *net.UDPAddr.
func TestListenerConnReads(t *testing.T) {
	open := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dropped := &drops{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name string
		wrap func(*udpSocket) interface {
			net.PacketConn
			datagramHandler
		}
	}{
		{"listener", func(s *udpSocket) interface {
			net.PacketConn
			datagramHandler
		} {
			return newListenerConn(s, nil, &bindingLog{}, newChannels(), dropped)
		}},
		{"relay", func(s *udpSocket) interface {
			net.PacketConn
			datagramHandler
		} {
			return &guardedConn{sock: s, counters: &counters{}, drops: dropped, inbox: newInbox(),
				channels: newChannels(), policy: newPeerPolicy(netip.MustParseAddr("127.0.0.1"), nil)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := open()
			port := u.LocalAddr().(*net.UDPAddr).Port
			sock, err := detach(u)
			if err != nil {
				t.Fatal(err)
			}
			conn := tc.wrap(sock)
			startPlane(t, sock, conn)
			if la := conn.LocalAddr().(*net.UDPAddr); la.Port != port || len(la.IP) != net.IPv6len {
				t.Errorf("LocalAddr %s, socket on port %d", la, port)
			}
			to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
			senders := []*net.UDPConn{open(), open()}
			var seen [2]net.Addr
			buf := make([]byte, 1600)
			for i, msg := range []string{"a", "bb", "ccc", "dddd"} {
				from := senders[i%2]
				if _, err := from.WriteTo([]byte(msg), to); err != nil {
					t.Fatal(err)
				}
				n, addr, err := conn.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				if string(buf[:n]) != msg || addr.String() != from.LocalAddr().String() {
					t.Errorf("read %q from %s, want %q from %s", buf[:n], addr, msg, from.LocalAddr())
				}
				if prev := seen[i%2]; prev != nil && prev != addr {
					t.Errorf("second datagram from %s: a new address", addr)
				}
				seen[i%2] = addr
			}
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := conn.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// startPlane starts a data plane with sock as its listener socket, reading
// into h; the test's end stops it.
func startPlane(t testing.TB, sock *udpSocket, h datagramHandler) *dataPlane {
	t.Helper()
	plane, err := newDataPlane([]*udpSocket{sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := plane.watch(sock, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sock.close()
		plane.close()
	})
	return plane
}

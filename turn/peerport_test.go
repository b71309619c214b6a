package turn

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"tandem/bench/selfsigned"
)

// newRawClientOver is a rawClient on a connection of the caller's: a
// STUNConn over TCP or TLS, say.
func newRawClientOver(t testing.TB, conn net.PacketConn, server net.Addr, user, pass string) *rawClient {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, server: server, user: user, pass: pass}
}

// rawClientOn connects a rawClient to s over "udp" or "tcp".
func rawClientOn(t *testing.T, s *Server, network, user, pass string) *rawClient {
	t.Helper()
	if network == "udp" {
		return newRawClient(t, s, user, pass)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newRawClientOver(t, turn.NewSTUNConn(c), c.RemoteAddr(), user, pass)
}

// relayPort is the port of a relay that a pion client allocated.
func relayPort(t *testing.T, relay net.PacketConn) int {
	t.Helper()
	return relay.LocalAddr().(*net.UDPAddr).Port
}

// TestChannelBindRefusedByPort: on the server's own relay address only the
// ports of live relays may be reached. A ChannelBind to any other port is
// answered 403, signed with the client's key, over UDP and TCP alike,
// rather than granted and then every datagram silently dropped.
func TestChannelBindRefusedByPort(t *testing.T) {
	s := startTURN(t, Config{}) // relays on 127.0.0.2:61000-61999
	live := relayPort(t, allocateRelay(t, s, "bob", "udp"))
	notRelay := 61000
	if notRelay == live {
		notRelay++
	}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			user, pass := credentials(t, s, "alice-"+network)
			c := rawClientOn(t, s, network, user, pass)
			c.login()
			if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17))); code != 0 {
				t.Fatalf("allocate: %d", code)
			}
			if code := errorCode(c.do(stun.MethodCreatePermission, peer("127.0.0.2", 0))); code != 0 {
				t.Fatalf("permission for the server's own relay address: %d, want granted (some ports are live relays)", code)
			}
			channel := uint16(0x4001)
			for _, tt := range []struct {
				name string
				port int
				want int
			}{
				{"a live relay", live, 0},
				{"the TURN port", s.Port(), 403},
				{"a relay-range port with no relay", notRelay, 403},
				{"the web port", 8080, 403},
			} {
				t.Run(tt.name, func(t *testing.T) {
					ch := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(channel >> 8), byte(channel), 0, 0}}
					channel++
					res := c.do(stun.MethodChannelBind, ch, peer("127.0.0.2", tt.port))
					if code := errorCode(res); code != tt.want {
						t.Fatalf("ChannelBind to 127.0.0.2:%d answered %d, want %d", tt.port, code, tt.want)
					}
					key := stun.NewLongTermIntegrity(c.user, c.realm.String(), c.pass)
					if err := key.Check(res); err != nil {
						t.Errorf("the answer's MESSAGE-INTEGRITY does not check: %v", err)
					}
				})
			}
		})
	}
}

// TestAllowPeersWinsOverOwnAddressRule: an operator who allowed the
// relay's own network explicitly (an echo peer on the same host, as
// coturn's test tools use) reaches any port of it.
func TestAllowPeersWinsOverOwnAddressRule(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	service, err := net.ListenPacket("udp4", "127.0.0.2:0") // not a relay
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	relay := allocateRelay(t, s, "echo", "udp")
	if _, err := relay.WriteTo([]byte("allowed"), service.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = service.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	n, _, err := service.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "allowed" {
		t.Fatalf("explicitly allowed peer on the relay's own address got %q, %v", buf[:n], err)
	}
}

// TestOwnAddressOnlyLiveRelays: a socket of another process inside the
// relay port range, on the relay's own address, is not a relay: what a
// relay sends it is dropped, and counted.
func TestOwnAddressOnlyLiveRelays(t *testing.T) {
	s := startTURN(t, Config{})
	var stranger net.PacketConn
	for port := 61999; port > 61900 && stranger == nil; port-- {
		stranger, _ = net.ListenPacket("udp4", fmt.Sprintf("127.0.0.2:%d", port))
	}
	if stranger == nil {
		t.Fatal("no free port in the relay range")
	}
	defer stranger.Close()
	relay := allocateRelay(t, s, "mallory", "udp")
	for range 3 {
		if _, err := relay.WriteTo([]byte("attack"), stranger.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	_ = stranger.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, from, err := stranger.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("a socket in the relay range that is no relay received %d bytes from %v", n, from)
	}
	if got := s.Dropped()["peer-port"]; got == 0 {
		t.Errorf("Dropped()[peer-port] = 0, want the refused datagrams counted (%v)", s.Dropped())
	}
}

// TestCredentialExpiryCap: a credential may not outlive the configured
// TTL (plus a minute of clock skew): a hand-minted ten-year credential is
// refused although its HMAC is right.
func TestCredentialExpiryCap(t *testing.T) {
	s := startTURN(t, Config{CredentialTTL: time.Hour})
	now := time.Now()
	for _, tt := range []struct {
		name   string
		expiry time.Time
		ok     bool
	}{
		{"within the TTL", now.Add(30 * time.Minute), true},
		{"the TTL and some skew", now.Add(time.Hour + 30*time.Second), true},
		{"beyond the TTL", now.Add(time.Hour + 5*time.Minute), false},
		{"ten years", now.AddDate(10, 0, 0), false},
		{"expired", now.Add(-time.Minute), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := mintFor(testSecret, strconv.FormatInt(tt.expiry.Unix(), 10)+":someone")
			_, err := newClient(t, s, "udp", user, pass).Allocate()
			if (err == nil) != tt.ok {
				t.Fatalf("allocate with a credential expiring in %v: err %v, want ok=%t", time.Until(tt.expiry).Round(time.Second), err, tt.ok)
			}
		})
	}
}

// TestTURNOverTLS: the TLS listener of TURN's own takes allocations, and
// ICEServers names it with the page's host.
func TestTURNOverTLS(t *testing.T) {
	cert, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := startTURN(t, Config{TLSAddr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.TLSPort()))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := credentials(t, s, "tls")
	client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr,
		Conn: turn.NewSTUNConn(conn), Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	relay.Close()

	urls := strings.Join(s.ICEServers("p", Page{Host: "call.example.org"})[1].URLs, " ")
	if want := "turns:call.example.org:" + strconv.Itoa(s.TLSPort()) + "?transport=tcp"; !strings.Contains(urls, want) {
		t.Errorf("ICE servers %q lack %q", urls, want)
	}
}

// TestICEServersWebPort: the web port is offered after TURN's own UDP and
// TCP, as turns: when the page came over HTTPS, as turn: when not, and not
// at all when the page came through a reverse proxy.
func TestICEServersWebPort(t *testing.T) {
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startTURN(t, Config{WebListener: web, Host: "turn.example.org"})
	port := strconv.Itoa(s.Port())
	own := "turn:turn.example.org:" + port + "?transport=udp turn:turn.example.org:" + port + "?transport=tcp"
	for _, tt := range []struct {
		name string
		page Page
		want string
	}{
		{"HTTPS", Page{Host: "call.example.org", Port: 443, TLS: true}, own + " turns:call.example.org:443?transport=tcp"},
		{"HTTP", Page{Host: "call.example.org", Port: 8080}, own + " turn:call.example.org:8080?transport=tcp"},
		{"IPv6 page", Page{Host: "2001:db8::1", Port: 443, TLS: true}, own + " turns:[2001:db8::1]:443?transport=tcp"},
		{"through a proxy", Page{Host: "call.example.org"}, own},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(s.ICEServers("p", tt.page)[1].URLs, " "); got != tt.want {
				t.Errorf("turn URLs\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestPermitDatagram: a datagram is looked at by its port only on the
// server's own address, where it must go to a live relay unless that
// address was allowed explicitly.
func TestPermitDatagram(t *testing.T) {
	self := netip.MustParseAddr("203.0.113.10")
	closed := newPeerPolicy(self, nil)
	closed.relays.add(50000)
	open := newPeerPolicy(self, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")})
	for _, tt := range []struct {
		policy *peerPolicy
		peer   string
		want   bool
	}{
		{closed, "203.0.113.10:50000", true},
		{closed, "[::ffff:203.0.113.10]:50000", true},
		{closed, "203.0.113.10:50001", false},
		{closed, "203.0.113.10:443", false},
		{closed, "198.51.100.7:443", true}, // pion permitted the address
		{open, "203.0.113.10:443", true},
	} {
		if got := tt.policy.permitDatagram(netip.MustParseAddrPort(tt.peer)); got != tt.want {
			t.Errorf("permitDatagram(%s) = %t, want %t", tt.peer, got, tt.want)
		}
	}
}

package turn

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

const testSecret = "test-secret"

// startTURN runs a server on 127.0.0.1 whose relays live on 127.0.0.2, so
// that 127.0.0.1 is an ordinary forbidden loopback peer.
func startTURN(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if !cfg.RelayIP.IsValid() {
		cfg.RelayIP = netip.MustParseAddr("127.0.0.2")
	}
	if cfg.RelayMinPort == 0 {
		cfg.RelayMinPort, cfg.RelayMaxPort = 61000, 61999 // above the ephemeral range that :0 picks from
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(testLogOut(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("start TURN: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newClient connects a TURN client over UDP or TCP with the given
// credentials.
func newClient(t *testing.T, s *Server, network, username, password string) *turn.Client {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	var conn net.PacketConn
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Username:       username,
		Password:       password,
		Conn:           conn,
		RTO:            200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		_ = conn.Close()
	})
	return client
}

// credentials returns the TURN entry's username and password for peerID.
func credentials(t testing.TB, s *Server, peerID string) (string, string) {
	t.Helper()
	for _, ice := range s.ICEServers(peerID, Page{Host: "127.0.0.1"}) {
		if ice.Username != "" {
			return ice.Username, ice.Credential
		}
	}
	t.Fatal("no TURN entry in ICEServers")
	return "", ""
}

func TestICEServers(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		pageHost string
		wantHost string
	}{
		{"page host by default", Config{}, "example.org", "example.org"},
		{"IPv6 page host", Config{}, "::1", "[::1]"},
		{"configured host wins", Config{Host: "turn.example.org"}, "example.org", "turn.example.org"},
		{"public IP when no host", Config{RelayIP: netip.MustParseAddr("203.0.113.7"), RelayBind: "127.0.0.2"}, "example.org", "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startTURN(t, tt.cfg)
			port := strconv.Itoa(s.Port())
			ice := s.ICEServers("peer1", Page{Host: tt.pageHost})
			if len(ice) != 2 {
				t.Fatalf("got %d entries", len(ice))
			}
			if got, want := ice[0].URLs, []string{"stun:" + tt.wantHost + ":" + port}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("stun urls = %v, want %v", got, want)
			}
			wantTURN := "turn:" + tt.wantHost + ":" + port + "?transport=udp turn:" + tt.wantHost + ":" + port + "?transport=tcp"
			if got := strings.Join(ice[1].URLs, " "); got != wantTURN {
				t.Errorf("turn urls = %v, want %v", got, wantTURN)
			}
			// The TURN REST API format, computed independently.
			expiry, peer, ok := strings.Cut(ice[1].Username, ":")
			if !ok || peer != "peer1" {
				t.Fatalf("username %q, want <expiry>:peer1", ice[1].Username)
			}
			unix, err := strconv.ParseInt(expiry, 10, 64)
			if ttl := time.Until(time.Unix(unix, 0)); err != nil || ttl < 5*time.Hour || ttl > 6*time.Hour+time.Minute {
				t.Errorf("expiry %q is %v away, want about 6h", expiry, ttl)
			}
			mac := hmac.New(sha1.New, []byte(testSecret))
			mac.Write([]byte(ice[1].Username))
			if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); ice[1].Credential != want {
				t.Errorf("credential %q, want %q", ice[1].Credential, want)
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	s := startTURN(t, Config{})
	user, pass := credentials(t, s, "alice")
	expired, expiredPass := func() (string, string) {
		u, p, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "alice", -time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return u, p
	}()
	otherUser, otherPass, _ := turn.GenerateLongTermTURNRESTCredentials("another-secret", "alice", time.Hour)

	tests := []struct {
		name, network, user, pass string
		wantErr                   string
	}{
		{"valid over UDP", "udp", user, pass, ""},
		{"valid over TCP", "tcp", user, pass, ""},
		{"wrong password", "udp", user, "not-it", "401"},
		{"other secret", "udp", otherUser, otherPass, "401"},
		{"expired", "udp", expired, expiredPass, "401"},
		{"expired over TCP", "tcp", expired, expiredPass, "401"},
		{"not a REST username", "udp", "alice", pass, "401"},
		{"empty username", "udp", "", "", "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, s, tt.network, tt.user, tt.pass)
			relay, err := c.Allocate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("allocate: %v", err)
				}
				defer relay.Close()
				if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.ParseIP("127.0.0.2")) {
					t.Fatalf("relay address %v, want 127.0.0.2", relay.LocalAddr())
				}
				return
			}
			if err == nil {
				relay.Close()
				t.Fatal("allocation succeeded with bad credentials")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want it to mention %s", err, tt.wantErr)
			}
		})
	}
}

func TestPermissionRefusedForLoopback(t *testing.T) {
	s := startTURN(t, Config{})
	user, pass := credentials(t, s, "mallory")
	c := newClient(t, s, "udp", user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	for _, peer := range []string{"127.0.0.1:6379", "10.0.0.1:80", "169.254.169.254:80", "[::ffff:127.0.0.1]:80"} {
		addr, _ := net.ResolveUDPAddr("udp", peer)
		if err := c.CreatePermission(addr); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("permission to %s: err %v, want 403", peer, err)
		}
	}
	// A public address is allowed.
	if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP("203.0.113.9"), Port: 9}); err != nil {
		t.Errorf("permission to a public address: %v", err)
	}
}

func TestAllowPeersOverridesPolicy(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	user, pass := credentials(t, s, "lan")
	c := newClient(t, s, "udp", user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9}); err != nil {
		t.Fatalf("allowed network refused: %v", err)
	}
}

// TestRelayBetweenAllocations is the call where both people are forced to
// relay: each sends to the other's relay address on this same server.
func TestRelayBetweenAllocations(t *testing.T) {
	s := startTURN(t, Config{})
	a, b := allocateRelay(t, s, "a", "udp"), allocateRelay(t, s, "b", "tcp")

	// Each side permits the other by writing first, as ICE checks do.
	if _, err := a.WriteTo([]byte("knock"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo([]byte("hello a"), a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got := readFrom(t, a); got != "hello a" {
		t.Fatalf("a read %q", got)
	}
	if _, err := a.WriteTo([]byte("hello b"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	// The knock may still arrive: the server checks permissions when it
	// reads the relay socket, which can be after b's permission exists.
	got := readFrom(t, b)
	if got == "knock" {
		got = readFrom(t, b)
	}
	if got != "hello b" {
		t.Fatalf("b read %q", got)
	}
}

func readFrom(t *testing.T, c net.PacketConn) string {
	t.Helper()
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n])
}

// TestRelayCannotReachOwnServices: the server's own relay address is a
// permitted peer (for relay-to-relay calls), but only inside the relay port
// range; a service listening on that address elsewhere hears nothing.
func TestRelayCannotReachOwnServices(t *testing.T) {
	s := startTURN(t, Config{})
	service, err := net.ListenPacket("udp4", "127.0.0.2:0") // ephemeral: outside 61000-61999
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()

	relay := allocateRelay(t, s, "mallory", "udp")
	if _, err := relay.WriteTo([]byte("attack"), service.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = service.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 64)
	if n, from, err := service.ReadFrom(buf); err == nil {
		t.Fatalf("service outside the relay range received %q from %v", buf[:n], from)
	}
}

func TestPeerPolicy(t *testing.T) {
	policy := newPeerPolicy(netip.MustParseAddr("198.51.100.10"), []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")})
	tests := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::127.0.0.1", false}, // IPv4-compatible
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"172.16.5.4", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"224.0.0.251", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 form of 127.0.0.1
		{"2002:7f00:1::1", false},  // 6to4 form of 127.0.0.1
		{"10.1.2.3", true},         // allowed network
		{"198.51.100.10", true},    // the server's own relay address
		{"::ffff:198.51.100.10", true},
		{"8.8.8.8", true},
		{"203.0.113.9", true},
		{"172.32.0.1", true},
		{"100.128.0.1", true},
		{"2606:4700::1111", true},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := policy.permit(net.ParseIP(tt.ip)); got != tt.want {
				t.Fatalf("permit(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	if policy.permit(nil) {
		t.Fatal("permit(nil) = true")
	}
}

func TestConfigErrors(t *testing.T) {
	// A port free now, and a relay range around it.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no secret", Config{Addr: "127.0.0.1:0"}, ErrNoSecret},
		{"inverted range", Config{Addr: "127.0.0.1:0", Secret: "s", RelayMinPort: 60000, RelayMaxPort: 50000}, ErrBadPortRange},
		{"listener inside relay range", Config{Addr: fmt.Sprintf("127.0.0.1:%d", port), Secret: "s",
			RelayMinPort: uint16(port - 1), RelayMaxPort: uint16(port + 1)}, ErrPortInRelayRange},
		{"TLS listener without certificate", Config{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Secret: "s"}, ErrTLSWithoutCertificate},
		{"bitrate in bytes", Config{Addr: "127.0.0.1:0", Secret: "s", MaxBitrate: 2000}, ErrBitrateTooLow},
		{"ICE URL without scheme", Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"turn2.example.org:3478"}}, ErrBadICEURL},
		{"ICE URL without host", Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"turn:?transport=udp"}}, ErrBadICEURL},
		{"ICE URL with a bad port", Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"turn:turn2.example.org:34x78"}}, ErrBadICEURL},
		{"ICE URL with a bad transport", Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"turn:turn2.example.org?transport=sctp"}}, ErrBadICEURL},
		{"ICE URL with a path", Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"turns://turn2.example.org/"}}, ErrBadICEURL},
		{"STUN URL with a transport", Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"stun:stun.example.org?transport=udp"}}, ErrBadICEURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestICEURLsAccepted: the forms RFC 7064 and 7065 allow pass.
func TestICEURLsAccepted(t *testing.T) {
	urls := []string{"stun:stun.example.org", "stun:stun.example.org:3478", "stuns:stun.example.org:5349",
		"turn:turn2.example.org", "turn:turn2.example.org:3478?transport=udp", "turn:[2001:db8::1]:3478?transport=tcp",
		"turns:turn2.example.org:443?transport=tcp", "turn:192.0.2.1", "stun:[2001:db8::1]"}
	for _, u := range urls {
		if err := checkICEURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestRandomSecret(t *testing.T) {
	a, b := RandomSecret(), RandomSecret()
	if len(a) < 40 || a == b || bytes.ContainsAny([]byte(a), "+/=") {
		t.Fatalf("RandomSecret() = %q, %q", a, b)
	}
}

// mintFor computes the REST API password of username under secret.
func mintFor(secret, username string) (string, string) {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func testLogOut() io.Writer {
	if os.Getenv("TANDEM_TEST_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}

// TestZeroConfigRelayGuardsOwnPorts: with the default relay address,
// 127.0.0.1, the server's own address is a permitted peer (relay-to-relay
// calls need it), yet neither its TURN port nor any other service on that
// address outside the relay range can be reached through a relay.
func TestZeroConfigRelayGuardsOwnPorts(t *testing.T) {
	s := startTURN(t, Config{RelayIP: netip.MustParseAddr("127.0.0.1")})
	web, err := net.ListenPacket("udp4", "127.0.0.1:0") // stands in for any local service
	if err != nil {
		t.Fatal(err)
	}
	defer web.Close()

	relay := allocateRelay(t, s, "mallory", "udp")
	turnAddr := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: s.Port()}
	// A STUN binding request at the TURN port itself: any answer would come
	// back to the relay and reach us as data.
	binding := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := relay.WriteTo(binding, turnAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.WriteTo([]byte("attack"), web.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = web.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := web.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("local service received %d bytes through the relay", n)
	}
	_ = relay.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := relay.ReadFrom(make([]byte, 1500)); err == nil {
		t.Fatalf("the TURN port answered through the relay: %d bytes from %v", n, from)
	}
}

func TestRelayCaps(t *testing.T) {
	t.Run("bitrate", func(t *testing.T) {
		const bitrate = 2_000_000 // 250 KB/s, burst 64 KiB
		s := startTURN(t, Config{MaxBitrate: bitrate})
		a, b := relayPair(t, s)
		received := make(chan int, 1)
		go func() {
			total := 0
			buf := make([]byte, 1500)
			for {
				_ = b.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				n, _, err := b.ReadFrom(buf)
				if err != nil {
					received <- total
					return
				}
				total += n
			}
		}()
		start := time.Now()
		payload := make([]byte, 1000)
		for range 2000 { // 2 MB, sent as fast as possible
			_, _ = a.WriteTo(payload, b.LocalAddr())
		}
		got := <-received
		elapsed := time.Since(start)
		budget := 64<<10 + int(elapsed.Seconds()*bitrate/8)
		t.Logf("relayed %d of 2,000,000 bytes in %v (budget %d)", got, elapsed.Round(time.Millisecond), budget)
		if got > budget {
			t.Fatalf("relayed %d bytes, over the %d-byte budget", got, budget)
		}
		if got == 0 {
			t.Fatal("nothing relayed at all")
		}
	})
	t.Run("lifetime", func(t *testing.T) {
		s := startTURN(t, Config{MaxAllocationLifetime: 500 * time.Millisecond})
		a, b := relayPair(t, s)
		if _, err := a.WriteTo([]byte("early"), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if got := readFrom(t, b); got != "early" {
			t.Fatalf("read %q", got)
		}
		time.Sleep(700 * time.Millisecond)
		_, _ = a.WriteTo([]byte("late"), b.LocalAddr())
		_ = b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _, err := b.ReadFrom(make([]byte, 64)); err == nil {
			t.Fatalf("relay still works after its maximum lifetime (%d bytes)", n)
		}
	})
}

// relayPair allocates two relays on s that have permitted each other.
func relayPair(t *testing.T, s *Server) (a, b net.PacketConn) {
	t.Helper()
	a, b = allocateRelay(t, s, "a", "udp"), allocateRelay(t, s, "b", "udp")
	// Permissions both ways, and drain the knocks.
	_, _ = a.WriteTo([]byte("knock"), b.LocalAddr())
	_, _ = b.WriteTo([]byte("knock"), a.LocalAddr())
	for _, c := range []net.PacketConn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _, _ = c.ReadFrom(make([]byte, 64))
	}
	return a, b
}

func TestExtraICEServers(t *testing.T) {
	s := startTURN(t, Config{ExtraURLs: []string{"stun:stun.example.org:3478", "turn:pool.example.org:3478?transport=udp", "turns:pool.example.org:5349"}})
	ice := s.ICEServers("peer1", Page{Host: "example.org"})
	port := strconv.Itoa(s.Port())
	if got, want := strings.Join(ice[0].URLs, " "), "stun:example.org:"+port+" stun:stun.example.org:3478"; got != want {
		t.Errorf("stun entry %q, want %q", got, want)
	}
	if got := strings.Join(ice[1].URLs, " "); !strings.HasSuffix(got, " turn:pool.example.org:3478?transport=udp turns:pool.example.org:5349") {
		t.Errorf("turn entry %q lacks the pool", got)
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", Secret: "s", ExtraURLs: []string{"http://evil"}}, slog.New(slog.NewTextHandler(io.Discard, nil))); !errors.Is(err, ErrBadICEURL) {
		t.Errorf("bad URL accepted: %v", err)
	}
}

// A cap of a few bits per second would make the policer divide by zero,
// and no call fits under 100 kbit/s anyway: such a setting is refused.
func TestMaxBitrateTooLow(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		bitrate int
		ok      bool
	}{{1, false}, {7, false}, {20, false}, {99_999, false}, {100_000, true}, {-1, true}, {0, true}} {
		s, err := New(Config{Addr: "127.0.0.1:0", Secret: "s", MaxBitrate: tt.bitrate, RelayMinPort: 61000, RelayMaxPort: 61999}, log)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBitrateTooLow)) {
			t.Errorf("MaxBitrate %d: %v", tt.bitrate, err)
		}
		if s != nil {
			_ = s.Close()
		}
	}
}

// allocateRelay allocates a relay for user name over network ("udp" or
// "tcp"), released when the test ends.
func allocateRelay(t *testing.T, s *Server, name, network string) net.PacketConn {
	t.Helper()
	user, pass := credentials(t, s, name)
	relay, err := newClient(t, s, network, user, pass).Allocate()
	if err != nil {
		t.Fatalf("%s allocate: %v", name, err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

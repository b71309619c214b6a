package turn

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawClient speaks TURN message by message, to send what a well-behaved
// client library never would: the checks of TURN security scanners such as
// Enable Security's stunner.
type rawClient struct {
	t      testing.TB
	conn   net.PacketConn
	server net.Addr
	user   string
	pass   string
	realm  stun.Realm
	nonce  stun.Nonce
}

func newRawClient(t testing.TB, s *Server, user, pass string) *rawClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	server, _ := net.ResolveUDPAddr("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())))
	return &rawClient{t: t, conn: conn, server: server, user: user, pass: pass}
}

// do sends one request and returns the response. Once the server has named
// its realm and nonce, requests are signed with the long-term credential.
func (c *rawClient) do(method stun.Method, setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	all := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	all = append(all, setters...)
	if c.nonce != nil {
		all = append(all, stun.NewUsername(c.user), c.realm, c.nonce, stun.NewLongTermIntegrity(c.user, c.realm.String(), c.pass))
	}
	all = append(all, stun.Fingerprint)
	req, err := stun.Build(all...)
	if err != nil {
		c.t.Fatal(err)
	}
	// Retransmit as STUN clients do (RFC 8489 §6.2.1): a datagram can be
	// lost on a busy socket.
	buf := make([]byte, 1500)
	rto := 100 * time.Millisecond
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
			c.t.Fatal(err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(rto))
		rto *= 2
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			if time.Now().Before(deadline) {
				continue
			}
			c.t.Fatalf("%s: no answer: %v", method, err)
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() != nil || res.TransactionID != req.TransactionID {
			continue
		}
		return res
	}
}

// login gets a nonce and realm from a first, unauthenticated Allocate.
func (c *rawClient) login() {
	c.t.Helper()
	res := c.do(stun.MethodAllocate, requestedTransport(17))
	if code := errorCode(res); code != 401 {
		c.t.Fatalf("unauthenticated allocate answered %d, want 401", code)
	}
	var realm stun.Realm
	var nonce stun.Nonce
	if realm.GetFrom(res) != nil || nonce.GetFrom(res) != nil {
		c.t.Fatal("401 without realm or nonce")
	}
	c.realm, c.nonce = realm, nonce
}

func errorCode(m *stun.Message) int {
	if m.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(m); err != nil {
		return -1
	}
	return int(ec.Code)
}

func requestedTransport(proto byte) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{proto, 0, 0, 0}}
}

func peer(ip string, port int) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		return stun.XORMappedAddress{IP: net.ParseIP(ip), Port: port}.AddToAs(m, stun.AttrXORPeerAddress)
	})
}

type setterFunc func(m *stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// TestScannerChecks runs the attacks of a TURN security scanner against the
// bundled server, each with the refusal it must get.
func TestScannerChecks(t *testing.T) {
	s := startTURN(t, Config{})
	user, pass := credentials(t, s, "scanner")

	t.Run("allocate without credentials", func(t *testing.T) {
		c := newRawClient(t, s, user, pass)
		if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17))); code != 401 {
			t.Fatalf("got %d, want 401", code)
		}
	})
	t.Run("allocate with the wrong password", func(t *testing.T) {
		c := newRawClient(t, s, user, "wrong")
		c.login()
		if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17))); code != 401 {
			t.Fatalf("got %d, want 401", code)
		}
	})
	t.Run("TCP relay allocation (RFC 6062)", func(t *testing.T) {
		c := newRawClient(t, s, user, pass)
		c.login()
		if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(6))); code == 0 {
			t.Fatal("TCP allocation granted")
		}
	})
	t.Run("unknown transport", func(t *testing.T) {
		c := newRawClient(t, s, user, pass)
		c.login()
		if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(99))); code != 442 {
			t.Fatalf("got %d, want 442", code)
		}
	})

	// The rest need a real allocation.
	c := newRawClient(t, s, user, pass)
	c.login()
	if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17))); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	forbidden := []string{
		"127.0.0.1", "127.255.255.254", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1",
		"224.0.0.1", "255.255.255.255", "fc00::1", "fd00::1", "fe80::1", "ff02::1", "64:ff9b::a00:1",
	}
	// The allocation is IPv4, so IPv6 peers are refused earlier, with 443
	// Peer Address Family Mismatch; the policy itself is tested for every
	// IPv6 form in TestPeerPolicy. A refused ChannelBind gets a signed 403
	// from Tandem's bindGuard (pion alone would answer 401).
	refusal := func(ip string, v4 ...int) []int {
		if net.ParseIP(ip).To4() == nil && !strings.HasPrefix(ip, "::ffff:") {
			return []int{443}
		}
		return v4
	}
	for _, ip := range forbidden {
		t.Run("permission to "+ip, func(t *testing.T) {
			want := refusal(ip, 403)
			if code := errorCode(c.do(stun.MethodCreatePermission, peer(ip, 80))); !slices.Contains(want, code) {
				t.Fatalf("got %d, want one of %v", code, want)
			}
		})
		t.Run("channel to "+ip, func(t *testing.T) {
			want := refusal(ip, 403)
			ch := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x01, 0, 0}}
			if code := errorCode(c.do(stun.MethodChannelBind, ch, peer(ip, 80))); !slices.Contains(want, code) {
				t.Fatalf("got %d, want one of %v", code, want)
			}
		})
	}
	t.Run("TCP connect to a peer (RFC 6062)", func(t *testing.T) {
		if code := errorCode(c.do(stun.MethodConnect, peer("203.0.113.9", 80))); code == 0 {
			t.Fatal("connect granted")
		}
	})
	t.Run("send indication without permission", func(t *testing.T) {
		target, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		port := target.LocalAddr().(*net.UDPAddr).Port
		ind, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
			peer("127.0.0.1", port), stun.RawAttribute{Type: stun.AttrData, Value: []byte("smuggled")})
		_, _ = c.conn.WriteTo(ind.Raw, c.server)
		_ = target.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _, err := target.ReadFrom(make([]byte, 64)); err == nil {
			t.Fatalf("loopback target received %d bytes", n)
		}
	})
	t.Run("garbage does not hurt", func(t *testing.T) {
		for range 200 {
			junk := make([]byte, 20+int(randByte())*4)
			_, _ = rand.Read(junk)
			_, _ = c.conn.WriteTo(junk, c.server)
		}
		// A STUN header claiming a huge length.
		hdr := make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:], 0x0003)
		binary.BigEndian.PutUint16(hdr[2:], 0xfffc)
		binary.BigEndian.PutUint32(hdr[4:], 0x2112A442) // the STUN magic cookie
		_, _ = c.conn.WriteTo(hdr, c.server)
		// The server still answers properly.
		other := newRawClient(t, s, user, pass)
		other.login()
		if code := errorCode(other.do(stun.MethodAllocate, requestedTransport(17))); code != 0 {
			t.Fatalf("allocate after garbage: %d", code)
		}
	})
}

func randByte() byte {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return b[0]
}

func TestAllocationQuotas(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		sameUser bool
		allowed  int
	}{
		{"per user", Config{MaxAllocsPerUser: 3, MaxAllocsPerIP: -1}, true, 3},
		{"per client address", Config{MaxAllocsPerUser: -1, MaxAllocsPerIP: 4}, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startTURN(t, tt.cfg)
			for i := range tt.allowed + 1 {
				name := "quota"
				if !tt.sameUser {
					name += strconv.Itoa(i)
				}
				user, pass := credentials(t, s, name)
				c := newRawClient(t, s, user, pass)
				c.login()
				code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17)))
				switch {
				case i < tt.allowed && code != 0:
					t.Fatalf("allocation %d refused with %d", i+1, code)
				case i == tt.allowed && code != 486:
					t.Fatalf("allocation %d answered %d, want 486 Allocation Quota Reached", i+1, code)
				}
			}
			if n := s.Allocations(); n != tt.allowed {
				t.Fatalf("server counts %d allocations, want %d", n, tt.allowed)
			}
		})
	}
}

func TestSecretRotation(t *testing.T) {
	// Credentials minted with the old secret an hour before the restart
	// (so they expire an hour before new ones would)...
	oldUser, oldPass := mintFor("old-secret", strconv.FormatInt(time.Now().Add(5*time.Hour).Unix(), 10)+":early")
	// ...still work on a server started with the new secret and the old
	// one as previous; new ones use the new secret; strangers don't pass.
	s := startTURN(t, Config{Secret: "new-secret", PreviousSecret: "old-secret"})
	newUser, newPass := credentials(t, s, "late")
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"old credentials during the overlap", oldUser, oldPass, 0},
		{"new credentials", newUser, newPass, 0},
		{"old secret on a new credential", newUser, passwordFor("old-secret", newUser), 401},
		{"unrelated secret", oldUser, passwordFor("guess", oldUser), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRawClient(t, s, tt.user, tt.pass)
			c.login()
			if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17))); code != tt.want {
				t.Fatalf("got %d, want %d", code, tt.want)
			}
		})
	}
}

// TestFloodsStayBounded: thousands of unauthenticated, badly signed and
// malformed requests leave goroutines, heap and file descriptors where they
// were, and the server keeps serving.
func TestFloodsStayBounded(t *testing.T) {
	s := startTURN(t, Config{})
	user, pass := credentials(t, s, "victim")

	settle := func() (goroutines int, heap uint64, fds int) {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		entries, _ := os.ReadDir("/proc/self/fd")
		return runtime.NumGoroutine(), ms.HeapAlloc, len(entries)
	}
	g0, h0, fd0 := settle()

	attacker := newRawClient(t, s, user, "wrong")
	attacker.login()
	expired, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransport(17),
		stun.NewUsername("1:victim"), attacker.realm, attacker.nonce, stun.NewLongTermIntegrity("1:victim", attacker.realm.String(), "x"), stun.Fingerprint)
	const n = 20000
	for i := range n {
		var req *stun.Message
		switch i % 3 {
		case 0: // unauthenticated
			req, _ = stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransport(17), stun.Fingerprint)
		case 1: // wrong password
			req, _ = stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransport(17),
				stun.NewUsername(user), attacker.realm, attacker.nonce, stun.NewLongTermIntegrity(user, attacker.realm.String(), "wrong"), stun.Fingerprint)
		default: // expired
			req = expired
		}
		_, _ = attacker.conn.WriteTo(req.Raw, attacker.server)
		if i%500 == 0 {
			time.Sleep(time.Millisecond) // let the server drain its socket
		}
	}
	time.Sleep(300 * time.Millisecond)

	g1, h1, fd1 := settle()
	t.Logf("after %d bad requests: goroutines %d -> %d, heap %d KiB -> %d KiB, fds %d -> %d", n, g0, g1, h0>>10, h1>>10, fd0, fd1)
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if h1 > h0+8<<20 {
		t.Errorf("heap grew from %d to %d bytes", h0, h1)
	}
	if fd1 > fd0+5 {
		t.Errorf("file descriptors grew from %d to %d", fd0, fd1)
	}
	if s.Allocations() != 0 {
		t.Errorf("%d allocations made by the flood", s.Allocations())
	}
	c := newRawClient(t, s, user, pass)
	c.login()
	if code := errorCode(c.do(stun.MethodAllocate, requestedTransport(17))); code != 0 {
		t.Fatalf("a valid client after the flood got %d", code)
	}
}

func TestParseUsername(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		user string
	}{
		{"1795000000:3f2a9c1d0b7e4a11", true, "3f2a9c1d0b7e4a11"},
		{"1:a", true, "a"},
		{"1795000000", false, ""},
		{":user", false, ""},
		{"1795000000:", false, ""},
		{"-5:user", false, ""},
		{"17x5:user", false, ""},
		{"1795000000000000:user", false, ""},
		{"1795000000:us er", false, ""},
		{"1795000000:" + string(make([]byte, 200)), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, user, err := ParseUsername(tt.in)
			if (err == nil) != tt.ok || user != tt.user {
				t.Fatalf("ParseUsername(%q) = %q, %v", tt.in, user, err)
			}
		})
	}
}

// usernameSpec is the TURN REST API username ParseUsername accepts, as a
// regular expression: up to 12 decimal digits of expiry, a colon, and 1 to
// maxUserLen printable ASCII characters.
var usernameSpec = regexp.MustCompile(`^[0-9]{1,12}:[\x21-\x7e]{1,128}$`)

// FuzzParseUsername checks ParseUsername against usernameSpec (it accepts
// exactly what the expression does) and the round trip: what it returns
// formats back to the same username, up to the expiry's leading zeros.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1795000000:3f2a9c1d0b7e4a11", "1:a", ":", "99999999999999:x", "1:a:b", "0001:x", "1:\x7f", "1: a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		expiry, user, err := ParseUsername(in)
		if accepted := err == nil; accepted != usernameSpec.MatchString(in) {
			t.Fatalf("ParseUsername(%q): accepted %v, the spec says %v (err %v)", in, accepted, !accepted, err)
		}
		if err != nil {
			return
		}
		again := strconv.FormatInt(expiry.Unix(), 10) + ":" + user
		ts, _, _ := strings.Cut(in, ":")
		if want := strings.TrimLeft(ts, "0") + ":" + user; again != want && !(strings.Trim(ts, "0") == "" && again == "0:"+user) {
			t.Fatalf("ParseUsername(%q) = %v, %q, which formats back as %q", in, expiry.Unix(), user, again)
		}
	})
}

func passwordFor(secret, username string) string {
	_, pass := mintFor(secret, username)
	return pass
}

package turn

import (
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"tandem/bench/selfsigned"
)

// bindingRequest sends a STUN Binding request from conn to server and
// returns the mapped address of the answer, or an error after a second.
func bindingRequest(t *testing.T, conn *net.UDPConn, server netip.AddrPort) (netip.AddrPort, error) {
	t.Helper()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := conn.WriteToUDPAddrPort(req.Raw, server); err != nil {
		return netip.AddrPort{}, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return netip.AddrPort{}, err
	}
	res := &stun.Message{Raw: buf[:n]}
	if err := res.Decode(); err != nil {
		return netip.AddrPort{}, err
	}
	if res.TransactionID != req.TransactionID || res.Type != stun.BindingSuccess {
		t.Fatalf("answer %v to another request", res)
	}
	var mapped stun.XORMappedAddress
	if err := mapped.GetFrom(res); err != nil {
		return netip.AddrPort{}, err
	}
	ip, _ := netip.AddrFromSlice(mapped.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(mapped.Port)), nil
}

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestBindings: both STUN ports answer a real Binding request with the
// sender's address and remember its port; a port that sent none, or sent
// something else, is not reported.
func TestBindings(t *testing.T) {
	s := startTURN(t, Config{})
	e := s.Endpoints(Page{Host: "127.0.0.1"})
	second := netip.MustParseAddrPort(strings.TrimPrefix(e.SecondSTUN, "stun:"))
	if second.Addr() != netip.MustParseAddr("127.0.0.2") || second.Port() < 61000 || second.Port() > 61999 {
		t.Errorf("second STUN port at %v, want the relay address and a port of the relay range", second)
	}
	turnPort := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.Port()))

	asked, silent, other := listenUDP(t), listenUDP(t), listenUDP(t)
	for _, server := range []netip.AddrPort{turnPort, second} {
		mapped, err := bindingRequest(t, asked, server)
		if err != nil {
			t.Fatalf("Binding request to %v: %v", server, err)
		}
		if want := asked.LocalAddr().(*net.UDPAddr).AddrPort(); mapped != want {
			t.Errorf("%v mapped %v, want %v", server, mapped, want)
		}
	}
	// Not a Binding request: a ChannelData frame and garbage.
	for _, junk := range [][]byte{{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4}, []byte("GET / HTTP/1.1\r\n\r\n")} {
		if _, err := other.WriteToUDPAddrPort(junk, second); err != nil {
			t.Fatal(err)
		}
	}
	_ = other.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := other.Read(make([]byte, 1500)); err == nil {
		t.Errorf("the second STUN port answered junk with %d bytes", n)
	}

	port := func(c *net.UDPConn) uint16 { return uint16(c.LocalAddr().(*net.UDPAddr).Port) }
	gotTURN, gotSecond := s.Bindings([]uint16{port(asked), port(silent), port(other)})
	if want := []uint16{port(asked)}; !slices.Equal(gotTURN, want) || !slices.Equal(gotSecond, want) {
		t.Errorf("Bindings = %v, %v; want %v from both", gotTURN, gotSecond, want)
	}
}

func TestBindingLog(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		added []uint16 // one a second from t0
		ask   []uint16
		since time.Time
		want  []uint16
	}{
		{"none", nil, []uint16{1}, t0, nil},
		{"asked and seen, once each", []uint16{5, 5, 7}, []uint16{7, 5, 9}, t0, []uint16{5, 7}},
		{"too old", []uint16{5, 7}, []uint16{5, 7}, t0.Add(time.Second), []uint16{7}},
		{"forgotten after a flood", append([]uint16{5}, slices.Repeat([]uint16{6}, bindingLogSize)...), []uint16{5, 6}, t0, []uint16{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l bindingLog
			for i, p := range tt.added {
				l.add(p, t0.Add(time.Duration(i)*time.Second))
			}
			if got := l.seen(tt.ask, tt.since); !slices.Equal(got, tt.want) {
				t.Errorf("seen = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		web     bool // TURN on the web port
		tlsAddr bool // -turn-tls-addr
		page    Page
		wantWeb string
		wantTLS bool
	}{
		{"plain page, no web TURN", false, false, Page{Host: "example.org", Port: 8080}, "", false},
		{"plain page", true, false, Page{Host: "example.org", Port: 8080}, "turn:example.org:8080?transport=tcp", false},
		{"HTTPS page", true, false, Page{Host: "example.org", Port: 443, TLS: true}, "turns:example.org:443?transport=tcp", false},
		{"through a proxy", true, false, Page{Host: "example.org", TLS: true}, "", false},
		{"TLS port of its own", false, true, Page{Host: "example.org"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}
			if tt.web {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ln.Close() })
				cfg.WebListener = ln
			}
			if tt.tlsAddr {
				cert, err := selfsigned.New("127.0.0.1")
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLSAddr, cfg.TLS = "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
			}
			s := startTURN(t, cfg)
			e := s.Endpoints(tt.page)
			port := ":" + strconv.Itoa(s.Port())
			if e.STUN != "stun:example.org"+port || e.UDP != "turn:example.org"+port+"?transport=udp" || e.TCP != "turn:example.org"+port+"?transport=tcp" {
				t.Errorf("TURN port URLs %q %q %q", e.STUN, e.UDP, e.TCP)
			}
			if e.Web != tt.wantWeb {
				t.Errorf("Web = %q, want %q", e.Web, tt.wantWeb)
			}
			if want := "turns:example.org:" + strconv.Itoa(s.TLSPort()) + "?transport=tcp"; (e.TLS == want) != tt.wantTLS {
				t.Errorf("TLS = %q, want it: %v", e.TLS, tt.wantTLS)
			}
		})
	}
}

package app

import (
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/assets"
	"tandem/signaling"
)

// capturingRooms records the join requests the app hands the hub.
type capturingRooms struct{ got chan signaling.JoinRequest }

func (r capturingRooms) Start(conn signaling.Conn, req signaling.JoinRequest) {
	r.got <- req
	_ = conn.Close()
}

// The address per-address limits count is the client's as the nearest
// untrusted hop saw it: proxies append to X-Forwarded-For, so a client can
// write anything at its left end.
func TestClientIP(t *testing.T) {
	bundle, err := assets.Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		proxies   []string
		forwarded string // lines of the header, split at "|"
		want      string
	}{
		{"no proxy trusted: the header is ignored", nil, "203.0.113.7", "127.0.0.1"},
		{"the peer is not a trusted proxy", []string{"10.0.0.0/8"}, "203.0.113.7", "127.0.0.1"},
		{"trusted proxy, no header", []string{"127.0.0.1/32"}, "", "127.0.0.1"},
		{"trusted proxy", []string{"127.0.0.1/32"}, "203.0.113.7", "203.0.113.7"},
		{"a spoofed entry left of the proxy's", []string{"127.0.0.1/32"}, "198.51.100.66, 203.0.113.7", "203.0.113.7"},
		{"a chain of trusted proxies", []string{"127.0.0.0/8", "10.0.0.0/8"}, "198.51.100.66, 203.0.113.7, 10.0.0.5", "203.0.113.7"},
		{"garbage at the left", []string{"127.0.0.1/32"}, "not-an-ip, 203.0.113.7", "203.0.113.7"},
		{"IPv6 client", []string{"127.0.0.1/32"}, "2001:db8::1", "2001:db8::1"},
		// HAProxy's option forwardfor adds a line of its own.
		{"the proxy's own line after the client's", []string{"127.0.0.1/32"}, "198.51.100.66|203.0.113.7", "203.0.113.7"},
		{"lines and lists", []string{"127.0.0.0/8", "10.0.0.0/8"}, "198.51.100.66, 192.0.2.1|203.0.113.7, 10.0.0.5|127.0.0.9", "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var proxies []netip.Prefix
			for _, p := range tt.proxies {
				proxies = append(proxies, netip.MustParsePrefix(p))
			}
			rooms := capturingRooms{got: make(chan signaling.JoinRequest, 1)}
			addr := startApp(t, Config{TrustedProxies: proxies}, Deps{Rooms: rooms, Assets: bundle})

			header := http.Header{}
			if tt.forwarded != "" {
				header["X-Forwarded-For"] = strings.Split(tt.forwarded, "|")
			}
			c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/room-a", header)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case req := <-rooms.got:
				if req.ClientIP.String() != tt.want {
					t.Errorf("client address %s, want %s", req.ClientIP, tt.want)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("no join")
			}
		})
	}
}

// startApp serves the app on a loopback port until t ends and returns
// its address.
func startApp(t *testing.T, cfg Config, deps Deps) string {
	t.Helper()
	deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	web := New(cfg, deps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = web.Listener(ln) }()
	t.Cleanup(func() { _ = web.Shutdown() })
	return ln.Addr().String()
}

// TestForwardedHostAndScheme: X-Forwarded-Host and X-Forwarded-Proto
// change the page's own origin (its room link and QR code, the origin the
// WebSocket check accepts) only when a trusted proxy sends them.
func TestForwardedHostAndScheme(t *testing.T) {
	bundle, err := assets.Load()
	if err != nil {
		t.Fatal(err)
	}
	forged := http.Header{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}
	for _, tt := range []struct {
		name     string
		proxies  []netip.Prefix
		wantLink string // prefix of the room link; "" for the server's own
		upgrade  bool   // an upgrade from Origin https://evil.example passes
	}{
		{"no trusted proxy", nil, "", false},
		{"another proxy trusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "", false},
		{"from a trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "https://evil.example/r/", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rooms := capturingRooms{got: make(chan signaling.JoinRequest, 1)}
			addr := startApp(t, Config{TrustedProxies: tt.proxies}, Deps{Rooms: rooms, Assets: bundle})
			want := tt.wantLink
			if want == "" {
				want = "http://" + addr + "/r/"
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/r/room-a", nil)
			maps.Copy(req.Header, forged)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), want+"room-a") || strings.Contains(string(body), "evil.example") != (tt.wantLink != "") {
				t.Errorf("the room page links %q? body:\n%.2000s", want+"room-a", body)
			}
			header := forged.Clone()
			header.Set("Origin", "https://evil.example")
			c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/room-a", header)
			if err == nil {
				c.Close()
			}
			if passed := err == nil; passed != tt.upgrade {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("upgrade from https://evil.example: passed %v (status %d), want %v", passed, status, tt.upgrade)
			}
		})
	}
}

package app

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
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
		forwarded string
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var proxies []netip.Prefix
			for _, p := range tt.proxies {
				proxies = append(proxies, netip.MustParsePrefix(p))
			}
			rooms := capturingRooms{got: make(chan signaling.JoinRequest, 1)}
			web := New(Config{TrustedProxies: proxies}, Deps{Rooms: rooms, Assets: bundle,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = web.Listener(ln) }()
			t.Cleanup(func() { _ = web.Shutdown() })

			header := http.Header{}
			if tt.forwarded != "" {
				header.Set("X-Forwarded-For", tt.forwarded)
			}
			c, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws/room-a", header)
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

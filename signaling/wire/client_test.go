package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/signaling"
	"tandem/signaling/wire"
	"tandem/turn"
)

// serve runs a hub behind a net/http upgrader and returns its ws:// base.
func serve(t *testing.T) string {
	t.Helper()
	hub := signaling.NewHub(signaling.Config{}, signaling.NewMemoryStore(), slog.New(slog.DiscardHandler))
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room, err := signaling.NormalizeRoom(strings.TrimPrefix(r.URL.Path, "/ws/"))
		if err != nil {
			http.Error(w, wire.CodeInvalidRoom+": "+err.Error(), http.StatusBadRequest)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		hub.Start(conn, signaling.JoinRequest{Room: room, Page: turn.Page{Host: "127.0.0.1"},
			ClientIP: netip.MustParseAddr("127.0.0.1"), SeatToken: r.URL.Query().Get("seat")})
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Close(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/"
}

func dial(t *testing.T, url string) *wire.Client {
	t.Helper()
	c, err := wire.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func expect(t *testing.T, c *wire.Client, typ string) wire.ServerMessage {
	t.Helper()
	m, err := c.Expect(typ, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClient(t *testing.T) {
	base := serve(t)
	a := dial(t, base+"client")
	created := expect(t, a, wire.TypeCreated)
	b := dial(t, base+"client")
	if joined := expect(t, b, wire.TypeJoined); len(joined.Peers) != 1 || joined.Peers[0] != created.Peer {
		t.Fatalf("joined %+v after created %+v", joined, created)
	}
	expect(t, a, wire.TypePeerJoined)

	// A signal arrives as it was sent: no escapes added on the way.
	sent := wire.Signal{Session: "s1", Description: &wire.Description{Type: "offer", SDP: "v=0\r\na=<&>\r\n"}}
	if err := b.Signal(sent); err != nil {
		t.Fatal(err)
	}
	m := expect(t, a, wire.TypeSignal)
	if want := `{"session":"s1","description":{"type":"offer","sdp":"v=0\r\na=<&>\r\n"}}`; string(m.Data) != want {
		t.Fatalf("data %s, want %s", m.Data, want)
	}
	var got wire.Signal
	if err := json.Unmarshal(m.Data, &got); err != nil || got.Session != "s1" || *got.Description != *sent.Description {
		t.Fatalf("decoded %+v, %v", got, err)
	}

	if err := a.Ping(); err != nil {
		t.Fatal(err)
	}
	expect(t, a, wire.TypePong)

	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	if code, err := b.WaitClose(5 * time.Second); err != nil || code != wire.CloseNormal || b.CloseCode() != wire.CloseNormal {
		t.Fatalf("after leave: close %d (CloseCode %d), %v", code, b.CloseCode(), err)
	}
	if _, err := b.Next(time.Second); !errors.Is(err, wire.ErrClosed) {
		t.Fatalf("Next after close: %v, want ErrClosed", err)
	}
	expect(t, a, wire.TypePeerLeft)

	// Expect names an error it did not want.
	if err := a.SendRaw([]byte(`{"type":"dance"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expect(wire.TypeSignal, 5*time.Second); err == nil || !strings.Contains(err.Error(), wire.CodeBadMessage) {
		t.Fatalf("Expect(signal) of an error: %v", err)
	}
}

func TestDialRefused(t *testing.T) {
	base := serve(t)
	_, err := wire.Dial(context.Background(), base+"%3Cx%3E", nil)
	var he *wire.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
		t.Fatalf("Dial to an invalid room: %v, want a HandshakeError with 400", err)
	}
}

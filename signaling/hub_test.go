package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/turn"
)

// newTestHub serves hub on a real listener on 127.0.0.1 using the net/http
// flavour of the WebSocket library, the same protocol Fiber speaks.
func newTestHub(t *testing.T, b backend, cfg Config) (*Hub, string) {
	t.Helper()
	var logs io.Writer = io.Discard
	if os.Getenv("TANDEM_TEST_LOGS") != "" {
		logs = os.Stderr
	}
	return newLoggedTestHub(t, b, cfg, slog.New(slog.NewTextHandler(logs, nil)))
}

func newLoggedTestHub(t *testing.T, b backend, cfg Config, logger *slog.Logger) (*Hub, string) {
	t.Helper()
	if cfg.MaintainInterval == 0 {
		cfg.MaintainInterval = 20 * time.Millisecond // expired seats noticed at once
	}
	hub := NewHub(cfg, b.newStore(t), logger)
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room, err := NormalizeRoom(strings.TrimPrefix(r.URL.Path, "/ws/"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ip, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		hub.Start(conn, JoinRequest{Room: room, Page: turn.Page{Host: "127.0.0.1"}, ClientIP: ip.Addr(), Seat: r.URL.Query().Get("seat")})
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		srv.Close()
	})
	return hub, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/"
}

type client struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

// next reads the next server message, failing the test after 5 s.
func (c *client) next() ServerMessage {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m ServerMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		c.t.Fatalf("decode %s: %v", frame, err)
	}
	return m
}

func (c *client) expect(typ string) ServerMessage {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got %+v, want type %q", m, typ)
	}
	return m
}

func (c *client) sendText(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// closeCode reads until the connection ends and returns its close code.
func (c *client) closeCode() int {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if ok := asCloseError(err, &ce); ok {
			return ce.Code
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

// pair joins two clients to room and returns them after the handshake.
func pair(t *testing.T, base, room string) (first, second *client, firstID, secondID string) {
	t.Helper()
	first = dial(t, base+room)
	created := first.expect(TypeCreated)
	second = dial(t, base+room)
	joined := second.expect(TypeJoined)
	pj := first.expect(TypePeerJoined)
	if len(joined.Peers) != 1 || joined.Peers[0] != created.Peer || pj.Peer != joined.Peer {
		t.Fatalf("ids do not match: created %+v, joined %+v, peer-joined %+v", created, joined, pj)
	}
	return first, second, created.Peer, joined.Peer
}

func TestJoinHandshake(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a := dial(t, base+"Team-A")
		created := a.expect(TypeCreated)
		if created.Room != "team-a" || created.Peer == "" {
			t.Fatalf("created = %+v", created)
		}
		b := dial(t, base+"team-a")
		joined := b.expect(TypeJoined)
		if joined.Room != "team-a" || joined.Peer == created.Peer || len(joined.Peers) != 1 || joined.Peers[0] != created.Peer {
			t.Fatalf("joined = %+v", joined)
		}
		if pj := a.expect(TypePeerJoined); pj.Peer != joined.Peer {
			t.Fatalf("peer-joined = %+v, want peer %s", pj, joined.Peer)
		}

		c := dial(t, base+"team-a")
		if full := c.expect(TypeFull); full.Room != "team-a" {
			t.Fatalf("full = %+v", full)
		}
		if code := c.closeCode(); code != websocket.CloseNormalClosure {
			t.Fatalf("third joiner closed with %d, want %d", code, websocket.CloseNormalClosure)
		}
	})
}

func TestICEServersOnJoin(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		var asked []string
		_, base := newTestHub(t, be, Config{ICEServers: func(peerID string, page turn.Page) []turn.ICEServer {
			asked = append(asked, peerID+"@"+page.Host)
			return []turn.ICEServer{{URLs: []string{"turn:" + page.Host + ":3478"}, Username: "u-" + peerID, Credential: "c"}}
		}})
		a := dial(t, base+"ice")
		m := a.expect(TypeCreated)
		if len(m.ICEServers) != 1 || m.ICEServers[0].Username != "u-"+m.Peer || m.ICEServers[0].URLs[0] != "turn:127.0.0.1:3478" {
			t.Fatalf("iceServers = %+v", m.ICEServers)
		}
	})
}

func TestRelayStaysInRoom(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a, b, aID, _ := pair(t, base, "one")
		c, d, _, _ := pair(t, base, "two")

		a.sendText(`{"type":"signal","data":{"description":{"type":"offer","sdp":"v=0 <script>"}}}`)
		got := b.expect(TypeSignal)
		if got.From != aID || string(got.Data) != `{"description":{"type":"offer","sdp":"v=0 <script>"}}` {
			t.Fatalf("relayed %+v data %s", got, got.Data)
		}
		// The other room hears nothing: its next message is its own relay.
		c.sendText(`{"type":"signal","data":{"n":2}}`)
		if got := d.expect(TypeSignal); string(got.Data) != `{"n":2}` {
			t.Fatalf("room two got %s", got.Data)
		}
		b.sendText(`{"type":"signal","data":{"n":3}}`)
		if got := a.expect(TypeSignal); string(got.Data) != `{"n":3}` {
			t.Fatalf("a got %s", got.Data)
		}
	})
}

// Frames are read into shared buffers: a frame must arrive whole, with
// nothing left over from a longer one read before it.
func TestRelayFramesOfEverySize(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a, b, _, _ := pair(t, base, "sizes")
		for _, n := range []int{60_000, 10, 4_000, 0, 1_000} {
			data := `{"p":"` + strings.Repeat("x", n) + `"}`
			a.sendText(`{"type":"signal","data":` + data + `}`)
			if got := b.expect(TypeSignal); string(got.Data) != data {
				t.Fatalf("%d bytes sent, %d relayed", len(data), len(got.Data))
			}
		}
	})
}

// TestRelayBurstsKeepEveryFrame has both people in several rooms send
// bursts at once, of frames of many sizes, so that relayed frames wait in
// queues while the pooled buffers they came from are reused: every frame
// must still arrive intact and in order.
func TestRelayBurstsKeepEveryFrame(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		const rooms, frames = 4, 300
		_, base := newTestHub(t, be, Config{MessageBurst: -1, QueueSize: 2 * frames})
		payload := func(from string, i int) string {
			return fmt.Sprintf(`{"from":%q,"i":%d,"pad":%q}`, from, i, strings.Repeat(string(rune('a'+i%26)), i*37%5000))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4*rooms)
		for r := range rooms {
			a, b, aID, bID := pair(t, base, fmt.Sprintf("burst-%d", r))
			for _, c := range []struct {
				from, to *client
				id       string
			}{{a, b, aID}, {b, a, bID}} {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for i := range frames {
						msg := `{"type":"signal","data":` + payload(c.id, i) + `}`
						if err := c.from.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
							errs <- fmt.Errorf("write: %w", err)
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					_ = c.to.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					for i := range frames {
						_, frame, err := c.to.conn.ReadMessage()
						if err != nil {
							errs <- fmt.Errorf("frame %d from %s: %w", i, c.id, err)
							return
						}
						var m ServerMessage
						if err := json.Unmarshal(frame, &m); err != nil || m.Type != TypeSignal || string(m.Data) != payload(c.id, i) {
							errs <- fmt.Errorf("frame %d from %s arrived as %.80s… (err %v)", i, c.id, frame, err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestLeaveAndDrop(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		tests := []struct {
			name string
			end  func(c *client)
		}{
			{"leave message", func(c *client) { c.sendText(`{"type":"leave"}`) }},
			{"close frame", func(c *client) {
				_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			}},
			{"abrupt drop", func(c *client) { c.conn.UnderlyingConn().Close() }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hub, base := newTestHub(t, be, Config{SeatGrace: 100 * time.Millisecond})
				a, b, _, bID := pair(t, base, "room")
				tt.end(b)
				if left := a.expect(TypePeerLeft); left.Peer != bID {
					t.Fatalf("peer-left = %+v, want %s", left, bID)
				}
				// The seat is free again.
				c := dial(t, base+"room")
				c.expect(TypeJoined)
				a.expect(TypePeerJoined)
				if s := stats(t, hub); s.Rooms != 1 || s.Peers != 2 || s.Seats != 2 {
					t.Fatalf("stats = %+v", s)
				}
			})
		}
	})
}

func TestVanishedPeerDetectedByPing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{PingInterval: 50 * time.Millisecond, PongTimeout: 200 * time.Millisecond, SeatGrace: 100 * time.Millisecond})
		a := dial(t, base+"ping")
		a.expect(TypeCreated)
		// b joins but never reads, so it never answers pings: a silent peer.
		b := dial(t, base+"ping")
		_ = b
		// a keeps reading, which answers pings, so only b times out.
		a.expect(TypePeerJoined)
		a.expect(TypePeerLeft)
	})
}

func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		tests := []struct {
			name  string
			frame string
			code  string
		}{
			{"not json", `{"type":`, CodeBadMessage},
			{"json array", `[1,2]`, CodeBadMessage},
			{"missing type", `{"data":{}}`, CodeBadMessage},
			{"unknown type", `{"type":"join-all"}`, CodeBadMessage},
			{"signal without data", `{"type":"signal"}`, CodeBadMessage},
			{"signal with string data", `{"type":"signal","data":"x"}`, CodeBadMessage},
			{"signal while alone", `{"type":"signal","data":{}}`, CodeNoPeer},
		}
		_, base := newTestHub(t, be, Config{})
		a := dial(t, base+"bad")
		a.expect(TypeCreated)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a.t = t
				a.sendText(tt.frame)
				m := a.expect(TypeError)
				if m.Code != tt.code || m.Message == "" {
					t.Fatalf("error = %+v, want code %q with a message", m, tt.code)
				}
			})
		}
		// Still served after all that.
		a.t = t
		b := dial(t, base+"bad")
		b.expect(TypeJoined)
		a.expect(TypePeerJoined)
	})
}

func TestBinaryFrameRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a := dial(t, base+"bin")
		a.expect(TypeCreated)
		if err := a.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if m := a.expect(TypeError); m.Code != CodeBadMessage {
			t.Fatalf("got %+v", m)
		}
	})
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a, b, _, _ := pair(t, base, "big")
		big := `{"type":"signal","data":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`
		go func() { _ = b.conn.WriteMessage(websocket.TextMessage, []byte(big)) }()
		if code := b.closeCode(); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want %d", code, websocket.CloseMessageTooBig)
		}
		a.expect(TypePeerLeft)
		// The other peer's connection still works.
		c := dial(t, base+"big")
		c.expect(TypeJoined)
		a.expect(TypePeerJoined)
		c.sendText(`{"type":"signal","data":{"ok":true}}`)
		if m := a.expect(TypeSignal); string(m.Data) != `{"ok":true}` {
			t.Fatalf("got %s", m.Data)
		}
	})
}

func TestSlowReaderIsDisconnectedAlone(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{QueueSize: 4, WriteTimeout: 200 * time.Millisecond, MessageBurst: -1, SeatGrace: 50 * time.Millisecond})
		a, b, _, bID := pair(t, base, "slow")
		_ = b // b never reads again: its socket buffers and queue fill up

		// a's messages are read in the background, so a keeps answering pings.
		got := make(chan ServerMessage, 16)
		go func() {
			defer close(got)
			for {
				_, frame, err := a.conn.ReadMessage()
				if err != nil {
					return
				}
				var m ServerMessage
				if json.Unmarshal(frame, &m) == nil {
					got <- m
				}
			}
		}()
		_ = a.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		payload := []byte(`{"type":"signal","data":{"x":"` + strings.Repeat("z", 32<<10) + `"}}`)
		deadline := time.After(15 * time.Second)
		for {
			select {
			case m, ok := <-got:
				if !ok {
					t.Fatal("a lost its own connection")
				}
				if m.Type == TypePeerLeft && m.Peer == bID {
					return // b was dropped; a is still connected
				}
			case <-deadline:
				t.Fatal("slow reader was never disconnected")
			case <-time.After(2 * time.Millisecond):
				// Paced: a itself must not look like a flood.
				if err := a.conn.WriteMessage(websocket.TextMessage, payload); err != nil {
					t.Fatalf("a write: %v", err)
				}
			}
		}
	})
}

func TestCloseTellsPeers(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		hub, base := newTestHub(t, be, Config{})
		a, b, _, _ := pair(t, base, "bye")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- hub.Close(ctx) }()
		for _, c := range []*client{a, b} {
			if m := c.expect(TypeError); m.Code != CodeServerShutdown {
				t.Fatalf("got %+v, want server-shutdown", m)
			}
			if code := c.closeCode(); code != websocket.CloseGoingAway {
				t.Fatalf("close code %d, want %d", code, websocket.CloseGoingAway)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Late comers are refused, not seated.
		c := dial(t, base+"bye")
		if m := c.expect(TypeError); m.Code != CodeServerShutdown {
			t.Fatalf("got %+v", m)
		}
	})
}

// stats reads the hub's counts, failing the test on a store error.
func stats(t *testing.T, hub *Hub) Stats {
	t.Helper()
	st, err := hub.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPing: a ping is answered with a pong, alone in a room or not, and
// reaches nobody else.
func TestPing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a := dial(t, base+"ping")
		a.expect(TypeCreated)
		a.sendText(`{"type":"ping"}`)
		a.expect(TypePong)
		b := dial(t, base+"ping")
		b.expect(TypeJoined)
		a.expect(TypePeerJoined)
		b.sendText(`{"type":"ping"}`)
		b.expect(TypePong)
		b.sendText(`{"type":"signal","data":{"after":"ping"}}`)
		if m := a.expect(TypeSignal); string(m.Data) != `{"after":"ping"}` {
			t.Fatalf("a got %s after b's ping, want b's signal and nothing else", m.Data)
		}
	})
}

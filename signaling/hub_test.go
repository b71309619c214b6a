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

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
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
		hub.Start(conn, JoinRequest{Room: room, Page: turn.Page{Host: "127.0.0.1"}, ClientIP: ip.Addr(), SeatToken: r.URL.Query().Get("seat")})
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

func TestJoinHandshake(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a := wiretest.Dial(t, base+"Team-A", nil)
		created := a.MustExpect(wire.TypeCreated)
		if created.Room != "team-a" || created.Peer == "" {
			t.Fatalf("created = %+v", created)
		}
		b := wiretest.Dial(t, base+"team-a", nil)
		joined := b.MustExpect(wire.TypeJoined)
		if joined.Room != "team-a" || joined.Peer == created.Peer || len(joined.Peers) != 1 || joined.Peers[0] != created.Peer {
			t.Fatalf("joined = %+v", joined)
		}
		if pj := a.MustExpect(wire.TypePeerJoined); pj.Peer != joined.Peer {
			t.Fatalf("peer-joined = %+v, want peer %s", pj, joined.Peer)
		}

		c := wiretest.Dial(t, base+"team-a", nil)
		if full := c.MustExpect(wire.TypeFull); full.Room != "team-a" {
			t.Fatalf("full = %+v", full)
		}
		if code := c.MustCloseCode(); code != wire.CloseNormal {
			t.Fatalf("third joiner closed with %d, want %d", code, wire.CloseNormal)
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
		a := wiretest.Dial(t, base+"ice", nil)
		m := a.MustExpect(wire.TypeCreated)
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

		a.MustSignal(`{"description":{"type":"offer","sdp":"v=0 <script>"}}`)
		got := b.MustExpect(wire.TypeSignal)
		if got.From != aID || string(got.Data) != `{"description":{"type":"offer","sdp":"v=0 <script>"}}` {
			t.Fatalf("relayed %+v data %s", got, got.Data)
		}
		// The other room hears nothing: its next message is its own relay.
		c.MustSignal(`{"n":2}`)
		if got := d.MustExpect(wire.TypeSignal); string(got.Data) != `{"n":2}` {
			t.Fatalf("room two got %s", got.Data)
		}
		b.MustSignal(`{"n":3}`)
		if got := a.MustExpect(wire.TypeSignal); string(got.Data) != `{"n":3}` {
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
			a.MustSignal(`` + data + ``)
			if got := b.MustExpect(wire.TypeSignal); string(got.Data) != data {
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
				from, to *wiretest.Client
				id       string
			}{{a, b, aID}, {b, a, bID}} {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for i := range frames {
						if err := c.from.Signal(json.RawMessage(payload(c.id, i))); err != nil {
							errs <- fmt.Errorf("write: %w", err)
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(10 * time.Second)
					for i := range frames {
						m, err := c.to.Next(time.Until(deadline))
						if err != nil {
							errs <- fmt.Errorf("frame %d from %s: %w", i, c.id, err)
							return
						}
						if m.Type != wire.TypeSignal || string(m.Data) != payload(c.id, i) {
							errs <- fmt.Errorf("frame %d from %s arrived as %s %.80s…", i, c.id, m.Type, m.Data)
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
			end  func(c *wiretest.Client)
		}{
			{"leave message", func(c *wiretest.Client) { c.MustLeave() }},
			{"close frame", func(c *wiretest.Client) {
				_ = c.SendClose(wire.CloseNormal, "")
			}},
			{"abrupt drop", func(c *wiretest.Client) { c.Close() }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hub, base := newTestHub(t, be, Config{SeatGrace: 100 * time.Millisecond})
				a, b, _, bID := pair(t, base, "room")
				tt.end(b)
				if left := a.MustExpect(wire.TypePeerLeft); left.Peer != bID {
					t.Fatalf("peer-left = %+v, want %s", left, bID)
				}
				// The seat is free again.
				c := wiretest.Dial(t, base+"room", nil)
				c.MustExpect(wire.TypeJoined)
				a.MustExpect(wire.TypePeerJoined)
				// b's connection ends after a is told: it is counted until
				// its writer has closed it.
				waitStats(t, hub, Stats{Rooms: 1, Seats: 2, Peers: 2})
			})
		}
	})
}

func TestVanishedPeerDetectedByPing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{PingInterval: 50 * time.Millisecond, PongTimeout: 200 * time.Millisecond, SeatGrace: 100 * time.Millisecond})
		a := wiretest.Dial(t, base+"ping", nil)
		a.MustExpect(wire.TypeCreated)
		// b joins but never reads, so it never answers pings: a silent peer.
		b := wiretest.Dial(t, base+"ping", nil)
		_ = b
		// a keeps reading, which answers pings, so only b times out.
		a.MustExpect(wire.TypePeerJoined)
		a.MustExpect(wire.TypePeerLeft)
	})
}

func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		tests := []struct {
			name  string
			frame string
			code  string
		}{
			{"not json", `{"type":`, wire.CodeBadMessage},
			{"json array", `[1,2]`, wire.CodeBadMessage},
			{"missing type", `{"data":{}}`, wire.CodeBadMessage},
			{"unknown type", `{"type":"join-all"}`, wire.CodeBadMessage},
			{"signal without data", `{"type":"signal"}`, wire.CodeBadMessage},
			{"signal with string data", `{"type":"signal","data":"x"}`, wire.CodeBadMessage},
			{"signal while alone", `{"type":"signal","data":{}}`, wire.CodeNoPeer},
		}
		_, base := newTestHub(t, be, Config{})
		a := wiretest.Dial(t, base+"bad", nil)
		a.MustExpect(wire.TypeCreated)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := a.For(t)
				a.MustSendRaw(tt.frame)
				m := a.MustExpect(wire.TypeError)
				if m.Code != tt.code || m.Message == "" {
					t.Fatalf("error = %+v, want code %q with a message", m, tt.code)
				}
			})
		}
		// Still served after all that.
		b := wiretest.Dial(t, base+"bad", nil)
		b.MustExpect(wire.TypeJoined)
		a.MustExpect(wire.TypePeerJoined)
	})
}

func TestBinaryFrameRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a := wiretest.Dial(t, base+"bin", nil)
		a.MustExpect(wire.TypeCreated)
		if err := a.SendBinary([]byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if m := a.MustExpect(wire.TypeError); m.Code != wire.CodeBadMessage {
			t.Fatalf("got %+v", m)
		}
	})
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a, b, _, _ := pair(t, base, "big")
		big := json.RawMessage(`{"x":"` + strings.Repeat("a", 70<<10) + `"}`)
		go func() { _ = b.Signal(big) }()
		if code := b.MustCloseCode(); code != wire.CloseMessageTooBig {
			t.Fatalf("close code %d, want %d", code, wire.CloseMessageTooBig)
		}
		a.MustExpect(wire.TypePeerLeft)
		// The other peer's connection still works.
		c := wiretest.Dial(t, base+"big", nil)
		c.MustExpect(wire.TypeJoined)
		a.MustExpect(wire.TypePeerJoined)
		c.MustSignal(`{"ok":true}`)
		if m := a.MustExpect(wire.TypeSignal); string(m.Data) != `{"ok":true}` {
			t.Fatalf("got %s", m.Data)
		}
	})
}

// TestSlowReaderIsDisconnectedAlone: a client that keeps its connection
// alive (it sends pings, so the heartbeat does not put it out) but never
// reads is put out by its queue's bound (the write deadline a minute) or
// by the write deadline (the queue unbounded in effect): its peer is told
// at once, well before the seat's 15 s grace would end. Put out by its
// queue, the client finds a 1008 close once it reads.
func TestSlowReaderIsDisconnectedAlone(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		code int // the close the client finds; 0: none can reach it
	}{
		{"queue bound", Config{QueueSize: 4, WriteTimeout: time.Minute, MessageBurst: -1}, wire.ClosePolicyViolation},
		{"write deadline", Config{QueueSize: 1 << 20, WriteTimeout: 500 * time.Millisecond, MessageBurst: -1}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) { slowReader(t, tt.cfg, tt.code) })
	}
}

func slowReader(t *testing.T, cfg Config, wantCode int) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, cfg)
		a, b, _, bID := pair(t, base, "slow")

		// b stays alive by talking, never by reading.
		stopTalking := make(chan struct{})
		talked := make(chan struct{})
		go func() {
			defer close(talked)
			for {
				select {
				case <-stopTalking:
					return
				case <-time.After(500 * time.Millisecond):
					if b.Ping() != nil {
						return
					}
				}
			}
		}()
		// a reads in the background, so it keeps answering pings.
		got := make(chan wire.ServerMessage, 16)
		go func() {
			defer close(got)
			deadline := time.Now().Add(20 * time.Second)
			for {
				m, err := a.Next(time.Until(deadline))
				if err != nil {
					return
				}
				got <- m
			}
		}()
		payload := json.RawMessage(`{"x":"` + strings.Repeat("z", 32<<10) + `"}`)
		start := time.Now()
		deadline := time.After(10 * time.Second) // less than the seat's grace and the heartbeat's 12 s
	wait:
		for {
			select {
			case m, ok := <-got:
				if !ok {
					t.Fatal("a lost its own connection")
				}
				if m.Type == wire.TypePeerLeft && m.Peer == bID {
					break wait
				}
			case <-deadline:
				t.Fatal("the slow reader was not put out within 10 s")
			case <-time.After(2 * time.Millisecond):
				// Paced: a itself must not look like a flood.
				if err := a.Signal(payload); err != nil {
					t.Fatalf("a write: %v", err)
				}
			}
		}
		t.Logf("peer-left %v after a began sending", time.Since(start).Round(time.Millisecond))
		close(stopTalking)
		<-talked
		if wantCode == 0 {
			return
		}
		if code := b.MustCloseCode(); code != wantCode {
			t.Errorf("the slow reader was closed with %d, want %d", code, wantCode)
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
		for _, c := range []*wiretest.Client{a, b} {
			if m := c.MustExpect(wire.TypeError); m.Code != wire.CodeServerShutdown {
				t.Fatalf("got %+v, want server-shutdown", m)
			}
			if code := c.MustCloseCode(); code != wire.CloseGoingAway {
				t.Fatalf("close code %d, want %d", code, wire.CloseGoingAway)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Late comers are refused, not seated.
		c := wiretest.Dial(t, base+"bye", nil)
		if m := c.MustExpect(wire.TypeError); m.Code != wire.CodeServerShutdown {
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

// waitStats waits up to 5 s for the hub's counts to be want.
func waitStats(t *testing.T, hub *Hub, want Stats) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := stats(t, hub)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want %+v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPing: a ping is answered with a pong, alone in a room or not, and
// reaches nobody else.
func TestPing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{})
		a := wiretest.Dial(t, base+"ping", nil)
		a.MustExpect(wire.TypeCreated)
		if err := a.Ping(); err != nil {
			t.Fatal(err)
		}
		a.MustExpect(wire.TypePong)
		b := wiretest.Dial(t, base+"ping", nil)
		b.MustExpect(wire.TypeJoined)
		a.MustExpect(wire.TypePeerJoined)
		if err := b.Ping(); err != nil {
			t.Fatal(err)
		}
		b.MustExpect(wire.TypePong)
		b.MustSignal(`{"after":"ping"}`)
		if m := a.MustExpect(wire.TypeSignal); string(m.Data) != `{"after":"ping"}` {
			t.Fatalf("a got %s after b's ping, want b's signal and nothing else", m.Data)
		}
	})
}

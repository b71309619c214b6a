package main

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// cutProxy forwards TCP connections to a target and can cut them all at
// once, the way a network failure does: a reset, no WebSocket close frame.
type cutProxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{} // guarded by mu; both ends of each pair
	wg    sync.WaitGroup
}

// close stops accepting: pages behind it cannot reconnect.
func (p *cutProxy) close() { p.ln.Close() }

func startProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(client, server)
		go p.pipe(server, client)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut resets every live connection and returns how many pairs it cut.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST, like a dead network
		}
		c.Close()
	}
	n := len(p.conns) / 2
	clear(p.conns)
	return n
}

// iceUfragJS reads the ICE username fragment of the page's newest peer
// connection and its states: an ICE restart changes the fragment.
const iceUfragJS = `(() => {
  const pc = (window.__pcs || []).at(-1);
  if (!pc || !pc.localDescription) return { ufrag: "", signaling: "", connection: "" };
  const m = pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/);
  return { ufrag: m ? m[1] : "", signaling: pc.signalingState, connection: pc.connectionState };
})()`

type iceState struct {
	Ufrag      string `json:"ufrag"`
	Signaling  string `json:"signaling"`
	Connection string `json:"connection"`
}

// TestBrowserCallSurvivesSignalingCut cuts both signaling connections under
// a live call: the media must keep flowing on the same peer connections,
// both pages must take their own seats back, and negotiation must work
// afterwards (an ICE restart goes through the resumed signaling).
func TestBrowserCallSurvivesSignalingCut(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	proxy := startProxy(t, srv.addr())
	tabs := openCall(t, execPath, proxy.URL()+"/r/"+roomName(t))

	var pcsBefore [2]int
	for i, tb := range tabs {
		n, err := evaluate[int](tb, peerConnectionCountJS)
		if err != nil {
			t.Fatal(err)
		}
		pcsBefore[i] = n
	}
	acceptedBefore := proxy.accepted.Load()
	if n := proxy.cut(); n < 2 {
		t.Fatalf("cut %d connections, want at least the two WebSockets", n)
	}
	// Both pages reconnect signaling by themselves.
	deadline := time.Now().Add(waitTimeout)
	for proxy.accepted.Load() < acceptedBefore+2 {
		if time.Now().After(deadline) {
			t.Fatalf("pages reconnected %d times, want 2", proxy.accepted.Load()-acceptedBefore)
		}
		time.Sleep(pollInterval)
	}
	for i, tb := range tabs {
		if err := remoteVideoPlays(tb); err != nil {
			t.Fatalf("after the cut: %v", err)
		}
		if err := waitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		if n, err := evaluate[int](tb, peerConnectionCountJS); err != nil || n != pcsBefore[i] {
			t.Fatalf("%s: %d peer connections after the cut, want the same %d (err %v)", tb.name, n, pcsBefore[i], err)
		}
	}

	// Signaling works again: an ICE restart needs an offer and an answer.
	before, err := evaluate[iceState](tabs[1], iceUfragJS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evaluate[any](tabs[1], `(window.__pcs.at(-1).restartIce(), null)`); err != nil {
		t.Fatal(err)
	}
	after, err := poll(tabs[1], iceUfragJS, func(s iceState) bool {
		return s.Ufrag != before.Ufrag && s.Signaling == "stable" && s.Connection == "connected"
	})
	if err != nil {
		t.Fatalf("ICE restart over resumed signaling did not complete: %+v: %v", after, err)
	}
}

// TestBrowserCallSurvivesServerRestart restarts the whole server, TURN
// included, under a relay-only call. Nobody reloads: the pages reconnect,
// get fresh TURN credentials and restart ICE, and the video comes back.
func TestBrowserCallSurvivesServerRestart(t *testing.T) {
	execPath := findChromium(t)
	ports := []string{
		"-addr", "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"-turn-addr", "127.0.0.1:" + strconv.Itoa(freePort(t)),
	}
	srv := startServer(t, ports...)
	tabs := openCall(t, execPath, srv.roomURL(roomName(t), "relay=1"))
	for _, tb := range tabs {
		if _, err := evaluate[any](tb, `(window.__sameDocument = true, null)`); err != nil {
			t.Fatal(err)
		}
	}

	srv.stop()
	restarted := time.Now()
	startServer(t, ports...) // same ports, new TURN secret, empty rooms

	for _, tb := range tabs {
		if err := remoteVideoPlays(tb); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
		if err := waitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		same, err := evaluate[bool](tb, `window.__sameDocument === true`)
		if err != nil || !same {
			t.Fatalf("%s was reloaded (err %v)", tb.name, err)
		}
		pair, err := selectedCandidateTypes(tb)
		if err != nil {
			t.Fatal(err)
		}
		if pair.Local != "relay" {
			t.Errorf("%s: %s after the restart, want relay", tb.name, pair)
		}
	}
	t.Logf("call back %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
}

// TestBrowserVanishedPeer: one person's network dies for good (no goodbye,
// no reconnect). The other is told peer-left within 30 s, and the seat is
// free for someone else.
func TestBrowserVanishedPeer(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	stays, vanishes := startProxy(t, srv.addr()), startProxy(t, srv.addr())
	room := roomName(t)
	tab1, tab2 := newTab(t, execPath, "tab1"), newTab(t, execPath, "tab2")
	for _, open := range []struct {
		tb  *tab
		url string
	}{{tab1, stays.URL() + "/r/" + room}, {tab2, vanishes.URL() + "/r/" + room}} {
		if err := navigate(open.tb, open.url); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range []*tab{tab1, tab2} {
		if err := waitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
	}

	vanishes.close()
	vanishes.cut()
	start := time.Now()
	st, err := poll(tab1, statusJS, func(s pageStatus) bool { return s.State == "peer-left" })
	if err != nil {
		t.Fatalf("tab1 never saw peer-left: %+v: %v", st, err)
	}
	took := time.Since(start)
	t.Logf("peer-left after %v", took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Fatalf("peer-left after %v, want within 30s", took)
	}
	// The seat is free: a newcomer joins the one who stayed.
	if m := dialRoom(t, srv, room); m.Type != "joined" {
		t.Fatalf("newcomer got %q, want joined", m.Type)
	}
}

// dialRoom joins room over signaling and returns the first message.
func dialRoom(t *testing.T, srv testServer, room string) wireMessage {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(srv.wsURL(room), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return readMessage(t, conn)
}

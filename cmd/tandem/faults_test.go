package main

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/signaling/wire"
)

// cutProxy forwards TCP connections to a target and can cut them all at
// once, the way a network failure does: a reset, no WebSocket close frame.
type cutProxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	refuse   atomic.Bool // reset new connections at once: the network is down

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
		if p.refuse.Load() {
			if tc, ok := client.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, as from a network that is down
			}
			client.Close()
			continue
		}
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
	waitAccepted(t, proxy, acceptedBefore+1) // both pages reconnect signaling by themselves
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
	before := iceNow(t, tabs[1])
	restartICE(t, tabs[1])
	if after, err := newICE(tabs[1], before); err != nil {
		t.Fatalf("ICE restart over resumed signaling did not complete: %+v: %v", after, err)
	}
}

// iceNow reads tb's newest peer connection's ICE state.
func iceNow(t *testing.T, tb *tab) iceState {
	t.Helper()
	s, err := evaluate[iceState](tb, iceUfragJS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// restartICE restarts ICE on tb's newest peer connection.
func restartICE(t *testing.T, tb *tab) {
	t.Helper()
	if _, err := evaluate[any](tb, `(window.__pcs.at(-1).restartIce(), null)`); err != nil {
		t.Fatal(err)
	}
}

// newICE waits until tb's newest peer connection has new ICE credentials
// (a restart went through: an offer and an answer) and is connected.
func newICE(tb *tab, before iceState) (iceState, error) {
	return poll(tb, iceUfragJS, func(s iceState) bool {
		return s.Ufrag != before.Ufrag && s.Signaling == "stable" && s.Connection == "connected"
	})
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
	if m := dialRoom(t, srv, room); m.Type != wire.TypeJoined {
		t.Fatalf("newcomer got %q, want joined", m.Type)
	}
}

// callApart starts a server and a call between two tabs, each behind its
// own proxy, so that one tab's network can fail alone.
func callApart(t *testing.T) ([2]*cutProxy, [2]*tab) {
	t.Helper()
	srv := startServer(t)
	room := "/r/" + roomName(t)
	proxies := [2]*cutProxy{startProxy(t, srv.addr()), startProxy(t, srv.addr())}
	return proxies, openCallAt(t, findChromium(t), [2]string{proxies[0].URL() + room, proxies[1].URL() + room})
}

// waitAccepted waits until p has accepted more than n connections.
func waitAccepted(t *testing.T, p *cutProxy, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for p.accepted.Load() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy accepted %d connections in all, want more than %d", p.accepted.Load(), n)
		}
		time.Sleep(pollInterval)
	}
}

// TestBrowserHangUpWhileAway: hanging up while the network is down ends
// the call for good. The reconnect that was pending used to fire once the
// network was back and join the room again, as a new person.
func TestBrowserHangUpWhileAway(t *testing.T) {
	proxies, tabs := callApart(t)
	p := proxies[1]
	p.refuse.Store(true)
	tried := p.accepted.Load()
	p.cut()
	waitAccepted(t, p, tried) // a reconnect failed; the next is pending
	if err := click(tabs[1], "hang-up"); err != nil {
		t.Fatal(err)
	}
	p.refuse.Store(false)
	before := p.accepted.Load()
	time.Sleep(4 * time.Second) // longer than the pending reconnect's delay (~1 s)
	if n := p.accepted.Load() - before; n != 0 {
		t.Fatalf("the page connected %d times after hanging up", n)
	}
	if err := waitState(tabs[1], "waiting"); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserRejoinAfterSeatExpired: a page whose network was down for
// longer than the server holds its seat comes back as a new person. The
// call must connect again and settle. It used to start a new peer
// connection on each side for every answer, in a loop, until the server
// put it out for flooding.
func TestBrowserRejoinAfterSeatExpired(t *testing.T) {
	proxies, tabs := callApart(t)
	p := proxies[1]
	p.refuse.Store(true)
	p.cut()
	if err := waitState(tabs[0], "peer-left"); err != nil { // the seat's 15 s grace ran out
		t.Fatal(err)
	}
	p.refuse.Store(false)
	for _, tb := range tabs {
		if err := waitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		if err := remoteVideoPlays(tb); err != nil {
			t.Fatal(err)
		}
	}
	var before [2]int
	for i, tb := range tabs {
		n, err := evaluate[int](tb, peerConnectionCountJS)
		if err != nil {
			t.Fatal(err)
		}
		before[i] = n
	}
	time.Sleep(3 * time.Second)
	for i, tb := range tabs {
		if n, err := evaluate[int](tb, peerConnectionCountJS); err != nil || n != before[i] {
			t.Errorf("%s: %d peer connections 3 s after connecting, was %d (err %v): negotiation did not settle", tb.name, n, before[i], err)
		}
		if err := waitState(tb, "connected"); err != nil {
			t.Error(err)
		}
	}
}

// TestBrowserOfferLostWhileAway: the impolite side restarts ICE while the
// polite side's network is down, so its offer is answered no-peer and
// lost; back, the polite side offers too. The impolite side ignores that
// offer (its own wins), and used to wait for an answer to the lost one
// for good, as did the other side: negotiation was stuck until a reload.
// It now sends its offer again.
func TestBrowserOfferLostWhileAway(t *testing.T) {
	proxies, tabs := callApart(t) // tab1 joined first: it is the polite side
	p := proxies[0]
	p.refuse.Store(true)
	tried := p.accepted.Load()
	p.cut()
	waitAccepted(t, p, tried) // tab1 is away, trying to reconnect
	before := iceNow(t, tabs[1])
	restartICE(t, tabs[1])
	if _, err := poll(tabs[1], iceUfragJS, func(s iceState) bool { return s.Signaling == "have-local-offer" }); err != nil {
		t.Fatalf("tab2 made no offer: %v", err)
	}
	back := p.accepted.Load()
	p.refuse.Store(false)
	waitAccepted(t, p, back) // tab1 takes its seat back
	if err := waitState(tabs[0], "connected"); err != nil {
		t.Fatal(err)
	}
	restartICE(t, tabs[0])
	if after, err := newICE(tabs[1], before); err != nil {
		t.Fatalf("negotiation did not complete: tab2 %+v: %v", after, err)
	}
}

// TestBrowserDuplicatedTab: a duplicated tab carries the seat token and
// takes the seat. The tab it replaced stops there, and says why; it used
// to reconnect and take the seat back, and the two fought over it, making
// a new peer connection with the other person each time. The duplicate
// then carries on the call, as a tab the browser restores would.
func TestBrowserDuplicatedTab(t *testing.T) {
	proxies, tabs := callApart(t)
	storage, err := evaluate[string](tabs[1], `JSON.stringify(Object.fromEntries(Object.entries(sessionStorage)))`)
	if err != nil {
		t.Fatal(err)
	}
	path, err := evaluate[string](tabs[1], `location.pathname`)
	if err != nil {
		t.Fatal(err)
	}
	// The duplicate, behind a proxy of its own: what tab2 does shows apart.
	own := startProxy(t, proxies[1].target)
	dup := newTab(t, findChromium(t), "dup")
	if err := load(dup, own.URL()+"/healthz"); err != nil { // its origin, for its storage
		t.Fatal(err)
	}
	if _, err := evaluate[any](dup, `(Object.entries(`+storage+`).forEach(([k, v]) => sessionStorage.setItem(k, v)), null)`); err != nil {
		t.Fatal(err)
	}
	if err := load(dup, own.URL()+path); err != nil { // back in the call at once, as a reloaded page is
		t.Fatal(err)
	}
	if err := waitState(tabs[1], "waiting"); err != nil {
		t.Fatal(err)
	}
	if title, err := evaluate[string](tabs[1], `document.getElementById("ended-title").textContent`); err != nil || title != "The call went on in another tab" {
		t.Errorf("the replaced tab says %q (%v)", title, err)
	}
	before := proxies[1].accepted.Load()
	time.Sleep(3 * time.Second) // several reconnect delays
	if n := proxies[1].accepted.Load() - before; n != 0 {
		t.Errorf("the replaced tab connected %d times again", n)
	}
	// The duplicate carries on the call: it plays tab2's role (the one
	// that offers), which it took from the storage with the seat.
	for _, tb := range []*tab{tabs[0], dup} {
		if err := waitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		if err := remoteVideoPlays(tb); err != nil {
			t.Fatal(err)
		}
	}
}

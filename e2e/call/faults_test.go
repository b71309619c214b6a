package call

import (
	"strconv"
	"testing"
	"time"

	"tandem/e2e/harness"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

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
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	proxy := harness.StartProxy(t, srv.Addr)
	tabs := harness.OpenCall(t, proxy.URL()+"/r/"+harness.RoomName(t))

	var pcsBefore [2]int
	for i, tb := range tabs {
		n, err := harness.Eval[int](tb, harness.PeerConnectionCountJS)
		if err != nil {
			t.Fatal(err)
		}
		pcsBefore[i] = n
	}
	acceptedBefore := proxy.Accepted()
	if n := proxy.Cut(); n < 2 {
		t.Fatalf("cut %d connections, want at least the two WebSockets", n)
	}
	proxy.WaitAccepted(t, acceptedBefore+1) // both pages reconnect signaling by themselves
	for i, tb := range tabs {
		if err := harness.RemoteVideoPlays(tb); err != nil {
			t.Fatalf("after the cut: %v", err)
		}
		if err := harness.WaitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		if n, err := harness.Eval[int](tb, harness.PeerConnectionCountJS); err != nil || n != pcsBefore[i] {
			t.Fatalf("%s: %d peer connections after the cut, want the same %d (err %v)", tb, n, pcsBefore[i], err)
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
func iceNow(t *testing.T, tb *harness.Chromium) iceState {
	t.Helper()
	s, err := harness.Eval[iceState](tb, iceUfragJS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// restartICE restarts ICE on tb's newest peer connection.
func restartICE(t *testing.T, tb *harness.Chromium) {
	t.Helper()
	if _, err := harness.Eval[any](tb, `(window.__pcs.at(-1).restartIce(), null)`); err != nil {
		t.Fatal(err)
	}
}

// newICE waits until tb's newest peer connection has new ICE credentials
// (a restart went through: an offer and an answer) and is connected.
func newICE(tb *harness.Chromium, before iceState) (iceState, error) {
	return harness.Poll(tb, iceUfragJS, func(s iceState) bool {
		return s.Ufrag != before.Ufrag && s.Signaling == "stable" && s.Connection == "connected"
	})
}

// TestBrowserCallSurvivesServerRestart restarts the whole server, TURN
// included, under a relay-only call. Nobody reloads: the pages reconnect,
// get fresh TURN credentials and restart ICE, and the video comes back.
func TestBrowserCallSurvivesServerRestart(t *testing.T) {
	harness.NeedChromium(t)
	ports := []string{
		"-addr", "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)),
		"-turn-addr", "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)),
	}
	srv := tandem.StartServer(t, ports...)
	tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), "relay=1"))
	for _, tb := range tabs {
		if _, err := harness.Eval[any](tb, `(window.__sameDocument = true, null)`); err != nil {
			t.Fatal(err)
		}
	}

	srv.Stop()
	restarted := time.Now()
	tandem.StartServer(t, ports...) // same ports, new TURN secret, empty rooms

	for _, tb := range tabs {
		if err := harness.RemoteVideoPlays(tb); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
		if err := harness.WaitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		same, err := harness.Eval[bool](tb, `window.__sameDocument === true`)
		if err != nil || !same {
			t.Fatalf("%s was reloaded (err %v)", tb, err)
		}
		pair, err := harness.SelectedPair(tb)
		if err != nil {
			t.Fatal(err)
		}
		if pair.Local != "relay" {
			t.Errorf("%s: %s after the restart, want relay", tb, pair)
		}
	}
	t.Logf("call back %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
}

// TestBrowserVanishedPeer: one person's network dies for good (no goodbye,
// no reconnect). The other is told peer-left within 30 s, and the seat is
// free for someone else.
func TestBrowserVanishedPeer(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	stays, vanishes := harness.StartProxy(t, srv.Addr), harness.StartProxy(t, srv.Addr)
	room := harness.RoomName(t)
	tab1, tab2 := harness.StartChromium(t, "tab1"), harness.StartChromium(t, "tab2")
	for _, open := range []struct {
		tb  *harness.Chromium
		url string
	}{{tab1, stays.URL() + "/r/" + room}, {tab2, vanishes.URL() + "/r/" + room}} {
		if err := harness.Join(open.tb, open.url); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range []*harness.Chromium{tab1, tab2} {
		if err := harness.WaitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
	}

	vanishes.Close()
	vanishes.Cut()
	start := time.Now()
	st, err := harness.Poll(tab1, harness.StatusJS, func(s harness.Status) bool { return s.State == "peer-left" })
	if err != nil {
		t.Fatalf("tab1 never saw peer-left: %+v: %v", st, err)
	}
	took := time.Since(start)
	t.Logf("peer-left after %v", took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Fatalf("peer-left after %v, want within 30s", took)
	}
	// The seat is free: a newcomer joins the one who stayed.
	if m := wiretest.Dial(t, srv.WSURL(room), nil).MustNext(); m.Type != wire.TypeJoined {
		t.Fatalf("newcomer got %q, want joined", m.Type)
	}
}

// TestBrowserVanishedPeerSilently: one person's network starts losing
// every packet, with no reset and no FIN (the most common way a phone
// drops off). The server's heartbeat notices: the other is told
// peer-left within 30 s, as docs/protocol.md says.
func TestBrowserVanishedPeerSilently(t *testing.T) {
	proxies, tabs := callApart(t)
	proxies[1].BlackHole()
	start := time.Now()
	if st, err := harness.Poll(tabs[0], harness.StatusJS, func(s harness.Status) bool { return s.State == "peer-left" }); err != nil {
		if _, err := harness.Poll(tabs[0], harness.StatusJS, func(s harness.Status) bool { return s.State == "peer-left" }); err != nil {
			t.Fatalf("%s never saw peer-left: %+v: %v", tabs[0], st, err)
		}
	}
	took := time.Since(start)
	t.Logf("peer-left %v after the network went silent", took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("peer-left after %v, want within 30 s", took)
	}
}

// callApart starts a server and a call between two tabs, each behind its
// own proxy, so that one tab's network can fail alone.
func callApart(t *testing.T) ([2]*harness.CutProxy, [2]*harness.Chromium) {
	t.Helper()
	srv := tandem.StartServer(t)
	room := "/r/" + harness.RoomName(t)
	proxies := [2]*harness.CutProxy{harness.StartProxy(t, srv.Addr), harness.StartProxy(t, srv.Addr)}
	return proxies, harness.OpenCallAt(t, [2]string{proxies[0].URL() + room, proxies[1].URL() + room})
}

// TestBrowserHangUpWhileAway: hanging up while the network is down ends
// the call for good. The reconnect that was pending used to fire once the
// network was back and join the room again, as a new person.
func TestBrowserHangUpWhileAway(t *testing.T) {
	proxies, tabs := callApart(t)
	p := proxies[1]
	p.Refuse(true)
	tried := p.Accepted()
	p.Cut()
	p.WaitAccepted(t, tried) // a reconnect failed; the next is pending
	if err := harness.Click(tabs[1], "hang-up"); err != nil {
		t.Fatal(err)
	}
	p.Refuse(false)
	before := p.Accepted()
	time.Sleep(4 * time.Second) // longer than the pending reconnect's delay (~1 s)
	if n := p.Accepted() - before; n != 0 {
		t.Fatalf("the page connected %d times after hanging up", n)
	}
	if err := harness.WaitState(tabs[1], "waiting"); err != nil {
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
	p.Refuse(true)
	p.Cut()
	if err := harness.WaitState(tabs[0], "peer-left"); err != nil { // the seat's 15 s grace ran out
		t.Fatal(err)
	}
	p.Refuse(false)
	for _, tb := range tabs {
		if err := harness.WaitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		if err := harness.RemoteVideoPlays(tb); err != nil {
			t.Fatal(err)
		}
	}
	var before [2]int
	for i, tb := range tabs {
		n, err := harness.Eval[int](tb, harness.PeerConnectionCountJS)
		if err != nil {
			t.Fatal(err)
		}
		before[i] = n
	}
	time.Sleep(3 * time.Second)
	for i, tb := range tabs {
		if n, err := harness.Eval[int](tb, harness.PeerConnectionCountJS); err != nil || n != before[i] {
			t.Errorf("%s: %d peer connections 3 s after connecting, was %d (err %v): negotiation did not settle", tb, n, before[i], err)
		}
		if err := harness.WaitState(tb, "connected"); err != nil {
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
	p.Refuse(true)
	tried := p.Accepted()
	p.Cut()
	p.WaitAccepted(t, tried) // tab1 is away, trying to reconnect
	before := iceNow(t, tabs[1])
	restartICE(t, tabs[1])
	if _, err := harness.Poll(tabs[1], iceUfragJS, func(s iceState) bool { return s.Signaling == "have-local-offer" }); err != nil {
		t.Fatalf("tab2 made no offer: %v", err)
	}
	back := p.Accepted()
	p.Refuse(false)
	p.WaitAccepted(t, back) // tab1 takes its seat back
	if err := harness.WaitState(tabs[0], "connected"); err != nil {
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
	storage, err := harness.Eval[string](tabs[1], `JSON.stringify(Object.fromEntries(Object.entries(sessionStorage)))`)
	if err != nil {
		t.Fatal(err)
	}
	path, err := harness.Eval[string](tabs[1], `location.pathname`)
	if err != nil {
		t.Fatal(err)
	}
	// The duplicate, behind a proxy of its own: what tab2 does shows apart.
	own := harness.StartProxy(t, proxies[1].Target())
	dup := harness.StartChromium(t, "dup")
	if err := harness.Load(dup, own.URL()+"/healthz"); err != nil { // its origin, for its storage
		t.Fatal(err)
	}
	if _, err := harness.Eval[any](dup, `(Object.entries(`+storage+`).forEach(([k, v]) => sessionStorage.setItem(k, v)), null)`); err != nil {
		t.Fatal(err)
	}
	if err := harness.Load(dup, own.URL()+path); err != nil { // back in the call at once, as a reloaded page is
		t.Fatal(err)
	}
	if err := harness.WaitState(tabs[1], "waiting"); err != nil {
		t.Fatal(err)
	}
	if title, err := harness.Eval[string](tabs[1], `document.getElementById("ended-title").textContent`); err != nil || title != "The call went on in another tab" {
		t.Errorf("the replaced tab says %q (%v)", title, err)
	}
	before := proxies[1].Accepted()
	time.Sleep(3 * time.Second) // several reconnect delays
	if n := proxies[1].Accepted() - before; n != 0 {
		t.Errorf("the replaced tab connected %d times again", n)
	}
	// The duplicate carries on the call: it plays tab2's role (the one
	// that offers), which it took from the storage with the seat.
	for _, tb := range []*harness.Chromium{tabs[0], dup} {
		if err := harness.WaitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
		if err := harness.RemoteVideoPlays(tb); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserRestartWhileReconnecting: the impolite side restarts ICE
// while its signaling is down and reconnecting; its offer is kept and
// sent once it has its seat back, and the restart completes on both
// sides: new ICE credentials, stable, connected, the same page.
func TestBrowserRestartWhileReconnecting(t *testing.T) {
	proxies, tabs := callApart(t) // tab2 joined second: it offers
	p := proxies[1]
	p.Refuse(true)
	tried := p.Accepted()
	p.Cut()
	p.WaitAccepted(t, tried) // tab2 is reconnecting
	before := [2]iceState{iceNow(t, tabs[0]), iceNow(t, tabs[1])}
	restartICE(t, tabs[1])
	if _, err := harness.Poll(tabs[1], iceUfragJS, func(s iceState) bool { return s.Signaling == "have-local-offer" }); err != nil {
		t.Fatalf("tab2 made no offer: %v", err)
	}
	back := p.Accepted()
	p.Refuse(false)
	p.WaitAccepted(t, back)
	for i, tb := range tabs {
		if after, err := newICE(tb, before[i]); err != nil {
			t.Fatalf("%s: the restart did not complete: %+v: %v", tb, after, err)
		}
		if err := harness.RemoteVideoPlays(tb); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := harness.Eval[int](tabs[1], harness.PeerConnectionCountJS); err != nil || n != 1 {
		t.Errorf("tab2 made %d peer connections (err %v), want the one it had", n, err)
	}
}

package connectivity

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/e2e/bidi"
	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

// browserCell is a call between two real browsers on the real call page,
// each in a site of its kind.
type browserCell struct {
	a, b     netlab.Kind
	aFirefox bool // a is Firefox ESR; else both are Chromium
	relay    bool // the call must go through the relay
}

func (c browserCell) String() string {
	a := "chromium"
	if c.aFirefox {
		a = "firefox"
	}
	return fmt.Sprintf("%s-%v-chromium-%v", a, c.a, c.b)
}

// browserCellResult is what a browser cell did.
type browserCellResult struct {
	browserCell
	pairs   [2]harness.CandidatePair
	elapsed time.Duration // from the second Join to both connected
}

// TestBrowserCells: headless Chromium on both sides for the cells where
// browsers matter most (a symmetric NAT against a port-restricted one and
// against another, and two networks that pass only HTTPS), and Firefox ESR
// against Chromium across NATs. Every call connects and plays, through the
// relay, over TLS on port 443 from a site that passes nothing else.
func TestBrowserCells(t *testing.T) {
	netlab.Require(t)
	harness.NeedChromium(t)
	lab := netlab.Start(t, netlab.Options{})
	srv := startServer(t, lab)
	cells := []browserCell{
		{a: netlab.EasyNAT, b: netlab.HardNAT, relay: true},
		{a: netlab.HardNAT, b: netlab.HardNAT, relay: true},
		{a: netlab.Only443, b: netlab.Only443, relay: true},
		{a: netlab.EasyNAT, b: netlab.HardNAT, aFirefox: true, relay: true},
	}
	var results []browserCellResult
	for _, c := range cells {
		t.Run(c.String(), func(t *testing.T) {
			res, err := runBrowserCell(t, lab, srv, c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: connected in %v; %s: %s; %s: %s", c, res.elapsed.Round(10*time.Millisecond),
				c.a, res.pairs[0].Path(), c.b, res.pairs[1].Path())
			checkBrowserPairs(t, res)
			results = append(results, res)
		})
	}
	var b strings.Builder
	b.WriteString(recorded("the first tab joined first; each side names its selected pair, local (with how it reaches its relay) → remote."))
	b.WriteString("| call: first ↔ second | browsers | connected | first's pair | second's pair | time to connected |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		browsers := "Chromium ↔ Chromium"
		if r.aFirefox {
			browsers = "Firefox ESR ↔ Chromium"
		}
		fmt.Fprintf(&b, "| %v ↔ %v | %s | yes | %s | %s | %.2f s |\n", r.a, r.b, browsers, r.pairs[0].Path(), r.pairs[1].Path(), r.elapsed.Seconds())
	}
	writeDocs(t, "browsers", b.String())
}

// runBrowserCell opens the call in a browser in each of two new sites.
func runBrowserCell(t *testing.T, lab *netlab.Lab, srv *labServer, c browserCell) (browserCellResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sites := [2]*netlab.Site{}
	for i, kind := range []netlab.Kind{c.a, c.b} {
		s, err := lab.AddSite(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		sites[i] = s
	}
	var pages [2]harness.Page
	if c.aFirefox {
		pages[0] = startFirefox(t, lab, sites[0].Host(), "firefox/"+c.a.String())
	} else {
		pages[0] = startChromium(t, lab, sites[0].Host(), "chromium/"+c.a.String(), srv.certFile)
	}
	pages[1] = startChromium(t, lab, sites[1].Host(), "chromium/"+c.b.String(), srv.certFile)

	url := fmt.Sprintf("https://%s/r/%s", srv.ip, harness.RoomName(t))
	if err := harness.Join(pages[0], url); err != nil {
		return browserCellResult{}, err
	}
	if err := harness.WaitState(pages[0], "waiting"); err != nil {
		return browserCellResult{}, err
	}
	t0 := time.Now()
	if err := harness.Join(pages[1], url); err != nil {
		return browserCellResult{}, err
	}
	res := browserCellResult{browserCell: c}
	for _, p := range pages {
		if err := harness.WaitState(p, "connected"); err != nil {
			return res, err
		}
	}
	res.elapsed = time.Since(t0)
	for i, p := range pages {
		if err := harness.RemoteVideoPlays(p); err != nil {
			return res, err
		}
		pair, err := harness.SelectedPair(p)
		if err != nil {
			return res, fmt.Errorf("%s: %w", p, err)
		}
		res.pairs[i] = pair
	}
	return res, nil
}

// checkBrowserPairs checks the path each side's connection took.
func checkBrowserPairs(t *testing.T, res browserCellResult) {
	t.Helper()
	relayed := false
	for i, kind := range []netlab.Kind{res.a, res.b} {
		p := res.pairs[i]
		if p.Local == "relay" || p.Remote == "relay" {
			relayed = true
		}
		if want := relayProtocols(kind); want != nil && (p.Local != "relay" || !slices.Contains(want, p.RelayProtocol)) {
			t.Errorf("%v side took %s, want a relay of its own over %v", kind, p.Path(), want)
		}
	}
	if res.relay && !relayed {
		t.Errorf("%s went direct (%s; %s), want the relay", res.browserCell, res.pairs[0].Path(), res.pairs[1].Path())
	}
}

// startFirefox runs Firefox ESR inside the namespace ns and returns its
// tab, which records its RTCPeerConnections. It is reached over WebDriver
// BiDi through a socket made inside ns. Firefox takes the server's
// self-signed certificate for pages (acceptInsecureCerts); its TURN over
// TLS would not, so the cells put it where UDP gets through.
func startFirefox(t *testing.T, lab *netlab.Lab, ns, name string) *harness.Firefox {
	t.Helper()
	return harness.StartFirefox(t, name, bidi.Options{
		Command:             []string{"ip", "netns", "exec", ns},
		AcceptInsecureCerts: true,
		Prefs: map[string]any{
			// As for a person who has not granted the camera for good: host
			// candidates are mDNS names, which the other site cannot resolve.
			"media.peerconnection.ice.obfuscate_host_addresses": true,
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return lab.DialContext(ctx, ns, network, addr)
		},
	})
}

// continuityJS says whether the page is the one loaded before (no reload
// since window.__mark was set), how many RTCPeerConnections it made, and
// which states #status has taken.
const continuityJS = `({ mark: window.__mark === 1, pcs: (window.__pcs || []).length, states: window.__states || [] })`

type continuity struct {
	Mark   bool     `json:"mark"`
	PCs    int      `json:"pcs"`
	States []string `json:"states"`
}

// TestBrowserNetworkChange: mid-call, one side's network changes its public
// address (a laptop moving to another NAT, a phone leaving Wi-Fi); the
// call carries on by itself through an ICE restart: no reload, no new
// peer connection, and neither side ever sees the other leave.
func TestBrowserNetworkChange(t *testing.T) {
	netlab.Require(t)
	harness.NeedChromium(t)
	lab := netlab.Start(t, netlab.Options{})
	srv := startServer(t, lab)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var sites [2]*netlab.Site
	var pages [2]harness.Page
	for i := range sites {
		s, err := lab.AddSite(ctx, netlab.EasyNAT)
		if err != nil {
			t.Fatal(err)
		}
		sites[i] = s
		pages[i] = startChromium(t, lab, s.Host(), fmt.Sprintf("chromium/easynat-%d", i+1), srv.certFile)
	}
	url := fmt.Sprintf("https://%s/r/network-change", srv.ip)
	for i, p := range pages {
		if err := harness.Join(p, url); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := harness.WaitState(p, "waiting"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range pages {
		if err := harness.WaitState(p, "connected"); err != nil {
			t.Fatal(err)
		}
		if err := harness.RemoteVideoPlays(p); err != nil {
			t.Fatal(err)
		}
		if err := p.Eval(ctx, `(window.__mark = 1, window.__states = [], true)`, new(bool)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := harness.SelectedPair(pages[1])
	if err != nil {
		t.Fatal(err)
	}
	code, err := harness.SameVerificationCode(pages[0], pages[1])
	if err != nil {
		t.Fatal(err)
	}

	old := sites[0].PublicIP()
	moved, err := sites[0].ChangePublicIP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	t.Logf("site 1 moved from %s to %s; the other side saw it at %s", old, moved, before.RemoteAddress)
	// The other side's connection reaches the new address.
	after, err := harness.Poll(pages[1], harness.SelectedPairJS, func(p harness.CandidatePair) bool {
		return strings.HasPrefix(p.RemoteAddress, moved.String()+":") || p.Remote == "relay"
	})
	if err != nil {
		for _, p := range pages {
			var c continuity
			_ = p.Eval(ctx, continuityJS, &c)
			var st harness.Status
			_ = p.Eval(ctx, harness.StatusJS, &st)
			var dbg any
			_ = p.Eval(ctx, debugJS, &dbg)
			t.Logf("%s: status %q (%q), states %v, %d peer connections; %v", p, st.State, st.Text, c.States, c.PCs, dbg)
		}
		t.Fatalf("the call did not move to %s: last pair %s (%s): %v", moved, after.Path(), after.RemoteAddress, err)
	}
	for _, p := range pages {
		if err := harness.WaitState(p, "connected"); err != nil {
			t.Fatal(err)
		}
	}
	recovered := time.Since(t0)
	for _, p := range pages {
		if err := harness.RemoteVideoPlays(p); err != nil {
			for _, q := range pages {
				var dbg any
				_ = q.Eval(ctx, debugJS, &dbg)
				t.Logf("%s: %v", q, dbg)
			}
			t.Fatal(err)
		}
		var c continuity
		if err := p.Eval(ctx, continuityJS, &c); err != nil {
			t.Fatal(err)
		}
		if !c.Mark || c.PCs != 1 || slices.Contains(c.States, "peer-left") {
			t.Errorf("%s: reloaded %t, %d peer connections, states %v; want the same page and connection, the other never gone",
				p, !c.Mark, c.PCs, c.States)
		}
		t.Logf("%s: states after the move %v", p, c.States)
	}
	// An ICE restart keeps the DTLS transport, and so the code.
	if after, err := harness.SameVerificationCode(pages[0], pages[1]); err != nil || after != code {
		t.Errorf("verification code %s before the move, %s after (%v); want it kept", code, after, err)
	}
	t.Logf("the call carried on %v after the move, now %s → %s", recovered.Round(100*time.Millisecond), after.Path(), after.RemoteAddress)
	writeDocs(t, "network-change", recorded(fmt.Sprintf(
		"two Chromium tabs, each behind an easynat. The first site's router moved from %s to %s mid-call; "+
			"both tabs were connected again %.1f s later, on the same page and RTCPeerConnection (an ICE restart), "+
			"and neither ever showed the other gone. The second tab's pair then: %s, to %s.",
		old, moved, recovered.Seconds(), after.Path(), after.RemoteAddress)))
}

// debugJS describes the page's newest RTCPeerConnection and remote video,
// for the log of a failed test.
const debugJS = `(async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  const stats = await pc.getStats();
  const out = { conn: pc.connectionState, sig: pc.signalingState, dirs: pc.getTransceivers().map((t) => t.mid + ":" + t.currentDirection + ":" + (t.receiver.track && t.receiver.track.readyState)) };
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") out["in-" + s.kind] = s.bytesReceived + "/" + (s.framesDecoded || 0);
    if (s.type === "outbound-rtp") out["out-" + s.kind] = s.bytesSent;
  });
  const v = document.getElementById("remote-video");
  out.video = v.videoWidth + "x" + v.videoHeight + " " + v.getVideoPlaybackQuality().totalVideoFrames + " paused=" + v.paused + " t=" + v.currentTime + " rs=" + v.readyState;
  out.rvfc = await new Promise((resolve) => {
    let n = 0;
    const tick = () => { n++; v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
    setTimeout(() => resolve(n), 1000);
  });
  out.t2 = v.currentTime;
  const cs = getComputedStyle(v);
  out.css = cs.display + "/" + cs.visibility + "/" + cs.opacity + " " + v.getBoundingClientRect().width + "x" + v.getBoundingClientRect().height;
  out.main = JSON.stringify(document.getElementById("call").dataset);
  return out;
})()`

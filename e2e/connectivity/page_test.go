package connectivity

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"

	"tandem/e2e/bidi"
)

// Waits on a page are bounded by pageTimeout and look again every
// pollInterval.
const (
	pageTimeout  = 30 * time.Second
	pollInterval = 100 * time.Millisecond
)

// callPage is the call page in a browser tab, whichever browser it is.
type callPage interface {
	String() string // the tab's name, for messages
	open(ctx context.Context, url string) error
	// eval runs a JavaScript expression, waits for the promise it returns,
	// if any, and decodes its value into out.
	eval(ctx context.Context, expr string, out any) error
	click(ctx context.Context, id string) error
}

// chromiumPage is a tab of a Chromium driven over the DevTools protocol.
type chromiumPage struct {
	name string
	ctx  context.Context // chromedp's context of the tab; no deadline
}

func (p *chromiumPage) String() string { return p.name }

func (p *chromiumPage) open(ctx context.Context, url string) error {
	return p.run(ctx, func(c context.Context) error { return chromedp.Do(c, chromedp.Navigate(url)) })
}

func (p *chromiumPage) eval(ctx context.Context, expr string, out any) error {
	return p.run(ctx, func(c context.Context) error {
		raw, err := chromedp.Run(c, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, out)
	})
}

func (p *chromiumPage) click(ctx context.Context, id string) error {
	return p.run(ctx, func(c context.Context) error { return chromedp.Do(c, chromedp.Click(chromedp.ID(id))) })
}

// run calls f with the tab's context, cancelled when ctx ends.
func (p *chromiumPage) run(ctx context.Context, f func(context.Context) error) error {
	c, cancel := context.WithCancel(p.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	return f(c)
}

// firefoxPage is a tab of a Firefox driven over WebDriver BiDi.
type firefoxPage struct {
	name string
	tab  *bidi.Tab
}

func (p *firefoxPage) String() string { return p.name }

func (p *firefoxPage) open(ctx context.Context, url string) error { return p.tab.Navigate(ctx, url) }

func (p *firefoxPage) eval(ctx context.Context, expr string, out any) error {
	return p.tab.EvaluateInto(ctx, expr, out)
}

func (p *firefoxPage) click(ctx context.Context, id string) error { return p.tab.Click(ctx, "#"+id) }

// poll evaluates expr until done accepts its value, for at most
// pageTimeout; failed evaluations (a page loading) only end it then.
func poll[T any](p callPage, expr string, done func(T) bool) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pageTimeout)
	defer cancel()
	var last T
	var lastErr error
	for {
		var v T
		evalCtx, cancelEval := context.WithTimeout(ctx, 10*time.Second)
		err := p.eval(evalCtx, expr, &v)
		cancelEval()
		if err == nil {
			last, lastErr = v, nil
			if done(v) {
				return v, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("%s: not within %v; last error: %w", p, pageTimeout, lastErr)
			}
			return last, fmt.Errorf("%s: not within %v", p, pageTimeout)
		case <-time.After(pollInterval):
		}
	}
}

// phaseJS tells where the call page is: "lobby" once Join can be clicked,
// "starting" before, "call" or "ended", or "other" for another page.
const phaseJS = `(() => {
  const main = document.getElementById("call");
  if (!main) return "other";
  if (main.dataset.phase !== "lobby") return main.dataset.phase;
  return document.getElementById("join").disabled ? "starting" : "lobby";
})()`

// statusJS reads the page's #status contract.
const statusJS = `(() => {
  const s = document.getElementById("status");
  return s ? { state: s.dataset.state || "", text: s.textContent } : { state: "", text: "no #status element" };
})()`

// remoteFramesJS is how many frames #remote-video has shown. Firefox
// counts none in getVideoPlaybackQuality for a MediaStream, but paints
// them (mozPaintedFrames).
const remoteFramesJS = `(() => {
  const v = document.getElementById("remote-video");
  if (!v || v.videoWidth === 0) return 0;
  return v.getVideoPlaybackQuality().totalVideoFrames || v.mozPaintedFrames || 0;
})()`

// selectedPairJS describes the candidate pair ICE selected on the newest
// connected RTCPeerConnection (window.__pcs, see trackPeerConnections).
const selectedPairJS = `(async () => {
  const pcs = (window.__pcs || []).filter((pc) => pc.connectionState === "connected");
  const pc = pcs[pcs.length - 1];
  if (!pc) throw new Error("no connected RTCPeerConnection among " + (window.__pcs || []).length);
  const stats = await pc.getStats();
  let pair;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  stats.forEach((s) => {
    if (!pair && s.type === "candidate-pair" && (s.selected || s.nominated) && s.state === "succeeded") pair = s;
  });
  if (!pair) throw new Error("no selected candidate pair yet");
  const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
  return {
    local: local.candidateType, remote: remote.candidateType,
    localAddress: local.address + ":" + local.port, remoteAddress: remote.address + ":" + remote.port,
    relayProtocol: local.relayProtocol || "",
  };
})()`

// pageStatus is the page's #status.
type pageStatus struct {
	State string `json:"state"`
	Text  string `json:"text"`
}

// pagePair is the candidate pair a page's connection selected.
type pagePair struct {
	Local         string `json:"local"`
	Remote        string `json:"remote"`
	LocalAddress  string `json:"localAddress"`
	RemoteAddress string `json:"remoteAddress"`
	RelayProtocol string `json:"relayProtocol"`
}

// path is the pair as "local (relay protocol) → remote".
func (p pagePair) path() string {
	local := p.Local
	if p.RelayProtocol != "" {
		local += "/" + p.RelayProtocol
	}
	return local + " → " + p.Remote
}

// join opens url and clicks Join in the lobby, until the page leaves it
// (a click that lands while the lobby lays itself out can be lost).
func join(p callPage, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pageTimeout)
	defer cancel()
	if err := p.open(ctx, url); err != nil {
		return fmt.Errorf("%s: open %s: %w", p, url, err)
	}
	phase, err := poll(p, phaseJS, func(s string) bool { return s != "starting" })
	if err != nil || phase != "lobby" {
		return fmt.Errorf("%s: no lobby (%q): %v", p, phase, err)
	}
	for range 3 {
		if err := p.click(ctx, "join"); err != nil {
			return fmt.Errorf("%s: click Join: %w", p, err)
		}
		for wait := time.Now().Add(3 * time.Second); time.Now().Before(wait); time.Sleep(pollInterval) {
			if p.eval(ctx, phaseJS, &phase) == nil && phase != "lobby" {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: still in the lobby after 3 clicks on Join", p)
}

// waitState waits until the page's #status says want.
func waitState(p callPage, want string) error {
	s, err := poll(p, statusJS, func(s pageStatus) bool { return s.State == want })
	if err != nil {
		return fmt.Errorf("%s: status %q (%q), want %q: %w", p, s.State, s.Text, want, err)
	}
	return nil
}

// remoteVideoPlays waits until the remote video has a picture and decodes
// ten more frames (a third of a second of the fake camera).
func remoteVideoPlays(p callPage) error {
	first, err := poll(p, remoteFramesJS, func(n int) bool { return n > 0 })
	if err != nil {
		return fmt.Errorf("%s: remote video has no picture: %w", p, err)
	}
	if _, err := poll(p, remoteFramesJS, func(n int) bool { return n >= first+10 }); err != nil {
		return fmt.Errorf("%s: remote video does not play: %w", p, err)
	}
	return nil
}

// selectedPair is the candidate pair of the page's connected call.
func selectedPair(p callPage) (pagePair, error) {
	return poll(p, selectedPairJS, func(pagePair) bool { return true })
}

// trackPeerConnectionsFn, run before the page's scripts, records every
// RTCPeerConnection the page makes in window.__pcs (the call page keeps
// its own private), and every state #status takes in window.__states.
const trackPeerConnectionsFn = `() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__pcs) return;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
  window.__states = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id === "status") window.__states.push(r.target.dataset.state);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
}`

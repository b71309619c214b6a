package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tandem/bench"
)

const (
	// chromiumPath is where Debian's chromium package puts the browser.
	chromiumPath = "/usr/bin/chromium"

	// waitTimeout bounds every wait on a page: a load, a state, a video.
	waitTimeout = 30 * time.Second
	// pollInterval is how often a wait evaluates its condition again.
	pollInterval = 100 * time.Millisecond
	// minNewFrames is how many more frames the remote video must decode to
	// count as playing: a third of a second of the fake camera's 30 fps.
	minNewFrames = 10

	// screenshotDir is test-output/screenshots at the repository root, as
	// seen from the package directory that go test runs in.
	screenshotDir = "../../test-output/screenshots"

	// trackPeerConnections runs before the page's scripts in every document
	// of a tab. It replaces RTCPeerConnection with a subclass that records
	// each connection in window.__pcs, since call.js keeps its own private.
	trackPeerConnections = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__pcs) return;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
})();`

	// statusJS reads the page's #status contract.
	statusJS = `(() => {
  const s = document.getElementById("status");
  return s ? { state: s.dataset.state || "", text: s.textContent } : { state: "", text: "no #status element" };
})()`

	// remoteVideoJS reads how far #remote-video has played.
	remoteVideoJS = `(() => {
  const v = document.getElementById("remote-video");
  if (!v) return { width: 0, height: 0, frames: 0, time: 0, paused: true };
  const q = v.getVideoPlaybackQuality();
  return { width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames, time: v.currentTime, paused: v.paused };
})()`

	// peerConnectionCountJS counts the RTCPeerConnections a document made.
	peerConnectionCountJS = `(window.__pcs || []).length`

	// selectedPairJS finds the candidate pair that ICE selected on the newest
	// connected RTCPeerConnection and describes both of its candidates.
	selectedPairJS = `(async () => {
  const pcs = (window.__pcs || []).filter((pc) => pc.connectionState === "connected");
  const pc = pcs[pcs.length - 1];
  if (!pc) throw new Error("no connected RTCPeerConnection among " + (window.__pcs || []).length);
  const stats = await pc.getStats();
  let pair;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
    });
  }
  if (!pair) throw new Error("no selected candidate pair yet");
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {
    local: local.candidateType,
    remote: remote.candidateType,
    localAddress: local.address + ":" + local.port,
    remoteAddress: remote.address + ":" + remote.port,
    protocol: local.protocol,
    relayProtocol: local.relayProtocol || "",
  };
})()`
)

// tab is one page in its own headless Chromium process.
type tab struct {
	name string
	ctx  context.Context // the chromedp context of the page; no deadline
}

// pageStatus is the state and text of the page's #status element.
type pageStatus struct {
	State string `json:"state"`
	Text  string `json:"text"`
}

// videoProgress is how far a <video> element has played.
type videoProgress struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Frames int     `json:"frames"`
	Time   float64 `json:"time"`
	Paused bool    `json:"paused"`
}

// candidatePair describes the ICE candidate pair a connection selected.
type candidatePair struct {
	Local         string `json:"local"`  // candidate type: host, srflx, prflx or relay
	Remote        string `json:"remote"` // candidate type
	LocalAddress  string `json:"localAddress"`
	RemoteAddress string `json:"remoteAddress"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"` // how a relay candidate reaches TURN
}

func (p candidatePair) String() string {
	s := fmt.Sprintf("%s %s -> %s %s over %s", p.Local, p.LocalAddress, p.Remote, p.RemoteAddress, p.Protocol)
	if p.RelayProtocol != "" {
		s += " (TURN over " + p.RelayProtocol + ")"
	}
	return s
}

// TestBrowserCall is the acceptance test of the product: two real browser
// tabs open one room and see each other's video, directly and through the
// bundled TURN relay, and they find each other again after a reload.
func TestBrowserCall(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)

	cases := []struct {
		name  string
		query string
		// wantLocal is the type of the local candidate of the selected pair.
		wantLocal   string
		screenshots bool
	}{
		{name: "direct", query: "", wantLocal: "host", screenshots: true},
		{name: "relay", query: "relay=1", wantLocal: "relay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tabs := openCall(t, execPath, srv.roomURL(roomName(t), tc.query))
			for _, tb := range tabs {
				if err := remoteVideoPlays(tb); err != nil {
					t.Fatal(err)
				}
			}
			for _, tb := range tabs {
				pair, err := selectedCandidateTypes(tb)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: selected pair %s", tb.name, pair)
				if pair.Local != tc.wantLocal {
					t.Errorf("%s: local candidate type %q, want %q (pair %s)", tb.name, pair.Local, tc.wantLocal, pair)
				}
			}
			if tc.screenshots {
				for _, tb := range tabs {
					file := filepath.Join(screenshotDir, fmt.Sprintf("call-%s-%s.png", tc.name, tb.name))
					if err := saveScreenshot(tb, file); err != nil {
						t.Error(err)
					} else {
						t.Logf("%s: screenshot %s", tb.name, file)
					}
				}
			}
		})
	}

	t.Run("reload", func(t *testing.T) {
		tabs := openCall(t, execPath, srv.roomURL(roomName(t), ""))
		// Reload the second tab (the one that joined), then the first (the
		// one that created the room), so that both roles come back.
		for _, i := range []int{1, 0} {
			reloader, stayer := tabs[i], tabs[1-i]
			if err := reloadAndReconnect(reloader, stayer); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// reloadAndReconnect reloads reloader and checks that both tabs are in a
// call with each other again, with video flowing both ways.
func reloadAndReconnect(reloader, stayer *tab) error {
	before, err := evaluate[int](stayer, peerConnectionCountJS)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(reloader.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		return fmt.Errorf("%s: reload: %w", reloader.name, err)
	}
	// The tab that stayed must build a new connection with the reloaded
	// page; until it has one, its "connected" is the old call's.
	if _, err := poll(stayer, peerConnectionCountJS, func(n int) bool { return n > before }); err != nil {
		return fmt.Errorf("%s: no new RTCPeerConnection after %s reloaded: %w", stayer.name, reloader.name, err)
	}
	for _, tb := range []*tab{reloader, stayer} {
		if err := waitState(tb, "connected"); err != nil {
			return fmt.Errorf("after %s reloaded: %w", reloader.name, err)
		}
		if err := remoteVideoPlays(tb); err != nil {
			return fmt.Errorf("after %s reloaded: %s: %w", reloader.name, tb.name, err)
		}
	}
	return nil
}

// findChromium returns the path of the Chromium binary. Without one the test
// is skipped, except on CI (CI=true), where a missing browser is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	for _, name := range []string{chromiumPath, "chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Chromium found at " + chromiumPath + " or in PATH; install it with: apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// roomName is a room name unique to the running (sub)test.
func roomName(t *testing.T) string {
	return strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
}

// browserOptions are bench.ChromiumOptions plus what the UI tests need:
// three fake cameras to switch between (Chromium's second is a depth
// camera, which WebRTC cannot send) and a fake screen to share.
func browserOptions(execPath, userDataDir string) []chromedp.ExecAllocatorOption {
	return append(bench.ChromiumOptions(execPath, userDataDir),
		chromedp.Flag("use-fake-device-for-media-stream", "device-count=3"),
		chromedp.Flag("auto-select-desktop-capture-source", "Entire screen"),
	)
}

// newTab starts a headless Chromium of its own with a fresh profile, logs
// its console to t, and makes every page it loads record its
// RTCPeerConnections in window.__pcs. extra flags follow browserOptions
// (a flag set twice keeps its last value). The browser stops when t ends.
func newTab(t *testing.T, execPath, name string, extra ...chromedp.ExecAllocatorOption) *tab {
	t.Helper()
	opts := append(browserOptions(execPath, t.TempDir()), extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)

	if err := startBrowser(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("%s: start %s: %v", name, execPath, err)
	}
	messages := chromedp.Console(ctx)
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for m, err := range messages {
			if err != nil {
				return // the browser stopped
			}
			where := ""
			if m.URL != "" {
				where = fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
			}
			t.Logf("%s console %s%s", name, m, where)
		}
	}()
	t.Cleanup(func() {
		cancelCtx() // closes the browser and waits for it to exit
		cancelAlloc()
		<-logged // no t.Logf after the test ends
	})

	tb := &tab{name: name, ctx: ctx}
	callCtx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if _, err := chromedp.Call(callCtx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: trackPeerConnections}); err != nil {
		t.Fatalf("%s: add the RTCPeerConnection tracker: %v", name, err)
	}
	return tb
}

// startBrowser starts the browser of ctx and opens its tab. The first action
// on a context binds the browser's life to the context it is given, so it
// runs on ctx itself, which has no deadline, and is bounded here instead.
// On a timeout the caller must cancel ctx, which stops the browser.
func startBrowser(ctx context.Context) error {
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		return err
	case <-time.After(waitTimeout):
		return fmt.Errorf("browser not started within %v", waitTimeout)
	}
}

// openCall opens url in two new tabs, one after the other, and waits until
// both are in the call.
func openCall(t *testing.T, execPath, url string) [2]*tab {
	t.Helper()
	return openCallAt(t, execPath, [2]string{url, url})
}

// openCallAt is openCall with each tab at its own URL of the same room.
func openCallAt(t *testing.T, execPath string, urls [2]string) [2]*tab {
	t.Helper()
	tabs := [2]*tab{newTab(t, execPath, "tab1"), newTab(t, execPath, "tab2")}
	for i, tb := range tabs {
		if err := navigate(tb, urls[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range tabs {
		if err := waitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
	}
	return tabs
}

// navigate opens url in tb. A call page opens on its lobby: navigate then
// joins the call, as a person does with the Join button.
func navigate(tb *tab, url string) error {
	if err := load(tb, url); err != nil {
		return err
	}
	return joinFromLobby(tb)
}

// load opens url in tb and stops there: on a call page, in the lobby.
func load(tb *tab, url string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("%s: open %s: %w", tb.name, url, err)
	}
	return nil
}

// phaseJS tells where the page is: "lobby" once Join can be clicked,
// "starting" before, "call" or "ended", or "other" for a page that is not
// a call page.
const phaseJS = `(() => {
  const main = document.getElementById("call");
  if (!main) return "other";
  if (main.dataset.phase !== "lobby") return main.dataset.phase;
  return document.getElementById("join").disabled ? "starting" : "lobby";
})()`

// joinFromLobby clicks Join when tb shows a lobby. A page that went
// straight into the call (a reload) or is not a call page is left alone.
func joinFromLobby(tb *tab) error {
	phase, err := poll(tb, phaseJS, func(p string) bool { return p != "starting" })
	if err != nil {
		return fmt.Errorf("%s: lobby not ready (%q): %w", tb.name, phase, err)
	}
	if phase != "lobby" {
		return nil
	}
	return click(tb, "join")
}

// click clicks the element with the given id with the mouse, which counts
// as a user gesture (getDisplayMedia needs one).
func click(tb *tab, id string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		return fmt.Errorf("%s: click #%s: %w", tb.name, id, err)
	}
	return nil
}

// evaluate runs the JavaScript expression in tb, waits for the promise it
// returns, if any, and decodes the result into a T.
func evaluate[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return v, fmt.Errorf("%s: evaluate: %w", tb.name, err)
	}
	return v, nil
}

// poll evaluates expr in tb until done accepts its result, for at most
// waitTimeout. Errors of single evaluations, as while a page reloads, only
// end the wait when it times out. It returns the last result.
func poll[T any](tb *tab, expr string, done func(T) bool) (T, error) {
	deadline := time.Now().Add(waitTimeout)
	var (
		last    T
		lastErr error
	)
	for {
		v, err := evaluate[T](tb, expr)
		if err == nil {
			last, lastErr = v, nil
			if done(v) {
				return v, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("%s: condition not met within %v", tb.name, waitTimeout)
			if lastErr != nil {
				err = fmt.Errorf("%w; last error: %w", err, lastErr)
			}
			return last, err
		}
		select {
		case <-time.After(pollInterval):
		case <-tb.ctx.Done():
			return last, fmt.Errorf("%s: %w", tb.name, tb.ctx.Err())
		}
	}
}

// waitState waits until the data-state of the page's #status is want.
func waitState(tb *tab, want string) error {
	s, err := poll(tb, statusJS, func(s pageStatus) bool { return s.State == want })
	if err != nil {
		return fmt.Errorf("%s: status is %q (%q), want %q: %w", tb.name, s.State, s.Text, want, err)
	}
	return nil
}

// remoteVideoPlays checks that #remote-video shows a picture that moves: it
// has a size, and it decodes new frames as its time advances.
func remoteVideoPlays(tb *tab) error {
	start, err := poll(tb, remoteVideoJS, func(v videoProgress) bool { return v.Width > 0 })
	if err != nil {
		return fmt.Errorf("remote video has no picture (%+v): %w", start, err)
	}
	end, err := poll(tb, remoteVideoJS, func(v videoProgress) bool {
		return v.Frames >= start.Frames+minNewFrames && v.Time > start.Time
	})
	if err != nil {
		return fmt.Errorf("remote video does not play: from %+v to %+v: %w", start, end, err)
	}
	return nil
}

// selectedCandidateTypes describes the ICE candidate pair selected by the
// page's connected RTCPeerConnection.
func selectedCandidateTypes(tb *tab) (candidatePair, error) {
	p, err := poll(tb, selectedPairJS, func(candidatePair) bool { return true })
	if err != nil {
		return p, fmt.Errorf("selected candidate pair: %w", err)
	}
	return p, nil
}

// saveScreenshot writes a PNG of the whole page of tb to file, creating
// its directory.
func saveScreenshot(tb *tab, file string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	// Quality 100 asks for PNG; any other quality gives a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("%s: screenshot: %w", tb.name, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("%s: screenshot: %w", tb.name, err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		return fmt.Errorf("%s: screenshot: %w", tb.name, err)
	}
	return nil
}

//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/e2e/bidi"
)

// firefoxPrefs are what a call on loopback needs of Firefox, beyond the
// fake devices that every bidi profile has.
func firefoxPrefs() map[string]any {
	return map[string]any{
		// ICE skips loopback addresses unless told otherwise, and the test
		// server, its TURN relay and the other browser are all on loopback.
		"media.peerconnection.ice.loopback": true,
		// Like Chromium without WebRtcHideLocalIpsWithMdns: host candidates
		// carry their address, not a name only mDNS resolves, as they do once
		// a person has granted the camera for good.
		"media.peerconnection.ice.obfuscate_host_addresses": false,
		// Like Chromium's autoplay-policy=no-user-gesture-required: the remote
		// video, with its sound, plays without a click on it.
		"media.autoplay.default": 0,
	}
}

// firefoxRemoteVideoJS is remoteVideoJS for Firefox, whose
// getVideoPlaybackQuality counts no frames of a MediaStream: it counts the
// frames presented to #remote-video with requestVideoFrameCallback, from
// its first evaluation on.
const firefoxRemoteVideoJS = `(() => {
  const v = document.getElementById("remote-video");
  if (!v) return { width: 0, height: 0, frames: 0, time: 0, paused: true };
  if (v.__frames === undefined) {
    v.__frames = 0;
    const count = () => {
      v.__frames++;
      v.requestVideoFrameCallback(count);
    };
    v.requestVideoFrameCallback(count);
  }
  return { width: v.videoWidth, height: v.videoHeight, frames: v.__frames, time: v.currentTime, paused: v.paused };
})()`

// firefoxSelectedPairJS is selectedPairJS for Firefox, which has no
// "transport" stats but marks the pair in use as selected.
const firefoxSelectedPairJS = `(async () => {
  const pcs = (window.__pcs || []).filter((pc) => pc.connectionState === "connected");
  const pc = pcs[pcs.length - 1];
  if (!pc) throw new Error("no connected RTCPeerConnection among " + (window.__pcs || []).length);
  const stats = await pc.getStats();
  let pair;
  stats.forEach((s) => {
    if (s.type === "candidate-pair" && s.selected) pair = s;
  });
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

// firefoxTab is the one tab of a Firefox of its own.
type firefoxTab struct {
	name string
	tab  *bidi.Tab
}

// TestFirefoxCallsChromium puts Firefox and Chromium in one call: Firefox
// opens the room and joins from the lobby, Chromium joins it, and both see
// the other's video, directly and through the bundled TURN relay.
func TestFirefoxCallsChromium(t *testing.T) {
	chromium := findChromium(t)
	requireFirefox(t)
	srv := startServer(t)

	cases := []struct {
		name  string
		query string
		// wantLocal is the type of the local candidate of the selected
		// pair, on both sides.
		wantLocal string
	}{
		{name: "direct", query: "", wantLocal: "host"},
		{name: "relay", query: "relay=1", wantLocal: "relay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.roomURL(roomName(t), tc.query)
			start := time.Now()
			ff := newFirefoxTab(t, "firefox")
			t.Logf("%s: started in %v", ff.name, time.Since(start).Round(time.Millisecond))
			if err := ff.open(url); err != nil {
				t.Fatal(err)
			}
			ch := newTab(t, chromium, "chromium")
			if err := navigate(ch, url); err != nil {
				t.Fatal(err)
			}

			joined := time.Now()
			if err := ff.waitState("connected"); err != nil {
				t.Fatal(err)
			}
			if err := waitState(ch, "connected"); err != nil {
				t.Fatal(err)
			}
			t.Logf("connected %v after both joined", time.Since(joined).Round(time.Millisecond))
			if err := ff.remoteVideoPlays(); err != nil {
				t.Fatalf("%s: %v", ff.name, err)
			}
			if err := remoteVideoPlays(ch); err != nil {
				t.Fatalf("%s: %v", ch.name, err)
			}
			t.Logf("video plays both ways %v after both joined", time.Since(joined).Round(time.Millisecond))

			ffPair, err := ff.selectedPair()
			if err != nil {
				t.Fatal(err)
			}
			chPair, err := selectedCandidateTypes(ch)
			if err != nil {
				t.Fatal(err)
			}
			for _, side := range []struct {
				name string
				pair candidatePair
			}{{ff.name, ffPair}, {ch.name, chPair}} {
				t.Logf("%s: selected pair %s", side.name, side.pair)
				if side.pair.Local != tc.wantLocal {
					t.Errorf("%s: local candidate type %q, want %q (pair %s)", side.name, side.pair.Local, tc.wantLocal, side.pair)
				}
			}

			file := filepath.Join(screenshotDir, fmt.Sprintf("call-firefox-%s.png", tc.name))
			if err := ff.screenshot(file); err != nil {
				t.Error(err)
			} else {
				t.Logf("%s: screenshot %s", ff.name, file)
			}
		})
	}
}

// requireFirefox skips the test when Debian's firefox-esr is missing,
// except on CI (CI=true), where a missing browser is a failure.
func requireFirefox(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	if _, err := exec.LookPath(bidi.DefaultPath); err == nil {
		return
	}
	const msg = "no " + bidi.DefaultPath + " in PATH; install it with: apt-get install -y firefox-esr"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newFirefoxTab starts a headless Firefox of its own with firefoxPrefs,
// logs its console to t, and opens a tab in which every page records its
// RTCPeerConnections in window.__pcs. Firefox stops when t ends.
func newFirefoxTab(t *testing.T, name string) *firefoxTab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	b, err := bidi.Launch(ctx, bidi.Options{
		Prefs: firefoxPrefs(),
		OnEvent: func(e bidi.Event) {
			if e.Method == "log.entryAdded" {
				t.Logf("%s console %s", name, consoleEntry(e.Params))
			}
		},
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	if err := b.Subscribe(ctx, "log.entryAdded"); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tab, err := b.NewTab(ctx, "")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := tab.SetViewport(ctx, bidi.Viewport{Width: 1280, Height: 800}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := tab.AddPreloadScript(ctx, "() => {"+trackPeerConnections+"}"); err != nil {
		t.Fatalf("%s: add the RTCPeerConnection tracker: %v", name, err)
	}
	return &firefoxTab{name: name, tab: tab}
}

// consoleEntry formats the parameters of a log.entryAdded event.
func consoleEntry(params json.RawMessage) string {
	var e struct {
		Level  string `json:"level"`
		Text   string `json:"text"`
		Source struct {
			Context string `json:"context"`
		} `json:"source"`
		StackTrace struct {
			CallFrames []struct {
				URL  string `json:"url"`
				Line int    `json:"lineNumber"`
			} `json:"callFrames"`
		} `json:"stackTrace"`
	}
	if err := json.Unmarshal(params, &e); err != nil {
		return string(params)
	}
	s := strings.ToUpper(e.Level) + " " + e.Text
	if f := e.StackTrace.CallFrames; len(f) > 0 {
		s += fmt.Sprintf(" (%s:%d)", f[0].URL, f[0].Line+1)
	}
	return s
}

// open loads url and, on a call page's lobby, clicks Join as a person does.
func (ff *firefoxTab) open(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ff.tab.Navigate(ctx, url); err != nil {
		return fmt.Errorf("%s: open %s: %w", ff.name, url, err)
	}
	phase, err := firefoxPoll(ff, phaseJS, func(p string) bool { return p != "starting" })
	if err != nil {
		return fmt.Errorf("%s: lobby not ready (%q): %w", ff.name, phase, err)
	}
	if phase != "lobby" {
		return nil
	}
	if err := ff.tab.Click(ctx, "#join"); err != nil {
		return fmt.Errorf("%s: click #join: %w", ff.name, err)
	}
	return nil
}

// firefoxEvaluate runs the JavaScript expression in ff, waits for the
// promise it returns, if any, and decodes the result into a T.
func firefoxEvaluate[T any](ff *firefoxTab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var v T
	if err := ff.tab.EvaluateInto(ctx, expr, &v); err != nil {
		return v, fmt.Errorf("%s: evaluate: %w", ff.name, err)
	}
	return v, nil
}

// firefoxPoll is poll for a Firefox tab: it evaluates expr until done
// accepts its result, for at most waitTimeout, and returns the last result.
func firefoxPoll[T any](ff *firefoxTab, expr string, done func(T) bool) (T, error) {
	deadline := time.Now().Add(waitTimeout)
	var (
		last    T
		lastErr error
	)
	for {
		v, err := firefoxEvaluate[T](ff, expr)
		if err == nil {
			last, lastErr = v, nil
			if done(v) {
				return v, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("%s: condition not met within %v", ff.name, waitTimeout)
			if lastErr != nil {
				err = fmt.Errorf("%w; last error: %w", err, lastErr)
			}
			return last, err
		}
		time.Sleep(pollInterval)
	}
}

// waitState waits until the data-state of the page's #status is want.
func (ff *firefoxTab) waitState(want string) error {
	s, err := firefoxPoll(ff, statusJS, func(s pageStatus) bool { return s.State == want })
	if err != nil {
		return fmt.Errorf("%s: status is %q (%q), want %q: %w", ff.name, s.State, s.Text, want, err)
	}
	return nil
}

// remoteVideoPlays checks that #remote-video has a size and presents new
// frames as its time advances.
func (ff *firefoxTab) remoteVideoPlays() error {
	start, err := firefoxPoll(ff, firefoxRemoteVideoJS, func(v videoProgress) bool { return v.Width > 0 })
	if err != nil {
		return fmt.Errorf("remote video has no picture (%+v): %w", start, err)
	}
	end, err := firefoxPoll(ff, firefoxRemoteVideoJS, func(v videoProgress) bool {
		return v.Frames >= start.Frames+minNewFrames && v.Time > start.Time
	})
	if err != nil {
		return fmt.Errorf("remote video does not play: from %+v to %+v: %w", start, end, err)
	}
	return nil
}

// selectedPair describes the ICE candidate pair selected by the page's
// connected RTCPeerConnection.
func (ff *firefoxTab) selectedPair() (candidatePair, error) {
	p, err := firefoxPoll(ff, firefoxSelectedPairJS, func(candidatePair) bool { return true })
	if err != nil {
		return p, fmt.Errorf("selected candidate pair: %w", err)
	}
	return p, nil
}

// screenshot writes a PNG of the tab's viewport to file.
func (ff *firefoxTab) screenshot(file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ff.tab.SaveScreenshot(ctx, bidi.OriginViewport, file); err != nil {
		return fmt.Errorf("%s: %w", ff.name, err)
	}
	return nil
}

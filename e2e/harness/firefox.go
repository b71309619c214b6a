//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"testing"

	"tandem/e2e/bidi"
)

// Firefox is a tab of a headless Firefox ESR of its own, driven over
// WebDriver BiDi.
type Firefox struct {
	name string
	tab  *bidi.Tab
}

// NeedFirefox skips t when Debian's firefox-esr is missing, except under
// CI=true, where a missing browser fails it.
func NeedFirefox(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	if _, err := exec.LookPath(bidi.DefaultPath); err != nil {
		Unavailable(t, "no "+bidi.DefaultPath+" in PATH; install it with: apt-get install -y firefox-esr")
	}
}

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

// StartFirefox starts a headless Firefox with firefoxPrefs, logs its
// console to t, and opens a 1280×800 tab in which every page records its
// RTCPeerConnections in window.__pcs. opts may set how it runs (Command,
// Dial, AcceptInsecureCerts) and more Prefs. Firefox stops when t ends.
func StartFirefox(t testing.TB, name string, opts bidi.Options) *Firefox {
	t.Helper()
	NeedFirefox(t)
	holdBrowsers(t)
	prefs := firefoxPrefs()
	maps.Copy(prefs, opts.Prefs)
	opts.Prefs = prefs
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	opts.OnEvent = func(e bidi.Event) {
		if e.Method == "log.entryAdded" {
			t.Logf("%s console %s", name, consoleEntry(e.Params))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*PageTimeout)
	defer cancel()
	b, err := bidi.Launch(ctx, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: close Firefox: %v", name, err)
		}
	})
	if err := b.Subscribe(ctx, "log.entryAdded"); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	userContext, err := b.NewUserContext(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tab, err := b.NewTab(ctx, userContext)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := tab.SetViewport(ctx, bidi.Viewport{Width: 1280, Height: 800}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := tab.AddPreloadScript(ctx, trackPeerConnectionsFn); err != nil {
		t.Fatalf("%s: add the RTCPeerConnection tracker: %v", name, err)
	}
	return &Firefox{name: name, tab: tab}
}

func (f *Firefox) String() string { return f.name }

func (f *Firefox) Navigate(ctx context.Context, url string) error { return f.tab.Navigate(ctx, url) }

func (f *Firefox) Eval(ctx context.Context, expr string, out any) error {
	return f.tab.EvaluateInto(ctx, expr, out)
}

func (f *Firefox) Click(ctx context.Context, id string) error { return f.tab.Click(ctx, "#"+id) }

// Screenshot writes a PNG of the tab's viewport.
func (f *Firefox) Screenshot(ctx context.Context, file string) error {
	return f.tab.SaveScreenshot(ctx, bidi.OriginViewport, file)
}

// consoleEntry formats the parameters of a log.entryAdded event.
func consoleEntry(params json.RawMessage) string {
	var e struct {
		Level      string `json:"level"`
		Text       string `json:"text"`
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

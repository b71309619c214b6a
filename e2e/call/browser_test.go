package call

import (
	"fmt"
	"path/filepath"
	"testing"

	"tandem/e2e/harness"
)

// TestBrowserCall is the acceptance test of the product: two real browser
// tabs open one room and see each other's video, directly and through the
// bundled TURN relay, with the same verification code, and they find each
// other again after a reload.
func TestBrowserCall(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)

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
			tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), tc.query))
			for _, tb := range tabs {
				if err := harness.RemoteVideoPlays(tb); err != nil {
					t.Fatal(err)
				}
			}
			code, err := harness.SameVerificationCode(tabs[0], tabs[1])
			if err != nil {
				t.Error(err)
			}
			t.Logf("both tabs show the verification code %s", code)
			for _, tb := range tabs {
				pair, err := harness.SelectedPair(tb)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: selected pair %s", tb, pair)
				if pair.Local != tc.wantLocal {
					t.Errorf("%s: local candidate type %q, want %q (pair %s)", tb, pair.Local, tc.wantLocal, pair)
				}
			}
			if tc.screenshots {
				// The Verify panel, opened as a person does.
				if err := harness.Click(tabs[0], "verify"); err != nil {
					t.Fatal(err)
				}
				if err := harness.WaitFor(tabs[0], "the verify panel", `!document.getElementById("verify-panel").hidden`); err != nil {
					t.Fatal(err)
				}
				for _, tb := range tabs {
					file := filepath.Join(harness.ScreenshotDir, fmt.Sprintf("call-%s-%s.png", tc.name, tb))
					if err := harness.Screenshot(tb, file); err != nil {
						t.Error(err)
					} else {
						t.Logf("%s: screenshot %s", tb, file)
					}
				}
			}
		})
	}

	t.Run("reload", func(t *testing.T) {
		tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), ""))
		// Reload the second tab (the one that joined), then the first (the
		// one that created the room), so that both roles come back.
		code, err := harness.SameVerificationCode(tabs[0], tabs[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{1, 0} {
			reloader, stayer := tabs[i], tabs[1-i]
			if err := reloadAndReconnect(reloader, stayer); err != nil {
				t.Fatal(err)
			}
			// A new peer connection is a new DTLS transport: a new code.
			next, err := newVerificationCode(tabs, code)
			if err != nil {
				t.Fatalf("after %s reloaded: %v", reloader, err)
			}
			t.Logf("after %s reloaded: verification code %s, was %s", reloader, next, code)
			code = next
		}
	})
}

// newVerificationCode waits until both tabs show one verification code
// other than old.
func newVerificationCode(tabs [2]*harness.Chromium, old string) (string, error) {
	const codeJS = `document.getElementById("verification-code").dataset.verificationCode || ""`
	for _, tb := range tabs {
		if _, err := harness.Poll(tb, codeJS, func(s string) bool { return s != "" && s != old }); err != nil {
			return "", fmt.Errorf("%s still shows %s: %w", tb, old, err)
		}
	}
	return harness.SameVerificationCode(tabs[0], tabs[1])
}

// reloadAndReconnect reloads reloader and checks that both tabs are in a
// call with each other again, with video flowing both ways.
func reloadAndReconnect(reloader, stayer *harness.Chromium) error {
	before, err := harness.Eval[int](stayer, harness.PeerConnectionCountJS)
	if err != nil {
		return err
	}
	if err := reloader.Reload(); err != nil {
		return err
	}
	// The tab that stayed must build a new connection with the reloaded
	// page; until it has one, its "connected" is the old call's.
	if _, err := harness.Poll(stayer, harness.PeerConnectionCountJS, func(n int) bool { return n > before }); err != nil {
		return fmt.Errorf("%s: no new RTCPeerConnection after %s reloaded: %w", stayer, reloader, err)
	}
	for _, tb := range []*harness.Chromium{reloader, stayer} {
		if err := harness.WaitState(tb, "connected"); err != nil {
			return fmt.Errorf("after %s reloaded: %w", reloader, err)
		}
		if err := harness.RemoteVideoPlays(tb); err != nil {
			return fmt.Errorf("after %s reloaded: %w", reloader, err)
		}
	}
	return nil
}

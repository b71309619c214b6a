//go:build linux

package call

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tandem/e2e/bidi"
	"tandem/e2e/harness"
)

// TestFirefoxCallsChromium puts Firefox and Chromium in one call: Firefox
// opens the room and joins from the lobby, Chromium joins it, and both see
// the other's video, directly and through the bundled TURN relay.
func TestFirefoxCallsChromium(t *testing.T) {
	harness.NeedChromium(t)
	harness.NeedFirefox(t)
	srv := tandem.StartServer(t)

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
			url := srv.RoomURL(harness.RoomName(t), tc.query)
			start := time.Now()
			ff := harness.StartFirefox(t, "firefox", bidi.Options{})
			t.Logf("%s: started in %v", ff, time.Since(start).Round(time.Millisecond))
			if err := harness.Join(ff, url); err != nil {
				t.Fatal(err)
			}
			ch := harness.StartChromium(t, "chromium")
			if err := harness.Join(ch, url); err != nil {
				t.Fatal(err)
			}

			joined := time.Now()
			if err := harness.WaitState(ff, "connected"); err != nil {
				t.Fatal(err)
			}
			if err := harness.WaitState(ch, "connected"); err != nil {
				t.Fatal(err)
			}
			t.Logf("connected %v after both joined", time.Since(joined).Round(time.Millisecond))
			for _, p := range []harness.Page{ff, ch} {
				if err := harness.RemoteVideoPlays(p); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("video plays both ways %v after both joined", time.Since(joined).Round(time.Millisecond))
			if code, err := harness.SameVerificationCode(ff, ch); err != nil {
				t.Error(err)
			} else {
				t.Logf("both show the verification code %s", code)
			}

			for _, p := range []harness.Page{ff, ch} {
				pair, err := harness.SelectedPair(p)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: selected pair %s", p, pair)
				if pair.Local != tc.wantLocal {
					t.Errorf("%s: local candidate type %q, want %q (pair %s)", p, pair.Local, tc.wantLocal, pair)
				}
			}

			file := filepath.Join(harness.ScreenshotDir, fmt.Sprintf("call-firefox-%s.png", tc.name))
			if err := harness.Screenshot(ff, file); err != nil {
				t.Error(err)
			} else {
				t.Logf("%s: screenshot %s", ff, file)
			}
		})
	}
}

package ui

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tandem/e2e/harness"
	"tandem/signaling/redistest"
	"tandem/signaling/wire/wiretest"
)

// statusIs is JavaScript true once #status says the message key, in the
// given state.
func statusIs(state, key string) string {
	return `document.getElementById("status").dataset.state === "` + state + `" && document.getElementById("status").dataset.i18n === "` + key + `"`
}

// screenshotBoth saves tb as name-en and, switched by its language link,
// name-zh, and switches back.
func screenshotBoth(t *testing.T, tb *harness.Chromium, name string) {
	t.Helper()
	screenshot(t, tb, name+"-en")
	must(t, harness.Click(tb, "language"))
	must(t, harness.WaitFor(tb, "Chinese", `document.documentElement.lang === "zh-CN"`))
	screenshot(t, tb, name+"-zh")
	must(t, harness.Click(tb, "language"))
	must(t, harness.WaitFor(tb, "English", `document.documentElement.lang === "en"`))
}

// preload runs js before the page's scripts in every document of tb.
func preload(t *testing.T, tb *harness.Chromium, js string) {
	t.Helper()
	must(t, tb.Run(context.Background(), func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

// TestUIServerRefusals: each code with which the server turns a join away
// has its own words, in both languages, and the page tries again by
// itself: it gets in once the server takes it. When the server keeps
// refusing, the page gives up after about a minute and offers Try again.
func TestUIServerRefusals(t *testing.T) {
	harness.NeedChromium(t)
	for _, tt := range []struct {
		code  string
		flags []string
		key   string
	}{
		{"server-busy", []string{"-max-conns", "1"}, "status.serverBusy"},
		{"too-many-connections", []string{"-max-conns-per-ip", "1"}, "status.tooManyConnections"},
		{"too-many-joins", []string{"-joins-per-ip-per-minute", "1"}, "status.tooManyJoins"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			srv := tandem.StartServer(t, tt.flags...)
			// Someone else holds what the limit allows.
			occupant := wiretest.Dial(t, srv.WSURL("occupied"), nil)
			occupant.MustNext()
			// Reading answers the server's heartbeat, which would put a
			// silent occupant out after 12 s.
			go func() {
				for {
					if _, err := occupant.Next(0); err != nil {
						return
					}
				}
			}()
			tb := harness.StartChromium(t, "refused")
			must(t, emulate(tb, desktop))
			must(t, harness.Join(tb, srv.RoomURL(harness.RoomName(t), "")))
			must(t, harness.WaitFor(tb, "the refusal in words", statusIs("reconnecting", tt.key)))
			screenshotBoth(t, tb, "refused-"+tt.code)
			if tt.code == "too-many-joins" {
				return // the minute's joins do not come back in a test's time
			}
			occupant.Close()
			must(t, harness.WaitState(tb, "waiting")) // in the room after all
		})
	}

	t.Run("unavailable-then-given-up", func(t *testing.T) {
		redis := redistest.Start(t)
		srv := tandem.StartServer(t, "-redis", redis.URL())
		redis.Stop()
		tb := harness.StartChromium(t, "refused")
		must(t, emulate(tb, phone))
		start := time.Now()
		must(t, harness.Join(tb, srv.RoomURL(harness.RoomName(t), "")))
		must(t, harness.WaitFor(tb, "the refusal in words", statusIs("reconnecting", "status.unavailable")))
		screenshotBoth(t, tb, "refused-unavailable-phone")
		// About a minute of tries, then an ended page with Try again.
		deadline := time.Now().Add(90 * time.Second)
		for {
			ended, err := harness.Eval[bool](tb, `document.getElementById("call").dataset.phase === "ended"`)
			if err == nil && ended {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still trying %v after the first refusal", time.Since(start).Round(time.Second))
			}
			time.Sleep(time.Second)
		}
		t.Logf("gave up %v after joining", time.Since(start).Round(time.Second))
		must(t, harness.WaitFor(tb, "the given-up page", `document.getElementById("ended-title").dataset.i18n === "ended.refusedTitle" &&
			document.getElementById("ended-text").dataset.i18n === "status.unavailable" && document.getElementById("rejoin").dataset.i18n === "ended.tryAgain"`))
		screenshotBoth(t, tb, "refused-given-up-phone")
		must(t, redis.Restart())
		must(t, harness.Click(tb, "rejoin"))
		must(t, harness.JoinFromLobby(tb))
		must(t, harness.WaitState(tb, "waiting"))
	})
}

// diagLinkShown is whether the call page shows its link to /diag.
const diagLinkShown = `getComputedStyle(document.getElementById("diag-link")).display !== "none" &&
	document.getElementById("diag-link").getClientRects().length > 0`

// TestUISetupFailure: a browser that cannot build the peer connection (an
// ICE server it refuses, simulated: the constructor throws) says so, tries
// again by itself three times, then offers Try again, which works once
// the browser can, and a link to the connection test, gone once the call
// connects. A screen share the system refuses (macOS without the
// Screen Recording permission; simulated) says what to change.
func TestUISetupFailure(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	url := srv.RoomURL(harness.RoomName(t), "")
	first, newcomer := harness.StartChromium(t, "first"), harness.StartChromium(t, "newcomer")
	preload(t, newcomer, `(() => {
  const Native = window.RTCPeerConnection;
  window.__attempts = 0;
  window.__refuse = true;
  window.RTCPeerConnection = function (...args) {
    window.__attempts++;
    if (window.__refuse) throw new DOMException("Failed to parse URL", "SyntaxError");
    return new Native(...args);
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();`)
	must(t, emulate(newcomer, desktop))
	must(t, harness.Join(first, url))
	must(t, harness.WaitState(first, "waiting"))
	must(t, harness.Join(newcomer, url))
	must(t, harness.WaitFor(newcomer, "the failure in words", statusIs("reconnecting", "status.setupFailed")))
	must(t, harness.WaitFor(newcomer, "Try again after three retries", statusIs("error", "status.setupFailed")+
		` && !document.getElementById("retry-call").hidden && getComputedStyle(document.getElementById("retry-call")).display !== "none"`))
	if n, err := harness.Eval[int](newcomer, `window.__attempts`); err != nil || n != 4 {
		t.Errorf("%d attempts to build the connection, want 4 (one and three retries); err %v", n, err)
	}
	must(t, harness.WaitFor(newcomer, "a link to the connection test", diagLinkShown+` && document.getElementById("diag-link").getAttribute("href") === "/diag"`))
	screenshotBoth(t, newcomer, "setup-failed")

	if _, err := harness.Eval[bool](newcomer, `(window.__refuse = false, true)`); err != nil {
		t.Fatal(err)
	}
	must(t, harness.Click(newcomer, "retry-call"))
	for _, tb := range []*harness.Chromium{first, newcomer} {
		must(t, harness.WaitState(tb, "connected"))
		must(t, harness.RemoteVideoPlays(tb))
	}
	must(t, harness.WaitFor(newcomer, "no connection test link in a call", "!("+diagLinkShown+")"))

	// The system refuses the screen.
	if _, err := harness.Eval[bool](newcomer, `(navigator.mediaDevices.getDisplayMedia = () =>
		Promise.reject(new DOMException("Permission denied by system", "NotAllowedError")), true)`); err != nil {
		t.Fatal(err)
	}
	must(t, harness.Click(newcomer, "toggle-share"))
	must(t, harness.WaitFor(newcomer, "the reason", `!document.getElementById("toast").hidden && document.getElementById("toast").dataset.i18n === "share.deniedBySystem"`))
	screenshotBoth(t, newcomer, "share-denied-by-system")
}

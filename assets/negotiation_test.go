package assets

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestNegotiation negotiates two real RTCPeerConnections, each behind the
// peer module, in one headless Chromium page, with no server and no UI: an
// in-page channel stands in for signaling and drops, delays, duplicates or
// reorders what it carries (testdata/negotiation.js). Every schedule must
// end with both sides connected to each other's current peer connection
// and the data channel carrying a message.
func TestNegotiation(t *testing.T) {
	execPath := findChromium(t)
	bundle, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	harness, err := os.ReadFile("testdata/negotiation.js")
	if err != nil {
		t.Fatal(err)
	}
	harness = []byte(strings.Replace(string(harness), `"PEER_URL"`, `"`+bundle.URL("peer.js")+`"`, 1))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><title>negotiation</title><script type="module" src="/negotiation.js"></script>`))
		case "/negotiation.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write(harness)
		default:
			f, ok := bundle.ByURL(r.URL.Path)
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", f.ContentType)
			_, _ = w.Write(f.Body)
		}
	}))
	defer srv.Close()

	ctx := openChromium(t, execPath, srv.URL+"/")
	loadCtx, cancelLoad := context.WithTimeout(ctx, 30*time.Second)
	defer cancelLoad()
	schedules, err := chromedp.Run(loadCtx, chromedp.Evaluate[[]string](`(async () => {
  while (!window.harnessReady) await new Promise((resolve) => setTimeout(resolve, 50));
  return window.schedules;
})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(schedules) == 0 {
		t.Fatal("the harness has no schedules")
	}
	for _, name := range schedules {
		t.Run(name, func(t *testing.T) {
			runCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			result, err := chromedp.Run(runCtx, chromedp.Evaluate[scheduleResult](`window.runSchedule("`+name+`")`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			if !result.OK {
				t.Fatalf("%s; %s; channel: %s", result.Error, strings.Join(result.State, "; "), strings.Join(result.Log, ", "))
			}
			t.Logf("connected in %.1f s with %v peer connections (A, B)", result.Seconds, result.PCs)
		})
	}
}

// scheduleResult is how a schedule of testdata/negotiation.js ended.
type scheduleResult struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Seconds float64  `json:"seconds"`
	PCs     []int    `json:"pcs"`   // peer connections each side made
	State   []string `json:"state"` // each side's, when it failed
	Log     []string `json:"log"`   // what the channel lost or held
}

// modulePage opens, in a headless Chromium that stops when t ends, an empty
// page of a server of the bundle's assets, for a test to import modules
// into, and returns the tab and the bundle.
func modulePage(t *testing.T) (context.Context, *Bundle) {
	t.Helper()
	execPath := findChromium(t)
	bundle, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := bundle.ByURL(r.URL.Path); ok {
			w.Header().Set("Content-Type", f.ContentType)
			_, _ = w.Write(f.Body)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>modules</title>`))
	}))
	t.Cleanup(srv.Close)
	return openChromium(t, execPath, srv.URL+"/"), bundle
}

// openChromium opens url in a headless Chromium that stops when t ends,
// and logs the page's exceptions.
func openChromium(t *testing.T, execPath, url string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Logf("page exception: %s %s", e.ExceptionDetails.Text, e.ExceptionDetails.Exception.Description)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// findChromium returns Debian's Chromium, or skips the test without it,
// except under CI=true.
func findChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Chromium found at /usr/bin/chromium or in PATH; install it with: apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

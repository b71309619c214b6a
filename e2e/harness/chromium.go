package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tandem/bench"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// Chromium is the one tab of a headless Chromium of its own, driven over
// the DevTools protocol.
type Chromium struct {
	name string
	ctx  context.Context // chromedp's context of the tab; no deadline
}

// NeedChromium returns the path of the Chromium binary. Without one the
// test is skipped, except under CI=true, where a missing browser fails it.
func NeedChromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	for _, name := range []string{chromiumPath, "chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Unavailable(t, "no Chromium at "+chromiumPath+" or in PATH; install it with: apt-get install -y chromium")
	return ""
}

// StartChromium starts a headless Chromium with a fresh profile, fake
// devices (three cameras, Chromium's second being a depth camera that
// WebRTC cannot send, and a screen to share), its console logged to t,
// and every page recording its RTCPeerConnections in window.__pcs. extra
// options follow the defaults (a flag set twice keeps its last value);
// chromedp.ModifyCmdFunc runs it elsewhere, in a network namespace, say,
// since chromedp talks to it over a pipe. The browser stops when t ends.
func StartChromium(t testing.TB, name string, extra ...chromedp.ExecAllocatorOption) *Chromium {
	t.Helper()
	execPath := NeedChromium(t)
	holdBrowsers(t)
	opts := append(bench.ChromiumOptions(execPath, t.TempDir()),
		chromedp.Flag("use-fake-device-for-media-stream", "device-count=3"),
		chromedp.Flag("auto-select-desktop-capture-source", "Entire screen"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := startBrowser(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("%s: start %s: %v", name, execPath, err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for m, err := range chromedp.Console(ctx) {
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

	tab := &Chromium{name: name, ctx: ctx}
	err := tab.Run(context.Background(), func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: "(" + trackPeerConnectionsFn + ")();"})
		return err
	})
	if err != nil {
		t.Fatalf("%s: add the RTCPeerConnection tracker: %v", name, err)
	}
	return tab
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
	case <-time.After(PageTimeout):
		return fmt.Errorf("browser not started within %v", PageTimeout)
	}
}

func (c *Chromium) String() string { return c.name }

// Run calls f with the tab's chromedp context, cancelled when ctx ends or
// after PageTimeout, for what only Chromium can do (emulate a phone, type).
func (c *Chromium) Run(ctx context.Context, f func(context.Context) error) error {
	tabCtx, cancel := context.WithTimeout(c.ctx, PageTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	return f(tabCtx)
}

func (c *Chromium) Navigate(ctx context.Context, url string) error {
	return c.Run(ctx, func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.Navigate(url)) })
}

// Reload reloads the page, as the browser's button does.
func (c *Chromium) Reload() error {
	err := c.Run(context.Background(), func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.Reload()) })
	if err != nil {
		return fmt.Errorf("%s: reload: %w", c.name, err)
	}
	return nil
}

func (c *Chromium) Eval(ctx context.Context, expr string, out any) error {
	return c.Run(ctx, func(ctx context.Context) error {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, out)
	})
}

func (c *Chromium) Click(ctx context.Context, id string) error {
	return c.Run(ctx, func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.Click(chromedp.ID(id))) })
}

// Screenshot writes a PNG of the whole page.
func (c *Chromium) Screenshot(ctx context.Context, file string) error {
	var png []byte
	err := c.Run(ctx, func(ctx context.Context) error {
		var err error
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
		return err
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, png, 0o644)
}

// Unavailable skips t for want of what msg names, or fails it under
// CI=true, where everything must run.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

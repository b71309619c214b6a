package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// timingScript runs before the call page's own scripts. It notes, with
// Date.now(), when the page's status first turns "connected" and when the
// remote video first decodes a frame, checking every 2 ms.
const timingScript = `(() => {
  if (window.__benchTimer) return;
  window.__benchTimer = setInterval(() => {
    const s = document.getElementById("status");
    const v = document.getElementById("remote-video");
    if (!window.__connectedAt && s && s.dataset.state === "connected") window.__connectedAt = Date.now();
    if (!window.__frameAt && v && v.getVideoPlaybackQuality && v.getVideoPlaybackQuality().totalVideoFrames > 0) window.__frameAt = Date.now();
    if (window.__connectedAt && window.__frameAt) clearInterval(window.__benchTimer);
  }, 2);
})();`

// lobbyReadyJS is true when the call page's lobby lets one click Join:
// the camera and microphone are on.
const lobbyReadyJS = `(() => {
  const main = document.getElementById("call"), join = document.getElementById("join");
  return !!main && !!join && main.dataset.phase === "lobby" && !join.disabled;
})()`

// waitingJS is true once the first tab is in the room, alone.
const waitingJS = `(() => {
  const main = document.getElementById("call"), s = document.getElementById("status");
  return !!main && !!s && main.dataset.phase === "call" && s.dataset.state === "waiting";
})()`

// browserCaller makes calls between two headless Chromium tabs, each in
// its own browser, on the real call page. The browsers start once, before
// the first call, so their start-up is not timed.
type browserCaller struct {
	base  string // http://host:port
	tabs  [2]context.Context
	stops []func()
	dirs  []string
}

// ChromiumOptions are the flags that let headless Chromium make a call on
// this machine: fake camera and microphone without a prompt, autoplay, no
// network of its own, and host candidates on loopback. The browser tests
// use them too, with a few of their own on top.
func ChromiumOptions(execPath, userDataDir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(userDataDir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// This replaces the defaults' disable-features list (Translate,
		// BlinkGenPropertyTrees), which matters nothing headless: a flag
		// set twice keeps only its last value.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
}

func newBrowserCaller(ctx context.Context, execPath, base string) (*browserCaller, error) {
	if _, err := os.Stat(execPath); err != nil {
		return nil, fmt.Errorf("bench: chromium: %w", err)
	}
	c := &browserCaller{base: base}
	for i := range c.tabs {
		dir, err := os.MkdirTemp("", "tandem-bench-chromium-")
		if err != nil {
			c.close()
			return nil, fmt.Errorf("bench: profile dir: %w", err)
		}
		c.dirs = append(c.dirs, dir)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), ChromiumOptions(execPath, dir)...)
		tabCtx, cancelTab := chromedp.NewContext(allocCtx)
		c.stops = append(c.stops, func() { cancelTab(); cancelAlloc() })
		c.tabs[i] = tabCtx
		// The first action binds the browser's life to tabCtx, which has
		// no deadline; it is bounded here instead.
		started := make(chan error, 1)
		go func() {
			if err := chromedp.Do(tabCtx); err != nil {
				started <- err
				return
			}
			_, err := chromedp.Call(tabCtx, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: timingScript})
			started <- err
		}()
		select {
		case err = <-started:
		case <-time.After(30 * time.Second):
			err = errors.New("not started within 30s")
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			c.close()
			return nil, fmt.Errorf("bench: start chromium: %w", err)
		}
	}
	return c, nil
}

func (c *browserCaller) close() {
	for _, stop := range c.stops {
		stop()
	}
	for _, dir := range c.dirs {
		_ = os.RemoveAll(dir)
	}
}

// tabContext is tab i's context, cancelled when ctx ends too.
func (c *browserCaller) tabContext(ctx context.Context, i int) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancel(c.tabs[i])
	stop := context.AfterFunc(ctx, cancel)
	return tctx, func() { stop(); cancel() }
}

// navigate opens link in tab i.
func (c *browserCaller) navigate(ctx context.Context, i int, link string) error {
	tctx, cancel := c.tabContext(ctx, i)
	defer cancel()
	return chromedp.Do(tctx, chromedp.Navigate(link))
}

// evaluate runs the JavaScript expression in tab i.
func evaluate[T any](ctx context.Context, c *browserCaller, i int, expr string) (T, error) {
	tctx, cancel := c.tabContext(ctx, i)
	defer cancel()
	return chromedp.Run(tctx, chromedp.Evaluate[T](expr))
}

// join opens link in tab i and clicks Join as soon as the lobby allows,
// returning when it clicked.
func (c *browserCaller) join(ctx context.Context, i int, link string) (time.Time, error) {
	if err := c.navigate(ctx, i, link); err != nil {
		return time.Time{}, fmt.Errorf("bench: tab %d: %w", i+1, err)
	}
	if err := c.waitFor(ctx, i, lobbyReadyJS); err != nil {
		return time.Time{}, fmt.Errorf("bench: tab %d: lobby not ready: %w", i+1, err)
	}
	clicked := time.Now()
	tctx, cancel := c.tabContext(ctx, i)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("join"))); err != nil {
		return time.Time{}, fmt.Errorf("bench: tab %d: click Join: %w", i+1, err)
	}
	return clicked, nil
}

func (c *browserCaller) call(ctx context.Context, room string, relay bool) (callTiming, error) {
	link := c.base + "/r/" + room
	if relay {
		link += "?relay=1"
	}
	defer func() {
		for i := range c.tabs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.navigate(ctx, i, "about:blank")
			cancel()
		}
	}()
	if _, err := c.join(ctx, 0, link); err != nil {
		return callTiming{}, err
	}
	if err := c.waitFor(ctx, 0, waitingJS); err != nil {
		return callTiming{}, fmt.Errorf("bench: first tab not waiting in the room: %w", err)
	}
	t0 := time.Now()
	clicked, err := c.join(ctx, 1, link)
	if err != nil {
		return callTiming{}, err
	}
	t := callTiming{Lobby: clicked.Sub(t0)}
	for i := range c.tabs {
		if err := c.waitFor(ctx, i, `!!(window.__connectedAt && window.__frameAt)`); err != nil {
			return callTiming{}, fmt.Errorf("bench: tab %d not in the call: %w", i+1, err)
		}
		at, err := evaluate[struct{ Connected, Frame int64 }](ctx, c, i, `({Connected: window.__connectedAt, Frame: window.__frameAt})`)
		if err != nil {
			return callTiming{}, fmt.Errorf("bench: tab %d: %w", i+1, err)
		}
		t.Connected = max(t.Connected, time.UnixMilli(at.Connected).Sub(t0))
		t.FirstFrame = max(t.FirstFrame, time.UnixMilli(at.Frame).Sub(t0))
	}
	return t, nil
}

// waitFor evaluates the boolean expression in tab i every 20 ms until it
// is true or ctx ends.
func (c *browserCaller) waitFor(ctx context.Context, i int, expr string) error {
	for {
		if ok, err := evaluate[bool](ctx, c, i, expr); err == nil && ok {
			return nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

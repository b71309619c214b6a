//go:build linux

package bidi

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
)

// screenshotDir is test-output/screenshots at the repository root, as
// seen from the package directory that go test runs in.
const screenshotDir = "../../test-output/screenshots"

// testPage has a button that counts clicks and an input that records keys.
const testPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>bidi test page</title>
<style>
  body { font: 24px sans-serif; margin: 40px; background: #eef; }
  button, input { font: inherit; }
  #spacer { height: 1500px; }
</style></head>
<body>
<h1>bidi test page</h1>
<input id="text" autocomplete="off">
<div id="spacer"></div>
<button id="button">Click me</button>
<script>
  window.clicks = [];
  window.keys = [];
  document.getElementById("button").addEventListener("click", (e) => {
    window.clicks.push({ trusted: e.isTrusted, x: e.clientX, y: e.clientY });
  });
  document.getElementById("text").addEventListener("keydown", (e) => window.keys.push(e.key));
</script>
</body></html>`

// pageServer serves testPage on a loopback port until the test ends.
func pageServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(testPage))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// openPage launches Firefox, opens a tab in a user context of its own and
// loads the test page in it.
func openPage(t *testing.T) (*Browser, *Tab) {
	t.Helper()
	url := pageServer(t)
	b := launch(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	uc, err := b.NewUserContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := b.NewTab(ctx, uc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.AddPreloadScript(ctx, `() => { window.preloaded = document.readyState; }`); err != nil {
		t.Fatal(err)
	}
	if err := tab.Navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	return b, tab
}

// TestTab drives one page through every kind of command.
func TestTab(t *testing.T) {
	_, tab := openPage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*callTimeout)
	defer cancel()

	t.Run("evaluate", func(t *testing.T) {
		cases := []struct {
			expr string
			want any
		}{
			{`"héllo " + "wörld"`, "héllo wörld"},
			{`6 * 7`, 42.0},
			{`0.5`, 0.5},
			{`1 / 0`, math.Inf(1)},
			{`true`, true},
			{`null`, nil},
			{`undefined`, nil},
			{`[1, "two", false, null, [3]]`, []any{1.0, "two", false, nil, []any{3.0}}},
			{`({ a: 1, b: { c: ["d"] }, e: null })`, map[string]any{"a": 1.0, "b": map[string]any{"c": []any{"d"}}, "e": nil}},
			{`new Map([[1, "one"], ["two", 2]])`, map[string]any{"1": "one", "two": 2.0}},
			{`new Promise((resolve) => setTimeout(() => resolve("later"), 50))`, "later"},
			{`window.preloaded`, "loading"}, // the preload script ran before the page's
			{`document.title`, "bidi test page"},
		}
		for _, tc := range cases {
			got, err := tab.Evaluate(ctx, tc.expr)
			if err != nil {
				t.Errorf("%s: %v", tc.expr, err)
				continue
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.expr, got, tc.want)
			}
		}
	})

	t.Run("evaluate into", func(t *testing.T) {
		var got struct {
			Width  int    `json:"width"`
			Scheme string `json:"scheme"`
		}
		if err := tab.EvaluateInto(ctx, `({ width: 640, scheme: location.protocol })`, &got); err != nil {
			t.Fatal(err)
		}
		if got.Width != 640 || got.Scheme != "http:" {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("exceptions", func(t *testing.T) {
		for _, expr := range []string{`nosuchvariable`, `Promise.reject(new Error("refused"))`, `(() => { throw "thrown"; })()`} {
			_, err := tab.Evaluate(ctx, expr)
			var se *ScriptError
			if !errors.As(err, &se) {
				t.Errorf("%s: %v, want a *ScriptError", expr, err)
				continue
			}
			t.Logf("%s: %v", expr, err)
		}
	})

	t.Run("bidi error", func(t *testing.T) {
		err := tab.b.Call(ctx, "browsingContext.navigate", map[string]any{"context": "no-such-context", "url": "about:blank"}, nil)
		var be *Error
		if !errors.As(err, &be) || be.Code != "no such frame" {
			t.Fatalf("navigate a context that does not exist: %v, want a %q *Error", err, "no such frame")
		}
		t.Log(err)
	})

	t.Run("getUserMedia", func(t *testing.T) {
		var tracks []struct {
			Kind  string `json:"kind"`
			State string `json:"state"`
			Label string `json:"label"`
		}
		err := tab.EvaluateInto(ctx, `navigator.mediaDevices.getUserMedia({ audio: true, video: true })
  .then((s) => s.getTracks().map((t) => ({ kind: t.kind, state: t.readyState, label: t.label })))`, &tracks)
		if err != nil {
			t.Fatal(err)
		}
		live := map[string]int{}
		for _, tr := range tracks {
			t.Logf("track %+v", tr)
			if tr.State == "live" {
				live[tr.Kind]++
			}
		}
		if live["audio"] != 1 || live["video"] != 1 {
			t.Errorf("live tracks %v, want one audio and one video", live)
		}
	})

	t.Run("click", func(t *testing.T) {
		if err := tab.Click(ctx, "#button"); err != nil {
			t.Fatal(err)
		}
		var clicks []struct {
			Trusted bool    `json:"trusted"`
			X       float64 `json:"x"`
			Y       float64 `json:"y"`
		}
		if err := tab.EvaluateInto(ctx, `window.clicks`, &clicks); err != nil {
			t.Fatal(err)
		}
		if len(clicks) != 1 || !clicks[0].Trusted {
			t.Fatalf("clicks %+v, want one trusted click", clicks)
		}
		t.Logf("click at %v,%v", clicks[0].X, clicks[0].Y)
		if err := tab.Click(ctx, "#nosuchelement"); err == nil {
			t.Error("a click on no element succeeded")
		}
	})

	t.Run("type", func(t *testing.T) {
		if err := tab.Click(ctx, "#text"); err != nil {
			t.Fatal(err)
		}
		if err := tab.Type(ctx, "hi!"+KeyBackspace+"?"+KeyEnter); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Value string   `json:"value"`
			Keys  []string `json:"keys"`
		}
		if err := tab.EvaluateInto(ctx, `({ value: document.getElementById("text").value, keys: window.keys })`, &got); err != nil {
			t.Fatal(err)
		}
		wantKeys := []string{"h", "i", "!", "Backspace", "?", "Enter"}
		if got.Value != "hi?" || !reflect.DeepEqual(got.Keys, wantKeys) {
			t.Errorf("input %q with keys %q, want %q with %q", got.Value, got.Keys, "hi?", wantKeys)
		}
	})

	t.Run("viewport and screenshot", func(t *testing.T) {
		for _, v := range []Viewport{{Width: 800, Height: 600}, {Width: 390, Height: 844, DevicePixelRatio: 2}} {
			if err := tab.SetViewport(ctx, v); err != nil {
				t.Fatal(err)
			}
			var inner struct{ W, H int }
			if err := tab.EvaluateInto(ctx, `({ W: innerWidth, H: innerHeight })`, &inner); err != nil {
				t.Fatal(err)
			}
			if inner.W != v.Width || inner.H != v.Height {
				t.Errorf("inner size %dx%d after SetViewport(%+v)", inner.W, inner.H, v)
			}
		}
		if err := tab.SetViewport(ctx, Viewport{Width: 800, Height: 600}); err != nil {
			t.Fatal(err)
		}
		if _, err := tab.Evaluate(ctx, `window.scrollTo(0, 0)`); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			origin     Origin
			minW, minH int
		}{
			{OriginViewport, 800, 600},
			{OriginDocument, 700, 1500}, // the page, without the scroll bar
		}
		for _, tc := range cases {
			b, err := tab.Screenshot(ctx, tc.origin)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s screenshot: %v", tc.origin, err)
			}
			size := img.Bounds().Size()
			t.Logf("%s screenshot: %dx%d, %d bytes", tc.origin, size.X, size.Y, len(b))
			if size.X < tc.minW || size.Y < tc.minH {
				t.Errorf("%s screenshot is %dx%d, want at least %dx%d", tc.origin, size.X, size.Y, tc.minW, tc.minH)
			}
		}
		file := filepath.Join(screenshotDir, "bidi-test-page.png")
		if err := tab.SaveScreenshot(ctx, OriginViewport, file); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", file)
	})
}

package harness

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// ScreenshotDir is test-output/screenshots at the repository root, as seen
// from the directory of a package in e2e/, where go test runs its tests.
const ScreenshotDir = "../../test-output/screenshots"

// OpenCall opens url in two new Chromium tabs, one after the other, and
// waits until both are in the call.
func OpenCall(t testing.TB, url string) [2]*Chromium {
	t.Helper()
	return OpenCallAt(t, [2]string{url, url})
}

// OpenCallAt is OpenCall with each tab at its own URL of the same room.
// Extra options go to both browsers (see StartChromium).
func OpenCallAt(t testing.TB, urls [2]string, extra ...chromedp.ExecAllocatorOption) [2]*Chromium {
	t.Helper()
	tabs := [2]*Chromium{StartChromium(t, "tab1", extra...), StartChromium(t, "tab2", extra...)}
	for i, tb := range tabs {
		if err := Join(tb, urls[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range tabs {
		if err := WaitState(tb, "connected"); err != nil {
			t.Fatal(err)
		}
	}
	return tabs
}

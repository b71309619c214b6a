package assets

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// englishWords is verification.js's English list, in its order.
var englishWords = strings.Fields(`apple bear bell bike bird boat book bread bridge cake camel candle car castle cat chair
	cheese cloud coin corn cow crab drum duck eagle egg fish flag flower fork fox frog
	garden gift goat grape hat horse house key kite lamp leaf lemon lion moon mouse nest
	owl panda pear pen piano rabbit rain ring river rocket rose sheep ship snow star tiger`)

// referenceCode is the derivation as docs/protocol.md defines it, written
// apart from the page's: SHA-256 of "tandem verification 1", then the two
// fingerprints in byte order, each on a line; four 6-bit word indexes from
// the first three bytes, six digits from the next three modulo 10⁶.
func referenceCode(a, b string) string {
	fps := []string{a, b}
	sort.Strings(fps)
	h := sha256.Sum256([]byte("tandem verification 1\n" + fps[0] + "\n" + fps[1]))
	bits := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	var words []string
	for _, shift := range []uint{18, 12, 6, 0} {
		words = append(words, englishWords[bits>>shift&63])
	}
	digits := (uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])) % 1_000_000
	return fmt.Sprintf("%s-%06d", strings.Join(words, "-"), digits)
}

// TestVerificationCode: verification.js, run in Chromium, gives the known
// answers, which the reference derivation gives too; either order of the
// fingerprints gives the same code, and a fingerprint changed by one
// digit gives another; fingerprints are read from Chromium's and
// Firefox's SDP alike.
func TestVerificationCode(t *testing.T) {
	const (
		fpA = "sha-256 4E:1B:7C:39:A0:D2:5F:88:13:6E:C4:9A:02:B7:F1:5D:63:E8:2A:90:CC:47:1F:B3:08:D5:7E:64:A9:3C:F2:11"
		fpB = "sha-256 D0:32:9F:41:6B:E7:0C:A5:58:F3:21:8E:B4:7A:C6:1D:95:40:E2:3B:8F:07:6D:A1:54:C9:2E:F8:73:1A:B6:0D"
		fpC = "sha-256 D0:32:9F:41:6B:E7:0C:A5:58:F3:21:8E:B4:7A:C6:1D:95:40:E2:3B:8F:07:6D:A1:54:C9:2E:F8:73:1A:B6:0E"
	)
	tests := []struct {
		name, a, b, want string
	}{
		{"a call", fpA, fpB, "leaf-gift-star-owl-620517"},
		{"the other side", fpB, fpA, "leaf-gift-star-owl-620517"},
		{"one digit changed", fpA, fpC, "bread-drum-rose-duck-141511"},
	}
	ctx, bundle := modulePage(t)
	module := bundle.URL("verification.js")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ref := referenceCode(tt.a, tt.b); ref != tt.want {
				t.Errorf("reference derivation: %s, want %s", ref, tt.want)
			}
			runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			got, err := chromedp.Run(runCtx, chromedp.Evaluate[string](fmt.Sprintf(
				`import(%q).then(async (m) => m.asciiCode(await m.deriveCode(%q, %q)))`, module, tt.a, tt.b), chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("verification.js: %s, want %s", got, tt.want)
			}
		})
	}

	sdps := map[string]string{
		"Chromium, media level":  "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 4e:1b:7c:39\r\na=setup:actpass\r\n",
		"Firefox, session level": "v=0\r\no=mozilla...THIS_IS_SDPARTA 1 0 IN IP4 0.0.0.0\r\ns=-\r\na=fingerprint:SHA-256 4E:1B:7C:39\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109\r\n",
	}
	for name, sdp := range sdps {
		runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := chromedp.Run(runCtx, chromedp.Evaluate[string](fmt.Sprintf(`import(%q).then((m) => m.fingerprint(%q))`, module, sdp), chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || got != "sha-256 4E:1B:7C:39" {
			t.Errorf("%s: fingerprint = %q, %v", name, got, err)
		}
	}
}

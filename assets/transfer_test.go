package assets

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSha256: transfer.js's SHA-256, fed in pieces of every size, agrees
// with WebCrypto's on messages around every padding boundary, and with
// the FIPS 180-2 examples.
func TestSha256(t *testing.T) {
	ctx, bundle := modulePage(t)
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mismatches, err := chromedp.Run(runCtx, chromedp.Evaluate[[]string](fmt.Sprintf(`import(%q).then(async ({ Sha256 }) => {
	const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
	const bad = [];
	const known = { "": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq": "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" };
	for (const [text, want] of Object.entries(known)) {
		const h = new Sha256();
		h.update(new TextEncoder().encode(text));
		const got = h.hex();
		if (got !== want) bad.push(JSON.stringify(text) + ": " + got);
	}
	for (const size of [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 65536, 1 << 20]) {
		const data = new Uint8Array(size);
		for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(size, i + 65536)));
		const h = new Sha256();
		for (let at = 0, piece = 1; at < size; at += piece, piece = (piece * 7 + 3) %% 5000 + 1) h.update(data.subarray(at, at + piece));
		const got = h.hex(), want = hex(await crypto.subtle.digest("SHA-256", data));
		if (got !== want) bad.push(size + " bytes: " + got + ", want " + want);
	}
	return bad;
})`, bundle.URL("transfer.js")), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mismatches {
		t.Error(m)
	}
}

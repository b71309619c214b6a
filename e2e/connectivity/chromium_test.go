package connectivity

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tandem/bench"
	"tandem/e2e/netlab"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// needChromium skips the test without Chromium, except under CI=true.
func needChromium(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is missing at %s", chromiumPath)
		}
		t.Skipf("Chromium is not installed at %s (apt-get install chromium)", chromiumPath)
	}
}

// spkiHash is the base64 SHA-256 of a PEM certificate's public key, the
// form --ignore-certificate-errors-spki-list takes.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// startChromium runs a headless Chromium inside the namespace ns and
// returns its tab. It trusts the server's self-signed certificate, for
// pages, WebSockets and TURN over TLS alike, by its key: the network
// service's certificate verifier, which TURN's TLS sockets use too, honours
// the SPKI list. chromedp talks to it over a pipe (fds 3 and 4), which
// crosses namespaces as sockets would not. The browser ends with t.
func startChromium(t *testing.T, lab *netlab.Lab, ns, name, certFile string) *chromiumPage {
	t.Helper()
	needChromium(t)
	opts := append(bench.ChromiumOptions(chromiumPath, t.TempDir()),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(t, certFile)),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			inNS := lab.Command(ns, cmd.Path, cmd.Args[1:]...)
			cmd.Path, cmd.Args = inNS.Path, inNS.Args
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx() // closes the browser and waits for it
		cancelAlloc()
	})
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }() // binds the browser to ctx, which has no deadline
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("%s: start Chromium in %s: %v", name, ns, err)
		}
	case <-time.After(pageTimeout):
		t.Fatalf("%s: Chromium did not start within %v", name, pageTimeout)
	}
	callCtx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	if _, err := chromedp.Call(callCtx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: "(" + trackPeerConnectionsFn + ")();"}); err != nil {
		t.Fatalf("%s: add the RTCPeerConnection tracker: %v", name, err)
	}
	return &chromiumPage{name: name, ctx: ctx}
}

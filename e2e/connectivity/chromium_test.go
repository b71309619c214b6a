package connectivity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"

	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

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
func startChromium(t *testing.T, lab *netlab.Lab, ns, name, certFile string) *harness.Chromium {
	t.Helper()
	return harness.StartChromium(t, name,
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(t, certFile)),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			inNS := lab.Command(ns, cmd.Path, cmd.Args[1:]...)
			cmd.Path, cmd.Args = inNS.Path, inNS.Args
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	)
}

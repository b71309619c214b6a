package harness

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// TrustCert makes Chromium trust the self-signed PEM certificate in
// certFile, by its key, for pages, WebSockets and TURN over TLS alike: the
// network service's certificate verifier, which TURN's TLS sockets use
// too, honours --ignore-certificate-errors-spki-list.
func TrustCert(t testing.TB, certFile string) chromedp.ExecAllocatorOption {
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
	return chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(sum[:]))
}

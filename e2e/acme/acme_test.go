package acme

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tandem/e2e/harness"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// domain is the name Tandem gets a certificate for; the test DNS and
// dialer send it to 127.0.0.1.
const domain = "call.tandem.test"

// certTimeout bounds the wait for a certificate: an order, a challenge,
// and Pebble's one-second retry hints.
const certTimeout = 60 * time.Second

// startTandem runs tandem with -domain against p, its web port on
// webPort and its plain-HTTP port on httpPort (0: off), keeping its ACME
// state in dataDir.
func startTandem(t *testing.T, p *pebble, webPort, httpPort int, dataDir string, extra ...string) *harness.Server {
	t.Helper()
	httpAddr := "off"
	if httpPort != 0 {
		httpAddr = "127.0.0.1:" + strconv.Itoa(httpPort)
	}
	args := append([]string{
		"-domain", domain,
		"-addr", "127.0.0.1:" + strconv.Itoa(webPort),
		"-http-addr", httpAddr,
		"-acme-ca", p.dirURL,
		"-acme-ca-root", p.rootFile,
		"-data-dir", dataDir,
		"-acme-renew-interval", "1s",
	}, extra...)
	return tandem.StartServer(t, args...)
}

func tlsTrusting(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: domain}
}

// waitCertificate waits until addr serves domain a certificate that
// roots trust and whose serial number is not notSerial, and returns it.
// Each look is preceded by the calls of each, if any.
func waitCertificate(t *testing.T, srv *harness.Server, roots *x509.CertPool, notSerial string, each ...func()) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(certTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		for _, f := range each {
			f()
		}
		conn, err := tls.Dial("tcp", srv.Addr, tlsTrusting(roots))
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if leaf.SerialNumber.String() != notSerial {
				return leaf
			}
			err = errSameCertificate
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no new trusted certificate for %s within %v: %v", domain, certTimeout, lastErr)
	return nil
}

type testError string

func (e testError) Error() string { return string(e) }

const errSameCertificate = testError("still the certificate before")

// client fetches from domain through 127.0.0.1, trusting roots, and does
// not follow redirects.
func client(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DialContext: dialer, TLSClientConfig: tlsTrusting(roots)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestHTTP01: Tandem obtains its certificate through HTTP-01 on its
// plain-HTTP port (Pebble's TLS-ALPN-01 port is closed), serves HTTPS
// with it and HSTS, redirects http:// to https://, and after a restart
// serves the stored certificate without a new order.
func TestHTTP01(t *testing.T) {
	webPort, httpPort := harness.FreePort(t), harness.FreePort(t)
	p := startPebble(t, pebbleOptions{httpPort: httpPort, tlsPort: closedPort(t)})
	dataDir := filepath.Join(t.TempDir(), "data") // made by tandem
	srv := startTandem(t, p, webPort, httpPort, dataDir)
	roots := p.issuingRoots(t)
	cert := waitCertificate(t, srv, roots, "")
	t.Logf("certificate %s for %v from %s, valid until %s", cert.SerialNumber, cert.DNSNames, cert.Issuer, cert.NotAfter)
	for _, want := range []string{"answered an ACME HTTP-01 challenge", "certificate obtained"} {
		if !strings.Contains(srv.Logs.String(), want) {
			t.Errorf("tandem's log lacks %q", want)
		}
	}

	// Keys and certificates are the server's alone.
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: others may read it", path, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	c := client(roots)
	base := "https://" + domain + ":" + strconv.Itoa(webPort)
	resp, err := c.Get(base + "/r/team")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("HTTPS page: %s, Strict-Transport-Security %q", resp.Status, resp.Header.Get("Strict-Transport-Security"))
	}
	resp, err = c.Get("http://" + domain + ":" + strconv.Itoa(httpPort) + "/r/team?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != base+"/r/team?x=1" {
		t.Errorf("http:// answered %s to %q, want 308 to %s", resp.Status, resp.Header.Get("Location"), base+"/r/team?x=1")
	}

	srv.Stop()
	again := startTandem(t, p, webPort, httpPort, dataDir)
	if got := waitCertificate(t, again, roots, ""); got.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("after a restart: certificate %s, want the stored %s", got.SerialNumber, cert.SerialNumber)
	}
	time.Sleep(2 * time.Second) // time enough for an order, were one made
	for _, unwanted := range []string{"answered an ACME", "certificate obtained"} {
		if strings.Contains(again.Logs.String(), unwanted) {
			t.Errorf("after a restart tandem's log says %q: it ordered again", unwanted)
		}
	}
}

// TestTLSALPN01: with no plain-HTTP port, Tandem obtains its certificate
// through TLS-ALPN-01 on its HTTPS port, the one TURN over TLS shares.
func TestTLSALPN01(t *testing.T) {
	webPort := harness.FreePort(t)
	p := startPebble(t, pebbleOptions{httpPort: closedPort(t), tlsPort: webPort})
	srv := startTandem(t, p, webPort, 0, t.TempDir())
	waitCertificate(t, srv, p.issuingRoots(t), "")
	if !strings.Contains(srv.Logs.String(), "answered an ACME TLS-ALPN-01 challenge") {
		t.Error("tandem's log does not say it answered TLS-ALPN-01")
	}
	if srv.PlainHTTP != 0 {
		t.Errorf("-http-addr off, yet a plain-HTTP port %d", srv.PlainHTTP)
	}
}

// TestRenewal: Pebble's certificates last 30 s, so Tandem renews within
// about 20 s; the new certificate serves new connections while a
// WebSocket opened before it keeps working.
func TestRenewal(t *testing.T) {
	webPort, httpPort := harness.FreePort(t), harness.FreePort(t)
	p := startPebble(t, pebbleOptions{httpPort: httpPort, tlsPort: webPort, validity: 30 * time.Second})
	srv := startTandem(t, p, webPort, httpPort, t.TempDir())
	roots := p.issuingRoots(t)
	first := waitCertificate(t, srv, roots, "")

	ws := wiretest.Dial(t, "wss://"+domain+":"+strconv.Itoa(webPort)+"/ws/renewal",
		&wire.DialOptions{TLS: tlsTrusting(roots), NetDial: dialer})
	ws.MustExpect(wire.TypeCreated)

	// The WebSocket answers throughout (its reads also answer the server's
	// heartbeat, which puts out a client that stays silent).
	alive := func() {
		if err := ws.Ping(); err != nil {
			t.Fatalf("the WebSocket opened before the renewal: %v", err)
		}
		ws.MustExpect(wire.TypePong)
	}
	renewed := waitCertificate(t, srv, roots, first.SerialNumber.String(), alive)
	t.Logf("renewed: %s (until %s) after %s (until %s)", renewed.SerialNumber, renewed.NotAfter, first.SerialNumber, first.NotAfter)
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Errorf("the renewed certificate ends %s, not after the first's %s", renewed.NotAfter, first.NotAfter)
	}
	if !strings.Contains(srv.Logs.String(), "renewal=true") {
		t.Error("tandem's log does not report the renewal")
	}
	alive()
}

// TestRenewalFailure: the CA is gone when the certificate is due; the
// failure is logged as an error with its likely cause, retried, and the
// certificate Tandem has keeps serving.
func TestRenewalFailure(t *testing.T) {
	webPort, httpPort := harness.FreePort(t), harness.FreePort(t)
	p := startPebble(t, pebbleOptions{httpPort: httpPort, tlsPort: webPort, validity: 30 * time.Second})
	srv := startTandem(t, p, webPort, httpPort, t.TempDir())
	roots := p.issuingRoots(t)
	first := waitCertificate(t, srv, roots, "")
	p.stop()
	deadline := time.Now().Add(certTimeout)
	for !strings.Contains(srv.Logs.String(), "could not renew the certificate") {
		if time.Now().After(deadline) {
			t.Fatalf("no renewal failure logged within %v", certTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(srv.Logs.String(), `likely_cause="cannot reach the CA`) {
		t.Error("the failure does not name its likely cause")
	}
	conn, err := tls.Dial("tcp", srv.Addr, tlsTrusting(roots))
	if err != nil {
		t.Fatalf("after a failed renewal: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(first.SerialNumber) != 0 {
		t.Errorf("serves %s, want the certificate it had, %s", got, first.SerialNumber)
	}
}

// TestBrowserCallOverACME: two Chromium tabs hold a call on the page
// served with the certificate Pebble issued. Chromium cannot be told to
// trust Pebble's root; it is told to accept that certificate's key.
func TestBrowserCallOverACME(t *testing.T) {
	harness.NeedChromium(t)
	webPort, httpPort := harness.FreePort(t), harness.FreePort(t)
	p := startPebble(t, pebbleOptions{httpPort: httpPort, tlsPort: webPort})
	srv := startTandem(t, p, webPort, httpPort, t.TempDir())
	cert := waitCertificate(t, srv, p.issuingRoots(t), "")
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	url := "https://" + domain + ":" + strconv.Itoa(webPort) + "/r/" + harness.RoomName(t)
	tabs := harness.OpenCallAt(t, [2]string{url, url},
		chromedp.Flag("host-resolver-rules", "MAP "+domain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
	for _, tb := range tabs {
		if err := harness.RemoteVideoPlays(tb); err != nil {
			t.Fatal(err)
		}
		secure, err := harness.Eval[bool](tb, `window.isSecureContext && location.protocol === "https:"`)
		if err != nil || !secure {
			t.Errorf("%s: not a secure https: page (%v)", tb, err)
		}
	}
}

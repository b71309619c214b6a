package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"tandem/app/certs"
	"tandem/bench/selfsigned"
	"tandem/e2e/harness"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// TestTLS: with -tls-cert and -tls-key the pages and the WebSocket are
// served over HTTPS.
func TestTLS(t *testing.T) {
	certFile, keyFile, _ := selfSignedCert(t)
	srv := startServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + srv.addr() + "/r/secure-room")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get(srv.URL + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	}
	wiretest.Dial(t, "wss://"+srv.addr()+"/ws/secure-room", &wire.DialOptions{TLS: &tls.Config{InsecureSkipVerify: true}}).
		MustExpect(wire.TypeCreated)
}

// TestTURNOnWebPort: the web port carries TURN as well, over TLS when the
// server has a certificate and over plain TCP when not; browsers are told
// so, after TURN's own UDP and TCP; a TURN client allocates through it,
// with and without the stun.turn ALPN; -turn-tls-addr adds a TLS listener
// of TURN's own.
func TestTURNOnWebPort(t *testing.T) {
	certFile, keyFile, cert := selfSignedCert(t)
	for _, tt := range []struct {
		name   string
		args   []string
		scheme string // of the web-port TURN URL
	}{
		{"plain HTTP", nil, "turn"},
		{"HTTPS", []string{"-tls-cert", certFile, "-tls-key", keyFile}, "turns"},
		{"HTTPS and -turn-tls-addr", []string{"-tls-cert", certFile, "-tls-key", keyFile, "-turn-tls-addr", "127.0.0.1:0"}, "turns"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, l := startServerListening(t, tt.args...)
			_, webPort, _ := net.SplitHostPort(srv.addr())
			wsURL := srv.wsURL("turn-web-port")
			if tt.scheme == "turns" {
				wsURL = strings.Replace(wsURL, "ws://", "wss://", 1)
			}
			hello := wiretest.Dial(t, wsURL, &wire.DialOptions{TLS: &tls.Config{RootCAs: cert.Pool}}).MustNext()
			var urls []string
			var user, pass string
			for _, s := range hello.ICEServers {
				urls = append(urls, s.URLs...)
				if s.Username != "" {
					user, pass = s.Username, s.Credential
				}
			}
			want := []string{
				fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", l.TURN),
				fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", l.TURN),
				fmt.Sprintf("%s:127.0.0.1:%s?transport=tcp", tt.scheme, webPort),
			}
			if l.TURNTLS != 0 {
				want = append(want, fmt.Sprintf("turns:127.0.0.1:%d?transport=tcp", l.TURNTLS))
			}
			if got := urls[1:]; !slices.Equal(got, want) {
				t.Fatalf("TURN URLs\n got %v\nwant %v", got, want)
			}

			ports := []string{webPort}
			if l.TURNTLS != 0 {
				ports = append(ports, fmt.Sprint(l.TURNTLS))
			}
			for _, port := range ports {
				for _, alpn := range [][]string{nil, {"stun.turn"}} {
					addr := net.JoinHostPort("127.0.0.1", port)
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					if tt.scheme == "turns" {
						tc := tls.Client(conn, &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1", NextProtos: alpn})
						if err := tc.Handshake(); err != nil {
							t.Fatalf("TLS to %s: %v", addr, err)
						}
						conn = tc
					}
					if err := harness.Allocate(turn.NewSTUNConn(conn), addr, user, pass); err != nil {
						t.Errorf("allocate through %s (ALPN %v): %v", addr, alpn, err)
					}
				}
			}
			// The web port still serves pages.
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
			home := srv.URL + "/"
			if tt.scheme == "turns" {
				home = "https://" + srv.addr() + "/"
			}
			resp, err := client.Get(home)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("home page: %d", resp.StatusCode)
			}
		})
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key as PEM.
func selfSignedCert(t *testing.T) (certFile, keyFile string, cert *selfsigned.Cert) {
	t.Helper()
	cert, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = cert.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestCertificateFilesReplaced: certificate files replaced under a
// running server (as certbot renews) serve new connections within
// certs.ReloadInterval, while a WebSocket opened before keeps working;
// -http-addr redirects to HTTPS.
func TestCertificateFilesReplaced(t *testing.T) {
	certFile, keyFile, old := selfSignedCert(t)
	srv, l := startServerListening(t, "-tls-cert", certFile, "-tls-key", keyFile, "-http-addr", "127.0.0.1:0")

	resp, _ := harness.Get(t, fmt.Sprintf("http://127.0.0.1:%d/r/team?x=1", l.PlainHTTP))
	if want := "https://" + srv.addr() + "/r/team?x=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("http:// answered %d to %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	ws := wiretest.Dial(t, "wss://"+srv.addr()+"/ws/renewed", &wire.DialOptions{TLS: &tls.Config{RootCAs: old.Pool}})
	ws.MustExpect(wire.TypeCreated)
	next, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := next.WriteFiles(filepath.Dir(certFile)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(certs.ReloadInterval + 10*time.Second)
	for {
		if err := ws.Ping(); err != nil { // also answers the server's heartbeat
			t.Fatal(err)
		}
		ws.MustExpect(wire.TypePong)
		conn, err := tls.Dial("tcp", srv.addr(), &tls.Config{RootCAs: next.Pool})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced certificate is not served after %v: %v", certs.ReloadInterval+10*time.Second, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

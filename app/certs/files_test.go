package certs

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/bench/selfsigned"
)

// lockedBuffer is a log both a server and its test use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// servedSerial dials addr over TLS and returns the serial number of the
// certificate it shows.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestFilesReload replaces the files under a TLS listener: a valid new
// pair serves new connections, while a live one keeps its session; a
// broken pair (a key that does not match, a half-written file) is refused
// with a log line, and the pair before it keeps serving.
func TestFilesReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pairs := make([]*selfsigned.Cert, 3)
	for i := range pairs {
		c, err := selfsigned.New("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		pairs[i] = c
		time.Sleep(time.Millisecond) // serial numbers are nanosecond clocks
	}
	write := func(cert, key []byte) {
		t.Helper()
		if err := os.WriteFile(certFile, cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serial := func(c *selfsigned.Cert) string { return c.TLS.Leaf.SerialNumber.String() }

	write(pairs[0].CertPEM, pairs[0].KeyPEM)
	var logs lockedBuffer
	files, err := LoadFiles(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: files.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); _, _ = c.Read(make([]byte, 1)); c.Close() }()
		}
	}()
	addr := ln.Addr().String()
	if got := servedSerial(t, addr); got != serial(pairs[0]) {
		t.Fatalf("serves %s, want the first pair %s", got, serial(pairs[0]))
	}
	if files.Reload() {
		t.Fatal("reloaded files that did not change")
	}

	steps := []struct {
		name       string
		cert, key  []byte
		reloaded   bool
		wantSerial string
		wantLog    string
	}{
		{"new pair", pairs[1].CertPEM, pairs[1].KeyPEM, true, serial(pairs[1]), "TLS certificate reloaded"},
		{"key of another pair", pairs[2].CertPEM, pairs[0].KeyPEM, false, serial(pairs[1]), "new TLS certificate refused"},
		{"half-written certificate", pairs[2].CertPEM[:100], pairs[2].KeyPEM, false, serial(pairs[1]), "new TLS certificate refused"},
		{"fixed", pairs[2].CertPEM, pairs[2].KeyPEM, true, serial(pairs[2]), "TLS certificate reloaded"},
	}
	for _, s := range steps {
		before := len(logs.String())
		time.Sleep(10 * time.Millisecond) // a modification time of its own
		write(s.cert, s.key)
		if got := files.Reload(); got != s.reloaded {
			t.Errorf("%s: Reload() = %v, want %v", s.name, got, s.reloaded)
		}
		if got := servedSerial(t, addr); got != s.wantSerial {
			t.Errorf("%s: serves %s, want %s", s.name, got, s.wantSerial)
		}
		if logged := logs.String()[before:]; !strings.Contains(logged, s.wantLog) {
			t.Errorf("%s: log %q lacks %q", s.name, logged, s.wantLog)
		}
	}
}

func TestLoadFilesRefusesBrokenPair(t *testing.T) {
	a, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, tt := range []struct {
		name      string
		cert, key []byte
	}{
		{"mismatched key", a.CertPEM, b.KeyPEM},
		{"not PEM", []byte("hello"), a.KeyPEM},
	} {
		if err := os.WriteFile(certFile, tt.cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, tt.key, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFiles(certFile, keyFile, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: loaded", tt.name)
		}
	}
	if _, err := LoadFiles(filepath.Join(dir, "missing.pem"), keyFile, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("loaded a missing file")
	}
}

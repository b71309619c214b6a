// Package certs provides the certificate of the web port (and of TURN's
// own TLS listener): from files, picked up again when they are replaced,
// or obtained and renewed from an ACME CA such as Let's Encrypt. Both hand
// it to crypto/tls through GetCertificate.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ReloadInterval is how often Files looks at its files for a change.
const ReloadInterval = 10 * time.Second

// Files serves the certificate and key of two PEM files, and a replacement
// once both files hold a matching pair again (as certbot or a secret
// mounter leaves them). A broken pair is logged and refused; the
// certificate before it keeps serving.
type Files struct {
	certFile, keyFile string
	log               *slog.Logger
	current           atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // guards seen; held by one reload at a time
	seen fileStamps // of the files last loaded or refused
}

// fileStamps tell whether a file changed: its size and modification time,
// through symbolic links (certbot's live/ directory, a Kubernetes secret).
type fileStamps [2]struct {
	size    int64
	modTime time.Time
}

// LoadFiles loads the pair, which must be valid now.
func LoadFiles(certFile, keyFile string, log *slog.Logger) (*Files, error) {
	f := &Files{certFile: certFile, keyFile: keyFile, log: log}
	stamps, err := f.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	f.current.Store(cert)
	f.seen = stamps
	return f, nil
}

// GetCertificate is tls.Config's: the pair loaded last.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.current.Load(), nil
}

// Watch looks for replaced files every interval until ctx ends.
func (f *Files) Watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.Reload()
		}
	}
}

// Reload loads the files again if either changed since it last looked,
// and serves the new pair if it is valid. It reports whether it did.
func (f *Files) Reload() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamps, err := f.stamps()
	if err != nil {
		f.log.Error("TLS certificate files unreadable; the loaded certificate keeps serving", "err", err)
		return false
	}
	if stamps == f.seen {
		return false
	}
	f.seen = stamps // a broken pair is reported once, not at every look
	cert, err := loadPair(f.certFile, f.keyFile)
	if err != nil {
		f.log.Error("new TLS certificate refused; the loaded certificate keeps serving", "err", err)
		return false
	}
	f.current.Store(cert)
	f.log.Info("TLS certificate reloaded", "subject", cert.Leaf.Subject.String(),
		"names", cert.Leaf.DNSNames, "expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return true
}

func (f *Files) stamps() (fileStamps, error) {
	var s fileStamps
	for i, name := range []string{f.certFile, f.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return s, fmt.Errorf("certs: %w", err)
		}
		s[i].size, s[i].modTime = fi.Size(), fi.ModTime()
	}
	return s, nil
}

// loadPair loads a certificate and its key, which must match, and refuses
// a certificate that has expired or is not valid yet.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: load %s and %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: %s: %w", certFile, err)
		}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
		return nil, fmt.Errorf("certs: %s is valid from %s to %s, not now", certFile,
			cert.Leaf.NotBefore.UTC().Format(time.RFC3339), cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

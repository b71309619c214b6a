package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// LetsEncrypt is Let's Encrypt's production directory; LetsEncryptStaging
// its staging one, for trying a set-up without its rate limits.
const (
	LetsEncrypt        = certmagic.LetsEncryptProductionCA
	LetsEncryptStaging = certmagic.LetsEncryptStagingCA
)

// ACMEConfig says which certificates to obtain, from where, and where the
// challenges are answered.
type ACMEConfig struct {
	Domains []string
	CA      string // directory URL
	Email   string // for the CA's expiry and incident mail; may be empty
	// Roots are the roots to trust for the CA's own API (a private CA such
	// as step-ca, or Pebble in tests); nil: the system's.
	Roots *x509.CertPool
	// DataDir holds account keys and certificates (under acme/).
	DataDir string
	// RenewInterval is how often certificates are checked for renewal
	// (Caddy's renew_interval); zero: CertMagic's default.
	RenewInterval time.Duration

	// ListenHost and the ports are where this process answers the
	// challenges: HTTP-01 on HTTPPort (0: not answered), TLS-ALPN-01 on
	// TLSPort. The CA connects to 80 and 443 of the domain; they differ only
	// behind a port forward, or in tests.
	ListenHost        string
	HTTPPort, TLSPort int
}

// ACME obtains and renews certificates with CertMagic, the engine inside
// Caddy: account and certificates on disk, renewal in the background
// (every RenewInterval, a third of the lifetime before expiry, or when the
// CA's renewal information says so), retries with backoff, OCSP stapling.
type ACME struct {
	cfg    ACMEConfig
	log    *slog.Logger
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
}

// NewACME prepares certificate management; Start begins it.
func NewACME(cfg ACMEConfig, log *slog.Logger) (*ACME, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("certs: no domain")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: data directory: %w", err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the data directory is open to other users; its keys are not (0700 directories, 0600 files)",
			"dir", cfg.DataDir, "mode", fi.Mode().Perm().String())
	}
	a := &ACME{cfg: cfg, log: log}
	zl := zap.New(slogCore{log: log})
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		RenewCheckInterval: cfg.RenewInterval,
		Logger:             zl,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(cfg.DataDir, "acme")},
		// Clients that send no server name (Firefox on turns:, a URL with
		// an IP address) get the first domain's certificate.
		DefaultServerName: cfg.Domains[0],
		Logger:            zl,
		OnEvent:           a.onEvent,
	})
	a.issuer = certmagic.NewACMEIssuer(a.magic, certmagic.ACMEIssuer{
		CA:                   cfg.CA,
		Email:                cfg.Email,
		Agreed:               true,
		TrustedRoots:         cfg.Roots,
		DisableHTTPChallenge: cfg.HTTPPort == 0,
		ListenHost:           cfg.ListenHost,
		AltHTTPPort:          cfg.HTTPPort,
		AltTLSALPNPort:       cfg.TLSPort,
		Logger:               zl,
	})
	a.magic.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

// Start loads the stored certificates, or obtains them in the background,
// and keeps them renewed until ctx ends. Until a certificate is there,
// TLS handshakes for its name fail.
func (a *ACME) Start(ctx context.Context) error {
	if err := a.magic.ManageAsync(ctx, a.cfg.Domains); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// Stop ends renewal.
func (a *ACME) Stop() { a.cache.Stop() }

// GetCertificate is tls.Config's: the managed certificate of the name
// asked for, or the TLS-ALPN-01 challenge certificate when the CA asks.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.magic.GetCertificate(hello)
}

// HandleHTTPChallenge answers r if it is the CA's HTTP-01 request and
// reports whether it was.
func (a *ACME) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !a.issuer.HandleHTTPChallenge(w, r) {
		return false
	}
	a.log.Info("answered an ACME HTTP-01 challenge", "host", r.Host)
	return true
}

// onEvent logs what the operator must know: a certificate obtained or
// renewed, and loudly, with the likely cause, one that could not be.
func (a *ACME) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		a.log.Info("obtaining a certificate", "domain", name, "renewal", renewal, "ca", a.cfg.CA)
	case "cert_obtained":
		a.log.Info("certificate obtained", "domain", name, "renewal", renewal, "ca", data["issuer"])
	case "cert_failed":
		err, _ := data["error"].(error)
		msg := "could not obtain a certificate; retrying with backoff"
		if renewal {
			msg = "could not renew the certificate; retrying with backoff, the current one keeps serving"
		}
		a.log.Error(msg, "domain", name, "likely_cause", Hint(err), "err", err, "remaining", data["remaining"])
	}
	return nil
}

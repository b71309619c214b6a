package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"tandem/app/certs"
	"tandem/turn/portmux"
)

// webTLS is where the web port's certificates come from: nowhere (plain
// HTTP), files that are reloaded when replaced, or an ACME CA. TURN's own
// TLS listener serves the same ones.
type webTLS struct {
	config *tls.Config  // nil: plain HTTP
	files  *certs.Files // with -tls-cert
	acme   *certs.ACME  // with -domain
}

// newWebTLS prepares the certificates for the web listener at web; the
// plain-HTTP listener, if any, is on httpPort.
func newWebTLS(cfg config, web net.Addr, httpPort int, logger *slog.Logger) (*webTLS, error) {
	switch {
	case cfg.acme.domains != "":
		roots, err := loadRoots(cfg.acme.caRoot)
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(cfg.addr)
		a, err := certs.NewACME(certs.ACMEConfig{
			Domains:       cfg.domains(),
			CA:            cfg.acme.ca,
			Email:         cfg.acme.email,
			Roots:         roots,
			DataDir:       cfg.acme.dataDir,
			RenewInterval: cfg.acme.renewInterval,
			ListenHost:    host,
			HTTPPort:      httpPort,
			TLSPort:       web.(*net.TCPAddr).Port,
		}, logger.With("component", "acme"))
		if err != nil {
			return nil, err
		}
		return &webTLS{config: tlsConfig(a.GetCertificate, portmux.ACMETLSProtocol), acme: a}, nil
	case cfg.tlsCert != "":
		f, err := certs.LoadFiles(cfg.tlsCert, cfg.tlsKey, logger.With("component", "tls"))
		if err != nil {
			return nil, err
		}
		return &webTLS{config: tlsConfig(f.GetCertificate), files: f}, nil
	case cfg.turnTLSAddr != "":
		return nil, errors.New("-turn-tls-addr needs a certificate: -domain, or -tls-cert and -tls-key")
	}
	return &webTLS{}, nil
}

// tlsConfig serves the certificates of get, with the ALPN values of
// HTTP/1.1 and of TURN (RFC 7443; browsers send none on turns: URLs) and
// any more given.
func tlsConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error), moreProtos ...string) *tls.Config {
	return &tls.Config{
		GetCertificate: get,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     append([]string{"http/1.1", "stun.turn"}, moreProtos...),
	}
}

// start keeps the certificates fresh until ctx ends: ACME obtains or
// renews, files are looked at again.
func (w *webTLS) start(ctx context.Context) error {
	if w.files != nil {
		go w.files.Watch(ctx, certs.ReloadInterval)
	}
	if w.acme != nil {
		return w.acme.Start(ctx)
	}
	return nil
}

// stop ends ACME's renewal.
func (w *webTLS) stop() {
	if w.acme != nil {
		w.acme.Stop()
	}
}

// loadRoots reads -acme-ca-root, or returns nil (the system's roots).
func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-acme-ca-root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-acme-ca-root: no PEM certificate in %s", file)
	}
	return pool, nil
}

// serveRedirect serves h, the plain-HTTP port's redirects and ACME
// challenges, on ln until the returned server is shut down.
func serveRedirect(ln net.Listener, h http.Handler, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("plain-HTTP listener stopped", "err", err)
		}
	}()
	return srv
}

// listenWeb opens the web port and, with -http-addr, the plain-HTTP one.
func listenWeb(cfg config) (web, plain net.Listener, err error) {
	if web, err = listen(cfg.addr); err != nil {
		return nil, nil, err
	}
	if cfg.httpAddr != "" {
		if plain, err = listen(cfg.httpAddr); err != nil {
			web.Close()
			return nil, nil, err
		}
	}
	return web, plain, nil
}

// portOf is the port a listener listens on; 0 for none.
func portOf(ln net.Listener) int {
	if ln == nil {
		return 0
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(port)
	return n
}

// Command tandem serves 1:1 video calls: the web pages, WebSocket signaling
// and a TURN server, all in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tandem/app"
	"tandem/app/certs"
	"tandem/app/diag"
	"tandem/assets"
	"tandem/signaling"
	"tandem/turn"
	"tandem/turn/portmux"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now ends the process at once
	}()
	if err := growFDTable(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem: warning:", err) // only slower to open sockets
	}
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "bench":
		err = runBench(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case len(os.Args) > 1 && os.Args[1] == "version":
		printVersion(os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "healthcheck":
		err = runHealthcheck(os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
	default:
		err = run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem:", err)
		os.Exit(1)
	}
}

// minPendingPerIP is the least number of connections one address may have
// being classified on the web port: a browser loading the call page opens
// up to six at once, and its modules arrive over them.
const minPendingPerIP = 16

// listening is what a started server tells its caller (tests use it).
type listening struct {
	HTTP    net.Addr
	TURN    int // port, UDP and TCP
	TURNTLS int // port of -turn-tls-addr; 0 when off
	// PlainHTTP is the port of -http-addr (redirects, ACME HTTP-01); 0
	// when off.
	PlainHTTP int
	Metrics   int // port of -metrics-addr; 0 when off
}

// run starts everything, calls ready (when not nil) once the listeners are
// up, and serves until ctx ends; then it shuts down in order: rooms (peers
// are told), HTTP, TURN.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(listening)) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if cfg.acme.domains != "" {
		prepareDomain(ctx, &cfg, logger)
	}

	// The web port carries TURN too (package portmux), so it opens first;
	// ACME answers its challenges on it and on the plain-HTTP port.
	ln, plainLn, err := listenWeb(cfg)
	if err != nil {
		return err
	}
	if plainLn != nil {
		defer plainLn.Close()
	}
	certificates, err := newWebTLS(cfg, ln.Addr(), portOf(plainLn), logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer certificates.stop()
	tlsCfg := certificates.config
	// Connections still being classified are bounded per address by the
	// same figure as its WebSockets, but never below what a browser opens
	// at once to load a page.
	pending := cfg.signaling.maxConnsPerIP
	if pending > 0 {
		pending = max(pending, minPendingPerIP)
	}
	mux := portmux.New(ln, portmux.Config{TLS: tlsCfg, MaxPendingPerIP: pending,
		Logger: logger.With("component", "portmux")})
	defer mux.Close()

	turnCfg, err := turnConfig(cfg)
	if err != nil {
		return err
	}
	turnCfg.WebListener = mux.TURN()
	turnCfg.TLS = tlsCfg
	if cfg.turnSecret == "" {
		logger.Info("no -turn-secret given: using a random one for this run")
	}
	turnSrv, err := turn.New(turnCfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := turnSrv.Close(); err != nil {
			logger.Error("close TURN", "err", err)
		}
	}()

	bundle, err := assets.Load()
	if err != nil {
		return err
	}
	store, closeStore, err := roomStore(ctx, cfg.redisURL, logger)
	if err != nil {
		return err
	}
	defer closeStore()

	lim := cfg.signaling
	hub := signaling.NewHub(signaling.Config{
		ICEServers:          turnSrv.ICEServers,
		MaxMessageSize:      int64(lim.maxMessageSize),
		MessageRate:         lim.messageRate,
		MessageBurst:        lim.messageBurst,
		MaxConnsPerIP:       lim.maxConnsPerIP,
		JoinsPerIPPerMinute: lim.joinsPerIPPerMinute,
		MaxConns:            lim.maxConns,
		MaxRooms:            lim.maxRooms,
		LogRooms:            cfg.logRooms,
	}, store, logger)
	proxies, err := hostsOrPrefixes(cfg.trustedProxies)
	if err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	web := app.New(app.Config{
		Version:        buildVersion(),
		HSTS:           certificates.acme != nil && cfg.acme.hsts,
		AllowedOrigins: splitList(cfg.allowedOrigins),
		TrustedProxies: proxies,
	}, app.Deps{
		Rooms: hub, Diag: diag.New(turnSrv, diag.Limits{}, logger), Ready: store.Ready, Assets: bundle, Logger: logger,
	})

	metricsPort := 0
	if cfg.metricsAddr != "" {
		port, stopMetrics, err := serveMetrics(cfg.metricsAddr, hub, turnSrv, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
		metricsPort = port
	}
	if cfg.pprofAddr != "" {
		stopPprof, err := servePprof(cfg.pprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	// Tests started as a process read their ports from this line (package
	// e2e/harness); keep its message and keys.
	logger.Info("listening", "version", buildVersion(), "http", ln.Addr().String(), "tls", tlsCfg != nil,
		"turn", turnSrv.Port(), "turn_tls", turnSrv.TLSPort(), "plain_http", portOf(plainLn), "metrics", metricsPort)
	if ready != nil {
		ready(listening{HTTP: ln.Addr(), TURN: turnSrv.Port(), TURNTLS: turnSrv.TLSPort(), PlainHTTP: portOf(plainLn), Metrics: metricsPort})
	}

	served := make(chan error, 1)
	go func() { served <- web.Listener(mux.Web()) }()
	if plainLn != nil {
		redirect := serveRedirect(plainLn, certs.Redirect(certificates.acme, cfg.domains(), portOf(ln)), logger)
		defer redirect.Close()
	}
	if err := certificates.start(ctx); err != nil {
		return err
	}
	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hub.Close(closeCtx); err != nil {
		logger.Warn("some signaling connections did not close in time", "err", err)
	}
	if err := web.ShutdownWithTimeout(3 * time.Second); err != nil {
		logger.Warn("HTTP shutdown", "err", err)
	}
	return nil
}

// roomStore returns where rooms live: in Redis when a URL is given, shared
// with other instances, else in this process's memory.
func roomStore(ctx context.Context, redisURL string, logger *slog.Logger) (signaling.Store, func(), error) {
	if redisURL == "" {
		return signaling.NewMemoryStore(), func() {}, nil
	}
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rs, err := signaling.NewRedisStore(connectCtx, redisURL, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	logger.Info("rooms are shared through Redis")
	return rs, func() {
		if err := rs.Close(); err != nil {
			logger.Warn("close Redis", "err", err)
		}
	}, nil
}

func turnConfig(cfg config) (turn.Config, error) {
	min, max, err := portRange(cfg.turnRelayPorts)
	if err != nil {
		return turn.Config{}, fmt.Errorf("-turn-relay-ports: %w", err)
	}
	allow, err := prefixes(cfg.turnAllowPeers)
	if err != nil {
		return turn.Config{}, fmt.Errorf("-turn-allow-peers: %w", err)
	}
	var publicIP netip.Addr
	if cfg.turnPublicIP != "" {
		if publicIP, err = netip.ParseAddr(cfg.turnPublicIP); err != nil {
			return turn.Config{}, fmt.Errorf("-turn-public-ip: %w", err)
		}
	}
	secret := cfg.turnSecret
	if secret == "" {
		secret = turn.RandomSecret()
	}
	return turn.Config{
		Addr:          cfg.turnAddr,
		TLSAddr:       cfg.turnTLSAddr,
		Secret:        secret,
		RelayIP:       publicIP,
		Host:          cfg.turnHost,
		RelayMinPort:  min,
		RelayMaxPort:  max,
		AllowPeers:    allow,
		CredentialTTL: cfg.turnTTL,
		ExtraURLs:     splitList(cfg.iceServers),

		PreviousSecret:        cfg.turn.previousSecret,
		MaxAllocsPerUser:      cfg.turn.maxAllocsPerUser,
		MaxAllocsPerIP:        cfg.turn.maxAllocsPerIP,
		MaxBitrate:            cfg.turn.maxBitrate,
		MaxAllocationLifetime: cfg.turn.maxLifetime,
	}, nil
}

// listen opens the web port's listener.
func listen(addr string) (net.Listener, error) {
	// No TCP keep-alive probes: WebSockets ping their clients, and idle
	// HTTP connections are closed by the server's IdleTimeout. Turning
	// them on costs each accepted connection four setsockopt calls.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

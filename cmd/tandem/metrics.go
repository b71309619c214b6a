package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"tandem/app/metrics"
	"tandem/signaling"
	"tandem/turn"
)

// serveMetrics serves /metrics for Prometheus on a listener of its own at
// addr, until the returned function is called; it returns the port too.
func serveMetrics(addr string, hub *signaling.Hub, turnSrv *turn.Server, logger *slog.Logger) (port int, stop func(), err error) {
	log := logger.With("component", "metrics")
	reg := metrics.NewRegistry(metrics.Sources{Stats: hub.Stats, Signaling: hub.Counts, TURN: turnSrv.Counts}, log)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg, log))
	ln, err := listen(addr)
	if err != nil {
		return 0, nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Info("metrics are served beyond loopback: let only Prometheus reach this port", "addr", ln.Addr().String())
	}
	return portOf(ln), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

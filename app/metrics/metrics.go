// Package metrics exports Tandem's counters in the Prometheus text format.
// It reads the totals that signaling and turn keep as atomics at scrape
// time (a collector), so that counting costs their hot paths nothing more.
// No label holds a room name, a peer id or an address: every label value
// is one of a fixed set.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tandem/signaling"
	"tandem/turn"
)

// Sources are what the collector reads.
type Sources struct {
	Stats     func(ctx context.Context) (signaling.Stats, error) // rooms, seats, connections
	Signaling func() signaling.Counts
	TURN      func() turn.Counts
}

// statsTimeout bounds a scrape's look at the room store.
const statsTimeout = 2 * time.Second

var (
	connectionsDesc = prometheus.NewDesc("tandem_signaling_connections", "Signaling WebSockets this instance holds.", nil, nil)
	roomsDesc       = prometheus.NewDesc("tandem_rooms", "Rooms with a seat taken, in the room store (all instances sharing it).", nil, nil)
	seatsDesc       = prometheus.NewDesc("tandem_seats", "Seats taken, their owners connected or away, in the room store.", nil, nil)
	joinsDesc       = prometheus.NewDesc("tandem_joins_total", "Joins by result: created, joined, resumed, full, refused.", []string{"result"}, nil)
	messagesDesc    = prometheus.NewDesc("tandem_signaling_messages_total", "Signaling messages read from clients.", nil, nil)
	refusalsDesc    = prometheus.NewDesc("tandem_limit_refusals_total", "Connections turned away or put out, by limit (the error code the client is told).", []string{"limit"}, nil)
	allocsDesc      = prometheus.NewDesc("tandem_turn_allocations", "Live TURN allocations, by the client's transport.", []string{"transport"}, nil)
	allocsTotalDesc = prometheus.NewDesc("tandem_turn_allocations_total", "TURN allocations made, by the client's transport.", []string{"transport"}, nil)
	relayedDesc     = prometheus.NewDesc("tandem_turn_relayed_bytes_total", "Bytes relayed, by direction: to_peer or to_client.", []string{"direction"}, nil)
	authFailDesc    = prometheus.NewDesc("tandem_turn_auth_failures_total", "TURN requests whose credentials were refused.", nil, nil)
	peerRefusedDesc = prometheus.NewDesc("tandem_turn_peer_refusals_total", "Relaying refused: forbidden_address (a permission or channel binding), own_address_port (a datagram to the server's own address, not to a live relay).", []string{"reason"}, nil)
	droppedDesc     = prometheus.NewDesc("tandem_turn_dropped_datagrams_total", "Datagrams the relay dropped: over an allocation's bitrate cap (bitrate_out, bitrate_in), or while pion had a backlog of requests and indications on one socket (backlog).", []string{"reason"}, nil)
	scrapeErrorDesc = prometheus.NewDesc("tandem_room_store_up", "1 if the room store answered the scrape's count, else 0.", nil, nil)

	// From the pages' call reports (docs/protocol.md, Call reports).
	connectedDesc      = prometheus.NewDesc("tandem_calls_connected_total", "Calls whose media flowed, by the reporting side's path: direct, relay_udp, relay_tcp, relay_tls.", []string{"path"}, nil)
	failedDesc         = prometheus.NewDesc("tandem_calls_failed_total", "Calls given up, by reason: ice, relay, setup.", []string{"reason"}, nil)
	setupDesc          = prometheus.NewDesc("tandem_call_setup_seconds", "Time from the second person's join to connected.", nil, nil)
	restartsDesc       = prometheus.NewDesc("tandem_ice_restarts_total", "ICE restarts calls took.", nil, nil)
	durationDesc       = prometheus.NewDesc("tandem_call_duration_seconds", "How long connected calls lasted, observed when they end.", nil, nil)
	droppedReportsDesc = prometheus.NewDesc("tandem_call_reports_dropped_total", "Call reports dropped: invalid, too_many.", []string{"reason"}, nil)
)

// collector reads Sources at each scrape.
type collector struct {
	src Sources
	log *slog.Logger
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectionsDesc, roomsDesc, seatsDesc, joinsDesc, messagesDesc, refusalsDesc,
		allocsDesc, allocsTotalDesc, relayedDesc, authFailDesc, peerRefusedDesc, droppedDesc, scrapeErrorDesc,
		connectedDesc, failedDesc, setupDesc, restartsDesc, durationDesc, droppedReportsDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}

	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.src.Stats(ctx)
	gauge(connectionsDesc, float64(st.Peers))
	if err != nil {
		c.log.Warn("metrics: room store not counted", "err", err)
		gauge(scrapeErrorDesc, 0)
	} else {
		gauge(scrapeErrorDesc, 1)
		gauge(roomsDesc, float64(st.Rooms))
		gauge(seatsDesc, float64(st.Seats))
	}

	sc := c.src.Signaling()
	for result, n := range sc.Joins {
		counter(joinsDesc, float64(n), result)
	}
	counter(messagesDesc, float64(sc.Messages))
	for limit, n := range sc.Refused {
		counter(refusalsDesc, float64(n), underscores(limit))
	}
	for path, n := range sc.CallsConnected {
		counter(connectedDesc, float64(n), path)
	}
	for reason, n := range sc.CallsFailed {
		counter(failedDesc, float64(n), reason)
	}
	for reason, n := range sc.ReportsDropped {
		counter(droppedReportsDesc, float64(n), reason)
	}
	counter(restartsDesc, float64(sc.ICERestarts))
	ch <- prometheus.MustNewConstHistogram(setupDesc, sc.CallSetup.Count, sc.CallSetup.Sum, sc.CallSetup.Buckets)
	ch <- prometheus.MustNewConstHistogram(durationDesc, sc.CallDuration.Count, sc.CallDuration.Sum, sc.CallDuration.Buckets)

	tc := c.src.TURN()
	for transport, n := range tc.Allocations {
		gauge(allocsDesc, float64(n), transport)
	}
	for transport, n := range tc.AllocationsTotal {
		counter(allocsTotalDesc, float64(n), transport)
	}
	counter(relayedDesc, float64(tc.RelayedToPeer), "to_peer")
	counter(relayedDesc, float64(tc.RelayedToClient), "to_client")
	counter(authFailDesc, float64(tc.AuthFailures))
	counter(peerRefusedDesc, float64(tc.PeerRefusals), "forbidden_address")
	counter(peerRefusedDesc, float64(tc.Dropped["peer-port"]), "own_address_port")
	counter(droppedDesc, float64(tc.Dropped["bitrate-out"]), "bitrate_out")
	counter(droppedDesc, float64(tc.Dropped["bitrate-in"]), "bitrate_in")
	counter(droppedDesc, float64(tc.Dropped["backlog"]), "backlog")
}

// underscores turns a wire code (too-many-joins) into a label value in
// Prometheus's usual style (too_many_joins).
func underscores(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// NewRegistry registers Tandem's collector, and Go's runtime and process
// collectors.
func NewRegistry(src Sources, log *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collector{src: src, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg's metrics.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

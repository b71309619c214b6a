package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// SignalConfig is one signaling benchmark: Pairs rooms of two WebSocket
// clients each join through the real protocol, then relay 1 KB signal
// messages at a fixed rate and at a rising staircase of rates.
type SignalConfig struct {
	// URL is the server's base URL, http://127.0.0.1:8080.
	URL string
	// PeerURL, when set, is where the second client of each room joins:
	// another instance sharing rooms with URL's through Redis, so that every
	// message crosses instances.
	PeerURL string
	// PID is the server's process id, for its RSS and CPU time; 0 skips
	// those figures.
	PID int
	// Pairs is the number of rooms, two clients each.
	Pairs int
	// JoinRate paces the joins (connections per second); 0 joins as fast
	// as Concurrency allows.
	JoinRate int
	// Concurrency bounds the joins in flight. Default 64.
	Concurrency int
	// SourceAddrs is how many loopback source addresses, from 127.0.0.2 on,
	// the clients spread over. Each has ~28,000 ephemeral ports, but
	// connect(2) takes the even half first and, once that is used, scans it
	// on every connect before trying an odd port: joins past ~14,000
	// sockets an address took 20-150 ms. Default: one per 12,000 sockets.
	SourceAddrs int
	// MessageSize is the size of each signal frame sent. Default 1024.
	MessageSize int
	// FixedRate is the aggregate message rate of the fixed-rate run;
	// 0 skips it.
	FixedRate int
	// Steps are the increasing rates of the step-up search for the highest
	// clean rate; it stops at the first step that is not clean, then
	// halves the gap to the last clean rate Refine times.
	Steps  []int
	Refine int
	// StepDuration is how long each rate is held. Default 5 s.
	StepDuration time.Duration
	// P99Limit is the relay p99 under which a step is clean (with no
	// loss). Default 50 ms.
	P99Limit time.Duration
	// Settle is the pause after joining, before memory is read. Default 3 s.
	Settle time.Duration
	// Timeout bounds the whole run. Default 5 minutes.
	Timeout time.Duration
	// Protocol is what the server speaks: ProtocolTandem (default) or
	// ProtocolSocketIO, the classic socket.io signaling server's events,
	// for side-by-side runs.
	Protocol string
	// Progress receives a line per phase; nil discards them.
	Progress io.Writer
}

func (c SignalConfig) withDefaults() SignalConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.SourceAddrs <= 0 {
		c.SourceAddrs = (2*c.Pairs)/12_000 + 1
	}
	if c.MessageSize <= 0 {
		c.MessageSize = 1024
	}
	if c.StepDuration <= 0 {
		c.StepDuration = 5 * time.Second
	}
	if c.P99Limit <= 0 {
		c.P99Limit = 50 * time.Millisecond
	}
	if c.Settle < 0 {
		c.Settle = 0
	} else if c.Settle == 0 {
		c.Settle = 3 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolTandem
	}
	return c
}

// RelayStep is one rate held for a while.
type RelayStep struct {
	Rate      int     // messages per second asked for
	Achieved  float64 // messages per second sent
	Sent      int
	Received  int
	Lost      int // sent and never received
	Misrouted int // received by someone other than the sender's peer
	Dropped   int // connections lost during the step
	Errors    int // error messages from the server during the step
	LastError string
	Latency   Summary
	ServerCPU time.Duration
	Clean     bool // nothing lost, nothing misrouted, p99 under the limit
}

// CPUPerMessage is the server's CPU time per relayed message.
func (s RelayStep) CPUPerMessage() time.Duration {
	if s.Received == 0 {
		return 0
	}
	return s.ServerCPU / time.Duration(s.Received)
}

// SignalResult is what a signaling benchmark measured.
type SignalResult struct {
	Config       SignalConfig
	Sockets      int // connected and seated
	JoinFailures int
	Unpaired     int     // rooms where both joined but the first was never told peer-joined
	JoinRate     float64 // joins per second achieved
	Join         Summary // dial start to created/joined
	RSSIdle      int64   // server RSS before the first connection
	RSSJoined    int64   // server RSS with every socket connected and idle
	Fixed        *RelayStep
	Steps        []RelayStep
	MaxClean     int // highest clean rate of the search, messages per second
	ServerCPU    time.Duration
	Elapsed      time.Duration
}

// RSSPerSocket is the server's resident memory per connected idle socket,
// over its idle baseline.
func (r *SignalResult) RSSPerSocket() int64 {
	if r.Sockets == 0 || r.RSSJoined == 0 {
		return 0
	}
	return (r.RSSJoined - r.RSSIdle) / int64(r.Sockets)
}

// RunSignal runs a signaling benchmark against cfg.URL.
func RunSignal(ctx context.Context, cfg SignalConfig) (*SignalResult, error) {
	cfg = cfg.withDefaults()
	base, err := ParseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Pairs <= 0 {
		return nil, errors.New("bench: Pairs must be positive")
	}
	if cfg.Protocol != ProtocolTandem && cfg.Protocol != ProtocolSocketIO {
		return nil, fmt.Errorf("bench: unknown protocol %q", cfg.Protocol)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	log := newProgress(cfg.Progress)
	meter := procMeter{pid: cfg.PID}
	res := &SignalResult{Config: cfg}
	begin := meter.read()
	res.RSSIdle = meter.rssMedian(3, 200*time.Millisecond)

	wsBases := [2]string{"ws://" + base.Host + "/ws/", "ws://" + base.Host + "/ws/"}
	if cfg.PeerURL != "" {
		peer, err := ParseTarget(cfg.PeerURL)
		if err != nil {
			return nil, fmt.Errorf("peer URL: %w", err)
		}
		wsBases[1] = "ws://" + peer.Host + "/ws/"
	}
	if cfg.Protocol == ProtocolSocketIO {
		wsBases[0] = "ws://" + base.Host + socketIOPath
		wsBases[1] = wsBases[0]
	}
	pool := newClientPool(2*cfg.Pairs, cfg.MessageSize, cfg.Protocol)
	defer pool.close()
	log.printf("joining %d pairs (%d sockets) from %d source address(es), rate %s, %d in flight",
		cfg.Pairs, 2*cfg.Pairs, cfg.SourceAddrs, rateText(cfg.JoinRate), cfg.Concurrency)
	joinLat, wall := pool.join(ctx, cfg, wsBases, log)
	res.Join = summarize(joinLat)
	res.Sockets = len(joinLat)
	res.JoinFailures = 2*cfg.Pairs - len(joinLat)
	res.JoinRate = float64(len(joinLat)) / wall.Seconds()
	log.printf("joined %d/%d in %v (%.0f joins/s): p50 %s ms, p99 %s ms",
		res.Sockets, 2*cfg.Pairs, wall.Round(time.Millisecond), res.JoinRate, ms(res.Join.P50), ms(res.Join.P99))
	if pool.firstErr != nil {
		log.printf("first join error: %v", pool.firstErr)
	}
	if res.Sockets == 0 {
		return res, fmt.Errorf("bench: no client joined: %w", pool.firstErr)
	}

	if sleepCtx(ctx, cfg.Settle) && cfg.PID > 0 {
		res.RSSJoined = meter.rssMedian(5, 300*time.Millisecond)
		log.printf("server RSS idle %.1f MiB, with %d sockets %.1f MiB: %d bytes per socket",
			mib(res.RSSIdle), res.Sockets, mib(res.RSSJoined), res.RSSPerSocket())
	}

	senders, unpaired := pool.pairedClients()
	res.Unpaired = unpaired
	if unpaired > 0 {
		log.printf("%d rooms with both clients joined but no peer-joined for the first: left out of the relay runs", unpaired)
	}
	step := uint16(0)
	hold := func(rate int) (RelayStep, error) {
		step++
		s, err := pool.relay(ctx, senders, rate, cfg.StepDuration, step, meter)
		s.Clean = s.Lost == 0 && s.Misrouted == 0 && s.Dropped == 0 && s.Errors == 0 && s.Latency.N > 0 && s.Latency.P99 < cfg.P99Limit
		log.printf("%6d msg/s: sent %.0f/s, p50 %s ms, p99 %s ms, lost %d, server CPU %v (%.1f µs/msg), clean %v",
			rate, s.Achieved, ms(s.Latency.P50), ms(s.Latency.P99), s.Lost, s.ServerCPU,
			float64(s.CPUPerMessage())/float64(time.Microsecond), s.Clean)
		if s.Errors > 0 || s.Dropped > 0 {
			log.printf("        %d server errors (last: %.120s), %d connections dropped", s.Errors, s.LastError, s.Dropped)
		}
		return s, err
	}
	if len(senders) > 0 && cfg.FixedRate > 0 {
		log.printf("fixed rate %d msg/s over %d pairs for %v", cfg.FixedRate, len(senders)/2, cfg.StepDuration)
		s, err := hold(cfg.FixedRate)
		res.Fixed = &s
		if err != nil {
			return res, err
		}
	}
	failed := 0
	for _, rate := range cfg.Steps {
		if len(senders) == 0 || !sleepCtx(ctx, time.Second) {
			break
		}
		s, err := hold(rate)
		res.Steps = append(res.Steps, s)
		if err != nil {
			return res, err
		}
		if !s.Clean {
			failed = rate
			break
		}
		res.MaxClean = rate
	}
	for range cfg.Refine {
		if pool.drops.Load() > 0 {
			// The server put out clients that fell behind: later steps
			// would run on fewer pairs and not compare.
			log.printf("connections were dropped: no refinement")
			break
		}
		if failed == 0 || failed-res.MaxClean < 1000 || !sleepCtx(ctx, time.Second) {
			break
		}
		rate := (res.MaxClean + failed) / 2
		s, err := hold(rate)
		res.Steps = append(res.Steps, s)
		if err != nil {
			return res, err
		}
		if s.Clean {
			res.MaxClean = rate
		} else {
			failed = rate
		}
	}
	res.ServerCPU = meter.read().CPU - begin.CPU
	res.Elapsed = time.Since(log.start)
	return res, ctx.Err()
}

func rateText(r int) string {
	if r <= 0 {
		return "unpaced"
	}
	return strconv.Itoa(r) + "/s"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// WriteTable prints the result as a table.
func (r *SignalResult) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "signaling\t%s, %d pairs, %d-byte messages\n", r.Config.URL, r.Config.Pairs, r.Config.MessageSize)
	fmt.Fprintf(tw, "sockets joined\t%d (%d failed; %d rooms without peer-joined)\n", r.Sockets, r.JoinFailures, r.Unpaired)
	fmt.Fprintf(tw, "join rate\t%.0f/s (asked %s)\n", r.JoinRate, rateText(r.Config.JoinRate))
	fmt.Fprintf(tw, "join latency\tp50 %s ms  p99 %s ms  max %s ms\n", ms(r.Join.P50), ms(r.Join.P99), ms(r.Join.Max))
	if r.RSSJoined > 0 {
		fmt.Fprintf(tw, "server RSS\tidle %.1f MiB, joined %.1f MiB, %d B per socket\n", mib(r.RSSIdle), mib(r.RSSJoined), r.RSSPerSocket())
	}
	row := func(name string, s RelayStep) {
		fmt.Fprintf(tw, "%s\t%d msg/s asked, %.0f sent/s, p50 %s ms  p99 %s ms  max %s ms, lost %d, CPU %.1f µs/msg, clean %v\n",
			name, s.Rate, s.Achieved, ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.Max), s.Lost,
			float64(s.CPUPerMessage())/float64(time.Microsecond), s.Clean)
	}
	if r.Fixed != nil {
		row("relay (fixed)", *r.Fixed)
	}
	for _, s := range r.Steps {
		row("relay step", s)
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(tw, "max clean rate\t%d msg/s (p99 < %v, no loss)\n", r.MaxClean, r.Config.P99Limit)
	}
	if r.Config.PID > 0 {
		fmt.Fprintf(tw, "server CPU\t%.2f s over %v\n", r.ServerCPU.Seconds(), r.Elapsed.Round(time.Second))
	}
	_ = tw.Flush()
}

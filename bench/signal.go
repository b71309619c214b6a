package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
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

// keyMarker starts the bench's key inside a relayed signal's data: a step
// (4 hex digits), the sender's index (8) and the send time (16).
var keyMarker = []byte(`{"k":"`)

const keyLen = 4 + 8 + 16

// clientPool is every WebSocket client of a run.
type clientPool struct {
	clients  []*sigClient // by index; nil when the join failed
	msgSize  int
	socketIO bool      // the server speaks socket.io, not Tandem's protocol
	base     time.Time // send times count from here (monotonic)
	run      atomic.Pointer[relayRun]
	drops    atomic.Int64 // connections lost while not closing
	closing  atomic.Bool
	readers  sync.WaitGroup
	mu       sync.Mutex
	firstErr error // guarded by mu
}

func newClientPool(n, msgSize int, protocol string) *clientPool {
	return &clientPool{clients: make([]*sigClient, n), msgSize: msgSize, base: time.Now(),
		socketIO: protocol == ProtocolSocketIO}
}

// sigClient is one WebSocket client.
type sigClient struct {
	wmu     sync.Mutex // one writer at a time: senders, and socket.io pongs
	conn    *websocket.Conn
	created bool        // alone in the room at join: it must be told peer-joined
	told    atomic.Bool // it got peer-joined
}

// join connects every client, two per room, and returns the join
// latencies of those that got created or joined, and the wall time.
func (p *clientPool) join(ctx context.Context, cfg SignalConfig, wsBases [2]string, log progress) ([]time.Duration, time.Duration) {
	// The driver's own collections would count as join latency: while its
	// heap is small it collects every few MB, six times in a second of
	// 2,000 dials, each stalling dialers for milliseconds. A dial leaves
	// ~10 KB of garbage, so the join phase is bounded; collect after it.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	dialers := make([]*websocket.Dialer, cfg.SourceAddrs)
	for i := range dialers {
		nd := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}, Control: bindNoPort}
		dialers[i] = &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   2048,
			WriteBufferSize:  2048,
		}
	}
	run := randomHex(4)
	lat := make([]time.Duration, len(p.clients))
	ok := make([]bool, len(p.clients))
	var next atomic.Int64
	var done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, len(p.clients)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.clients) || ctx.Err() != nil {
					return
				}
				if cfg.JoinRate > 0 {
					due := start.Add(time.Duration(i) * time.Second / time.Duration(cfg.JoinRate))
					if !sleepCtx(ctx, time.Until(due)) {
						return
					}
				}
				room := "bench-" + run + "-" + strconv.Itoa(i/2)
				d, err := p.dial(ctx, dialers[i%len(dialers)], wsBases[i%2], room, i)
				if err != nil {
					p.setErr(err)
					continue
				}
				lat[i], ok[i] = d, true
				if n := done.Add(1); n%10_000 == 0 {
					log.printf("  %d joined", n)
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	out := make([]time.Duration, 0, len(lat))
	for i, d := range lat {
		if ok[i] {
			out = append(out, d)
		}
	}
	return out, wall
}

// dial opens client i and waits for its created or joined.
func (p *clientPool) dial(ctx context.Context, d *websocket.Dialer, wsBase, room string, i int) (time.Duration, error) {
	t0 := time.Now()
	target := wsBase + room
	if p.socketIO {
		target = wsBase
	}
	conn, _, err := d.DialContext(ctx, target, nil)
	if err != nil {
		return 0, fmt.Errorf("bench: dial %s: %w", target, err)
	}
	created, err := p.hello(conn, room)
	lat := time.Since(t0)
	if err != nil {
		_ = conn.Close()
		return 0, err
	}
	c := &sigClient{conn: conn, created: created}
	p.clients[i] = c
	p.readers.Go(func() { p.read(i, c) })
	return lat, nil
}

// hello waits for the server's created or joined.
func (p *clientPool) hello(conn *websocket.Conn, room string) (created bool, err error) {
	if p.socketIO {
		return socketIOJoin(conn, room)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	_, hello, err := conn.ReadMessage()
	switch {
	case err != nil:
		return false, fmt.Errorf("bench: read hello: %w", err)
	case bytes.HasPrefix(hello, []byte(`{"type":"created"`)):
		return true, nil
	case bytes.HasPrefix(hello, []byte(`{"type":"joined"`)):
		return false, nil
	}
	return false, fmt.Errorf("bench: hello is %.80s", hello)
}

func (p *clientPool) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr == nil {
		p.firstErr = err
	}
}

// read is client i's reader: it hands every relayed frame to the run in
// progress. Pings are answered by the library, from this goroutine.
func (p *clientPool) read(i int, c *sigClient) {
	var buf bytes.Buffer // the frame being handled: one at a time, nothing keeps it
	for {
		_, r, err := c.conn.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if !p.closing.Load() {
				p.drops.Add(1)
			}
			return
		}
		frame := buf.Bytes()
		switch {
		case bytes.HasPrefix(frame, []byte(`{"type":"peer-joined"`)), bytes.HasPrefix(frame, []byte(`42["join"`)):
			c.told.Store(true)
		case p.socketIO && bytes.Equal(frame, []byte("2")):
			c.wmu.Lock()
			_ = c.conn.WriteMessage(websocket.TextMessage, []byte("3"))
			c.wmu.Unlock()
			continue
		}
		if r := p.run.Load(); r != nil {
			r.receive(i, frame, time.Since(p.base))
		}
	}
}

// pairedClients are the clients of rooms where both joined and the one
// who was alone was told peer-joined: only they can relay. unpaired counts
// the rooms where both joined but that peer-joined never came.
func (p *clientPool) pairedClients() (paired []int, unpaired int) {
	for i := 0; i+1 < len(p.clients); i += 2 {
		a, b := p.clients[i], p.clients[i+1]
		switch {
		case a == nil || b == nil:
		case (a.created && !a.told.Load()) || (b.created && !b.told.Load()):
			unpaired++
		default:
			paired = append(paired, i, i+1)
		}
	}
	return paired, unpaired
}

// close says goodbye on every connection and waits for the readers.
func (p *clientPool) close() {
	p.closing.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, c := range p.clients {
		if c != nil {
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			_ = c.conn.Close()
		}
	}
	p.readers.Wait()
}

// relayRun collects what arrives during one step.
type relayRun struct {
	step      uint16
	lat       []time.Duration // first n are filled
	n         atomic.Int64
	misrouted atomic.Int64
	errors    atomic.Int64
	lastError atomic.Pointer[string]
}

func (r *relayRun) receive(to int, frame []byte, now time.Duration) {
	if bytes.HasPrefix(frame, []byte(`{"type":"error"`)) {
		r.errors.Add(1)
		text := string(frame)
		r.lastError.Store(&text)
		return
	}
	i := bytes.Index(frame, keyMarker)
	if i < 0 || len(frame) < i+len(keyMarker)+keyLen {
		return // not a bench message: peer-joined and the like
	}
	k := frame[i+len(keyMarker):]
	step, err1 := strconv.ParseUint(string(k[0:4]), 16, 16)
	from, err2 := strconv.ParseUint(string(k[4:12]), 16, 32)
	sent, err3 := strconv.ParseUint(string(k[12:28]), 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || uint16(step) != r.step {
		return // a straggler from an earlier step
	}
	if int(from)^1 != to {
		r.misrouted.Add(1)
	}
	if j := r.n.Add(1) - 1; j < int64(len(r.lat)) {
		r.lat[j] = now - time.Duration(sent)
	}
}

// relay sends rate messages per second, spread over senders, for dur, then
// waits up to 3 s for the last ones to arrive.
func (p *clientPool) relay(ctx context.Context, senders []int, rate int, dur time.Duration, step uint16, meter procMeter) (RelayStep, error) {
	total := int(float64(rate) * dur.Seconds())
	r := &relayRun{step: step, lat: make([]time.Duration, total)}
	p.run.Store(r)
	defer p.run.Store(nil)
	drops0 := p.drops.Load()
	cpu0 := meter.read().CPU
	start := time.Now()

	// A few sender goroutines, each the only writer of its share of the
	// clients, so that one slow write does not hold up every send.
	shards := min(4, len(senders))
	var sent atomic.Int64
	var wg sync.WaitGroup
	for s := range shards {
		var mine []int
		for j := s; j < len(senders); j += shards {
			mine = append(mine, senders[j])
		}
		n := total*(s+1)/shards - total*s/shards
		wg.Go(func() { sent.Add(int64(p.send(ctx, mine, n, dur, step))) })
	}
	wg.Wait()
	window := time.Since(start)
	deadline := time.Now().Add(3 * time.Second)
	for r.n.Load() < sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	got := int(min(r.n.Load(), int64(total)))
	st := RelayStep{
		Rate:      rate,
		Achieved:  float64(sent.Load()) / window.Seconds(),
		Sent:      int(sent.Load()),
		Received:  got,
		Lost:      int(sent.Load()) - got,
		Misrouted: int(r.misrouted.Load()),
		Dropped:   int(p.drops.Load() - drops0),
		Errors:    int(r.errors.Load()),
		Latency:   summarize(r.lat[:got]),
		ServerCPU: meter.read().CPU - cpu0,
	}
	if e := r.lastError.Load(); e != nil {
		st.LastError = *e
	}
	return st, ctx.Err()
}

// send writes n messages over dur, round robin over clients, paced every
// millisecond, and returns how many it wrote.
func (p *clientPool) send(ctx context.Context, clients []int, n int, dur time.Duration, step uint16) int {
	frame := signalFrame(p.msgSize, p.socketIO)
	key := bytes.Index(frame, keyMarker) + len(keyMarker)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for sent < n {
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
		}
		due := min(n, int(float64(n)*float64(time.Since(start))/float64(dur)))
		for ; sent < due; sent++ {
			i := clients[sent%len(clients)]
			putHex(frame[key:key+4], uint64(step))
			putHex(frame[key+4:key+12], uint64(i))
			putHex(frame[key+12:key+28], uint64(time.Since(p.base)))
			c := p.clients[i]
			c.wmu.Lock()
			err := c.conn.WriteMessage(websocket.TextMessage, frame)
			c.wmu.Unlock()
			if err != nil {
				p.setErr(fmt.Errorf("bench: send: %w", err))
			}
		}
	}
	return sent
}

// signalFrame is a client signal message of exactly size bytes (at least
// the minimum that holds the key), with its key zeroed: Tandem's signal,
// or the socket.io server's 'message' event.
func signalFrame(size int, socketIO bool) []byte {
	head, tail := `{"type":"signal","data":{"k":"`, `"}}`
	if socketIO {
		head, tail = `42["message",{"k":"`, `"}]`
	}
	keyPart := strings.Repeat("0", keyLen) + `","p":"`
	pad := max(0, size-len(head)-len(keyPart)-len(tail))
	b := make([]byte, 0, len(head)+len(keyPart)+pad+len(tail))
	b = append(b, head...)
	b = append(b, keyPart...)
	b = append(b, bytes.Repeat([]byte{'x'}, pad)...)
	return append(b, tail...)
}

// putHex writes v into dst as fixed-width lower-case hex.
func putHex(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

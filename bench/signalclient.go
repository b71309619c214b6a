package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/signaling/wire"
)

// keyMarker starts the bench's key inside a relayed signal's data: a step
// (4 hex digits), the sender's index (8) and the send time (16).
var keyMarker = []byte(`{"k":"`)

const keyLen = 4 + 8 + 16

// The signal bench's clients are its own rather than wire.Client's: many
// thousands dial from chosen source addresses with small buffers, and each
// reads its frames into one reused buffer and tells them apart with
// wire.IsType, so that the driver allocates nothing per relayed message
// and its figures stay comparable with the ones docs/performance.md
// records. They speak the protocol through wire's constants all the same.

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
	case wire.IsType(hello, wire.TypeCreated):
		return true, nil
	case wire.IsType(hello, wire.TypeJoined):
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
		case wire.IsType(frame, wire.TypePeerJoined), bytes.HasPrefix(frame, []byte(`42["join"`)):
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
	msg := websocket.FormatCloseMessage(wire.CloseNormal, "")
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
	if wire.IsType(frame, wire.TypeError) {
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
// the minimum that holds the key), with its key zeroed: Tandem's signal
// (a wire.ClientMessage), or the socket.io server's 'message' event.
func signalFrame(size int, socketIO bool) []byte {
	frame := func(pad int) []byte {
		data := `{"k":"` + strings.Repeat("0", keyLen) + `","p":"` + strings.Repeat("x", pad) + `"}`
		if socketIO {
			return []byte(`42["message",` + data + `]`)
		}
		b, err := json.Marshal(wire.ClientMessage{Type: wire.TypeSignal, Data: json.RawMessage(data)})
		if err != nil {
			panic(err) // data is valid JSON
		}
		return b
	}
	return frame(max(0, size-len(frame(0))))
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

package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// TURNConfig is one TURN benchmark: Clients TURN clients each allocate a
// relay, bind a channel to a UDP echo peer on loopback, and send Rate
// datagrams per second through it for Duration; each datagram comes back
// the same way.
type TURNConfig struct {
	// Server is the TURN server's address, host:port on loopback. Any
	// TURN server that checks TURN REST API credentials with Secret works:
	// Tandem's own, or coturn with use-auth-secret.
	Server string
	Secret string
	// Transport is how clients reach Server: TransportUDP (the default),
	// TransportTCP or TransportTLS. Relays are UDP whatever it is.
	Transport string
	// PID is the server's process id, for its CPU time per packet; 0 skips.
	PID int
	// Clients is the number of TURN clients, one allocation each. Default 50.
	Clients int
	// Rate is the datagrams per second each client sends. Default 1000.
	Rate int
	// Size is the datagram size. Default 1200 bytes.
	Size int
	// Duration is how long the clients send. Default 10 s.
	Duration time.Duration
	// EchoSockets is how many UDP sockets the echo peer spreads over.
	// Default 4.
	EchoSockets int
	// Timeout bounds the whole run. Default 3 minutes.
	Timeout time.Duration
	// Progress receives a line per phase; nil discards them.
	Progress io.Writer
}

func (c TURNConfig) withDefaults() TURNConfig {
	if c.Clients <= 0 {
		c.Clients = 50
	}
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.Size < 24 {
		c.Size = 1200
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.EchoSockets <= 0 {
		c.EchoSockets = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Minute
	}
	if c.Transport == "" {
		c.Transport = TransportUDP
	}
	return c
}

// TURNResult is what a TURN benchmark measured.
type TURNResult struct {
	Config      TURNConfig
	Allocated   int     // clients that got a relay
	AllocRate   float64 // allocations per second, up to 16 at a time
	Sent        int     // datagrams sent by clients in the measured window
	Echoed      int     // of those, how many came back
	Window      time.Duration
	RTT         Summary
	ServerCPU   time.Duration // over the window and its drain
	ServerRSS   int64         // at the end of the window
	allocErrors []error
}

// Loss is the fraction of datagrams sent that did not come back.
func (r *TURNResult) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 1 - float64(r.Echoed)/float64(r.Sent)
}

// RelayedPerSecond is the packets the relay forwarded per second: each
// echoed datagram crossed it twice, to the peer and back.
func (r *TURNResult) RelayedPerSecond() float64 {
	return 2 * float64(r.Echoed) / r.Window.Seconds()
}

// Mbps is the relayed payload in megabits per second, both directions.
func (r *TURNResult) Mbps() float64 {
	return r.RelayedPerSecond() * float64(r.Config.Size) * 8 / 1e6
}

// CPUPerPacket is the server's CPU time per relayed packet.
func (r *TURNResult) CPUPerPacket() time.Duration {
	if r.Echoed == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(2*r.Echoed)
}

// RunTURN runs a TURN benchmark against cfg.Server. Each client allocates
// a relay and binds a channel to the echo peer, as a browser does for its
// media, then sends ChannelData.
func RunTURN(ctx context.Context, cfg TURNConfig) (*TURNResult, error) {
	cfg = cfg.withDefaults()
	if err := checkLoopback(cfg.Server); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	log := newProgress(cfg.Progress)
	meter := procMeter{pid: cfg.PID}
	res := &TURNResult{Config: cfg}

	echo, err := startEcho(cfg.EchoSockets)
	if err != nil {
		return nil, err
	}
	defer echo.close()

	log.printf("allocating %d relays on %s over %s", cfg.Clients, cfg.Server, cfg.Transport)
	clients := make([]*turnClient, cfg.Clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.close()
			}
		}
	}()
	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(16, cfg.Clients) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Clients {
					return
				}
				raw, err := dialTURN(cfg.Server, cfg.Transport, cfg.Secret, "bench"+strconv.Itoa(i))
				var c *turnClient
				if err == nil {
					c = &turnClient{raw: raw}
				}
				mu.Lock()
				if err != nil {
					res.allocErrors = append(res.allocErrors, err)
				} else {
					clients[i] = c
					res.Allocated++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.AllocRate = float64(res.Allocated) / time.Since(start).Seconds()
	log.printf("allocated %d/%d (%.0f/s)", res.Allocated, cfg.Clients, res.AllocRate)
	if res.Allocated == 0 {
		return res, fmt.Errorf("bench: no allocation: %w", errors.Join(res.allocErrors...))
	}
	live := make([]*turnClient, 0, res.Allocated)
	for i, c := range clients {
		if c == nil {
			continue
		}
		if err := c.raw.bind(echo.addrs[i%len(echo.addrs)]); err != nil {
			res.allocErrors = append(res.allocErrors, err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return res, fmt.Errorf("bench: no channel bound: %w", errors.Join(res.allocErrors...))
	}

	base := time.Now()
	var recvWG sync.WaitGroup
	for _, c := range live {
		recvWG.Go(func() { c.receive(base) })
	}
	log.printf("%d channels bound; warming up with 1 s of traffic", len(live))
	run := func(phase byte, d time.Duration) {
		var wg sync.WaitGroup
		for _, c := range live {
			wg.Go(func() { c.send(ctx, base, phase, cfg.Rate, cfg.Size, d) })
		}
		wg.Wait()
	}
	run(phaseWarmup, time.Second)
	sleepCtx(ctx, 500*time.Millisecond)

	log.printf("sending %d x %d datagrams/s of %d bytes for %v", len(live), cfg.Rate, cfg.Size, cfg.Duration)
	cpu0 := meter.read().CPU
	t0 := time.Now()
	run(phaseMeasured, cfg.Duration)
	res.Window = time.Since(t0)
	sent := 0
	for _, c := range live {
		sent += int(c.sent.Load())
	}
	drain := time.Now().Add(2 * time.Second)
	for time.Now().Before(drain) && ctx.Err() == nil {
		got := 0
		for _, c := range live {
			got += int(c.echoed.Load())
		}
		if got >= sent {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := meter.read()
	res.ServerCPU, res.ServerRSS = after.CPU-cpu0, after.RSS
	for _, c := range live {
		c.stop()
	}
	recvWG.Wait()
	var rtts []time.Duration
	for _, c := range live {
		res.Sent += int(c.sent.Load())
		res.Echoed += int(c.echoed.Load())
		rtts = append(rtts, c.rtts...)
	}
	res.RTT = summarize(rtts)
	log.printf("sent %d, echoed %d (loss %.3f%%), %.0f relayed packets/s, RTT p50 %s ms p99 %s ms",
		res.Sent, res.Echoed, 100*res.Loss(), res.RelayedPerSecond(), ms(res.RTT.P50), ms(res.RTT.P99))
	return res, ctx.Err()
}

// WriteTable prints the result as a table.
func (r *TURNResult) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := r.Config
	fmt.Fprintf(tw, "TURN\t%s over %s, %d clients x %d datagrams/s x %d bytes, %v\n", c.Server, c.Transport, c.Clients, c.Rate, c.Size, c.Duration)
	fmt.Fprintf(tw, "allocations\t%d (%d failed), %.0f/s\n", r.Allocated, len(r.allocErrors), r.AllocRate)
	if len(r.allocErrors) > 0 {
		fmt.Fprintf(tw, "first error\t%v\n", r.allocErrors[0])
	}
	fmt.Fprintf(tw, "datagrams\tsent %d, echoed %d, loss %.3f%%\n", r.Sent, r.Echoed, 100*r.Loss())
	fmt.Fprintf(tw, "relayed\t%.0f packets/s, %.1f Mbit/s\n", r.RelayedPerSecond(), r.Mbps())
	fmt.Fprintf(tw, "round trip\tp50 %s ms  p99 %s ms  max %s ms\n", ms(r.RTT.P50), ms(r.RTT.P99), ms(r.RTT.Max))
	if c.PID > 0 {
		fmt.Fprintf(tw, "server CPU\t%.2f s, %.2f µs per relayed packet, RSS %.1f MiB\n",
			r.ServerCPU.Seconds(), float64(r.CPUPerPacket())/float64(time.Microsecond), mib(r.ServerRSS))
	}
	_ = tw.Flush()
}

// Datagram phases: warm-up traffic is not counted.
const (
	phaseWarmup   = 1
	phaseMeasured = 2
)

// turnClient is one TURN client with its relay and channel.
type turnClient struct {
	raw *rawTURN

	// Owned by the receiver until stop, then read by RunTURN.
	rtts []time.Duration
	// Counters of the measured phase.
	sent, echoed atomic.Int64
}

// send writes rate datagrams per second of the given phase for d, paced
// every 2 ms. Each carries the phase and the send time.
func (c *turnClient) send(ctx context.Context, base time.Time, phase byte, rate, size int, d time.Duration) {
	payload := make([]byte, size)
	payload[0] = phase
	frame := make([]byte, size+8)
	total := int(float64(rate) * d.Seconds())
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for n := 0; n < total; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := min(total, int(float64(total)*float64(time.Since(start))/float64(d)))
		for ; n < due; n++ {
			binary.BigEndian.PutUint64(payload[8:], uint64(time.Since(base)))
			if _, err := c.raw.conn.Write(channelData(frame, payload)); err != nil {
				continue
			}
			if phase == phaseMeasured {
				c.sent.Add(1)
			}
		}
	}
}

// receive reads echoes until stop is called.
func (c *turnClient) receive(base time.Time) {
	buf := make([]byte, 2048)
	for {
		n, err := c.raw.readFrame(buf)
		if err != nil {
			return
		}
		p, ok := channelPayload(buf[:n])
		if !ok || len(p) < 16 || p[0] != phaseMeasured {
			continue
		}
		c.rtts = append(c.rtts, time.Since(base)-time.Duration(binary.BigEndian.Uint64(p[8:])))
		c.echoed.Add(1)
	}
}

// stop ends the receiver without releasing the allocation.
func (c *turnClient) stop() { _ = c.raw.conn.SetReadDeadline(time.Now()) }

// close releases the allocation and the socket.
func (c *turnClient) close() { c.raw.close() }

// echoIP is where the echo peer listens: not 127.0.0.1, the relays' own
// address, to which Tandem's relays may send only inside the relay port
// range (other allocations), never to an arbitrary port.
var echoIP = net.IPv4(127, 0, 0, 2)

type echo struct {
	conns []*net.UDPConn
	addrs []*net.UDPAddr
	wg    sync.WaitGroup
}

func startEcho(n int) (*echo, error) {
	e := &echo{}
	for range n {
		uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: echoIP})
		if err != nil {
			e.close()
			return nil, fmt.Errorf("bench: echo socket: %w", err)
		}
		_ = uc.SetReadBuffer(4 << 20)
		_ = uc.SetWriteBuffer(4 << 20)
		e.conns = append(e.conns, uc)
		e.addrs = append(e.addrs, uc.LocalAddr().(*net.UDPAddr))
		e.wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := uc.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				_, _ = uc.WriteToUDPAddrPort(buf[:n], from)
			}
		})
	}
	return e, nil
}

func (e *echo) close() {
	for _, c := range e.conns {
		_ = c.Close()
	}
	e.wg.Wait()
}

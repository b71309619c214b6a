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

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// TURNConfig is one TURN benchmark: Clients TURN clients each allocate a
// relay, bind a channel to a UDP echo peer on loopback, and send Rate
// datagrams per second through it for Duration; each datagram comes back
// the same way.
type TURNConfig struct {
	// Server is the TURN server's UDP address, host:port on loopback. Any
	// TURN server that checks TURN REST API credentials with Secret works:
	// Tandem's own, or coturn with use-auth-secret.
	Server string
	Secret string
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
	return c
}

// TURNResult is what a TURN benchmark measured.
type TURNResult struct {
	Config      TURNConfig
	Allocated   int     // clients that got a relay
	AllocRate   float64 // allocations per second, Clients at a time up to 16
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

// RunTURN runs a TURN benchmark against cfg.Server.
func RunTURN(ctx context.Context, cfg TURNConfig) (*TURNResult, error) {
	cfg = cfg.withDefaults()
	if err := checkLoopback(cfg.Server); err != nil {
		return nil, err
	}
	server, err := net.ResolveUDPAddr("udp4", cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("bench: TURN server: %w", err)
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

	log.printf("allocating %d relays on %s", cfg.Clients, cfg.Server)
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
				c, err := newTURNClient(server, cfg.Secret, i)
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
		if c != nil {
			c.peer = echo.addrs[i%len(echo.addrs)]
			live = append(live, c)
		}
	}

	// Permissions and channels: the first write creates the permission
	// (blocking), the client then binds a channel in the background and
	// sends Send indications until it is bound. A second of traffic
	// before the window settles all that.
	base := time.Now()
	var recvWG sync.WaitGroup
	for _, c := range live {
		recvWG.Go(func() { c.receive(base) })
	}
	log.printf("warming up: permissions and channel bindings, 1 s of traffic")
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
	fmt.Fprintf(tw, "TURN\t%s, %d clients x %d datagrams/s x %d bytes, %v\n", c.Server, c.Clients, c.Rate, c.Size, c.Duration)
	fmt.Fprintf(tw, "allocations\t%d (%d failed), %.0f/s\n", r.Allocated, len(r.allocErrors), r.AllocRate)
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

// turnClient is one TURN client with its relay.
type turnClient struct {
	conn   net.PacketConn // the client's own UDP socket
	client *turn.Client
	relay  net.PacketConn
	peer   net.Addr

	// Owned by the receiver until stop, then read by RunTURN.
	rtts []time.Duration
	// Counters of the measured phase.
	sent, echoed atomic.Int64
}

// newTURNClient allocates a relay with TURN REST API credentials for user
// "bench<i>".
func newTURNClient(server *net.UDPAddr, secret string, i int) (*turnClient, error) {
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(secret, "bench"+strconv.Itoa(i), time.Hour)
	if err != nil {
		return nil, fmt.Errorf("bench: credentials: %w", err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: client socket: %w", err)
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(1 << 20)
		_ = uc.SetWriteBuffer(1 << 20)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Username:       user,
		Password:       pass,
		Conn:           conn,
		RTO:            200 * time.Millisecond,
		LoggerFactory:  quietLoggers(),
	})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("bench: TURN client: %w", err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("bench: TURN client: %w", err)
	}
	relay, err := client.Allocate()
	if err != nil {
		client.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("bench: allocate: %w", err)
	}
	return &turnClient{conn: conn, client: client, relay: relay}, nil
}

// quietLoggers keeps pion's client logs out of the bench's output.
func quietLoggers() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	f.Writer = io.Discard
	return f
}

// send writes rate datagrams per second of the given phase for d, paced
// every 2 ms. Each carries the phase and the send time.
func (c *turnClient) send(ctx context.Context, base time.Time, phase byte, rate, size int, d time.Duration) {
	buf := make([]byte, size)
	buf[0] = phase
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
			binary.BigEndian.PutUint64(buf[8:], uint64(time.Since(base)))
			if _, err := c.relay.WriteTo(buf, c.peer); err != nil {
				continue
			}
			if phase == phaseMeasured {
				c.sent.Add(1)
			}
		}
	}
}

// receive reads echoes until the relay is closed or stop is called.
func (c *turnClient) receive(base time.Time) {
	buf := make([]byte, 2048)
	for {
		n, _, err := c.relay.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 16 || buf[0] != phaseMeasured {
			continue
		}
		c.rtts = append(c.rtts, time.Since(base)-time.Duration(binary.BigEndian.Uint64(buf[8:])))
		c.echoed.Add(1)
	}
}

// stop ends the receiver without releasing the allocation.
func (c *turnClient) stop() { _ = c.relay.SetReadDeadline(time.Now()) }

// close releases the allocation and the socket.
func (c *turnClient) close() {
	_ = c.relay.Close()
	c.client.Close()
	_ = c.conn.Close()
}

// echo is the peer on the far side of the relays: it sends every datagram
// back where it came from.
// echoIP is where the echo peer listens: not 127.0.0.1, the relays' own
// address, to which Tandem's relays may send only inside the relay port
// range (other allocations), never to an arbitrary port.
var echoIP = net.IPv4(127, 0, 0, 2)

type echo struct {
	conns []*net.UDPConn
	addrs []net.Addr
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
		e.addrs = append(e.addrs, uc.LocalAddr())
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

package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// CapacityConfig is a capacity run: Steps[i] simultaneous 1:1 calls, both
// people relayed by the server under test (each has an allocation and a
// channel to the other's relay), each direction carrying a video call's
// media: VideoBitrate in frames of FPS per second, cut into VideoPacket
// bytes and sent back to back, with up to Jitter of lateness a frame, and
// 50 audio packets a second of AudioPacket bytes. A step holds if its loss
// stays under MaxLoss and the 99th percentile of the delay the server adds
// under MaxDelayP99.
type CapacityConfig struct {
	// Server, Secret, Transport and PID are as in TURNConfig.
	Server, Secret, Transport string
	PID                       int
	// Steps are the numbers of calls, ascending. Default 10, 20, 40, 60,
	// 80, 100, 130, 160, 200.
	Steps []int
	// StepDuration is how long each step is measured, after a second of
	// warm-up. Default 8 s.
	StepDuration time.Duration
	// The media profile of one direction. Defaults 1.5 Mbit/s, 30 fps,
	// 1,100-byte video packets, 160-byte audio packets, 5 ms of jitter.
	VideoBitrate, FPS, VideoPacket, AudioPacket int
	Jitter                                      time.Duration
	// The thresholds of a step that holds. Defaults 0.5 % and 20 ms.
	MaxLoss     float64
	MaxDelayP99 time.Duration
	// Timeout bounds the whole run. Default 10 minutes.
	Timeout time.Duration
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

func (c CapacityConfig) withDefaults() CapacityConfig {
	if len(c.Steps) == 0 {
		c.Steps = []int{10, 20, 40, 60, 80, 100, 130, 160, 200}
	}
	if c.StepDuration <= 0 {
		c.StepDuration = 8 * time.Second
	}
	if c.VideoBitrate <= 0 {
		c.VideoBitrate = 1_500_000
	}
	if c.FPS <= 0 {
		c.FPS = 30
	}
	if c.VideoPacket < 24 {
		c.VideoPacket = 1100
	}
	if c.AudioPacket < 24 {
		c.AudioPacket = 160
	}
	if c.Jitter <= 0 {
		c.Jitter = 5 * time.Millisecond
	}
	if c.MaxLoss <= 0 {
		c.MaxLoss = 0.005
	}
	if c.MaxDelayP99 <= 0 {
		c.MaxDelayP99 = 20 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Transport == "" {
		c.Transport = TransportUDP
	}
	return c
}

// CapacityStep is what one step measured.
type CapacityStep struct {
	Calls          int
	Sent, Received int
	// Delay is the one-way delay less the smallest seen in the step: what
	// the server (and the machine's load) added.
	Delay     Summary
	ServerCPU float64 // cores, over the window
	Mbps      float64 // relayed to clients, both directions of every call
	Holds     bool
}

// Loss is the fraction of the step's packets that did not arrive.
func (s CapacityStep) Loss() float64 {
	if s.Sent == 0 {
		return 0
	}
	return 1 - float64(s.Received)/float64(s.Sent)
}

// CapacityResult is a capacity run.
type CapacityResult struct {
	Config CapacityConfig
	Steps  []CapacityStep
	// Calls is the largest step that held; 0 if none did.
	Calls int
}

// mediaPeer is one person of a call: a TURN client whose channel leads to
// the other person's relay.
type mediaPeer struct {
	raw *rawTURN

	mu     sync.Mutex      // guards delays: the receiver appends, the ramp takes
	delays []time.Duration // of packets of the step being measured
	// Counters of the step being measured (window).
	sent, received atomic.Int64
}

// RunCapacity ramps calls through cfg.Server until a step does not hold.
func RunCapacity(ctx context.Context, cfg CapacityConfig) (*CapacityResult, error) {
	cfg = cfg.withDefaults()
	if err := checkLoopback(cfg.Server); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	log := newProgress(cfg.Progress)
	meter := procMeter{pid: cfg.PID}
	res := &CapacityResult{Config: cfg}
	base := time.Now()
	// window is the step senders stamp on their packets (from 1; 0 between
	// steps); counted is the one receivers count, which stays set while
	// the window's last packets land.
	var window, counted atomic.Int32
	var peers []*mediaPeer
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		close(stop)
		for _, p := range peers {
			_ = p.raw.conn.SetReadDeadline(time.Now())
		}
		wg.Wait()
		for _, p := range peers {
			p.raw.close()
		}
	}()
	for i, calls := range cfg.Steps {
		for len(peers) < 2*calls {
			a, b, err := dialCall(cfg, len(peers))
			if err != nil {
				return res, fmt.Errorf("bench: call %d: %w", len(peers)/2+1, err)
			}
			for _, p := range []*mediaPeer{a, b} {
				peers = append(peers, p)
				wg.Go(func() { p.receive(base, &counted) })
				wg.Go(func() { p.send(cfg, base, &window, stop) })
			}
		}
		sleepCtx(ctx, time.Second) // the new calls settle
		for _, p := range peers {
			p.sent.Store(0)
			p.received.Store(0)
		}
		cpu0 := meter.read().CPU
		t0 := time.Now()
		counted.Store(int32(i + 1))
		window.Store(int32(i + 1))
		sleepCtx(ctx, cfg.StepDuration)
		window.Store(0)
		elapsed := time.Since(t0)
		cpu := meter.read().CPU - cpu0
		sleepCtx(ctx, 300*time.Millisecond) // the last packets land
		counted.Store(0)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		step := CapacityStep{Calls: calls, ServerCPU: cpu.Seconds() / elapsed.Seconds()}
		var delays []time.Duration
		for _, p := range peers {
			step.Sent += int(p.sent.Load())
			step.Received += int(p.received.Load())
			delays = append(delays, p.takeDelays()...)
		}
		if len(delays) > 0 {
			least := slices.Min(delays)
			for j := range delays {
				delays[j] -= least
			}
		}
		step.Delay = summarize(delays)
		step.Mbps = float64(step.Received) * float64(cfg.VideoPacket) * 8 / elapsed.Seconds() / 1e6
		step.Holds = step.Loss() < cfg.MaxLoss && step.Delay.P99 < cfg.MaxDelayP99
		res.Steps = append(res.Steps, step)
		log.printf("%d calls: loss %.3f%%, added delay p50 %s ms p99 %s ms, server %.2f cores: holds %v",
			calls, 100*step.Loss(), ms(step.Delay.P50), ms(step.Delay.P99), step.ServerCPU, step.Holds)
		if !step.Holds {
			return res, nil
		}
		res.Calls = calls
	}
	return res, nil
}

// dialCall allocates the two relays of a call and binds each person's
// channel to the other's relay.
func dialCall(cfg CapacityConfig, n int) (*mediaPeer, *mediaPeer, error) {
	a, err := dialTURN(cfg.Server, cfg.Transport, cfg.Secret, fmt.Sprintf("capacity%d", n))
	if err != nil {
		return nil, nil, err
	}
	b, err := dialTURN(cfg.Server, cfg.Transport, cfg.Secret, fmt.Sprintf("capacity%d", n+1))
	if err != nil {
		a.close()
		return nil, nil, err
	}
	if err := errors.Join(a.bind(&b.relay), b.bind(&a.relay)); err != nil {
		a.close()
		b.close()
		return nil, nil, err
	}
	return &mediaPeer{raw: a}, &mediaPeer{raw: b}, nil
}

// send plays the media profile until stop: a video frame every 1/FPS s,
// late by up to Jitter, its packets back to back, and an audio packet
// every 20 ms. Each packet carries the step it was sent in and when.
func (p *mediaPeer) send(cfg CapacityConfig, base time.Time, window *atomic.Int32, stop <-chan struct{}) {
	frameBytes := cfg.VideoBitrate / 8 / cfg.FPS
	frameEvery := time.Second / time.Duration(cfg.FPS)
	const audioEvery = 20 * time.Millisecond
	payload := make([]byte, max(cfg.VideoPacket, cfg.AudioPacket))
	frame := make([]byte, len(payload)+8)
	write := func(size int) {
		w := window.Load()
		payload[0] = byte(w)
		binary.BigEndian.PutUint64(payload[8:], uint64(time.Since(base)))
		if _, err := p.raw.conn.Write(channelData(frame, payload[:size])); err == nil && w != 0 {
			p.sent.Add(1)
		}
	}
	start := time.Now().Add(time.Duration(rand.Int64N(int64(frameEvery)))) // calls do not start in step
	nextVideo, nextAudio := start, start
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := nextVideo
		if nextAudio.Before(next) {
			next = nextAudio
		}
		timer.Reset(time.Until(next))
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		now := time.Now()
		if !now.Before(nextAudio) {
			write(cfg.AudioPacket)
			nextAudio = nextAudio.Add(audioEvery)
		}
		if !now.Before(nextVideo) {
			for left := frameBytes; left > 0; left -= cfg.VideoPacket {
				write(max(24, min(left, cfg.VideoPacket)))
			}
			nextVideo = start.Add(frameEvery * time.Duration(now.Sub(start)/frameEvery+1)).
				Add(time.Duration(rand.Int64N(int64(cfg.Jitter))))
		}
	}
}

// receive counts the packets of the counted step, and their delays, until
// its socket's deadline passes.
func (p *mediaPeer) receive(base time.Time, counted *atomic.Int32) {
	buf := make([]byte, 2048)
	for {
		n, err := p.raw.readFrame(buf)
		if err != nil {
			return
		}
		m, ok := channelPayload(buf[:n])
		if !ok || len(m) < 16 || m[0] == 0 || int32(m[0]) != counted.Load() {
			continue
		}
		d := time.Since(base) - time.Duration(binary.BigEndian.Uint64(m[8:]))
		p.received.Add(1)
		p.record(d)
	}
}

func (p *mediaPeer) record(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays = append(p.delays, d)
}

func (p *mediaPeer) takeDelays() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.delays
	p.delays = nil
	return d
}

// WriteTable prints the run as a table, a row a step.
func (r *CapacityResult) WriteTable(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "capacity of %s over %s: 1:1 calls, both people relayed, each way %.1f Mbit/s of video (%d fps, %d-byte packets, %v jitter) and 50 audio packets/s\n",
		c.Server, c.Transport, float64(c.VideoBitrate)/1e6, c.FPS, c.VideoPacket, c.Jitter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "calls\tpackets sent\tloss\tadded delay p50\tp99\tserver CPU (cores)\trelayed Mbit/s\tholds")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%d\t%d\t%.3f%%\t%s ms\t%s ms\t%.2f\t%.0f\t%v\n", s.Calls, s.Sent, 100*s.Loss(), ms(s.Delay.P50), ms(s.Delay.P99), s.ServerCPU, s.Mbps, s.Holds)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "capacity: %d calls (loss under %.1f%%, added delay p99 under %v)\n", r.Calls, 100*c.MaxLoss, c.MaxDelayP99)
}

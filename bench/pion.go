package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"tandem/signaling/wire"
)

// pionCaller makes calls between two pion/webrtc peers that speak the
// signaling protocol as the browser client does: the newcomer offers, the
// one already in the room answers. Each sends a video track; "first remote
// frame" is the first RTP packet of the other's track.
type pionCaller struct {
	wsBase   string      // ws://host:port/ws/ or wss://
	tls      *tls.Config // for wss:// and TURN over TLS; nil: the system's roots
	relayTLS bool        // relay through TURN over TLS only
}

func (c *pionCaller) close() {}

func (c *pionCaller) call(ctx context.Context, room string, relay bool) (callTiming, error) {
	cfg := PeerConfig{Relay: relay, RelayOverTLS: c.relayTLS, TLS: c.tls, Interfaces: []string{"lo"}}
	first, err := dialPeer(ctx, c.wsBase+room, wire.TypeCreated, cfg)
	if err != nil {
		return callTiming{}, err
	}
	defer first.close()
	// The first person is ready and waiting, camera on, before the second
	// opens the link.
	if err := first.newPeerConnection(); err != nil {
		return callTiming{}, err
	}
	go first.handleSignals()

	t0 := time.Now()
	second, err := dialPeer(ctx, c.wsBase+room, wire.TypeJoined, cfg)
	if err != nil {
		return callTiming{}, err
	}
	defer second.close()
	if err := second.newPeerConnection(); err != nil {
		return callTiming{}, err
	}
	go second.handleSignals()
	if err := second.offer(); err != nil {
		return callTiming{}, err
	}

	var t callTiming
	for _, p := range []*Peer{first, second} {
		for _, ev := range []struct {
			ch  <-chan struct{}
			at  *time.Time
			dst *time.Duration
		}{{p.connected, &p.connectedAt, &t.Connected}, {p.frame, &p.frameAt, &t.FirstFrame}} {
			select {
			case <-ev.ch:
				*ev.dst = max(*ev.dst, ev.at.Sub(t0))
			case <-ctx.Done():
				return callTiming{}, fmt.Errorf("bench: call not set up (first: %s; second: %s): %w", first, second, ctx.Err())
			}
		}
	}
	if c.relayTLS {
		if pair, err := second.SelectedPair(); err != nil || pair.Local.RelayProtocol != "tls" {
			return callTiming{}, fmt.Errorf("bench: the call did not go over TURN over TLS: %+v, %v", pair, err)
		}
	}
	return t, nil
}

// Peer is one side of a call: a pion/webrtc peer connection and its
// signaling WebSocket.
type Peer struct {
	ws    *wire.Client
	hello wire.ServerMessage
	cfg   PeerConfig

	joinedAt       time.Time     // when it opened the room's WebSocket
	iceConnected   chan struct{} // closed once, when ICE is first connected
	iceConnectedAt time.Time     // written before the close
	iceOnce        sync.Once

	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	done  chan struct{} // closed by close: stops the media sender
	// closeOnce makes close idempotent.
	closeOnce sync.Once

	connected, frame     chan struct{} // closed once, when it happens
	connectedAt, frameAt time.Time     // written before the close
	connOnce, frameOnce  sync.Once
	candMu               sync.Mutex
	described            bool                      // guarded by candMu; the local description was sent
	pending              []webrtc.ICECandidateInit // guarded by candMu; candidates waiting for it

	serverErrors atomic.Int64 // error messages from the server
	lastError    atomic.Pointer[string]
}

// String says how far the peer got, for errors.
func (p *Peer) String() string {
	s := "state " + p.pc.ConnectionState().String() + ", ICE " + p.pc.ICEConnectionState().String()
	select {
	case <-p.frame:
	default:
		s += ", no remote media"
	}
	if n := p.serverErrors.Load(); n > 0 {
		s += fmt.Sprintf(", %d server errors, last %s", n, *p.lastError.Load())
	}
	return s
}

// dialPeer joins room and checks that the hello is want: created or
// joined, or either when want is "".
func dialPeer(ctx context.Context, roomURL, want string, cfg PeerConfig) (*Peer, error) {
	joinedAt := time.Now()
	ws, err := wire.Dial(ctx, roomURL, &wire.DialOptions{TLS: cfg.TLS})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	p := &Peer{ws: ws, cfg: cfg, joinedAt: joinedAt, done: make(chan struct{}), iceConnected: make(chan struct{}),
		connected: make(chan struct{}), frame: make(chan struct{})}
	p.hello, err = ws.Next(10 * time.Second)
	if err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("bench: read hello: %w", err)
	}
	if p.hello.Type != want && (want != "" || p.hello.Type != wire.TypeCreated && p.hello.Type != wire.TypeJoined) {
		_ = ws.Close()
		return nil, fmt.Errorf("bench: hello %q, want %q", p.hello.Type, want)
	}
	return p, nil
}

func (p *Peer) close() {
	p.closeOnce.Do(func() {
		close(p.done)
		_ = p.ws.Close()
		if p.pc != nil {
			_ = p.pc.Close()
		}
	})
}

func (p *Peer) signal(d wire.Signal) {
	d.Session = "bench"
	_ = p.ws.Signal(d)
}

// onlyTURNS keeps the turns: URLs of servers.
func onlyTURNS(servers []webrtc.ICEServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range servers {
		var urls []string
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turns:") {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			out = append(out, s)
		}
	}
	return out
}

// tlsDialer dials TURN servers over TLS with its configuration.
type tlsDialer struct{ cfg *tls.Config }

func (d tlsDialer) Dial(network, addr string) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, network, addr, d.cfg)
}

// newPeerConnection makes the peer connection with the room's ICE servers,
// on IPv4 UDP, on the configured interfaces and without mDNS, adds a video
// track and starts sending a packet on it every 20 ms.
func (p *Peer) newPeerConnection() error {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(p.cfg.Interfaces) > 0 {
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(p.cfg.Interfaces, name) })
		se.SetIncludeLoopbackCandidate(true)
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if !p.cfg.PreferDirect {
		// pion waits 2 s by default before it accepts a relay pair, hoping
		// for a better one; browsers do not, and relay-only has no better one.
		se.SetRelayAcceptanceMinWait(0)
	}
	if p.cfg.Log != nil {
		f := logging.NewDefaultLoggerFactory() // PION_LOG_DEBUG=ice and the like still apply
		f.Writer, f.DefaultLogLevel = p.cfg.Log, max(f.DefaultLogLevel, logging.LogLevelWarn)
		se.LoggerFactory = f
	}
	conf := webrtc.Configuration{ICEServers: PionICEServers(p.hello.ICEServers)}
	if p.cfg.Relay || p.cfg.RelayOverTLS {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	if p.cfg.RelayOverTLS {
		conf.ICEServers = onlyTURNS(conf.ICEServers)
		if p.cfg.TLS != nil {
			// pion's TURN client takes a connection from this dialer as it
			// is, TLS included; without one it trusts the system's roots.
			se.SetICEProxyDialer(tlsDialer{p.cfg.TLS})
		}
	}
	options := []func(*webrtc.API){webrtc.WithSettingEngine(se)}
	if p.cfg.Media != nil {
		media, err := forwardingMedia()
		if err != nil {
			return err
		}
		options = append(options, media...)
	}
	pc, err := webrtc.NewAPI(options...).NewPeerConnection(conf)
	if err != nil {
		return fmt.Errorf("bench: peer connection: %w", err)
	}
	p.pc = pc
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil { // gathering finished
			return
		}
		init := c.ToJSON()
		p.candMu.Lock()
		defer p.candMu.Unlock()
		if !p.described {
			p.pending = append(p.pending, init)
			return
		}
		p.signal(wire.Signal{Candidate: (*wire.Candidate)(&init)})
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			p.iceOnce.Do(func() { p.iceConnectedAt = time.Now(); close(p.iceConnected) })
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.connOnce.Do(func() { p.connectedAt = time.Now(); close(p.connected) })
		}
	})
	if p.cfg.Media != nil {
		pc.OnTrack(p.cfg.Media.OnTrack)
		for _, track := range p.cfg.Media.Tracks {
			if _, err := pc.AddTrack(track); err != nil {
				return fmt.Errorf("bench: add track: %w", err)
			}
		}
		return nil
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := track.ReadRTP(); err == nil {
			p.frameOnce.Do(func() { p.frameAt = time.Now(); close(p.frame) })
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := track.Read(buf); err != nil {
				return
			}
		}
	})
	p.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "bench")
	if err != nil {
		return fmt.Errorf("bench: track: %w", err)
	}
	if _, err := pc.AddTrack(p.track); err != nil {
		return fmt.Errorf("bench: add track: %w", err)
	}
	go p.sendMedia()
	return nil
}

// forwardingMedia is a media engine with VP8 and Opus only, and pion's
// default interceptors (NACK, RTCP reports).
func forwardingMedia() ([]func(*webrtc.API), error) {
	m := &webrtc.MediaEngine{}
	codecs := []struct {
		webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.RTPCodecParameters, c.kind); err != nil {
			return nil, fmt.Errorf("bench: codec: %w", err)
		}
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, registry); err != nil {
		return nil, fmt.Errorf("bench: interceptors: %w", err)
	}
	return []func(*webrtc.API){webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(registry)}, nil
}

// sendMedia writes a small packet every 20 ms until the peer closes;
// packets written before the connection is up go nowhere.
func (p *Peer) sendMedia() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 200)
	for seq := uint16(0); ; seq++ {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		_ = p.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96,
			SequenceNumber: seq, Timestamp: uint32(seq) * 1800, SSRC: 0x62656e63}, Payload: payload})
	}
}

// offer starts negotiation, as the newcomer does.
func (p *Peer) offer() error {
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		return fmt.Errorf("bench: offer: %w", err)
	}
	p.sendDescription()
	return nil
}

// sendDescription sends the local description, then the candidates
// gathered before it: the other side cannot use a candidate that arrives
// before the description, and gathering starts before SetLocalDescription
// returns.
func (p *Peer) sendDescription() {
	p.candMu.Lock()
	defer p.candMu.Unlock()
	p.signal(wire.Signal{Description: WireDescription(p.pc.LocalDescription())})
	p.described = true
	for _, c := range p.pending {
		p.signal(wire.Signal{Candidate: (*wire.Candidate)(&c)})
	}
	p.pending = nil
}

// handleSignals applies the other side's descriptions and candidates until
// the WebSocket closes, and answers an offer.
func (p *Peer) handleSignals() {
	for {
		m, err := p.ws.Next(0)
		if err != nil {
			return
		}
		if m.Type == wire.TypeError {
			text := m.Code + ": " + m.Message
			p.lastError.Store(&text)
			p.serverErrors.Add(1)
		}
		if m.Type != wire.TypeSignal {
			continue
		}
		var d wire.Signal
		if json.Unmarshal(m.Data, &d) != nil {
			continue
		}
		switch {
		case d.Description != nil:
			desc := PionDescription(*d.Description)
			if p.pc.SetRemoteDescription(desc) != nil || desc.Type != webrtc.SDPTypeOffer {
				continue
			}
			answer, err := p.pc.CreateAnswer(nil)
			if err == nil {
				err = p.pc.SetLocalDescription(answer)
			}
			if err == nil {
				p.sendDescription()
			}
		case d.Candidate != nil:
			_ = p.pc.AddICECandidate(webrtc.ICECandidateInit(*d.Candidate))
		}
	}
}

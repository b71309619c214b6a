package relay

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"tandem/bench"
	"tandem/e2e/harness"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// goPeer is a pion/webrtc peer that joins a room through the real
// WebSocket protocol, as a browser tab would.
type goPeer struct {
	t     *testing.T
	ws    *wiretest.Client
	pc    *webrtc.PeerConnection
	hello wire.ServerMessage // created or joined
}

func joinRoom(t *testing.T, srv *harness.Server, room string) *goPeer {
	t.Helper()
	p := &goPeer{t: t, ws: wiretest.Dial(t, srv.WSURL(room), nil)}
	p.hello = p.read()
	if p.hello.Type != wire.TypeCreated && p.hello.Type != wire.TypeJoined {
		t.Fatalf("first message %+v, want created or joined", p.hello)
	}
	return p
}

func (p *goPeer) read() wire.ServerMessage {
	p.t.Helper()
	m, err := p.ws.Next(20 * time.Second)
	if err != nil {
		p.t.Fatalf("read signaling: %v", err)
	}
	return m
}

func (p *goPeer) signal(d wire.Signal) {
	if err := p.ws.Signal(d); err != nil {
		p.t.Errorf("send signal: %v", err)
	}
}

// newPeerConnection makes a relay-only peer connection with the ICE servers
// the room handed out. Only loopback is used, and no mDNS.
func (p *goPeer) newPeerConnection() {
	p.t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         bench.PionICEServers(p.hello.ICEServers),
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { _ = pc.Close() })
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil { // nil: gathering finished
			init := c.ToJSON()
			p.signal(wire.Signal{Candidate: (*wire.Candidate)(&init)})
		}
	})
	p.pc = pc
}

// handleSignals applies the other peer's descriptions and candidates until
// the WebSocket closes; an offer is answered. Candidates that arrive before
// the description (the other side gathers while it sends its offer) wait.
func (p *goPeer) handleSignals() {
	var early []webrtc.ICECandidateInit
	for {
		m, err := p.ws.Next(0)
		if err != nil {
			return
		}
		if m.Type != wire.TypeSignal {
			continue
		}
		var d wire.Signal
		if err := json.Unmarshal(m.Data, &d); err != nil {
			p.t.Errorf("bad signal %s: %v", m.Data, err)
			continue
		}
		switch {
		case d.Description != nil:
			if err := p.pc.SetRemoteDescription(bench.PionDescription(*d.Description)); err != nil {
				p.t.Errorf("set remote: %v", err)
				continue
			}
			for _, c := range early {
				if err := p.pc.AddICECandidate(c); err != nil {
					p.t.Errorf("add candidate: %v", err)
				}
			}
			early = nil
			if d.Description.Type == webrtc.SDPTypeOffer.String() {
				answer, err := p.pc.CreateAnswer(nil)
				if err == nil {
					err = p.pc.SetLocalDescription(answer)
				}
				if err != nil {
					p.t.Errorf("answer: %v", err)
					continue
				}
				p.signal(wire.Signal{Description: bench.WireDescription(p.pc.LocalDescription())})
			}
		case d.Candidate != nil && p.pc.RemoteDescription() == nil:
			early = append(early, webrtc.ICECandidateInit(*d.Candidate))
		case d.Candidate != nil:
			if err := p.pc.AddICECandidate(webrtc.ICECandidateInit(*d.Candidate)); err != nil {
				p.t.Errorf("add candidate: %v", err)
			}
		}
	}
}

// TestRelayedCallBetweenGoPeers is a whole call through the bundled TURN:
// two pion peers join a room, take the iceServers the room hands out, use
// relay-only ICE, and exchange a video track and a data-channel message.
func TestRelayedCallBetweenGoPeers(t *testing.T) {
	srv := tandem.StartServer(t)

	answerer := joinRoom(t, srv, "pion-call")
	if answerer.hello.Type != wire.TypeCreated {
		t.Fatalf("first peer got %q", answerer.hello.Type)
	}
	offerer := joinRoom(t, srv, "pion-call")
	if offerer.hello.Type != wire.TypeJoined {
		t.Fatalf("second peer got %q", offerer.hello.Type)
	}
	if m := answerer.read(); m.Type != wire.TypePeerJoined {
		t.Fatalf("first peer got %+v, want peer-joined", m)
	}

	answerer.newPeerConnection()
	offerer.newPeerConnection()

	// What the answerer receives.
	gotMessage := make(chan string, 1)
	gotRTP := make(chan []byte, 1)
	answerer.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(msg webrtc.DataChannelMessage) { gotMessage <- string(msg.Data) })
	})
	answerer.pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		pkt, _, err := track.ReadRTP()
		if err == nil {
			gotRTP <- pkt.Payload
		}
	})

	// What the offerer sends.
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "tandem")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := offerer.pc.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	dc, err := offerer.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(func() { _ = dc.SendText("hello through the relay") })

	go answerer.handleSignals()
	go offerer.handleSignals()

	offer, err := offerer.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := offerer.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	offerer.signal(wire.Signal{Description: bench.WireDescription(offerer.pc.LocalDescription())})

	// Send media until it arrives: the first packets go out before ICE is up.
	payload := []byte("a frame's worth of VP8 bytes")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1}, Payload: payload})
			}
		}
	}()

	timeout := time.After(30 * time.Second)
	select {
	case msg := <-gotMessage:
		if msg != "hello through the relay" {
			t.Fatalf("data channel got %q", msg)
		}
	case <-timeout:
		t.Fatal("no data-channel message within 30s")
	}
	select {
	case got := <-gotRTP:
		if !bytes.Equal(got, payload) {
			t.Fatalf("media payload %q, want %q", got, payload)
		}
	case <-timeout:
		t.Fatal("no media within 30s")
	}

	for name, p := range map[string]*goPeer{"offerer": offerer, "answerer": answerer} {
		pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s: no selected pair: %v", name, err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s: local candidate %s, want relay", name, pair.Local.Typ)
		}
		t.Logf("%s selected %s", name, pair)
	}
}

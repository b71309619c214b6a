package diag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Bounds of an echo peer.
const (
	// gatherTimeout bounds the wait for the echo peer's relay candidate.
	gatherTimeout = 10 * time.Second
	// echoLifetime closes an echo peer this long after it answered, even
	// if its session lasts longer.
	echoLifetime = 30 * time.Second
	// maxEchoMessage and maxEchoes bound what an echo peer sends back:
	// a page sends a few short pings.
	maxEchoMessage = 256
	maxEchoes      = 32
)

// newEchoAPI is the WebRTC stack of echo peers: data channels only, IPv4
// over UDP to this process's own TURN server, nothing logged.
func newEchoAPI() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	se.LoggerFactory = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// echo answers a page's offer with a peer that reaches it only through
// this server's TURN relay, the way a person who must relay is reached,
// and that sends back every data channel message it gets. Two relays of
// one server may talk to each other (the peer policy allows the server's
// own address on live relay ports), so the page's relay, over whichever
// transport it reached the server, carries the round trip.
func (s *Service) echo(offer string) (*webrtc.PeerConnection, string, error) {
	user, password, err := s.relay.Credentials("diag-echo-" + randomID())
	if err != nil {
		return nil, "", err
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{{URLs: []string{s.relay.InternalURL()}, Username: user, Credential: password}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		return nil, "", fmt.Errorf("diag: new echo peer: %w", err)
	}
	lifetime := time.AfterFunc(echoLifetime, func() { _ = pc.Close() })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateClosed {
			lifetime.Stop()
		}
	})
	pc.OnDataChannel(echoMessages)
	answer, err := answerOffer(pc, offer)
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	return pc, answer, nil
}

// answerOffer sets offer and returns the answer with every candidate.
func answerOffer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("diag: the offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("diag: create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("diag: set answer: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("diag: gathering took over %v", gatherTimeout)
	}
	sdp := pc.LocalDescription().SDP
	if !strings.Contains(sdp, " typ relay") {
		return "", errors.New("diag: the echo peer got no relay from this server")
	}
	return sdp, nil
}

// echoMessages sends back the first maxEchoes short messages of dc.
func echoMessages(dc *webrtc.DataChannel) {
	n := 0 // owned by dc's message callback, which pion calls in order
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if n++; n > maxEchoes || len(m.Data) > maxEchoMessage {
			return
		}
		if m.IsString {
			_ = dc.SendText(string(m.Data))
		} else {
			_ = dc.Send(m.Data)
		}
	})
}

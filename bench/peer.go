package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4"

	"tandem/signaling/wire"
)

// PeerConfig configures a Peer of JoinCall. The zero value gathers on every
// interface but loopback and takes the first candidate pair that works.
//
// A wss:// room URL and turns: ICE servers are checked against the system's
// roots; on Linux SSL_CERT_FILE replaces them, which is how a test makes a
// self-signed server trusted by both.
type PeerConfig struct {
	// Relay forces relay-only ICE, as the call page's ?relay=1 does.
	Relay bool
	// Interfaces, when set, are the only network interfaces ICE gathers
	// host candidates on, loopback included (the bench: lo). Empty: every
	// interface but loopback.
	Interfaces []string
	// PreferDirect keeps pion's acceptance waits: the controlling side
	// accepts a relayed pair only 2 s after gathering began, so that a
	// direct pair still being checked can win, which is where the
	// browsers end up (they switch to a better pair later; pion does not).
	// Off, as in the bench, a working relayed pair is taken at once.
	PreferDirect bool
	// TLS, when set, is the client configuration for a wss:// room URL
	// and for TURN over TLS (pion alone checks turns: servers against the
	// system's roots only).
	TLS *tls.Config
	// RelayOverTLS forces the relay and keeps only the turns: ICE servers:
	// the call goes through TURN over TLS, as from a network that passes
	// only HTTPS.
	RelayOverTLS bool
	// Log, when set, receives pion's warnings and errors, and what the
	// PION_LOG_* variables ask for. Nil: pion's default logger (errors, on
	// standard error).
	Log io.Writer
	// Media, when set, replaces the peer's test video with real media, as
	// a test that forwards a call's media from one peer to another needs.
	Media *PeerMedia
}

// PeerMedia is what a peer sends and what it does with what it gets. It
// negotiates VP8 and Opus only, so that packets can be forwarded as they
// are between peers.
type PeerMedia struct {
	// Tracks are sent; VP8 video and Opus audio.
	Tracks []webrtc.TrackLocal
	// OnTrack gets each remote track, and reads it.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
}

// JoinCall opens the room at roomURL (ws://host/ws/room or wss://) and
// starts a call as the browser client does: a peer that finds the room
// empty (created) waits for the other's offer and answers it; one that
// joins someone (joined) offers at once. The peer sends a video track.
// Wait tells when the call is up; Close ends it.
func JoinCall(ctx context.Context, roomURL string, cfg PeerConfig) (*Peer, error) {
	p, err := dialPeer(ctx, roomURL, "", cfg)
	if err != nil {
		return nil, err
	}
	if err := p.newPeerConnection(); err != nil {
		p.Close()
		return nil, err
	}
	go p.handleSignals()
	if p.hello.Type == wire.TypeJoined {
		if err := p.offer(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Role is the server's hello to the peer: "created" (it was first in the
// room, and answers) or "joined" (it came second, and offered).
func (p *Peer) Role() string { return p.hello.Type }

// Close leaves the call: the peer connection and the WebSocket close.
// Closing twice is harmless.
func (p *Peer) Close() { p.close() }

// ErrCallNotUp is wrapped by Wait's error when ctx ended first.
var ErrCallNotUp = errors.New("bench: call not set up")

// Wait returns once ICE is connected, the peer connection (DTLS) is
// connected and the first packet of the other's video has arrived, or
// with an error wrapping ErrCallNotUp and ctx's error when ctx ends first.
func (p *Peer) Wait(ctx context.Context) error {
	for _, ch := range []<-chan struct{}{p.iceConnected, p.connected, p.frame} {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w (%s): %w", ErrCallNotUp, p, ctx.Err())
		}
	}
	return nil
}

// PeerTimes are when a peer reached each step of its call; a step not
// reached (yet) is the zero time.
type PeerTimes struct {
	Joined       time.Time // the room's WebSocket was dialled
	ICEConnected time.Time // ICE connection state first connected
	Connected    time.Time // peer connection state first connected (DTLS done)
	FirstFrame   time.Time // the first packet of the other's video arrived
}

// Times tells when the peer reached each step so far.
func (p *Peer) Times() PeerTimes {
	t := PeerTimes{Joined: p.joinedAt}
	for _, step := range []struct {
		done <-chan struct{}
		at   *time.Time
		dst  *time.Time
	}{{p.iceConnected, &p.iceConnectedAt, &t.ICEConnected}, {p.connected, &p.connectedAt, &t.Connected}, {p.frame, &p.frameAt, &t.FirstFrame}} {
		select {
		case <-step.done: // the time was written before the close
			*step.dst = *step.at
		default:
		}
	}
	return t
}

// Candidate is one end of a selected ICE candidate pair.
type Candidate struct {
	// Type is host, srflx, prflx or relay.
	Type string `json:"type"`
	// RelayProtocol, for a local relay candidate, is how the peer reaches
	// its TURN server: udp, tcp (TURN over TCP) or tls (TURN over TLS, a
	// turns: URL), as pion reports it. Empty otherwise.
	RelayProtocol string `json:"relayProtocol,omitempty"`
	// Addr is the candidate's address and port.
	Addr string `json:"addr"`
}

// CandidatePair is the pair ICE selected, as one side sees it.
type CandidatePair struct {
	Local  Candidate `json:"local"`
	Remote Candidate `json:"remote"`
}

// ErrNoSelectedPair is returned by SelectedPair before ICE has selected a
// pair.
var ErrNoSelectedPair = errors.New("bench: no selected candidate pair")

// SelectedPair returns the candidate pair ICE selected, from the peer
// connection's statistics.
func (p *Peer) SelectedPair() (CandidatePair, error) {
	pair, ok := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return CandidatePair{}, ErrNoSelectedPair
	}
	report := p.pc.GetStats()
	candidate := func(id string) (Candidate, error) {
		s, ok := report[id].(webrtc.ICECandidateStats)
		if !ok {
			return Candidate{}, fmt.Errorf("%w: no statistics for candidate %q", ErrNoSelectedPair, id)
		}
		return Candidate{Type: s.CandidateType.String(), RelayProtocol: s.RelayProtocol,
			Addr: fmt.Sprintf("%s:%d", s.IP, s.Port)}, nil
	}
	local, err := candidate(pair.LocalCandidateID)
	if err != nil {
		return CandidatePair{}, err
	}
	remote, err := candidate(pair.RemoteCandidateID)
	if err != nil {
		return CandidatePair{}, err
	}
	return CandidatePair{Local: local, Remote: remote}, nil
}

package features

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"tandem/bench"
	"tandem/e2e/harness"
)

// TestVerificationCodeExposesMITM: a signaling server that puts itself in
// the middle of a call shows up in the verification codes. It serves a
// real Tandem's pages, but sends each browser's socket into a room of its
// own, where its own Pion peer answers the browser and forwards the media
// to the other browser's room. Both calls connect and play, each browser
// believing it talks to the other, and the two codes differ: each browser
// hashed its own fingerprint with the man in the middle's.
func TestVerificationCodeExposesMITM(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	room := harness.RoomName(t)

	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var sockets atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) {
		direct(r)
		if r.URL.Path == "/ws/"+room {
			r.URL.Path = fmt.Sprintf("/ws/%s-%d", room, sockets.Add(1))
		}
	}
	mitm := httptest.NewServer(proxy)
	defer mitm.Close()

	// What each browser receives: the other browser's media.
	toA, toB := newForwardedTracks(t, "a"), newForwardedTracks(t, "b")
	tabs := [2]*harness.Chromium{harness.StartChromium(t, "a"), harness.StartChromium(t, "b")}
	for i, tab := range tabs {
		if err := harness.Join(tab, mitm.URL+"/r/"+room); err != nil {
			t.Fatal(err)
		}
		if err := harness.WaitState(tab, "waiting"); err != nil {
			t.Fatal(err)
		}
		from, to := toA, toB
		if i == 1 {
			from, to = toB, toA
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		peer, err := bench.JoinCall(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+fmt.Sprintf("/ws/%s-%d", room, i+1),
			bench.PeerConfig{Media: &bench.PeerMedia{Tracks: from.list(), OnTrack: to.forward}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
	}
	for _, tab := range tabs {
		if err := harness.WaitState(tab, "connected"); err != nil {
			t.Fatal(err)
		}
		if err := harness.RemoteVideoPlays(tab); err != nil {
			t.Fatal(err)
		}
	}
	codeA, err := harness.VerificationCode(tabs[0])
	if err != nil {
		t.Fatal(err)
	}
	codeB, err := harness.VerificationCode(tabs[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with a man in the middle, both calls play; the codes are %s and %s", codeA, codeB)
	if codeA == codeB {
		t.Errorf("both tabs show %s: the man in the middle went unseen", codeA)
	}
}

// forwardedTracks are the tracks a man in the middle sends one browser:
// what it receives from the other.
type forwardedTracks struct {
	video, audio *webrtc.TrackLocalStaticRTP
}

func newForwardedTracks(t *testing.T, name string) *forwardedTracks {
	t.Helper()
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "mitm-"+name)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "mitm-"+name)
	if err != nil {
		t.Fatal(err)
	}
	return &forwardedTracks{video: video, audio: audio}
}

func (f *forwardedTracks) list() []webrtc.TrackLocal { return []webrtc.TrackLocal{f.video, f.audio} }

// forward writes what a remote track receives into f, asking its sender
// for a key frame every second so that the browser on the other side can
// start decoding whenever it joins.
func (f *forwardedTracks) forward(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	dst := f.audio
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		dst = f.video
		done := make(chan struct{})
		defer close(done)
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					_, _ = receiver.Transport().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
				}
			}
		}()
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		_ = dst.WriteRTP(pkt)
	}
}

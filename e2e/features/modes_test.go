package features

import (
	"fmt"
	"testing"
	"time"

	"tandem/e2e/harness"
)

// outboundJS is what the page's newest peer connection has sent, by kind,
// in bytes of RTP payload.
const outboundJS = `(async () => {
	const pc = window.__pcs[window.__pcs.length - 1];
	const out = {Audio: 0, Video: 0};
	(await pc.getStats()).forEach((s) => {
		if (s.type === "outbound-rtp") out[s.kind === "video" ? "Video" : "Audio"] += s.bytesSent;
	});
	return out;
})()`

// sentWidthJS is the width of the video the page sends now; cameraWidthJS
// that of its camera.
const (
	sentWidthJS = `(async () => {
		const pc = window.__pcs[window.__pcs.length - 1];
		let w = 0;
		(await pc.getStats()).forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") w = s.frameWidth || 0; });
		return w;
	})()`
	cameraWidthJS = `(() => {
		const pc = window.__pcs[window.__pcs.length - 1];
		const s = pc.getSenders().find((s) => s.track && s.track.kind === "video");
		return s.track.getSettings().width || 0;
	})()`
)

type outbound struct{ Audio, Video int64 }

// rates measures what p sends each second over window, in bits per second.
func rates(p harness.Page, window time.Duration) (audio, video float64, err error) {
	a, err := harness.Eval[outbound](p, outboundJS)
	if err != nil {
		return 0, 0, err
	}
	time.Sleep(window)
	b, err := harness.Eval[outbound](p, outboundJS)
	if err != nil {
		return 0, 0, err
	}
	s := window.Seconds()
	return float64(b.Audio-a.Audio) * 8 / s, float64(b.Video-a.Video) * 8 / s, nil
}

// TestAudioOnlyAndDataSaver: Audio only on one side stops the video both
// ways within seconds while audio flows on, and either side can bring
// video back; Data saver keeps one side's video under its cap.
func TestAudioOnlyAndDataSaver(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), ""))
	for _, tb := range tabs {
		must(t, harness.RemoteVideoPlays(tb))
	}
	click := func(tb *harness.Chromium, id string) {
		t.Helper()
		_, err := harness.Eval[bool](tb, fmt.Sprintf(`(document.getElementById(%q).click(), true)`, id))
		must(t, err)
	}
	// videoFlows waits until every tab's video is flowing (or not), and
	// checks that audio flows regardless.
	videoFlows := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for _, tb := range tabs {
			for {
				audio, video, err := rates(tb, time.Second)
				must(t, err)
				if (video > 8000) == want {
					t.Logf("%s: audio %.0f kbit/s, video %.0f kbit/s", tb, audio/1000, video/1000)
					if audio < 8000 {
						t.Errorf("%s: audio %.0f bit/s, want it flowing", tb, audio)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: video %.0f bit/s, want flowing %v", tb, video, want)
				}
			}
		}
	}

	click(tabs[0], "audio-only")
	must(t, harness.WaitFor(tabs[1], "audio only on the other side", `document.getElementById("audio-only").checked && document.getElementById("toast").textContent !== ""`))
	videoFlows(false)
	// The other side asks for video back.
	click(tabs[1], "audio-only")
	must(t, harness.WaitFor(tabs[0], "video back on the first side", `!document.getElementById("audio-only").checked`))
	videoFlows(true)

	time.Sleep(3 * time.Second) // the bandwidth estimate grows back
	_, before, err := rates(tabs[0], 2*time.Second)
	must(t, err)
	widthBefore, err := harness.Eval[int](tabs[0], sentWidthJS)
	must(t, err)
	click(tabs[0], "data-saver")
	encoding, err := harness.Eval[map[string]any](tabs[0], `(() => {
		const pc = window.__pcs[window.__pcs.length - 1];
		const s = pc.getSenders().find((s) => s.track && s.track.kind === "video");
		return s.getParameters().encodings[0];
	})()`)
	must(t, err)
	if encoding["maxBitrate"] != float64(300_000) || encoding["scaleResolutionDownBy"] != float64(2) {
		t.Errorf("with data saver the video encoding is %v, want maxBitrate 300000 and scaleResolutionDownBy 2", encoding)
	}
	time.Sleep(2 * time.Second) // the encoder settles
	_, after, err := rates(tabs[0], 4*time.Second)
	must(t, err)
	widthAfter, err := harness.Eval[int](tabs[0], sentWidthJS)
	must(t, err)
	t.Logf("data saver: video %.0f kbit/s and %d pixels wide before, %.0f kbit/s and %d wide after (cap 300 kbit/s, half the camera's size)",
		before/1000, widthBefore, after/1000, widthAfter)
	if after > 300_000*1.1 {
		t.Errorf("with data saver the video is %.0f kbit/s, over the 300 kbit/s cap", after/1000)
	}
	if width, err := harness.Eval[int](tabs[0], cameraWidthJS); err != nil || widthAfter > width/2 {
		t.Errorf("with data saver the video is %d pixels wide, want at most half the camera's %d (%v)", widthAfter, width, err)
	}
}

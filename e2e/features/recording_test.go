package features

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"tandem/e2e/harness"
)

// TestRecording: a 5-second recording in headless Chromium is saved on
// this computer as a file that ffprobe (Debian's ffmpeg) reads as a video
// and an audio stream of about 5 s; the other tab shows that it is being
// recorded for as long as it lasts, and the recording tab that the other
// was told.
func TestRecording(t *testing.T) {
	harness.NeedChromium(t)
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		harness.Unavailable(t, "no ffprobe; install it with: apt-get install -y ffmpeg")
	}
	srv := tandem.StartServer(t)
	tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), ""))
	recorder, other := tabs[0], tabs[1]
	for _, tb := range tabs {
		must(t, harness.RemoteVideoPlays(tb))
	}
	downloads := t.TempDir()
	must(t, recorder.Run(context.Background(), func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}))

	// Settings, then Record, with the mouse, as a person does.
	must(t, harness.Click(recorder, "open-settings"))
	must(t, harness.Click(recorder, "record"))
	start := time.Now()
	_, err = harness.Eval[bool](recorder, `(document.getElementById("settings-dialog").close(), true)`)
	must(t, err)
	must(t, harness.WaitFor(other, "the recording notice", `document.getElementById("call").dataset.remoteRecording === "true" &&
		!document.getElementById("remote-recording").hidden && document.getElementById("remote-recording").getClientRects().length > 0`))
	must(t, harness.WaitFor(recorder, "word that the other person was told", `!document.getElementById("recording").hidden &&
		document.getElementById("recording-text").dataset.i18n === "record.seen"`))
	shot(t, other, "recording-notice")
	shot(t, recorder, "recording")

	time.Sleep(5*time.Second - time.Since(start))
	must(t, harness.Click(recorder, "recording")) // the REC button in the call bar stops it
	recorded := time.Since(start)
	must(t, harness.WaitFor(other, "the notice gone", `document.getElementById("remote-recording").hidden`))

	var file string
	deadline := time.Now().Add(harness.PageTimeout)
	for file == "" {
		matches, _ := filepath.Glob(filepath.Join(downloads, "tandem-*.webm"))
		if len(matches) == 1 {
			file = matches[0]
		} else if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no recording saved in %s: %v", downloads, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var probe struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
		} `json:"streams"`
	}
	must(t, json.Unmarshal(out, &probe))
	kinds := map[string]string{}
	for _, s := range probe.Streams {
		kinds[s.CodecType] = s.CodecName
	}
	if kinds["video"] == "" || kinds["audio"] == "" {
		t.Errorf("streams %v, want a video and an audio stream", kinds)
	}
	// MediaRecorder's WebM has no duration in its header: the last
	// packet's time says how long it is.
	for _, stream := range []string{"v:0", "a:0"} {
		out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time", "-of", "csv=p=0", file).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", file, err)
		}
		lines := strings.Fields(string(out))
		last, _ := strconv.ParseFloat(strings.TrimSuffix(lines[len(lines)-1], ","), 64)
		t.Logf("%s: %s (%s), %d packets, %.2f s; recorded for %.2f s", filepath.Base(file), stream, kinds[map[string]string{"v:0": "video", "a:0": "audio"}[stream]], len(lines), last, recorded.Seconds())
		if last < 4 || last > 7 {
			t.Errorf("%s lasts %.2f s, want about 5", stream, last)
		}
	}
}

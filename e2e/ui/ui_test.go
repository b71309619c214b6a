package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tandem/e2e/harness"
)

// viewport is a screen a tab emulates.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	desktop        = viewport{"desktop", 1280, 800, false}
	phone          = viewport{"phone", 390, 844, true}
	phoneLandscape = viewport{"phone-landscape", 844, 390, true}
)

const (
	// remoteStateJS reads what the page shows about the other person.
	remoteStateJS = `(() => {
  const stage = document.getElementById("stage").dataset;
  return {
    name: document.getElementById("remote-name").textContent,
    muted: stage.remoteMuted === "true",
    camera: stage.remoteCamera !== "off",
    sharing: stage.remoteSharing === "true",
  };
})()`

	// sentVideoJS describes the track the newest peer connection sends as
	// video: none, a camera (its device) or a screen.
	sentVideoJS = `(() => {
  const sender = window.__pcs.at(-1).getSenders().find((s) => s.track && s.track.kind === "video");
  if (!sender) return { kind: "none", device: "" };
  const settings = sender.track.getSettings();
  return { kind: settings.displaySurface ? "screen" : "camera", device: settings.deviceId || "" };
})()`

	// sentAudioDeviceJS is the device of the microphone track being sent.
	sentAudioDeviceJS = `(() => {
  const sender = window.__pcs.at(-1).getSenders().find((s) => s.track && s.track.kind === "audio");
  return sender ? sender.track.getSettings().deviceId : "";
})()`

	// descriptionsJS are the SDP of the newest peer connection: a
	// renegotiation would change them.
	descriptionsJS = `(() => {
  const pc = window.__pcs.at(-1);
  return pc.localDescription.sdp + pc.remoteDescription.sdp;
})()`

	// pickOtherDeviceJS selects, in the picker with the given id, the last
	// option that is not the current one, as a person would, and returns its
	// value. (The last, because Chromium's second fake camera is a depth
	// camera, which WebRTC cannot send.)
	pickOtherDeviceJS = `((id) => {
  const select = document.getElementById(id);
  const other = [...select.options].reverse().find((o) => !o.selected);
  select.value = other.value;
  select.dispatchEvent(new Event("change"));
  return other.value;
})`

	// layoutJS measures the page against the viewport: horizontal overflow,
	// visible buttons outside it or too small to touch, and the stage.
	layoutJS = `(() => {
  const w = innerWidth, h = innerHeight;
  const buttons = [...document.querySelectorAll(".controls button, .call-bar button, .call-bar .language")].filter((b) => b.offsetParent);
  const bad = buttons.filter((b) => {
    const r = b.getBoundingClientRect();
    return r.left < 0 || r.right > w || r.top < 0 || r.bottom > h || r.height < 36 || (b.closest(".controls") && r.width < 44);
  }).map((b) => b.id || b.textContent.trim());
  const stage = document.getElementById("stage").getBoundingClientRect();
  return { overflow: document.documentElement.scrollWidth > w, bad, buttons: buttons.length, stageWidth: stage.width, stageHeight: stage.height };
})()`

	// requestsJS lists every URL the page fetched that is not on its own
	// origin (the WebSocket is checked by the server's Origin rule).
	requestsJS = `performance.getEntriesByType("resource").map((e) => e.name).filter((u) => new URL(u).origin !== location.origin)`
)

type remoteState struct {
	Name    string `json:"name"`
	Muted   bool   `json:"muted"`
	Camera  bool   `json:"camera"`
	Sharing bool   `json:"sharing"`
}

type sentVideo struct {
	Kind   string `json:"kind"` // none, camera or screen
	Device string `json:"device"`
}

type layout struct {
	Overflow    bool     `json:"overflow"`
	Bad         []string `json:"bad"`
	Buttons     int      `json:"buttons"`
	StageWidth  float64  `json:"stageWidth"`
	StageHeight float64  `json:"stageHeight"`
}

// emulate gives tb the size of v.
func emulate(tb *harness.Chromium, v viewport) error {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if v.width > v.height {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateLandscape}
	}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	err := tb.Run(context.Background(), func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, opts...))
	})
	if err != nil {
		return fmt.Errorf("%s: emulate %s: %w", tb, v.name, err)
	}
	return nil
}

// acceptLanguage makes tb send this Accept-Language header.
func acceptLanguage(tb *harness.Chromium, header string) error {
	err := tb.Run(context.Background(), func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": header}})
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: Accept-Language: %w", tb, err)
	}
	return nil
}

// darkMode makes tb prefer a dark colour scheme, or stop preferring it.
func darkMode(tb *harness.Chromium, dark bool) error {
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	err := tb.Run(context.Background(), func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: prefers-color-scheme %s: %w", tb, scheme, err)
	}
	return nil
}

// typeText types text into the element with the given id.
func typeText(tb *harness.Chromium, id, text string) error {
	err := tb.Run(context.Background(), func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID(id), text))
	})
	if err != nil {
		return fmt.Errorf("%s: type into #%s: %w", tb, id, err)
	}
	return nil
}

// press presses and releases one key on the focused element of tb, as a
// keyboard does: the key down carries the key's text, so that a page that
// cancels the keydown also stops the typing. (chromedp.KeyEvent sends the
// text as a separate char event, which types even then.)
func press(tb *harness.Chromium, key rune) error {
	err := tb.Run(context.Background(), func(ctx context.Context) error {
		for _, ev := range kb.Encode(key) {
			switch ev.Type {
			case kb.KeyChar:
				continue
			case kb.KeyDown:
				if unicode.IsPrint(key) {
					ev.Text = string(key)
				}
			}
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, *ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: press %q: %w", tb, key, err)
	}
	return nil
}

// waitLobby opens url in tb and waits until its lobby shows the camera
// and Join can be clicked.
func waitLobby(tb *harness.Chromium, url string) error {
	if err := harness.Load(tb, url); err != nil {
		return err
	}
	if _, err := harness.Poll(tb, harness.PhaseJS, func(p string) bool { return p == "lobby" }); err != nil {
		return fmt.Errorf("%s: no lobby: %w", tb, err)
	}
	return harness.WaitFor(tb, "the camera preview", `document.getElementById("preview-video").videoWidth > 0`)
}

// waitRemote waits until tb shows the other person in the state want.
func waitRemote(tb *harness.Chromium, want remoteState) error {
	got, err := harness.Poll(tb, remoteStateJS, func(s remoteState) bool { return s == want })
	if err != nil {
		return fmt.Errorf("%s: the other side shows %+v, want %+v: %w", tb, got, want, err)
	}
	return nil
}

// screenshot saves a PNG of tb under name, after the page has settled.
func screenshot(t *testing.T, tb *harness.Chromium, name string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let transitions and the level meter settle
	file := filepath.Join(harness.ScreenshotDir, name+".png")
	if err := harness.Screenshot(tb, file); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot %s", file)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestUILobbyJoin: the lobby shows the camera, a moving microphone level,
// the device pickers, the room link with Copy and a QR code; one person
// joins named, the other muted and without camera; each sees the other's
// name and state; the name is remembered; nothing is fetched from another
// origin.
func TestUILobbyJoin(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	url := srv.RoomURL(harness.RoomName(t), "")
	ada, grace := harness.StartChromium(t, "ada"), harness.StartChromium(t, "grace")

	must(t, waitLobby(ada, url))
	must(t, harness.WaitFor(ada, "a moving microphone level",
		`new DOMMatrix(getComputedStyle(document.getElementById("mic-level")).transform).a > 0.01`))
	must(t, harness.WaitFor(ada, "cameras, microphones and speakers to pick from", `["camera-select", "mic-select", "speaker-select"]
		.every((id) => document.getElementById(id).options.length >= 2 && document.getElementById(id).offsetParent)`))
	must(t, harness.WaitFor(ada, "a QR code", `document.querySelector("#invite .qr svg path").getAttribute("d").length > 100`))
	link, err := harness.Eval[string](ada, `document.getElementById("room-link").value`)
	must(t, err)
	if link != url {
		t.Errorf("room link %q, want %q", link, url)
	}
	must(t, harness.Click(ada, "copy-link"))
	must(t, harness.WaitFor(ada, `"Copied"`, `document.getElementById("copy-text").textContent === "Copied"`))

	const adaName = `Ada <b>Lovelace</b>`
	must(t, typeText(ada, "display-name", adaName))
	must(t, harness.JoinFromLobby(ada))
	must(t, harness.WaitState(ada, "waiting"))

	must(t, waitLobby(grace, url))
	must(t, typeText(grace, "display-name", "Grace"))
	must(t, harness.Click(grace, "lobby-mic"))
	must(t, harness.Click(grace, "lobby-camera"))
	must(t, harness.WaitFor(grace, "the camera released", `document.getElementById("preview-video").srcObject === null`))
	must(t, harness.JoinFromLobby(grace))
	for _, tb := range []*harness.Chromium{ada, grace} {
		must(t, harness.WaitState(tb, "connected"))
	}
	must(t, waitRemote(ada, remoteState{Name: "Grace", Muted: true, Camera: false}))
	must(t, waitRemote(grace, remoteState{Name: adaName, Camera: true}))
	must(t, harness.WaitFor(grace, "the name shown as text", `!document.querySelector("#remote-name b")`))
	if err := harness.RemoteVideoPlays(grace); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"toggle-mic", "toggle-camera"} {
		pressed, err := harness.Eval[string](grace, `document.getElementById("`+id+`").getAttribute("aria-pressed")`)
		must(t, err)
		if pressed != "true" {
			t.Errorf("grace: #%s aria-pressed %q in the call, want true as in the lobby", id, pressed)
		}
	}

	// The name is remembered for the next lobby.
	must(t, waitLobby(ada, srv.RoomURL(harness.RoomName(t)+"-next", "")))
	if name, err := harness.Eval[string](ada, `document.getElementById("display-name").value`); err != nil || name != adaName {
		t.Errorf("ada: name %q in the next lobby, want %q (err %v)", name, adaName, err)
	}
	for _, tb := range []*harness.Chromium{ada, grace} {
		if others, err := harness.Eval[[]string](tb, requestsJS); err != nil || len(others) > 0 {
			t.Errorf("%s: requests to other origins: %v (err %v)", tb, others, err)
		}
	}
}

// TestUIFailureStates: what people read when the camera is refused, the
// room is full, the other person leaves or they hang up themselves; and
// that they can still go on (join without camera, rejoin).
func TestUIFailureStates(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)

	t.Run("camera and microphone refused", func(t *testing.T) {
		// The fake permission prompt answers Block.
		tb := harness.StartChromium(t, "refused", chromedp.Flag("use-fake-ui-for-media-stream", "deny"))
		must(t, harness.Load(tb, srv.RoomURL(harness.RoomName(t), "")))
		must(t, harness.WaitState(tb, "media-error"))
		must(t, harness.WaitFor(tb, "the reason and a way out", `document.getElementById("status").textContent.includes("refused") &&
			!document.getElementById("media-problem").hidden && !document.getElementById("join").disabled`))
		must(t, emulate(tb, desktop))
		screenshot(t, tb, "lobby-refused-desktop-en")
		must(t, harness.JoinFromLobby(tb))
		must(t, harness.WaitState(tb, "waiting"))
		if pressed, err := harness.Eval[string](tb, `document.getElementById("toggle-mic").getAttribute("aria-pressed")`); err != nil || pressed != "true" {
			t.Errorf("mic aria-pressed %q without a microphone, want true (err %v)", pressed, err)
		}
	})

	t.Run("full room then leave and rejoin", func(t *testing.T) {
		url := srv.RoomURL(harness.RoomName(t), "")
		tabs := harness.OpenCall(t, url)
		third := harness.StartChromium(t, "third")
		must(t, harness.Join(third, url))
		must(t, harness.WaitState(third, "full"))
		must(t, harness.WaitFor(third, "the room-full page", `document.getElementById("ended-title").textContent === "This room is full" &&
			document.getElementById("rejoin").textContent === "Try again"`))
		must(t, emulate(third, phone))
		screenshot(t, third, "full-phone-en")

		must(t, harness.Click(tabs[1], "hang-up"))
		must(t, harness.WaitFor(tabs[1], "the you-left page", `document.getElementById("call").dataset.phase === "ended" &&
			document.getElementById("ended-title").textContent === "You left the call"`))
		must(t, harness.WaitState(tabs[0], "peer-left"))
		must(t, harness.WaitFor(tabs[0], "the stage saying so", `document.getElementById("placeholder-text").textContent.includes("left")`))

		// Rejoin goes back through the lobby.
		must(t, harness.Click(tabs[1], "rejoin"))
		must(t, harness.JoinFromLobby(tabs[1]))
		for _, tb := range tabs {
			must(t, harness.WaitState(tb, "connected"))
			must(t, harness.RemoteVideoPlays(tb))
		}
	})
}

// TestUIInCall runs the controls of one live call in turn: each must leave
// the call up.
func TestUIInCall(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), ""))
	one, two := tabs[0], tabs[1]
	for _, tb := range tabs {
		must(t, harness.RemoteVideoPlays(tb))
	}

	t.Run("mute and camera off reach the other side", func(t *testing.T) {
		must(t, harness.Click(one, "toggle-mic"))
		must(t, waitRemote(two, remoteState{Name: "Guest", Muted: true, Camera: true}))
		must(t, harness.Click(one, "toggle-camera"))
		must(t, waitRemote(two, remoteState{Name: "Guest", Muted: true, Camera: false}))
		must(t, harness.WaitFor(two, "the avatar instead of the video", `getComputedStyle(document.querySelector(".remote-off")).display !== "none"`))
		if v, err := harness.Eval[sentVideo](one, sentVideoJS); err != nil || v.Kind != "none" {
			t.Errorf("one sends %+v with the camera off, want no video track (err %v)", v, err)
		}
		// The keyboard shortcuts M and V turn both back on.
		must(t, press(one, 'm'))
		must(t, press(one, 'v'))
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true}))
		must(t, harness.RemoteVideoPlays(two))
	})

	t.Run("chat both ways with HTML as text", func(t *testing.T) {
		const hostile = `<img src=x onerror="window.__xss=1"><b>bold</b> & 你好`
		must(t, harness.Click(one, "toggle-chat"))
		must(t, harness.WaitFor(one, "the chat to open", `!document.getElementById("chat-input").disabled`))
		must(t, typeText(one, "chat-input", hostile))
		must(t, harness.Click(one, "chat-send"))
		must(t, harness.WaitFor(two, "the unread badge", `document.getElementById("unread-count").textContent === "1" && !document.getElementById("unread").hidden`))
		got, err := harness.Eval[string](two, `document.querySelector("#messages li.theirs p").textContent`)
		must(t, err)
		if got != hostile {
			t.Errorf("two received %q, want %q", got, hostile)
		}
		if html, err := harness.Eval[bool](two, `!!document.querySelector("#messages img, #messages b") || window.__xss === 1`); err != nil || html {
			t.Errorf("two rendered the message as HTML (err %v)", err)
		}
		must(t, press(two, 'c'))
		must(t, harness.WaitFor(two, "the badge to clear", `document.getElementById("unread").hidden && document.activeElement.id === "chat-input"`))
		must(t, typeText(two, "chat-input", "hello back"))
		must(t, harness.Click(two, "chat-send"))
		must(t, harness.WaitFor(one, "the reply", `[...document.querySelectorAll("#messages li.theirs p")].some((p) => p.textContent === "hello back")`))
		must(t, harness.Click(one, "close-chat"))
		must(t, harness.Click(two, "close-chat"))
	})

	t.Run("screen share starts and stops, from the browser's Stop too", func(t *testing.T) {
		must(t, harness.Click(one, "toggle-share"))
		got, err := harness.Poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "screen" })
		if err != nil {
			t.Fatalf("one sends %+v after Share: %v", got, err)
		}
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true, Sharing: true}))
		must(t, harness.RemoteVideoPlays(two))
		must(t, harness.Click(one, "toggle-share"))
		got, err = harness.Poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "camera" })
		if err != nil {
			t.Fatalf("one sends %+v after stopping the share, want the camera again: %v", got, err)
		}
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true}))
		must(t, harness.RemoteVideoPlays(two))

		// The browser's own "Stop sharing" button ends the screen track.
		must(t, harness.Click(one, "toggle-share"))
		if _, err := harness.Poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "screen" }); err != nil {
			t.Fatal(err)
		}
		_, err = harness.Eval[any](one, `(window.__pcs.at(-1).getSenders().find((s) => s.track && s.track.kind === "video").track.dispatchEvent(new Event("ended")), null)`)
		must(t, err)
		if got, err := harness.Poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "camera" }); err != nil {
			t.Fatalf("one sends %+v after the browser ended the share: %v", got, err)
		}
		must(t, harness.WaitFor(one, "the Share button released", `document.getElementById("toggle-share").getAttribute("aria-pressed") === "false"`))
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true}))
	})

	t.Run("device switch keeps the call", func(t *testing.T) {
		sdp, err := harness.Eval[string](one, descriptionsJS)
		must(t, err)
		pcs, err := harness.Eval[int](one, harness.PeerConnectionCountJS)
		must(t, err)
		must(t, harness.Click(one, "open-settings"))
		camera, err := harness.Eval[string](one, pickOtherDeviceJS+`("camera-select")`)
		must(t, err)
		if _, err := harness.Poll(one, sentVideoJS, func(v sentVideo) bool { return v.Device == camera }); err != nil {
			t.Fatalf("one does not send camera %s: %v", camera, err)
		}
		mic, err := harness.Eval[string](one, pickOtherDeviceJS+`("mic-select")`)
		must(t, err)
		if _, err := harness.Poll(one, sentAudioDeviceJS, func(d string) bool { return d == mic }); err != nil {
			t.Fatalf("one does not send microphone %s: %v", mic, err)
		}
		must(t, press(one, '\u001b')) // Escape
		must(t, harness.RemoteVideoPlays(two))
		must(t, harness.WaitState(one, "connected"))
		if after, err := harness.Eval[string](one, descriptionsJS); err != nil || after != sdp {
			t.Errorf("the switch renegotiated (err %v)", err)
		}
		if n, err := harness.Eval[int](one, harness.PeerConnectionCountJS); err != nil || n != pcs {
			t.Errorf("%d peer connections after the switch, want %d (err %v)", n, pcs, err)
		}
	})

	t.Run("help, timer, full screen and picture-in-picture", func(t *testing.T) {
		must(t, press(one, '?'))
		must(t, harness.WaitFor(one, "the shortcuts", `document.getElementById("help-dialog").open &&
			[...document.querySelectorAll("#help-dialog kbd")].map((k) => k.textContent).join("") === "MVSCAFRY?"`))
		must(t, press(one, '\u001b')) // Escape
		must(t, harness.WaitFor(one, "the help to close", `!document.getElementById("help-dialog").open`))
		must(t, harness.WaitFor(one, "a running timer", `/^\d\d:\d\d$/.test(document.getElementById("timer").textContent)`))
		for _, id := range []string{"toggle-fullscreen", "toggle-pip"} {
			pressed := `document.getElementById("` + id + `").getAttribute("aria-pressed") === `
			must(t, harness.Click(one, id))
			must(t, harness.WaitFor(one, id+" on", pressed+`"true"`))
			must(t, harness.Click(one, id))
			must(t, harness.WaitFor(one, id+" off", pressed+`"false"`))
		}
		must(t, harness.WaitState(one, "connected"))
	})

	t.Run("quality panel shows the candidate type", func(t *testing.T) {
		must(t, harness.WaitFor(one, "the quality indicator", `!document.getElementById("quality").hidden`))
		must(t, harness.Click(one, "quality"))
		must(t, harness.WaitFor(one, "a host candidate and numbers", `(() => {
  const route = document.getElementById("quality-route");
  return route.dataset.candidate === "host" && route.textContent.includes("host") &&
    /\d/.test(document.getElementById("quality-rtt").textContent) && /\d/.test(document.getElementById("quality-down").textContent);
})()`))
	})
}

// TestUIQualityRelayed: through the relay, the panel says so.
func TestUIQualityRelayed(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	tabs := harness.OpenCall(t, srv.RoomURL(harness.RoomName(t), "relay=1"))
	must(t, harness.WaitFor(tabs[0], "the quality indicator", `!document.getElementById("quality").hidden`))
	must(t, harness.Click(tabs[0], "quality"))
	must(t, harness.WaitFor(tabs[0], "a relay candidate", `(() => {
  const route = document.getElementById("quality-route");
  return route.dataset.candidate === "relay" && route.textContent.startsWith("Through the relay (relay");
})()`))
}

// TestUILanguage: Accept-Language picks Chinese; the switcher turns the
// call page to English in place, without touching the call, and the choice
// sticks.
func TestUILanguage(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	url := srv.RoomURL(harness.RoomName(t), "")
	zh, en := harness.StartChromium(t, "zh"), harness.StartChromium(t, "en")
	must(t, acceptLanguage(zh, "zh-CN,zh;q=0.9"))

	must(t, harness.Load(zh, srv.URL))
	must(t, harness.WaitFor(zh, "the home page in Chinese", `document.documentElement.lang === "zh-CN" && document.querySelector("h1").textContent === "两个人的视频通话"`))
	must(t, waitLobby(zh, url))
	must(t, harness.WaitFor(zh, "the lobby in Chinese", `document.getElementById("join").textContent === "立即加入"`))
	must(t, harness.JoinFromLobby(zh))
	must(t, harness.Join(en, url))
	for _, tb := range []*harness.Chromium{zh, en} {
		must(t, harness.WaitState(tb, "connected"))
	}
	must(t, harness.WaitFor(zh, "Chinese words", `document.getElementById("status").textContent === "已连接" &&
		document.getElementById("remote-name").textContent === "对方"`))
	pcs, err := harness.Eval[int](zh, harness.PeerConnectionCountJS)
	must(t, err)

	must(t, harness.Click(zh, "language"))
	must(t, harness.WaitFor(zh, "English words", `document.documentElement.lang === "en" &&
		document.getElementById("status").textContent === "Connected" &&
		document.getElementById("remote-name").textContent === "Guest" &&
		document.querySelector("#toggle-mic .label").textContent === "Mute" &&
		document.getElementById("chat-input").placeholder === "Write a message" &&
		document.getElementById("open-help").getAttribute("aria-label") === "Keyboard shortcuts" &&
		document.getElementById("language").textContent === "中文"`))
	if n, err := harness.Eval[int](zh, harness.PeerConnectionCountJS); err != nil || n != pcs {
		t.Errorf("%d peer connections after the switch, want the same %d (err %v)", n, pcs, err)
	}
	must(t, harness.WaitState(zh, "connected"))
	// The choice beats Accept-Language from now on.
	must(t, harness.Load(zh, srv.URL))
	must(t, harness.WaitFor(zh, "the home page in English", `document.documentElement.lang === "en"`))
}

// TestUIPhoneLayout: on a phone held upright and sideways, nothing spills
// sideways, every control is on screen and big enough to touch, and the
// other person's video keeps most of the screen; the chat takes the screen.
func TestUIPhoneLayout(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	url := srv.RoomURL(harness.RoomName(t), "")
	mobile, other := harness.StartChromium(t, "phone"), harness.StartChromium(t, "desktop")
	must(t, emulate(mobile, phone))
	must(t, waitLobby(mobile, url))
	if l, err := harness.Eval[layout](mobile, layoutJS); err != nil || l.Overflow || len(l.Bad) > 0 {
		t.Errorf("lobby: %+v (err %v)", l, err)
	}
	must(t, harness.JoinFromLobby(mobile))
	must(t, harness.Join(other, url))
	must(t, harness.WaitState(mobile, "connected"))
	must(t, harness.RemoteVideoPlays(mobile))

	for _, v := range []viewport{phone, phoneLandscape} {
		must(t, emulate(mobile, v))
		l, err := harness.Poll(mobile, layoutJS, func(l layout) bool {
			return !l.Overflow && len(l.Bad) == 0 && l.StageHeight*l.StageWidth > 0.5*float64(v.width*v.height)
		})
		if err != nil {
			t.Errorf("%s: %+v: %v", v.name, l, err)
		}
		if l.Buttons < 8 {
			t.Errorf("%s: %d buttons visible, want the call controls and the header's", v.name, l.Buttons)
		}
		screenshot(t, mobile, "call-"+v.name+"-en")
	}
	must(t, emulate(mobile, phone))
	must(t, harness.Click(mobile, "verify"))
	must(t, harness.WaitFor(mobile, "the verify panel", `!document.getElementById("verify-panel").hidden`))
	if l, err := harness.Eval[layout](mobile, layoutJS); err != nil || l.Overflow || len(l.Bad) > 0 {
		t.Errorf("verify panel: %+v (err %v)", l, err)
	}
	screenshot(t, mobile, "verify-phone-en")
	must(t, harness.Click(mobile, "verify"))
	must(t, harness.Click(mobile, "toggle-chat"))
	must(t, harness.WaitFor(mobile, "the chat over the whole width", `document.getElementById("chat").getBoundingClientRect().width === innerWidth`))
}

// TestUIScreenshots writes the screenshots the README points to: home,
// lobby, call and chat, on a desktop and a phone, in both languages, and
// the desktop call in dark mode.
func TestUIScreenshots(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t)
	for _, lang := range []struct {
		tag, header   string
		names         [2]string
		hello, answer string
	}{
		{"en", "en-GB,en;q=0.9", [2]string{"Ada", "Grace"}, "Hi! Can you see me?", "Yes, loud and clear."},
		{"zh-CN", "zh-CN,zh;q=0.9", [2]string{"李雷", "韩梅梅"}, "你好！能看到我吗？", "看得很清楚，声音也很好。"},
	} {
		t.Run(lang.tag, func(t *testing.T) {
			d, p := harness.StartChromium(t, "desktop"), harness.StartChromium(t, "phone")
			tabs := map[*harness.Chromium]viewport{d: desktop, p: phone}
			shot := func(tb *harness.Chromium, page string) { screenshot(t, tb, page+"-"+tabs[tb].name+"-"+lang.tag) }
			for tb, v := range tabs {
				must(t, emulate(tb, v))
				must(t, acceptLanguage(tb, lang.header))
			}
			url := srv.RoomURL(harness.RoomName(t), "")
			for i, tb := range []*harness.Chromium{d, p} {
				must(t, harness.Load(tb, srv.URL))
				shot(tb, "home")
				must(t, waitLobby(tb, url))
				must(t, typeText(tb, "display-name", lang.names[i]))
				shot(tb, "lobby")
			}
			must(t, harness.JoinFromLobby(d))
			must(t, harness.WaitState(d, "waiting"))
			shot(d, "waiting")
			must(t, harness.JoinFromLobby(p))
			for _, tb := range []*harness.Chromium{d, p} {
				must(t, harness.WaitState(tb, "connected"))
				must(t, harness.RemoteVideoPlays(tb))
			}
			must(t, harness.WaitFor(d, "the quality indicator", `!document.getElementById("quality").hidden`))
			for tb := range tabs {
				shot(tb, "call")
			}
			for i, tb := range []*harness.Chromium{d, p} {
				must(t, harness.Click(tb, "toggle-chat"))
				must(t, harness.WaitFor(tb, "the chat to open", `!document.getElementById("chat-input").disabled`))
				must(t, typeText(tb, "chat-input", []string{lang.hello, lang.answer}[i]))
				must(t, harness.Click(tb, "chat-send"))
			}
			must(t, harness.WaitFor(d, "the answer", `document.querySelectorAll("#messages li").length === 2`))
			must(t, harness.WaitFor(p, "both messages", `document.querySelectorAll("#messages li").length === 2`))
			for tb := range tabs {
				shot(tb, "chat")
			}
			if lang.tag == "en" {
				must(t, harness.Click(d, "close-chat"))
				must(t, darkMode(d, true))
				screenshot(t, d, "call-desktop-en-dark")
			}
		})
	}
}

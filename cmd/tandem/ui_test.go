package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The tests of the call experience: lobby, controls, what the other side
// sees, chat, screen share, devices, quality, languages, phone layout, page
// weight, and the screenshots in test-output/screenshots.

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

// pageWeightBudget is what the call page's own JavaScript and CSS may weigh,
// uncompressed.
const pageWeightBudget = 60_000

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
func emulate(tb *tab, v viewport) error {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if v.width > v.height {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateLandscape}
	}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, opts...)); err != nil {
		return fmt.Errorf("%s: emulate %s: %w", tb.name, v.name, err)
	}
	return nil
}

// acceptLanguage makes tb send this Accept-Language header.
func acceptLanguage(tb *tab, header string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return fmt.Errorf("%s: %w", tb.name, err)
	}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": header}})
	if err != nil {
		return fmt.Errorf("%s: Accept-Language: %w", tb.name, err)
	}
	return nil
}

// darkMode makes tb prefer a dark colour scheme, or stop preferring it.
func darkMode(tb *tab, dark bool) error {
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	return err
}

// typeText types text into the element with the given id.
func typeText(tb *tab, id, text string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID(id), text)); err != nil {
		return fmt.Errorf("%s: type into #%s: %w", tb.name, id, err)
	}
	return nil
}

// press presses and releases one key on the focused element of tb, as a
// keyboard does: the key down carries the key's text, so that a page that
// cancels the keydown also stops the typing. (chromedp.KeyEvent sends the
// text as a separate char event, which types even then.)
func press(tb *tab, key rune) error {
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
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
			return fmt.Errorf("%s: press %q: %w", tb.name, key, err)
		}
	}
	return nil
}

// waitFor polls the boolean expression expr in tb until it is true.
func waitFor(tb *tab, what, expr string) error {
	if _, err := poll(tb, expr, func(ok bool) bool { return ok }); err != nil {
		return fmt.Errorf("%s: waiting for %s: %w", tb.name, what, err)
	}
	return nil
}

// waitLobby opens url in tb and waits until its lobby shows the camera
// and Join can be clicked.
func waitLobby(tb *tab, url string) error {
	if err := load(tb, url); err != nil {
		return err
	}
	if _, err := poll(tb, phaseJS, func(p string) bool { return p == "lobby" }); err != nil {
		return fmt.Errorf("%s: no lobby: %w", tb.name, err)
	}
	return waitFor(tb, "the camera preview", `document.getElementById("preview-video").videoWidth > 0`)
}

// waitRemote waits until tb shows the other person in the state want.
func waitRemote(tb *tab, want remoteState) error {
	got, err := poll(tb, remoteStateJS, func(s remoteState) bool { return s == want })
	if err != nil {
		return fmt.Errorf("%s: the other side shows %+v, want %+v: %w", tb.name, got, want, err)
	}
	return nil
}

// screenshot saves a PNG of tb under name, after the page has settled.
func screenshot(t *testing.T, tb *tab, name string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let transitions and the level meter settle
	file := filepath.Join(screenshotDir, name+".png")
	if err := saveScreenshot(tb, file); err != nil {
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
	execPath := findChromium(t)
	srv := startServer(t)
	url := srv.roomURL(roomName(t), "")
	ada, grace := newTab(t, execPath, "ada"), newTab(t, execPath, "grace")

	must(t, waitLobby(ada, url))
	must(t, waitFor(ada, "a moving microphone level",
		`new DOMMatrix(getComputedStyle(document.getElementById("mic-level")).transform).a > 0.01`))
	must(t, waitFor(ada, "cameras, microphones and speakers to pick from", `["camera-select", "mic-select", "speaker-select"]
		.every((id) => document.getElementById(id).options.length >= 2 && document.getElementById(id).offsetParent)`))
	must(t, waitFor(ada, "a QR code", `document.querySelector("#invite .qr svg path").getAttribute("d").length > 100`))
	link, err := evaluate[string](ada, `document.getElementById("room-link").value`)
	must(t, err)
	if link != url {
		t.Errorf("room link %q, want %q", link, url)
	}
	must(t, click(ada, "copy-link"))
	must(t, waitFor(ada, `"Copied"`, `document.getElementById("copy-text").textContent === "Copied"`))

	const adaName = `Ada <b>Lovelace</b>`
	must(t, typeText(ada, "display-name", adaName))
	must(t, joinFromLobby(ada))
	must(t, waitState(ada, "waiting"))

	must(t, waitLobby(grace, url))
	must(t, typeText(grace, "display-name", "Grace"))
	must(t, click(grace, "lobby-mic"))
	must(t, click(grace, "lobby-camera"))
	must(t, waitFor(grace, "the camera released", `document.getElementById("preview-video").srcObject === null`))
	must(t, joinFromLobby(grace))
	for _, tb := range []*tab{ada, grace} {
		must(t, waitState(tb, "connected"))
	}
	must(t, waitRemote(ada, remoteState{Name: "Grace", Muted: true, Camera: false}))
	must(t, waitRemote(grace, remoteState{Name: adaName, Camera: true}))
	must(t, waitFor(grace, "the name shown as text", `!document.querySelector("#remote-name b")`))
	if err := remoteVideoPlays(grace); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"toggle-mic", "toggle-camera"} {
		pressed, err := evaluate[string](grace, `document.getElementById("`+id+`").getAttribute("aria-pressed")`)
		must(t, err)
		if pressed != "true" {
			t.Errorf("grace: #%s aria-pressed %q in the call, want true as in the lobby", id, pressed)
		}
	}

	// The name is remembered for the next lobby.
	must(t, waitLobby(ada, srv.roomURL(roomName(t)+"-next", "")))
	if name, err := evaluate[string](ada, `document.getElementById("display-name").value`); err != nil || name != adaName {
		t.Errorf("ada: name %q in the next lobby, want %q (err %v)", name, adaName, err)
	}
	for _, tb := range []*tab{ada, grace} {
		if others, err := evaluate[[]string](tb, requestsJS); err != nil || len(others) > 0 {
			t.Errorf("%s: requests to other origins: %v (err %v)", tb.name, others, err)
		}
	}
}

// TestUIFailureStates: what people read when the camera is refused, the
// room is full, the other person leaves or they hang up themselves; and
// that they can still go on (join without camera, rejoin).
func TestUIFailureStates(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)

	t.Run("camera and microphone refused", func(t *testing.T) {
		// The fake permission prompt answers Block.
		tb := newTab(t, execPath, "refused", chromedp.Flag("use-fake-ui-for-media-stream", "deny"))
		must(t, load(tb, srv.roomURL(roomName(t), "")))
		must(t, waitState(tb, "media-error"))
		must(t, waitFor(tb, "the reason and a way out", `document.getElementById("status").textContent.includes("refused") &&
			!document.getElementById("media-problem").hidden && !document.getElementById("join").disabled`))
		must(t, emulate(tb, desktop))
		screenshot(t, tb, "lobby-refused-desktop-en")
		must(t, joinFromLobby(tb))
		must(t, waitState(tb, "waiting"))
		if pressed, err := evaluate[string](tb, `document.getElementById("toggle-mic").getAttribute("aria-pressed")`); err != nil || pressed != "true" {
			t.Errorf("mic aria-pressed %q without a microphone, want true (err %v)", pressed, err)
		}
	})

	t.Run("full room then leave and rejoin", func(t *testing.T) {
		url := srv.roomURL(roomName(t), "")
		tabs := openCall(t, execPath, url)
		third := newTab(t, execPath, "third")
		must(t, navigate(third, url))
		must(t, waitState(third, "full"))
		must(t, waitFor(third, "the room-full page", `document.getElementById("ended-title").textContent === "This room is full" &&
			document.getElementById("rejoin").textContent === "Try again"`))
		must(t, emulate(third, phone))
		screenshot(t, third, "full-phone-en")

		must(t, click(tabs[1], "hang-up"))
		must(t, waitFor(tabs[1], "the you-left page", `document.getElementById("call").dataset.phase === "ended" &&
			document.getElementById("ended-title").textContent === "You left the call"`))
		must(t, waitState(tabs[0], "peer-left"))
		must(t, waitFor(tabs[0], "the stage saying so", `document.getElementById("placeholder-text").textContent.includes("left")`))

		// Rejoin goes back through the lobby.
		must(t, click(tabs[1], "rejoin"))
		must(t, joinFromLobby(tabs[1]))
		for _, tb := range tabs {
			must(t, waitState(tb, "connected"))
			must(t, remoteVideoPlays(tb))
		}
	})
}

// TestUIInCall runs the controls of one live call in turn: each must leave
// the call up.
func TestUIInCall(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	tabs := openCall(t, execPath, srv.roomURL(roomName(t), ""))
	one, two := tabs[0], tabs[1]
	for _, tb := range tabs {
		must(t, remoteVideoPlays(tb))
	}

	t.Run("mute and camera off reach the other side", func(t *testing.T) {
		must(t, click(one, "toggle-mic"))
		must(t, waitRemote(two, remoteState{Name: "Guest", Muted: true, Camera: true}))
		must(t, click(one, "toggle-camera"))
		must(t, waitRemote(two, remoteState{Name: "Guest", Muted: true, Camera: false}))
		must(t, waitFor(two, "the avatar instead of the video", `getComputedStyle(document.querySelector(".remote-off")).display !== "none"`))
		if v, err := evaluate[sentVideo](one, sentVideoJS); err != nil || v.Kind != "none" {
			t.Errorf("one sends %+v with the camera off, want no video track (err %v)", v, err)
		}
		// The keyboard shortcuts M and V turn both back on.
		must(t, press(one, 'm'))
		must(t, press(one, 'v'))
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true}))
		must(t, remoteVideoPlays(two))
	})

	t.Run("chat both ways with HTML as text", func(t *testing.T) {
		const hostile = `<img src=x onerror="window.__xss=1"><b>bold</b> & 你好`
		must(t, click(one, "toggle-chat"))
		must(t, waitFor(one, "the chat to open", `!document.getElementById("chat-input").disabled`))
		must(t, typeText(one, "chat-input", hostile))
		must(t, click(one, "chat-send"))
		must(t, waitFor(two, "the unread badge", `document.getElementById("unread-count").textContent === "1" && !document.getElementById("unread").hidden`))
		got, err := evaluate[string](two, `document.querySelector("#messages li.theirs p").textContent`)
		must(t, err)
		if got != hostile {
			t.Errorf("two received %q, want %q", got, hostile)
		}
		if html, err := evaluate[bool](two, `!!document.querySelector("#messages img, #messages b") || window.__xss === 1`); err != nil || html {
			t.Errorf("two rendered the message as HTML (err %v)", err)
		}
		must(t, press(two, 'c'))
		must(t, waitFor(two, "the badge to clear", `document.getElementById("unread").hidden && document.activeElement.id === "chat-input"`))
		must(t, typeText(two, "chat-input", "hello back"))
		must(t, click(two, "chat-send"))
		must(t, waitFor(one, "the reply", `[...document.querySelectorAll("#messages li.theirs p")].some((p) => p.textContent === "hello back")`))
		must(t, click(one, "close-chat"))
		must(t, click(two, "close-chat"))
	})

	t.Run("screen share starts and stops, from the browser's Stop too", func(t *testing.T) {
		must(t, click(one, "toggle-share"))
		got, err := poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "screen" })
		if err != nil {
			t.Fatalf("one sends %+v after Share: %v", got, err)
		}
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true, Sharing: true}))
		must(t, remoteVideoPlays(two))
		must(t, click(one, "toggle-share"))
		got, err = poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "camera" })
		if err != nil {
			t.Fatalf("one sends %+v after stopping the share, want the camera again: %v", got, err)
		}
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true}))
		must(t, remoteVideoPlays(two))

		// The browser's own "Stop sharing" button ends the screen track.
		must(t, click(one, "toggle-share"))
		if _, err := poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "screen" }); err != nil {
			t.Fatal(err)
		}
		_, err = evaluate[any](one, `(window.__pcs.at(-1).getSenders().find((s) => s.track && s.track.kind === "video").track.dispatchEvent(new Event("ended")), null)`)
		must(t, err)
		if got, err := poll(one, sentVideoJS, func(v sentVideo) bool { return v.Kind == "camera" }); err != nil {
			t.Fatalf("one sends %+v after the browser ended the share: %v", got, err)
		}
		must(t, waitFor(one, "the Share button released", `document.getElementById("toggle-share").getAttribute("aria-pressed") === "false"`))
		must(t, waitRemote(two, remoteState{Name: "Guest", Camera: true}))
	})

	t.Run("device switch keeps the call", func(t *testing.T) {
		sdp, err := evaluate[string](one, descriptionsJS)
		must(t, err)
		pcs, err := evaluate[int](one, peerConnectionCountJS)
		must(t, err)
		must(t, click(one, "open-settings"))
		camera, err := evaluate[string](one, pickOtherDeviceJS+`("camera-select")`)
		must(t, err)
		if _, err := poll(one, sentVideoJS, func(v sentVideo) bool { return v.Device == camera }); err != nil {
			t.Fatalf("one does not send camera %s: %v", camera, err)
		}
		mic, err := evaluate[string](one, pickOtherDeviceJS+`("mic-select")`)
		must(t, err)
		if _, err := poll(one, sentAudioDeviceJS, func(d string) bool { return d == mic }); err != nil {
			t.Fatalf("one does not send microphone %s: %v", mic, err)
		}
		must(t, press(one, '\u001b')) // Escape
		must(t, remoteVideoPlays(two))
		must(t, waitState(one, "connected"))
		if after, err := evaluate[string](one, descriptionsJS); err != nil || after != sdp {
			t.Errorf("the switch renegotiated (err %v)", err)
		}
		if n, err := evaluate[int](one, peerConnectionCountJS); err != nil || n != pcs {
			t.Errorf("%d peer connections after the switch, want %d (err %v)", n, pcs, err)
		}
	})

	t.Run("help, timer, full screen and picture-in-picture", func(t *testing.T) {
		must(t, press(one, '?'))
		must(t, waitFor(one, "the shortcuts", `document.getElementById("help-dialog").open &&
			[...document.querySelectorAll("#help-dialog kbd")].map((k) => k.textContent).join("") === "MVSC?"`))
		must(t, press(one, '\u001b')) // Escape
		must(t, waitFor(one, "the help to close", `!document.getElementById("help-dialog").open`))
		must(t, waitFor(one, "a running timer", `/^\d\d:\d\d$/.test(document.getElementById("timer").textContent)`))
		for _, id := range []string{"toggle-fullscreen", "toggle-pip"} {
			pressed := `document.getElementById("` + id + `").getAttribute("aria-pressed") === `
			must(t, click(one, id))
			must(t, waitFor(one, id+" on", pressed+`"true"`))
			must(t, click(one, id))
			must(t, waitFor(one, id+" off", pressed+`"false"`))
		}
		must(t, waitState(one, "connected"))
	})

	t.Run("quality panel shows the candidate type", func(t *testing.T) {
		must(t, waitFor(one, "the quality indicator", `!document.getElementById("quality").hidden`))
		must(t, click(one, "quality"))
		must(t, waitFor(one, "a host candidate and numbers", `(() => {
  const route = document.getElementById("quality-route");
  return route.dataset.candidate === "host" && route.textContent.includes("host") &&
    /\d/.test(document.getElementById("quality-rtt").textContent) && /\d/.test(document.getElementById("quality-down").textContent);
})()`))
	})
}

// TestUIQualityRelayed: through the relay, the panel says so.
func TestUIQualityRelayed(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	tabs := openCall(t, execPath, srv.roomURL(roomName(t), "relay=1"))
	must(t, waitFor(tabs[0], "the quality indicator", `!document.getElementById("quality").hidden`))
	must(t, click(tabs[0], "quality"))
	must(t, waitFor(tabs[0], "a relay candidate", `(() => {
  const route = document.getElementById("quality-route");
  return route.dataset.candidate === "relay" && route.textContent.startsWith("Through the relay (relay");
})()`))
}

// TestUILanguage: Accept-Language picks Chinese; the switcher turns the
// call page to English in place, without touching the call, and the choice
// sticks.
func TestUILanguage(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	url := srv.roomURL(roomName(t), "")
	zh, en := newTab(t, execPath, "zh"), newTab(t, execPath, "en")
	must(t, acceptLanguage(zh, "zh-CN,zh;q=0.9"))

	must(t, load(zh, srv.URL))
	must(t, waitFor(zh, "the home page in Chinese", `document.documentElement.lang === "zh-CN" && document.querySelector("h1").textContent === "两个人的视频通话"`))
	must(t, waitLobby(zh, url))
	must(t, waitFor(zh, "the lobby in Chinese", `document.getElementById("join").textContent === "立即加入"`))
	must(t, joinFromLobby(zh))
	must(t, navigate(en, url))
	for _, tb := range []*tab{zh, en} {
		must(t, waitState(tb, "connected"))
	}
	must(t, waitFor(zh, "Chinese words", `document.getElementById("status").textContent === "已连接" &&
		document.getElementById("remote-name").textContent === "对方"`))
	pcs, err := evaluate[int](zh, peerConnectionCountJS)
	must(t, err)

	must(t, click(zh, "language"))
	must(t, waitFor(zh, "English words", `document.documentElement.lang === "en" &&
		document.getElementById("status").textContent === "Connected" &&
		document.getElementById("remote-name").textContent === "Guest" &&
		document.querySelector("#toggle-mic .label").textContent === "Mute" &&
		document.getElementById("chat-input").placeholder === "Write a message" &&
		document.getElementById("open-help").getAttribute("aria-label") === "Keyboard shortcuts" &&
		document.getElementById("language").textContent === "中文"`))
	if n, err := evaluate[int](zh, peerConnectionCountJS); err != nil || n != pcs {
		t.Errorf("%d peer connections after the switch, want the same %d (err %v)", n, pcs, err)
	}
	must(t, waitState(zh, "connected"))
	// The choice beats Accept-Language from now on.
	must(t, load(zh, srv.URL))
	must(t, waitFor(zh, "the home page in English", `document.documentElement.lang === "en"`))
}

// TestUIPhoneLayout: on a phone held upright and sideways, nothing spills
// sideways, every control is on screen and big enough to touch, and the
// other person's video keeps most of the screen; the chat takes the screen.
func TestUIPhoneLayout(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	url := srv.roomURL(roomName(t), "")
	mobile, other := newTab(t, execPath, "phone"), newTab(t, execPath, "desktop")
	must(t, emulate(mobile, phone))
	must(t, waitLobby(mobile, url))
	if l, err := evaluate[layout](mobile, layoutJS); err != nil || l.Overflow || len(l.Bad) > 0 {
		t.Errorf("lobby: %+v (err %v)", l, err)
	}
	must(t, joinFromLobby(mobile))
	must(t, navigate(other, url))
	must(t, waitState(mobile, "connected"))
	must(t, remoteVideoPlays(mobile))

	for _, v := range []viewport{phone, phoneLandscape} {
		must(t, emulate(mobile, v))
		l, err := poll(mobile, layoutJS, func(l layout) bool {
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
	must(t, click(mobile, "toggle-chat"))
	must(t, waitFor(mobile, "the chat over the whole width", `document.getElementById("chat").getBoundingClientRect().width === innerWidth`))
}

// TestUIScreenshots writes the screenshots the README points to: home,
// lobby, call and chat, on a desktop and a phone, in both languages, and
// the desktop call in dark mode.
func TestUIScreenshots(t *testing.T) {
	execPath := findChromium(t)
	srv := startServer(t)
	for _, lang := range []struct {
		tag, header   string
		names         [2]string
		hello, answer string
	}{
		{"en", "en-GB,en;q=0.9", [2]string{"Ada", "Grace"}, "Hi! Can you see me?", "Yes, loud and clear."},
		{"zh-CN", "zh-CN,zh;q=0.9", [2]string{"李雷", "韩梅梅"}, "你好！能看到我吗？", "看得很清楚，声音也很好。"},
	} {
		t.Run(lang.tag, func(t *testing.T) {
			d, p := newTab(t, execPath, "desktop"), newTab(t, execPath, "phone")
			tabs := map[*tab]viewport{d: desktop, p: phone}
			shot := func(tb *tab, page string) { screenshot(t, tb, page+"-"+tabs[tb].name+"-"+lang.tag) }
			for tb, v := range tabs {
				must(t, emulate(tb, v))
				must(t, acceptLanguage(tb, lang.header))
			}
			url := srv.roomURL(roomName(t), "")
			for i, tb := range []*tab{d, p} {
				must(t, load(tb, srv.URL))
				shot(tb, "home")
				must(t, waitLobby(tb, url))
				must(t, typeText(tb, "display-name", lang.names[i]))
				shot(tb, "lobby")
			}
			must(t, joinFromLobby(d))
			must(t, waitState(d, "waiting"))
			shot(d, "waiting")
			must(t, joinFromLobby(p))
			for _, tb := range []*tab{d, p} {
				must(t, waitState(tb, "connected"))
				must(t, remoteVideoPlays(tb))
			}
			must(t, waitFor(d, "the quality indicator", `!document.getElementById("quality").hidden`))
			for tb := range tabs {
				shot(tb, "call")
			}
			for i, tb := range []*tab{d, p} {
				must(t, click(tb, "toggle-chat"))
				must(t, waitFor(tb, "the chat to open", `!document.getElementById("chat-input").disabled`))
				must(t, typeText(tb, "chat-input", []string{lang.hello, lang.answer}[i]))
				must(t, click(tb, "chat-send"))
			}
			must(t, waitFor(d, "the answer", `document.querySelectorAll("#messages li").length === 2`))
			must(t, waitFor(p, "both messages", `document.querySelectorAll("#messages li").length === 2`))
			for tb := range tabs {
				shot(tb, "chat")
			}
			if lang.tag == "en" {
				must(t, click(d, "close-chat"))
				must(t, darkMode(d, true))
				screenshot(t, d, "call-desktop-en-dark")
			}
		})
	}
}

// TestCallPageWeight fails when the call page's own JavaScript and CSS
// outgrow the budget. They are served compressed and cached for good, but
// a phone on a slow network still has to parse them.
func TestCallPageWeight(t *testing.T) {
	srv := startServer(t)
	_, page := get(t, srv.URL+"/r/weight")
	var queue []string
	for _, m := range regexp.MustCompile(`(?:src|href|data-messages)="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		queue = append(queue, m[1])
	}
	// Modules bring the modules they import.
	imports := regexp.MustCompile(`\b(?:from|import)\s*["'](/assets/[^"']+\.js)["']`)
	seen := map[string]bool{}
	total, scripts := 0, 0
	for len(queue) > 0 {
		url := queue[0]
		queue = queue[1:]
		if seen[url] {
			continue
		}
		seen[url] = true
		req, _ := http.NewRequest("GET", srv.URL+url, nil)
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", url, resp.Status)
		}
		if strings.HasSuffix(url, ".js") {
			scripts++
			for _, m := range imports.FindAllSubmatch(body, -1) {
				queue = append(queue, string(m[1]))
			}
		}
		if strings.HasSuffix(url, ".js") || strings.HasSuffix(url, ".css") {
			total += len(body)
		}
		t.Logf("%s: %d bytes", url, len(body))
	}
	t.Logf("JavaScript and CSS: %d bytes of %d, %d scripts", total, pageWeightBudget, scripts)
	if scripts < 2 {
		t.Errorf("found %d scripts; the call page's modules should all be counted", scripts)
	}
	if total == 0 || total > pageWeightBudget {
		t.Errorf("the call page's JavaScript and CSS weigh %d bytes, budget %d", total, pageWeightBudget)
	}
}

// TestPageLanguage: the language comes from ?lang= (then a cookie), the
// cookie, or Accept-Language, in that order.
func TestPageLanguage(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name, query, cookie, acceptLanguage string
		wantLang, wantText                  string
	}{
		{"no preference", "", "", "", "en", "Video calls for two"},
		{"English", "", "", "en-US,en;q=0.9", "en", "Video calls for two"},
		{"Chinese", "", "", "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "两个人的视频通话"},
		{"Chinese second", "", "", "fr,zh;q=0.5", "zh-CN", "两个人的视频通话"},
		{"unsupported", "", "", "fr,de", "en", "Video calls for two"},
		{"cookie beats header", "", "en", "zh-CN", "en", "Video calls for two"},
		{"query beats cookie", "?lang=zh-CN", "en", "", "zh-CN", "两个人的视频通话"},
		{"unknown query", "?lang=xx", "", "zh", "zh-CN", "两个人的视频通话"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/"+tt.query, nil)
			if tt.acceptLanguage != "" {
				req.Header.Set("Accept-Language", tt.acceptLanguage)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "lang", Value: tt.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `<html lang="`+tt.wantLang+`">`) || !strings.Contains(string(body), tt.wantText) {
				t.Errorf("want lang %q with %q in:\n%s", tt.wantLang, tt.wantText, body)
			}
			setCookie := resp.Header.Get("Set-Cookie")
			if remembers := strings.HasPrefix(setCookie, "lang="+tt.wantLang+";"); remembers != strings.HasPrefix(tt.query, "?lang=zh") {
				t.Errorf("Set-Cookie %q after query %q", setCookie, tt.query)
			}
		})
	}
}

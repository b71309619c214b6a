// @ts-check
// The call page: a lobby, then the call. It wires the other modules.

import { languageName, loadMessages, say, setLanguage } from "./i18n.js";
import { chosen, choose, me, mediaErrorKey, openMedia, openTrack, outgoing, resumeAudio, stopLevel, stopTracks, watchTrackLevel } from "./media.js";
import { Peer } from "./peer.js";
import { Signaling } from "./signaling.js";
import { VideoModes } from "./videomodes.js";
import { addChatMessage, fillPicker, hideCallInfo, playRemote, renderChatOpen, renderRemote, setPhase, setState, setToggle, showQualityPanel, tick, toast, toggleChat, ui } from "./ui.js";

const room = ui.call.dataset.room;
const link = location.origin + location.pathname;
const relayOnly = new URLSearchParams(location.search).get("relay") === "1";

// Set while this tab is in the call, so that a reload goes straight back in.
const inCallKey = "tandem-in-call:" + room;
const nameKey = "tandem-name";

const maxNameLength = 40;
const maxChatLength = 2000;

await loadMessages(ui.call.dataset.messages);

let inCall = false; // false in the lobby, after hang-up and on "full": no reconnecting
let otherPresent = false; // signaling says someone else holds a seat
let refusal = ""; // status key of the server's last refusal (busy, limits), until seated
let setupFailures = 0; // of the peer connection in a row; retried by itself up to maxSetupRetries
let joinedAt = 0; // when the second person joined, by this page's clock: the call's setup starts
let setupMs = -1; // from joinedAt to the first connected, once measured
const maxSetupRetries = 3;

// Codes with which the server turns a join away; it then closes with 1013.
/** @type {Record<string, string>} */
const refusals = {
  "server-busy": "status.serverBusy",
  "too-many-connections": "status.tooManyConnections",
  "too-many-joins": "status.tooManyJoins",
  unavailable: "status.unavailable",
};
let ticker = 0;

const signaling = new Signaling(
  (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws/" + encodeURIComponent(room),
  room,
  sessionStorage,
);
const peer = new Peer({
  signal: (data) => signaling.send({ type: "signal", data }),
  canSignal: () => signaling.open && otherPresent,
  outgoing,
  relayOnly,
});
const modes = new VideoModes(peer);

// What the other side says about itself over the data channel.
const noRemote = { name: "", muted: false, camera: true, sharing: false };
let remote = { ...noRemote };

function enterPhase(phase) {
  setPhase(phase);
  renderMe();
}

// In the lobby next to the Join button, in the call as a passing notice.
function explainMedia(err) {
  const key = mediaErrorKey(err);
  if (ui.call.dataset.phase === "lobby") {
    say(ui.mediaProblemText, key);
    ui.mediaProblem.hidden = false;
    setState("media-error", key);
  } else {
    toast(key);
  }
}

function mediaWorks() {
  if (ui.mediaProblem.hidden) return;
  ui.mediaProblem.hidden = true;
  if (ui.call.dataset.phase === "lobby") setState("waiting", "status.lobby");
}

async function startMedia(wantVideo) {
  stopMedia();
  ui.mediaProblem.hidden = true;
  if (!navigator.mediaDevices) {
    explainMedia(null);
    return;
  }
  const err = await openMedia(wantVideo);
  if (err) explainMedia(err);
  // The speaker picked last time; when it is gone, the default one plays.
  if (chosen.audiooutput && ui.remoteVideo.setSinkId) ui.remoteVideo.setSinkId(chosen.audiooutput).catch(() => {});
  renderMe();
}

function stopMedia() {
  stopSharing();
  stopTracks();
  stopMeter();
  renderMe();
}

function renderMe() {
  const muted = me.muted || !me.audio;
  for (const b of [ui.toggleMic, ui.lobbyMic]) setToggle(b, muted);
  for (const b of [ui.toggleCamera, ui.lobbyCamera]) setToggle(b, !me.video);
  setToggle(ui.toggleShare, !!me.screen);
  ui.call.dataset.muted = muted;
  ui.call.dataset.camera = me.video || me.screen ? "on" : "off";
  ui.call.dataset.sharing = !!me.screen;
  const track = me.screen || me.video;
  const [shown, unused] = ui.call.dataset.phase === "lobby" ? [ui.previewVideo, ui.localVideo] : [ui.localVideo, ui.previewVideo];
  unused.srcObject = null;
  const current = shown.srcObject && shown.srcObject.getVideoTracks()[0];
  if (current !== track) shown.srcObject = track ? new MediaStream([track]) : null;
  // A reload goes back into the call as it was.
  if (inCall) sessionStorage.setItem(inCallKey, JSON.stringify({ muted: me.muted, camera: !!me.video }));
}

async function openOnce(kind) {
  let track;
  try {
    track = await openTrack(kind);
  } catch (err) {
    explainMedia(err);
    return null;
  }
  if (me[kind]) {
    track.stop(); // a second click got there first
    return null;
  }
  return track;
}

async function toggleMic() {
  if (!me.audio) {
    me.muted = false;
    const track = await openOnce("audio");
    if (!track) return;
    me.audio = track;
    mediaWorks();
    watchLevel();
    listDevices();
  } else {
    me.muted = !me.muted;
    me.audio.enabled = !me.muted;
  }
  renderMe();
  await peer.updateSender("audio");
  sendState();
}

async function toggleCamera() {
  if (me.video) {
    me.video.stop();
    me.video = null;
  } else {
    const track = await openOnce("video");
    if (!track) return;
    me.video = track;
    mediaWorks();
    listDevices();
  }
  renderMe();
  await peer.updateSender("video");
  sendState();
}

async function toggleShare() {
  if (me.screen) {
    stopSharing();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    // NotAllowedError is a cancel, or the system's refusal (macOS without
    // the Screen Recording permission), which Chrome words as "by system".
    if (err.name !== "NotAllowedError") toast("share.failed");
    else if (/system/i.test(err.message)) toast("share.deniedBySystem");
    return;
  }
  me.screen = stream.getVideoTracks()[0];
  me.screen.contentHint = "detail";
  // The browser's own "Stop sharing" button ends the track.
  me.screen.onended = stopSharing;
  renderMe();
  await peer.updateSender("video");
  sendState();
}

function stopSharing() {
  if (!me.screen) return;
  me.screen.onended = null;
  me.screen.stop();
  me.screen = null;
  renderMe();
  peer.updateSender("video");
  sendState();
}

async function useDevice(kind, deviceId) {
  choose(kind, deviceId);
  if (kind === "audiooutput") {
    await ui.remoteVideo.setSinkId(deviceId).catch(() => toast("devices.speakerFailed"));
    return;
  }
  const media = kind === "audioinput" ? "audio" : "video";
  // A camera that is off stays off; the choice applies when it goes on.
  if (!me[media]) return;
  // Stop first: many phones cannot open two cameras at once.
  me[media].stop();
  try {
    me[media] = await openTrack(media, true);
  } catch (err) {
    me[media] = null;
    explainMedia(err);
  }
  if (me.audio) me.audio.enabled = !me.muted;
  if (media === "audio") watchLevel();
  renderMe();
  await peer.updateSender(media);
  sendState();
}

async function listDevices() {
  if (!navigator.mediaDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  /** @type {[HTMLSelectElement, string, MediaStreamTrack | null, string][]} */
  const pickers = [
    [ui.cameraSelect, "videoinput", me.video, "devices.cameraN"],
    [ui.micSelect, "audioinput", me.audio, "devices.micN"],
    [ui.speakerSelect, "audiooutput", null, "devices.speakerN"],
  ];
  ui.call.dataset.speakers = "setSinkId" in HTMLMediaElement.prototype;
  for (const [select, kind, track, key] of pickers) {
    fillPicker(select, devices, kind, (track && track.getSettings().deviceId) || chosen[kind], key);
  }
}

ui.cameraSelect.onchange = () => useDevice("videoinput", ui.cameraSelect.value);
ui.micSelect.onchange = () => useDevice("audioinput", ui.micSelect.value);
ui.speakerSelect.onchange = () => useDevice("audiooutput", ui.speakerSelect.value);
if (navigator.mediaDevices) navigator.mediaDevices.ondevicechange = listDevices;

function watchLevel() {
  stopMeter();
  if (!me.audio || !ui.devices.offsetParent) return; // not on screen
  watchTrackLevel(me.audio, (level) => (ui.micLevel.style.transform = "scaleX(" + level.toFixed(3) + ")"));
}

function stopMeter() {
  stopLevel();
  ui.micLevel.style.transform = "scaleX(0)";
}

// Browsers start audio only after a gesture on the page.
for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, resumeAudio, { once: true });

function setConnected() {
  setState("connected", relayOnly ? "status.connectedRelay" : "status.connected");
}

// Recording's module, loaded when either side first records.
/** @type {Promise<any> | null} */
let recorder = null;
/** @param {string} action toggle, seen, remote, reopened or closed @param {boolean} [on] */
function recording(action, on) {
  if (!recorder && (action === "reopened" || action === "closed")) return;
  (recorder ||= import("./recorder.js")).then((m) => m[action](peer, on)).catch((err) => console.warn("tandem: recording", err));
}
ui.record.onclick = ui.recording.onclick = () => recording("toggle");

// The verification code's module, loaded with the first connected call.
/** @type {Promise<any> | null} */
let verifier = null;
/** @param {string} action show, render, hide or toggle */
function verification(action) {
  if (!verifier && action !== "show") return;
  (verifier ||= import("./verify.js")).then((m) => m[action](peer.pc)).catch((err) => console.warn("tandem: verification", err));
}

peer.onclose = () => {
  ui.call.dataset.connected = false;
  verification("hide");
  recording("closed");
  hideCallInfo();
  ui.remoteVideo.srcObject = null;
  ui.unmuteRemote.hidden = true;
  remote = { ...noRemote };
  renderRemote(remote);
  renderChatOpen(false);
};
peer.ontrack = (stream) => {
  if (ui.remoteVideo.srcObject === stream) return;
  ui.remoteVideo.srcObject = stream;
  playRemote();
};
peer.onconnectionstate = (state) => {
  switch (state) {
    case "connecting":
      setState("connecting", "status.connecting");
      break;
    case "connected":
      ui.call.dataset.connected = true;
      setupFailures = 0;
      modes.apply();
      setConnected();
      reportConnected();
      verification("show");
      break;
    case "disconnected":
      // Check that signaling, which a restart needs, still gets through.
      setState("reconnecting", "status.unstable");
      signaling.probe();
      break;
    case "failed":
      signaling.probe();
      break;
  }
};
peer.onrestart = (outcome) => {
  if (outcome === "failed") {
    setState("error", relayOnly ? "status.failedRelay" : "status.failed");
    report({ event: "failed", reason: relayOnly ? "relay" : "ice" });
  }
  else if (outcome === "away" || !peer.connected) setState("reconnecting", "status.dropped");
};
peer.onfiles = (channel) => import("./transferui.js").then((m) => m.attach(channel)).catch((err) => console.warn("tandem: files", err));
peer.onchannel = (open) => {
  if (open) sendState();
  if (open) modes.channelOpened();
  if (open) recording("reopened");
  renderChatOpen(open);
};
peer.onmessage = (m) => {
  if (m.type === "state") {
    remote = {
      name: String(m.name || "").slice(0, maxNameLength),
      muted: m.muted === true,
      camera: m.camera !== false,
      sharing: m.sharing === true,
    };
    renderRemote(remote);
  } else if (m.type === "recording") {
    recording("remote", m.on === true);
  } else if (m.type === "recording-seen") {
    recording("seen");
  } else if (m.type === "audio-only") {
    modes.setAudioOnly(m.on === true, false);
  } else if (m.type === "chat" && typeof m.text === "string") {
    addChatMessage(m.text.slice(0, maxChatLength), false, remote.name);
  }
};

function myName() {
  return ui.displayName.value.trim().slice(0, maxNameLength);
}

function sendState() {
  peer.send({ type: "state", name: myName(), muted: me.muted || !me.audio, camera: !!me.video, sharing: !!me.screen });
}

ui.chatForm.onsubmit = (event) => {
  event.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !peer.channelOpen) return;
  peer.send({ type: "chat", text });
  addChatMessage(text, true, "");
  ui.chatInput.value = "";
};

ui.quality.onclick = () => showQualityPanel(ui.qualityPanel.hidden);

signaling.onlost = () => {
  // The call's media does not go through this socket: keep it.
  if (peer.connected) setState("connected", "status.connectedServerAway");
  else setState("reconnecting", refusal || "status.serverLost");
};
// A live call goes on without the server; a page with no call gives up.
signaling.maygiveup = () => !peer.connected;
signaling.ongiveup = () => {
  leaveCall();
  peer.close();
  stopMedia();
  const key = refusal || "status.unreachable";
  end("error", key, "ended.refusedTitle", key, "ended.tryAgain");
};
peer.onfailure = (what, err) => {
  console.error("tandem:", what, "failed:", err);
  if (what === "media") return toast("call.mediaFailed");
  setupFailures++;
  if (setupFailures > maxSetupRetries) {
    report({ event: "failed", reason: "setup" });
    return setState("error", "status.setupFailed");
  }
  setState("reconnecting", "status.setupFailed");
  setTimeout(retryPeer, 1000 * 2 ** (setupFailures - 1));
};

// How the call went, for the server's metrics (docs/protocol.md, Call
// reports): nothing about who or where.
function report(data) {
  signaling.send({ type: "report", data });
}

async function reportConnected() {
  if (setupMs < 0) setupMs = Math.min(600000, Math.max(0, Date.now() - (joinedAt || Date.now())));
  const path = await peer.path().catch(() => "");
  if (path) report({ event: "connected", setupMs, path, restarts: Math.min(100, peer.restartsTotal) });
}

function reportEnded() {
  if (peer.connectedAt) report({ event: "ended", durationS: Math.round((Date.now() - peer.connectedAt) / 1000) });
}

// A fresh peer connection; the newcomer offers on it, the other answers
// the offer that comes.
function retryPeer() {
  if (!inCall || peer.connected) return;
  if (otherPresent) peer.start();
  else peer.close();
}
signaling.onreplaced = () => {
  leaveCall();
  peer.close();
  stopMedia();
  end("waiting", "status.left", "ended.replacedTitle", "ended.replacedText", "ended.rejoin");
};
signaling.onmessage = async (m) => {
  if (m.seat) refusal = "";
  switch (m.type) {
    case "created":
      peer.setIceServers(m.iceServers);
      otherPresent = false;
      setPolite(true);
      if (m.resumed && peer.pc) {
        // We were away and the other person left meanwhile.
        peer.close();
        peerLeft();
      } else if (!peer.connected) {
        setState("waiting", "status.waiting");
      }
      // Else the server restarted under a live call.
      break;
    case "joined":
      peer.setIceServers(m.iceServers);
      otherPresent = true;
      if (!m.resumed) {
        setPolite(false);
        joinedAt = Date.now();
        setupMs = -1;
      } else if (!peer.pc) {
        const saved = signaling.polite; // a resumed seat keeps its role
        if (saved !== null) peer.polite = saved;
      }
      if (!peer.pc) {
        setState("connecting", "status.connecting");
        peer.start();
      } else if (!m.resumed) {
        // The server restarted, and its TURN relay: restart ICE now.
        peer.restartIce(true);
      } else if (peer.connected) {
        setConnected();
      } else if (peer.pc.signalingState === "have-local-offer") {
        peer.sendOffer(); // it may have died with the old socket
      } else {
        peer.restartIce();
      }
      break;
    case "peer-joined":
      otherPresent = true;
      joinedAt = Date.now();
      setupMs = -1;
      setPolite(true);
      if (!peer.pc) {
        setState("connecting", "status.connecting");
        peer.start();
      }
      break;
    case "peer-left":
      otherPresent = false;
      reportEnded();
      peer.close();
      setPolite(true);
      peerLeft();
      break;
    case "full":
      leaveCall();
      stopMedia();
      end("full", "status.full", "ended.fullTitle", "ended.fullText", "ended.tryAgain");
      break;
    case "signal":
      await peer.handle(m.data || {});
      break;
    case "error":
      if (m.code !== "no-peer") console.warn("tandem: server says", m.code, m.message);
      if (m.code === "server-shutdown" && !peer.connected) setState("reconnecting", "status.serverRestarting");
      if (refusals[m.code]) {
        refusal = refusals[m.code];
        setState("reconnecting", refusal);
      }
      break;
  }
};

function setPolite(polite) {
  peer.polite = polite;
  signaling.polite = polite;
}

function peerLeft() {
  setState("peer-left", "status.peerLeft");
  say(ui.placeholderText, "call.peerLeftHint");
}

async function openLobby() {
  inCall = false;
  enterPhase("lobby");
  ui.join.disabled = true;
  setState("waiting", "status.lobby");
  await startMedia(true);
  ui.join.disabled = false;
  await listDevices();
  watchLevel();
}

function join() {
  // Join is a click: the moment to let sound play (iOS Safari).
  ui.remoteVideo.play().catch(() => {});
  resumeAudio();
  localStorage.setItem(nameKey, myName());
  stopMeter();
  enterRoom();
}

function enterRoom() {
  inCall = true;
  enterPhase("call");
  setState("connecting", "status.connectingRoom");
  signaling.start();
  clearInterval(ticker);
  ticker = setInterval(() => tick(peer.pc, peer.connectedAt), 1000);
}

async function rejoin(saved) {
  me.muted = saved.muted;
  enterPhase("call");
  await startMedia(saved.camera);
  listDevices();
  enterRoom();
}

// For good: no reconnect, nothing kept for a reload.
function leaveCall() {
  inCall = false;
  signaling.stop();
  sessionStorage.removeItem(inCallKey);
}

function hangUp() {
  reportEnded();
  leaveCall();
  signaling.leave();
  peer.close();
  stopMedia();
  end("waiting", "status.left", "ended.leftTitle", "ended.leftText", "ended.rejoin");
}

function end(state, statusKey, titleKey, textKey, againKey) {
  clearInterval(ticker);
  hideCallInfo();
  enterPhase("ended");
  setState(state, statusKey);
  say(ui.endedTitle, titleKey);
  say(ui.endedText, textKey);
  say(ui.rejoin, againKey);
  ui.rejoin.focus();
}

ui.join.onclick = join;
ui.rejoin.onclick = openLobby;
ui.retryMedia.onclick = openLobby;
ui.toggleMic.onclick = ui.lobbyMic.onclick = toggleMic;
ui.toggleCamera.onclick = ui.lobbyCamera.onclick = toggleCamera;
ui.toggleShare.onclick = toggleShare;
ui.toggleShare.hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
ui.toggleChat.onclick = ui.closeChat.onclick = toggleChat;
ui.hangUp.onclick = hangUp;
ui.retryCall.onclick = () => {
  if (setupFailures > 0) {
    setupFailures = 0;
    setState("connecting", "status.connecting");
    return retryPeer();
  }
  peer.restarts = 0;
  peer.restartIce(true);
};
ui.displayName.value = localStorage.getItem(nameKey) || "";

ui.openSettings.onclick = () => {
  ui.settingsDialog.showModal();
  listDevices();
  watchLevel();
};
ui.settingsDialog.onclose = stopMeter;
ui.openHelp.onclick = () => ui.helpDialog.showModal();

ui.copyLink.onclick = async () => {
  try {
    await navigator.clipboard.writeText(link);
    say(ui.copyText, "invite.copied");
    setTimeout(() => say(ui.copyText, "invite.copy"), 2000);
  } catch {
    ui.roomLink.select();
    say(ui.copyText, "invite.copyByHand");
  }
};

ui.toggleFullscreen.hidden = !document.fullscreenEnabled;
ui.toggleFullscreen.onclick = () => (document.fullscreenElement ? document.exitFullscreen() : ui.call.requestFullscreen());
document.addEventListener("fullscreenchange", () => setToggle(ui.toggleFullscreen, !!document.fullscreenElement));

ui.togglePip.hidden = !document.pictureInPictureEnabled;
ui.togglePip.onclick = () => {
  if (document.pictureInPictureElement) document.exitPictureInPicture();
  else ui.remoteVideo.requestPictureInPicture().catch(() => toast("call.pipFailed"));
};
ui.remoteVideo.addEventListener("enterpictureinpicture", () => setToggle(ui.togglePip, true));
ui.remoteVideo.addEventListener("leavepictureinpicture", () => setToggle(ui.togglePip, false));

ui.unmuteRemote.onclick = () => {
  ui.remoteVideo.muted = false;
  ui.remoteVideo.play().catch(() => {});
  ui.unmuteRemote.hidden = true;
};

function switchLanguage(next) {
  const other = setLanguage(next);
  ui.language.href = "?lang=" + other;
  ui.language.hreflang = other;
  ui.language.lang = other;
  ui.language.textContent = languageName(other);
  listDevices();
  verification("render");
}

ui.language.onclick = (event) => {
  event.preventDefault();
  switchLanguage(ui.language.hreflang);
};

// Shortcuts stay out of the way of typing and of open dialogs.
/** @type {Record<string, Record<string, () => void>>} */
const shortcuts = {
  lobby: { m: toggleMic, v: toggleCamera },
  call: { m: toggleMic, v: toggleCamera, s: toggleShare, c: toggleChat, a: () => modes.setAudioOnly(!modes.audioOnly), r: () => recording("toggle"), y: () => verification("toggle") },
};
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = /** @type {Element} */ (event.target);
  if (target.closest("input, textarea, select") || document.querySelector("dialog[open]")) return;
  if (event.key === "?") {
    event.preventDefault();
    ui.helpDialog.showModal();
    return;
  }
  const action = (shortcuts[ui.call.dataset.phase] || {})[event.key.toLowerCase()];
  if (!action || (action === toggleShare && ui.toggleShare.hidden)) return;
  event.preventDefault();
  action();
});

// The other person sees "left" now, not after the ping timeout.
window.addEventListener("pagehide", () => signaling.send({ type: "leave" }));

renderRemote(remote);
renderChatOpen(false);
const saved = JSON.parse(sessionStorage.getItem(inCallKey) || "null");
if (saved) rejoin(saved);
else openLobby();

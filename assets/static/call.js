// Tandem call page: a lobby to check camera and microphone, then the call:
// signaling over a WebSocket, "perfect negotiation" between a polite and an
// impolite peer (see docs/protocol.md), and a data channel between the two
// browsers for each one's state (muted, camera off, sharing, name) and chat.
// The element #status is the page's contract with people, assistive
// technology and tests: its data-state is always one of waiting,
// connecting, connected, reconnecting, peer-left, full, media-error, error.

const $ = (id) => document.getElementById(id);

const ui = {
  main: $("call"),
  status: $("status"),
  language: $("language"),
  timer: $("timer"),
  quality: $("quality"),
  qualityText: $("quality-text"),
  qualityPanel: $("quality-panel"),
  qualityRoute: $("quality-route"),
  qualityRtt: $("quality-rtt"),
  qualityLoss: $("quality-loss"),
  qualityUp: $("quality-up"),
  qualityDown: $("quality-down"),
  openHelp: $("open-help"),
  helpDialog: $("help-dialog"),
  preview: $("preview-video"),
  lobbyMic: $("lobby-mic"),
  lobbyCamera: $("lobby-camera"),
  mediaProblem: $("media-problem"),
  mediaProblemText: $("media-problem-text"),
  retryMedia: $("retry-media"),
  name: $("display-name"),
  devices: $("devices"),
  cameraSelect: $("camera-select"),
  micSelect: $("mic-select"),
  speakerSelect: $("speaker-select"),
  micLevel: $("mic-level"),
  join: $("join"),
  invite: $("invite"),
  inviteLobby: $("invite-lobby"),
  inviteCall: $("invite-call"),
  roomLink: $("room-link"),
  copy: $("copy-link"),
  copyText: $("copy-text"),
  stage: $("stage"),
  remote: $("remote-video"),
  remoteName: $("remote-name"),
  remoteInitial: $("remote-initial"),
  placeholderText: $("placeholder-text"),
  retryCall: $("retry-call"),
  pip: $("toggle-pip"),
  fullscreen: $("toggle-fullscreen"),
  local: $("local-video"),
  unmuteRemote: $("unmute-remote"),
  toast: $("toast"),
  chat: $("chat"),
  closeChat: $("close-chat"),
  messages: $("messages"),
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
  chatSend: $("chat-send"),
  mic: $("toggle-mic"),
  camera: $("toggle-camera"),
  share: $("toggle-share"),
  chatButton: $("toggle-chat"),
  unread: $("unread"),
  unreadCount: $("unread-count"),
  openSettings: $("open-settings"),
  settingsDialog: $("settings-dialog"),
  devicesCall: $("devices-call"),
  hangUp: $("hang-up"),
  endedTitle: $("ended-title"),
  endedText: $("ended-text"),
  rejoin: $("rejoin"),
};

const room = ui.main.dataset.room;
const link = location.origin + location.pathname;
const relayOnly = new URLSearchParams(location.search).get("relay") === "1";

const seatKey = "tandem-seat:" + room;
// Set while this tab is in the call, so that a reload goes straight back in.
const inCallKey = "tandem-in-call:" + room;
// Our negotiation role, kept with the seat: a page that takes its seat back
// with no peer connection of its own (a tab the browser restored, or one
// duplicated) plays the role the other side still expects of it.
const politeKey = "tandem-polite:" + room;
const nameKey = "tandem-name";
const closeReplaced = 4000; // the server's close code: a newer connection took our seat
const closeAway = 3000; // ours for a socket we give up on: not a goodbye, our seat is held
const devicesKey = "tandem-devices";

const maxNameLength = 40;
const maxChatLength = 2000;

// ---- messages ----

// The catalogue holds every language, so switching needs no request.
const catalogue = await (await fetch(ui.main.dataset.messages)).json();
let lang = document.documentElement.lang;

function t(key, vars = {}) {
  return catalogue[lang][key].replace(/\{(\w+)\}/g, (_, name) => vars[name] ?? "");
}

// say puts a message into el and keeps its key, so that a language switch
// can say it again.
function say(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
}

// show puts words that are not ours (a name, a chat message) into el.
function show(el, text) {
  delete el.dataset.i18n;
  el.textContent = text;
}

const localizedAttributes = [
  ["data-i18n-label", "aria-label"],
  ["data-i18n-placeholder", "placeholder"],
];

function setLanguage(next) {
  lang = next;
  document.documentElement.lang = next;
  document.cookie = "lang=" + next + "; path=/; max-age=31536000; samesite=lax";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n, el.dataset.i18nVars && JSON.parse(el.dataset.i18nVars));
  }
  for (const [data, attribute] of localizedAttributes) {
    for (const el of document.querySelectorAll("[" + data + "]")) el.setAttribute(attribute, t(el.getAttribute(data)));
  }
  const other = Object.keys(catalogue).find((l) => l !== next);
  ui.language.href = "?lang=" + other;
  ui.language.hreflang = other;
  ui.language.lang = other;
  ui.language.textContent = catalogue[other]["lang.name"];
  clock = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
  listDevices();
}

let clock = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });

// ---- state on the page ----

const call = {
  ws: null,
  pc: null,
  channel: null, // the data channel of pc
  senders: {}, // pc's RTCRtpSender for "audio" and for "video"
  session: "", // our peer connection's id, sent with every signal
  remoteSession: "", // the other side's, learnt from its first description
  otherPresent: false, // signaling says someone else holds a seat
  iceServers: [],
  polite: true, // the first one in the room is polite
  makingOffer: false,
  ignoreOffer: false,
  tracksAdded: false,
  inCall: false, // false in the lobby, after hang-up and on "full": no reconnecting
  retryDelay: 500,
  retryTimer: 0,
  restartTimer: 0,
  probeTimer: 0, // set while a ping waits for its pong
  offerTimer: 0, // sends our unanswered offer again
  restarts: 0,
  inbox: Promise.resolve(), // signaling messages are handled one at a time
  connectedAt: 0, // when the call with the current peer connection began
  ticker: 0,
  lastStats: null,
  unread: 0,
};

// What we send. A camera that is off is released (its light goes out); a
// muted microphone stays open but sends silence.
const me = {
  audio: null, // microphone track
  video: null, // camera track, null while the camera is off
  screen: null, // screen track while sharing
  muted: false,
};

// What the other side says about itself over the data channel.
const noRemote = { name: "", muted: false, camera: true, sharing: false };
let remote = { ...noRemote };

// The devices picked last time, by kind ("videoinput", "audioinput",
// "audiooutput").
const chosen = JSON.parse(localStorage.getItem(devicesKey) || "{}");

// The page is in one of three phases: "lobby", "call" or "ended". The
// invitation and the device pickers move between the lobby and the call.
function setPhase(phase) {
  ui.main.dataset.phase = phase;
  if (phase === "lobby") {
    ui.inviteLobby.append(ui.invite);
    ui.join.before(ui.devices);
  } else {
    ui.inviteCall.append(ui.invite);
    ui.devicesCall.append(ui.devices);
  }
  renderMe();
}

// stageHints are what the empty stage says in a state, when it says more
// than the status line.
const stageHints = { waiting: "call.waitingHint", "peer-left": "call.peerLeftHint" };

function setState(state, key, vars) {
  ui.status.dataset.state = state;
  say(ui.status, key, vars);
  ui.main.dataset.state = state;
  say(ui.placeholderText, stageHints[state] || key, vars);
}

let toastTimer = 0;
function toast(key) {
  say(ui.toast, key);
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (ui.toast.hidden = true), 6000);
}

// ---- media ----

const mediaErrorKeys = {
  NotAllowedError: "media.denied",
  SecurityError: "media.denied",
  NotFoundError: "media.notFound",
  OverconstrainedError: "media.notFound",
  NotReadableError: "media.inUse",
  AbortError: "media.inUse",
};

function mediaErrorKey(err) {
  if (!navigator.mediaDevices) return "media.insecure";
  return mediaErrorKeys[err && err.name] || "media.failed";
}

// explainMedia tells what went wrong with the camera or microphone: in the
// lobby next to the Join button, in the call as a passing notice.
function explainMedia(err) {
  const key = mediaErrorKey(err);
  if (ui.main.dataset.phase === "lobby") {
    say(ui.mediaProblemText, key);
    ui.mediaProblem.hidden = false;
    setState("media-error", key);
  } else {
    toast(key);
  }
}

// mediaWorks takes back the lobby's media problem once a device opened.
function mediaWorks() {
  if (ui.mediaProblem.hidden) return;
  ui.mediaProblem.hidden = true;
  if (ui.main.dataset.phase === "lobby") setState("waiting", "status.lobby");
}

function constraints(kind, exact) {
  const id = chosen[kind === "audio" ? "audioinput" : "videoinput"];
  const base = kind === "video" ? { width: { ideal: 1280 }, height: { ideal: 720 } } : {};
  return id ? { ...base, deviceId: exact ? { exact: id } : { ideal: id } } : base;
}

// startMedia opens the microphone and, if wanted, the camera, with one
// permission prompt. When both cannot be had it settles for one and says
// why the other is missing.
async function startMedia(wantVideo) {
  stopMedia();
  ui.mediaProblem.hidden = true;
  if (!navigator.mediaDevices) {
    explainMedia(null);
    return;
  }
  const tries = wantVideo
    ? [{ audio: constraints("audio"), video: constraints("video") }, { audio: constraints("audio") }, { video: constraints("video") }]
    : [{ audio: constraints("audio") }];
  let firstError = null;
  for (const c of tries) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(c);
      me.audio = stream.getAudioTracks()[0] || null;
      me.video = stream.getVideoTracks()[0] || null;
      break;
    } catch (err) {
      firstError ??= err;
    }
  }
  if (me.audio) me.audio.enabled = !me.muted;
  if (firstError) explainMedia(firstError);
  // The speaker picked last time; when it is gone, the default one plays.
  if (chosen.audiooutput && ui.remote.setSinkId) ui.remote.setSinkId(chosen.audiooutput).catch(() => {});
  renderMe();
}

// openTrack opens one device; exact when someone picked it just now, else
// the one picked last time if it is still there.
async function openTrack(kind, exact = false) {
  const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(kind, exact) });
  return stream.getTracks()[0];
}

function stopMedia() {
  stopSharing();
  for (const track of [me.audio, me.video]) if (track) track.stop();
  me.audio = me.video = null;
  stopMeter();
  renderMe();
}

// outgoing is the track we send for kind: the screen replaces the camera
// while sharing.
function outgoing(kind) {
  return kind === "audio" ? me.audio : me.screen || me.video;
}

async function updateSender(kind) {
  const sender = call.senders[kind];
  if (sender && sender.track !== outgoing(kind)) await sender.replaceTrack(outgoing(kind));
}

function setToggle(button, pressed) {
  button.setAttribute("aria-pressed", String(pressed));
}

function renderMe() {
  const muted = me.muted || !me.audio;
  for (const b of [ui.mic, ui.lobbyMic]) setToggle(b, muted);
  for (const b of [ui.camera, ui.lobbyCamera]) setToggle(b, !me.video);
  setToggle(ui.share, !!me.screen);
  ui.main.dataset.muted = muted;
  ui.main.dataset.camera = me.video || me.screen ? "on" : "off";
  ui.main.dataset.sharing = !!me.screen;
  const track = me.screen || me.video;
  const [shown, unused] = ui.main.dataset.phase === "lobby" ? [ui.preview, ui.local] : [ui.local, ui.preview];
  unused.srcObject = null;
  const current = shown.srcObject && shown.srcObject.getVideoTracks()[0];
  if (current !== track) shown.srcObject = track ? new MediaStream([track]) : null;
  // A reload goes back into the call as it was.
  if (call.inCall) sessionStorage.setItem(inCallKey, JSON.stringify({ muted: me.muted, camera: !!me.video }));
}

// openOnce opens a track of kind for a toggle, or returns null when it
// fails (the problem is shown) or a second click opened one first.
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
  await updateSender("audio");
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
  await updateSender("video");
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
    if (err.name !== "NotAllowedError") toast("share.failed"); // NotAllowedError: they cancelled
    return;
  }
  me.screen = stream.getVideoTracks()[0];
  me.screen.contentHint = "detail";
  // The browser's own "Stop sharing" button ends the track.
  me.screen.onended = stopSharing;
  renderMe();
  await updateSender("video");
  sendState();
}

function stopSharing() {
  if (!me.screen) return;
  me.screen.onended = null;
  me.screen.stop();
  me.screen = null;
  renderMe();
  updateSender("video").catch((err) => console.warn("tandem: back to the camera", err));
  sendState();
}

// useDevice switches to another camera, microphone or speaker. In a call
// the new track replaces the old one on its sender: no renegotiation.
async function useDevice(kind, deviceId) {
  chosen[kind] = deviceId;
  localStorage.setItem(devicesKey, JSON.stringify(chosen));
  if (kind === "audiooutput") {
    await ui.remote.setSinkId(deviceId).catch(() => toast("devices.speakerFailed"));
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
  await updateSender(media);
  sendState();
}

async function listDevices() {
  if (!navigator.mediaDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  fillPicker(ui.cameraSelect, devices, "videoinput", me.video, "devices.cameraN");
  fillPicker(ui.micSelect, devices, "audioinput", me.audio, "devices.micN");
  ui.main.dataset.speakers = "setSinkId" in HTMLMediaElement.prototype;
  fillPicker(ui.speakerSelect, devices, "audiooutput", null, "devices.speakerN");
}

function fillPicker(select, devices, kind, track, unnamedKey) {
  const mine = devices.filter((d) => d.kind === kind && d.deviceId);
  const current = (track && track.getSettings().deviceId) || chosen[kind];
  const options = mine.map((d, i) => new Option(d.label || t(unnamedKey, { n: i + 1 }), d.deviceId, false, d.deviceId === current));
  if (!options.length) options.push(new Option(t("devices.none"), ""));
  select.replaceChildren(...options);
  select.disabled = !mine.length;
}

ui.cameraSelect.onchange = () => useDevice("videoinput", ui.cameraSelect.value);
ui.micSelect.onchange = () => useDevice("audioinput", ui.micSelect.value);
ui.speakerSelect.onchange = () => useDevice("audiooutput", ui.speakerSelect.value);
if (navigator.mediaDevices) navigator.mediaDevices.ondevicechange = listDevices;

// ---- the microphone level meter (lobby and settings) ----

let audioContext = null;
let meter = null;

function watchLevel() {
  stopMeter();
  if (!me.audio || !ui.devices.offsetParent) return; // not on screen
  audioContext ??= new AudioContext();
  const source = audioContext.createMediaStreamSource(new MediaStream([me.audio]));
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  meter = { source, frame: 0 };
  let level = 0;
  const draw = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    // Speech sits around an RMS of 0.02 to 0.2: scale it to fill the bar,
    // and let it fall back slowly so that it reads as a level, not a flicker.
    level = Math.max(Math.min(1, Math.sqrt(sum / samples.length) * 5), level * 0.92);
    ui.micLevel.style.transform = "scaleX(" + level.toFixed(3) + ")";
    meter.frame = requestAnimationFrame(draw);
  };
  draw();
}

function stopMeter() {
  if (!meter) return;
  cancelAnimationFrame(meter.frame);
  meter.source.disconnect();
  meter = null;
  ui.micLevel.style.transform = "scaleX(0)";
}

// Browsers start audio only after a gesture on the page (iOS Safari most
// strictly): any click lets the meter run, and Join lets the other person's
// sound play.
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(type, () => audioContext && audioContext.resume(), { once: true });
}

// ---- signaling ----

function send(message) {
  if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify(message));
}

function signal(data) {
  send({ type: "signal", data: { session: call.session, ...data } });
}

function connect() {
  clearTimeout(call.retryTimer);
  if (!call.inCall) return; // hung up, or put out, while a reconnect was pending
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // The seat token takes our own seat back after a dropped connection or a
  // server that has not yet noticed the old one died.
  const seat = sessionStorage.getItem(seatKey);
  const query = seat ? "?seat=" + encodeURIComponent(seat) : "";
  const ws = new WebSocket(scheme + "//" + location.host + "/ws/" + encodeURIComponent(room) + query);
  call.ws = ws;
  ws.onopen = () => {
    call.retryDelay = 500;
  };
  ws.onmessage = (event) => {
    clearTimeout(call.probeTimer); // the socket lives
    call.probeTimer = 0;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    call.inbox = call.inbox.then(() => onMessage(message)).catch((err) => console.error("tandem:", err));
  };
  ws.onclose = (event) => socketLost(ws, event.code);
}

function socketLost(ws, code) {
  if (call.ws !== ws) return;
  clearTimeout(call.probeTimer);
  call.probeTimer = 0;
  call.ws = null;
  if (!call.inCall) return;
  if (code === closeReplaced) {
    // Another tab of ours took our seat back (a duplicated tab carries
    // the seat token). Reconnecting would take it back in turn, and the
    // two would fight over it, breaking the call for everyone.
    replaced();
    return;
  }
  // The call's media does not go through this socket: keep it, and
  // reconnect signaling behind it.
  if (isConnected()) {
    setState("connected", "status.connectedServerAway");
  } else {
    setState("reconnecting", "status.serverLost");
  }
  const delay = call.retryDelay * (0.75 + Math.random() / 2);
  call.retryDelay = Math.min(call.retryDelay * 2, 10000);
  call.retryTimer = setTimeout(connect, delay);
}

// A network that changed under us kills the socket without a word: when
// the call's path breaks, ping; no answer in 3 s and the socket is replaced.
function probeSignaling() {
  const ws = call.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || call.probeTimer) return;
  send({ type: "ping" });
  call.probeTimer = setTimeout(() => {
    call.probeTimer = 0;
    if (call.ws !== ws) return;
    ws.onclose = null;
    ws.close(closeAway);
    socketLost(ws, closeAway);
  }, 3000);
}

function isConnected() {
  return !!call.pc && call.pc.connectionState === "connected";
}

function setConnected() {
  setState("connected", relayOnly ? "status.connectedRelay" : "status.connected");
}

// A live peer connection is kept across signaling reconnects and server
// restarts: only its ICE servers (fresh TURN credentials) are updated.
function refreshIceServers(iceServers) {
  call.iceServers = iceServers || [];
  if (!call.pc) return;
  try {
    call.pc.setConfiguration({ ...call.pc.getConfiguration(), iceServers: call.iceServers });
  } catch (err) {
    console.warn("tandem: could not update ICE servers", err);
  }
}

async function onMessage(m) {
  switch (m.type) {
    case "created":
      if (m.seat) sessionStorage.setItem(seatKey, m.seat);
      refreshIceServers(m.iceServers);
      call.otherPresent = false;
      setPolite(true);
      if (m.resumed && call.pc) {
        // We were away and the other person left meanwhile.
        closePeer();
        peerLeft();
      } else if (!isConnected()) {
        setState("waiting", "status.waiting");
      }
      // Else the server restarted under a live call: media still flows and
      // the other person is reconnecting too.
      break;
    case "joined":
      if (m.seat) sessionStorage.setItem(seatKey, m.seat);
      refreshIceServers(m.iceServers);
      call.otherPresent = true;
      if (!m.resumed) {
        setPolite(false);
      } else if (!call.pc) {
        const saved = sessionStorage.getItem(politeKey); // a resumed seat keeps its role
        if (saved) call.polite = saved === "true";
      }
      if (!call.pc) {
        setState("connecting", "status.connecting");
        startPeer();
      } else if (!m.resumed) {
        // A fresh room under a live call: the server restarted, and with it
        // the TURN relay. Restart ICE with the new credentials now rather
        // than wait for the old path to fail.
        restartIce(call.pc, true);
      } else if (isConnected()) {
        setConnected();
      } else if (call.pc.signalingState === "have-local-offer") {
        sendOffer(call.pc); // it may have died with the old socket
      } else {
        restartIce(call.pc);
      }
      break;
    case "peer-joined":
      call.otherPresent = true;
      setPolite(true);
      if (!call.pc) {
        setState("connecting", "status.connecting");
        startPeer();
      }
      // Else keep the connection: the other side restarts ICE, or offers
      // from a new session, which resets it (see onSignal).
      break;
    case "peer-left":
      call.otherPresent = false;
      closePeer();
      setPolite(true);
      peerLeft();
      break;
    case "full":
      leaveCall();
      stopMedia();
      end("full", "status.full", "ended.fullTitle", "ended.fullText", "ended.tryAgain");
      break;
    case "signal":
      await onSignal(m.data || {});
      break;
    case "error":
      if (m.code !== "no-peer") console.warn("tandem: server says", m.code, m.message);
      if (m.code === "server-shutdown" && !isConnected()) setState("reconnecting", "status.serverRestarting");
      break;
  }
}

function setPolite(polite) {
  call.polite = polite;
  sessionStorage.setItem(politeKey, String(polite));
}

function peerLeft() {
  setState("peer-left", "status.peerLeft");
  say(ui.placeholderText, "call.peerLeftHint");
}

// ---- the peer connection ----

function startPeer() {
  closePeer();
  const pc = new RTCPeerConnection({
    iceServers: call.iceServers,
    iceTransportPolicy: relayOnly ? "relay" : "all",
  });
  call.pc = pc;
  call.session = crypto.getRandomValues(new Uint32Array(2)).join("-");
  call.makingOffer = false;
  call.ignoreOffer = false;
  call.tracksAdded = false;
  call.restarts = 0;
  call.lastStats = null;
  const remoteStream = new MediaStream();

  pc.onicecandidate = ({ candidate }) => {
    if (candidate) signal({ candidate });
  };
  pc.onnegotiationneeded = async () => {
    try {
      call.makingOffer = true;
      await pc.setLocalDescription();
      sendOffer(pc);
    } catch (err) {
      console.error("tandem: offer failed", err);
    } finally {
      call.makingOffer = false;
    }
  };
  pc.ontrack = ({ track }) => {
    remoteStream.addTrack(track);
    if (ui.remote.srcObject === remoteStream) return;
    ui.remote.srcObject = remoteStream;
    playRemote();
  };
  pc.onconnectionstatechange = () => onConnectionState(pc);

  // The newcomer offers. The polite peer adds its media when the offer
  // arrives, so it rides on the offer's transceivers and nobody renegotiates.
  // (With no transceivers yet, addLocalMedia has nothing to wait for.)
  if (!call.polite) addLocalMedia(pc);
}

// addLocalMedia puts our side on pc: one audio and one video transceiver,
// both sending even while there is nothing to send, so that turning the
// camera on later, switching devices or sharing the screen is a
// replaceTrack and never a renegotiation; and the data channel,
// pre-negotiated (same id on both sides), so it needs no offer of its own.
async function addLocalMedia(pc) {
  call.tracksAdded = true;
  openChannel(pc);
  for (const kind of ["audio", "video"]) {
    let transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
    if (transceiver) {
      transceiver.direction = "sendrecv";
      await transceiver.sender.replaceTrack(outgoing(kind));
    } else {
      transceiver = pc.addTransceiver(outgoing(kind) || kind, { direction: "sendrecv" });
    }
    call.senders[kind] = transceiver.sender;
  }
}

async function onSignal(data) {
  if (data.description && data.session !== call.remoteSession) {
    // A description from a new peer connection on the other side (it
    // reloaded): ours belongs to the old one, so start afresh. An answer
    // from a new session means our offer went to a new page: offer again.
    const answerToFresh = data.description.type === "answer";
    if (call.remoteSession || !call.pc) startPeer();
    // Dropped, not used: remember no session, so that the answer to the
    // offer our new connection makes is taken, not seen as new again (which
    // started a new connection on each side for every answer, in a loop).
    if (answerToFresh && call.pc.signalingState === "stable") return;
    call.remoteSession = data.session;
  } else if (data.candidate && data.session !== call.remoteSession) {
    return; // a late candidate of a session we no longer talk to
  }
  const pc = call.pc;
  if (data.description) {
    const description = data.description;
    if (description.type === "answer" && pc.signalingState === "stable") return; // offer sent twice
    const collision = description.type === "offer" && (call.makingOffer || pc.signalingState !== "stable");
    call.ignoreOffer = !call.polite && collision;
    if (call.ignoreOffer) {
      // Ours wins, but it may never have arrived (sent while the other
      // side was away, and answered no-peer): send it again, or both
      // sides would wait for an answer for good.
      if (!call.makingOffer && pc.signalingState === "have-local-offer") sendOffer(pc);
      return;
    }
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      if (!call.tracksAdded) await addLocalMedia(pc);
      await pc.setLocalDescription();
      signal({ description: pc.localDescription });
    }
  } else if (data.candidate) {
    try {
      await pc.addIceCandidate(data.candidate);
    } catch (err) {
      if (!call.ignoreOffer) console.warn("tandem: bad candidate", err);
    }
  }
}

function onConnectionState(pc) {
  if (pc !== call.pc) return;
  clearTimeout(call.restartTimer);
  switch (pc.connectionState) {
    case "connecting":
      setState("connecting", "status.connecting");
      break;
    case "connected":
      call.restarts = 0;
      call.connectedAt ||= Date.now();
      ui.main.dataset.connected = true;
      setConnected();
      break;
    case "disconnected":
      // Often a blip: give ICE a moment before restarting it; check that
      // signaling, which the restart needs, still gets through.
      setState("reconnecting", "status.unstable");
      probeSignaling();
      call.restartTimer = setTimeout(() => restartIce(pc), 3000);
      break;
    case "failed":
      probeSignaling();
      restartIce(pc);
      break;
  }
}

function restartIce(pc, evenIfConnected = false) {
  if (pc !== call.pc || (pc.connectionState === "connected" && !evenIfConnected)) return;
  if (!call.ws || !call.otherPresent) {
    // Nobody to negotiate with right now: rejoining the room restarts ICE.
    setState("reconnecting", "status.dropped");
    return;
  }
  if (call.restarts >= 3) {
    setState("error", relayOnly ? "status.failedRelay" : "status.failed");
    return;
  }
  call.restarts++;
  if (!isConnected()) setState("reconnecting", "status.dropped");
  pc.restartIce();
}

// sendOffer sends pc's offer, again every 4 s (5 times) while unanswered:
// the other side's socket may have died with it.
function sendOffer(pc, resends = 5) {
  clearTimeout(call.offerTimer);
  if (pc !== call.pc || pc.signalingState !== "have-local-offer") return;
  signal({ description: pc.localDescription });
  if (resends > 0) call.offerTimer = setTimeout(() => sendOffer(pc, resends - 1), 4000);
}

function closePeer() {
  clearTimeout(call.restartTimer);
  clearTimeout(call.offerTimer);
  call.remoteSession = "";
  call.connectedAt = 0;
  call.senders = {};
  if (call.channel) call.channel.onclose = call.channel.onmessage = null;
  call.channel = null;
  if (call.pc) {
    call.pc.onconnectionstatechange = null;
    call.pc.close();
    call.pc = null;
  }
  ui.main.dataset.connected = false;
  hideCallInfo();
  ui.remote.srcObject = null;
  ui.unmuteRemote.hidden = true;
  remote = { ...noRemote };
  renderRemote();
  renderChatOpen();
}

function playRemote() {
  ui.remote.play().catch((err) => {
    if (err.name !== "NotAllowedError") return; // superseded by a newer source
    // Autoplay with sound was blocked: play muted, and offer a click.
    ui.remote.muted = true;
    ui.remote.play().catch(() => {});
    ui.unmuteRemote.hidden = false;
  });
}

// ---- the data channel: state and chat ----

function openChannel(pc) {
  const channel = pc.createDataChannel("tandem", { negotiated: true, id: 0 });
  call.channel = channel;
  channel.onopen = () => {
    sendState();
    renderChatOpen();
  };
  channel.onclose = renderChatOpen;
  channel.onmessage = ({ data }) => onPeerMessage(data);
}

function channelOpen() {
  return !!call.channel && call.channel.readyState === "open";
}

function sendToPeer(message) {
  if (channelOpen()) call.channel.send(JSON.stringify(message));
}

function myName() {
  return ui.name.value.trim().slice(0, maxNameLength);
}

function sendState() {
  sendToPeer({ type: "state", name: myName(), muted: me.muted || !me.audio, camera: !!me.video, sharing: !!me.screen });
}

function onPeerMessage(data) {
  let m;
  try {
    m = JSON.parse(data);
  } catch {
    return;
  }
  if (m.type === "state") {
    remote = {
      name: String(m.name || "").slice(0, maxNameLength),
      muted: m.muted === true,
      camera: m.camera !== false,
      sharing: m.sharing === true,
    };
    renderRemote();
  } else if (m.type === "chat" && typeof m.text === "string") {
    addChatMessage(m.text.slice(0, maxChatLength), false);
  }
}

function renderRemote() {
  const d = ui.stage.dataset;
  d.remoteMuted = remote.muted;
  d.remoteCamera = remote.camera || remote.sharing ? "on" : "off";
  d.remoteSharing = remote.sharing;
  if (remote.name) show(ui.remoteName, remote.name);
  else say(ui.remoteName, "call.otherPerson");
  ui.remoteInitial.textContent = remote.name ? [...remote.name][0].toUpperCase() : "";
}

function addChatMessage(text, mine) {
  const item = document.createElement("li");
  item.className = mine ? "mine" : "theirs";
  const who = document.createElement("span");
  who.className = "who";
  if (mine) say(who, "chat.you");
  else if (remote.name) show(who, remote.name);
  else say(who, "call.otherPerson");
  const time = document.createElement("time");
  time.textContent = clock.format(new Date());
  const body = document.createElement("p");
  body.textContent = text; // text, never HTML
  item.append(who, time, body);
  ui.messages.append(item);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  if (!mine && ui.chat.hidden) {
    call.unread++;
    renderUnread();
  }
}

function renderUnread() {
  ui.unread.hidden = call.unread === 0;
  ui.unreadCount.textContent = call.unread > 99 ? "99+" : String(call.unread);
}

function renderChatOpen() {
  const open = channelOpen();
  ui.chatInput.disabled = ui.chatSend.disabled = !open;
  const key = open ? "chat.placeholder" : "chat.closed";
  ui.chatInput.dataset.i18nPlaceholder = key;
  ui.chatInput.placeholder = t(key);
}

function toggleChat() {
  const wasFocused = ui.chat.contains(document.activeElement);
  ui.chat.hidden = !ui.chat.hidden;
  setToggle(ui.chatButton, !ui.chat.hidden);
  if (!ui.chat.hidden) {
    call.unread = 0;
    renderUnread();
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.chatInput.focus();
  } else if (wasFocused) {
    ui.chatButton.focus(); // focus must not vanish with the panel
  }
}

ui.chatForm.onsubmit = (event) => {
  event.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !channelOpen()) return;
  sendToPeer({ type: "chat", text });
  addChatMessage(text, true);
  ui.chatInput.value = "";
};

// ---- call timer and connection quality ----

// tick runs every second in a call: the timer, and every other second the
// quality from getStats().
function tick() {
  if (call.connectedAt) {
    ui.timer.hidden = false;
    const s = Math.floor((Date.now() - call.connectedAt) / 1000);
    const mmss = String(Math.floor(s / 60) % 60).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
    ui.timer.textContent = s >= 3600 ? Math.floor(s / 3600) + ":" + mmss : mmss;
    if (s % 2 === 0) sampleQuality().catch((err) => console.warn("tandem: stats", err));
  }
}

async function sampleQuality() {
  const pc = call.pc;
  if (!pc) return;
  const stats = await pc.getStats();
  let pair = null;
  const total = { bytesIn: 0, bytesOut: 0, lost: 0, received: 0, at: performance.now() };
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    if (s.type === "inbound-rtp") {
      total.bytesIn += s.bytesReceived || 0;
      total.lost += Math.max(0, s.packetsLost || 0);
      total.received += s.packetsReceived || 0;
    }
    if (s.type === "outbound-rtp") total.bytesOut += s.bytesSent || 0;
  });
  if (!pair) {
    // Firefox names the pair in use on the pair itself.
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded"))) pair = s;
    });
  }
  const before = call.lastStats;
  call.lastStats = total;
  if (!pair || pc !== call.pc) return;

  const local = stats.get(pair.localCandidateId) || {};
  const other = stats.get(pair.remoteCandidateId) || {};
  // Relayed when either side's candidate is a TURN relay; else direct (host,
  // srflx or prflx: the type says how each side's address was found).
  const relayed = local.candidateType === "relay" || other.candidateType === "relay";
  const type = relayed ? "relay" : local.candidateType;
  const protocol = (local.candidateType === "relay" && local.relayProtocol) || local.protocol;
  say(ui.qualityRoute, relayed ? "quality.relayed" : "quality.direct", { type, protocol });
  ui.qualityRoute.dataset.candidate = type;

  const rtt = pair.currentRoundTripTime * 1000; // NaN when not measured yet
  say(ui.qualityRtt, "quality.ms", { n: Number.isFinite(rtt) ? Math.round(rtt) : "–" });
  let loss = 0;
  if (before) {
    const seconds = (total.at - before.at) / 1000;
    const lost = total.lost - before.lost;
    const packets = lost + total.received - before.received;
    loss = packets > 0 ? (100 * lost) / packets : 0;
    say(ui.qualityLoss, "quality.percent", { n: loss.toFixed(1) });
    say(ui.qualityUp, "quality.kbps", { n: Math.round(((total.bytesOut - before.bytesOut) * 8) / seconds / 1000) });
    say(ui.qualityDown, "quality.kbps", { n: Math.round(((total.bytesIn - before.bytesIn) * 8) / seconds / 1000) });
  }
  const level = rtt >= 500 || loss >= 8 ? "poor" : rtt >= 250 || loss >= 2 ? "fair" : "good";
  ui.quality.dataset.level = level;
  say(ui.qualityText, qualityKeys[level]);
  ui.quality.hidden = false;
}

const qualityKeys = { good: "quality.good", fair: "quality.fair", poor: "quality.poor" };

function showQualityPanel(open) {
  ui.qualityPanel.hidden = !open;
  ui.quality.setAttribute("aria-expanded", String(open));
}

function hideCallInfo() {
  ui.timer.hidden = ui.quality.hidden = true;
  showQualityPanel(false);
}

ui.quality.onclick = () => showQualityPanel(ui.qualityPanel.hidden);

// ---- joining, leaving ----

// openLobby shows the camera preview, the level meter and the pickers, and
// waits for Join.
async function openLobby() {
  call.inCall = false;
  setPhase("lobby");
  ui.join.disabled = true;
  setState("waiting", "status.lobby");
  await startMedia(true);
  ui.join.disabled = false;
  await listDevices();
  watchLevel();
}

function join() {
  // Join is a click: the moment to let the other person's sound play
  // (iOS Safari) and the meter's audio run.
  ui.remote.play().catch(() => {});
  if (audioContext) audioContext.resume();
  localStorage.setItem(nameKey, myName());
  stopMeter();
  enterRoom();
}

function enterRoom() {
  call.inCall = true;
  // Messages are handled in order, each after the one before. After a hang
  // up the chain may wait forever: a peer connection closed mid-message
  // never settles that message's promise. Start a new one.
  call.inbox = Promise.resolve();
  setPhase("call");
  setState("connecting", "status.connectingRoom");
  connect();
  clearInterval(call.ticker);
  call.ticker = setInterval(tick, 1000);
}

// rejoin goes back into the call after a reload, as the person left it.
async function rejoin(saved) {
  me.muted = saved.muted;
  setPhase("call");
  await startMedia(saved.camera);
  listDevices();
  enterRoom();
}

// leaveCall takes this tab out of the call for good: no reconnect, and
// nothing kept for a reload to take back.
function leaveCall() {
  call.inCall = false;
  clearTimeout(call.retryTimer);
  for (const key of [seatKey, politeKey, inCallKey]) sessionStorage.removeItem(key);
}

function hangUp() {
  leaveCall();
  send({ type: "leave" });
  if (call.ws) call.ws.close();
  call.ws = null;
  closePeer();
  stopMedia();
  end("waiting", "status.left", "ended.leftTitle", "ended.leftText", "ended.rejoin");
}

function replaced() {
  leaveCall();
  closePeer();
  stopMedia();
  end("waiting", "status.left", "ended.replacedTitle", "ended.replacedText", "ended.rejoin");
}

function end(state, statusKey, titleKey, textKey, againKey) {
  clearInterval(call.ticker);
  hideCallInfo();
  setPhase("ended");
  setState(state, statusKey);
  say(ui.endedTitle, titleKey);
  say(ui.endedText, textKey);
  say(ui.rejoin, againKey);
  ui.rejoin.focus();
}

// ---- controls ----

ui.join.onclick = join;
ui.rejoin.onclick = openLobby;
ui.retryMedia.onclick = openLobby;
ui.mic.onclick = ui.lobbyMic.onclick = toggleMic;
ui.camera.onclick = ui.lobbyCamera.onclick = toggleCamera;
ui.share.onclick = toggleShare;
ui.share.hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
ui.chatButton.onclick = ui.closeChat.onclick = toggleChat;
ui.hangUp.onclick = hangUp;
ui.retryCall.onclick = () => {
  call.restarts = 0;
  restartIce(call.pc, true);
};
ui.name.value = localStorage.getItem(nameKey) || "";

ui.openSettings.onclick = () => {
  ui.settingsDialog.showModal();
  listDevices();
  watchLevel();
};
ui.settingsDialog.onclose = stopMeter;
ui.openHelp.onclick = () => ui.helpDialog.showModal();

ui.copy.onclick = async () => {
  try {
    await navigator.clipboard.writeText(link);
    say(ui.copyText, "invite.copied");
    setTimeout(() => say(ui.copyText, "invite.copy"), 2000);
  } catch {
    // No clipboard access: select the link so that it can be copied by hand.
    ui.roomLink.select();
    say(ui.copyText, "invite.copyByHand");
  }
};

ui.fullscreen.hidden = !document.fullscreenEnabled;
ui.fullscreen.onclick = () => (document.fullscreenElement ? document.exitFullscreen() : ui.main.requestFullscreen());
document.addEventListener("fullscreenchange", () => setToggle(ui.fullscreen, !!document.fullscreenElement));

ui.pip.hidden = !document.pictureInPictureEnabled;
ui.pip.onclick = () => {
  if (document.pictureInPictureElement) document.exitPictureInPicture();
  else ui.remote.requestPictureInPicture().catch(() => toast("call.pipFailed"));
};
ui.remote.addEventListener("enterpictureinpicture", () => setToggle(ui.pip, true));
ui.remote.addEventListener("leavepictureinpicture", () => setToggle(ui.pip, false));

ui.unmuteRemote.onclick = () => {
  ui.remote.muted = false;
  ui.remote.play().catch(() => {});
  ui.unmuteRemote.hidden = true;
};

ui.language.onclick = (event) => {
  event.preventDefault();
  setLanguage(ui.language.hreflang);
};

// Keyboard shortcuts, as listed in the help dialog. They stay out of the
// way of typing and of open dialogs.
const shortcuts = {
  lobby: { m: toggleMic, v: toggleCamera },
  call: { m: toggleMic, v: toggleCamera, s: toggleShare, c: toggleChat },
};
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  if (event.target.closest("input, textarea, select") || document.querySelector("dialog[open]")) return;
  if (event.key === "?") {
    event.preventDefault();
    ui.helpDialog.showModal();
    return;
  }
  const action = (shortcuts[ui.main.dataset.phase] || {})[event.key.toLowerCase()];
  if (!action || (action === toggleShare && ui.share.hidden)) return;
  event.preventDefault();
  action();
});

// Tell the server at once when the tab goes away, so the other person sees
// "left" now rather than after the ping timeout.
window.addEventListener("pagehide", () => {
  send({ type: "leave" });
});

renderRemote();
renderChatOpen();
const saved = JSON.parse(sessionStorage.getItem(inCallKey) || "null");
if (saved) rejoin(saved);
else openLobby();

// Tandem call page: camera and microphone, signaling over a WebSocket, and
// "perfect negotiation" between a polite and an impolite peer (see
// docs/protocol.md). The element #status is the page's contract with
// people, assistive technology and tests: its data-state is always one of
// waiting, connecting, connected, reconnecting, peer-left, full,
// media-error, error.

const $ = (id) => document.getElementById(id);

const ui = {
  main: $("call"),
  status: $("status"),
  local: $("local-video"),
  remote: $("remote-video"),
  placeholder: $("remote-placeholder"),
  mediaProblem: $("media-problem"),
  mediaProblemText: $("media-problem-text"),
  retryMedia: $("retry-media"),
  joinWithoutMedia: $("join-without-media"),
  unmuteRemote: $("unmute-remote"),
  mic: $("toggle-mic"),
  camera: $("toggle-camera"),
  copy: $("copy-link"),
  hangUp: $("hang-up"),
  rejoin: $("rejoin"),
};

const room = ui.main.dataset.room;
const link = location.origin + location.pathname;
const relayOnly = new URLSearchParams(location.search).get("relay") === "1";

const seatKey = "tandem-seat:" + room;

const call = {
  stream: null, // local MediaStream, or null when joining without media
  ws: null,
  pc: null,
  session: "", // our peer connection's id, sent with every signal
  remoteSession: "", // the other side's, learnt from its first description
  otherPresent: false, // signaling says someone else holds a seat
  iceServers: [],
  polite: true, // the first one in the room is polite
  makingOffer: false,
  ignoreOffer: false,
  tracksAdded: false,
  inCall: false, // false after hang-up and on "full": no reconnecting
  retryDelay: 500,
  retryTimer: 0,
  restartTimer: 0,
  restarts: 0,
  inbox: Promise.resolve(), // signaling messages are handled one at a time
};

function setState(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  ui.main.dataset.state = state;
}

// ---- media ----

function describeMediaError(err) {
  if (!navigator.mediaDevices) {
    return "This page needs HTTPS (or localhost) to use the camera and microphone.";
  }
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera and microphone access was refused. Allow it in your browser's address bar, then try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Plug one in, then try again.";
    case "NotReadableError":
    case "AbortError":
      return "Your camera or microphone is in use by another app. Close it, then try again.";
    default:
      return "The camera and microphone could not be started (" + (err && err.name) + ").";
  }
}

// getMedia asks for camera and microphone, then falls back to the
// microphone alone, then to the camera alone.
async function getMedia() {
  if (!navigator.mediaDevices) throw new Error("insecure context");
  const tries = [
    { audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 } } },
    { audio: true },
    { video: true },
  ];
  let lastError;
  for (const constraints of tries) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

function showLocal(stream) {
  call.stream = stream;
  ui.local.srcObject = stream;
  const audio = stream && stream.getAudioTracks()[0];
  const video = stream && stream.getVideoTracks()[0];
  ui.local.hidden = !video;
  setToggle(ui.mic, !audio, "Unmute", "Mute", !audio);
  setToggle(ui.camera, !video, "Camera on", "Camera off", !video);
}

function stopLocal() {
  if (call.stream) call.stream.getTracks().forEach((t) => t.stop());
  call.stream = null;
  ui.local.srcObject = null;
}

function setToggle(button, pressed, pressedLabel, label, disabled = false) {
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = pressed ? pressedLabel : label;
  button.disabled = disabled;
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
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    call.inbox = call.inbox.then(() => onMessage(message)).catch((err) => console.error("tandem:", err));
  };
  ws.onclose = () => {
    if (call.ws !== ws) return;
    call.ws = null;
    if (!call.inCall) return;
    // The call's media does not go through this socket: keep it, and
    // reconnect signaling behind it.
    if (isConnected()) {
      setState("connected", "Connected. Reconnecting to the server in the background…");
    } else {
      setState("reconnecting", "Lost the connection to the server. Reconnecting…");
    }
    const delay = call.retryDelay * (0.75 + Math.random() / 2);
    call.retryDelay = Math.min(call.retryDelay * 2, 10000);
    call.retryTimer = setTimeout(connect, delay);
  };
}

function isConnected() {
  return !!call.pc && call.pc.connectionState === "connected";
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
      call.polite = true;
      if (m.resumed && call.pc) {
        // We were away and the other person left meanwhile.
        closePeer();
        setState("peer-left", "The other person left the call. They can come back with the same link.");
      } else if (!isConnected()) {
        setState("waiting", "Waiting for the other person. Share the room link to invite them.");
      }
      // Else the server restarted under a live call: media still flows and
      // the other person is reconnecting too.
      break;
    case "joined":
      if (m.seat) sessionStorage.setItem(seatKey, m.seat);
      refreshIceServers(m.iceServers);
      call.otherPresent = true;
      if (!m.resumed) call.polite = false; // a resumed seat keeps its role
      if (!call.pc) {
        setState("connecting", "Connecting…");
        startPeer();
      } else if (!m.resumed) {
        // A fresh room under a live call: the server restarted, and with it
        // the TURN relay. Restart ICE with the new credentials now rather
        // than wait for the old path to fail.
        restartIce(call.pc, true);
      } else if (isConnected()) {
        setState("connected", relayOnly ? "Connected (through the relay)" : "Connected");
      } else {
        restartIce(call.pc);
      }
      break;
    case "peer-joined":
      call.otherPresent = true;
      call.polite = true;
      if (!call.pc) {
        setState("connecting", "Connecting…");
        startPeer();
      }
      // Else keep the connection: the other side restarts ICE, or offers
      // from a new session, which resets it (see onSignal).
      break;
    case "peer-left":
      call.otherPresent = false;
      closePeer();
      call.polite = true;
      setState("peer-left", "The other person left the call. They can come back with the same link.");
      break;
    case "full":
      call.inCall = false;
      sessionStorage.removeItem(seatKey);
      stopLocal();
      setState("full", "This room already has two people in a call. Pick another room name.");
      showRejoin(true);
      break;
    case "signal":
      await onSignal(m.data || {});
      break;
    case "error":
      if (m.code !== "no-peer") console.warn("tandem: server says", m.code, m.message);
      if (m.code === "server-shutdown" && !isConnected()) setState("reconnecting", m.message);
      break;
  }
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

  pc.onicecandidate = ({ candidate }) => {
    if (candidate) signal({ candidate });
  };
  pc.onnegotiationneeded = async () => {
    try {
      call.makingOffer = true;
      await pc.setLocalDescription();
      signal({ description: pc.localDescription });
    } catch (err) {
      console.error("tandem: offer failed", err);
    } finally {
      call.makingOffer = false;
    }
  };
  pc.ontrack = ({ track, streams }) => {
    const stream = streams[0] || ui.remote.srcObject || new MediaStream();
    if (!streams[0]) stream.addTrack(track);
    if (ui.remote.srcObject !== stream) ui.remote.srcObject = stream;
    playRemote();
  };
  pc.onconnectionstatechange = () => onConnectionState(pc);

  // The newcomer offers. The polite peer adds its tracks when the offer
  // arrives, so they ride on the offer's transceivers and nobody renegotiates.
  if (!call.polite) addLocalTracks(pc, true);
}

function addLocalTracks(pc, offering) {
  call.tracksAdded = true;
  for (const kind of ["audio", "video"]) {
    const track = call.stream && call.stream.getTracks().find((t) => t.kind === kind);
    if (track) pc.addTrack(track, call.stream);
    else if (offering) pc.addTransceiver(kind, { direction: "recvonly" });
  }
}

async function onSignal(data) {
  if (data.description && data.session !== call.remoteSession) {
    // A description from a new peer connection on the other side (it
    // reloaded): ours belongs to the old one, so start afresh. An answer
    // from a new session means our offer went to a new page: offer again.
    const answerToFresh = data.description.type === "answer";
    if (call.remoteSession || !call.pc) startPeer();
    call.remoteSession = data.session;
    if (answerToFresh && call.pc.signalingState === "stable") return;
  } else if (data.candidate && data.session !== call.remoteSession) {
    return; // a late candidate of a session we no longer talk to
  }
  const pc = call.pc;
  if (data.description) {
    const description = data.description;
    const collision = description.type === "offer" && (call.makingOffer || pc.signalingState !== "stable");
    call.ignoreOffer = !call.polite && collision;
    if (call.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      if (!call.tracksAdded) addLocalTracks(pc, false);
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
      setState("connecting", "Connecting…");
      break;
    case "connected":
      call.restarts = 0;
      ui.placeholder.hidden = true;
      setState("connected", relayOnly ? "Connected (through the relay)" : "Connected");
      break;
    case "disconnected":
      // Often a blip: give ICE a moment before restarting it.
      setState("reconnecting", "The connection is unstable. Reconnecting…");
      call.restartTimer = setTimeout(() => restartIce(pc), 3000);
      break;
    case "failed":
      restartIce(pc);
      break;
  }
}

function restartIce(pc, evenIfConnected = false) {
  if (pc !== call.pc || (pc.connectionState === "connected" && !evenIfConnected)) return;
  if (!call.ws || !call.otherPresent) {
    // Nobody to negotiate with right now: rejoining the room restarts ICE.
    setState("reconnecting", "The connection dropped. Reconnecting…");
    return;
  }
  if (call.restarts >= 3) {
    setState("error", "The call could not get through this network. Try again, or add ?relay=1 to the link.");
    return;
  }
  call.restarts++;
  if (!isConnected()) setState("reconnecting", "The connection dropped. Reconnecting…");
  pc.restartIce();
}

function closePeer() {
  clearTimeout(call.restartTimer);
  call.remoteSession = "";
  if (call.pc) {
    call.pc.onconnectionstatechange = null;
    call.pc.close();
    call.pc = null;
  }
  ui.remote.srcObject = null;
  ui.placeholder.hidden = false;
  ui.unmuteRemote.hidden = true;
}

function playRemote() {
  ui.remote.play().catch(() => {
    // Autoplay with sound was blocked: play muted, and offer a click.
    ui.remote.muted = true;
    ui.remote.play().catch(() => {});
    ui.unmuteRemote.hidden = false;
  });
}

// ---- joining, leaving ----

async function join() {
  ui.mediaProblem.hidden = true;
  showRejoin(false);
  setState("waiting", "Allow the camera and microphone to start the call.");
  try {
    showLocal(await getMedia());
  } catch (err) {
    ui.mediaProblemText.textContent = describeMediaError(err);
    ui.mediaProblem.hidden = false;
    setState("media-error", describeMediaError(err));
    return;
  }
  enterRoom();
}

function enterRoom() {
  call.inCall = true;
  setState("connecting", "Connecting to the room…");
  connect();
}

function hangUp() {
  call.inCall = false;
  sessionStorage.removeItem(seatKey);
  send({ type: "leave" });
  if (call.ws) call.ws.close();
  call.ws = null;
  closePeer();
  stopLocal();
  setState("waiting", "You left the call. Rejoin whenever you are ready.");
  showRejoin(true);
}

function showRejoin(show) {
  ui.rejoin.hidden = !show;
  ui.hangUp.hidden = show;
}

// ---- controls ----

ui.mic.onclick = () => {
  const track = call.stream && call.stream.getAudioTracks()[0];
  if (!track) return;
  track.enabled = !track.enabled;
  setToggle(ui.mic, !track.enabled, "Unmute", "Mute");
};

ui.camera.onclick = () => {
  const track = call.stream && call.stream.getVideoTracks()[0];
  if (!track) return;
  track.enabled = !track.enabled;
  setToggle(ui.camera, !track.enabled, "Camera on", "Camera off");
};

ui.copy.onclick = async () => {
  try {
    await navigator.clipboard.writeText(link);
    ui.copy.textContent = "Copied";
    setTimeout(() => (ui.copy.textContent = "Copy link"), 2000);
  } catch {
    window.prompt("Copy this link and send it to the other person:", link);
  }
};

ui.hangUp.onclick = hangUp;
ui.rejoin.onclick = join;
ui.retryMedia.onclick = join;
ui.joinWithoutMedia.onclick = () => {
  ui.mediaProblem.hidden = true;
  showLocal(null);
  enterRoom();
};
ui.unmuteRemote.onclick = () => {
  ui.remote.muted = false;
  ui.remote.play().catch(() => {});
  ui.unmuteRemote.hidden = true;
};

// Tell the server at once when the tab goes away, so the other person sees
// "left" now rather than after the ping timeout.
window.addEventListener("pagehide", () => {
  send({ type: "leave" });
});

join();

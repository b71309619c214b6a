// @ts-check
// The page. #status is its contract with people, assistive technology and
// tests: data-state is one of waiting, connecting, connected, reconnecting,
// peer-left, full, media-error, error.

import { formatTime, say, show, t } from "./i18n.js";
import { selectedPair } from "./peer.js";
import { PoorStreak, qualityLevel } from "./quality.js";

/** @type {Record<string, any>} ui.fooBar: the element #foo-bar */
export const ui = new Proxy({}, { get: (seen, id) => (seen[String(id)] ??= document.getElementById(String(id).replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()))) });

// The invitation and the device pickers move between the lobby and the call.
/** @param {"lobby" | "call" | "ended"} phase */
export function setPhase(phase) {
  ui.call.dataset.phase = phase;
  if (phase === "lobby") {
    ui.inviteLobby.append(ui.invite);
    ui.join.before(ui.devices);
  } else {
    ui.inviteCall.append(ui.invite);
    ui.devicesCall.append(ui.devices);
  }
}

/** @type {Record<string, string>} what the empty stage says, when more than #status */
const stageHints = { waiting: "call.waitingHint", "peer-left": "call.peerLeftHint" };

// A call still connecting after this long offers the connection test.
const slowAfter = 15000;
let slowTimer = 0;

/** @param {string} state @param {string} key @param {Record<string, string | number>} [vars] */
export function setState(state, key, vars) {
  ui.status.dataset.state = state;
  say(ui.status, key, vars);
  if (state !== ui.call.dataset.state) {
    clearTimeout(slowTimer);
    delete ui.call.dataset.slow;
    if (state === "connecting") slowTimer = setTimeout(() => (ui.call.dataset.slow = "true"), slowAfter);
  }
  ui.call.dataset.state = state;
  say(ui.placeholderText, stageHints[state] || key, vars);
}

let toastTimer = 0;
/** @param {string} key */
export function toast(key) {
  say(ui.toast, key);
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (ui.toast.hidden = true), 6000);
}

/** @param {HTMLElement} button @param {boolean} pressed */
export function setToggle(button, pressed) {
  button.setAttribute("aria-pressed", String(pressed));
}

/** @param {{name: string, muted: boolean, camera: boolean, sharing: boolean}} remote */
export function renderRemote(remote) {
  const d = ui.stage.dataset;
  d.remoteMuted = remote.muted;
  d.remoteCamera = remote.camera || remote.sharing ? "on" : "off";
  d.remoteSharing = remote.sharing;
  if (remote.name) show(ui.remoteName, remote.name);
  else say(ui.remoteName, "call.otherPerson");
  ui.remoteInitial.textContent = remote.name ? [...remote.name][0].toUpperCase() : "";
}

let unread = 0;

/** @param {string} text @param {boolean} mine @param {string} name theirs, or "" */
export function addChatMessage(text, mine, name) {
  const item = document.createElement("li");
  item.className = mine ? "mine" : "theirs";
  const who = document.createElement("span");
  who.className = "who";
  if (mine) say(who, "chat.you");
  else if (name) show(who, name);
  else say(who, "call.otherPerson");
  const time = document.createElement("time");
  time.textContent = formatTime(new Date());
  const body = document.createElement("p");
  body.textContent = text; // text, never HTML
  item.append(who, time, body);
  ui.messages.append(item);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  if (!mine && ui.chat.hidden) {
    unread++;
    renderUnread();
  }
}

function renderUnread() {
  ui.unread.hidden = unread === 0;
  ui.unreadCount.textContent = unread > 99 ? "99+" : String(unread);
}

/** @param {boolean} open */
export function renderChatOpen(open) {
  ui.chatInput.disabled = ui.chatSend.disabled = !open;
  const key = open ? "chat.placeholder" : "chat.closed";
  ui.chatInput.dataset.i18nPlaceholder = key;
  ui.chatInput.placeholder = t(key);
}

export function toggleChat() {
  const wasFocused = ui.chat.contains(document.activeElement);
  ui.chat.hidden = !ui.chat.hidden;
  setToggle(ui.toggleChat, !ui.chat.hidden);
  if (!ui.chat.hidden) {
    unread = 0;
    renderUnread();
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.chatInput.focus();
  } else if (wasFocused) {
    ui.toggleChat.focus(); // focus must not vanish with the panel
  }
}

export function playRemote() {
  ui.remoteVideo.play().catch((/** @type {Error} */ err) => {
    if (err.name !== "NotAllowedError") return; // superseded by a newer source
    ui.remoteVideo.muted = true;
    ui.remoteVideo.play().catch(() => {});
    ui.unmuteRemote.hidden = false;
  });
}

/** @param {HTMLSelectElement} select @param {MediaDeviceInfo[]} devices @param {string} kind @param {string} current @param {string} unnamedKey */
export function fillPicker(select, devices, kind, current, unnamedKey) {
  const mine = devices.filter((d) => d.kind === kind && d.deviceId);
  const options = mine.map((d, i) => new Option(d.label || t(unnamedKey, { n: i + 1 }), d.deviceId, false, d.deviceId === current));
  if (!options.length) options.push(new Option(t("devices.none"), ""));
  select.replaceChildren(...options);
  select.disabled = !mine.length;
}

// The call's duration, and every other second its quality.
/** @param {RTCPeerConnection | null} pc @param {number} since 0: not begun */
export function tick(pc, since) {
  if (!since) return;
  ui.timer.hidden = false;
  const s = Math.floor((Date.now() - since) / 1000);
  const mmss = String(Math.floor(s / 60) % 60).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  ui.timer.textContent = s >= 3600 ? Math.floor(s / 3600) + ":" + mmss : mmss;
  if (s % 2 === 0 && pc) sampleQuality(pc).catch((err) => console.warn("tandem: stats", err));
}

const poorStreak = new PoorStreak();
/** @type {{call: () => void}} called once, when the connection has been poor for 10 s */
export const onPoor = { call: () => {} };

/** @type {{pc: RTCPeerConnection, bytesIn: number, bytesOut: number, lost: number, received: number, at: number} | null} */
let lastStats = null;

/** @param {RTCPeerConnection} pc */
async function sampleQuality(pc) {
  const stats = await pc.getStats();
  const pair = selectedPair(stats);
  const total = { pc, bytesIn: 0, bytesOut: 0, lost: 0, received: 0, at: performance.now() };
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") {
      total.bytesIn += s.bytesReceived || 0;
      total.lost += Math.max(0, s.packetsLost || 0);
      total.received += s.packetsReceived || 0;
    }
    if (s.type === "outbound-rtp") total.bytesOut += s.bytesSent || 0;
  });
  const before = lastStats && lastStats.pc === pc ? lastStats : null;
  lastStats = total;
  if (!pair || pc.connectionState === "closed") return;

  const local = stats.get(pair.localCandidateId) || {};
  const other = stats.get(pair.remoteCandidateId) || {};
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
  const level = qualityLevel(rtt, loss);
  if (poorStreak.sample(level, total.at)) onPoor.call();
  ui.quality.dataset.level = level;
  say(ui.qualityText, qualityKeys[level]);
  ui.quality.hidden = false;
}

const qualityKeys = { good: "quality.good", fair: "quality.fair", poor: "quality.poor" };

/** @param {boolean} open */
export function showQualityPanel(open) {
  ui.qualityPanel.hidden = !open;
  ui.quality.setAttribute("aria-expanded", String(open));
}

export function hideCallInfo() {
  ui.timer.hidden = ui.quality.hidden = true;
  showQualityPanel(false);
}

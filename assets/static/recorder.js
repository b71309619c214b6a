// @ts-check
// Local recording: the other person's video and both voices, mixed with
// Web Audio, recorded by MediaRecorder and downloaded when it stops.
// Nothing goes to the server. The other person is told, sees it for as
// long as it lasts, and their page says so back. Loaded when someone
// first records.
import { say } from "./i18n.js";
import { outgoing } from "./media.js";
import { toast, ui } from "./ui.js";

/** @typedef {{channelOpen: boolean, send(m: any): void}} Peer */

/** @type {MediaRecorder | null} */
let recorder = null;
/** @type {AudioContext | null} */
let mixer = null;

const types = ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];

/** @param {Peer} peer */
export function toggle(peer) {
  if (recorder) stop(peer);
  else start(peer);
}

/** @param {Peer} peer */
function start(peer) {
  const remote = /** @type {MediaStream | null} */ (ui.remoteVideo.srcObject);
  if (!remote || !peer.channelOpen || typeof MediaRecorder === "undefined") return toast("record.cannot");
  mixer = new AudioContext();
  const mix = mixer.createMediaStreamDestination();
  for (const track of [...remote.getAudioTracks(), outgoing("audio")]) {
    if (track) mixer.createMediaStreamSource(new MediaStream([track])).connect(mix);
  }
  const stream = new MediaStream([...remote.getVideoTracks(), ...mix.stream.getAudioTracks()]);
  const mimeType = types.find((t) => MediaRecorder.isTypeSupported(t)) || "";
  const rec = new MediaRecorder(stream, mimeType ? { mimeType } : {});
  /** @type {Blob[]} */
  const parts = [];
  rec.ondataavailable = (e) => e.data.size && parts.push(e.data);
  rec.onstop = () => save(new Blob(parts, { type: rec.mimeType }));
  rec.start(1000);
  recorder = rec;
  peer.send({ type: "recording", on: true });
  ui.recording.hidden = false;
  ui.record.setAttribute("aria-pressed", "true");
  say(ui.recordingText, "record.telling");
}

/** @param {Peer} peer */
export function stop(peer) {
  if (!recorder) return;
  recorder.stop();
  recorder = null;
  mixer?.close();
  mixer = null;
  peer.send({ type: "recording", on: false });
  ui.recording.hidden = true;
  ui.record.setAttribute("aria-pressed", "false");
}

/** @param {Blob} blob */
function save(blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
  a.download = "tandem-" + ui.call.dataset.room + "-" + stamp + (blob.type.includes("mp4") ? ".mp4" : ".webm");
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

// The other side saw that we record.
export function seen() {
  if (recorder) say(ui.recordingText, "record.seen");
}

// The other side records, or stops.
/** @param {Peer} peer @param {boolean} on */
export function remote(peer, on) {
  ui.call.dataset.remoteRecording = on;
  ui.remoteRecording.hidden = !on;
  if (on) peer.send({ type: "recording-seen" });
}

// A new channel (the other side reloaded): tell it again.
/** @param {Peer} peer */
export function reopened(peer) {
  if (recorder) peer.send({ type: "recording", on: true });
}

// The connection closed: our recording stops and is saved; the other
// side's is over for us.
/** @param {Peer} peer */
export function closed(peer) {
  stop(peer);
  remote(peer, false);
}

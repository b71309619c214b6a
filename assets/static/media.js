// @ts-check
// Our camera, microphone and screen, and the level meter. A camera that is
// off is released (its light goes out); a muted microphone sends silence.

/** @type {{audio: MediaStreamTrack | null, video: MediaStreamTrack | null, screen: MediaStreamTrack | null, muted: boolean}} */
export const me = { audio: null, video: null, screen: null, muted: false };

const devicesKey = "tandem-devices";

/** @type {Record<string, string>} the devices picked last time, by kind */
export const chosen = JSON.parse(localStorage.getItem(devicesKey) || "{}");

/** @param {string} kind @param {string} deviceId */
export function choose(kind, deviceId) {
  chosen[kind] = deviceId;
  localStorage.setItem(devicesKey, JSON.stringify(chosen));
}

/** @type {Record<string, string>} */
const errorKeys = {
  NotAllowedError: "media.denied",
  SecurityError: "media.denied",
  NotFoundError: "media.notFound",
  OverconstrainedError: "media.notFound",
  NotReadableError: "media.inUse",
  AbortError: "media.inUse",
};

/** @param {any} err @returns {string} the message that explains it */
export function mediaErrorKey(err) {
  if (!navigator.mediaDevices) return "media.insecure";
  return errorKeys[err && err.name] || "media.failed";
}

/** @param {string} kind @param {boolean} [exact] @returns {MediaTrackConstraints} */
function constraints(kind, exact) {
  const id = chosen[kind === "audio" ? "audioinput" : "videoinput"];
  const base = kind === "video" ? { width: { ideal: 1280 }, height: { ideal: 720 } } : {};
  return id ? { ...base, deviceId: exact ? { exact: id } : { ideal: id } } : base;
}

// One permission prompt; when both cannot be had, settles for one.
/** @param {boolean} wantVideo @returns {Promise<any>} the first error, or null */
export async function openMedia(wantVideo) {
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
  return firstError;
}

// exact: picked just now; else the one picked last time, if still there.
/** @param {"audio" | "video"} kind */
export async function openTrack(kind, exact = false) {
  const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(kind, exact) });
  return stream.getTracks()[0];
}

export function stopTracks() {
  for (const track of [me.audio, me.video]) if (track) track.stop();
  me.audio = me.video = null;
}

/** @param {string} kind */
export function outgoing(kind) {
  return kind === "audio" ? me.audio : me.screen || me.video;
}

/** @type {AudioContext | null} */
let audioContext = null;
/** @type {{source: MediaStreamAudioSourceNode, frame: number} | null} */
let meter = null;

/** @param {MediaStreamTrack} track @param {(level: number) => void} show 0 to 1, every frame */
export function watchTrackLevel(track, show) {
  stopLevel();
  audioContext ??= new AudioContext();
  const source = audioContext.createMediaStreamSource(new MediaStream([track]));
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const m = (meter = { source, frame: 0 });
  let level = 0;
  const draw = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    // Speech sits around an RMS of 0.02 to 0.2; a slow fall reads as a level, not a flicker.
    level = Math.max(Math.min(1, Math.sqrt(sum / samples.length) * 5), level * 0.92);
    show(level);
    m.frame = requestAnimationFrame(draw);
  };
  draw();
}

export function stopLevel() {
  if (!meter) return;
  cancelAnimationFrame(meter.frame);
  meter.source.disconnect();
  meter = null;
}

export function resumeAudio() {
  if (audioContext) audioContext.resume();
}

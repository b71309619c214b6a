// @ts-check
// The connection test's checks (docs/protocol.md, "The diagnosis socket").
// No DOM: each check resolves to a Result, and verdict() sums them up.

/** @typedef {"pass" | "fail" | "skipped"} Outcome */
/** @typedef {{result: Outcome, key: string, vars?: Record<string, string | number>, ms?: number}} Result */

const gatherTimeout = 10000; // ms: a blocked server is given up on
const answerTimeout = 15000; // ms: the server's echo peer gathers its relay
const openTimeout = 15000; // ms: the data channel opens through the relays
const pings = 5;

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @template T @param {Promise<T>} p @param {number} ms @returns {Promise<T | undefined>} */
const within = (p, ms) => Promise.race([p, sleep(ms).then(() => undefined)]);

/** @param {string} url a STUN or TURN URL @returns {string} its port */
export const portOf = (url) => (url.split("?")[0].match(/:(\d+)$/) || ["", ""])[1];

/** @param {number[]} xs */
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

// The diagnosis socket: the welcome, then questions answered in turn.
export class DiagSocket {
  /** @param {string} url */
  constructor(url) {
    this.ws = new WebSocket(url);
    /** @type {Map<string, (m: any) => void>} waiting answers, by type and check */
    this.waiting = new Map();
    this.started = performance.now();
    /** @type {Promise<any>} the welcome, or an error when the socket fails first */
    this.welcome = new Promise((resolve, reject) => {
      this.ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "diag-welcome") return resolve(m);
        const key = m.type === "error" ? "answer:" + (m.check || "") : m.type === "diag-answer" ? "answer:" + m.check : m.type;
        this.waiting.get(key)?.(m);
        this.waiting.delete(key);
      };
      this.ws.onclose = () => {
        reject(new Error("closed"));
        for (const settle of this.waiting.values()) settle({ type: "error", code: "closed" });
        this.waiting.clear();
      };
    });
  }

  /** @param {any} message @param {string} key the answer's @returns {Promise<any>} */
  ask(message, key) {
    return new Promise((resolve) => {
      this.waiting.set(key, resolve);
      this.ws.send(JSON.stringify(message));
    });
  }

  close() {
    this.ws.close();
  }
}

/** @param {DiagSocket} socket @returns {Promise<{result: Result, checks?: Record<string, RTCIceServer[]>}>} */
export async function checkWebSocket(socket) {
  const welcome = await within(socket.welcome.catch(() => undefined), 10000);
  if (!welcome) return { result: { result: "fail", key: "diag.websocket.fail" } };
  const ms = Math.round(performance.now() - socket.started);
  return { result: { result: "pass", key: "diag.websocket.pass", vars: { ms }, ms }, checks: welcome.checks };
}

/** @returns {Promise<Result>} */
export async function checkMedia() {
  if (!navigator.mediaDevices?.getUserMedia) return { result: "fail", key: "diag.media.insecure" };
  /** @type {MediaStream} */
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (err) {
    const name = /** @type {Error} */ (err).name;
    if (name === "NotAllowedError" || name === "SecurityError") return { result: "fail", key: "diag.media.denied" };
    if (name !== "NotFoundError" && name !== "OverconstrainedError") return { result: "fail", key: "diag.media.busy" };
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      return { result: "fail", key: "diag.media.none" };
    }
  }
  const live = (/** @type {string} */ kind) => stream.getTracks().some((t) => t.kind === kind && t.readyState === "live");
  const result = live("video") && live("audio") ? { result: /** @type {Outcome} */ ("pass"), key: "diag.media.pass" } : { result: /** @type {Outcome} */ ("fail"), key: "diag.media.noCamera" };
  for (const track of stream.getTracks()) track.stop();
  return result;
}

// Gathers config's candidates for an offer with a data channel.
/** @param {RTCConfiguration} config @returns {Promise<{candidates: RTCIceCandidate[], pc: RTCPeerConnection, channel: RTCDataChannel}>} */
async function gather(config) {
  const pc = new RTCPeerConnection(config);
  /** @type {RTCIceCandidate[]} */
  const candidates = [];
  const done = new Promise((resolve) => {
    pc.onicecandidate = (e) => (e.candidate && e.candidate.candidate ? candidates.push(e.candidate) : resolve(undefined));
  });
  const channel = pc.createDataChannel("diag");
  await pc.setLocalDescription(await pc.createOffer());
  await within(done, gatherTimeout);
  return { candidates, pc, channel };
}

/** @param {RTCIceCandidate[]} cs @param {string} type */
const udpOfType = (cs, type) => cs.filter((c) => c.type === type && c.protocol === "udp");

// STUN: a server-reflexive candidate is an answer; without one (no NAT,
// where it equals a host candidate and browsers drop it) the server says
// whether it answered our host candidates' ports.
/** @param {RTCIceServer[]} servers @param {DiagSocket} socket @returns {Promise<Result>} */
export async function checkSTUN(servers, socket) {
  const port = portOf(String(servers[0].urls));
  const { candidates, pc } = await gather({ iceServers: servers });
  pc.close();
  if (udpOfType(candidates, "srflx").length) return { result: "pass", key: "diag.stun.nat" };
  const ports = [...new Set(udpOfType(candidates, "host").map((c) => c.port || 0))].filter((p) => p).slice(0, 16);
  if (ports.length) {
    const seen = await within(socket.ask({ type: "diag-stun", ports }, "diag-stun-seen"), 5000);
    if (seen?.ports?.length) return { result: "pass", key: "diag.stun.open" };
  }
  return { result: "fail", key: "diag.stun.fail", vars: { port } };
}

// NAT: two STUN ports; one socket mapped to two public ports is a
// symmetric NAT. A single mapping is endpoint-independent only if the
// second port did answer it.
/** @param {RTCIceServer[]} servers @param {Result} stun @param {DiagSocket} socket @returns {Promise<Result>} */
export async function checkNAT(servers, stun, socket) {
  if (stun.result !== "pass") return { result: "skipped", key: "diag.nat.needsUDP" };
  if (stun.key === "diag.stun.open") return { result: "pass", key: "diag.nat.none" };
  const { candidates, pc } = await gather({ iceServers: servers });
  pc.close();
  /** @type {Map<number, Set<number>>} mapped ports by local port */
  const mapped = new Map();
  for (const c of udpOfType(candidates, "srflx")) {
    const base = c.relatedPort || 0;
    mapped.set(base, (mapped.get(base) || new Set()).add(c.port || 0));
  }
  if ([...mapped.values()].some((ports) => ports.size > 1)) return { result: "fail", key: "diag.nat.symmetric" };
  const ports = [...new Set([...mapped.values()].flatMap((s) => [...s]))].slice(0, 16);
  if (ports.length) {
    const seen = await within(socket.ask({ type: "diag-stun", ports }, "diag-stun-seen"), 5000);
    if (seen?.secondPorts?.length) return { result: "pass", key: "diag.nat.friendly" };
  }
  return { result: "skipped", key: "diag.nat.unknown" };
}

// A relay check: a relay-only connection to the server's echo peer, over
// the one TURN URL given, must carry data channel messages there and back.
/** @param {string} check @param {RTCIceServer[] | undefined} servers @param {DiagSocket} socket @returns {Promise<Result>} */
export async function checkRelay(check, servers, socket) {
  if (!servers) return { result: "skipped", key: "diag.turn.noTLS" };
  const port = portOf(String(servers[0].urls));
  const { candidates, pc, channel } = await gather({ iceServers: servers, iceTransportPolicy: "relay" });
  try {
    if (!candidates.some((c) => c.type === "relay")) return { result: "fail", key: "diag.turn.unreachable", vars: { port } };
    const answer = await within(socket.ask({ type: "diag-offer", check, sdp: pc.localDescription?.sdp }, "answer:" + check), answerTimeout);
    if (answer?.type !== "diag-answer") return { result: "fail", key: "diag.turn.serverFailed" };
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    const open = new Promise((resolve) => channel.addEventListener("open", resolve, { once: true }));
    if (channel.readyState !== "open" && !(await within(open, openTimeout))) return { result: "fail", key: "diag.turn.noData", vars: { port } };
    const rtts = [];
    for (let i = 0; i < pings; i++) {
      const t0 = performance.now();
      const back = new Promise((resolve) => channel.addEventListener("message", resolve, { once: true }));
      channel.send("ping " + i);
      if (!(await within(back, 5000))) return { result: "fail", key: "diag.turn.noData", vars: { port } };
      rtts.push(performance.now() - t0);
    }
    const ms = Math.round(median(rtts));
    return { result: "pass", key: "diag.turn.pass", vars: { ms }, ms };
  } finally {
    pc.close();
  }
}

// The verdict: what calls from here will do, as a data-verdict word, its
// sentence's key and the port of the relay they will use.
/** @param {Record<string, Result>} r @param {Record<string, RTCIceServer[]>} checks @returns {{verdict: string, key: string, vars?: Record<string, string>}} */
export function verdict(r, checks) {
  const passed = (/** @type {string} */ check) => r[check]?.result === "pass";
  const port = (/** @type {string} */ check) => ({ port: portOf(String(checks[check]?.[0]?.urls || "")) });
  if (!passed("websocket")) return { verdict: "no-server", key: "diag.verdict.no-server" };
  if (passed("turn-udp")) return { verdict: "ok", key: "diag.verdict.ok" };
  if (passed("turn-tcp")) return { verdict: "relay-tcp", key: "diag.verdict.relay-tcp", vars: port("turn-tcp") };
  if (passed("turn-tls")) return { verdict: "relay-tls", key: "diag.verdict.relay-tls", vars: port("turn-tls") };
  if (passed("stun")) return { verdict: "direct-only", key: "diag.verdict.direct-only" };
  return { verdict: "none", key: "diag.verdict.none" };
}

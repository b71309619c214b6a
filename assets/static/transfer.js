// @ts-check
// File transfer over the call's "files" data channel (docs/protocol.md,
// "File transfer"): an offer with the file's SHA-256, the receiver's
// accept or decline, the bytes in chunks with backpressure, and a check
// of the hash before the file is offered for saving. No DOM.

export const chunkSize = 16 * 1024;
// The sender keeps about queueTime's worth of bytes queued in the channel,
// at the rate they leave, between minQueue and maxQueue: the chat shares
// the connection, and a message of its own waits behind what is queued,
// while too little queued starves a link with a long round trip.
const queueTime = 0.25; // seconds
const minQueue = 64 * 1024;
const maxQueue = 4 * 1024 * 1024;
// What a receiver without a way to write to disk keeps in memory.
export const memoryLimit = 512 * 1024 * 1024;

/** @typedef {"hashing" | "offered" | "asked" | "sending" | "receiving" | "done" | "declined" | "cancelled" | "failed"} TransferState */
/**
 * @typedef {object} Transfer
 * @property {string} id
 * @property {boolean} outgoing
 * @property {string} name
 * @property {number} size
 * @property {string} mime
 * @property {string} sha256 hex
 * @property {TransferState} state
 * @property {number} bytes sent or received
 * @property {number} startedAt performance.now() when bytes began to flow
 * @property {string} [reason] why it failed or was cancelled: "peer", "hash", "ended", "error"
 * @property {Blob} [blob] what was received, once checked (in memory)
 */
/** @typedef {{write(chunk: Uint8Array): Promise<void> | void, close(): Promise<Blob | null>, abort(): Promise<void> | void}} Sink */

/** @param {any} s */
const text = (s, max = 255) => String(s ?? "").slice(0, max);

export class Transfers {
  /** @param {RTCDataChannel} channel */
  constructor(channel) {
    this.channel = channel;
    channel.binaryType = "arraybuffer";
    channel.bufferedAmountLowThreshold = minQueue / 2;
    /** @type {Map<string, Transfer>} */
    this.all = new Map();
    /** @type {Map<string, Blob>} files to send, by id */
    this.files = new Map();
    /** @type {Map<string, {sink: Sink, hash: Sha256}>} accepted incoming ones */
    this.sinks = new Map();
    /** @type {string} the incoming transfer whose bytes arrive now */
    this.incoming = "";
    /** @type {string[]} accepted outgoing ones, sent one at a time */
    this.queue = [];
    this.sending = false;
    /** @type {(t: Transfer) => void} a transfer is new or changed */
    this.onchange = () => {};
    /** @type {(t: Transfer) => void} the other person offers a file */
    this.onoffer = () => {};
    channel.addEventListener("message", ({ data }) => this.receive(data));
    channel.addEventListener("close", () => {
      for (const t of this.all.values()) if (!["done", "declined", "cancelled", "failed"].includes(t.state)) this.finish(t, "cancelled", "ended");
    });
  }

  /** @param {any} m */
  send(m) {
    if (this.channel.readyState === "open") this.channel.send(JSON.stringify(m));
  }

  /** @param {Transfer} t */
  changed(t) {
    this.onchange(t);
  }

  // The bytes that have left: sent, less what the channel still holds.
  /** @param {Transfer} t */
  moved(t) {
    return t.outgoing && t.state === "sending" ? Math.max(0, t.bytes - this.channel.bufferedAmount) : t.bytes;
  }

  // Offers file: hashes it first, then asks the other person.
  /** @param {File} file @returns {Promise<Transfer>} */
  async offer(file) {
    /** @type {Transfer} */
    const t = { id: crypto.randomUUID(), outgoing: true, name: text(file.name) || "file", size: file.size, mime: text(file.type, 100),
      sha256: "", state: "hashing", bytes: 0, startedAt: 0 };
    this.all.set(t.id, t);
    this.files.set(t.id, file);
    this.changed(t);
    const hash = new Sha256();
    const reader = file.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
    if (t.state !== "hashing") return t; // cancelled meanwhile
    t.sha256 = hash.hex();
    t.state = "offered";
    this.send({ type: "file-offer", id: t.id, name: t.name, size: t.size, mime: t.mime, sha256: t.sha256 });
    this.changed(t);
    return t;
  }

  // Takes the other person's offer, writing into sink.
  /** @param {string} id @param {Sink} sink */
  accept(id, sink) {
    const t = this.all.get(id);
    if (!t || t.state !== "asked") return;
    this.sinks.set(id, { sink, hash: new Sha256() });
    t.state = "receiving";
    t.startedAt = performance.now();
    this.send({ type: "file-accept", id });
    this.changed(t);
  }

  /** @param {string} id */
  decline(id) {
    const t = this.all.get(id);
    if (!t || t.state !== "asked") return;
    this.send({ type: "file-decline", id });
    this.finish(t, "declined");
  }

  // Stops a transfer, either way, and tells the other side.
  /** @param {string} id */
  cancel(id) {
    const t = this.all.get(id);
    if (!t || ["done", "declined", "cancelled", "failed"].includes(t.state)) return;
    if (t.state !== "hashing") this.send({ type: "file-cancel", id });
    this.finish(t, "cancelled", "you");
  }

  /** @param {Transfer} t @param {TransferState} state @param {string} [reason] */
  finish(t, state, reason) {
    t.state = state;
    t.reason = reason;
    this.files.delete(t.id);
    this.queue = this.queue.filter((id) => id !== t.id);
    const s = this.sinks.get(t.id);
    this.sinks.delete(t.id);
    if (s) Promise.resolve(s.sink.abort()).catch(() => {});
    if (this.incoming === t.id) this.incoming = "";
    this.changed(t);
  }

  /** @param {string | ArrayBuffer} data */
  receive(data) {
    if (typeof data !== "string") return this.chunk(new Uint8Array(data));
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    const t = this.all.get(text(m.id, 64));
    switch (m.type) {
      case "file-offer": {
        if (t || !/^[0-9a-f]{64}$/.test(m.sha256) || !Number.isSafeInteger(m.size) || m.size < 0) return;
        /** @type {Transfer} */
        const offered = { id: text(m.id, 64), outgoing: false, name: text(m.name) || "file", size: m.size, mime: text(m.mime, 100),
          sha256: m.sha256, state: "asked", bytes: 0, startedAt: 0 };
        this.all.set(offered.id, offered);
        this.onoffer(offered);
        this.changed(offered);
        return;
      }
      case "file-accept":
        if (t?.outgoing && t.state === "offered") {
          t.state = "sending";
          this.changed(t);
          this.queue.push(t.id);
          this.pump();
        }
        return;
      case "file-decline":
        if (t?.outgoing && t.state === "offered") this.finish(t, "declined", "peer");
        return;
      case "file-cancel":
        if (t) this.finish(t, "cancelled", "peer");
        return;
      case "file-done":
        if (t?.outgoing && t.state === "sending") this.finish(t, "done");
        return;
      case "file-failed":
        if (t?.outgoing && t.state === "sending") this.finish(t, "failed", "hash");
        return;
      case "file-start":
        if (t && !t.outgoing && t.state === "receiving") {
          this.incoming = t.id;
          if (t.size === 0) this.complete(t);
        }
    }
  }

  /** @param {Uint8Array} bytes */
  chunk(bytes) {
    const t = this.all.get(this.incoming);
    const s = t && this.sinks.get(t.id);
    if (!t || !s) return; // a cancelled transfer's bytes still in flight
    if (t.bytes + bytes.length > t.size) return this.finish(t, "failed", "hash");
    t.bytes += bytes.length;
    s.hash.update(bytes);
    const written = s.sink.write(bytes);
    if (written) written.catch(() => this.cancel(t.id));
    if (t.bytes === t.size) this.complete(t);
    else this.changed(t);
  }

  // All bytes are in: saved only if the hash matches.
  /** @param {Transfer} t */
  async complete(t) {
    const s = this.sinks.get(t.id);
    if (!s) return;
    this.incoming = "";
    if (s.hash.hex() !== t.sha256) {
      this.send({ type: "file-failed", id: t.id });
      return this.finish(t, "failed", "hash");
    }
    this.sinks.delete(t.id);
    t.blob = (await s.sink.close()) || undefined;
    this.send({ type: "file-done", id: t.id });
    this.finish(t, "done");
  }

  // Sends the accepted transfers one after another, chunk by chunk,
  // waiting whenever the channel holds more than queueLimit.
  async pump() {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length) {
        const id = /** @type {string} */ (this.queue.shift());
        const t = this.all.get(id);
        const file = this.files.get(id);
        if (!t || !file || t.state !== "sending") continue;
        this.send({ type: "file-start", id });
        t.startedAt = performance.now();
        const reader = file.stream().getReader();
        while (t.state === "sending") {
          const { done, value } = await reader.read();
          if (done) break;
          for (let at = 0; at < value.length && t.state === "sending"; at += chunkSize) {
            if (this.channel.bufferedAmount > this.queueLimit(t)) await this.drained();
            if (t.state !== "sending" || this.channel.readyState !== "open") break;
            const piece = value.subarray(at, at + chunkSize);
            this.channel.send(piece);
            t.bytes += piece.length;
            this.changed(t);
          }
        }
        reader.cancel().catch(() => {});
        // Done when the receiver says the hash matched (file-done).
      }
    } finally {
      this.sending = false;
    }
  }

  // How much may wait in the channel: queueTime at the rate t's bytes
  // have left so far.
  /** @param {Transfer} t */
  queueLimit(t) {
    const seconds = (performance.now() - t.startedAt) / 1000;
    const rate = seconds > 0.2 ? this.moved(t) / seconds : 0;
    const limit = Math.min(maxQueue, Math.max(minQueue, rate * queueTime));
    this.channel.bufferedAmountLowThreshold = limit / 2;
    return limit;
  }

  drained() {
    return new Promise((resolve) => {
      const done = () => {
        this.channel.removeEventListener("bufferedamountlow", done);
        this.channel.removeEventListener("close", done);
        resolve(undefined);
      };
      this.channel.addEventListener("bufferedamountlow", done);
      this.channel.addEventListener("close", done);
    });
  }
}

// A sink that keeps the file in memory, up to memoryLimit.
/** @param {string} mime @returns {Sink} */
export function memorySink(mime) {
  /** @type {Uint8Array[]} */
  let parts = [];
  return {
    write: (chunk) => void parts.push(chunk.slice()),
    close: async () => new Blob(/** @type {BlobPart[]} */ (parts), { type: mime }),
    abort: () => void (parts = []),
  };
}

// SHA-256 (FIPS 180-4), fed piece by piece: WebCrypto hashes only whole
// buffers, and a file need not fit in memory.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export class Sha256 {
  constructor() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.block = new Uint8Array(64);
    this.filled = 0;
    this.length = 0; // bytes
    this.w = new Uint32Array(64);
  }

  /** @param {Uint8Array} data */
  update(data) {
    this.length += data.length;
    let i = 0;
    if (this.filled) {
      const n = Math.min(64 - this.filled, data.length);
      this.block.set(data.subarray(0, n), this.filled);
      this.filled += n;
      i = n;
      if (this.filled < 64) return;
      this.compress(this.block, 0);
      this.filled = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.compress(data, i);
    this.block.set(data.subarray(i));
    this.filled = data.length - i;
  }

  /** @param {Uint8Array} b @param {number} at */
  compress(b, at) {
    const w = this.w;
    for (let t = 0; t < 16; t++) w[t] = (b[at + 4 * t] << 24) | (b[at + 4 * t + 1] << 16) | (b[at + 4 * t + 2] << 8) | b[at + 4 * t + 3];
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15], y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    let [a, bb, c, d, e, f, g, h] = this.h;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    const hs = this.h;
    hs[0] += a; hs[1] += bb; hs[2] += c; hs[3] += d; hs[4] += e; hs[5] += f; hs[6] += g; hs[7] += h;
  }

  /** @returns {string} the digest in hex; the hash takes no more data */
  hex() {
    const bits = this.length * 8;
    const pad = new Uint8Array(((this.filled < 56 ? 56 : 120) - this.filled) + 8);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(pad.length - 4, bits >>> 0);
    const length = this.length;
    this.update(pad);
    this.length = length;
    return [...this.h].map((x) => x.toString(16).padStart(8, "0")).join("");
  }
}

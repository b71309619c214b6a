// @ts-check
// Signaling (docs/protocol.md): a WebSocket to the room, reconnected with
// backoff and the seat token. No DOM: it tells what happens by callbacks.

const closeReplaced = 4000; // the server's: a newer connection took our seat
const closeAway = 3000; // ours for a socket we give up on: not a goodbye, the seat is held
const maxAttempts = 8; // connections without a seat before giving up: about a minute
const maxQueued = 64; // signals kept while the socket is down

export class Signaling {
  /** @param {string} url the room's WebSocket @param {string} room @param {Storage} storage keeps the seat */
  constructor(url, room, storage) {
    this.url = url;
    this.storage = storage;
    this.seatKey = "tandem-seat:" + room;
    // Our role, kept with the seat: a page that takes it back with no peer
    // connection (a restored or duplicated tab) plays the expected role.
    this.roleKey = "tandem-polite:" + room;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.active = false; // false: no reconnecting
    this.retryDelay = 500;
    this.retryTimer = 0;
    this.attempts = 0; // connections since the last seat
    /** @type {any[]} signals sent while the socket was down, of the newest session */
    this.queued = [];
    this.probeTimer = 0; // set while a ping waits for its pong
    this.inbox = Promise.resolve();
    /** @type {(m: any) => any} one at a time: the next waits for the promise returned */
    this.onmessage = () => {};
    /** @type {() => void} a reconnect follows */
    this.onlost = () => {};
    /** @type {() => void} a duplicated tab took our seat: we stop */
    this.onreplaced = () => {};
    /** @type {() => boolean} whether to give up after maxAttempts; no: a live call goes on */
    this.maygiveup = () => true;
    /** @type {() => void} no seat after maxAttempts: stopped, until start() */
    this.ongiveup = () => {};
  }

  start() {
    this.active = true;
    this.attempts = 0;
    this.retryDelay = 500;
    // A peer connection closed mid-message never settles that promise.
    this.inbox = Promise.resolve();
    this.connect();
  }

  // For good: no reconnect, no seat kept.
  stop() {
    this.active = false;
    this.queued = [];
    clearTimeout(this.retryTimer);
    this.storage.removeItem(this.seatKey);
    this.storage.removeItem(this.roleKey);
  }

  leave() {
    this.send({ type: "leave" });
    if (this.ws) this.ws.close();
    this.ws = null;
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  // A signal sent while the socket is down (an ICE restart's offer during
  // a reconnect) waits for the next seat, with the others of its session.
  /** @param {any} message */
  send(message) {
    if (this.ws && this.open) {
      this.ws.send(JSON.stringify(message));
    } else if (message.type === "signal" && this.active) {
      const session = message.data && message.data.session;
      this.queued = this.queued.filter((m) => m.data.session === session).slice(1 - maxQueued);
      this.queued.push(message);
    }
  }

  /** @returns {boolean | null} */
  get polite() {
    const saved = this.storage.getItem(this.roleKey);
    return saved ? saved === "true" : null;
  }

  set polite(polite) {
    this.storage.setItem(this.roleKey, String(polite));
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (!this.active) return; // hung up, or put out, while a reconnect was pending
    const seat = this.storage.getItem(this.seatKey);
    const ws = new WebSocket(this.url + (seat ? "?seat=" + encodeURIComponent(seat) : ""));
    this.ws = ws;
    this.attempts++;
    ws.onmessage = (event) => {
      clearTimeout(this.probeTimer); // the socket lives
      this.probeTimer = 0;
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      this.inbox = this.inbox
        .then(async () => {
          if (m.seat) {
            // Seated: the backoff starts over (not on open: a server that
            // refuses us opens the socket first).
            this.storage.setItem(this.seatKey, m.seat);
            this.attempts = 0;
            this.retryDelay = 500;
          }
          await this.onmessage(m);
          if (m.seat) for (const q of this.queued.splice(0)) this.send(q);
        })
        .catch((err) => console.error("tandem:", err));
    };
    ws.onclose = (event) => this.lost(ws, event.code);
  }

  /**
   * @param {WebSocket} ws
   * @param {number} code
   */
  lost(ws, code) {
    if (this.ws !== ws) return;
    clearTimeout(this.probeTimer);
    this.probeTimer = 0;
    this.ws = null;
    if (!this.active) return;
    if (code === closeReplaced) {
      // Taking the seat back in turn would start a tug of war.
      this.onreplaced();
      return;
    }
    if (this.attempts >= maxAttempts && this.maygiveup()) {
      this.active = false;
      this.queued = [];
      this.ongiveup();
      return;
    }
    this.onlost();
    const delay = this.retryDelay * (0.75 + Math.random() / 2);
    this.retryDelay = Math.min(this.retryDelay * 2, 10000);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // A network that changed under us kills a socket without a word: ping,
  // and replace it when no answer comes within 3 s.
  probe() {
    const ws = this.ws;
    if (!ws || !this.open || this.probeTimer) return;
    this.send({ type: "ping" });
    this.probeTimer = setTimeout(() => {
      this.probeTimer = 0;
      if (this.ws !== ws) return;
      ws.onclose = null;
      ws.close(closeAway);
      this.lost(ws, closeAway);
    }, 3000);
  }
}

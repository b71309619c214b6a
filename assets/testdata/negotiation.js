// The negotiation harness of negotiation_test.go: two Peers in one page,
// joined by an in-page channel that stands in for the signaling server and
// can drop, delay, duplicate and hold back (then reorder) what it carries.
// Each schedule resolves with how the call ended.

// PEER_URL is replaced by the hashed URL of peer.js.
import { Peer } from "PEER_URL";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A side: a Peer, and an inbox that handles its signals one at a time, as
// the page handles its socket's messages.
function makeSide(name) {
  const side = { name, peer: null, inbox: Promise.resolve(), pcs: 0, messages: [], out: null };
  side.newPeer = (polite) => {
    if (side.peer) side.peer.close();
    const peer = new Peer({ signal: (data) => side.out.carry(data) });
    peer.polite = polite;
    peer.onpeerconnection = () => side.pcs++;
    peer.onmessage = (m) => side.messages.push(m);
    side.peer = peer;
    side.inbox = Promise.resolve();
    return peer;
  };
  side.receive = (data) => {
    const peer = side.peer;
    side.inbox = side.inbox.then(() => peer === side.peer && peer.handle(data)).catch((err) => console.warn(name, err));
  };
  return side;
}

// A direction of the channel, from one side to the other.
function makeWire(from, to, log) {
  const wire = {
    drop: false, // lose what is sent
    dropNext: null, // lose the next message this predicate picks
    hold: false, // keep what is sent until release
    held: [],
    delay: 0, // ms
    duplicate: false, // deliver everything twice
    carry(data) {
      const text = JSON.stringify(data); // as the wire does
      const what = data.description ? data.description.type : "candidate";
      if (wire.drop || (wire.dropNext && wire.dropNext(data))) {
        if (!wire.drop) wire.dropNext = null;
        log.push(from.name + " -> " + to.name + " " + what + " dropped");
        return;
      }
      if (wire.hold) {
        wire.held.push(text);
        log.push(from.name + " -> " + to.name + " " + what + " held");
        return;
      }
      for (let i = 0; i < (wire.duplicate ? 2 : 1); i++) {
        setTimeout(() => to.receive(JSON.parse(text)), wire.delay);
      }
    },
    // release delivers what was held, last first.
    release() {
      wire.hold = false;
      for (const text of wire.held.reverse()) to.receive(JSON.parse(text));
      wire.held = [];
    },
  };
  return wire;
}

function setUp() {
  const log = [];
  const a = makeSide("A"); // the joiner: impolite, offers first
  const b = makeSide("B"); // the one already there: polite
  a.out = makeWire(a, b, log);
  b.out = makeWire(b, a, log);
  return { a, b, log };
}

// start begins a call as the page does: the polite side waits for an
// offer, the impolite one makes it.
function start({ a, b }) {
  b.newPeer(true).start();
  a.newPeer(false).start();
}

const isUp = (side, other) =>
  side.peer.pc &&
  side.peer.pc.connectionState === "connected" &&
  side.peer.pc.signalingState === "stable" &&
  side.peer.remoteSession === other.peer.session &&
  side.peer.channelOpen;

async function connected(call, timeout = 30000) {
  const { a, b } = call;
  const deadline = Date.now() + timeout;
  while (!(isUp(a, b) && isUp(b, a))) {
    if (Date.now() > deadline) throw new Error("not connected in " + timeout / 1000 + " s");
    await sleep(100);
  }
}

function ufrag(side) {
  const m = /a=ice-ufrag:(\S+)/.exec(side.peer.pc.localDescription.sdp);
  return m ? m[1] : "";
}

function cut(call, on) {
  call.a.out.drop = call.b.out.drop = on;
}

// What each schedule does to the call. Each ends by waiting for both
// sides to be connected to each other's current peer connection.
const schedules = {
  async plain(call) {
    start(call);
    await connected(call);
  },

  // Glare: both offer at once (both restart ICE on a live call, their
  // offers crossing); the polite one rolls back and answers.
  async glare(call) {
    start(call);
    await connected(call);
    call.a.out.delay = call.b.out.delay = 200;
    const before = ufrag(call.a);
    call.a.peer.restartIce(true);
    call.b.peer.restartIce(true);
    await sleep(500);
    await connected(call);
    if (ufrag(call.a) === before) throw new Error("ICE did not restart");
  },

  // The first offer is lost: it is sent again.
  async lostOffer(call) {
    call.a.out.dropNext = (data) => data.description && data.description.type === "offer";
    start(call);
    await connected(call);
  },

  // The browser refuses A's first offer (setLocalDescription rejects): A
  // reports it (onfailure) and, as the page does, starts a fresh peer
  // connection, whose offer B answers.
  async failedFirstOffer(call) {
    const failures = [];
    call.b.newPeer(true).start();
    const peer = call.a.newPeer(false);
    peer.onfailure = (what) => {
      failures.push(what);
      setTimeout(() => peer.start(), 100);
    };
    peer.onpeerconnection = (pc) => {
      if (++call.a.pcs === 1) pc.setLocalDescription = () => Promise.reject(new DOMException("injected", "OperationError"));
    };
    peer.start();
    await connected(call);
    if (failures.join() !== "offer") throw new Error("failures reported: [" + failures + "], want [offer]");
  },

  // The first answer is lost: the offer is sent again, and answered again.
  async lostAnswer(call) {
    call.b.out.dropNext = (data) => data.description && data.description.type === "answer";
    start(call);
    await connected(call);
  },

  // Every message arrives twice.
  async duplicated(call) {
    call.a.out.duplicate = call.b.out.duplicate = true;
    start(call);
    await connected(call);
  },

  // The offer arrives after its candidates, which come last first.
  async reordered(call) {
    call.a.out.hold = true;
    start(call);
    await sleep(1000);
    call.a.out.release();
    await connected(call);
  },

  // A restarts ICE while B is away (every message lost for 6 s): the
  // offer is sent again until B gets it.
  async restartWhileAway(call) {
    start(call);
    await connected(call);
    const before = ufrag(call.a);
    cut(call, true);
    call.a.peer.restartIce(true);
    await sleep(6000);
    cut(call, false);
    await connected(call);
    if (ufrag(call.a) === before) throw new Error("ICE did not restart");
  },

  // acf0a1c: A's ICE-restart offer is lost while B is away, and A sends
  // it no more; B comes back and restarts ICE too. A's offer wins the
  // collision and must be sent again, or both wait for good.
  async offerLostWhileAway(call) {
    start(call);
    await connected(call);
    cut(call, true);
    call.a.peer.restartIce(true);
    await sleep(500);
    clearTimeout(call.a.peer.offerTimer); // only the collision may resend it
    cut(call, false);
    call.b.peer.restartIce(true);
    await connected(call);
  },

  // acf0a1c: A was away so long that its seat expired. B closed its peer
  // connection (peer-left) and started a new one (peer-joined); A, joining
  // afresh with its old connection, restarts ICE. The answer from B's new
  // session makes A start afresh once, not a new connection per answer.
  async rejoinAfterSeatExpired(call) {
    start(call);
    await connected(call);
    cut(call, true);
    call.b.newPeer(true).start();
    cut(call, false);
    call.a.peer.polite = false;
    call.a.peer.restartIce(true);
    await connected(call);
    const pcs = [call.a.pcs, call.b.pcs];
    await sleep(3000);
    if (call.a.pcs !== pcs[0] || call.b.pcs !== pcs[1] || !isUp(call.a, call.b)) {
      throw new Error("still starting new peer connections: A " + call.a.pcs + ", B " + call.b.pcs);
    }
  },

  // 5b24fc2: the impolite side's tab is duplicated: a new page with a new
  // peer connection, and its role kept with the seat, offers at once.
  async duplicatedImpoliteTab(call) {
    start(call);
    await connected(call);
    call.a.newPeer(false).start();
    await connected(call);
  },

  // The polite side's tab is duplicated: the new page waits for an offer;
  // the other side's connection breaks and it restarts ICE.
  async duplicatedPoliteTab(call) {
    start(call);
    await connected(call);
    call.b.newPeer(true).start();
    await connected(call, 60000);
  },
};

window.schedules = Object.keys(schedules);

window.runSchedule = async (name) => {
  const call = setUp();
  const began = performance.now();
  try {
    await schedules[name](call);
    call.a.peer.send({ type: "chat", text: "hello" });
    const deadline = Date.now() + 5000;
    while (!call.b.messages.some((m) => m.text === "hello")) {
      if (Date.now() > deadline) throw new Error("the data channel carried nothing");
      await sleep(50);
    }
    return { ok: true, seconds: (performance.now() - began) / 1000, pcs: [call.a.pcs, call.b.pcs], log: call.log };
  } catch (err) {
    const state = (s) => s.name + ": " + (s.peer.pc ? s.peer.pc.connectionState + "/" + s.peer.pc.signalingState : "no pc") + ", pcs " + s.pcs;
    return { ok: false, error: String(err), state: [state(call.a), state(call.b)], log: call.log };
  } finally {
    call.a.peer.close();
    call.b.peer.close();
  }
};
window.harnessReady = true;

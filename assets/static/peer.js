// @ts-check
// One side of the call: its RTCPeerConnection, by "perfect negotiation"
// (docs/protocol.md), and the data channel. No DOM, no socket: signals go
// out through signal() and come in through handle(); the rest is callbacks.

export class Peer {
  /** @param {{signal: (data: object) => void, canSignal?: () => boolean, outgoing?: (kind: string) => MediaStreamTrack | null, relayOnly?: boolean}} o */
  constructor({ signal, canSignal = () => true, outgoing = () => null, relayOnly = false }) {
    this.signal = signal;
    this.canSignal = canSignal;
    this.outgoing = outgoing;
    this.relayOnly = relayOnly;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {RTCDataChannel | null} */
    this.channel = null;
    /** @type {Record<string, RTCRtpSender>} */
    this.senders = {};
    this.session = ""; // our peer connection's id, sent with every signal
    this.remoteSession = ""; // the other side's, from its first description
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    this.polite = true; // the first one in the room is polite
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.tracksAdded = false;
    this.restarts = 0;
    this.restartsTotal = 0; // of this peer connection, for its call report
    this.restartTimer = 0;
    this.offerTimer = 0; // sends our unanswered offer again
    this.connectedAt = 0;
    /** @type {(pc: RTCPeerConnection) => void} */
    this.onpeerconnection = () => {};
    /** @type {() => void} */
    this.onclose = () => {};
    /** @type {(stream: MediaStream) => void} the other side's media, a track added */
    this.ontrack = () => {};
    /** @type {(state: RTCPeerConnectionState) => void} */
    this.onconnectionstate = () => {};
    // "away": nobody to negotiate with (rejoining restarts ICE); "failed": three restarts did not help.
    /** @type {(outcome: "restarting" | "away" | "failed") => void} */
    this.onrestart = () => {};
    /** @type {(channel: RTCDataChannel) => void} a new connection's file transfer channel */
    this.onfiles = () => {};
    /** @type {(open: boolean) => void} the data channel's */
    this.onchannel = () => {};
    /** @type {(m: any) => void} a data channel message */
    this.onmessage = () => {};
    // The browser refused to build the connection, an offer or an answer,
    // or to switch a track.
    /** @type {(what: "setup" | "offer" | "answer" | "media", err: any) => void} */
    this.onfailure = () => {};
  }

  get connected() {
    return !!this.pc && this.pc.connectionState === "connected";
  }

  get channelOpen() {
    return !!this.channel && this.channel.readyState === "open";
  }

  /** @param {object} message */
  send(message) {
    if (this.channel && this.channelOpen) this.channel.send(JSON.stringify(message));
  }

  /** @param {object} data */
  sendSignal(data) {
    this.signal({ session: this.session, ...data });
  }

  /** @param {RTCIceServer[]} [iceServers] fresh TURN credentials, for a live connection too */
  setIceServers(iceServers) {
    this.iceServers = iceServers || [];
    if (!this.pc) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: this.iceServers });
    } catch (err) {
      console.warn("tandem: could not update ICE servers", err);
    }
  }

  start() {
    this.close();
    let pc;
    try {
      pc = new RTCPeerConnection({
        iceServers: this.iceServers,
        iceTransportPolicy: this.relayOnly ? "relay" : "all",
      });
    } catch (err) {
      return this.onfailure("setup", err); // an ICE server URL it refuses, say
    }
    this.pc = pc;
    this.session = crypto.getRandomValues(new Uint32Array(2)).join("-");
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.tracksAdded = false;
    this.restarts = 0;
    this.restartsTotal = 0;
    this.onpeerconnection(pc);
    const remoteStream = new MediaStream();

    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.sendSignal({ candidate });
    };
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.sendOffer(pc);
      } catch (err) {
        if (pc === this.pc) this.onfailure("offer", err);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.ontrack = ({ track }) => {
      remoteStream.addTrack(track);
      this.ontrack(remoteStream);
    };
    pc.onconnectionstatechange = () => this.stateChanged(pc);

    // The polite side adds its media to the offer's transceivers: nobody renegotiates.
    if (!this.polite) this.addLocalMedia(pc);
  }

  close() {
    clearTimeout(this.restartTimer);
    clearTimeout(this.offerTimer);
    this.remoteSession = "";
    this.connectedAt = 0;
    this.senders = {};
    if (this.channel) this.channel.onclose = this.channel.onmessage = null;
    this.channel = null;
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
    this.onclose();
  }

  // Transceivers that send even with nothing to send: a change of track is
  // then a replaceTrack, never a renegotiation.
  /** @param {RTCPeerConnection} pc */
  async addLocalMedia(pc) {
    this.tracksAdded = true;
    this.openChannel(pc);
    for (const kind of ["audio", "video"]) {
      let transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
      if (transceiver) {
        transceiver.direction = "sendrecv";
        await transceiver.sender.replaceTrack(this.outgoing(kind));
      } else {
        transceiver = pc.addTransceiver(this.outgoing(kind) || kind, { direction: "sendrecv" });
      }
      this.senders[kind] = transceiver.sender;
    }
  }

  // Changes the video sender's encoding (active, maxBitrate,
  // scaleResolutionDownBy): no renegotiation.
  /** @param {RTCRtpEncodingParameters} encoding */
  async setVideoEncoding(encoding) {
    const sender = this.senders.video;
    const params = sender?.getParameters();
    if (!params?.encodings?.length) return; // before negotiation: set again once connected
    Object.assign(params.encodings[0], encoding);
    try {
      await sender.setParameters(params);
    } catch (err) {
      console.warn("tandem: video encoding", err);
    }
  }

  /** @param {string} kind */
  async updateSender(kind) {
    const sender = this.senders[kind];
    const track = this.outgoing(kind);
    try {
      if (sender && sender.track !== track) await sender.replaceTrack(track);
    } catch (err) {
      this.onfailure("media", err);
    }
  }

  /** @param {RTCPeerConnection} pc */
  openChannel(pc) {
    const channel = pc.createDataChannel("tandem", { negotiated: true, id: 0 });
    this.channel = channel;
    this.onfiles(pc.createDataChannel("files", { negotiated: true, id: 1 }));
    channel.onopen = () => this.onchannel(true);
    channel.onclose = () => this.onchannel(false);
    channel.onmessage = ({ data }) => {
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return;
      }
      this.onmessage(m);
    };
  }

  /** @param {RTCPeerConnection} pc */
  stateChanged(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this.restartTimer);
    const state = pc.connectionState;
    if (state === "connected") {
      this.restarts = 0;
      this.connectedAt ||= Date.now();
    }
    this.onconnectionstate(state);
    // "disconnected" is often a blip: give ICE a moment first.
    if (state === "disconnected") this.restartTimer = setTimeout(() => this.restartIce(false, pc), 3000);
    if (state === "failed") this.restartIce(false, pc);
  }

  // This side's path, for its call report: direct, or relay_udp, _tcp or
  // _tls by how it reaches its relay; "" if the stats name no pair within
  // 10 s (they can lag the connected state, on a busy machine by seconds).
  /** @returns {Promise<string>} */
  async path() {
    for (let tries = 0; tries < 50 && this.pc; tries++) {
      const stats = await this.pc.getStats();
      const pair = selectedPair(stats);
      const local = pair && stats.get(pair.localCandidateId);
      if (local && local.candidateType !== "relay") return "direct";
      if (local) return "relay_" + (["tcp", "tls"].includes(local.relayProtocol) ? local.relayProtocol : "udp");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return "";
  }

  /** @param {RTCPeerConnection | null} [pc] */
  restartIce(evenIfConnected = false, pc = this.pc) {
    if (!pc || pc !== this.pc || (pc.connectionState === "connected" && !evenIfConnected)) return;
    if (!this.canSignal()) return this.onrestart("away");
    if (this.restarts >= 3) return this.onrestart("failed");
    this.restarts++;
    this.restartsTotal++;
    this.onrestart("restarting");
    pc.restartIce();
  }

  // Again every 4 s while unanswered: the other side's socket may have died with it.
  /** @param {RTCPeerConnection | null} [pc] */
  sendOffer(pc = this.pc, resends = 5) {
    clearTimeout(this.offerTimer);
    if (!pc || pc !== this.pc || pc.signalingState !== "have-local-offer") return;
    this.sendSignal({ description: pc.localDescription });
    if (resends > 0) this.offerTimer = setTimeout(() => this.sendOffer(pc, resends - 1), 4000);
  }

  /** @param {{session?: string, description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} data from the other side */
  async handle(data) {
    if (data.description && data.session !== this.remoteSession) {
      // From a new peer connection (the other side reloaded): start afresh.
      const answerToFresh = data.description.type === "answer";
      if (this.remoteSession || !this.pc) this.start();
      // An answer from a new session is dropped, its session not kept, so
      // the answer to our new offer is taken, not seen as new (a loop).
      if (answerToFresh && this.pc?.signalingState === "stable") return;
      this.remoteSession = data.session || "";
    } else if (data.candidate && data.session !== this.remoteSession) {
      return; // a late candidate of a session we no longer talk to
    }
    const pc = this.pc;
    if (!pc) return;
    if (data.description) {
      const description = data.description;
      if (description.type === "answer" && pc.signalingState === "stable") return; // offer sent twice
      const collision = description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) {
        // Ours wins, but may never have arrived: send it again.
        if (!this.makingOffer && pc.signalingState === "have-local-offer") this.sendOffer(pc);
        return;
      }
      try {
        await pc.setRemoteDescription(description);
        if (description.type === "offer") {
          if (!this.tracksAdded) await this.addLocalMedia(pc);
          await pc.setLocalDescription();
          this.sendSignal({ description: pc.localDescription });
        }
      } catch (err) {
        if (pc === this.pc) this.onfailure("answer", err);
      }
    } else if (data.candidate) {
      try {
        await pc.addIceCandidate(data.candidate);
      } catch (err) {
        if (!this.ignoreOffer) console.warn("tandem: bad candidate", err);
      }
    }
  }
}

// The candidate pair in use: the transport names it (Chromium), or the
// pair says so itself (Firefox).
/** @param {RTCStatsReport} stats @returns {any} */
export function selectedPair(stats) {
  let pair;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  stats.forEach((s) => {
    if (!pair && s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded"))) pair = s;
  });
  return pair;
}

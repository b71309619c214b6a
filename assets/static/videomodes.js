// @ts-check
// Audio only is the call's: either side turns it on or off, for both.
// Data saver caps this side's video. Both set the video sender's
// encoding, without renegotiation (docs/protocol.md, "Data channel").
import { onPoor, toast, ui } from "./ui.js";

const dataSaverKey = "tandem-data-saver";
const dataSaverBitrate = 300000;

export class VideoModes {
  /** @param {import("./peer.js").Peer} peer */
  constructor(peer) {
    this.peer = peer;
    this.audioOnly = false;
    ui.dataSaver.checked = localStorage.getItem(dataSaverKey) === "1";
    ui.audioOnly.onchange = () => this.setAudioOnly(ui.audioOnly.checked);
    ui.dataSaver.onchange = () => {
      localStorage.setItem(dataSaverKey, ui.dataSaver.checked ? "1" : "");
      this.apply();
    };
    onPoor.call = () => this.audioOnly || toast("audioOnly.suggest");
  }

  // Sets the video sender's encoding; again each time the call connects.
  apply() {
    ui.call.dataset.audioOnly = this.audioOnly;
    ui.audioOnly.checked = this.audioOnly;
    const saver = ui.dataSaver.checked;
    this.peer.setVideoEncoding({ active: !this.audioOnly, maxBitrate: saver ? dataSaverBitrate : undefined, scaleResolutionDownBy: saver ? 2 : 1 });
  }

  /** @param {boolean} on @param {boolean} [mine] whether this side asked */
  setAudioOnly(on, mine = true) {
    if (on === this.audioOnly) return;
    this.audioOnly = on;
    this.apply();
    if (mine) this.peer.send({ type: "audio-only", on });
    else toast(on ? "audioOnly.peerOn" : "audioOnly.peerOff");
  }

  // A new channel: the other side (reloaded, say) learns it again.
  channelOpened() {
    if (this.audioOnly) this.peer.send({ type: "audio-only", on: true });
  }
}

package harness

import "fmt"

// What tests read from a call page, and the JavaScript that reads it. The
// scripts work in Chromium and Firefox alike.

// Status is the state and text of the page's #status element.
type Status struct {
	State string `json:"state"`
	Text  string `json:"text"`
}

// VideoProgress is how far a <video> element has played.
type VideoProgress struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Frames int     `json:"frames"`
	Time   float64 `json:"time"`
	Paused bool    `json:"paused"`
}

// CandidatePair describes the ICE candidate pair a connection selected.
type CandidatePair struct {
	Local         string `json:"local"`  // candidate type: host, srflx, prflx or relay
	Remote        string `json:"remote"` // candidate type
	LocalAddress  string `json:"localAddress"`
	RemoteAddress string `json:"remoteAddress"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"` // how a relay candidate reaches TURN
}

func (p CandidatePair) String() string {
	s := fmt.Sprintf("%s %s -> %s %s over %s", p.Local, p.LocalAddress, p.Remote, p.RemoteAddress, p.Protocol)
	if p.RelayProtocol != "" {
		s += " (TURN over " + p.RelayProtocol + ")"
	}
	return s
}

// Path is the pair as "local/relay protocol → remote".
func (p CandidatePair) Path() string {
	local := p.Local
	if p.RelayProtocol != "" {
		local += "/" + p.RelayProtocol
	}
	return local + " → " + p.Remote
}

const (
	// trackPeerConnectionsFn runs before the page's scripts in every
	// document of a tab. It records each RTCPeerConnection the page makes
	// in window.__pcs (the call page keeps its own private), and every
	// state #status takes in window.__states.
	trackPeerConnectionsFn = `() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__pcs) return;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
  window.__states = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id === "status") window.__states.push(r.target.dataset.state);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
}`

	// PhaseJS tells where the page is: "lobby" once Join can be clicked,
	// "starting" before, "call" or "ended", or "other" for a page that is
	// not a call page.
	PhaseJS = `(() => {
  const main = document.getElementById("call");
  if (!main) return "other";
  if (main.dataset.phase !== "lobby") return main.dataset.phase;
  return document.getElementById("join").disabled ? "starting" : "lobby";
})()`

	// StatusJS reads the page's #status contract into a Status.
	StatusJS = `(() => {
  const s = document.getElementById("status");
  return s ? { state: s.dataset.state || "", text: s.textContent } : { state: "", text: "no #status element" };
})()`

	// PeerConnectionCountJS counts the RTCPeerConnections a document made.
	PeerConnectionCountJS = `(window.__pcs || []).length`

	// remoteVideoJS reads how far #remote-video has played. Firefox counts
	// no frames of a MediaStream in getVideoPlaybackQuality but paints
	// them (mozPaintedFrames).
	remoteVideoJS = `(() => {
  const v = document.getElementById("remote-video");
  if (!v) return { width: 0, height: 0, frames: 0, time: 0, paused: true };
  const frames = v.getVideoPlaybackQuality().totalVideoFrames || v.mozPaintedFrames || 0;
  return { width: v.videoWidth, height: v.videoHeight, frames, time: v.currentTime, paused: v.paused };
})()`

	// SelectedPairJS describes the candidate pair ICE selected on the
	// newest connected RTCPeerConnection: Chromium names it in its
	// "transport" stats, Firefox marks it selected.
	SelectedPairJS = `(async () => {
  const pcs = (window.__pcs || []).filter((pc) => pc.connectionState === "connected");
  const pc = pcs[pcs.length - 1];
  if (!pc) throw new Error("no connected RTCPeerConnection among " + (window.__pcs || []).length);
  const stats = await pc.getStats();
  let pair;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  stats.forEach((s) => {
    if (!pair && s.type === "candidate-pair" && (s.selected || s.nominated) && s.state === "succeeded") pair = s;
  });
  if (!pair) throw new Error("no selected candidate pair yet");
  const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
  return {
    local: local.candidateType, remote: remote.candidateType,
    localAddress: local.address + ":" + local.port, remoteAddress: remote.address + ":" + remote.port,
    protocol: local.protocol, relayProtocol: local.relayProtocol || "",
  };
})()`
)

// @ts-check
// How good the call's connection is, from its round trip and loss, and
// when it has been poor long enough to suggest audio only. No DOM.

/** @param {number} rttMs NaN before it is measured @param {number} lossPercent */
export function qualityLevel(rttMs, lossPercent) {
  return rttMs >= 500 || lossPercent >= 8 ? "poor" : rttMs >= 250 || lossPercent >= 2 ? "fair" : "good";
}

// PoorStreak says, once, that the level has been poor for ms on end.
export class PoorStreak {
  constructor(ms = 10000) {
    this.ms = ms;
    this.since = -1; // when the current run of poor samples began
    this.told = false;
  }

  /** @param {string} level @param {number} now ms @returns {boolean} whether to suggest now */
  sample(level, now) {
    if (level !== "poor") {
      this.since = -1;
      return false;
    }
    if (this.since < 0) this.since = now;
    if (this.told || now - this.since < this.ms) return false;
    this.told = true;
    return true;
  }
}

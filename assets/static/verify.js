// @ts-check
// The verification code on the call page: a Verify button in the call bar
// and its panel, filled for each connection. Loaded with the first
// connected call.
import { asciiCode, codeWords, connectionCode } from "./verification.js";

const button = /** @type {HTMLButtonElement} */ (document.getElementById("verify"));
const panel = /** @type {HTMLElement} */ (document.getElementById("verify-panel"));
const words = /** @type {HTMLElement} */ (document.getElementById("verification-code"));
const digits = /** @type {HTMLElement} */ (document.getElementById("verification-digits"));

/** @type {import("./verification.js").Code | null} */
let code = null;

button.onclick = () => toggle();

export function toggle() {
  setOpen(panel.hidden && !button.hidden);
}

/** @param {boolean} open */
function setOpen(open) {
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
}

// Shows the code of pc's DTLS connection: a new connection gets a new
// one; an ICE restart keeps it.
/** @param {RTCPeerConnection} pc */
export async function show(pc) {
  code = await connectionCode(pc);
  render();
}

export function render() {
  button.hidden = !code;
  if (!code) return setOpen(false);
  words.dataset.verificationCode = asciiCode(code);
  words.textContent = codeWords(code, document.documentElement.lang).join(" · ");
  digits.textContent = code.digits.slice(0, 3) + " " + code.digits.slice(3);
}

export function hide() {
  code = null;
  render();
}

// @ts-check
// File transfer on the call page: Send file (F), drag and drop and paste
// onto the call, and a card per transfer in the chat, with its state in
// data-transfer-state. Loaded with the call's "files" channel.
import { say } from "./i18n.js";
import { Transfers, memoryLimit, memorySink } from "./transfer.js";
import { toggleChat, ui } from "./ui.js";

/** @typedef {import("./transfer.js").Transfer} Transfer */

const button = /** @type {HTMLButtonElement} */ (document.getElementById("send-file"));
const input = /** @type {HTMLInputElement} */ (document.getElementById("file-input"));

/** @type {Transfers | null} the current connection's */
let transfers = null;
/** @type {Map<string, {item: HTMLElement, status: HTMLElement, progress: HTMLProgressElement, actions: HTMLElement, drawn: number}>} */
const cards = new Map();

/** @type {Record<string, string>} what a card says, by state (and who ended it) */
const statusKeys = {
  hashing: "file.preparing", offered: "file.waiting", asked: "file.asks", done: "file.received", doneOut: "file.sent",
  declined: "file.declinedByYou", declinedOut: "file.declinedByPeer", cancelledyou: "file.cancelledByYou",
  cancelledpeer: "file.cancelledByPeer", cancelledended: "file.ended", failed: "file.damaged",
};

/** @param {RTCDataChannel} channel the call's "files" channel */
export function attach(channel) {
  const tr = new Transfers(channel);
  transfers = tr;
  // The module may arrive after the channel opened.
  button.hidden = channel.readyState !== "open";
  channel.addEventListener("open", () => (button.hidden = false));
  channel.addEventListener("close", () => {
    if (transfers === tr) button.hidden = true;
  });
  tr.onchange = (x) => draw(tr, x);
  tr.onoffer = () => ui.chat.hidden && toggleChat();
}

/** @param {Iterable<File>} files */
function offer(files) {
  if (!transfers || button.hidden) return;
  for (const file of files) transfers.offer(file);
  if (ui.chat.hidden) toggleChat();
}

button.onclick = () => input.click();
input.onchange = () => {
  offer(input.files || []);
  input.value = "";
};
ui.call.addEventListener("dragover", (e) => {
  if (!button.hidden && e.dataTransfer?.types.includes("Files")) e.preventDefault();
});
ui.call.addEventListener("drop", (e) => {
  if (!e.dataTransfer?.files.length) return;
  e.preventDefault();
  offer(e.dataTransfer.files);
});
document.addEventListener("paste", (e) => {
  if (!e.clipboardData?.files.length || button.hidden) return;
  e.preventDefault();
  offer(e.clipboardData.files);
});
document.addEventListener("keydown", (e) => {
  const target = /** @type {Element} */ (e.target);
  if (e.key.toLowerCase() !== "f" || e.ctrlKey || e.metaKey || e.altKey || e.repeat || button.hidden) return;
  if (target.closest("input, textarea, select") || document.querySelector("dialog[open]")) return;
  e.preventDefault();
  input.click();
});

/** @param {number} n @param {string} unit */
const number = (n, unit) =>
  new Intl.NumberFormat(document.documentElement.lang, { style: "unit", unit, maximumFractionDigits: n < 10 ? 1 : 0 }).format(n);

/** @param {number} bytes */
export function formatSize(bytes) {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
  let i = 0;
  for (; bytes >= 1000 && i < units.length - 1; i++) bytes /= 1000;
  return number(bytes, units[i]);
}

/** @param {number} seconds */
const formatTime = (seconds) => (seconds < 90 ? number(Math.ceil(seconds), "second") : number(Math.ceil(seconds / 60), "minute"));

/** @param {string} key @param {string} action @param {() => void} onclick */
function actionButton(key, action, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.fileAction = action;
  say(b, key);
  b.onclick = onclick;
  return b;
}

/** @param {Transfers} tr @param {Transfer} x */
function draw(tr, x) {
  let c = cards.get(x.id);
  if (!c) {
    const item = document.createElement("li");
    item.className = x.outgoing ? "mine" : "theirs";
    item.dataset.transferId = x.id;
    const who = document.createElement("span");
    who.className = "who";
    say(who, x.outgoing ? "chat.you" : "call.otherPerson");
    const name = document.createElement("p");
    name.textContent = x.name + " · " + formatSize(x.size) + (x.mime ? " · " + x.mime : ""); // text, never HTML
    const progress = document.createElement("progress");
    progress.max = x.size || 1;
    const status = document.createElement("p");
    status.setAttribute("aria-live", "polite");
    const actions = document.createElement("div");
    actions.className = "file-actions";
    item.append(who, name, progress, status, actions);
    ui.messages.append(item);
    ui.messages.scrollTop = ui.messages.scrollHeight;
    c = { item, status, progress, actions, drawn: 0 };
    cards.set(x.id, c);
  }
  const moving = x.state === "sending" || x.state === "receiving";
  const now = performance.now();
  // Progress redraws four times a second; every change of state at once.
  if (moving && c.item.dataset.transferState === x.state && now - c.drawn < 250 && x.bytes < x.size) return;
  c.drawn = now;
  c.item.dataset.transferState = x.state;
  c.progress.hidden = !moving;
  if (moving) {
    const moved = tr.moved(x);
    c.progress.value = moved;
    const speed = moved / Math.max(0.001, (now - x.startedAt) / 1000);
    say(c.status, "file.progress", { done: formatSize(moved), size: formatSize(x.size), speed: formatSize(speed),
      left: speed > 0 ? formatTime((x.size - moved) / speed) : "…" });
  } else {
    const key = x.state + (x.state === "cancelled" ? x.reason : x.outgoing && x.state !== "failed" ? "Out" : "");
    say(c.status, statusKeys[key] || statusKeys[x.state] || "file.preparing");
  }
  c.actions.replaceChildren();
  if (x.state === "asked") {
    const big = x.size > memoryLimit;
    if (big && !savePicker) say(c.status, "file.tooBig", { limit: formatSize(memoryLimit) });
    else c.actions.append(actionButton("file.accept", "accept", () =>
      (big ? diskSink(x.name) : Promise.resolve(memorySink(x.mime))).then((sink) => tr.accept(x.id, sink), () => {})));
    c.actions.append(actionButton("file.decline", "decline", () => tr.decline(x.id)));
  } else if (["hashing", "offered", "sending", "receiving"].includes(x.state)) {
    c.actions.append(actionButton("file.cancel", "cancel", () => tr.cancel(x.id)));
  } else if (x.state === "done" && x.blob) {
    const save = document.createElement("a");
    save.className = "button";
    save.dataset.fileAction = "save";
    save.href = URL.createObjectURL(x.blob);
    save.download = x.name;
    say(save, "file.save");
    c.actions.append(save);
  }
}

// Files over memoryLimit go straight to a file the person picks, where the
// browser can (Chrome and Edge on computers); it is kept only if the hash
// matches (abort discards what was written).
/** @type {((options: object) => Promise<any>) | undefined} */
const savePicker = /** @type {any} */ (window).showSaveFilePicker;

/** @param {string} name @returns {Promise<import("./transfer.js").Sink>} */
async function diskSink(name) {
  const file = await (await /** @type {any} */ (window).showSaveFilePicker({ suggestedName: name })).createWritable();
  return { write: (chunk) => file.write(chunk), close: async () => (await file.close(), null), abort: () => file.abort() };
}

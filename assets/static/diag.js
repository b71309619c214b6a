// @ts-check
// The connection test page: runs the checks (diagchecks.js) and shows
// each, the verdict and a report to copy.
import { DiagSocket, checkMedia, checkNAT, checkRelay, checkSTUN, checkWebSocket, verdict } from "./diagchecks.js";
import { loadMessages, say, t } from "./i18n.js";

/** @typedef {import("./diagchecks.js").Result} Result */

const page = /** @type {HTMLElement} */ (document.getElementById("diag"));
const verdictLine = /** @type {HTMLElement} */ (document.getElementById("verdict"));
const report = /** @type {HTMLTextAreaElement} */ (document.getElementById("report"));
const copyButton = /** @type {HTMLButtonElement} */ (document.getElementById("copy-report"));
const againButton = /** @type {HTMLButtonElement} */ (document.getElementById("run-again"));
const rows = /** @type {HTMLElement[]} */ ([...document.querySelectorAll("[data-check]")]);
const relayChecks = ["turn-udp", "turn-tcp", "turn-tls"];
/** @type {Record<string, string>} */
const outcomeWords = { pass: "diag.result.pass", fail: "diag.result.fail", skipped: "diag.result.skipped" };

/** @type {Record<string, Result>} */
let results = {};

/** @param {string} check @param {Result} r */
function show(check, r) {
  results[check] = r;
  const row = rows.find((el) => el.dataset.check === check);
  if (!row) return;
  row.dataset.result = r.result;
  say(/** @type {HTMLElement} */ (row.querySelector(".detail")), r.key, r.vars);
}

/** @param {Promise<Result>} p a check that may throw */
const settled = (p) => p.catch((err) => ({ result: /** @type {const} */ ("fail"), key: "diag.error", vars: { message: String(err?.message || err) } }));

async function run() {
  copyButton.disabled = againButton.disabled = true;
  results = {};
  for (const row of rows) {
    row.dataset.result = "running";
    say(/** @type {HTMLElement} */ (row.querySelector(".detail")), "diag.running");
  }
  verdictLine.dataset.verdict = "running";
  say(verdictLine, "diag.verdict.running");

  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new DiagSocket(scheme + location.host + "/ws/-/diag");
  const ws = await checkWebSocket(socket);
  show("websocket", ws.result);
  show("media", await settled(checkMedia()));
  const checks = ws.checks || {};
  if (!ws.checks) {
    for (const check of ["stun", "nat", ...relayChecks]) show(check, { result: "skipped", key: "diag.needsServer" });
  } else {
    await Promise.all([
      (async () => {
        const stun = await settled(checkSTUN(checks.stun, socket));
        show("stun", stun);
        show("nat", await settled(checkNAT(checks.nat, stun, socket)));
      })(),
      ...relayChecks.map(async (check) => show(check, await settled(checkRelay(check, checks[check], socket)))),
    ]);
  }
  socket.close();

  const v = verdict(results, checks);
  verdictLine.dataset.verdict = v.verdict;
  verdictLine.textContent = t(v.key, v.vars) + (results.media?.result === "fail" ? " " + t("diag.verdict.media") : "");
  report.value = reportText();
  copyButton.disabled = againButton.disabled = false;
}

// The report in plain text: what someone who runs the server needs, and
// nothing about the person but their browser.
function reportText() {
  const lines = [t("diag.reportHead", { time: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC" }), location.origin, "", verdictLine.textContent, ""];
  for (const row of rows) {
    const r = results[row.dataset.check || ""];
    const title = row.querySelector("h2")?.textContent;
    lines.push(`[${t(outcomeWords[r?.result || ""] || "diag.result.running")}] ${title}: ${r ? t(r.key, r.vars) : ""}`);
  }
  lines.push("", navigator.userAgent);
  return lines.join("\n");
}

copyButton.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(report.value);
  } catch {
    report.select(); // a page without clipboard access: the person copies
    return;
  }
  say(copyButton, "diag.copied");
  setTimeout(() => say(copyButton, "diag.copy"), 2000);
});
againButton.addEventListener("click", run);

await loadMessages(page.dataset.messages || "");
await run();

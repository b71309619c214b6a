// @ts-check
// The page's words. The catalogue (shared with the Go templates) holds
// every language, so switching needs no request.

/** @type {Record<string, Record<string, string>>} */
let catalogue = {};
let lang = document.documentElement.lang;
let clock = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });

/** @param {string} url the catalogue's */
export async function loadMessages(url) {
  catalogue = await (await fetch(url)).json();
}

/** @param {string} key @param {Record<string, string | number>} [vars] */
export function t(key, vars = {}) {
  return catalogue[lang][key].replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

// Keeps the key, for a language switch to say it again.
/** @param {HTMLElement} el @param {string} key @param {Record<string, string | number>} [vars] */
export function say(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
}

// Words that are not ours: a name, a chat message.
/** @param {HTMLElement} el @param {string} text */
export function show(el, text) {
  delete el.dataset.i18n;
  el.textContent = text;
}

const localizedAttributes = [
  ["data-i18n-label", "aria-label"],
  ["data-i18n-placeholder", "placeholder"],
];

/** @param {string} next @returns {string} the other language */
export function setLanguage(next) {
  lang = next;
  document.documentElement.lang = next;
  document.cookie = "lang=" + next + "; path=/; max-age=31536000; samesite=lax";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const d = /** @type {HTMLElement} */ (el).dataset;
    el.textContent = t(d.i18n || "", d.i18nVars && JSON.parse(d.i18nVars));
  }
  for (const [data, attribute] of localizedAttributes) {
    for (const el of document.querySelectorAll("[" + data + "]")) el.setAttribute(attribute, t(el.getAttribute(data) || ""));
  }
  clock = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
  return Object.keys(catalogue).find((l) => l !== next) || next;
}

/** @param {string} l a language of the catalogue */
export function languageName(l) {
  return catalogue[l]["lang.name"];
}

/** @param {Date} date */
export function formatTime(date) {
  return clock.format(date);
}

// @ts-check
/**
 * Building the page from data. Every string becomes a text node or an attribute value, never
 * markup: repository, job and runner names come from strangers.
 */

/** @typedef {string | number | Node | null | undefined | false} Child */
/** @typedef {Record<string, string | number | boolean | null | undefined>} Attrs */

/** @param {Element} el @param {Attrs} attrs @param {(Child | Child[])[]} children */
function fill(el, attrs, children) {
  for (const [name, v] of Object.entries(attrs))
    if (v != null && v !== false) el.setAttribute(name, v === true ? "" : String(v));
  for (const c of children.flat()) if (c != null && c !== false) el.append(typeof c === "object" ? c : String(c));
  return el;
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Attrs} [attrs] @param {(Child | Child[])[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export const h = (tag, attrs = {}, ...children) =>
  /** @type {any} */ (fill(document.createElement(tag), attrs, children));

/** @param {string} tag @param {Attrs} [attrs] @param {(Child | Child[])[]} children @returns {SVGElement} */
export const s = (tag, attrs = {}, ...children) =>
  /** @type {any} */ (fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children));

/** Replaces what an element shows. @param {Element} el @param {(Child | Child[])[]} children */
export function show(el, ...children) {
  el.replaceChildren();
  fill(el, {}, children);
}

/**
 * A table in a horizontally scrolling, keyboard-focusable region (so a phone scrolls the table,
 * not the page); each row's first cell is its row header.
 * @param {string} caption @param {string[]} headers @param {Child[][]} rows @param {string} testid
 */
export function table(caption, headers, rows, testid) {
  const cells = (/** @type {Child[]} */ row) =>
    row.map((c, i) => (i === 0 ? h("th", { scope: "row" }, c) : h("td", {}, c)));
  return h(
    "div",
    { class: "scroll", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      { "data-testid": testid },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ...headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, ...rows.map((row) => h("tr", {}, ...cells(row)))),
    ),
  );
}

/** Terms and their values. @param {[string, Child][]} pairs @param {Attrs} [attrs] */
export const facts = (pairs, attrs = { class: "facts" }) =>
  h("dl", attrs, ...pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "—")]));

/** @param {string} text @param {string} testid */
export const empty = (text, testid) => h("p", { class: "empty", "data-testid": testid }, text);

/** @param {number | null | undefined} usd */
export const money = (usd) => (typeof usd === "number" ? `${usd < 0 ? "-" : ""}$${Math.abs(usd).toFixed(2)}` : "—");

/** @param {number | null | undefined} n */
export const num = (n) => (typeof n === "number" ? String(Math.round(n * 100) / 100) : "—");

/** Seconds as people read them. @param {number | null | undefined} seconds */
export function duration(seconds) {
  if (typeof seconds !== "number") return "—";
  const t = Math.round(seconds);
  if (t < 120) return `${t} s`;
  const [big, unit, rest, restUnit] = t < 7200 ? [t / 60, "min", t % 60, "s"] : [t / 3600, "h", (t / 60) % 60, "min"];
  return `${Math.floor(big)} ${unit}${Math.floor(rest) ? ` ${Math.floor(rest)} ${restUnit}` : ""}`;
}

/** An instant, shown in UTC. @param {string | null | undefined} iso */
export const when = (iso) =>
  iso && !Number.isNaN(Date.parse(iso))
    ? h("time", { datetime: iso }, `${new Date(iso).toISOString().slice(0, 16).replace("T", " ")} UTC`)
    : "—";

/**
 * A link to an https address only (anything else, `javascript:` say, is shown as text) that
 * sends no referrer and gives the page it opens no handle on this one.
 * @param {string | null | undefined} url @param {string} text
 */
export function link(url, text) {
  const href = URL.canParse(url ?? "") ? new URL(url ?? "") : null;
  return href?.protocol === "https:" ? h("a", { href: href.href, rel: "noopener noreferrer" }, text) : text;
}

// @ts-check
/**
 * The router's JSON API, on the page's own origin. The API token is kept in sessionStorage: it
 * lasts as long as the tab, is never put in a URL or a cookie, and goes only to this origin, as
 * `Authorization: Bearer`.
 */

const KEY = "ci-router-api-token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  /** @param {string} value */
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

const ORGANISATION_KEY = "ci-router-organisation";

/**
 * The organisation whose Ledger the panels read, chosen when the router serves several (kept for
 * the tab, like the token); none for a router of one organisation, which needs no choice.
 */
export const organisation = {
  get: () => sessionStorage.getItem(ORGANISATION_KEY),
  /** @param {string} value */
  set: (value) => sessionStorage.setItem(ORGANISATION_KEY, value),
  clear: () => sessionStorage.removeItem(ORGANISATION_KEY),
};

/**
 * `path` with the organisation chosen, for the endpoints that read one organisation's Ledger.
 * @param {string} path
 */
export function scoped(path) {
  const chosen = organisation.get();
  if (!chosen) return path;
  return `${path}${path.includes("?") ? "&" : "?"}organisation=${encodeURIComponent(chosen)}`;
}

/** A non-2xx answer: its status, and the code and message of the API's `{"error":{…}}`. */
export class ApiError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? "";
    this.body = body;
  }
}

/**
 * GET a path of this origin with the token given, else the one kept; its JSON.
 * @param {string} path @param {string | null} [bearer]
 * @returns {Promise<any>}
 */
export async function get(path, bearer = token.get()) {
  const headers = new Headers({ accept: "application/json" });
  if (bearer) headers.set("authorization", `Bearer ${bearer}`);
  const res = await fetch(path, { headers, credentials: "omit", cache: "no-store" });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/** A query string of the parameters that have a value. @param {Record<string, string | number | null>} params */
export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== null && value !== "") q.set(name, String(value));
  return q.size === 0 ? "" : `?${q}`;
}

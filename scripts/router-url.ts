import { isLoopbackHost, LOOPBACK_HOSTS } from "../worker/src/core/names.ts";

/**
 * A running router's base URL as a command takes it from a flag (`--url`, `--publish`). Requests
 * to it carry the API token, so plain http is taken only for this machine; a query, fragment or
 * credentials are refused, and a path prefix is kept (for a router behind one). Answers the URL,
 * or the message saying why not.
 */
export function parseRouterUrl(text: string, flag: string): { url: URL } | { error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `${flag} must be the router's base URL, e.g. http://127.0.0.1:8787 (got "${text}")` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { error: `${flag} must be an http(s) URL (got ${url.protocol})` };
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return {
      error: `${flag} ${url.origin}: the API token is not sent over plain http except to ${LOOPBACK_HOSTS.join(", ")}; use https`,
    };
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return { error: `${flag} must be a base URL, without credentials, query or fragment` };
  }
  return { url };
}

/** `path` (e.g. `/fleet`) under the router's base URL, its path prefix kept. */
export function routerEndpoint(router: URL, path: string): URL {
  return new URL(`${router.pathname.replace(/\/+$/, "")}${path}`, router);
}

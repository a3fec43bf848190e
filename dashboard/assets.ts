import { rmSync } from "node:fs";
import { cp, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The operator dashboard: static files served as the Worker's static assets, so a page load
 * costs no Worker CPU and the Worker's bundle does not carry the page. Requests that match no
 * file (every API path) reach the Worker.
 */
export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), "public");

/**
 * Nothing external: scripts, styles, images and requests only from the page's own origin, no
 * inline script or style, no framing, no referrer. The page reads names chosen by strangers
 * (repositories, job names, errors), so the policy is the second line behind textContent.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The response headers of every dashboard file. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

/** The same headers as a Cloudflare `_headers` file, for a deployed Worker's assets. */
export function headersFile(): string {
  const lines = Object.entries(DASHBOARD_HEADERS).map(([name, value]) => `  ${name}: ${value}`);
  return ["/*", ...lines, ""].join("\n");
}

/** The file of an asset directory that Cloudflare and Miniflare read its headers from; never served. */
export const HEADERS_FILE = "_headers";

/**
 * A copy of the dashboard in a temporary directory, with {@link headersFile} as its `_headers`,
 * for Miniflare: it takes an asset directory's headers only from that file (its
 * `assetConfig.headers` option is not passed on), and the headers keep one definition, here.
 */
export async function stageDashboard(): Promise<{ directory: string; remove: () => void }> {
  const directory = await mkdtemp(join(tmpdir(), "ci-router-dashboard-"));
  await cp(DASHBOARD_DIR, directory, { recursive: true });
  await writeFile(join(directory, HEADERS_FILE), headersFile());
  // Also removed at exit: on SIGINT and SIGTERM Miniflare ends the process itself, before any
  // asynchronous stop could finish.
  const remove = () => {
    process.off("exit", remove);
    rmSync(directory, { recursive: true, force: true });
  };
  process.on("exit", remove);
  return { directory, remove };
}

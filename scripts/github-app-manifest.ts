/**
 * `npm run github-app-manifest -- --url https://ROUTER [options]`: writes the page that registers
 * the router's GitHub App through GitHub's manifest flow. The manifest is github-app.json with
 * the router's addresses filled in (its homepage, its webhook, and where GitHub sends the
 * browser with the one-time code); the page is one form that posts it to GitHub, with nothing
 * loaded from elsewhere and no script. The code is exchanged for the App's id, private key and
 * webhook secret with curl, as docs/github-app.md shows: this command calls nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isOwner } from "../worker/src/core/index.ts";
import { ROOT } from "./bundle.ts";

/** The App's manifest, as committed: permissions and events, with placeholder addresses. */
export const MANIFEST_PATH = join(ROOT, "github-app.json");
/** Where the page is written without `--out` (dist/ is not committed). */
export const DEFAULT_PAGE = join(ROOT, "dist/github-app.html");
/** GitHub refuses an App name longer than this. */
export const MAX_APP_NAME = 34;
/** The path GitHub delivers the App's webhook to: the Worker's webhook route. */
export const WEBHOOK_PATH = "/webhook/github";
/**
 * Where GitHub sends the browser after the App is created, with `?code=…&state=…`: the router's
 * public health answer, which reads no query, so the code is only shown in the address bar.
 */
export const REDIRECT_PATH = "/health";

/** GitHub's manifest parameters, the ones the router's manifest uses. */
export interface AppManifest {
  name: string;
  url: string;
  description?: string;
  hook_attributes: { url: string; active?: boolean };
  redirect_url: string;
  public: boolean;
  default_permissions: Record<string, "read" | "write">;
  default_events: string[];
}

/** A problem with what the user asked for: reported on stderr, exit code 2. */
export class ManifestPageError extends Error {
  override name = "ManifestPageError";
}

export interface ManifestPageIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Where INIT_CWD is read (default: process.env): a relative `--out` is taken from where npm was run. */
  env?: Record<string, string | undefined>;
  /** The process's working directory (default: process.cwd()); INIT_CWD takes precedence. */
  cwd?: string;
  /** The page's `state` (default: 16 random bytes, hex): a test fixes it. */
  state?: string;
}

export const OPTIONS = {
  url: { type: "string" },
  org: { type: "string" },
  name: { type: "string" },
  out: { type: "string" },
  github: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const USAGE = `Usage: npm run github-app-manifest -- --url https://ROUTER [options]

Writes a page that registers the router's GitHub App with GitHub's manifest flow: open it in a
browser and press its button. See docs/github-app.md for the whole setup.

Options:
  --url URL      the router's base URL, https:// and without a path (the stack output apiUrl:
                 pulumi stack output apiUrl --stack staging)
  --org ORG      register the App under this organization (default: under your personal account)
  --name NAME    the App's name, at most ${MAX_APP_NAME} characters and unique across GitHub; GitHub's page
                 lets you change it (default: the name in github-app.json)
  --out FILE     where to write the page (default: dist/github-app.html in the repository)
  --github URL   GitHub's address, for GitHub Enterprise Server (default: https://github.com)
  -h, --help     show this help
`;

/** Runs the command; returns its exit code. Never throws for a user's mistake. */
export async function githubAppManifest(argv: readonly string[], io: ManifestPageIO): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    if (error instanceof ManifestPageError) {
      io.stderr.write(`github-app-manifest: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

async function run(argv: readonly string[], io: ManifestPageIO): Promise<number> {
  let values: ReturnType<typeof parse>;
  try {
    values = parse(argv);
  } catch (error) {
    throw new ManifestPageError(
      `${error instanceof Error ? error.message : String(error)}\nRun with --help for usage.`,
    );
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (values.url === undefined) throw new ManifestPageError("--url is required\nRun with --help for usage.");
  const router = baseUrl(values.url, "--url");
  const github = values.github === undefined ? "https://github.com" : baseUrl(values.github, "--github");
  if (values.org !== undefined && !isOwner(values.org)) {
    throw new ManifestPageError(`--org must be a GitHub organization name (got "${values.org}")`);
  }
  const template = await readManifest();
  const name = values.name ?? template.name;
  if (name.trim() === "" || name.length > MAX_APP_NAME) {
    throw new ManifestPageError(`--name must be 1 to ${MAX_APP_NAME} characters, GitHub's limit (got "${name}")`);
  }

  const env = io.env ?? process.env;
  const from = resolve(io.cwd ?? process.cwd(), env.INIT_CWD || ".");
  const out = values.out === undefined ? DEFAULT_PAGE : resolve(from, values.out);
  const state = io.state ?? randomBytes(16).toString("hex");
  const manifest = manifestFor(template, router, name);
  const action = registrationUrl(github, values.org ?? null, state);

  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, manifestPage(manifest, { action, account: values.org ?? null }));
  const shown = relative(from, out) || out;
  io.stdout.write(
    [
      `Wrote ${shown.startsWith("..") ? out : shown}. Open it in a browser and press "Register on GitHub".`,
      `GitHub then sends the browser to ${manifest.redirect_url}?code=…&state=${state}`,
      "Check that the state matches, and exchange the code (it works once, within an hour) for the App's",
      "id, private key and webhook secret:",
      "",
      `  curl -fsS -X POST -H "Accept: application/vnd.github+json" \\`,
      `    ${conversionUrl(github)} -o app.json`,
      "",
      "Then set the stack's githubApp from app.json: see docs/github-app.md.",
      "",
    ].join("\n"),
  );
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
}

/**
 * An https:// base URL without a path, query, fragment or credentials. GitHub delivers to the
 * webhook at a fixed path on the router's host, and the Pulumi program serves the router at the
 * root of its host.
 */
function baseUrl(text: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ManifestPageError(`${flag} must be a URL, e.g. https://ci.example.com (got "${text}")`);
  }
  if (url.protocol !== "https:") {
    throw new ManifestPageError(`${flag} must be an https:// URL (got "${text}")`);
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "" || url.pathname !== "/") {
    throw new ManifestPageError(
      `${flag} must be a bare https:// origin, without a path, query, fragment or credentials (got "${text}")`,
    );
  }
  return url.origin;
}

/** github-app.json, parsed. */
export async function readManifest(path = MANIFEST_PATH): Promise<AppManifest> {
  return JSON.parse(await readFile(path, "utf8")) as AppManifest;
}

/** The manifest for the router at `router` (an origin): its homepage, webhook and redirect. */
export function manifestFor(template: AppManifest, router: string, name = template.name): AppManifest {
  return {
    ...template,
    name,
    url: router,
    hook_attributes: { ...template.hook_attributes, url: `${router}${WEBHOOK_PATH}` },
    redirect_url: `${router}${REDIRECT_PATH}`,
  };
}

/** Where the manifest is posted: a personal account's or an organization's new-App page, with `state`. */
export function registrationUrl(github: string, org: string | null, state: string): string {
  const path = org === null ? "/settings/apps/new" : `/organizations/${encodeURIComponent(org)}/settings/apps/new`;
  return `${github}${path}?state=${encodeURIComponent(state)}`;
}

/** The conversion endpoint the code is exchanged at (GitHub Enterprise Server serves its API under /api/v3). */
export function conversionUrl(github: string): string {
  const api = github === "https://github.com" ? "https://api.github.com" : `${github}/api/v3`;
  return `${api}/app-manifests/CODE/conversions`;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const html = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

/**
 * The page: what will be registered, and one form posting the manifest as GitHub's `manifest`
 * parameter. It sends no referrer, so the page's own location never reaches GitHub.
 */
export function manifestPage(manifest: AppManifest, options: { action: string; account: string | null }): string {
  const permissions = Object.entries(manifest.default_permissions)
    .map(([permission, level]) => `<li><code>${html(permission)}</code>: ${html(level)}</li>`)
    .join("\n        ");
  const events = manifest.default_events.map((event) => `<code>${html(event)}</code>`).join(", ");
  const owner = options.account === null ? "your personal account" : `the organization ${html(options.account)}`;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="referrer" content="no-referrer">
    <title>Register ${html(manifest.name)} on GitHub</title>
  </head>
  <body>
    <h1>Register ${html(manifest.name)} on GitHub</h1>
    <p>A private GitHub App under ${owner}, delivering to <code>${html(manifest.hook_attributes.url)}</code>.
      GitHub shows the name to confirm (it must be unique across GitHub), then creates the App and sends this
      browser to <code>${html(manifest.redirect_url)}</code> with a one-time <code>code</code> in the address.</p>
    <dl>
      <dt>Permissions</dt>
      <dd><ul>
        ${permissions}
      </ul></dd>
      <dt>Events</dt>
      <dd>${events} (GitHub also sends every App its <code>installation</code> and <code>installation_repositories</code> events)</dd>
    </dl>
    <form action="${html(options.action)}" method="post">
      <input type="hidden" name="manifest" value="${html(JSON.stringify(manifest))}">
      <button type="submit">Register on GitHub</button>
    </form>
  </body>
</html>
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await githubAppManifest(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
}

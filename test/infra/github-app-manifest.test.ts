import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WEBHOOK_EVENTS } from "../../infra/router.ts";
import { ROOT } from "../../scripts/bundle.ts";
import {
  type AppManifest,
  DEFAULT_PAGE,
  githubAppManifest,
  MANIFEST_PATH,
  MAX_APP_NAME,
  USAGE,
} from "../../scripts/github-app-manifest.ts";
import { HANDLED_EVENTS } from "../../worker/src/core/events.ts";

/**
 * github-app.json, the events the Worker handles and the tables of docs/github-app.md say the
 * same thing: a permission or event added to one and not the others fails here.
 */

const manifest = JSON.parse(readFileSync(MANIFEST_PATH, "utf8")) as AppManifest;
const doc = readFileSync(join(ROOT, "docs/github-app.md"), "utf8");

/** Events GitHub sends a GitHub App without its subscribing: the webhook's ping and the App's own installation events. */
const SENT_UNASKED = ["ping", "installation", "installation_repositories"];

/** The cells of each row of the table under `## heading` whose first cell is code. */
function tableRows(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  expect(start, `docs/github-app.md has a "## ${heading}" section`).toBeGreaterThan(-1);
  const rest = doc.slice(start + heading.length + 5);
  const end = rest.search(/\n## /);
  const section = end === -1 ? rest : rest.slice(0, end);
  const rows = section
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .map((line) =>
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  expect(rows.length, `the "${heading}" table has rows`).toBeGreaterThan(0);
  return rows;
}

/** The text of the first `code` span in a cell. */
const code = (cell: string | undefined) => /`([^`]+)`/.exec(cell ?? "")?.[1] ?? "";

describe("github-app.json", () => {
  it("is a GitHub App manifest of the shape the manifest flow takes", () => {
    expect(Object.keys(manifest).sort()).toEqual(
      [
        "default_events",
        "default_permissions",
        "description",
        "hook_attributes",
        "name",
        "public",
        "redirect_url",
        "url",
      ].sort(),
    );
    expect(manifest.name.length).toBeGreaterThan(0);
    expect(manifest.name.length).toBeLessThanOrEqual(MAX_APP_NAME);
    expect(manifest.url).toMatch(/^https:\/\/[a-z0-9.-]+$/);
    expect(manifest.hook_attributes).toEqual({ url: `${manifest.url}/webhook/github`, active: true });
    expect(manifest.redirect_url).toBe(`${manifest.url}/health`);
    expect(manifest.public).toBe(false);
    for (const level of Object.values(manifest.default_permissions)) expect(["read", "write"]).toContain(level);
    expect(new Set(manifest.default_events).size).toBe(manifest.default_events.length);
  });

  it("subscribes to exactly the events the Worker handles, less those GitHub sends every App unasked", () => {
    const subscribable = HANDLED_EVENTS.filter((event) => !SENT_UNASKED.includes(event));
    expect([...manifest.default_events].sort()).toEqual([...subscribable].sort());
    // A repository webhook's events, and workflow_dispatch, which only an App can subscribe to.
    expect([...manifest.default_events].sort()).toEqual([...WEBHOOK_EVENTS, "workflow_dispatch"].sort());
  });

  it("asks for exactly the permissions docs/github-app.md lists, at the levels it gives", () => {
    const documented = Object.fromEntries(tableRows("Permissions").map((row) => [code(row[0]), row[1]]));
    expect(documented).toEqual(manifest.default_permissions);
    // Every row says what needs it and which call: a permission is never listed without a reason.
    for (const row of tableRows("Permissions")) {
      expect(row).toHaveLength(4);
      expect(row[2]?.length).toBeGreaterThan(0);
      expect(row[3]?.length).toBeGreaterThan(0);
    }
  });

  it("lists the same events as docs/github-app.md, each with the permission GitHub asks to subscribe to it", () => {
    const rows = tableRows("Events");
    expect(rows.map((row) => code(row[0])).sort()).toEqual([...manifest.default_events].sort());
    for (const row of rows) {
      const permission = code(row[1]);
      expect(manifest.default_permissions, `${code(row[0])} needs ${permission}`).toHaveProperty(permission);
    }
  });
});

describe("npm run github-app-manifest", () => {
  const dir = mkdtempSync(join(tmpdir(), "github-app-manifest-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(argv: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await githubAppManifest(argv, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: { INIT_CWD: dir },
      state: "state-for-test",
    });
    return { code, stdout, stderr };
  }

  /** The form's action and the manifest it posts, read back out of the page. */
  function form(page: string): { action: string; manifest: AppManifest } {
    const action = /<form action="([^"]+)" method="post">/.exec(page)?.[1];
    const value = /<input type="hidden" name="manifest" value="([^"]*)">/.exec(page)?.[1];
    if (action === undefined || value === undefined) throw new Error("the page has no manifest form");
    const decoded = (html: string) =>
      html
        .replaceAll("&quot;", '"')
        .replaceAll("&#39;", "'")
        .replaceAll("&lt;", "<")
        .replaceAll("&gt;", ">")
        .replaceAll("&amp;", "&");
    return { action: decoded(action), manifest: JSON.parse(decoded(value)) as AppManifest };
  }

  it("writes a page whose one form posts the manifest with the router's addresses to the organization's new-App page", async () => {
    const { code, stdout, stderr } = await run(["--url", "https://ci.acme.dev", "--org", "acme", "--out", "app.html"]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const page = readFileSync(join(dir, "app.html"), "utf8");
    const posted = form(page);
    expect(posted.action).toBe("https://github.com/organizations/acme/settings/apps/new?state=state-for-test");
    expect(posted.manifest).toEqual({
      ...manifest,
      url: "https://ci.acme.dev",
      hook_attributes: { url: "https://ci.acme.dev/webhook/github", active: true },
      redirect_url: "https://ci.acme.dev/health",
    });
    // Self-contained: nothing is loaded from elsewhere, and nothing runs.
    expect(page).not.toMatch(/<script|<link|src=/);
    expect(page).toContain('<meta name="referrer" content="no-referrer">');
    expect(stdout).toContain("https://ci.acme.dev/health?code=…&state=state-for-test");
    expect(stdout).toContain("https://api.github.com/app-manifests/CODE/conversions -o app.json");
  });

  it("registers under the personal account without --org, with the name given, and escapes it in the page", async () => {
    const { code } = await run(["--url", "https://ci.acme.dev/", "--name", `acme "ci" <router>`, "--out", "p.html"]);
    expect(code).toBe(0);
    const page = readFileSync(join(dir, "p.html"), "utf8");
    expect(page).not.toContain("<router>");
    const posted = form(page);
    expect(posted.action).toBe("https://github.com/settings/apps/new?state=state-for-test");
    expect(posted.manifest.name).toBe(`acme "ci" <router>`);
  });

  it("points GitHub Enterprise Server's flow and conversion at its own host", async () => {
    const { code, stdout } = await run([
      "--url",
      "https://ci.acme.dev",
      "--github",
      "https://ghe.acme.dev",
      "--out",
      "ghe.html",
    ]);
    expect(code).toBe(0);
    expect(form(readFileSync(join(dir, "ghe.html"), "utf8")).action).toBe(
      "https://ghe.acme.dev/settings/apps/new?state=state-for-test",
    );
    expect(stdout).toContain("https://ghe.acme.dev/api/v3/app-manifests/CODE/conversions");
  });

  it.each([
    [[], "--url is required"],
    [["--url", "http://ci.acme.dev"], '--url must be an https:// URL (got "http://ci.acme.dev")'],
    [["--url", "ci.acme.dev"], '--url must be a URL, e.g. https://ci.example.com (got "ci.acme.dev")'],
    [["--url", "https://ci.acme.dev/router"], "--url must be a bare https:// origin, without a path"],
    [["--url", "https://ci.acme.dev?x=1"], "--url must be a bare https:// origin"],
    [
      ["--url", "https://ci.acme.dev", "--org", "not an org"],
      '--org must be a GitHub organization name (got "not an org")',
    ],
    [["--url", "https://ci.acme.dev", "--name", "x".repeat(MAX_APP_NAME + 1)], "--name must be 1 to 34 characters"],
    [["--url", "https://ci.acme.dev", "--name", " "], "--name must be 1 to 34 characters"],
    [["--url", "https://ci.acme.dev", "--github", "http://ghe.acme.dev"], "--github must be an https:// URL"],
    [["--url", "https://ci.acme.dev", "--colour"], "Unknown option '--colour'"],
  ])("refuses %j with exit code 2, naming the problem, and writes nothing", async (argv, message) => {
    const out = join(dir, `refused-${Math.random().toString(36).slice(2)}.html`);
    const { code, stdout, stderr } = await run([...argv, "--out", out]);
    expect(code).toBe(2);
    expect(stderr).toContain(`github-app-manifest: ${message}`);
    expect(stdout).toBe("");
    expect(existsSync(out)).toBe(false);
  });

  it("prints its usage with --help and writes nothing", async () => {
    const { code, stdout } = await run(["--help"]);
    expect({ code, stdout }).toEqual({ code: 0, stdout: USAGE });
    expect(USAGE).toContain("--url URL");
  });

  it("writes into dist/ without --out, which is not committed", () => {
    expect(DEFAULT_PAGE).toBe(join(ROOT, "dist/github-app.html"));
    expect(readFileSync(join(ROOT, ".gitignore"), "utf8").split("\n")).toContain("dist/");
  });
});

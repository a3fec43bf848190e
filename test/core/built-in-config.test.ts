/**
 * The routing configuration the Pulumi program builds into a deployed bundle (a Worker variable
 * holds at most 5 KB): the Worker and its Ledger route with it when ROUTING_CONFIG is not bound,
 * and a bound ROUTING_CONFIG wins. Runs the bundle under Miniflare on loopback.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleWorker, ROOT } from "../../scripts/bundle.ts";
import { LOCAL_DEFAULTS, localWorkerOptions } from "../../scripts/local-worker.ts";
import { SECRET_NAMES, VAR_NAMES } from "../../worker/src/bindings.ts";

// Over 5 KB, as a real organisation's overrides get: 100 repositories sent to kvm2.
const repositories = Object.fromEntries(
  Array.from({ length: 100 }, (_, i) => [`acme/service-${i}`, { assign: { default: "kvm2", lightweight: "kvm2" } }]),
);
const BUILT_IN = JSON.stringify({ repositories });

let dir: string;
let bundlePath: string;
const running: Miniflare[] = [];

beforeAll(async () => {
  // Inside the project: Miniflare resolves a module Worker's path from where it runs.
  await mkdir(join(ROOT, "dist"), { recursive: true });
  dir = await mkdtemp(join(ROOT, "dist", "built-in-config-"));
  bundlePath = join(dir, "index.js");
  await bundleWorker(bundlePath, { routingConfig: BUILT_IN });
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((mf) => mf.dispose()));
  await rm(dir, { recursive: true, force: true });
});

async function serve(bindings: Record<string, string>): Promise<string> {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      modules: true,
      scriptPath: bundlePath,
      ...localWorkerOptions(bindings),
    }),
  );
  running.push(mf);
  return (await mf.ready).href.replace(/\/$/, "");
}

/** A signed push of one changed file; the decision the webhook answers with. */
async function pushTo(url: string, repository: string): Promise<{ runner: string }> {
  const body = JSON.stringify({
    ref: "refs/heads/feature",
    before: "1".repeat(40),
    after: "2".repeat(40),
    repository: { full_name: repository },
    commits: [{ id: "2".repeat(40), added: ["src/app.ts"], removed: [], modified: [] }],
  });
  const res = await fetch(`${url}/webhook/github`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": await sign(LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret], body),
    },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { decision: { runner: string } }).decision;
}

describe("a routing configuration built into the bundle", () => {
  it("is over the 5 KB a Worker variable may hold", () => {
    expect(BUILT_IN.length).toBeGreaterThan(5 * 1024);
  });

  it("routes the Worker's and the Ledger's decisions when ROUTING_CONFIG is not bound", async () => {
    const url = await serve({ ...LOCAL_DEFAULTS });
    expect((await pushTo(url, "acme/service-7")).runner).toBe("kvm2");
    expect((await pushTo(url, "acme/other")).runner).toBe("vps");
  }, 60_000);

  it("gives way to a bound ROUTING_CONFIG", async () => {
    const url = await serve({ ...LOCAL_DEFAULTS, [VAR_NAMES.routingConfig]: "{}" });
    expect((await pushTo(url, "acme/service-7")).runner).toBe("vps");
  }, 60_000);
});

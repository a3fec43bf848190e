/**
 * Several organisations in one deployment: each repository owner's deliveries, route requests
 * and operator reads go to its own Ledger (the first organisation's is the directory's instance,
 * `ledger`; every later one's `org:<login>`), so their builds, fleets, metrics and costs never
 * mix. Run on the Worker's source under a LEDGER namespace that records every call by instance
 * and method, so what the directory costs is counted too. Each test starts with new storage,
 * and the isolate's memory of assignments is forgotten with it.
 */

import {
  createExecutionContext,
  createScheduledController,
  listDurableObjectIds,
  reset,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../../worker/src/app.ts";
import { SECRET_NAMES } from "../../worker/src/bindings.ts";
import { MAX_ORGANISATIONS, SCHEDULED_ORGANISATIONS } from "../../worker/src/core/index.ts";
import { forgetInstallation, lastInstallationOf } from "../../worker/src/github-app.ts";
import { forgetOrganisations } from "../../worker/src/ledger.ts";
import { reconcile, scheduled } from "../../worker/src/scheduled.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import {
  type Answer,
  call,
  deliver,
  expectError,
  expectRouted,
  type Fetch,
  pushPayload,
  randomSha,
  workflowJobPayload,
} from "./helpers.ts";
import { newJobId, Scrape } from "./observability.ts";

const ACME = "acme/app";
const GLOBEX = "globex/site";

/** Every call made through the namespace, as `instance.method`, in order. */
let calls: string[];
let bindings: Cloudflare.Env;
let via: Fetch;

/** `env.LEDGER` with every call on a stub recorded under the instance's name. */
function countedNamespace(into: string[]): Cloudflare.Env["LEDGER"] {
  const names = new Map<string, string>();
  return {
    idFromName: (name: string) => {
      const id = env.LEDGER.idFromName(name);
      names.set(id.toString(), name);
      return id;
    },
    get: (id: DurableObjectId) => {
      const stub = env.LEDGER.get(id);
      const name = names.get(id.toString()) ?? id.toString();
      return new Proxy(stub, {
        get(object, property) {
          const value = Reflect.get(object, property);
          if (typeof value !== "function" || typeof property !== "string") return value;
          return (...args: unknown[]) => {
            into.push(`${name}.${property}`);
            return Reflect.apply(value, object, args);
          };
        },
      });
    },
  } as unknown as Cloudflare.Env["LEDGER"];
}

/** The Worker's source under `overrides` and the counted namespace. */
function rig(overrides: Partial<Cloudflare.Env> = {}): { bindings: Cloudflare.Env; via: Fetch } {
  const bound = { ...env, ...overrides, LEDGER: countedNamespace(calls) } as Cloudflare.Env;
  return {
    bindings: bound,
    via: async (request) => {
      const ctx = createExecutionContext();
      const response = await app.fetch(request, bound, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    },
  };
}

beforeEach(async () => {
  await reset();
  forgetOrganisations();
  calls = [];
  ({ bindings, via } = rig());
});

afterEach(() => {
  vi.restoreAllMocks();
});

const instance = (name: string) => env.LEDGER.get(env.LEDGER.idFromName(name));

/** Rows of a query in the Ledger instance `name`. */
async function rowsIn<T>(name: string, query: string, ...params: (string | number)[]): Promise<T[]> {
  return runInDurableObject(instance(name), (_i, state) => state.storage.sql.exec(query, ...params).toArray() as T[]);
}

/** The names of the Ledger instances that exist, of those given. */
async function instancesOf(names: string[]): Promise<string[]> {
  const ids = await listDurableObjectIds(env.LEDGER);
  return names.filter((name) => ids.some((id) => id.equals(env.LEDGER.idFromName(name))));
}

const get = <T = Record<string, unknown>>(path: string): Promise<Answer<T>> => call<T>(path, { via });

async function push(repository: string, files = ["Dockerfile"]): Promise<{ build_id: string; sha: string }> {
  const sha = randomSha();
  const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha, files }), { via }));
  return { build_id, sha };
}

async function job(
  repository: string,
  sha: string,
  action: "queued" | "in_progress" | "completed",
  ids: { id: number; runId: number },
  runnerName: string,
): Promise<void> {
  const payload = workflowJobPayload({ repository, sha, action, ...ids, runnerName, labels: ["self-hosted", "vps"] });
  const res = await deliver("workflow_job", payload, { via });
  expect(res.status, res.text).toBe(202);
}

const machinesOf = (body: { classes: Record<string, { machines: { name: string }[] }> }) =>
  Object.values(body.classes).flatMap((c) => c.machines.map((m) => m.name));

/** A document `npm run simulate -- --json` could have written. */
const SIMULATION = {
  trace: { commits: 4, jobs: 12, start: "2026-11-01T00:00:00Z", end: "2026-11-08T00:00:00Z", source: "synthetic" },
  figures: [{ policy: "router", router: "tree", cost_usd: 1.5, baseline_usd: 4, queue_p50_s: 10, queue_p95_s: 95 }],
};

/** Every operator endpoint that reads one organisation's Ledger, with a query it takes. */
function scopedEndpoints(buildId: string): { path: string; init?: RequestInit }[] {
  return [
    { path: `/status?build_id=${buildId}` },
    { path: "/fleet" },
    { path: "/metrics" },
    { path: "/costs?period=1d" },
    { path: "/builds?limit=5" },
    { path: `/builds/${buildId}/graph` },
    { path: "/queue?hours=2" },
    { path: "/alerts?limit=5" },
    { path: "/learned?repository=other/repo" },
    { path: "/forecast?hours=2" },
    { path: "/installations" },
    { path: "/simulation" },
    {
      path: "/simulation",
      init: { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(SIMULATION) },
    },
  ];
}

/** `path` with `organisation` added to its query. */
const withOrganisation = (path: string, organisation: string) =>
  `${path}${path.includes("?") ? "&" : "?"}organisation=${organisation}`;

describe("two organisations, deliveries interleaved", () => {
  it("never mix: each one's fleet, costs, metrics and builds are its own, in its own Ledger", async () => {
    const a = await push(ACME);
    const g = await push(GLOBEX);
    const ja = { id: newJobId(), runId: newJobId() };
    const jg = { id: newJobId(), runId: newJobId() };
    for (const action of ["queued", "in_progress"] as const) {
      await job(GLOBEX, g.sha, action, jg, "globex-box");
      await job(ACME, a.sha, action, ja, "acme-box");
    }

    // Running now: each organisation's fleet has its own machine only.
    const fleetA = await get<Parameters<typeof machinesOf>[0]>("/fleet?organisation=acme");
    const fleetG = await get<Parameters<typeof machinesOf>[0]>("/fleet?organisation=GloBex");
    expect(fleetA.status, fleetA.text).toBe(200);
    expect(machinesOf(fleetA.body)).toContain("acme-box");
    expect(machinesOf(fleetA.body)).not.toContain("globex-box");
    expect(machinesOf(fleetG.body)).toContain("globex-box");
    expect(machinesOf(fleetG.body)).not.toContain("acme-box");

    await job(ACME, a.sha, "completed", ja, "acme-box");
    await job(GLOBEX, g.sha, "completed", jg, "globex-box");

    for (const [organisation, repository, build] of [
      ["acme", ACME, a.build_id],
      ["globex", GLOBEX, g.build_id],
    ] as const) {
      const costs = await get<{ by_repository: Record<string, { jobs: number }>; totals: { jobs: number } }>(
        `/costs?period=1d&organisation=${organisation}`,
      );
      expect(costs.status, costs.text).toBe(200);
      expect(Object.keys(costs.body.by_repository)).toEqual([repository]);
      expect(costs.body.totals.jobs).toBe(1);

      const list = await get<{ builds: { build_id: string; repository: string }[] }>(
        `/builds?organisation=${organisation}`,
      );
      expect(list.body.builds.map((b) => [b.build_id, b.repository])).toEqual([[build, repository]]);

      const metrics = await get<string>(`/metrics?organisation=${organisation}`);
      expect(metrics.status).toBe(200);
      const scrape = new Scrape(metrics.text);
      expect(scrape.value("deliveries", { event: "push", outcome: "accepted" })).toBe(1);
      expect(scrape.value("deliveries", { event: "workflow_job", outcome: "accepted" })).toBe(3);
    }

    // The first organisation is the directory's own Ledger; the second has one of its own.
    expect(await rowsIn("ledger", "SELECT repository FROM builds")).toEqual([{ repository: ACME }]);
    expect(await rowsIn("org:globex", "SELECT repository FROM builds")).toEqual([{ repository: GLOBEX }]);
    expect(await rowsIn("org:globex", "SELECT COUNT(*) AS n FROM organisations")).toEqual([{ n: 0 }]);

    // A build of one organisation is not another's, live or from its KV copy.
    expect((await get(`/status?build_id=${g.build_id}&organisation=globex`)).body).toMatchObject({
      repository: GLOBEX,
    });
    expectError(await get(`/status?build_id=${g.build_id}&organisation=acme`), 404, "build_not_found");
    expectError(await get(`/builds/${g.build_id}/graph?organisation=acme`), 404, "build_not_found");
    // The live record gone, the KV copy is still only globex's.
    await runInDurableObject(instance("org:globex"), (_i, state) => {
      state.storage.sql.exec("DELETE FROM builds");
    });
    expect((await get(`/status?build_id=${g.build_id}&organisation=globex`)).status).toBe(200);
    expectError(await get(`/status?build_id=${g.build_id}&organisation=acme`), 404, "build_not_found");

    // GET /organisations: both, by name.
    const listed = await get<{
      total: number;
      organisations: { organisation: string; ledger: string; first_seen: string }[];
    }>("/organisations");
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.total).toBe(2);
    expect(listed.body.organisations.map(({ organisation, ledger }) => [organisation, ledger])).toEqual([
      ["acme", "ledger"],
      ["globex", "org:globex"],
    ]);
    for (const entry of listed.body.organisations) {
      expect(Date.parse(entry.first_seen)).toBeGreaterThan(Date.now() - 60_000);
    }
  });

  it("without ?organisation= every Ledger-reading endpoint is 400 organisation_required, naming both", async () => {
    const a = await push(ACME);
    await push(GLOBEX);
    for (const { path, init } of scopedEndpoints(a.build_id)) {
      const message = expectError(await call(path, { via, ...init }), 400, "organisation_required");
      expect(message, path).toContain("(acme, globex;");
      // With it, the endpoint's own parser reads the rest of the query as before.
      const named = await call(withOrganisation(path, "acme"), { via, ...init });
      expect(named.status, `${path}: ${named.text}`).not.toBe(400);
    }
    // A repository the query names picks its organisation.
    const learned = await get<{ repository: string }>(`/learned?repository=${GLOBEX}`);
    expect(learned.status, learned.text).toBe(200);
    expect(learned.body.repository).toBe(GLOBEX);
    expect(calls).toContain("org:globex.learned");
    // A query the endpoint refuses is answered as such, before any Ledger is looked for.
    calls.length = 0;
    expectError(await get("/learned"), 400, "missing_parameter");
    expectError(await get("/alerts?status=gone"), 400, "invalid_request");
    expectError(await get("/builds?limit=0&organisation=initech"), 400, "invalid_request");
    expect(calls).toEqual([]);
    // Another parameter the endpoint does not take is still refused.
    expectError(await get("/simulation?organisation=acme&x=1"), 400, "invalid_request");
    expectError(await get("/organisations?x=1"), 400, "invalid_request");
  });

  it("an unknown organisation is 404, a malformed one 400, and neither writes anything", async () => {
    await push(ACME);
    await push(GLOBEX);
    const message = expectError(await get("/fleet?organisation=initech"), 404, "organisation_not_found");
    expect(message).toContain("initech");
    expectError(await get("/metrics?organisation=not%20a%20login"), 400, "invalid_request");
    expectError(await get("/metrics?organisation=acme/app"), 400, "invalid_request");
    expectError(await get("/fleet?organisation=acme&organisation=globex"), 400, "invalid_request");
    expect((await get<{ total: number }>("/organisations")).body.total).toBe(2);
    expect(await instancesOf(["org:initech"])).toEqual([]);
  });

  it("a route request is recorded in its repository's organisation's Ledger", async () => {
    await push(ACME);
    const routingJob = newJobId();
    const res = await call("/route", {
      via,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository: GLOBEX, files: ["src/a.ts"], job_id: routingJob }),
    });
    expect(res.status, res.text).toBe(200);
    expect(await rowsIn("org:globex", "SELECT job_id, repository FROM routing_jobs")).toEqual([
      { job_id: routingJob, repository: GLOBEX },
    ]);
    expect(await rowsIn("ledger", "SELECT job_id FROM routing_jobs")).toEqual([]);
    const routed = await call(`/route?repository=${GLOBEX}&sha=${randomSha()}`, { via });
    expect(routed.status, routed.text).toBe(200);
    expect(calls.filter((c) => c.endsWith(".routeContext"))).toEqual([
      "org:globex.routeContext",
      "org:globex.routeContext",
    ]);
  });
});

describe("what the directory costs", () => {
  it("a steady-state delivery makes no directory call; a first one at most one more", async () => {
    // First contact: the directory takes acme's delivery itself; globex's it only assigns.
    const a = await push(ACME);
    expect(calls).toEqual(["ledger.accept"]);
    calls.length = 0;
    const g = await push(GLOBEX);
    expect(calls).toEqual(["ledger.accept", "org:globex.accept"]);

    calls.length = 0;
    const ids = { id: newJobId(), runId: newJobId() };
    await job(ACME, a.sha, "queued", ids, "acme-box");
    await job(GLOBEX, g.sha, "queued", { id: newJobId(), runId: newJobId() }, "globex-box");
    await push(GLOBEX);
    expect(calls).toEqual(["ledger.accept", "org:globex.accept", "org:globex.accept"]);

    // A new isolate asks again (with the delivery), and is answered as before.
    forgetOrganisations();
    calls.length = 0;
    await push(GLOBEX);
    await push(ACME);
    expect(calls).toEqual(["ledger.accept", "org:globex.accept", "ledger.accept"]);
    expect(await rowsIn("ledger", "SELECT organisation, ledger FROM organisations ORDER BY organisation")).toEqual([
      { organisation: "acme", ledger: "ledger" },
      { organisation: "globex", ledger: "org:globex" },
    ]);
  });

  it("an operator read that names its organisation asks the directory once per isolate", async () => {
    await push(ACME);
    await push(GLOBEX);
    forgetOrganisations();
    calls.length = 0;
    expect((await get("/fleet?organisation=globex")).status).toBe(200);
    expect((await get("/fleet?organisation=globex")).status).toBe(200);
    expect(calls).toEqual(["ledger.organisationLedger", "org:globex.fleetView", "org:globex.fleetView"]);
  });

  it(`past ${MAX_ORGANISATIONS.toLocaleString("en-US")} organisations a new one's delivery is 503 organisation_limit, logged, and recorded nowhere`, async () => {
    await push(ACME);
    await runInDurableObject(instance("ledger"), (_i, state) => {
      for (let i = 1; i < MAX_ORGANISATIONS; i++) {
        state.storage.sql.exec(
          "INSERT INTO organisations (organisation, ledger, first_seen) VALUES (?, ?, 0)",
          `filler-${i}`,
          `org:filler-${i}`,
        );
      }
    });
    const errors = vi.spyOn(console, "error");
    const res = await deliver("push", pushPayload({ repository: "latecomer/app" }), { via });
    const message = expectError(res, 503, "organisation_limit");
    expect(message).toContain("latecomer is not served");
    expect(errors.mock.calls.map(([line]) => JSON.parse(String(line)))).toContainEqual({
      level: "error",
      message: "organisation refused: the directory is full",
      organisation: "latecomer",
      limit: MAX_ORGANISATIONS,
    });
    expect(await instancesOf(["org:latecomer"])).toEqual([]);
    expect(await rowsIn("ledger", "SELECT COUNT(*) AS n FROM organisations WHERE organisation = 'latecomer'")).toEqual([
      { n: 0 },
    ]);
    expect(await rowsIn("ledger", "SELECT COUNT(*) AS n FROM builds")).toEqual([{ n: 1 }]);
    // A listed organisation is served as before.
    await push(ACME);
    expect(await rowsIn("ledger", "SELECT COUNT(*) AS n FROM builds")).toEqual([{ n: 2 }]);
  });
});

describe("one organisation", () => {
  it("answers every endpoint without ?organisation= as with it, from the one `ledger` instance", async () => {
    const a = await push(ACME);
    const ids = { id: newJobId(), runId: newJobId() };
    for (const action of ["queued", "in_progress", "completed"] as const)
      await job(ACME, a.sha, action, ids, "acme-box");
    for (const { path, init } of scopedEndpoints(a.build_id)) {
      const plain = await call(path, { via, ...init });
      const named = await call(withOrganisation(path, "acme"), { via, ...init });
      expect(plain.status, `${path}: ${plain.text}`).toBe(named.status);
      expect(plain.status, `${path}: ${plain.text}`).toBeLessThan(500);
      // Read a moment apart: the metrics' clock gauges, a publication's time, a period's end, a forecast's.
      if (path === "/metrics" || init?.method === "PUT") continue;
      const timeless = ({ period: _p, generated_at: _g, ...rest }: Record<string, unknown>) => rest;
      expect(timeless(plain.body), path).toEqual(timeless(named.body));
    }
    const listed = await get<{ organisations: { organisation: string; ledger: string }[] }>("/organisations");
    expect(listed.body.organisations.map(({ organisation, ledger }) => [organisation, ledger])).toEqual([
      ["acme", "ledger"],
    ]);
    // Its state is all in the one Ledger: no instance of its own was made.
    expect(await instancesOf(["ledger", "org:acme"])).toEqual(["ledger"]);
  });

  it("before any organisation is listed, the directory's own Ledger answers", async () => {
    const res = await get<string>("/metrics");
    expect(res.status, res.text).toBe(200);
    expectError(await get("/status?build_id=nope"), 404, "build_not_found");
    expect(calls).toEqual([
      "ledger.defaultOrganisation",
      "ledger.exposition",
      "ledger.defaultOrganisation",
      "ledger.build",
    ]);
  });
});

describe("the Cron Trigger", () => {
  async function runCron(scheduledTime: number): Promise<void> {
    const ctx = createExecutionContext();
    await scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), bindings, ctx);
    await waitOnExecutionContext(ctx);
  }

  it(`checks jobs in each organisation's Ledger, at most ${SCHEDULED_ORGANISATIONS} organisations a minute, in turn`, async () => {
    await push(ACME);
    await push(GLOBEX);
    // Twelve organisations in all, by name: acme, filler-00 … filler-09, globex.
    await runInDurableObject(instance("ledger"), (_i, state) => {
      for (let i = 0; i < 10; i++) {
        const name = `filler-${String(i).padStart(2, "0")}`;
        state.storage.sql.exec(
          "INSERT INTO organisations (organisation, ledger, first_seen) VALUES (?, ?, 0)",
          name,
          `org:${name}`,
        );
      }
    });
    const minute = 60_000 * 30_000_000;
    const checked = async (at: number) => {
      calls.length = 0;
      await runCron(at);
      return calls.filter((c) => c.endsWith(".checkJobs")).map((c) => c.slice(0, -".checkJobs".length));
    };
    const first = await checked(minute);
    const second = await checked(minute + 60_000);
    expect(first).toHaveLength(SCHEDULED_ORGANISATIONS);
    expect(second).toHaveLength(2);
    expect([...first, ...second].sort()).toEqual(
      [
        "ledger",
        "org:globex",
        ...Array.from({ length: 10 }, (_, i) => `org:filler-${String(i).padStart(2, "0")}`),
      ].sort(),
    );
    // The next minute starts the round again.
    expect(await checked(minute + 120_000)).toEqual(first);
  });

  it("with none listed, checks the directory's own Ledger", async () => {
    await runCron(Date.now());
    expect(calls).toEqual(["ledger.scheduledOrganisations", "ledger.checkJobs"]);
  });

  it("in App mode, lists each organisation's runners with its own installation, into its Ledger", async () => {
    const appId = String(800_000 + Math.floor(Math.random() * 100_000));
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const registered = await fetch(`${FAKE_GITHUB_URL}/__apps/${appId}`, {
      method: "PUT",
      body: JSON.stringify({ publicKey: await exportSPKI(publicKey) }),
    });
    expect(registered.status).toBe(204);
    ({ bindings, via } = rig({
      [SECRET_NAMES.githubAppId]: appId,
      [SECRET_NAMES.githubAppPrivateKey]: await exportPKCS8(privateKey),
    } as Partial<Cloudflare.Env>));
    for (const [repository, installation] of [
      [ACME, 901],
      [GLOBEX, 902],
    ] as const) {
      const payload = pushPayload({ repository });
      payload.installation = { id: installation, account: { login: repository.split("/")[0] } };
      expectRouted(await deliver("push", payload, { via }));
    }
    // A Worker isolate that saw none of these deliveries: the installations come from the Ledgers.
    forgetInstallation(ACME, 901);
    forgetInstallation(GLOBEX, 902);
    expect(lastInstallationOf(ACME)).toBeNull();
    calls.length = 0;
    const outcome = await reconcile(bindings, Date.now());
    expect(outcome).toEqual({
      kind: "organisations",
      results: {
        acme: { kind: "reconciled", online: 80, offline: 40 },
        // The fake lists runners for acme only.
        globex: { kind: "failed", why: "runners API answered 404" },
      },
    });
    expect(calls).toEqual([
      "ledger.scheduledOrganisations",
      "ledger.installationOf",
      "ledger.reconcileFleet",
      "org:globex.installationOf",
    ]);
    const mints = await (await fetch(`${FAKE_GITHUB_URL}/__apps/${appId}/mints`)).json();
    expect(mints).toEqual({ 901: 1, 902: 1 });
  });
});

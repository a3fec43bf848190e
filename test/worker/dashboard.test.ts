/**
 * The operator dashboard's endpoints on the bundled Worker, after real deliveries: GET /builds
 * (newest first, each filter, every build once across pages while new ones arrive, 400s), GET
 * /queue (hourly series and jobs waiting past their target), GET /alerts, the days and accuracy
 * of GET /costs, and GET and PUT /simulation. Every one answers 401 without the API token.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { BuildSummary, QueueView } from "../../worker/src/core/index.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  call,
  deliver,
  expectError,
  expectRouted,
  POOL,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
} from "./helpers.ts";
import { githubTime, ledgerSql, newJobId, runAlarm, useManualAlarms } from "./observability.ts";

interface BuildPage {
  builds: BuildSummary[];
  next_cursor: string | null;
  retention_days: number;
}

async function builds(query: string): Promise<BuildPage> {
  const res = await call<BuildPage>(`/builds?${query}`);
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return res.body;
}

/** Every page of a query, following next_cursor; `between` runs after each page. */
async function allPages(query: string, between: () => Promise<void> = async () => {}): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const page: BuildPage = await builds(cursor === null ? query : `${query}&cursor=${cursor}`);
    pages.push(page.builds.map((b) => b.build_id));
    cursor = page.next_cursor;
    await between();
  } while (cursor !== null);
  return pages;
}

/** Newest first: created_at descending, then build_id descending. */
function newestFirst(list: readonly BuildSummary[]): BuildSummary[] {
  return [...list].sort((a, b) =>
    a.created_at === b.created_at ? (a.build_id < b.build_id ? 1 : -1) : a.created_at < b.created_at ? 1 : -1,
  );
}

/** A routed push of `files`, then a job on `labels` that ran 10 minutes and ended `conclusion`. */
async function buildThatRan(
  repository: string,
  fields: { files?: string[]; labels?: string[]; runnerName?: string; conclusion?: string } = {},
) {
  const sha = randomSha();
  const routed = expectRouted(await deliver("push", pushPayload({ repository, sha, files: fields.files })));
  const end = Date.now() - 5_000;
  const job = workflowJobPayload({
    repository,
    sha,
    action: "completed",
    id: newJobId(),
    labels: fields.labels ?? ["self-hosted", "vps"],
    runnerName: fields.runnerName ?? "vps-runner-1",
    conclusion: fields.conclusion ?? "success",
  });
  job.workflow_job.created_at = githubTime(end - 11 * 60_000);
  job.workflow_job.started_at = githubTime(end - 10 * 60_000);
  job.workflow_job.completed_at = githubTime(end);
  expect((await deliver("workflow_job", job)).status).toBe(202);
  return { ...routed, sha };
}

const ENDPOINTS: [string, string][] = [
  ["GET", "/builds"],
  ["GET", "/queue"],
  ["GET", "/alerts"],
  ["GET", "/simulation"],
  ["PUT", "/simulation"],
];

describe("the dashboard's endpoints take the API token, like /fleet", () => {
  it.each(ENDPOINTS)("%s %s: 401 without it or with a wrong one", async (method, path) => {
    const body = method === "PUT" ? JSON.stringify({ trace: {}, figures: [] }) : undefined;
    const headers = { "content-type": "application/json" };
    expectError(await call(path, { method, body, headers, token: null }), 401, "unauthorized");
    expectError(await call(path, { method, body, headers, token: TEST_SECRETS.webhook }), 401, "unauthorized");
  });

  it("401 comes before the query is read", async () => {
    expectError(await call("/builds?status=nonsense", { token: null }), 401, "unauthorized");
    expectError(await call("/queue?hours=0", { token: null }), 401, "unauthorized");
  });

  it("/simulation answers GET and PUT, and says so", async () => {
    const res = await call("/simulation", { method: "POST", body: "{}" });
    expectError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, PUT");
  });
});

describe("GET /builds", () => {
  it("lists a repository's builds newest first, each summarised from its record after its deliveries", async () => {
    const repository = randomRepository();
    const first = await buildThatRan(repository, { files: ["Dockerfile"], conclusion: "failure" });
    const second = await buildThatRan(repository, {
      files: ["docs/guide.md"],
      labels: ["ubuntu-latest"],
      runnerName: "GitHub Actions 3",
    });
    const pr = expectRouted(await deliver("pull_request", pullRequestPayload({ repository, number: 41 })));
    const page = await builds(`repository=${repository.toUpperCase()}`);
    expect(page.retention_days).toBe(31);
    expect(page.next_cursor).toBeNull();
    expect(page.builds).toEqual(newestFirst(page.builds));
    expect(page.builds.map((b) => b.build_id).sort()).toEqual([first.build_id, second.build_id, pr.build_id].sort());
    const byId = new Map(page.builds.map((b) => [b.build_id, b]));
    expect(byId.get(first.build_id)).toMatchObject({
      repository,
      event: "push",
      sha: first.sha,
      status: "completed",
      conclusion: "failure",
      decision: { runner: "vps", requirement: "docker" },
      runners_used: ["vps"],
      jobs: { total: 1, by_runner: { vps: { jobs: 1, minutes: 10 } } },
      queue_seconds: 60,
      run_seconds: 600,
      minutes: 10,
      // vps is priced by the month; the same 10 minutes on GitHub-hosted, $0.006 each.
      cost_usd: 0,
      hosted_usd: 0.06,
      links: { commit: `https://github.com/${repository}/commit/${first.sha}`, pull_request: null, runs: [] },
    });
    expect(byId.get(second.build_id)).toMatchObject({
      decision: { requirement: "lightweight" },
      jobs: { by_runner: { "github-hosted": { jobs: 1, minutes: 10 } } },
      cost_usd: 0.06,
      hosted_usd: 0.06,
    });
    expect(byId.get(pr.build_id)).toMatchObject({
      event: "pull_request",
      pull_request: 41,
      status: "routed",
      links: { pull_request: `https://github.com/${repository}/pull/41` },
    });
    // What GET /status has of the same build.
    const status = await call<Record<string, unknown>>(`/status?build_id=${first.build_id}`);
    expect(byId.get(first.build_id)).toMatchObject({
      created_at: status.body.created_at,
      updated_at: status.body.updated_at,
      decision: status.body.decision,
    });
  });

  it("each filter narrows the list to what it names", async () => {
    const repository = randomRepository();
    const docker = await buildThatRan(repository, { files: ["Dockerfile"], conclusion: "failure" });
    const docs = await buildThatRan(repository, {
      files: ["docs/guide.md"],
      labels: ["ubuntu-latest"],
      runnerName: "GitHub Actions 4",
    });
    const routed = expectRouted(await deliver("push", pushPayload({ repository, files: ["kernels/x.cu"] })));
    const ids = async (query: string) => (await allPages(`repository=${repository}&${query}`)).flat().sort();
    expect(await ids("")).toEqual([docker.build_id, docs.build_id, routed.build_id].sort());
    expect(await ids("runner=vps")).toEqual([docker.build_id]);
    expect(await ids("runner=ai-lab")).toEqual([routed.build_id]);
    expect(await ids("requirement=lightweight")).toEqual([docs.build_id]);
    expect(await ids("requirement=gpu")).toEqual([routed.build_id]);
    expect(await ids("status=routed")).toEqual([routed.build_id]);
    expect(await ids("status=completed")).toEqual([docker.build_id, docs.build_id].sort());
    expect(await ids("conclusion=failure")).toEqual([docker.build_id]);
    expect(await ids("conclusion=success")).toEqual([docs.build_id]);
    expect(await ids("status=in_progress")).toEqual([]);
    // created_at in [since, until): the docker build alone, by its own time.
    const { builds: listed } = await builds(`repository=${repository}`);
    const created = (id: string) => listed.find((b) => b.build_id === id)?.created_at ?? "";
    const at = created(docker.build_id);
    const justAfter = new Date(Date.parse(at) + 1).toISOString();
    expect(await ids(`since=${at}&until=${justAfter}`)).toEqual([docker.build_id]);
    expect(await ids(`until=${at}`)).toEqual([]);
    expect(await ids(`since=${created(routed.build_id)}`)).toContain(routed.build_id);
    // Without a repository, a filter still holds for every build listed.
    const gpu = await builds("requirement=gpu&limit=100");
    expect(gpu.builds.length).toBeGreaterThan(0);
    for (const build of gpu.builds) expect(build.decision?.requirement).toBe("gpu");
    const failed = await builds("conclusion=failure&limit=100");
    for (const build of failed.builds) expect(build.conclusion).toBe("failure");
  });

  it("pages cover every build exactly once, while a new build arrives between pages", async () => {
    const repository = randomRepository();
    const made: string[] = [];
    for (let i = 0; i < 8; i++) {
      made.push(expectRouted(await deliver("push", pushPayload({ repository }))).build_id);
    }
    const arrived: string[] = [];
    const pages = await allPages(`repository=${repository}&limit=3`, async () => {
      arrived.push(expectRouted(await deliver("push", pushPayload({ repository }))).build_id);
    });
    expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
    const seen = pages.flat();
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual([...made].sort());
    for (const late of arrived) expect(seen).not.toContain(late);
    // The pages, joined, are the list newest first.
    const { builds: everything } = await builds(`repository=${repository}&limit=100`);
    expect(everything.map((b) => b.build_id).filter((id) => made.includes(id))).toEqual(seen);
    expect(everything).toHaveLength(made.length + arrived.length);
  });

  it.each([
    ["repo=acme/x", /unknown query parameter "repo"/],
    ["repository=acme", /owner\/name/],
    ["repository=acme/app/extra", /owner\/name/],
    ["status=finished", /status "finished"/],
    ["conclusion=passed", /conclusion "passed"/],
    ["requirement=quantum", /requirement "quantum"/],
    ["since=last-week", /since "last-week"/],
    ["until=2026-13-01T00:00:00Z", /until/],
    ["since=2026-11-20T00:00:00Z&until=2026-11-19T00:00:00Z", /since must be before until/],
    ["since=2026-11-20T00:00:00Z&until=2026-11-20T00:00:00Z", /since must be before until/],
    ["limit=0", /limit "0"/],
    ["limit=101", /limit "101"/],
    ["limit=ten", /limit "ten"/],
    ["cursor=%%%", /cursor/],
    ["cursor=bm90LWEtY3Vyc29y", /cursor is not one GET \/builds gave/],
    ["status=routed&status=queued", /more than once/],
  ])("400 invalid_request for %s", async (query, problem) => {
    expect(expectError(await call(`/builds?${query}`), 400, "invalid_request")).toMatch(problem);
  });

  it("400 for a cursor that was altered, or given under other filters", async () => {
    const repository = randomRepository();
    for (let i = 0; i < 3; i++) expectRouted(await deliver("push", pushPayload({ repository })));
    const { next_cursor } = await builds(`repository=${repository}&limit=1`);
    if (next_cursor === null) throw new Error("expected a next page");
    const flipped = `${next_cursor.slice(0, 5)}${next_cursor[5] === "A" ? "B" : "A"}${next_cursor.slice(6)}`;
    expectError(await call(`/builds?repository=${repository}&cursor=${flipped}`), 400, "invalid_request");
    const other = await call(`/builds?repository=${repository}&status=completed&cursor=${next_cursor}`);
    expect(expectError(other, 400, "invalid_request")).toMatch(/other filters/);
    const again = await builds(`repository=${repository}&limit=1&cursor=${next_cursor}`);
    expect(again.builds).toHaveLength(1);
  });
});

describe("GET /queue", () => {
  async function queue(query = ""): Promise<QueueView> {
    const res = await call<QueueView>(`/queue${query}`);
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  const point = (view: QueueView, runner: string, hour: string) =>
    view.classes[runner]?.series.find((p) => p.hour === hour) ?? { jobs: 0, over_target: 0, max_seconds: null };

  it("every class of the pool, each with exactly `hours` points, oldest first, the hour now is in last", async () => {
    for (const hours of [1, 24, 48]) {
      const view = await queue(`?hours=${hours}`);
      expect(view.hours).toBe(hours);
      for (const id of [...Object.keys(POOL), "pool", "canary"]) {
        const series = view.classes[id]?.series ?? [];
        expect(series, id).toHaveLength(hours);
        expect(series.map((p) => p.hour)).toEqual([...series.map((p) => p.hour)].sort());
      }
      expect(view.from).toBe(view.classes.vps?.series[0]?.hour);
      expect(Date.parse(view.to) - Date.parse(view.from)).toBe(hours * 3_600_000);
      expect(Date.parse(view.to)).toBeGreaterThan(Date.now() - 1000);
    }
    expect((await queue()).hours).toBe(24);
    expect((await queue()).classes.vps?.target_seconds).toBe(600);
  });

  it("counts each job that left the queue in the hour it started: its wait, the longest, over the target", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", pushPayload({ repository, sha, files: ["deploy/app.yaml"] })));
    const started = Math.floor(Date.now() / 1000) * 1000 - 2_000;
    const hour = new Date(Math.floor(started / 3_600_000) * 3_600_000).toISOString();
    const before = point(await queue("?hours=2"), "kvm4", hour);
    for (const [waited, id] of [
      [45, newJobId()],
      [900, newJobId()],
    ] as const) {
      const labels = ["self-hosted", "cloudstartup", "kvm4"];
      const queued = workflowJobPayload({ repository, sha, action: "queued", id, labels });
      queued.workflow_job.created_at = githubTime(started - waited * 1000);
      expect((await deliver("workflow_job", queued)).status).toBe(202);
      const running = workflowJobPayload({ repository, sha, action: "in_progress", id, labels, runnerName: "kvm4-1" });
      running.workflow_job.created_at = githubTime(started - waited * 1000);
      running.workflow_job.started_at = githubTime(started);
      expect((await deliver("workflow_job", running)).status).toBe(202);
    }
    const after = point(await queue("?hours=2"), "kvm4", hour);
    expect(after.jobs - before.jobs).toBe(2);
    expect(after.over_target - before.over_target).toBe(1);
    expect(after.max_seconds).toBeGreaterThanOrEqual(900);
  });

  it("lists a job still queued past its class's target, and not one within it", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const stuck = newJobId();
    const fresh = newJobId();
    for (const [id, minutesAgo] of [
      [stuck, 20],
      [fresh, 2],
    ] as const) {
      const job = workflowJobPayload({ repository, sha, action: "queued", id });
      job.workflow_job.created_at = githubTime(Date.now() - minutesAgo * 60_000);
      expect((await deliver("workflow_job", job)).status).toBe(202);
    }
    const view = await queue();
    const listed = view.waiting_too_long.find((j) => j.job_id === stuck);
    expect(listed).toMatchObject({
      repository,
      runner_class: "vps",
      labels: ["self-hosted", "vps"],
      target_seconds: 600,
    });
    expect(listed?.waited_seconds).toBeGreaterThanOrEqual(20 * 60 - 5);
    expect(Date.parse(listed?.queued_at ?? "")).toBeLessThan(Date.now() - 19 * 60_000);
    expect(view.waiting_too_long.map((j) => j.job_id)).not.toContain(fresh);
    const waits = view.waiting_too_long.map((j) => j.waited_seconds);
    expect(waits).toEqual([...waits].sort((a, b) => b - a));
    expect(view.waiting_too_long.length).toBeLessThanOrEqual(50);
    // Once it starts, it waits no more.
    const started = workflowJobPayload({ repository, sha, action: "in_progress", id: stuck });
    expect((await deliver("workflow_job", started)).status).toBe(202);
    expect((await queue()).waiting_too_long.map((j) => j.job_id)).not.toContain(stuck);
  });

  it("400 for hours outside 1..48 or an unknown parameter", async () => {
    for (const query of ["hours=0", "hours=49", "hours=x", "window=3"]) {
      expectError(await call(`/queue?${query}`), 400, "invalid_request");
    }
  });
});

describe("GET /alerts", () => {
  beforeEach(async () => {
    await useManualAlarms();
  });

  interface AlertList {
    alerts: Record<string, unknown>[];
  }

  it("lists the outbox newest first, with where each alert is, never its message", async () => {
    const gpu = expectRouted(await deliver("push", pushPayload({ files: ["kernels/x.cu"] })));
    const refused = expectRouted(
      await deliver("push", pushPayload({ repository: "acme/discord-400", files: ["kernels/x.cu"] })),
    );
    const pending = await call<AlertList>("/alerts?status=pending&limit=100");
    expect(pending.status, pending.text).toBe(200);
    const newest = pending.body.alerts.filter((a) => [gpu.build_id, refused.build_id].includes(a.build_id as string));
    expect(newest.map((a) => a.build_id)).toEqual([refused.build_id, gpu.build_id]);
    expect(newest[0]).toEqual({
      id: expect.any(Number),
      kind: "gpu_build",
      build_id: refused.build_id,
      status: "pending",
      attempts: 0,
      last_error: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      next_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const ids = pending.body.alerts.map((a) => a.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(JSON.stringify(pending.body)).not.toContain("embeds");

    await runAlarm();
    const failed = await call<AlertList>("/alerts?status=failed&limit=100");
    expect(failed.body.alerts.find((a) => a.build_id === refused.build_id)).toMatchObject({
      status: "failed",
      attempts: 1,
      last_error: "400 refused",
    });
    for (const alert of failed.body.alerts) expect(alert.status).toBe("failed");
    const sent = await call<AlertList>("/alerts?status=sent&limit=100");
    expect(sent.body.alerts.find((a) => a.build_id === gpu.build_id)).toMatchObject({ status: "sent" });
    const one = await call<AlertList>("/alerts?limit=1");
    expect(one.body.alerts).toHaveLength(1);
  });

  it("400 for a status or limit it does not take", async () => {
    for (const query of ["status=lost", "limit=0", "limit=101", "kind=gpu_build"]) {
      expectError(await call(`/alerts?${query}`), 400, "invalid_request");
    }
  });
});

describe("GET /costs: by_day and accuracy", () => {
  interface CostsAnswer {
    totals: { jobs: number; minutes: number; cost_usd: number };
    baseline: { cost_usd: number };
    by_day: Record<string, { jobs: number; minutes: number; cost_usd: number; baseline_usd: number }>;
    accuracy: {
      jobs: number;
      matched: number;
      rate: number | null;
      by_suggested: Record<string, Record<string, number>>;
    };
  }

  async function costs(query: string): Promise<CostsAnswer> {
    const res = await call<CostsAnswer>(`/costs${query}`);
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  it("every day of the period, adding up to the totals; today grows by the jobs that completed today", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const before = await costs("?period=7d");
    await buildThatRan(randomRepository(), { files: ["Dockerfile"] });
    await buildThatRan(randomRepository(), { files: ["docs/guide.md"], labels: ["ubuntu-latest"], runnerName: "GH 9" });
    const after = await costs("?period=7d");
    expect(Object.keys(after.by_day)).toHaveLength(7);
    expect(Object.keys(after.by_day).at(-1)).toBe(today);
    expect((after.by_day[today]?.jobs ?? 0) - (before.by_day[today]?.jobs ?? 0)).toBe(2);
    expect((after.by_day[today]?.minutes ?? 0) - (before.by_day[today]?.minutes ?? 0)).toBe(20);
    const days = Object.values(after.by_day);
    const cents = (usd: number) => Math.round(usd * 100);
    expect(days.reduce((n, d) => n + d.jobs, 0)).toBe(after.totals.jobs);
    expect(days.reduce((n, d) => n + d.minutes, 0)).toBe(after.totals.minutes);
    expect(days.reduce((n, d) => n + cents(d.cost_usd), 0)).toBe(cents(after.totals.cost_usd));
    expect(days.reduce((n, d) => n + cents(d.baseline_usd), 0)).toBe(cents(after.baseline.cost_usd));
    const month = await costs(`?period=${today.slice(0, 7)}`);
    expect(Object.keys(month.by_day)[0]).toBe(`${today.slice(0, 7)}-01`);
  });

  it("accuracy: the jobs that ran where the decision said, of those it named a class for", async () => {
    const before = await costs("?period=1d");
    // Routed to vps, ran on vps; routed to github-hosted (lightweight), ran on vps.
    await buildThatRan(randomRepository(), { files: ["Dockerfile"] });
    await buildThatRan(randomRepository(), { files: ["docs/guide.md"] });
    const after = await costs("?period=1d");
    expect(after.accuracy.jobs - before.accuracy.jobs).toBe(2);
    expect(after.accuracy.matched - before.accuracy.matched).toBe(1);
    const count = (a: CostsAnswer, suggested: string, used: string) => a.accuracy.by_suggested[suggested]?.[used] ?? 0;
    expect(count(after, "vps", "vps") - count(before, "vps", "vps")).toBe(1);
    expect(count(after, "github-hosted", "vps") - count(before, "github-hosted", "vps")).toBe(1);
    expect(after.accuracy.rate).toBeCloseTo(after.accuracy.matched / after.accuracy.jobs, 10);
  });
});

describe("GET and PUT /simulation", () => {
  const document = {
    trace: { commits: 40, jobs: 120, start: "2026-11-01T00:00:00Z", end: "2026-11-08T00:00:00Z", source: "synthetic" },
    figures: [
      { policy: "router", router: "tree", cost_usd: 12.5, baseline_usd: 40, queue_p50_s: 10, queue_p95_s: 95 },
      { policy: "github-hosted", router: null, cost_usd: 40, baseline_usd: 40, queue_p50_s: 5, queue_p95_s: 20 },
    ],
    aims: [{ name: "cheaper", met: true }],
    cpu_ms: 120,
    wall_ms: 300,
  };
  const put = (body: string, contentType = "application/json") =>
    call<{ published_at: string }>("/simulation", { method: "PUT", body, headers: { "content-type": contentType } });

  it("404 simulation_not_found before one is published; then the last one published, as it was given", async () => {
    await ledgerSql("DELETE FROM simulations");
    expectError(await call("/simulation"), 404, "simulation_not_found");
    const published = await put(JSON.stringify(document));
    expect(published.status, published.text).toBe(200);
    expect(Object.keys(published.body)).toEqual(["published_at"]);
    expect(Date.parse(published.body.published_at)).toBeGreaterThan(Date.now() - 60_000);
    const got = await call("/simulation");
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ published_at: published.body.published_at, simulation: document });
    // The next replaces it.
    const next = { ...document, figures: [document.figures[0]] };
    expect((await put(JSON.stringify(next))).status).toBe(200);
    expect((await call("/simulation")).body).toMatchObject({ simulation: next });
  });

  it("400 for a body that is not such a document, and nothing changes", async () => {
    expect((await put(JSON.stringify(document))).status).toBe(200);
    const kept = (await call("/simulation")).body;
    const bad: [string, RegExp][] = [
      ["not json", /not valid JSON/],
      ["[1, 2]", /JSON object/],
      [JSON.stringify({ figures: [] }), /trace must be an object/],
      [JSON.stringify({ trace: {} }), /figures must be an array/],
      [JSON.stringify({ ...document, figures: [{ policy: "x", cost_usd: "12", queue_p95_s: 1 }] }), /cost_usd/],
      [JSON.stringify({ ...document, figures: [{ cost_usd: 1, queue_p95_s: 1 }] }), /policy must be a string/],
      ['{"trace":{},"figures":[{"policy":"x","cost_usd":1e999,"queue_p95_s":1}]}', /finite number/],
      [JSON.stringify({ ...document, figures: Array.from({ length: 33 }, () => document.figures[0]) }), /at most 32/],
    ];
    for (const [body, problem] of bad) {
      const res = await put(body);
      expect(res.status, body.slice(0, 80)).toBe(400);
      expect((res.body as unknown as { error: { message: string } }).error.message).toMatch(problem);
    }
    expectError(
      await call("/simulation?x=1", { method: "PUT", body: JSON.stringify(document) }),
      400,
      "invalid_request",
    );
    expect((await call("/simulation")).body).toEqual(kept);
  });

  it("over 256 KiB is refused whole (413, as every body over its limit), and nothing changes", async () => {
    expect((await put(JSON.stringify(document))).status).toBe(200);
    const kept = (await call("/simulation")).body;
    const big = JSON.stringify({ ...document, padding: "x".repeat(256 * 1024) });
    expectError(await put(big), 413, "payload_too_large");
    expectError(await put(JSON.stringify(document), "text/plain"), 415, "unsupported_media_type");
    const form = `payload=${encodeURIComponent(JSON.stringify(document))}`;
    expectError(await put(form, "application/x-www-form-urlencoded"), 415, "unsupported_media_type");
    expect((await call("/simulation")).body).toEqual(kept);
    // Just under the limit is taken.
    const fits = JSON.stringify({ ...document, padding: "" });
    const padded = JSON.stringify({ ...document, padding: "x".repeat(256 * 1024 - fits.length) });
    expect(padded.length).toBe(256 * 1024);
    expect((await put(padded)).status).toBe(200);
  });
});

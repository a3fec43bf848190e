/**
 * Cross-repository builds in the Ledger's Book, over node:sqlite: a matching push queues one
 * dispatch per target in its transaction, redeliveries add nothing, pushes in a debounce window
 * collapse into one dispatch of the latest commit, the alarm sends each at most once (retrying
 * a 500, recording a 422 with GitHub's message), the depth limit stops a chain, and the commit
 * statuses follow the downstream run. GitHub is a fake `fetch` that records what it was sent.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import type { Book } from "../../worker/src/book.ts";
import {
  changesFromList,
  contentKey,
  type Plan,
  type RouteIntent,
  routePlan,
  updatePlan,
} from "../../worker/src/core/index.ts";
import { migrate, SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import { schemaObjects } from "../../worker/src/store/sql.ts";
import { intentOf } from "../support/intent.ts";
import { openBook } from "./open-book.ts";

const API = "https://github.test";
const T0 = Date.parse("2026-11-20T12:00:00Z");
const LIB = "acme/lib";
const APP = "acme/app";
const WEB = "acme/web";

const config = (maxDepth = 3) => ({
  dependencyDepth: maxDepth,
  dependencies: [
    {
      from: LIB,
      refs: ["refs/heads/main"],
      paths: ["src/**"],
      debounceSeconds: 60,
      to: [{ repository: APP, workflow: "ci.yml", ref: "main" }],
    },
    { from: APP, refs: ["refs/heads/main"], to: [{ repository: WEB, workflow: "build.yml", ref: "main" }] },
  ],
});

/** What the fake GitHub was sent, and what it answers next (204 / 201 once the list runs out). */
interface Call {
  path: string;
  body: Record<string, unknown>;
}
let calls: Call[] = [];
let answers: { status: number; message?: string }[] = [];

beforeEach(() => {
  calls = [];
  answers = [];
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
  vi.stubGlobal("fetch", async (input: string, init: RequestInit) => {
    const path = new URL(input).pathname;
    calls.push({ path, body: JSON.parse(String(init.body)) });
    const next = answers.shift();
    if (next !== undefined && next.status >= 300) {
      return Response.json({ message: next.message ?? "boom" }, { status: next.status });
    }
    return new Response(null, { status: path.includes("/statuses/") ? 201 : 204 });
  });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function open(routing: unknown = config()) {
  const { db, book, settings } = openBook({ routing, bindings: { GITHUB_TOKEN: "gh-token", GITHUB_API_URL: API } });
  const rows = () =>
    db.sql
      .exec<Record<string, string | number | null>>(
        "SELECT repository, workflow, upstream_sha, upstream_build, depth, state, attempts, last_error, next_at, run_id FROM dispatches ORDER BY id",
      )
      .toArray();
  const statuses = () =>
    db.sql
      .exec<Record<string, string>>("SELECT sha, context, state, status FROM commit_statuses ORDER BY id")
      .toArray();
  return { db, book, settings, rows, statuses };
}

let nextDelivery = 0;
const sha = (n: number) => n.toString(16).padStart(40, "c");

/** A push to `ref` of `repository`, keyed by its content as a webhook's is; `delivery` to redeliver. */
function push(
  book: Book,
  fields: { sha: string; repository?: string; ref?: string; files?: string[]; delivery?: string },
) {
  const repository = fields.repository ?? LIB;
  const ref = fields.ref ?? "refs/heads/main";
  const delivery = fields.delivery ?? `push-${++nextDelivery}`;
  const intent: RouteIntent = {
    kind: "route",
    key: contentKey("push", repository, ref, `${"0".repeat(39)}1`, fields.sha),
    repository,
    event: "push",
    ref,
    sha: fields.sha,
    pullRequest: null,
    push: null,
    environment: null,
  };
  const plan = routePlan(
    intent,
    changesFromList(fields.files ?? ["src/a.ts"], 3000, "test"),
    delivery,
    new Date().toISOString(),
  );
  const outcome = book.accept(delivery, "push", plan, { contentKey: intent.key }, Date.now());
  return { ...outcome, delivery, buildId: JSON.parse(outcome.body).build_id as string };
}

/** A workflow_run of a dispatched run of `workflow` in `repository`. */
function run(
  book: Book,
  settings: ReturnType<typeof open>["settings"],
  fields: {
    repository: string;
    id: number;
    sha: string;
    action: "requested" | "completed";
    workflow?: string;
    conclusion?: string;
  },
) {
  const payload = {
    action: fields.action,
    repository: { full_name: fields.repository },
    workflow_run: {
      id: fields.id,
      head_sha: fields.sha,
      name: "ci",
      event: "workflow_dispatch",
      status: fields.action === "completed" ? "completed" : "queued",
      conclusion: fields.action === "completed" ? (fields.conclusion ?? "success") : null,
      run_attempt: 1,
      path: `.github/workflows/${fields.workflow ?? "ci.yml"}`,
      workflow_id: 99,
      head_branch: "main",
      created_at: new Date().toISOString(),
      html_url: `https://github.com/${fields.repository}/actions/runs/${fields.id}`,
    },
  };
  const intent = intentOf("workflow_run", payload, settings.config);
  if (intent.kind !== "update") throw new Error("expected an update");
  const delivery = `run-${++nextDelivery}`;
  const plan: Plan = updatePlan(intent, delivery, new Date().toISOString());
  return book.accept(delivery, "workflow_run", plan, { contentKey: intent.key }, Date.now());
}

/** The alarm's sending, at `at`. */
async function alarmAt(book: Book, at: number) {
  vi.setSystemTime(at);
  book.maintain(at);
  await book.dispatchDesk.run(at);
}

const dispatchCalls = () => calls.filter((c) => c.path.endsWith("/dispatches"));
const statusCalls = () => calls.filter((c) => c.path.includes("/statuses/"));

describe("a matching push queues one dispatch per target, in its transaction", () => {
  it("a redelivery (same delivery id, or the same content under a new id) adds nothing: one dispatch, once", async () => {
    const { book, rows } = open();
    const first = push(book, { sha: sha(1) });
    expect(first.duplicate).toBe(false);
    expect(push(book, { sha: sha(1), delivery: first.delivery }).duplicate).toBe(true);
    expect(push(book, { sha: sha(1) }).duplicate).toBe(true);
    expect(rows()).toMatchObject([{ repository: APP, workflow: "ci.yml", state: "pending", next_at: T0 + 60_000 }]);
    // Not due before the debounce.
    await alarmAt(book, T0 + 59_000);
    expect(dispatchCalls()).toEqual([]);
    await alarmAt(book, T0 + 60_000);
    await alarmAt(book, T0 + 120_000);
    expect(dispatchCalls()).toEqual([
      {
        path: `/repos/${APP}/actions/workflows/ci.yml/dispatches`,
        body: {
          ref: "main",
          inputs: { upstream_repository: LIB, upstream_sha: sha(1), upstream_build: first.buildId, depth: "1" },
        },
      },
    ]);
    expect(rows()).toMatchObject([{ state: "dispatched", attempts: 1 }]);
    expect(book.build(first.buildId)?.downstream).toEqual([
      { repository: APP, workflow: "ci.yml", state: "dispatched", build_id: null, run_id: null },
    ]);
  });

  it("a push that matches no entry (its ref, or its files) queues nothing", () => {
    const { book, rows } = open();
    push(book, { sha: sha(2), ref: "refs/heads/feature" });
    push(book, { sha: sha(3), files: ["docs/a.md"] });
    expect(rows()).toEqual([]);
  });
});

describe("debounce", () => {
  it("pushes within the window give one dispatch of the latest commit, due at the first push plus the debounce", async () => {
    const { book, rows } = open();
    const one = push(book, { sha: sha(10) });
    vi.setSystemTime(T0 + 10_000);
    const two = push(book, { sha: sha(11) });
    vi.setSystemTime(T0 + 50_000);
    const three = push(book, { sha: sha(12) });
    expect(rows()).toMatchObject([{ upstream_sha: sha(12), upstream_build: three.buildId, next_at: T0 + 60_000 }]);
    // The replaced commits' builds no longer list the dispatch; the latest does.
    expect(book.build(one.buildId)?.downstream).toBeUndefined();
    expect(book.build(two.buildId)?.downstream).toBeUndefined();
    expect(book.build(three.buildId)?.downstream).toHaveLength(1);
    await alarmAt(book, T0 + 60_000);
    expect(dispatchCalls().map((c) => (c.body.inputs as Record<string, string>).upstream_sha)).toEqual([sha(12)]);

    // After the window, a push is a dispatch of its own.
    vi.setSystemTime(T0 + 120_000);
    push(book, { sha: sha(13) });
    await alarmAt(book, T0 + 180_000);
    expect(dispatchCalls().map((c) => (c.body.inputs as Record<string, string>).upstream_sha)).toEqual([
      sha(12),
      sha(13),
    ]);
    expect(rows().map((r) => r.state)).toEqual(["dispatched", "dispatched"]);
  });
});

describe("sending: retried on 500, failed on 422 with GitHub's message", () => {
  it("a 500 is tried again after its backoff, then sent", async () => {
    const { book, rows } = open();
    push(book, { sha: sha(20) });
    answers = [{ status: 500 }];
    await alarmAt(book, T0 + 60_000);
    expect(rows()).toMatchObject([{ state: "pending", attempts: 1, last_error: "500 server error" }]);
    const retryAt = rows()[0]?.next_at as number;
    expect(retryAt).toBeGreaterThan(T0 + 60_000);
    await alarmAt(book, retryAt);
    expect(dispatchCalls()).toHaveLength(2);
    expect(rows()).toMatchObject([{ state: "dispatched", attempts: 2, last_error: null }]);
  });

  it("a 422 is failed at once, with GitHub's message, and the upstream commit gets an error status", async () => {
    const { book, rows, statuses } = open();
    const pushed = push(book, { sha: sha(21) });
    answers = [{ status: 422, message: "Workflow does not have 'workflow_dispatch' trigger" }];
    await alarmAt(book, T0 + 60_000);
    await alarmAt(book, T0 + 600_000);
    expect(dispatchCalls()).toHaveLength(1);
    expect(rows()).toMatchObject([
      { state: "failed", attempts: 1, last_error: "422 Workflow does not have 'workflow_dispatch' trigger" },
    ]);
    expect(statuses()).toEqual([
      { sha: sha(21), context: `ci-router/downstream/${APP}`, state: "error", status: "sent" },
    ]);
    expect(book.graph(pushed.buildId)?.downstream).toMatchObject([
      { state: "failed", error: "422 Workflow does not have 'workflow_dispatch' trigger" },
    ]);
  });
});

describe("the downstream run", () => {
  it("is matched to its dispatch, names its upstream, and the upstream commit's status follows it", async () => {
    const { book, settings, rows, statuses } = open();
    const pushed = push(book, { sha: sha(30) });
    await alarmAt(book, T0 + 60_000);
    expect(statuses()).toEqual([
      { sha: sha(30), context: `ci-router/downstream/${APP}`, state: "pending", status: "sent" },
    ]);
    vi.setSystemTime(T0 + 70_000);
    const appSha = sha(31);
    run(book, settings, { repository: APP, id: 501, sha: appSha, action: "requested" });
    const downstream = book.dispatchDesk.dispatches.ofRun(501)[0];
    expect(downstream).toMatchObject({ state: "running", run_id: 501 });
    const downstreamBuild = downstream?.build_id as string;
    expect(book.build(downstreamBuild)?.upstream).toEqual({
      repository: LIB,
      sha: sha(30),
      build_id: pushed.buildId,
      depth: 1,
    });
    vi.setSystemTime(T0 + 200_000);
    run(book, settings, { repository: APP, id: 501, sha: appSha, action: "completed" });
    await alarmAt(book, T0 + 200_000);
    const appStatuses = statusCalls().filter((c) => c.body.context === `ci-router/downstream/${APP}`);
    expect(appStatuses.map((c) => c.body)).toEqual([
      { state: "pending", context: `ci-router/downstream/${APP}`, description: "ci.yml: dispatched, running" },
      {
        state: "success",
        context: `ci-router/downstream/${APP}`,
        description: "ci.yml: passed",
        target_url: `https://github.com/${APP}/actions/runs/501`,
      },
    ]);
    expect(appStatuses[0]?.path).toBe(`/repos/${LIB}/statuses/${sha(30)}`);
    expect(book.graph(pushed.buildId)).toMatchObject({
      build: { build_id: pushed.buildId, repository: LIB, sha: sha(30) },
      upstream: [],
      downstream: [
        {
          repository: APP,
          workflow: "ci.yml",
          ref: "main",
          state: "completed",
          conclusion: "success",
          build_id: downstreamBuild,
          run_id: 501,
          dispatched_at: new Date(T0 + 60_000).toISOString(),
        },
      ],
    });
    expect(book.graph(downstreamBuild)?.upstream).toMatchObject([
      { repository: LIB, build_id: pushed.buildId, status: "routed" },
    ]);
    // acme/app's run was a dispatch at depth 1 under a limit of 3: its own dependent is queued.
    expect(rows().map((r) => [r.repository, r.depth])).toEqual([
      [APP, 1],
      [WEB, 2],
    ]);
  });

  it("the depth limit stops the chain: a run dispatched at the limit dispatches nothing further", async () => {
    const { book, settings, rows } = open(config(1));
    push(book, { sha: sha(40) });
    await alarmAt(book, T0 + 60_000);
    vi.setSystemTime(T0 + 70_000);
    run(book, settings, { repository: APP, id: 601, sha: sha(41), action: "requested" });
    expect(rows().map((r) => [r.repository, r.depth, r.run_id])).toEqual([[APP, 1, 601]]);
  });

  it("dispatches whose run never came, however many, do not keep a new run from its dispatch", async () => {
    const { db, book, settings, rows } = open();
    // 40 dispatches of earlier hours whose runs were never seen (more than the candidates read).
    for (let i = 0; i < 40; i++) {
      const at = T0 - 3 * 3_600_000 + i * 1_000;
      db.sql.exec(
        `INSERT INTO dispatches (upstream_repository, repository, workflow, ref, upstream_sha, upstream_build, depth,
           state, attempts, next_at, dispatched_at, created_at)
         VALUES (?, ?, 'ci.yml', 'main', ?, ?, 1, 'dispatched', 1, ?, ?, ?)`,
        LIB,
        APP,
        sha(900 + i),
        `old-${i}`,
        at,
        at,
        at,
      );
    }
    push(book, { sha: sha(60) });
    await alarmAt(book, T0 + 60_000);
    vi.setSystemTime(T0 + 70_000);
    run(book, settings, { repository: APP, id: 801, sha: sha(61), action: "requested" });
    expect(rows().filter((r) => r.run_id === 801)).toMatchObject([{ upstream_sha: sha(60), state: "running" }]);
  });

  it("a run of another workflow, or created long after, is not taken for the dispatch's", async () => {
    const { book, settings, rows } = open();
    push(book, { sha: sha(50) });
    await alarmAt(book, T0 + 60_000);
    vi.setSystemTime(T0 + 70_000);
    run(book, settings, { repository: APP, id: 701, sha: sha(51), action: "requested", workflow: "other.yml" });
    vi.setSystemTime(T0 + 60_000 + 2 * 3_600_000);
    run(book, settings, { repository: APP, id: 702, sha: sha(52), action: "requested" });
    expect(rows()).toMatchObject([{ state: "dispatched", run_id: null }]);
  });
});

describe("the schema: version 6 → 7", () => {
  it("adds the two tables and keeps everything else", () => {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    const before = schemaObjects(db.sql);
    db.sql.exec("DROP TABLE dispatches");
    db.sql.exec("DROP TABLE commit_statuses");
    db.sql.exec("UPDATE meta SET value = '6' WHERE key = 'schema_version'");
    db.sql.exec("INSERT INTO routing_jobs (job_id, repository, at) VALUES (7, 'acme/app', 1)");
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(6);
    expect(SCHEMA_VERSION).toBe(11);
    expect(schemaObjects(db.sql)).toEqual(before);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dispatches").one().n).toBe(0);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM routing_jobs").one().n).toBe(1);
  });
});

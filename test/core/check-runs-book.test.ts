/**
 * Check runs in the Ledger's Book, over node:sqlite, in GitHub App mode: a routed commit from an
 * installation queues one check run in its delivery's transaction (a push and a pull request of
 * the same head commit, or a redelivery, add none), the first job start owes `in_progress`, the
 * build's completion owes `completed` once, and the alarm's desk sends each state at most once
 * with the installation's token: retrying a 500 (looking a lost create up first), waiting out a
 * 403 rate limit for the whole installation, failing a 422, pacing its writes. Retention is
 * pruned by the maintenance. GitHub is a fake `fetch` that records what it was sent.
 */
import { generateKeyPairSync } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import { Book } from "../../worker/src/book.ts";
import {
  CHECK_RUN_BATCH,
  CHECK_RUN_PER_MINUTE,
  changesFromList,
  contentKey,
  type Plan,
  type RouteIntent,
  routePlan,
  updatePlan,
} from "../../worker/src/core/index.ts";
import { parseSettings } from "../../worker/src/settings.ts";
import { intentOf } from "../support/intent.ts";
import { openBook } from "./open-book.ts";

const API = "https://github.test";
const T0 = Date.parse("2026-11-20T12:00:00Z");
const REPO = "acme/app";
const INSTALLATION = 4242;
const PRIVATE_KEY = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
/** A new App id per Book, so that no two tests share an installation token cached in the module. */
let nextApp = 90_000;

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  token: string;
}
/** Every call but the token mints, and the answers owed to the next check-run writes. */
let calls: Call[] = [];
let scripted: { status: number; headers?: Record<string, string>; created?: boolean }[] = [];
let created: { id: number; head_sha: string; name: string; external_id: string }[] = [];
let mints = 0;

beforeEach(() => {
  calls = [];
  scripted = [];
  created = [];
  mints = 0;
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
  vi.stubGlobal("fetch", async (input: string, init: RequestInit = {}) => {
    const url = new URL(input);
    const method = init.method ?? "GET";
    const token = String(new Headers(init.headers).get("authorization") ?? "").replace(/^Bearer /, "");
    const mint = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
    if (mint !== null) {
      mints++;
      const expires = new Date(Date.now() + 3_600_000).toISOString();
      return Response.json({ token: `ghs_inst${mint[1]}_${mints}`, expires_at: expires }, { status: 201 });
    }
    const body = init.body === undefined ? null : (JSON.parse(String(init.body)) as Record<string, unknown>);
    calls.push({ method, path: `${url.pathname}${url.search}`, body, token });
    if (method === "GET") {
      const sha = url.pathname.split("/")[5];
      const runs = created.filter((run) => run.head_sha === sha && run.name === url.searchParams.get("check_name"));
      return Response.json({ total_count: runs.length, check_runs: runs });
    }
    const next = scripted.shift();
    const isCreate = method === "POST";
    const run = {
      id: created.length + 1,
      head_sha: String(body?.head_sha),
      name: String(body?.name),
      external_id: String(body?.external_id),
    };
    if (next !== undefined) {
      if (isCreate && next.created) created.push(run);
      return Response.json(
        { message: next.status === 403 ? "You have exceeded a secondary rate limit" : "boom" },
        {
          status: next.status,
          headers: next.headers ?? {},
        },
      );
    }
    if (isCreate) {
      created.push(run);
      return Response.json({ ...run, status: "queued" }, { status: 201 });
    }
    return Response.json({ id: Number(url.pathname.split("/").at(-1)) });
  });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function open(options: { app?: boolean; routing?: unknown } = {}) {
  const app: Record<string, string> =
    options.app === false ? {} : { GITHUB_APP_ID: String(nextApp++), GITHUB_APP_PRIVATE_KEY: PRIVATE_KEY };
  const { db, book, settings, wakes } = openBook({
    routing: options.routing,
    bindings: { GITHUB_TOKEN: "gh-token", GITHUB_API_URL: API, ...app },
  });
  const rows = () =>
    db.sql
      .exec<Record<string, string | number | null>>(
        "SELECT repository, head_sha, name, installation_id, build_id, check_run_id, wanted, sent, status, attempts, next_at, last_error FROM check_runs ORDER BY id",
      )
      .toArray()
      .map((row) => ({ ...row }));
  return { db, book, settings, rows, wakes };
}

let nextDelivery = 0;
const sha = (n: number) => n.toString(16).padStart(40, "c");

/** A push of `sha` from the App's installation (none: a repository's own webhook); `delivery` to redeliver. */
function push(
  book: Book,
  fields: { sha: string; repository?: string; delivery?: string; installation?: number | null; files?: string[] },
) {
  const repository = fields.repository ?? REPO;
  const delivery = fields.delivery ?? `push-${++nextDelivery}`;
  const intent: RouteIntent = {
    kind: "route",
    key: contentKey("push", repository, "refs/heads/main", `${"0".repeat(39)}1`, fields.sha),
    repository,
    event: "push",
    ref: "refs/heads/main",
    sha: fields.sha,
    pullRequest: null,
    push: null,
    environment: null,
  };
  const plan = routePlan(
    intent,
    changesFromList(fields.files ?? ["services/api/Dockerfile"], 3000, "test"),
    delivery,
    new Date().toISOString(),
  );
  const installation = fields.installation === undefined ? INSTALLATION : fields.installation;
  const outcome = book.accept(delivery, "push", plan, {
    contentKey: intent.key,
    ...(installation === null ? {} : { installation: { repository, id: installation } }),
  });
  return { ...outcome, delivery, buildId: JSON.parse(outcome.body).build_id as string };
}

/** A pull request whose head is `sha`, from the installation. */
function pullRequest(book: Book, fields: { sha: string; number: number }) {
  const delivery = `pr-${++nextDelivery}`;
  const intent: RouteIntent = {
    kind: "route",
    key: contentKey("pull_request", REPO, String(fields.number), fields.sha),
    repository: REPO,
    event: "pull_request",
    ref: "refs/heads/feature",
    sha: fields.sha,
    pullRequest: fields.number,
    push: null,
    environment: null,
  };
  const plan = routePlan(intent, changesFromList(["README.md"], 3000, "test"), delivery, new Date().toISOString());
  return book.accept(delivery, "pull_request", plan, {
    contentKey: intent.key,
    installation: { repository: REPO, id: INSTALLATION },
  });
}

/** A workflow_job event of the commit's build, from the installation. */
function job(
  book: Book,
  settings: ReturnType<typeof open>["settings"],
  fields: {
    sha: string;
    id: number;
    action: "queued" | "in_progress" | "completed";
    runner?: string;
    attempt?: number;
    repository?: string;
  },
) {
  const repository = fields.repository ?? REPO;
  const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
  const payload = {
    action: fields.action,
    repository: { full_name: repository },
    installation: { id: INSTALLATION },
    workflow_job: {
      id: fields.id,
      run_id: 500 + fields.id,
      run_attempt: fields.attempt ?? 1,
      head_sha: fields.sha,
      name: `job-${fields.id}`,
      status: fields.action,
      conclusion: fields.action === "completed" ? "success" : null,
      labels: ["self-hosted", "vps"],
      runner_name: fields.action === "queued" ? null : (fields.runner ?? "vps-1"),
      runner_group_name: fields.action === "queued" ? null : "Default",
      created_at: at(0),
      started_at: fields.action === "queued" ? null : at(1),
      completed_at: fields.action === "completed" ? at(4) : null,
    },
  };
  const intent = intentOf("workflow_job", payload, settings.config);
  if (intent.kind !== "update") throw new Error("expected an update");
  const delivery = `job-${++nextDelivery}`;
  const plan: Plan = updatePlan(intent, delivery, new Date().toISOString());
  return book.accept(delivery, "workflow_job", plan, {
    contentKey: intent.key,
    installation: { repository, id: INSTALLATION },
  });
}

/** The alarm's maintenance and check-run sending, at `at`. */
async function alarmAt(book: Book, at: number) {
  vi.setSystemTime(at);
  book.maintain(at);
  await book.checkRunDesk.run(at);
}

/** The output a call sent (empty when it sent none). */
const outputOf = (call: Call | undefined) =>
  (call?.body?.output ?? { title: "", summary: "" }) as { title: string; summary: string };

const counted = (book: Book) =>
  Object.fromEntries(
    book.metrics
      .samples()
      .filter((s) => s.metric === "checkRuns")
      .map((s) => [`${s.labels.action}/${s.labels.outcome}`, s.value]),
  );

describe("a routed commit from an installation queues one check run, in its transaction", () => {
  it("a push, then a pull request of the same head commit: one row, the push's build", () => {
    const { book, rows } = open();
    const first = push(book, { sha: sha(1) });
    expect(JSON.parse(pullRequest(book, { sha: sha(1), number: 7 }).body).build_id).toEqual(expect.any(String));
    expect(rows()).toEqual([
      {
        repository: REPO,
        head_sha: sha(1),
        name: "ci-router",
        installation_id: INSTALLATION,
        build_id: first.buildId,
        check_run_id: null,
        wanted: "queued",
        sent: null,
        status: "pending",
        attempts: 0,
        next_at: T0,
        last_error: null,
      },
    ]);
    // Nothing was sent on the delivery's path.
    expect(calls).toEqual([]);
  });

  it("a redelivery (same id, or the same content under a new id) adds nothing", () => {
    const { book, rows } = open();
    const first = push(book, { sha: sha(2) });
    expect(push(book, { sha: sha(2), delivery: first.delivery }).duplicate).toBe(true);
    expect(push(book, { sha: sha(2) }).duplicate).toBe(true);
    expect(rows()).toHaveLength(1);
  });

  it("none without an installation, without App credentials, with checkRun false", () => {
    const own = open();
    push(own.book, { sha: sha(3), installation: null });
    expect(own.rows()).toEqual([]);
    const tokenOnly = open({ app: false });
    push(tokenOnly.book, { sha: sha(3) });
    expect(tokenOnly.rows()).toEqual([]);
    const off = open({ routing: { checkRun: false } });
    push(off.book, { sha: sha(3) });
    expect(off.rows()).toEqual([]);
  });

  it("named as checkRun says", () => {
    const { book, rows } = open({ routing: { checkRun: { name: "where it ran" } } });
    push(book, { sha: sha(4) });
    expect(rows()).toMatchObject([{ name: "where it ran" }]);
  });
});

describe("the alarm sends each state once, with the installation's token", () => {
  it("create, in progress, complete: one call each, and repeated alarms send nothing more", async () => {
    const { book, settings, rows } = open();
    const { buildId } = push(book, { sha: sha(5) });
    expect(book.nextDue(T0, false)).toBe(T0);
    await alarmAt(book, T0);
    expect(calls).toHaveLength(1);
    const [create] = calls;
    expect(create).toMatchObject({
      method: "POST",
      path: `/repos/${REPO}/check-runs`,
      token: `ghs_inst${INSTALLATION}_1`,
    });
    expect(create?.body).toMatchObject({
      name: "ci-router",
      head_sha: sha(5),
      external_id: buildId,
      status: "queued",
      output: { title: "Routed to vps (docker)" },
    });
    expect(create?.body).not.toHaveProperty("details_url");
    expect(outputOf(create).summary).toContain("- Rule: `docker`");
    expect(rows()).toMatchObject([{ check_run_id: 1, sent: "queued", status: "sent", attempts: 0 }]);
    await alarmAt(book, T0 + 1_000);
    expect(calls).toHaveLength(1);
    expect(book.checkRunDesk.nextDue(T0 + 1_000)).toBeNull();

    job(book, settings, { sha: sha(5), id: 1, action: "queued" });
    expect(rows()).toMatchObject([{ status: "sent" }]);
    job(book, settings, { sha: sha(5), id: 1, action: "in_progress" });
    job(book, settings, { sha: sha(5), id: 2, action: "in_progress", runner: "vps-2" });
    await alarmAt(book, T0 + 2_000);
    expect(calls.slice(1)).toMatchObject([
      {
        method: "PATCH",
        path: `/repos/${REPO}/check-runs/1`,
        body: { status: "in_progress" },
        token: `ghs_inst${INSTALLATION}_1`,
      },
    ]);
    // Unsent when the second job started: the update names both runners.
    expect(outputOf(calls[1]).summary).toContain("- Runners: `vps-1`, `vps-2`");

    job(book, settings, { sha: sha(5), id: 1, action: "completed" });
    job(book, settings, { sha: sha(5), id: 2, action: "completed", runner: "vps-2" });
    await alarmAt(book, T0 + 3_000);
    await alarmAt(book, T0 + 4_000);
    expect(calls.slice(2)).toMatchObject([
      { method: "PATCH", path: `/repos/${REPO}/check-runs/1`, body: { status: "completed", conclusion: "neutral" } },
    ]);
    const completion = outputOf(calls[2]);
    expect(completion.title).toBe("Finished success on vps (docker)");
    expect(completion.summary).toContain("- Billable minutes: 6\n");
    expect(completion.summary).toContain("- On GitHub-hosted runners: $0.04 (saved $0.04)\n");
    expect(rows()).toMatchObject([{ sent: "completed", status: "done" }]);
    expect(counted(book)).toEqual({ "create/sent": 1, "update/sent": 1, "complete/sent": 1 });

    // A re-run after completion does not reopen it.
    job(book, settings, { sha: sha(5), id: 3, action: "in_progress", attempt: 2 });
    job(book, settings, { sha: sha(5), id: 3, action: "completed", attempt: 2 });
    await alarmAt(book, T0 + 5_000);
    expect(calls).toHaveLength(3);
    expect(rows()).toMatchObject([{ status: "done" }]);
  });

  it("a later state due before the earlier one was sent: the create, then the completion, no update", async () => {
    const { book, settings, rows } = open();
    push(book, { sha: sha(6) });
    job(book, settings, { sha: sha(6), id: 1, action: "in_progress" });
    job(book, settings, { sha: sha(6), id: 1, action: "completed" });
    expect(rows()).toMatchObject([{ wanted: "completed", sent: null, status: "pending" }]);
    await alarmAt(book, T0);
    expect(calls.map((c) => [c.method, c.body?.status])).toEqual([
      ["POST", "queued"],
      ["PATCH", "completed"],
    ]);
    expect(counted(book)).toEqual({ "create/sent": 1, "complete/sent": 1 });
  });

  it("a 500 is retried with backoff; a create tried before is looked up, so a lost answer never creates a second", async () => {
    const { book, rows } = open();
    const { buildId } = push(book, { sha: sha(7) });
    // Taken by GitHub, but answered 500: the retry finds it by its build and creates nothing.
    scripted = [{ status: 500, created: true }];
    await alarmAt(book, T0);
    expect(rows()).toMatchObject([
      { status: "pending", attempts: 1, next_at: T0 + 2_000, last_error: "500 server error" },
    ]);
    await alarmAt(book, T0 + 1_999);
    expect(calls).toHaveLength(1);
    await alarmAt(book, T0 + 2_000);
    expect(calls.map((c) => c.method)).toEqual(["POST", "GET"]);
    expect(calls[1]?.path).toBe(
      `/repos/${REPO}/commits/${sha(7)}/check-runs?check_name=ci-router&filter=all&per_page=100`,
    );
    expect(created).toEqual([{ id: 1, head_sha: sha(7), name: "ci-router", external_id: buildId }]);
    expect(rows()).toMatchObject([{ check_run_id: 1, status: "sent" }]);
    expect(counted(book)).toEqual({ "create/retried": 1, "create/sent": 1 });
  });

  it("a 401 refreshes the installation's token once and the call is made again with the new one", async () => {
    const { book, rows } = open();
    push(book, { sha: sha(16) });
    scripted = [{ status: 401 }];
    await alarmAt(book, T0);
    expect(calls.map((c) => [c.method, c.token])).toEqual([
      ["POST", `ghs_inst${INSTALLATION}_1`],
      ["POST", `ghs_inst${INSTALLATION}_2`],
    ]);
    expect(mints).toBe(2);
    expect(rows()).toMatchObject([{ check_run_id: 1, status: "sent" }]);
  });

  it("a pending row with nothing owed is caught up, not sent", async () => {
    const { book, rows, db } = open();
    push(book, { sha: sha(17) });
    await alarmAt(book, T0);
    db.sql.exec("UPDATE check_runs SET status = 'pending'");
    await alarmAt(book, T0 + 1_000);
    expect(calls).toHaveLength(1);
    expect(rows()).toMatchObject([{ status: "sent" }]);
    expect(book.checkRunDesk.nextDue(T0 + 1_000)).toBeNull();
  });

  it("a 500 that created nothing: looked up, then created once", async () => {
    const { book, rows } = open();
    push(book, { sha: sha(8) });
    scripted = [{ status: 503 }];
    await alarmAt(book, T0);
    await alarmAt(book, T0 + 2_000);
    expect(calls.map((c) => c.method)).toEqual(["POST", "GET", "POST"]);
    expect(created).toHaveLength(1);
    expect(rows()).toMatchObject([{ check_run_id: 1, status: "sent" }]);
  });

  it("out of retries, a row fails and is kept with its last error; a 422 fails at once", async () => {
    const { book, rows } = open();
    push(book, { sha: sha(9) });
    scripted = Array.from({ length: 5 }, () => ({ status: 500 }));
    for (let i = 0; i < 8; i++) await alarmAt(book, T0 + i * 600_000);
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(5);
    expect(rows()).toMatchObject([
      { status: "failed", attempts: 5, last_error: "500 server error after 5 attempts: boom" },
    ]);
    expect(counted(book)).toEqual({ "create/retried": 4, "create/failed": 1 });

    const other = open();
    push(other.book, { sha: sha(10) });
    calls = [];
    scripted = [{ status: 422 }];
    await alarmAt(other.book, T0 + 10_000_000);
    await alarmAt(other.book, T0 + 20_000_000);
    expect(calls).toHaveLength(1);
    expect(other.rows()).toMatchObject([{ status: "failed", last_error: "422 refused: boom" }]);
    expect(other.book.checkRunDesk.nextDue(T0)).toBeNull();
  });

  it("a 403 with retry-after: that row and every write of its installation wait until then; others go on", async () => {
    const { book, rows, db, settings } = open();
    push(book, { sha: sha(11) });
    push(book, { sha: sha(12) });
    push(book, { sha: sha(13), repository: "other/app", installation: 777 });
    scripted = [{ status: 403, headers: { "retry-after": "30" } }];
    await alarmAt(book, T0);
    // The first was refused; the second, of the same installation, was not tried; the other installation's was sent.
    expect(calls.map((c) => [c.method, c.path, c.body?.head_sha])).toEqual([
      ["POST", `/repos/${REPO}/check-runs`, sha(11)],
      ["POST", "/repos/other/app/check-runs", sha(13)],
    ]);
    expect(rows().map((r) => [r.head_sha, r.status, r.next_at])).toEqual([
      [sha(11), "pending", T0 + 30_000],
      [sha(12), "pending", T0 + 30_000],
      [sha(13), "sent", T0],
    ]);
    // The wait is kept with the rows: a Ledger started afresh (its memory lost) sends nothing sooner.
    const restarted = new Book({ sql: db.sql, transaction: db.transaction, settings: () => settings, wake: () => {} });
    await alarmAt(restarted, T0 + 1_000);
    expect(calls).toHaveLength(2);
    // A commit routed meanwhile waits too.
    push(book, { sha: sha(14) });
    expect(rows()[3]).toMatchObject({ status: "pending", next_at: T0 + 30_000 });
    expect(book.nextDue(T0 + 1, false)).toBe(T0 + 30_000);
    await alarmAt(book, T0 + 29_999);
    expect(calls).toHaveLength(2);
    await alarmAt(book, T0 + 30_000);
    expect(calls.slice(2).map((c) => [c.method, c.body?.head_sha])).toEqual([
      ["GET", undefined],
      ["POST", sha(11)],
      ["POST", sha(12)],
      ["POST", sha(14)],
    ]);
    expect(created.filter((run) => run.head_sha === sha(11))).toHaveLength(1);
    expect(counted(book)).toEqual({ "create/retried": 1, "create/sent": 4 });
  });

  it(`at most ${CHECK_RUN_BATCH} calls a run and ${CHECK_RUN_PER_MINUTE} a minute`, async () => {
    const { book } = open();
    for (let i = 0; i < 50; i++) push(book, { sha: sha(100 + i) });
    await alarmAt(book, T0);
    expect(calls).toHaveLength(CHECK_RUN_BATCH);
    await alarmAt(book, T0 + 1_000);
    expect(calls).toHaveLength(CHECK_RUN_PER_MINUTE);
    // The minute's writes are spent: the next is due when the first of them is a minute old.
    expect(book.checkRunDesk.nextDue(T0 + 2_000)).toBe(T0 + 60_000);
    await alarmAt(book, T0 + 2_000);
    expect(calls).toHaveLength(CHECK_RUN_PER_MINUTE);
    await alarmAt(book, T0 + 61_000);
    expect(calls).toHaveLength(50);
  });

  it("without App credentials at sending time, a queued row fails, saying why", async () => {
    const db = openSqlite();
    const app = parseSettings({
      WEBHOOK_SECRET: "s",
      API_TOKEN: "t",
      GITHUB_API_URL: API,
      GITHUB_APP_ID: String(nextApp++),
      GITHUB_APP_PRIVATE_KEY: PRIVATE_KEY,
    });
    const tokenOnly = parseSettings({
      WEBHOOK_SECRET: "s",
      API_TOKEN: "t",
      GITHUB_TOKEN: "gh-token",
      GITHUB_API_URL: API,
    });
    let settings = app;
    const book = new Book({ sql: db.sql, transaction: db.transaction, settings: () => settings, wake: () => {} });
    push(book, { sha: sha(15) });
    settings = tokenOnly;
    await alarmAt(book, T0);
    expect(calls).toEqual([]);
    const [row] = db.sql
      .exec<{ status: string; last_error: string }>("SELECT status, last_error FROM check_runs")
      .toArray();
    expect(row).toEqual({
      status: "failed",
      last_error:
        "GitHub App credentials are not set (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY): only an App can write check runs",
    });
  });
});

describe("retention", () => {
  it("a completed row 7 days after its last change, an open one after 31 days; nothing sooner", async () => {
    const { book, settings, rows, db } = open();
    push(book, { sha: sha(20) });
    push(book, { sha: sha(21) });
    job(book, settings, { sha: sha(20), id: 1, action: "completed" });
    await alarmAt(book, T0);
    expect(rows().map((r) => r.status)).toEqual(["done", "sent"]);
    book.maintain(T0 + 7 * 86_400_000 - 1);
    expect(rows()).toHaveLength(2);
    book.maintain(T0 + 7 * 86_400_000 + 1);
    expect(rows().map((r) => r.head_sha)).toEqual([sha(21)]);
    book.maintain(T0 + 31 * 86_400_000 - 1);
    expect(rows()).toHaveLength(1);
    book.maintain(T0 + 31 * 86_400_000 + 1);
    expect(rows()).toEqual([]);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM check_runs").one().n).toBe(0);
  });
});

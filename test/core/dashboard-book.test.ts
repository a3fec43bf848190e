/**
 * The dashboard's tables in the Ledger's Book, over node:sqlite: a build's summary row written
 * with its record (and gone with a build another replaces), the build list read a page at a time
 * by its indexes, queue waits per hour and routing accuracy per day counted once in the
 * delivery's transaction (the router's own route jobs left out), every table let go of past its
 * retention, and a version 5 database upgraded with a summary of each live build.
 */
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import type { Book } from "../../worker/src/book.ts";
import {
  type BuildQuery,
  type BuildSummary,
  buildSummary,
  DEFAULT_RUNNERS,
  epochHour,
  type Plan,
  parseBuildQuery,
  updatePlan,
} from "../../worker/src/core/index.ts";
import { parseSettings } from "../../worker/src/settings.ts";
import { BUILD_LIST_RETENTION_DAYS } from "../../worker/src/store/builds.ts";
import { QUEUE_HOURS_KEPT } from "../../worker/src/store/queue-hours.ts";
import { migrate, SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import { type Sql, type SqlValue, schemaObjects } from "../../worker/src/store/sql.ts";
import { acceptPush, intentOf } from "../support/intent.ts";
import { V1, writeVersion1 } from "../support/schema-v1.ts";
import { openBook } from "./open-book.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse("2026-11-20T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const settings = parseSettings({ WEBHOOK_SECRET: "s", API_TOKEN: "t", ROUTING_CONFIG: "{}" });

/** A Book over a fresh database (or `db`), every statement it runs kept with its bindings. */
function open(db = openSqlite()) {
  let ran: { query: string; bindings: SqlValue[] }[] = [];
  const sql: Sql = {
    exec: (query, ...bindings) => {
      ran.push({ query, bindings });
      return db.sql.exec(query, ...bindings);
    },
  };
  const { book, count } = openBook({ routing: {}, db, sql });
  /** The statements `fn` runs. */
  const measure = (fn: () => void) => {
    ran = [];
    fn();
    const out = ran;
    ran = [];
    return out;
  };
  return { db, book, count, measure };
}

let deliveries = 0;
const nextDelivery = () => `d-${++deliveries}`;
const shaOf = (n: number) => n.toString(16).padStart(40, "c");

/** A routed push of one source file to `repository`@`sha` at `now`; its build id. */
function push(book: Book, repository: string, sha: string, now: number, files = ["src/index.ts"]): string {
  const outcome = acceptPush(book, { delivery: nextDelivery(), repository, sha, files, now });
  return (JSON.parse(outcome.body) as { build_id: string }).build_id;
}

/** A workflow_job event of `repository`@`sha`, through the path a delivery takes, at `now`. */
function jobEvent(
  book: Book,
  fields: {
    repository: string;
    sha: string;
    id: number;
    action: "queued" | "in_progress" | "completed";
    labels?: string[];
    queuedAt: number;
    startedAt?: number;
    completedAt?: number;
    conclusion?: string;
  },
  now: number,
) {
  const payload = {
    action: fields.action,
    repository: { full_name: fields.repository },
    workflow_job: {
      id: fields.id,
      run_id: 70_000 + fields.id,
      run_attempt: 1,
      head_sha: fields.sha,
      name: "build",
      status: fields.action,
      conclusion: fields.action === "completed" ? (fields.conclusion ?? "success") : null,
      labels: fields.labels ?? ["self-hosted", "vps"],
      runner_name: fields.action === "queued" ? null : "vps-1",
      runner_group_name: null,
      created_at: iso(fields.queuedAt),
      started_at: fields.startedAt === undefined ? null : iso(fields.startedAt),
      completed_at: fields.completedAt === undefined ? null : iso(fields.completedAt),
    },
  };
  const intent = intentOf("workflow_job", payload, settings.config);
  if (intent.kind !== "update") throw new Error(JSON.stringify(intent));
  const delivery = nextDelivery();
  const plan: Plan = updatePlan(intent, delivery, iso(now));
  return book.accept(delivery, "workflow_job", plan, { contentKey: intent.key }, now);
}

/** One job of a build, queued at `at`, started `waitSeconds` later, run 3 minutes. */
function runJob(book: Book, build: { repository: string; sha: string }, id: number, at: number, waitSeconds: number) {
  const started = at + waitSeconds * 1000;
  const completed = started + 3 * 60_000;
  jobEvent(book, { ...build, id, action: "queued", queuedAt: at }, at);
  jobEvent(book, { ...build, id, action: "in_progress", queuedAt: at, startedAt: started }, started);
  jobEvent(
    book,
    { ...build, id, action: "completed", queuedAt: at, startedAt: started, completedAt: completed },
    completed,
  );
}

function query(text = ""): BuildQuery {
  const read = parseBuildQuery([...new URLSearchParams(text)]);
  if (!read.ok) throw new Error(read.error.message);
  return read.value;
}

function summaryRow(db: ReturnType<typeof openSqlite>, buildId: string) {
  const row = db.sql
    .exec<{ status: string; runner: string | null; requirement: string | null; created_at: number; summary: string }>(
      "SELECT status, runner, requirement, created_at, summary FROM build_list WHERE build_id = ?",
      buildId,
    )
    .toArray()[0];
  return row === undefined ? undefined : { ...row, summary: JSON.parse(row.summary) as BuildSummary };
}

describe("build_list: a summary row for each build, written with its record", () => {
  it("is written when the build is routed and again with each workflow event, derived from the record", () => {
    const { book, db, count } = open();
    const build = { repository: "acme/app", sha: shaOf(1) };
    const id = push(book, build.repository, build.sha, T0, ["Dockerfile"]);
    const routed = summaryRow(db, id);
    expect(routed).toMatchObject({ status: "routed", runner: "vps", requirement: "docker", created_at: T0 });
    expect(routed?.summary).toEqual(buildSummary(book.build(id) as never, DEFAULT_RUNNERS));

    runJob(book, build, 501, T0 + 60_000, 90);
    const ran = summaryRow(db, id);
    expect(ran).toMatchObject({ status: "completed", created_at: T0 });
    expect(ran?.summary).toMatchObject({
      status: "completed",
      conclusion: "success",
      minutes: 3,
      queue_seconds: 90,
      jobs: { total: 1, by_runner: { vps: { jobs: 1, minutes: 3 } } },
      // vps is priced by the month; GitHub-hosted would have charged $0.006 a minute.
      cost_usd: 0,
      hosted_usd: 0.018,
    });
    expect(ran?.summary).toEqual(buildSummary(book.build(id) as never, DEFAULT_RUNNERS));
    expect(count("build_list")).toBe(1);
  });

  it("a build started by workflow events before its push is replaced by the routed build, in the list too", () => {
    const { book, db, count } = open();
    const build = { repository: "acme/early", sha: shaOf(2) };
    jobEvent(book, { ...build, id: 601, action: "queued", queuedAt: T0 }, T0);
    expect(count("build_list")).toBe(1);
    const early = db.sql.exec<{ build_id: string }>("SELECT build_id FROM build_list").one().build_id;
    expect(summaryRow(db, early)?.runner).toBeNull();
    const routed = push(book, build.repository, build.sha, T0 + 1000);
    expect(db.sql.exec<{ build_id: string }>("SELECT build_id FROM build_list").toArray()).toEqual([
      { build_id: routed },
    ]);
    expect(summaryRow(db, routed)?.summary.jobs.total).toBe(1);
  });

  it("a delivery writes one summary row by key, the same with thousands of rows as with one", () => {
    const { book, measure, count } = open();
    const listed = (statements: { query: string }[]) => statements.filter((s) => s.query.includes("build_list"));
    const first = { repository: "acme/one", sha: shaOf(3) };
    push(book, first.repository, first.sha, T0);
    const early = measure(() => jobEvent(book, { ...first, id: 701, action: "queued", queuedAt: T0 }, T0));
    for (let i = 0; i < 3000; i++) push(book, `acme/r${i % 20}`, shaOf(10_000 + i), T0 + i);
    expect(count("build_list")).toBeGreaterThan(3000);
    const late = measure(() => jobEvent(book, { ...first, id: 702, action: "queued", queuedAt: T0 }, T0 + 5000));
    expect(listed(late).map((s) => s.query)).toEqual(listed(early).map((s) => s.query));
    expect(listed(late)).toHaveLength(1);
    expect(listed(late)[0]?.query).toMatch(/^INSERT INTO build_list .* ON CONFLICT \(build_id\)/s);
  });
});

describe("GET /builds' reads: newest first, a page at a time", () => {
  /** 30 builds over three repositories, a minute apart; every third one's job failed. */
  function many() {
    const opened = open();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const build = { repository: `acme/r${i % 3}`, sha: shaOf(100 + i) };
      const at = T0 + i * 60_000;
      ids.push(push(opened.book, build.repository, build.sha, at, i % 2 === 0 ? ["Dockerfile"] : ["docs/guide.md"]));
      jobEvent(
        opened.book,
        {
          ...build,
          id: 9000 + i,
          action: "completed",
          queuedAt: at,
          startedAt: at + 1000,
          completedAt: at + 2000,
          conclusion: i % 3 === 0 ? "failure" : "success",
        },
        at + 2000,
      );
    }
    return { ...opened, ids };
  }

  /** Every page of a query, following next_cursor. */
  function pages(book: Book, text: string, between?: (page: number) => void): string[][] {
    const out: string[][] = [];
    let cursor: string | null = null;
    do {
      const page = book.listBuilds(query(cursor === null ? text : `${text}&cursor=${cursor}`));
      out.push(page.builds.map((b) => b.build_id));
      cursor = page.next_cursor;
      between?.(out.length);
    } while (cursor !== null);
    return out;
  }

  it("lists every build once, newest first, across pages, while new builds arrive between them", () => {
    const { book, ids } = many();
    let arrived = 0;
    const seen = pages(book, "limit=7", () => {
      push(book, "acme/late", shaOf(500 + arrived), T0 + 60 * 60_000 + arrived++ * 1000);
    });
    expect(seen.map((p) => p.length)).toEqual([7, 7, 7, 7, 2]);
    expect(seen.flat()).toEqual([...ids].reverse());
    const again = book.listBuilds(query("limit=100"));
    expect(again.builds).toHaveLength(30 + arrived);
    expect(again.next_cursor).toBeNull();
    expect(again.retention_days).toBe(BUILD_LIST_RETENTION_DAYS);
  });

  it("each filter narrows the list to what it names, and pages under it alone", () => {
    const { book, ids } = many();
    const every = (text: string) => pages(book, text).flat();
    expect(every("repository=ACME/r1&limit=4")).toEqual(ids.filter((_, i) => i % 3 === 1).reverse());
    expect(every("conclusion=failure&limit=3")).toEqual(ids.filter((_, i) => i % 3 === 0).reverse());
    expect(every("requirement=docker")).toEqual(ids.filter((_, i) => i % 2 === 0).reverse());
    expect(every("runner=vps")).toEqual(ids.filter((_, i) => i % 2 === 0).reverse());
    expect(every("status=completed")).toHaveLength(30);
    expect(every("status=routed")).toEqual([]);
    const since = iso(T0 + 10 * 60_000);
    const until = iso(T0 + 20 * 60_000);
    expect(every(`since=${since}&until=${until}&limit=2`)).toEqual(ids.slice(10, 20).reverse());
    expect(every("requirement=docker&conclusion=failure")).toEqual(ids.filter((_, i) => i % 6 === 0).reverse());
    expect(every("repository=acme/r2&conclusion=failure")).toEqual([]);
  });

  it("reads by the indexes: never the whole table, never a sort of it", () => {
    const { book, db, measure } = many();
    const cursor = book.listBuilds(query("limit=5")).next_cursor;
    for (const text of ["limit=5", `limit=5&cursor=${cursor}`, "repository=acme/r1", `since=${iso(T0)}`]) {
      const [read] = measure(() => book.listBuilds(query(text))).filter((s) => s.query.includes("build_list"));
      if (read === undefined) throw new Error("no read");
      const plan = db.sql
        .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${read.query}`, ...read.bindings)
        .toArray()
        .map((r) => r.detail)
        .join("\n");
      expect(plan, text).toMatch(/USING INDEX build_list_(created|repository)/);
      expect(plan, text).not.toMatch(/^SCAN build_list$/m);
      expect(plan, text).not.toMatch(/USE TEMP B-TREE FOR ORDER BY/);
    }
  });
});

describe("queue_hours: queue waits per class and hour", () => {
  it("counts a job when it leaves the queue, in the hour it started: its wait, the longest, and over the target", () => {
    const { book, db } = open();
    const build = { repository: "acme/q", sha: shaOf(800) };
    push(book, build.repository, build.sha, T0);
    runJob(book, build, 801, T0 + 60_000, 30);
    // vps's queue target is the default, 600 s.
    runJob(book, build, 802, T0 + 120_000, 700);
    const rows = db.sql.exec("SELECT * FROM queue_hours").toArray();
    expect(rows).toEqual([
      {
        runner_class: "vps",
        hour: epochHour(T0),
        jobs: 2,
        queue_seconds: 730,
        max_seconds: 700,
        over_target: 1,
      },
    ]);
    const view = book.queueView(2, undefined, T0 + 30 * 60_000);
    expect(view.classes.vps?.series.at(-1)).toEqual({
      hour: iso(epochHour(T0) * HOUR),
      jobs: 2,
      mean_seconds: 365,
      max_seconds: 700,
      over_target: 1,
    });
    expect(Object.keys(view.classes).sort()).toEqual(Object.keys(DEFAULT_RUNNERS).sort());
  });

  it("leaves out the router's own route job, as the forecast and the fleet do", () => {
    const { book, count } = open();
    const build = { repository: "acme/route-job", sha: shaOf(900) };
    push(book, build.repository, build.sha, T0);
    jobEvent(book, { ...build, id: 901, action: "queued", queuedAt: T0 }, T0);
    book.routeContext(build.repository, null, { routingJob: 901 }, T0 + 1000);
    jobEvent(book, { ...build, id: 901, action: "in_progress", queuedAt: T0, startedAt: T0 + 2000 }, T0 + 2000);
    jobEvent(
      book,
      { ...build, id: 901, action: "completed", queuedAt: T0, startedAt: T0 + 2000, completedAt: T0 + 3000 },
      T0 + 3000,
    );
    expect(count("queue_hours")).toBe(0);
    expect(count("accuracy_days")).toBe(0);
  });

  it("is kept 48 hours: the hour now and the 48 before it", () => {
    const { book, count } = open();
    const build = { repository: "acme/q2", sha: shaOf(1000) };
    push(book, build.repository, build.sha, T0);
    runJob(book, build, 1001, T0, 10);
    book.maintain(T0 + QUEUE_HOURS_KEPT * HOUR);
    expect(count("queue_hours")).toBe(1);
    book.maintain(T0 + (QUEUE_HOURS_KEPT + 1) * HOUR);
    expect(count("queue_hours")).toBe(0);
  });
});

describe("accuracy_days: routing accuracy per day, for GET /costs", () => {
  it("counts each finished job by the class named and the class used, on the day it completed; /costs reports it", () => {
    const { book, db } = open();
    const build = { repository: "acme/acc", sha: shaOf(1100) };
    push(book, build.repository, build.sha, T0, ["Dockerfile"]);
    runJob(book, build, 1101, T0, 10);
    jobEvent(
      book,
      {
        ...build,
        id: 1102,
        action: "completed",
        labels: ["ubuntu-latest"],
        queuedAt: T0,
        startedAt: T0 + 1000,
        completedAt: T0 + 60_000,
      },
      T0 + 60_000,
    );
    expect(db.sql.exec("SELECT day, suggested, used, jobs FROM accuracy_days ORDER BY used").toArray()).toEqual([
      { day: "2026-11-20", suggested: "vps", used: "github-hosted", jobs: 1 },
      { day: "2026-11-20", suggested: "vps", used: "vps", jobs: 1 },
    ]);
    // The same counts as ci_router_routing_accuracy_total.
    expect(book.metrics.gauge("accuracy", { suggested: "vps", used: "vps" })).toBe(1);
    const report = book.costsFor("2026-11-01T00:00:00.000Z", "2026-11-21T00:00:00.000Z");
    expect(report.accuracy).toEqual({
      jobs: 2,
      matched: 1,
      rate: 0.5,
      by_suggested: { vps: { "github-hosted": 1, vps: 1 } },
    });
    expect(book.costsFor("2026-11-21T00:00:00.000Z", "2026-11-22T00:00:00.000Z").accuracy.jobs).toBe(0);
    expect(report.by_day["2026-11-20"]).toMatchObject({ jobs: 2, minutes: 4 });
  });

  it("is kept 400 days, with the cost totals", () => {
    const { book, count } = open();
    const build = { repository: "acme/acc2", sha: shaOf(1200) };
    push(book, build.repository, build.sha, T0);
    runJob(book, build, 1201, T0, 10);
    book.maintain(T0 + 399 * DAY);
    expect(count("accuracy_days")).toBe(1);
    book.maintain(T0 + 401 * DAY);
    expect(count("accuracy_days")).toBe(0);
  });
});

describe("retention of the build list", () => {
  it(`keeps a build's summary ${BUILD_LIST_RETENTION_DAYS} days, long after its record is gone`, () => {
    const { book, count } = open();
    push(book, "acme/old", shaOf(1300), T0);
    book.maintain(T0 + 2 * DAY);
    expect([count("builds"), count("build_list")]).toEqual([0, 1]);
    book.maintain(T0 + BUILD_LIST_RETENTION_DAYS * DAY - 1);
    expect(count("build_list")).toBe(1);
    book.maintain(T0 + BUILD_LIST_RETENTION_DAYS * DAY + 1);
    expect(count("build_list")).toBe(0);
  });
});

describe("the schema: version 5 → 6", () => {
  it("adds the dashboard's tables, lists the live builds, and keeps everything else", () => {
    const { book, db } = open();
    const build = { repository: "acme/migrated", sha: shaOf(1400) };
    const id = push(book, build.repository, build.sha, T0, ["Dockerfile"]);
    runJob(book, build, 1401, T0, 42);
    const record = book.build(id);
    const before = schemaObjects(db.sql);
    // Back to version 5, as a Worker deployed before would have left it.
    for (const table of ["build_list", "queue_hours", "accuracy_days", "simulations"])
      db.sql.exec(`DROP TABLE ${table}`);
    db.sql.exec("UPDATE meta SET value = '5' WHERE key = 'schema_version'");

    expect(db.transaction(() => migrate(db.sql, { runners: DEFAULT_RUNNERS }))).toBe(5);
    expect(db.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(
      String(SCHEMA_VERSION),
    );
    expect(schemaObjects(db.sql)).toEqual(before);
    const row = summaryRow(db, id);
    expect(row).toMatchObject({ status: "completed", runner: "vps", requirement: "docker", created_at: T0 });
    expect(row?.summary).toEqual(buildSummary(record as never, DEFAULT_RUNNERS));
    expect(row?.summary).toMatchObject({ queue_seconds: 42, minutes: 3 });
    // The rest as it was: the build, its costs.
    expect(open(db).book.build(id)).toEqual(record);
    expect(db.sql.exec<{ n: number }>("SELECT SUM(jobs) AS n FROM cost_days").one().n).toBe(1);
  });

  it("a version 1 database lists its live build too, read from the record version 1 kept", () => {
    const db = openSqlite();
    writeVersion1(db.sql);
    open(db);
    expect(summaryRow(db, V1.buildId)).toMatchObject({
      status: "in_progress",
      runner: null,
      created_at: V1.now - 60_000,
      summary: { build_id: V1.buildId, repository: V1.repository, jobs: { total: 2 }, runs: [{ id: 77, attempt: 2 }] },
    });
  });
});

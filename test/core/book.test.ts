/**
 * The Ledger's Book (its tables and transactions) in Node, over node:sqlite: schema migration,
 * retention observed row by row, KV pacing, costs by instant, the month's gauges kept as totals,
 * job checks, and the caps on what one build may hold.
 */
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import { type Book, BUILD_RETENTION_MS, DELIVERY_RETENTION_MS } from "../../worker/src/book.ts";
import {
  type BuildRecord,
  buildId,
  fail,
  MAX_JOBS_PER_BUILD,
  MAX_RUNS_PER_BUILD,
  ok,
  type Plan,
  updatePlan,
} from "../../worker/src/core/index.ts";
import { parseSettings, type Settings } from "../../worker/src/settings.ts";
import { KV_WRITE_INTERVAL_MS } from "../../worker/src/store/builds.ts";
import { COST_DAY_RETENTION_DAYS, COST_JOB_RETENTION_MS } from "../../worker/src/store/costs.ts";
import { migrate, SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import { schemaObjects } from "../../worker/src/store/sql.ts";
import { acceptPush, intentOf } from "../support/intent.ts";
import { V1, writeVersion1 } from "../support/schema-v1.ts";
import { openBook } from "./open-book.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-11-20T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

function open(config: unknown = {}, db = openSqlite()) {
  const opened = openBook({ routing: config, db, bindings: { DISCORD_WEBHOOK_URL: "https://discord.test/hook" } });
  return { ...opened, woken: opened.wakes };
}

let nextDelivery = 0;

/** A push of `files` routed through the Book at `now`, as the Worker plans it. */
function push(book: Book, now: number, fields: { sha?: string; files?: string[]; repository?: string } = {}) {
  const repository = fields.repository ?? "acme/app";
  const delivery = `d-${++nextDelivery}`;
  const sha = fields.sha ?? nextDelivery.toString(16).padStart(40, "a");
  return acceptPush(book, { delivery, repository, sha, files: fields.files ?? [], now });
}

/** A workflow event (GitHub's payload shape) through the same path as a delivery. */
function event(book: Book, settings: { config: Settings["config"] }, name: string, payload: unknown, now: number) {
  const intent = intentOf(name, payload, settings.config);
  if (intent.kind !== "update") throw new Error(`${name}: ${JSON.stringify(intent)}`);
  const delivery = `d-${++nextDelivery}`;
  const plan: Plan = updatePlan(intent, delivery, iso(now));
  return book.accept(delivery, name, plan, { contentKey: intent.key }, now);
}

function jobPayload(fields: {
  id: number;
  action: string;
  sha?: string;
  runner?: string | null;
  started?: number;
  completed?: number;
  attempt?: number;
  conclusion?: string;
}) {
  return {
    action: fields.action,
    repository: { full_name: "acme/app" },
    workflow_job: {
      id: fields.id,
      run_id: 7000 + fields.id,
      run_attempt: fields.attempt ?? 1,
      head_sha: fields.sha ?? "a".repeat(40),
      name: "build",
      status: fields.action,
      conclusion: fields.action === "completed" ? (fields.conclusion ?? "success") : null,
      labels: ["self-hosted", "vps"],
      runner_name: fields.runner ?? null,
      runner_group_name: null,
      created_at: iso(T0),
      started_at: fields.started === undefined ? null : iso(fields.started),
      completed_at: fields.completed === undefined ? null : iso(fields.completed),
    },
  };
}

function runPayload(fields: { id: number; action: string; attempt: number; sha?: string; conclusion?: string }) {
  return {
    action: fields.action,
    repository: { full_name: "acme/app" },
    workflow_run: {
      id: fields.id,
      head_sha: fields.sha ?? "a".repeat(40),
      name: "ci",
      event: "push",
      status: fields.action === "requested" ? "queued" : fields.action,
      conclusion: fields.action === "completed" ? (fields.conclusion ?? "success") : null,
      run_attempt: fields.attempt,
      run_started_at: iso(T0),
      updated_at: iso(T0),
    },
  };
}

const settingsOf = (config: unknown = {}) =>
  parseSettings({ WEBHOOK_SECRET: "s", API_TOKEN: "t", ROUTING_CONFIG: JSON.stringify(config) });

describe("the schema: version 10 → 11 stores deliveries, commits, billed jobs and machines by their key", () => {
  const KEYED = ["deliveries", "commits", "cost_jobs", "machines"];
  const definitions = (db: ReturnType<typeof openSqlite>) =>
    db.sql
      .exec<{ name: string; sql: string }>(
        `SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN (${KEYED.map(() => "?").join(", ")}) ORDER BY name`,
        ...KEYED,
      )
      .toArray()
      .map((row) => ({ ...row }));

  /** A database as version 10 laid the four tables out: rowid tables, with rows in each. */
  function version10() {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    for (const { name, sql } of definitions(db)) {
      db.sql.exec(`DROP TABLE ${name}`);
      db.sql.exec(sql.replace(/\s*WITHOUT ROWID\s*$/, ""));
    }
    db.sql.exec(
      "INSERT INTO deliveries (id, event, status, body, received_at, content_key) VALUES ('d1', 'push', 202, '{}', 5, 'push-1'), ('d2', 'ping', 200, '{}', 6, NULL)",
    );
    db.sql.exec("INSERT INTO commits (repository, sha, build_id) VALUES ('acme/app', 'aa', 'aa-d1')");
    db.sql.exec(
      "INSERT INTO cost_jobs (job_id, run_attempt, completed_at, recorded_at) VALUES (7, 1, 3, 4), (7, 2, 5, 6)",
    );
    db.sql.exec("INSERT INTO machines (name, runner_class, last_seen, offline_since) VALUES ('vps-1', 'vps', 8, NULL)");
    db.sql.exec("UPDATE meta SET value = '10' WHERE key = 'schema_version'");
    return db;
  }

  it("rebuilds the four tables WITHOUT ROWID, every row and index kept, as a new database has them", () => {
    const db = version10();
    expect(definitions(db).some((d) => d.sql.includes("WITHOUT ROWID"))).toBe(false);
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(10);
    const fresh = openSqlite();
    fresh.transaction(() => migrate(fresh.sql, { runners: null }));
    expect(definitions(db)).toEqual(definitions(fresh));
    expect(definitions(db).map((d) => d.name)).toEqual([...KEYED].sort());
    expect(definitions(db).every((d) => d.sql.endsWith("WITHOUT ROWID"))).toBe(true);
    expect(schemaObjects(db.sql)).toEqual(schemaObjects(fresh.sql));
    expect(db.sql.exec("SELECT * FROM deliveries ORDER BY id").toArray()).toEqual([
      { id: "d1", event: "push", status: 202, body: "{}", received_at: 5, content_key: "push-1" },
      { id: "d2", event: "ping", status: 200, body: "{}", received_at: 6, content_key: null },
    ]);
    expect(db.sql.exec("SELECT * FROM commits").toArray()).toEqual([
      { repository: "acme/app", sha: "aa", build_id: "aa-d1" },
    ]);
    expect(db.sql.exec("SELECT * FROM cost_jobs ORDER BY run_attempt").toArray()).toEqual([
      { job_id: 7, run_attempt: 1, completed_at: 3, recorded_at: 4 },
      { job_id: 7, run_attempt: 2, completed_at: 5, recorded_at: 6 },
    ]);
    expect(db.sql.exec("SELECT * FROM machines").toArray()).toEqual([
      { name: "vps-1", runner_class: "vps", last_seen: 8, offline_since: null },
    ]);
    expect(db.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(
      String(SCHEMA_VERSION),
    );
  });

  it("the upgraded tables answer as before: a redelivery by id or by content is a duplicate, a billed job is billed once", () => {
    const db = version10();
    const { book } = open({}, db);
    expect(book.accept("d1", "push", { kind: "respond", status: 202, body: "{}" }, {}, T0)).toMatchObject({
      duplicate: true,
    });
    expect(
      book.accept("d9", "push", { kind: "respond", status: 202, body: "{}" }, { contentKey: "push-1" }, T0),
    ).toMatchObject({ duplicate: true });
    const billed = db.sql.exec(
      "INSERT OR IGNORE INTO cost_jobs (job_id, run_attempt, completed_at, recorded_at) VALUES (7, 1, 9, 9)",
    );
    expect(billed.rowsWritten).toBe(0);
  });
});

describe("the schema: version 1 databases are upgraded in place", () => {
  function upgraded() {
    const db = openSqlite();
    writeVersion1(db.sql);
    return { ...open({}, db), db };
  }

  it("ends with exactly the tables and indexes of a new database, at the current version", () => {
    const { db } = upgraded();
    const fresh = openSqlite();
    fresh.transaction(() => migrate(fresh.sql, { runners: null }));
    expect(schemaObjects(db.sql)).toEqual(schemaObjects(fresh.sql));
    expect(db.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(
      String(SCHEMA_VERSION),
    );
    expect(schemaObjects(db.sql).map((o) => o.name)).not.toContain("fleet");
  });

  it("keeps what version 1 held: deliveries (a redelivery is still a duplicate), builds, counters", () => {
    const { book, db } = upgraded();
    const again = book.accept(V1.delivery, "push", { kind: "respond", status: 202, body: "{}" }, {}, V1.now);
    expect(again).toMatchObject({ duplicate: true, status: 202 });
    expect(book.build(V1.buildId)?.repository).toBe(V1.repository);
    expect(db.sql.exec<{ kv_at: number }>("SELECT kv_at FROM builds").one().kv_at).toBe(V1.now - 60_000);
    expect(book.metrics.gauge("deliveries", { event: "push", outcome: "accepted" })).toBe(7);
    expect(book.metrics.histogram("runSeconds", { runner: "vps" })).toEqual(V1.runHistogram);
    expect(book.metrics.histograms().find((h) => h.metric === "runSeconds")?.sum).toBe(1234.5);
  });

  it("turns the fleet's JSON row into rows, with each job's repository and attempt from its build", () => {
    const { book } = upgraded();
    const { busy, ephemeral, queued, settled } = V1.jobs;
    expect(book.fleet.job(busy)).toMatchObject({
      state: "busy",
      machine: "vps-1",
      repository: V1.repository,
      runAttempt: 2,
      runnerClass: "vps",
    });
    expect(book.fleet.job(ephemeral)).toMatchObject({ state: "busy", machine: "eph-9", repository: "" });
    expect(book.fleet.job(queued)).toMatchObject({
      state: "queued",
      since: Date.parse("2026-11-20T11:50:00Z"),
      labels: ["self-hosted", "vps"],
    });
    expect(book.fleet.job(settled)).toMatchObject({ state: "done" });
    expect(book.fleet.machine("old-1")).toMatchObject({ offlineSince: Date.parse("2026-11-02T00:00:00Z") });
    // The next maintenance forgets the machine that runs nothing and is not configured.
    book.maintain(V1.now);
    expect(book.fleet.machine("old-1")).toBeNull();
    expect(book.fleet.machine("vps-1")).not.toBeNull();
  });

  it("bills version 1's job costs into day and month totals, by instant (a +02:00 end counts where it falls)", () => {
    const { book } = upgraded();
    const november = book.costsFor("2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z");
    // 4.5 min → 5, 10, and a GPU hour.
    expect(november.totals).toMatchObject({ jobs: 3, minutes: 75 });
    expect(november.by_runner.vps).toMatchObject({ jobs: 2, minutes: 15 });
    expect(november.baseline.not_possible).toEqual({ jobs: 1, minutes: 60 });
    const eleventh = book.costsFor("2026-11-11T00:00:00.000Z", "2026-11-12T00:00:00.000Z");
    expect(eleventh.totals).toMatchObject({ jobs: 1, minutes: 10 });
  });

  it("opening a current database again changes nothing; a newer one is refused", () => {
    const { db } = upgraded();
    const before = schemaObjects(db.sql);
    open({}, db);
    expect(schemaObjects(db.sql)).toEqual(before);
    db.sql.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    expect(() => open({}, db)).toThrow(/schema 99, newer than this Worker's/);
  });
});

describe("retention: every table lets go of rows past their time, and keeps the others", () => {
  it("deliveries after 4 days, builds and their commits after a day", () => {
    const { book, count } = open();
    push(book, T0);
    push(book, T0 + DAY);
    expect([count("deliveries"), count("builds"), count("commits")]).toEqual([2, 2, 2]);
    book.maintain(T0 + BUILD_RETENTION_MS + 1);
    expect([count("deliveries"), count("builds"), count("commits")]).toEqual([2, 1, 1]);
    book.maintain(T0 + 2 * DAY + 1);
    expect([count("builds"), count("commits")]).toEqual([0, 0]);
    book.maintain(T0 + DELIVERY_RETENTION_MS + 1);
    expect(count("deliveries")).toBe(1);
    book.maintain(T0 + DAY + DELIVERY_RETENTION_MS + 1);
    expect(count("deliveries")).toBe(0);
  });

  it("billed jobs after 7 days, day totals after 400, month totals with them", () => {
    const { book, count } = open();
    const settings = settingsOf();
    event(
      book,
      settings,
      "workflow_job",
      jobPayload({ id: 1, action: "in_progress", runner: "vps-1", started: T0 }),
      T0,
    );
    event(
      book,
      settings,
      "workflow_job",
      jobPayload({ id: 1, action: "completed", runner: "vps-1", started: T0, completed: T0 + 90_000 }),
      T0 + 90_000,
    );
    expect([count("cost_jobs"), count("cost_days"), count("cost_months")]).toEqual([1, 1, 1]);
    book.maintain(T0 + COST_JOB_RETENTION_MS + 90_001);
    expect([count("cost_jobs"), count("cost_days"), count("cost_months")]).toEqual([0, 1, 1]);
    book.maintain(T0 + COST_DAY_RETENTION_DAYS * DAY);
    expect(count("cost_days")).toBe(1);
    book.maintain(T0 + (COST_DAY_RETENTION_DAYS + 1) * DAY);
    expect(count("cost_days")).toBe(0);
    book.maintain(T0 + (COST_DAY_RETENTION_DAYS + 32) * DAY);
    expect(count("cost_months")).toBe(0);
  });

  it("finished alerts and rescues after 4 days; pending alerts stay", () => {
    const { book, count, db } = open();
    book.outbox.enqueue("gpu_build", "b1", { embeds: [] }, T0);
    book.outbox.enqueue("gpu_build", "b2", { embeds: [] }, T0);
    db.sql.exec("UPDATE outbox SET status = 'sent' WHERE build_id = 'b1'");
    db.sql.exec(
      "INSERT INTO rescues (run_id, repository, build_id, attempts, last_action, last_at) VALUES (1, 'acme/app', 'b1', 1, 'rerun', ?)",
      T0,
    );
    book.maintain(T0 + DELIVERY_RETENTION_MS - 1);
    expect([count("outbox"), count("rescues")]).toEqual([2, 1]);
    book.maintain(T0 + DELIVERY_RETENTION_MS + 1);
    expect([count("outbox"), count("rescues")]).toEqual([1, 0]);
  });

  it("a build first seen through a job event gives way to its push: one build row for the commit", () => {
    const { book, count } = open();
    const sha = "c".repeat(40);
    event(book, settingsOf(), "workflow_job", jobPayload({ id: 3, action: "queued", sha }), T0);
    expect(count("builds")).toBe(1);
    const routed = push(book, T0 + 1, { sha });
    expect([count("builds"), count("commits")]).toEqual([1, 1]);
    const only = book.build((routed.persist as BuildRecord).build_id);
    expect(Object.keys(only?.jobs ?? {})).toEqual(["3"]);
  });

  it("a queue watch ends when its job starts, not at its deadline", () => {
    const { book, count } = open();
    const settings = settingsOf();
    event(book, settings, "workflow_job", jobPayload({ id: 4, action: "queued" }), T0);
    expect(count("queue_watch")).toBe(1);
    event(
      book,
      settings,
      "workflow_job",
      jobPayload({ id: 4, action: "in_progress", runner: "vps-1", started: T0 + 5_000 }),
      T0 + 5_000,
    );
    expect(count("queue_watch")).toBe(0);
  });

  it("prunes in batches: a run that finds a full batch says more remain", () => {
    const { book, count } = open();
    for (let i = 0; i < 2_001; i++) push(book, T0, { sha: i.toString(16).padStart(40, "0") });
    expect(book.maintain(T0 + DELIVERY_RETENTION_MS + 1)).toBe(true);
    expect(count("deliveries")).toBe(1);
    expect(book.maintain(T0 + DELIVERY_RETENTION_MS + 2)).toBe(false);
    expect(count("deliveries")).toBe(0);
  });
});

describe("KV copies: at most one write per build per second", () => {
  it("a build that completes, is re-run and completes again within milliseconds is copied now, then once more when due", () => {
    const { book, woken } = open();
    const settings = settingsOf();
    const routed = push(book, T0, { sha: "a".repeat(40) });
    expect(routed.persist).not.toBeNull();
    const id = (routed.persist as BuildRecord).build_id;
    const later = T0 + 5 * 60_000;
    const done1 = event(book, settings, "workflow_run", runPayload({ id: 1, action: "completed", attempt: 1 }), later);
    expect(done1.persist?.status).toBe("completed");
    const rerun = event(
      book,
      settings,
      "workflow_run",
      runPayload({ id: 1, action: "requested", attempt: 2 }),
      later + 8,
    );
    expect(rerun.persist).toBeNull();
    const done2 = event(
      book,
      settings,
      "workflow_run",
      runPayload({ id: 1, action: "completed", attempt: 2 }),
      later + 17,
    );
    expect(done2.persist).toBeNull();
    // The owed copy is due a second after the last write, and asks for the alarm then.
    expect(woken).toContain(later + KV_WRITE_INTERVAL_MS);
    expect(book.takeKvDue(later + KV_WRITE_INTERVAL_MS - 1, 10)).toEqual([]);
    const owed = book.takeKvDue(later + KV_WRITE_INTERVAL_MS, 10);
    expect(owed.map((b) => [b.build_id, b.status, b.runs["1"]?.attempt])).toEqual([[id, "completed", 2]]);
    expect(book.takeKvDue(later + 10 * KV_WRITE_INTERVAL_MS, 10)).toEqual([]);
  });
});

describe("costs", () => {
  it("count by instant: a job ending 23:30 at UTC-2 on Nov 30 is December's", () => {
    const { book } = open();
    const settings = settingsOf();
    const end = "2026-11-30T23:30:00-02:00";
    const payload = jobPayload({ id: 3, action: "completed", runner: "vps-1", started: T0 });
    payload.workflow_job.started_at = "2026-11-30T23:00:00-02:00";
    payload.workflow_job.completed_at = end;
    event(book, settings, "workflow_job", payload, Date.parse(end));
    const november = book.costsFor("2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z");
    const december = book.costsFor("2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z");
    expect([november.totals.jobs, december.totals.jobs]).toEqual([0, 1]);
    expect(december.totals.minutes).toBe(30);
  });

  it("the month's gauges are the month's totals, kept as jobs complete: scraping reads no job row", () => {
    const { book, db } = open();
    const settings = settingsOf();
    for (let i = 0; i < 3; i++) {
      const start = T0 + i * 600_000;
      event(
        book,
        settings,
        "workflow_job",
        jobPayload({
          id: 10 + i,
          action: "completed",
          runner: "GitHub Actions 1",
          started: start,
          completed: start + 120_000,
        }),
        start + 120_000,
      );
    }
    db.sql.exec("UPDATE fleet_jobs SET state = state"); // (no-op: nothing else changes)
    const now = T0 + DAY;
    const gauges = () =>
      book
        .exposition(now)
        .split("\n")
        .filter((l) => l.startsWith("ci_router_month_"));
    const before = gauges();
    const report = book.costsFor("2026-11-01T00:00:00.000Z", iso(now));
    expect(before).toContain(`ci_router_month_cost_usd ${report.totals.cost_usd}`);
    expect(before).toContain(`ci_router_month_baseline_usd ${report.baseline.cost_usd}`);
    // With every per-job and per-day row gone, the gauges are unchanged: they are not recomputed from rows.
    db.sql.exec("DELETE FROM cost_jobs");
    db.sql.exec("DELETE FROM cost_days");
    expect(gauges()).toEqual(before);
  });

  it("bills a job attempt once, whichever way its completion comes again", () => {
    const { book, count } = open();
    const settings = settingsOf();
    const completed = jobPayload({ id: 20, action: "completed", runner: "vps-1", started: T0, completed: T0 + 60_000 });
    event(book, settings, "workflow_job", completed, T0 + 60_000);
    // The same completion under another delivery with no content key (as a check might bring it).
    const intent = intentOf("workflow_job", completed, settings.config);
    if (intent.kind !== "update") throw new Error("not an update");
    book.accept("other", "workflow_job", updatePlan(intent, "other", iso(T0)), {}, T0 + 61_000);
    expect(count("cost_jobs")).toBe(1);
    expect(book.costsFor("2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z").totals.jobs).toBe(1);
    // A re-run's job (a new job, of the run's next attempt) is billed too.
    event(
      book,
      settings,
      "workflow_job",
      { ...completed, workflow_job: { ...completed.workflow_job, id: 21, run_attempt: 2 } },
      T0 + 62_000,
    );
    expect(count("cost_jobs")).toBe(2);
  });
});

describe("job checks: a job held longer than usual is asked about, and a lost event applied once", () => {
  function held() {
    const opened = open();
    const settings = settingsOf();
    event(
      opened.book,
      settings,
      "workflow_job",
      jobPayload({ id: 30, action: "in_progress", runner: "vps-1", started: T0 }),
      T0,
    );
    const row = opened.book.fleet.job(30);
    if (row === null) throw new Error("no row");
    return { ...opened, settings, row };
  }

  it("a busy job is due a check once it has run longer than usual (an hour without history)", () => {
    const { row, book } = held();
    expect(row.checkAt).toBe(T0 + 60 * 60_000);
    expect(book.dueChecks(T0 + 60 * 60_000 - 1, 10)).toEqual([]);
    expect(book.dueChecks(T0 + 60 * 60_000, 10).map((j) => j.jobId)).toEqual([30]);
  });

  it("GitHub says completed: applied as the lost delivery, counted, its slot freed; the late real event changes nothing", () => {
    const { book, settings, row, count } = held();
    const completed = jobPayload({
      id: 30,
      action: "completed",
      runner: "vps-1",
      started: T0,
      completed: T0 + 30 * 60_000,
    });
    const now = T0 + 61 * 60_000;
    expect(book.applyCheck(row, ok({ kind: "job", job: completed.workflow_job }), now)).toBe("repaired");
    expect(book.fleet.job(30)?.state).toBe("done");
    expect(book.fleet.counts().busyByMachine.get("vps-1")).toBeUndefined();
    expect(book.metrics.gauge("jobChecks", { result: "repaired" })).toBe(1);
    expect(book.metrics.gauge("jobs", { runner: "vps", conclusion: "success" })).toBe(1);
    expect(count("cost_jobs")).toBe(1);
    // Not a webhook delivery: not counted as one.
    expect(book.metrics.gauge("deliveries", { event: "workflow_job", outcome: "accepted" })).toBe(1);
    const late = event(book, settings, "workflow_job", completed, now + 1000);
    expect(late.duplicate).toBe(true);
    expect(book.metrics.gauge("jobs", { runner: "vps", conclusion: "success" })).toBe(1);
  });

  it("GitHub says it still runs: unchanged, asked again later and later", () => {
    const { book, row } = held();
    const running = jobPayload({ id: 30, action: "in_progress", runner: "vps-1", started: T0 });
    const first = T0 + 61 * 60_000;
    expect(book.applyCheck(row, ok({ kind: "job", job: running.workflow_job }), first)).toBe("unchanged");
    const after1 = book.fleet.job(30);
    expect(after1).toMatchObject({ state: "busy", checks: 1, checkAt: first + 2 * 60 * 60_000 });
    expect(book.applyCheck(after1 ?? row, ok({ kind: "not_found" }), first + 1)).toBe("not_found");
    expect(book.fleet.job(30)).toMatchObject({ checks: 2, checkAt: first + 1 + 4 * 60 * 60_000 });
    expect(book.applyCheck(row, fail("upstream", "500"), first + 2)).toBe("failed");
    expect(book.metrics.gauge("jobChecks", { result: "unchanged" })).toBe(1);
    expect(book.metrics.gauge("jobChecks", { result: "not_found" })).toBe(1);
    expect(book.metrics.gauge("jobChecks", { result: "failed" })).toBe(1);
    // Never more often than every 6 hours.
    expect((book.fleet.job(30)?.checkAt ?? 0) - (first + 2)).toBeLessThanOrEqual(6 * 60 * 60_000);
  });

  it("what GitHub's API says is checked like a delivery: a job of another shape is a failed check, changing nothing", () => {
    const { book, row } = held();
    expect(book.applyCheck(row, ok({ kind: "job", job: { id: "thirty" } }), T0 + 61 * 60_000)).toBe("failed");
    expect(book.fleet.job(30)?.state).toBe("busy");
  });
});

describe("what one build may hold is bounded", () => {
  it(`at most ${MAX_RUNS_PER_BUILD} runs and ${MAX_JOBS_PER_BUILD} jobs, and well under a megabyte at the payload limits`, () => {
    const { book } = open();
    const settings = settingsOf();
    const routed = push(book, T0, { sha: "a".repeat(40) });
    const id = (routed.persist as BuildRecord).build_id;
    const long = "x".repeat(256);
    for (let i = 0; i < MAX_RUNS_PER_BUILD + 10; i++) {
      const run = runPayload({ id: 100 + i, action: "requested", attempt: 1 });
      run.workflow_run.name = long.repeat(4);
      event(book, settings, "workflow_run", run, T0 + i);
    }
    for (let i = 0; i < MAX_JOBS_PER_BUILD + 44; i++) {
      const job = jobPayload({ id: 1000 + i, action: "in_progress", runner: long, started: T0 });
      job.workflow_job.labels = Array.from({ length: 100 }, (_, k) => `${long.slice(0, 250)}${k}`);
      job.workflow_job.name = long.repeat(4);
      event(book, settings, "workflow_job", job, T0 + i);
    }
    const record = book.build(id);
    expect(Object.keys(record?.runs ?? {})).toHaveLength(MAX_RUNS_PER_BUILD);
    expect(Object.keys(record?.jobs ?? {})).toHaveLength(MAX_JOBS_PER_BUILD);
    expect(record?.truncated).toBe(true);
    expect(JSON.stringify(record).length).toBeLessThan(1024 * 1024);
  });

  it("jobs past the cap (a 40-job matrix re-run 7 times) are still counted and billed, each once, late and repeated events included", () => {
    const { book } = open();
    const settings = settingsOf();
    push(book, T0, { sha: "b".repeat(40) });
    const total = 40 * 8;
    for (let i = 0; i < total; i++) {
      const id = 5000 + i;
      const fields = { id, sha: "b".repeat(40), runner: `eph-${id}`, attempt: 1 + Math.floor(i / 40) };
      const started = T0 + 60_000;
      const completed = T0 + 180_000;
      event(book, settings, "workflow_job", jobPayload({ ...fields, action: "queued" }), T0);
      event(book, settings, "workflow_job", jobPayload({ ...fields, action: "in_progress", started }), T0 + 1);
      event(book, settings, "workflow_job", jobPayload({ ...fields, action: "completed", started, completed }), T0 + 2);
      // GitHub's order is not guaranteed: a late in_progress, and a completed sent again under a new id.
      event(book, settings, "workflow_job", jobPayload({ ...fields, action: "in_progress", started }), T0 + 3);
      event(book, settings, "workflow_job", jobPayload({ ...fields, action: "completed", started, completed }), T0 + 4);
    }
    const record = book.build(buildId("b".repeat(40), `d-${nextDelivery - total * 5}`));
    expect(record?.truncated).toBe(true);
    expect(Object.keys(record?.jobs ?? {})).toHaveLength(MAX_JOBS_PER_BUILD);
    expect(book.metrics.gauge("jobs", { runner: "vps", conclusion: "success" })).toBe(total);
    expect(book.metrics.gauge("accuracy", { suggested: record?.decision?.runner ?? "", used: "vps" })).toBe(total);
    expect(book.metrics.histogram("runSeconds", { runner: "vps" })?.reduce((a, b) => a + b, 0)).toBe(total);
    expect(book.costsFor("2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z").totals.jobs).toBe(total);
  });
});

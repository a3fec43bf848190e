/**
 * The learned router's history in the Ledger's Book, over node:sqlite: what a delivery observes
 * (a job of a build the learner routed, never a route job, never twice), that the tables stay
 * within their bounds whatever the number of keys fed, that what a delivery runs does not grow
 * with what has been learned (its SQL statements counted), that a decision reads rows only by
 * key, and that a version 4 database opens at the current version.
 */
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import type { Book } from "../../worker/src/book.ts";
import {
  changesFromList,
  type Decision,
  importStats,
  type LearnLimits,
  learnOptionsOf,
  type Plan,
  parseRoutingConfig,
  policyFor,
  RoutingConfigError,
  route,
  updatePlan,
} from "../../worker/src/core/index.ts";
import { migrate, SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import type { Sql } from "../../worker/src/store/sql.ts";
import { acceptPush, intentOf } from "../support/intent.ts";
import { openBook } from "./open-book.ts";

const T0 = Date.parse("2026-11-20T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

/** Learning for every repository, nothing explored; the self-hosted classes priced by the minute, so the learner's choice shows. */
const CONFIG = {
  learning: { enabled: true, exploreShare: 0 },
  runners: { vps: { cost: { perMinuteUsd: 0.05 } }, kvm2: { cost: { perMinuteUsd: 0.05 } } },
  repositories: { "plain/*": { learning: { enabled: false } } },
};

/** A Book over a fresh database, every SQL statement it runs counted (and kept, for the last delivery). */
function open(learnLimits?: Partial<LearnLimits>) {
  const db = openSqlite();
  let statements: string[] = [];
  const sql: Sql = {
    exec: (query, ...bindings) => {
      statements.push(query);
      return db.sql.exec(query, ...bindings);
    },
  };
  const { book, count } = openBook({ routing: CONFIG, db, sql, ...(learnLimits === undefined ? {} : { learnLimits }) });
  const rows = (table: string) =>
    db.sql.exec<{ key: string; row: string }>(`SELECT key, row FROM ${table} ORDER BY key`).toArray();
  /** The statements `fn` runs. */
  const measure = (fn: () => void): string[] => {
    statements = [];
    fn();
    const ran = statements;
    statements = [];
    return ran;
  };
  return { db, book, count, rows, measure };
}

let deliveries = 0;
const nextDelivery = () => `d-${++deliveries}`;

function accept(book: Book, name: string, payload: unknown): ReturnType<Book["accept"]> {
  const intent = intentOf(name, payload, parseRoutingConfig(CONFIG));
  if (intent.kind !== "update") throw new Error(`${name}: ${JSON.stringify(intent)}`);
  const delivery = nextDelivery();
  const plan: Plan = updatePlan(intent, delivery, iso(T0));
  return book.accept(delivery, name, plan, { contentKey: intent.key }, T0);
}

/** A push of `files` routed through the Book, as the Worker plans it; its decision. */
function push(book: Book, repository: string, sha: string, files = ["src/index.ts"]): Decision {
  const delivery = nextDelivery();
  const outcome = acceptPush(book, { delivery, repository, sha, files, now: T0 });
  return (JSON.parse(outcome.body) as { decision: Decision }).decision;
}

function runEvent(repository: string, sha: string, id: number, action: "requested" | "completed") {
  return {
    action,
    repository: { full_name: repository },
    workflow_run: {
      id,
      head_sha: sha,
      name: "CI",
      event: "push",
      status: action === "requested" ? "queued" : "completed",
      conclusion: action === "completed" ? "success" : null,
      run_attempt: 1,
      run_started_at: iso(T0 - 300_000),
      updated_at: iso(T0),
    },
  };
}

/** A `workflow_job` delivery of `repository`'s commit `sha`: the job `id` of run `runId`, with `fields` over its defaults. */
function jobPayload(
  repository: string,
  sha: string,
  id: number,
  runId: number,
  fields: { status: "queued" | "in_progress" | "completed" } & Record<string, unknown>,
) {
  const job = { id, run_id: runId, run_attempt: 1, head_sha: sha, name: "test", labels: ["ubuntu-latest"], ...fields };
  // GitHub names each action after the status it leaves the job in.
  return { action: fields.status, repository: { full_name: repository }, workflow_job: job };
}

/** A job that queued 30 s and ran `minutes` on GitHub-hosted, completed at T0. */
function jobEvent(
  repository: string,
  sha: string,
  fields: { id: number; runId: number; name?: string; minutes?: number },
) {
  const started = T0 - (fields.minutes ?? 1) * 60_000;
  return jobPayload(repository, sha, fields.id, fields.runId, {
    ...(fields.name === undefined ? {} : { name: fields.name }),
    status: "completed",
    conclusion: "success",
    runner_name: "GitHub Actions 1",
    runner_group_name: "GitHub Actions",
    created_at: iso(started - 30_000),
    started_at: iso(started),
    completed_at: iso(T0),
  });
}

let ids = 0;

/** One whole build of `repository`: its push, its run, one job, the run completed. Returns the push's decision. */
function build(book: Book, repository: string, job = "test"): Decision {
  const n = ++ids;
  const sha = n.toString(16).padStart(40, "0");
  const decision = push(book, repository, sha);
  accept(book, "workflow_run", runEvent(repository, sha, 100_000 + n, "requested"));
  accept(book, "workflow_job", jobEvent(repository, sha, { id: 200_000 + n, runId: 100_000 + n, name: job }));
  accept(book, "workflow_run", runEvent(repository, sha, 100_000 + n, "completed"));
  return decision;
}

const learnStatements = (statements: string[]) => statements.filter((s) => /learn_|learn_stats_rows/.test(s));

describe("what the Ledger learns from", () => {
  it("a build the learner routed: its finished job at five levels, its roster; then the learner decides", () => {
    const { book, rows } = open();
    const first = build(book, "acme/app");
    expect(first.learned).toEqual({
      probability: 1,
      explored: false,
      greedy: "vps",
      requirement: "default",
      history: false,
      expected_jobs: {},
    });
    expect(first.reasons.at(-1)).toContain("no history");
    const keys = rows("learn_stats").map((r) => r.key.split("\u001f"));
    expect(keys).toEqual([
      ["c", "github-hosted"],
      ["j", "default", "acme/app", "CI", "test", "github-hosted"],
      ["o", "default", "github-hosted"],
      ["r", "default", "acme/app", "github-hosted"],
      ["w", "default", "acme/app", "CI", "github-hosted"],
    ]);
    expect(rows("learn_rosters").map((r) => [r.key.split("\u001f"), JSON.parse(r.row)])).toEqual([
      [["b", "default", "*"], { builds: 1, jobCount: 1, jobs: [] }],
      [["b", "default", "acme/app"], { builds: 1, jobCount: 1, jobs: [{ workflow: "CI", job: "test", seen: 1 }] }],
    ]);
    build(book, "acme/app");
    build(book, "acme/app");
    const learned = push(book, "acme/app", "f".repeat(40));
    // One minute on GitHub-hosted beats a guessed minute on a $0.05 class: the learner's choice, not the tree's.
    expect(learned.runner).toBe("github-hosted");
    expect(learned.requirement).toBe("lightweight");
    expect(learned.learned).toMatchObject({ history: true, greedy: "github-hosted", requirement: "default" });
    expect(learned.reasons).toContainEqual(expect.stringMatching(/^learned: test usually 1\.\d min on github-hosted/));

    // The same decision as the core's one call over the same rows, as explain makes it.
    const history = importStats(book.learnedFor("acme/app", undefined));
    const policy = policyFor(parseRoutingConfig(CONFIG), "acme/app");
    const input = {
      repository: "acme/app",
      event: "push",
      ref: "refs/heads/feature",
      sha: "f".repeat(40),
      changes: changesFromList(["src/index.ts"], 3000, "test"),
    };
    expect(route(input, policy, book.snapshotFor("acme/app"), { history })).toEqual(learned);
  });

  it("a job finished before its run's event is learned under the workflow its own workflow_name names", () => {
    const { book, rows } = open();
    const sha = "d".repeat(40);
    push(book, "acme/early", sha);
    const job = jobEvent("acme/early", sha, { id: 300_001, runId: 300_000 });
    accept(book, "workflow_job", { ...job, workflow_job: { ...job.workflow_job, workflow_name: "CI" } });
    const keys = rows("learn_stats").map((r) => r.key.split("\u001f"));
    expect(keys).toContainEqual(["j", "default", "acme/early", "CI", "test", "github-hosted"]);
    expect(keys).toContainEqual(["w", "default", "acme/early", "CI", "github-hosted"]);
  });

  it("never a route job, never a delivery twice, never a repository that does not learn", () => {
    const { book, rows } = open();
    build(book, "acme/app");
    const before = rows("learn_stats");
    const rosters = rows("learn_rosters");
    const sha = "e".repeat(40);
    push(book, "acme/app", sha);
    // The route job asked for its route naming itself: the router's overhead, not the build's work.
    expect(book.routeContext("acme/app", sha, { routingJob: 9 }, T0).ok).toBe(true);
    accept(book, "workflow_job", jobEvent("acme/app", sha, { id: 9, runId: 77, name: "route" }));
    expect(rows("learn_stats")).toEqual(before);
    // The build completed with its route job alone: no part of what builds run.
    expect(rows("learn_rosters")).toEqual(rosters);

    const job = jobEvent("acme/app", sha, { id: 10, runId: 77 });
    accept(book, "workflow_job", job);
    const after = rows("learn_stats");
    expect(after).not.toEqual(before);
    // The same event again, under another delivery id: a duplicate, and nothing changes.
    expect(accept(book, "workflow_job", job).duplicate).toBe(true);
    expect(rows("learn_stats")).toEqual(after);

    const plain = open();
    expect(build(plain.book, "plain/app").learned).toBeUndefined();
    expect(plain.count("learn_stats") + plain.count("learn_rosters")).toBe(0);
  });
});

describe("the learning settings", () => {
  it("are off unless enabled, the top level's fields under a repository's own", () => {
    const config = parseRoutingConfig({
      learning: { enabled: true, waitUsdPerMinute: 0.02, overTargetUsdPerMinute: 0.5, minRuns: 5 },
      repositories: { "acme/app": { learning: { exploreShare: 0 } }, "acme/off": { learning: { enabled: false } } },
    });
    expect(parseRoutingConfig({}).defaults.learning).toBeUndefined();
    expect(policyFor(config, "acme/app").learning).toEqual({
      enabled: true,
      waitUsdPerMinute: 0.02,
      overTargetUsdPerMinute: 0.5,
      minRuns: 5,
      exploreShare: 0,
    });
    expect(learnOptionsOf(policyFor(config, "acme/app").learning ?? { enabled: false })).toEqual({
      waitUsdPerMinute: 0.02,
      overTargetUsdPerMinute: 0.5,
      lightweightMinutes: undefined,
      exploreShare: 0,
      minRuns: 5,
    });
    expect(policyFor(config, "acme/off").learning).toMatchObject({ enabled: false, minRuns: 5 });
    expect(parseRoutingConfig({ learning: { minRuns: 2 } }).defaults.learning).toEqual({ enabled: false, minRuns: 2 });
  });

  it("are checked with the rest of the configuration, every problem at once", () => {
    const read = () =>
      parseRoutingConfig({
        learning: {
          enabled: "yes",
          exploreShare: 1.5,
          waitUsdPerMinute: -1,
          overTargetUsdPerMinute: -1,
          lightweightMinutes: -2,
          minRuns: 0,
        },
        repositories: { "acme/app": { learning: { typo: true } } },
      });
    expect(read).toThrow(RoutingConfigError);
    const problems = (() => {
      try {
        read();
        return [];
      } catch (error) {
        return (error as RoutingConfigError).problems;
      }
    })();
    expect(problems.map((p) => p.slice(0, p.indexOf(":")))).toEqual([
      "learning.enabled",
      "learning.waitUsdPerMinute",
      "learning.overTargetUsdPerMinute",
      "learning.lightweightMinutes",
      "learning.exploreShare",
      "learning.minRuns",
      'repositories["acme/app"].learning',
    ]);
  });
});

describe("bounds", () => {
  it("holds each table to its bound whatever the number of keys fed, dropping the least recently touched", () => {
    const limits = { maxEntries: 40, maxRosters: 6 };
    const { book, count, rows, db } = open(limits);
    // Each repository's job adds three keys (job, workflow, repository) and a roster: 90 keys, 30 rosters.
    for (let i = 0; i < 30; i++) build(book, `acme/r${i}`);
    expect(count("learn_stats")).toBe(limits.maxEntries);
    expect(count("learn_rosters")).toBe(limits.maxRosters);
    const kept = db.sql
      .exec<{ key: string; value: string }>("SELECT key, value FROM meta WHERE key LIKE 'learn_%' ORDER BY key")
      .toArray();
    expect(kept).toEqual([
      { key: "learn_rosters_rows", value: String(limits.maxRosters) },
      { key: "learn_stats_rows", value: String(limits.maxEntries) },
    ]);
    const keys = rows("learn_stats").map((r) => r.key);
    // The latest repository and the shared rows, touched by every job, stay; the first repository went.
    expect(keys.filter((k) => k.includes("acme/r29"))).toHaveLength(3);
    expect(keys).toContain("o\u001fdefault\u001fgithub-hosted");
    expect(keys).toContain("c\u001fgithub-hosted");
    expect(keys.filter((k) => k.includes("acme/r0\u001f"))).toEqual([]);
  });

  it("holds the default bound of 4,096 estimates", { timeout: 60_000 }, () => {
    const { book, count } = open();
    for (let i = 0; i < 1_400; i++) build(book, `acme/r${i}`);
    expect(count("learn_stats")).toBe(4_096);
    expect(count("learn_rosters")).toBe(1_024);
  });
});

describe("what a delivery costs does not grow with what was learned", () => {
  it("runs the same statements for a build after 5,000 rows as after a few, each learned row read by key", {
    timeout: 60_000,
  }, () => {
    const { book, count, measure } = open({ maxEntries: 8_192, maxRosters: 4_096 });
    const cost = (repository: string) => {
      build(book, repository);
      const n = ++ids;
      const sha = n.toString(16).padStart(40, "0");
      const decide = measure(() => push(book, repository, sha));
      const runId = 100_000 + n;
      accept(book, "workflow_run", runEvent(repository, sha, runId, "requested"));
      const job = measure(() => accept(book, "workflow_job", jobEvent(repository, sha, { id: 200_000 + n, runId })));
      const roster = measure(() => accept(book, "workflow_run", runEvent(repository, sha, runId, "completed")));
      return { decide, job, roster };
    };
    for (let i = 0; i < 5; i++) build(book, `warm/r${i}`);
    const early = cost("early/app");
    for (let i = 0; count("learn_stats") < 5_000; i++) build(book, `acme/r${i}`);
    expect(count("learn_stats")).toBeGreaterThanOrEqual(5_000);
    const late = cost("late/app");

    expect(late.decide.length).toBe(early.decide.length);
    expect(late.job.length).toBe(early.job.length);
    expect(late.roster.length).toBe(early.roster.length);
    expect(learnStatements(late.decide)).toEqual(learnStatements(early.decide));
    expect(learnStatements(late.job)).toEqual(learnStatements(early.job));
    // A decision only reads, and only by key; a job's five rows and a build's two are read and written by key.
    for (const statement of learnStatements(late.decide)) {
      expect(statement).toMatch(/^SELECT row FROM learn_(stats|rosters) WHERE key = \?$/);
    }
    const byKey = /WHERE key = \?|ON CONFLICT \(key\)|MAX\(touched\)/;
    for (const statement of [...learnStatements(late.job), ...learnStatements(late.roster)]) {
      expect(statement).toMatch(byKey);
    }
    expect(learnStatements(late.job).filter((s) => s.startsWith("INSERT INTO learn_stats"))).toHaveLength(5);
    expect(learnStatements(late.roster).filter((s) => s.startsWith("INSERT INTO learn_rosters"))).toHaveLength(2);
  });
});

/** A job of `repository`'s commit `sha` queued at T0 on `labels`. */
function queuedJob(
  repository: string,
  sha: string,
  fields: { id: number; runId: number; name: string; labels: string[] },
) {
  return jobPayload(repository, sha, fields.id, fields.runId, {
    name: fields.name,
    labels: fields.labels,
    workflow_name: "CI",
    status: "queued",
    conclusion: null,
    runner_name: null,
    runner_group_name: null,
    created_at: iso(T0),
    started_at: null,
    completed_at: null,
  });
}

/** One whole build of `repository` whose one job, `test`, ran `minutes` on github-hosted. */
function timedBuild(book: Book, repository: string, minutes: number): void {
  const n = ++ids;
  const sha = n.toString(16).padStart(40, "0");
  push(book, repository, sha);
  accept(book, "workflow_run", runEvent(repository, sha, 100_000 + n, "requested"));
  accept(book, "workflow_job", jobEvent(repository, sha, { id: 200_000 + n, runId: 100_000 + n, minutes }));
  accept(book, "workflow_run", runEvent(repository, sha, 100_000 + n, "completed"));
}

describe("the backlog: each fleet job's expected run", () => {
  const expected = (db: ReturnType<typeof open>["db"], jobId: number) =>
    db.sql
      .exec<{ expected_seconds: number | null }>("SELECT expected_seconds FROM fleet_jobs WHERE job_id = ?", jobId)
      .one().expected_seconds;

  it("a learned build's job keeps its expected run on its class from when it queues; other jobs keep none", () => {
    const { db, book } = open();
    // Three builds teach acme/app that `test` takes about two minutes on github-hosted.
    for (let i = 0; i < 3; i++) timedBuild(book, "acme/app", 2);
    const sha = "e".repeat(40);
    expect(push(book, "acme/app", sha).learned?.history).toBe(true);
    accept(
      book,
      "workflow_job",
      queuedJob("acme/app", sha, { id: 300_001, runId: 9, name: "test", labels: ["ubuntu-latest"] }),
    );
    expect(expected(db, 300_001)).toBeGreaterThan(100);
    expect(expected(db, 300_001)).toBeLessThan(140);
    // A job of a name never run: its repository's estimate there.
    accept(
      book,
      "workflow_job",
      queuedJob("acme/app", sha, { id: 300_002, runId: 9, name: "lint", labels: ["ubuntu-latest"] }),
    );
    expect(expected(db, 300_002)).toBeGreaterThan(100);
    // On a class nothing of the organisation ran on: unknown.
    accept(
      book,
      "workflow_job",
      queuedJob("acme/app", sha, { id: 300_003, runId: 9, name: "test", labels: ["self-hosted", "kvm2"] }),
    );
    expect(expected(db, 300_003)).toBeNull();
    // A repository that does not learn decides with the tree: its jobs carry no estimate.
    const plain = "c".repeat(40);
    expect(push(book, "plain/app", plain).learned).toBeUndefined();
    accept(
      book,
      "workflow_job",
      queuedJob("plain/app", plain, { id: 300_004, runId: 10, name: "test", labels: ["ubuntu-latest"] }),
    );
    expect(expected(db, 300_004)).toBeNull();
  });

  it("the estimate stays with the job while its class does, through its start", () => {
    const { db, book } = open();
    for (let i = 0; i < 3; i++) timedBuild(book, "acme/app", 2);
    const sha = "9".repeat(40);
    push(book, "acme/app", sha);
    accept(
      book,
      "workflow_job",
      queuedJob("acme/app", sha, { id: 400_001, runId: 11, name: "test", labels: ["ubuntu-latest"] }),
    );
    const queued = expected(db, 400_001);
    expect(queued).not.toBeNull();
    // Longer runs learned meanwhile do not change what the job was expected to take when it queued.
    for (let i = 0; i < 5; i++) timedBuild(book, "acme/app", 20);
    const started = jobPayload("acme/app", sha, 400_001, 11, {
      workflow_name: "CI",
      status: "in_progress",
      created_at: iso(T0),
      started_at: iso(T0),
      runner_name: "GitHub Actions 2",
    });
    accept(book, "workflow_job", started);
    expect(db.sql.exec<{ state: string }>("SELECT state FROM fleet_jobs WHERE job_id = 400001").one().state).toBe(
      "busy",
    );
    expect(expected(db, 400_001)).toBe(queued);
  });
});

describe("the schema", () => {
  it("opens a version 9 database at the current version: fleet_jobs gains expected_seconds, its rows kept", () => {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    db.sql.exec("ALTER TABLE fleet_jobs DROP COLUMN expected_seconds");
    db.sql.exec("UPDATE meta SET value = '9' WHERE key = 'schema_version'");
    db.sql.exec(
      `INSERT INTO fleet_jobs (job_id, state, repository, run_id, run_attempt, runner_class, machine, labels, since, check_at, checks)
       VALUES (7, 'queued', 'acme/app', 1, 1, 'vps', NULL, '["self-hosted","vps"]', 1, NULL, 0)`,
    );
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(9);
    const rows = db.sql.exec<{ job_id: number; state: string; expected_seconds: number | null }>(
      "SELECT job_id, state, expected_seconds FROM fleet_jobs",
    );
    expect(rows.toArray()).toEqual([{ job_id: 7, state: "queued", expected_seconds: null }]);
    const value = db.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value;
    expect(value).toBe(String(SCHEMA_VERSION));
  });

  it("opens a version 4 database at the current version: the two tables added, the rest kept", () => {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    db.sql.exec("DROP TABLE learn_stats");
    db.sql.exec("DROP TABLE learn_rosters");
    db.sql.exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
    db.sql.exec("INSERT INTO routing_jobs (job_id, repository, at) VALUES (7, 'acme/app', 1)");
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(4);
    const value = db.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value;
    expect(value).toBe(String(SCHEMA_VERSION));
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM learn_stats").one().n).toBe(0);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM learn_rosters").one().n).toBe(0);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM routing_jobs").one().n).toBe(1);
  });
});

import type { Sql } from "../../worker/src/store/sql.ts";

/**
 * The Ledger's tables as version 1 of the router created them (before `meta` existed), and a
 * database of that shape with a little of everything in it, for the migration tests.
 */
export const SCHEMA_V1 = `
  CREATE TABLE deliveries (id TEXT PRIMARY KEY, event TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL);
  CREATE TABLE builds (build_id TEXT PRIMARY KEY, repository TEXT NOT NULL, sha TEXT, record TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE commits (repository TEXT NOT NULL, sha TEXT NOT NULL, build_id TEXT NOT NULL, PRIMARY KEY (repository, sha));
  CREATE INDEX deliveries_received ON deliveries (received_at);
  CREATE INDEX builds_created ON builds (created_at);
  CREATE TABLE metric_values (metric TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (metric, labels));
  CREATE TABLE metric_histograms (metric TEXT NOT NULL, labels TEXT NOT NULL, counts TEXT NOT NULL, sum REAL NOT NULL, PRIMARY KEY (metric, labels));
  CREATE TABLE cost_jobs (job_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL, repository TEXT NOT NULL, requirement TEXT, runner TEXT NOT NULL, suggested TEXT, started_at TEXT NOT NULL, completed_at TEXT NOT NULL, arm TEXT, recorded_at INTEGER NOT NULL, PRIMARY KEY (job_id, run_attempt));
  CREATE INDEX cost_jobs_completed ON cost_jobs (completed_at);
  CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, build_id TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL);
  CREATE INDEX outbox_due ON outbox (status, next_at);
  CREATE TABLE queue_watch (job_id INTEGER PRIMARY KEY, build_id TEXT NOT NULL, queued_at INTEGER NOT NULL, due_at INTEGER NOT NULL);
  CREATE INDEX queue_watch_due ON queue_watch (due_at);
  CREATE TABLE rescues (run_id INTEGER PRIMARY KEY, repository TEXT NOT NULL, build_id TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, run_attempt INTEGER NOT NULL DEFAULT 1, last_action TEXT NOT NULL, last_at INTEGER NOT NULL);
  CREATE INDEX rescues_action ON rescues (last_action, last_at);
  CREATE TABLE fleet (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, updated_at INTEGER NOT NULL);
`;

export const V1 = {
  now: Date.parse("2026-11-20T12:00:00Z"),
  delivery: "5b1d8a3e-0000-4000-8000-000000000001",
  buildId: "222222222222-5b1d8a3e0000",
  repository: "acme/app",
  sha: "2".repeat(40),
  /** Busy on vps-1 and on an ephemeral runner; queued; finished. */
  jobs: { busy: 501, ephemeral: 502, queued: 503, settled: 504 },
  /** One histogram's counts per bucket (11 bounds and +Inf), as version 1 kept them: a JSON array. */
  runHistogram: [0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4],
  /** Cost rows: two jobs on vps in November (one completed with a +02:00 offset), one GPU job. */
  costs: [
    {
      job_id: 9001,
      runner: "vps",
      requirement: "docker",
      started_at: "2026-11-10T10:00:00Z",
      completed_at: "2026-11-10T10:04:30Z",
    },
    {
      job_id: 9002,
      runner: "vps",
      requirement: "default",
      started_at: "2026-11-11T11:00:00+02:00",
      completed_at: "2026-11-11T11:10:00+02:00",
    },
    {
      job_id: 9003,
      runner: "ai-lab",
      requirement: "gpu",
      started_at: "2026-11-12T00:00:00Z",
      completed_at: "2026-11-12T01:00:00Z",
    },
  ],
} as const;

/** Creates version 1's tables in an empty database and fills them. */
export function writeVersion1(sql: Sql): void {
  sql.exec(SCHEMA_V1);
  const { now, delivery, buildId, repository, sha, jobs } = V1;
  const record = {
    build_id: buildId,
    repository,
    event: "push",
    ref: "refs/heads/main",
    sha,
    pull_request: null,
    delivery,
    created_at: new Date(now - 60_000).toISOString(),
    updated_at: new Date(now).toISOString(),
    decision: null,
    status: "in_progress",
    conclusion: null,
    runners_used: ["vps"],
    started_at: null,
    completed_at: null,
    runs: {
      "77": {
        id: 77,
        name: "ci",
        event: "push",
        attempt: 2,
        status: "in_progress",
        conclusion: null,
        started_at: null,
        updated_at: null,
      },
    },
    jobs: {
      [jobs.busy]: { id: jobs.busy, run_id: 77, status: "in_progress" },
      [jobs.queued]: { id: jobs.queued, run_id: 77, status: "queued" },
    },
  };
  sql.exec(
    "INSERT INTO deliveries (id, event, status, body, received_at) VALUES (?, 'push', 202, ?, ?)",
    delivery,
    JSON.stringify({ build_id: buildId, decision: null }),
    now - 60_000,
  );
  sql.exec(
    "INSERT INTO builds (build_id, repository, sha, record, created_at) VALUES (?, ?, ?, ?, ?)",
    buildId,
    repository,
    sha,
    JSON.stringify(record),
    now - 60_000,
  );
  sql.exec("INSERT INTO commits (repository, sha, build_id) VALUES (?, ?, ?)", repository, sha, buildId);
  sql.exec(
    `INSERT INTO metric_values (metric, labels, value) VALUES ('deliveries', '[["event","push"],["outcome","accepted"]]', 7)`,
  );
  sql.exec(
    `INSERT INTO metric_histograms (metric, labels, counts, sum) VALUES ('runSeconds', '[["runner","vps"]]', ?, 1234.5)`,
    JSON.stringify(V1.runHistogram),
  );
  const state = {
    machines: {
      "vps-1": {
        name: "vps-1",
        runnerClass: "vps",
        capacity: 1,
        busy: [jobs.busy],
        lastSeen: "2026-11-20T11:59:00Z",
        offlineSince: null,
        online: true,
      },
      "eph-9": {
        name: "eph-9",
        runnerClass: "vps",
        capacity: 1,
        busy: [jobs.ephemeral],
        lastSeen: "2026-11-20T11:58:00Z",
        offlineSince: null,
        online: true,
      },
      "old-1": {
        name: "old-1",
        runnerClass: "vps",
        capacity: 1,
        busy: [],
        lastSeen: "2026-11-01T00:00:00Z",
        offlineSince: "2026-11-02T00:00:00Z",
        online: false,
      },
    },
    queued: {
      [jobs.queued]: {
        jobId: jobs.queued,
        runId: 77,
        labels: ["self-hosted", "vps"],
        queuedAt: "2026-11-20T11:50:00Z",
        runnerClass: "vps",
      },
    },
    settled: { [jobs.settled]: { status: "completed", at: "2026-11-20T11:00:00Z" } },
  };
  sql.exec("INSERT INTO fleet (id, state, updated_at) VALUES (1, ?, ?)", JSON.stringify(state), now);
  for (const cost of V1.costs) {
    sql.exec(
      `INSERT INTO cost_jobs (job_id, run_attempt, repository, requirement, runner, suggested, started_at, completed_at, arm, recorded_at)
       VALUES (?, 1, ?, ?, ?, ?, ?, ?, NULL, ?)`,
      cost.job_id,
      repository,
      cost.requirement,
      cost.runner,
      cost.runner,
      cost.started_at,
      cost.completed_at,
      now,
    );
  }
}

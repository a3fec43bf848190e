import { LEDGER_INSTANCE } from "../bindings.ts";
import {
  type BuildRecord,
  buildSummary,
  type CostJob,
  costLineOf,
  DURATION_BUCKETS,
  type FleetJob,
  jobMinutes,
  MAX_STORED_LABELS,
  type Runner,
} from "../core/index.ts";
import { putBuildSummary } from "./builds.ts";
import { organisationsFromRepositories } from "./organisations.ts";
import { first, type Sql } from "./sql.ts";

/**
 * The Ledger's tables, in one place, with their version. docs/storage-schema.md describes each
 * (a test compares the two). A database of an older version is upgraded in place, in the
 * transaction that opens it; nothing it holds is dropped unless its meaning moved elsewhere.
 *
 * Versions:
 * 1. deliveries, builds, commits, metric_values, metric_histograms, cost_jobs (one row per job,
 *    kept 400 days), outbox, queue_watch, rescues, and the fleet as one JSON row (`fleet`).
 * 2. the fleet as rows (`machines`, `fleet_jobs`); deliveries keyed by content too
 *    (`content_key`); KV write times per build (`kv_at`, `kv_due`); costs by instant, rolled up
 *    per day (`cost_days`) and month (`cost_months`), with `cost_jobs` kept only to bill a job
 *    once; histogram counts in a column per bucket; `meta` holds the version.
 * 3. route requests: the repository ids OIDC tokens were first seen with (`repository_pins`) and
 *    the jobs that asked for a route (`routing_jobs`). Two new tables; nothing else changes.
 * 4. pre-warm: wake-ups for runner classes' warm hooks (`warm_calls`) and the hour-of-week
 *    history of job starts behind GET /forecast (`forecast_hours`). Two new tables; nothing else
 *    changes.
 * 5. the learned router's history: estimates per job, workflow, repository, organisation and
 *    class on each runner class (`learn_stats`) and which jobs builds run (`learn_rosters`), each
 *    bounded by a row count kept in `meta`. Two new tables; nothing else changes.
 * 6. the operator dashboard's reads: a summary row per build kept 31 days (`build_list`, filled
 *    from the live builds when upgrading), queue waits per class and hour (`queue_hours`),
 *    routing accuracy per day (`accuracy_days`) and the last published simulation
 *    (`simulations`). Four new tables; nothing else changes.
 * 7. cross-repository builds: the workflow dispatches dependencies owe and what became of them
 *    (`dispatches`), and the commit statuses owed to upstream commits (`commit_statuses`). Two
 *    new tables; nothing else changes.
 * 8. GitHub App mode: the check runs owed to routed commits (`check_runs`), the App's
 *    installations and the repositories they serve (`installations`,
 *    `installation_repositories`), and the organisation each Ledger serves (`organisations`,
 *    filled from the repositories an older Ledger holds). New tables; nothing else changes.
 * 9. one wake-up per build and class: `warm_calls` keyed by `id` (`<build_id>:<runner_class>`),
 *    so the classes a learned build's jobs are placed on are woken too. The table is rebuilt,
 *    every row kept under its new id; nothing else changes.
 * 10. each fleet job's expected run (`fleet_jobs.expected_seconds`), for the learned router's
 *    backlog. A new column, null on the rows an older version wrote; nothing else changes.
 * 11. `deliveries`, `commits`, `cost_jobs` and `machines` stored by their primary key
 *    (`WITHOUT ROWID`): a row is written once, not once in the table and again in its key's
 *    index, which saves a billed row written on every delivery, commit, billed job and machine
 *    that starts a job. The tables are rebuilt, every row kept; nothing else changes.
 */
export const SCHEMA_VERSION = 11;

/** A histogram's counts, one column per DURATION_BUCKETS bound and one for +Inf: `b0` … `b11`. */
export const BUCKET_COLUMNS = [...DURATION_BUCKETS.map((_, i) => `b${i}`), `b${DURATION_BUCKETS.length}`];

const TABLES = `
  CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    content_key TEXT
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at);
  CREATE UNIQUE INDEX IF NOT EXISTS deliveries_content ON deliveries (content_key) WHERE content_key IS NOT NULL;
  CREATE TABLE IF NOT EXISTS builds (
    build_id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    sha TEXT,
    record TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    kv_at INTEGER,
    kv_due INTEGER
  );
  CREATE INDEX IF NOT EXISTS builds_created ON builds (created_at);
  CREATE INDEX IF NOT EXISTS builds_kv_due ON builds (kv_due) WHERE kv_due IS NOT NULL;
  CREATE TABLE IF NOT EXISTS commits (
    repository TEXT NOT NULL,
    sha TEXT NOT NULL,
    build_id TEXT NOT NULL,
    PRIMARY KEY (repository, sha)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS commits_build ON commits (build_id);
  CREATE TABLE IF NOT EXISTS machines (
    name TEXT PRIMARY KEY,
    runner_class TEXT,
    last_seen INTEGER,
    offline_since INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS fleet_jobs (
    job_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    repository TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    run_attempt INTEGER NOT NULL,
    runner_class TEXT,
    machine TEXT,
    labels TEXT NOT NULL,
    since INTEGER NOT NULL,
    check_at INTEGER,
    checks INTEGER NOT NULL DEFAULT 0,
    expected_seconds REAL
  );
  CREATE INDEX IF NOT EXISTS fleet_jobs_state ON fleet_jobs (state, since);
  CREATE INDEX IF NOT EXISTS fleet_jobs_check ON fleet_jobs (check_at) WHERE check_at IS NOT NULL;
  CREATE TABLE IF NOT EXISTS metric_values (
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (metric, labels)
  );
  CREATE TABLE IF NOT EXISTS metric_histograms (
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    sum REAL NOT NULL,
    ${BUCKET_COLUMNS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(",\n    ")},
    PRIMARY KEY (metric, labels)
  );
  CREATE TABLE IF NOT EXISTS cost_jobs (
    job_id INTEGER NOT NULL,
    run_attempt INTEGER NOT NULL,
    completed_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, run_attempt)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS cost_jobs_recorded ON cost_jobs (recorded_at);
  CREATE TABLE IF NOT EXISTS cost_days (
    day TEXT NOT NULL,
    repository TEXT NOT NULL,
    runner TEXT NOT NULL,
    requirement TEXT NOT NULL,
    arm TEXT NOT NULL,
    gpu INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    PRIMARY KEY (day, repository, runner, requirement, arm, gpu)
  );
  CREATE TABLE IF NOT EXISTS cost_months (
    month TEXT NOT NULL,
    runner TEXT NOT NULL,
    gpu INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    PRIMARY KEY (month, runner, gpu)
  );
  CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    build_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
  CREATE TABLE IF NOT EXISTS queue_watch (
    job_id INTEGER PRIMARY KEY,
    build_id TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS queue_watch_due ON queue_watch (due_at);
  CREATE TABLE IF NOT EXISTS rescues (
    run_id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    build_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_attempt INTEGER NOT NULL DEFAULT 1,
    last_action TEXT NOT NULL,
    last_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS rescues_action ON rescues (last_action, last_at);
  CREATE TABLE IF NOT EXISTS repository_pins (
    key TEXT PRIMARY KEY,
    id INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS repository_pins_seen ON repository_pins (seen_at);
  CREATE TABLE IF NOT EXISTS routing_jobs (
    job_id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS routing_jobs_at ON routing_jobs (at);
  CREATE TABLE IF NOT EXISTS warm_calls (
    id TEXT PRIMARY KEY,
    build_id TEXT NOT NULL,
    runner_class TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_env TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS warm_calls_due ON warm_calls (status, next_at);
  CREATE INDEX IF NOT EXISTS warm_calls_created ON warm_calls (created_at);
  CREATE TABLE IF NOT EXISTS forecast_hours (
    runner_class TEXT NOT NULL,
    hour INTEGER NOT NULL,
    weight REAL NOT NULL,
    latest INTEGER NOT NULL,
    week INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (runner_class, hour)
  );
  CREATE INDEX IF NOT EXISTS forecast_hours_week ON forecast_hours (week);
  CREATE TABLE IF NOT EXISTS learn_stats (
    key TEXT PRIMARY KEY,
    row TEXT NOT NULL,
    touched INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS learn_stats_touched ON learn_stats (touched);
  CREATE TABLE IF NOT EXISTS learn_rosters (
    key TEXT PRIMARY KEY,
    row TEXT NOT NULL,
    touched INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS learn_rosters_touched ON learn_rosters (touched);
  CREATE TABLE IF NOT EXISTS build_list (
    build_id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    runner TEXT,
    requirement TEXT,
    status TEXT NOT NULL,
    conclusion TEXT,
    created_at INTEGER NOT NULL,
    summary TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS build_list_created ON build_list (created_at, build_id);
  CREATE INDEX IF NOT EXISTS build_list_repository ON build_list (repository, created_at);
  CREATE TABLE IF NOT EXISTS queue_hours (
    runner_class TEXT NOT NULL,
    hour INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    queue_seconds REAL NOT NULL,
    max_seconds REAL NOT NULL,
    over_target INTEGER NOT NULL,
    PRIMARY KEY (runner_class, hour)
  );
  CREATE INDEX IF NOT EXISTS queue_hours_hour ON queue_hours (hour);
  CREATE TABLE IF NOT EXISTS accuracy_days (
    day TEXT NOT NULL,
    suggested TEXT NOT NULL,
    used TEXT NOT NULL,
    jobs INTEGER NOT NULL,
    PRIMARY KEY (day, suggested, used)
  );
  CREATE TABLE IF NOT EXISTS simulations (
    key TEXT PRIMARY KEY,
    published_at INTEGER NOT NULL,
    document TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS dispatches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upstream_repository TEXT NOT NULL,
    repository TEXT NOT NULL,
    workflow TEXT NOT NULL,
    ref TEXT NOT NULL,
    upstream_sha TEXT NOT NULL,
    upstream_build TEXT NOT NULL,
    depth INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    dispatched_at INTEGER,
    run_id INTEGER,
    build_id TEXT,
    conclusion TEXT,
    html_url TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS dispatches_pending ON dispatches (upstream_repository, repository, workflow, ref) WHERE state = 'pending';
  CREATE INDEX IF NOT EXISTS dispatches_due ON dispatches (state, next_at);
  CREATE INDEX IF NOT EXISTS dispatches_upstream ON dispatches (upstream_build);
  CREATE INDEX IF NOT EXISTS dispatches_waiting ON dispatches (repository, state, dispatched_at);
  CREATE INDEX IF NOT EXISTS dispatches_run ON dispatches (run_id) WHERE run_id IS NOT NULL;
  CREATE INDEX IF NOT EXISTS dispatches_created ON dispatches (created_at);
  CREATE TABLE IF NOT EXISTS commit_statuses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository TEXT NOT NULL,
    sha TEXT NOT NULL,
    context TEXT NOT NULL,
    state TEXT NOT NULL,
    target_url TEXT,
    description TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS commit_statuses_once ON commit_statuses (repository, sha, context, state);
  CREATE INDEX IF NOT EXISTS commit_statuses_due ON commit_statuses (status, next_at);
  CREATE INDEX IF NOT EXISTS commit_statuses_created ON commit_statuses (created_at);
  CREATE TABLE IF NOT EXISTS installations (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    status TEXT NOT NULL,
    repository_selection TEXT,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS installations_status ON installations (status, updated_at);
  CREATE TABLE IF NOT EXISTS installation_repositories (
    repository TEXT PRIMARY KEY,
    installation_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS installation_repositories_served ON installation_repositories (installation_id, status, repository);
  CREATE INDEX IF NOT EXISTS installation_repositories_status ON installation_repositories (status, updated_at);
  CREATE TABLE IF NOT EXISTS organisations (
    organisation TEXT PRIMARY KEY,
    ledger TEXT NOT NULL,
    first_seen INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS organisations_ledger ON organisations (ledger);
  CREATE TABLE IF NOT EXISTS check_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    name TEXT NOT NULL,
    installation_id INTEGER NOT NULL,
    build_id TEXT NOT NULL,
    check_run_id INTEGER,
    wanted TEXT NOT NULL,
    sent TEXT,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS check_runs_commit ON check_runs (repository, head_sha, name);
  CREATE INDEX IF NOT EXISTS check_runs_due ON check_runs (status, next_at);
  CREATE INDEX IF NOT EXISTS check_runs_settled ON check_runs (status, updated_at);
  CREATE INDEX IF NOT EXISTS check_runs_created ON check_runs (created_at);
`;

/** What a migration may know of the configuration: the runner pool, to tell GPU jobs apart. */
export interface MigrationContext {
  runners: Record<string, Runner> | null;
  /** When the upgrade happens (epoch ms; default now): the `first_seen` of the organisations it lists. */
  now?: number;
}

/** The version a database is at: 0 for an empty one. */
export function schemaVersion(sql: Sql): number {
  const hasTable = (name: string) =>
    first<{ n: number }>(sql, "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", name)?.n ===
    1;
  if (hasTable("meta")) {
    return Number(first<{ value: string }>(sql, "SELECT value FROM meta WHERE key = 'schema_version'")?.value ?? 0);
  }
  return hasTable("deliveries") ? 1 : 0;
}

/**
 * Brings the database to {@link SCHEMA_VERSION}; call it inside a transaction. Returns the
 * version it found. A database newer than this code is refused rather than misread.
 */
export function migrate(sql: Sql, context: MigrationContext): number {
  const found = schemaVersion(sql);
  if (found > SCHEMA_VERSION) {
    throw new Error(`the Ledger's database is at schema ${found}, newer than this Worker's ${SCHEMA_VERSION}`);
  }
  if (found === SCHEMA_VERSION) return found;
  if (found === 1) fromVersion1(sql, context);
  // `warm_calls` came with version 4.
  if (found >= 4 && found < 9) warmCallsByClass(sql);
  // `fleet_jobs` came with version 2 (version 1's is made by `fromVersion1` with the column).
  if (found >= 2 && found < 10) addColumn(sql, "fleet_jobs", "expected_seconds", "REAL");
  // Only a table whose definition lacks WITHOUT ROWID is rebuilt: version 1 → 2 has just made
  // `cost_jobs` and `machines` anew; `deliveries` and `commits` are still version 1's.
  if (found >= 1 && found < 11) for (const table of KEYED_TABLES) storeByKey(sql, table);
  sql.exec(TABLES);
  if (found >= 1 && found < 6) buildListFromBuilds(sql, context);
  // Before the directory there was one Ledger, named `ledger`: whoever it served stays there.
  if (found >= 1 && found < 8) organisationsFromRepositories(sql, LEDGER_INSTANCE, context.now ?? Date.now());
  sql.exec(
    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    String(SCHEMA_VERSION),
  );
  return found;
}

/** Adds a column to a table that does not have it yet (read from the table's definition in `sqlite_master`). */
function addColumn(sql: Sql, table: string, column: string, type: string): void {
  const definition =
    first<{ sql: string }>(sql, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table)?.sql ?? "";
  if (new RegExp(`\\b${column}\\b`).test(definition)) return;
  sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
}

/** The tables version 11 stores by their primary key: their columns, and the indexes each has besides its key. */
const KEYED_TABLES = [
  {
    table: "deliveries",
    columns: "id, event, status, body, received_at, content_key",
    indexes: ["deliveries_received", "deliveries_content"],
  },
  { table: "commits", columns: "repository, sha, build_id", indexes: ["commits_build"] },
  { table: "machines", columns: "name, runner_class, last_seen, offline_since", indexes: [] },
  { table: "cost_jobs", columns: "job_id, run_attempt, completed_at, recorded_at", indexes: ["cost_jobs_recorded"] },
] as const;

/**
 * Version 10 → 11 (and any older version on its way): `table` rebuilt `WITHOUT ROWID` unless its
 * definition already says so. As for {@link warmCallsByClass}, the old table is moved aside and
 * its indexes dropped, the new one created, every row copied (the same columns), and the old
 * one dropped.
 */
function storeByKey(sql: Sql, { table, columns, indexes }: (typeof KEYED_TABLES)[number]): void {
  const definition =
    first<{ sql: string }>(sql, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table)?.sql ?? null;
  if (definition === null || /\bWITHOUT\s+ROWID\b/i.test(definition)) return;
  sql.exec(`ALTER TABLE ${table} RENAME TO ${table}_v10`);
  for (const index of indexes) sql.exec(`DROP INDEX IF EXISTS ${index}`);
  sql.exec(TABLES);
  sql.exec(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${table}_v10`);
  sql.exec(`DROP TABLE ${table}_v10`);
}

/**
 * Version 5 → 6 (and any older version on its way): a summary row for each live build, as
 * BuildStore writes them, so GET /builds lists the builds of the last day at once.
 */
function buildListFromBuilds(sql: Sql, context: MigrationContext): void {
  const runners = context.runners ?? {};
  for (const row of sql.exec<{ record: string; created_at: number }>("SELECT record, created_at FROM builds")) {
    putBuildSummary(sql, buildSummary(JSON.parse(row.record) as BuildRecord, runners), row.created_at);
  }
}

/**
 * Version 8 → 9 (and any version from 4 on its way): `warm_calls` keyed by build and class. A
 * primary key cannot change in place, so the old table is moved aside (its indexes dropped, for
 * the new table takes their names), the new one created, every row copied under its id, and the
 * old one dropped.
 */
function warmCallsByClass(sql: Sql): void {
  sql.exec("ALTER TABLE warm_calls RENAME TO warm_calls_v8");
  sql.exec("DROP INDEX IF EXISTS warm_calls_due");
  sql.exec("DROP INDEX IF EXISTS warm_calls_created");
  sql.exec(TABLES);
  sql.exec(
    `INSERT INTO warm_calls (id, build_id, runner_class, url, secret_env, body, status, attempts, next_at, last_error, created_at)
     SELECT build_id || ':' || runner_class, build_id, runner_class, url, secret_env, body, status, attempts, next_at, last_error, created_at
     FROM warm_calls_v8`,
  );
  sql.exec("DROP TABLE warm_calls_v8");
}

/** Version 1 → 2. Columns are added, the fleet row becomes rows, job costs become day and month totals. */
function fromVersion1(sql: Sql, context: MigrationContext): void {
  sql.exec("ALTER TABLE deliveries ADD COLUMN content_key TEXT");
  sql.exec("ALTER TABLE builds ADD COLUMN kv_at INTEGER");
  sql.exec("ALTER TABLE builds ADD COLUMN kv_due INTEGER");
  // Version 1 wrote a build's KV copy when it was created.
  sql.exec("UPDATE builds SET kv_at = created_at");
  sql.exec("ALTER TABLE cost_jobs RENAME TO cost_jobs_v1");
  sql.exec("DROP INDEX IF EXISTS cost_jobs_completed");
  sql.exec("ALTER TABLE metric_histograms RENAME TO metric_histograms_v1");
  sql.exec(TABLES);
  fleetFromVersion1(sql);
  costsFromVersion1(sql, context);
  histogramsFromVersion1(sql);
}

interface FleetStateV1 {
  machines?: Record<
    string,
    { runnerClass?: string | null; busy?: number[]; lastSeen?: string | null; offlineSince?: string | null }
  >;
  queued?: Record<
    string,
    { jobId: number; runId: number; labels?: string[]; queuedAt: string; runnerClass?: string | null }
  >;
  settled?: Record<string, { status: "in_progress" | "completed"; at: string }>;
}

const msOf = (iso: string | null | undefined): number | null => {
  const ms = iso == null ? Number.NaN : Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
};

function fleetFromVersion1(sql: Sql): void {
  const row = first<{ state: string; updated_at: number }>(sql, "SELECT state, updated_at FROM fleet WHERE id = 1");
  if (row !== undefined) {
    const state = JSON.parse(row.state) as FleetStateV1;
    const now = row.updated_at;
    // Jobs did not name their repository or attempt in version 1; the live build records do.
    const owners = new Map<number, { repository: string; attempt: number }>();
    for (const build of sql.exec<{ repository: string; record: string }>("SELECT repository, record FROM builds")) {
      const record = JSON.parse(build.record) as {
        jobs?: Record<string, { id: number; run_id: number }>;
        runs?: Record<string, { attempt?: number }>;
      };
      for (const job of Object.values(record.jobs ?? {})) {
        owners.set(job.id, { repository: build.repository, attempt: record.runs?.[String(job.run_id)]?.attempt ?? 1 });
      }
    }
    const put = (job: Omit<FleetJob, "expectedSeconds">) =>
      sql.exec(
        `INSERT OR REPLACE INTO fleet_jobs (job_id, state, repository, run_id, run_attempt, runner_class, machine, labels, since, check_at, checks)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)`,
        job.jobId,
        job.state,
        job.repository,
        job.runId,
        job.runAttempt,
        job.runnerClass,
        job.machine,
        JSON.stringify(job.labels),
        job.since,
      );
    const base = (jobId: number) => ({
      jobId,
      repository: owners.get(jobId)?.repository ?? "",
      runAttempt: owners.get(jobId)?.attempt ?? 1,
      checkAt: null,
      checks: 0,
    });
    for (const [key, settled] of Object.entries(state.settled ?? {})) {
      const jobId = Number(key);
      const since = msOf(settled.at) ?? now;
      const done = settled.status === "completed";
      put({
        ...base(jobId),
        state: done ? "done" : "busy",
        runId: 0,
        runnerClass: null,
        machine: null,
        labels: [],
        since,
      });
    }
    for (const queued of Object.values(state.queued ?? {})) {
      put({
        ...base(queued.jobId),
        state: "queued",
        runId: queued.runId,
        runnerClass: queued.runnerClass ?? null,
        machine: null,
        labels: (queued.labels ?? []).slice(0, MAX_STORED_LABELS),
        since: msOf(queued.queuedAt) ?? now,
      });
    }
    for (const [name, machine] of Object.entries(state.machines ?? {})) {
      sql.exec(
        "INSERT OR REPLACE INTO machines (name, runner_class, last_seen, offline_since) VALUES (?, ?, ?, ?)",
        name,
        machine.runnerClass ?? null,
        msOf(machine.lastSeen),
        msOf(machine.offlineSince),
      );
      for (const jobId of machine.busy ?? []) {
        put({
          ...base(jobId),
          state: "busy",
          runId: 0,
          runnerClass: machine.runnerClass ?? null,
          machine: name,
          labels: [],
          since: msOf(machine.lastSeen) ?? now,
        });
      }
    }
  }
  sql.exec("DROP TABLE IF EXISTS fleet");
}

interface CostJobV1 {
  job_id: number;
  run_attempt: number;
  repository: string;
  requirement: string | null;
  runner: string;
  suggested: string | null;
  started_at: string;
  completed_at: string;
  arm: string | null;
  recorded_at: number;
}

/** Each job of version 1's cost ledger, billed as version 2 bills it, into the day and month totals. */
function costsFromVersion1(sql: Sql, context: MigrationContext): void {
  const runners = context.runners ?? {};
  for (const old of sql.exec<CostJobV1 & Record<string, string | number | null>>("SELECT * FROM cost_jobs_v1")) {
    const job = { ...old, requirement: old.requirement as CostJob["requirement"] } satisfies CostJob;
    const completed = msOf(job.completed_at);
    if (completed === null) continue;
    sql.exec(
      "INSERT OR IGNORE INTO cost_jobs (job_id, run_attempt, completed_at, recorded_at) VALUES (?, ?, ?, ?)",
      job.job_id,
      job.run_attempt,
      completed,
      job.recorded_at,
    );
    addCostLine(sql, costLineOf(job, runners), completed, jobMinutes(job));
  }
  sql.exec("DROP TABLE cost_jobs_v1");
}

/** Version 1 kept a histogram's counts as a JSON array: now a column each. */
function histogramsFromVersion1(sql: Sql): void {
  for (const row of sql.exec<{ metric: string; labels: string; counts: string; sum: number }>(
    "SELECT metric, labels, counts, sum FROM metric_histograms_v1",
  )) {
    const counts = JSON.parse(row.counts) as number[];
    sql.exec(
      `INSERT INTO metric_histograms (metric, labels, sum, ${BUCKET_COLUMNS.join(", ")}) VALUES (?, ?, ?, ${BUCKET_COLUMNS.map(() => "?").join(", ")})`,
      row.metric,
      row.labels,
      row.sum,
      ...BUCKET_COLUMNS.map((_, i) => counts[i] ?? 0),
    );
  }
  sql.exec("DROP TABLE metric_histograms_v1");
}

/** Adds a billed job to its day's and month's totals. */
export function addCostLine(
  sql: Sql,
  line: { repository: string; runner: string; requirement: string | null; arm: string | null; gpu: boolean },
  completedAt: number,
  minutes: number,
): void {
  const day = new Date(completedAt).toISOString().slice(0, 10);
  sql.exec(
    `INSERT INTO cost_days (day, repository, runner, requirement, arm, gpu, jobs, minutes) VALUES (?, ?, ?, ?, ?, ?, 1, ?)
     ON CONFLICT (day, repository, runner, requirement, arm, gpu) DO UPDATE SET jobs = jobs + 1, minutes = minutes + excluded.minutes`,
    day,
    line.repository,
    line.runner,
    line.requirement ?? "",
    line.arm ?? "",
    line.gpu ? 1 : 0,
    minutes,
  );
  sql.exec(
    `INSERT INTO cost_months (month, runner, gpu, jobs, minutes) VALUES (?, ?, ?, 1, ?)
     ON CONFLICT (month, runner, gpu) DO UPDATE SET jobs = jobs + 1, minutes = minutes + excluded.minutes`,
    day.slice(0, 7),
    line.runner,
    line.gpu ? 1 : 0,
    minutes,
  );
}

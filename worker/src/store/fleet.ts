import {
  type AheadRuns,
  addActive,
  DONE_RETENTION_MS,
  type FleetCounts,
  type FleetJob,
  type FleetJobState,
  type FleetMachine,
  MAX_AGE_MS,
  MAX_AHEAD_LISTED,
} from "../core/index.ts";
import { first, type Sql } from "./sql.ts";

interface JobRow extends Record<string, string | number | null> {
  job_id: number;
  state: string;
  repository: string;
  run_id: number;
  run_attempt: number;
  runner_class: string | null;
  machine: string | null;
  labels: string;
  since: number;
  check_at: number | null;
  checks: number;
  expected_seconds: number | null;
}

const toJob = (row: JobRow): FleetJob => ({
  jobId: row.job_id,
  state: row.state as FleetJobState,
  repository: row.repository,
  runId: row.run_id,
  runAttempt: row.run_attempt,
  runnerClass: row.runner_class,
  machine: row.machine,
  labels: JSON.parse(row.labels) as string[],
  since: row.since,
  checkAt: row.check_at,
  checks: row.checks,
  expectedSeconds: row.expected_seconds,
});

interface MachineRow extends Record<string, string | number | null> {
  name: string;
  runner_class: string | null;
  last_seen: number | null;
  offline_since: number | null;
}

const toMachine = (row: MachineRow): FleetMachine => ({
  name: row.name,
  runnerClass: row.runner_class,
  lastSeen: row.last_seen,
  offlineSince: row.offline_since,
});

/**
 * The fleet's live state as rows (core/fleet.ts): `fleet_jobs`, one per job followed (waiting,
 * queued, busy, or done for a day), and `machines`, one per configured machine or machine
 * running a job. Every change is by key; reads count active jobs only, so their cost follows
 * the fleet's present size, never how many runner names it has seen.
 */
export class FleetStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  job(jobId: number): FleetJob | null {
    const row = first<JobRow>(this.sql, "SELECT * FROM fleet_jobs WHERE job_id = ?", jobId);
    return row === undefined ? null : toJob(row);
  }

  putJob(job: FleetJob): void {
    this.sql.exec(
      `INSERT INTO fleet_jobs (job_id, state, repository, run_id, run_attempt, runner_class, machine, labels, since, check_at, checks, expected_seconds)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, repository = excluded.repository, run_id = excluded.run_id,
         run_attempt = excluded.run_attempt, runner_class = excluded.runner_class, machine = excluded.machine,
         labels = excluded.labels, since = excluded.since, check_at = excluded.check_at, checks = excluded.checks,
         expected_seconds = excluded.expected_seconds`,
      job.jobId,
      job.state,
      job.repository,
      job.runId,
      job.runAttempt,
      job.runnerClass,
      job.machine,
      JSON.stringify(job.labels),
      job.since,
      job.checkAt,
      job.checks,
      job.expectedSeconds,
    );
  }

  deleteJob(jobId: number): void {
    this.sql.exec("DELETE FROM fleet_jobs WHERE job_id = ?", jobId);
  }

  /** Sets when a job is checked next, and how many checks it has had in its state. */
  scheduleCheck(jobId: number, checkAt: number | null, checks: number): void {
    this.sql.exec("UPDATE fleet_jobs SET check_at = ?, checks = ? WHERE job_id = ?", checkAt, checks, jobId);
  }

  machine(name: string): FleetMachine | null {
    const row = first<MachineRow>(this.sql, "SELECT * FROM machines WHERE name = ?", name);
    return row === undefined ? null : toMachine(row);
  }

  /** A machine seen at `now` (a job started or ended on it, or GitHub listed it online), in `runnerClass`. */
  sighted(name: string, runnerClass: string | null, now: number): void {
    this.sql.exec(
      `INSERT INTO machines (name, runner_class, last_seen, offline_since) VALUES (?, ?, ?, NULL)
       ON CONFLICT (name) DO UPDATE SET runner_class = COALESCE(excluded.runner_class, runner_class),
         last_seen = MAX(COALESCE(last_seen, 0), excluded.last_seen)`,
      name,
      runnerClass,
      now,
    );
  }

  /** A machine reported offline at `now` (a report older than its last sighting changes nothing). */
  reportedOffline(name: string, runnerClass: string | null, now: number): void {
    this.sql.exec(
      `INSERT INTO machines (name, runner_class, last_seen, offline_since) VALUES (?, ?, NULL, ?)
       ON CONFLICT (name) DO UPDATE SET offline_since = MAX(COALESCE(offline_since, 0), excluded.offline_since)`,
      name,
      runnerClass,
      now,
    );
  }

  /** Jobs busy on a machine. */
  busyOn(machine: string): number {
    return (
      first<{ n: number }>(
        this.sql,
        "SELECT COUNT(*) AS n FROM fleet_jobs WHERE state = 'busy' AND machine = ?",
        machine,
      )?.n ?? 0
    );
  }

  /** Forgets a machine that runs nothing (the caller knows it is not configured). */
  forgetIfIdle(name: string): void {
    this.sql.exec(
      "DELETE FROM machines WHERE name = ? AND NOT EXISTS (SELECT 1 FROM fleet_jobs WHERE state = 'busy' AND machine = ?)",
      name,
      name,
    );
  }

  /** Every stored machine, with the active jobs counted by machine and class. */
  /** The fleet's counts; per repository (`activeByClass`) only when fair shares will read them. */
  counts(perRepository = true): FleetCounts {
    const machines = this.sql.exec<MachineRow>("SELECT * FROM machines ORDER BY name").toArray().map(toMachine);
    const busyByMachine = new Map<string, number>();
    const busyByClass = new Map<string, number>();
    const queuedByClass = new Map<string, number>();
    const waitingByClass = new Map<string, number>();
    for (const row of this.sql.exec<{ machine: string | null; runner_class: string | null; n: number }>(
      "SELECT machine, runner_class, COUNT(*) AS n FROM fleet_jobs WHERE state = 'busy' GROUP BY machine, runner_class",
    )) {
      if (row.machine !== null) busyByMachine.set(row.machine, (busyByMachine.get(row.machine) ?? 0) + row.n);
      if (row.runner_class !== null)
        busyByClass.set(row.runner_class, (busyByClass.get(row.runner_class) ?? 0) + row.n);
    }
    for (const row of this.sql.exec<{ state: string; runner_class: string | null; n: number }>(
      "SELECT state, runner_class, COUNT(*) AS n FROM fleet_jobs WHERE state IN ('queued', 'waiting') GROUP BY state, runner_class",
    )) {
      if (row.runner_class === null) continue;
      (row.state === "queued" ? queuedByClass : waitingByClass).set(row.runner_class, row.n);
    }
    const activeByClass = perRepository ? this.activeByClass() : new Map<string, Map<string, number>>();
    return { machines, busyByMachine, busyByClass, queuedByClass, waitingByClass, activeByClass };
  }

  /**
   * Queued and busy jobs per class and repository (names lower-cased), for fair shares: one
   * grouped query read by the state index, so it reads the jobs active now and no finished row
   * (at most one result row per active job). The router's own routing jobs left the fleet when
   * they were recorded, so they are not counted.
   */
  private activeByClass(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const row of this.sql.exec<{ runner_class: string; repository: string; n: number }>(
      "SELECT runner_class, repository, COUNT(*) AS n FROM fleet_jobs WHERE state IN ('queued', 'busy') AND runner_class IS NOT NULL GROUP BY runner_class, repository",
    )) {
      addActive(out, row.runner_class, row.repository, row.n);
    }
    return out;
  }

  /**
   * Per class, the expected runs of its busy jobs and of its queued ones, oldest first
   * (`fleet_jobs.expected_seconds`), at most `MAX_AHEAD_LISTED` of each: the learned router's
   * backlog. One query read in the state index's order, active jobs only.
   */
  ahead(): Map<string, AheadRuns> {
    const out = new Map<string, AheadRuns>();
    for (const row of this.sql.exec<{ state: string; runner_class: string; expected_seconds: number | null }>(
      "SELECT state, runner_class, expected_seconds FROM fleet_jobs WHERE state IN ('busy', 'queued') AND runner_class IS NOT NULL ORDER BY state, since, job_id",
    )) {
      let ahead = out.get(row.runner_class);
      if (ahead === undefined) out.set(row.runner_class, (ahead = { running: [], queued: [] }));
      const list = row.state === "busy" ? ahead.running : ahead.queued;
      if (list.length < MAX_AHEAD_LISTED) list.push(row.expected_seconds);
    }
    return out;
  }

  /** The ids of the jobs busy on each machine, ascending. */
  jobsByMachine(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const row of this.sql.exec<{ machine: string; job_id: number }>(
      "SELECT machine, job_id FROM fleet_jobs WHERE state = 'busy' AND machine IS NOT NULL ORDER BY job_id",
    )) {
      const list = out.get(row.machine);
      if (list === undefined) out.set(row.machine, [row.job_id]);
      else list.push(row.job_id);
    }
    return out;
  }

  /** Busy jobs on `machine` that started before `before`. */
  busySince(machine: string, before: number): FleetJob[] {
    return this.sql
      .exec<JobRow>("SELECT * FROM fleet_jobs WHERE state = 'busy' AND machine = ? AND since < ?", machine, before)
      .toArray()
      .map(toJob);
  }

  /**
   * Jobs queued for a runner since before `before`, the longest waiting first (GET /queue's
   * `waiting_too_long`): by the state index, at most the jobs queued now.
   */
  queuedBefore(before: number): FleetJob[] {
    return this.sql
      .exec<JobRow>("SELECT * FROM fleet_jobs WHERE state = 'queued' AND since < ? ORDER BY since", before)
      .toArray()
      .map(toJob);
  }

  /** Jobs due a check at `now`, soonest first. */
  dueChecks(now: number, limit: number): FleetJob[] {
    return this.sql
      .exec<JobRow>("SELECT * FROM fleet_jobs WHERE check_at <= ? ORDER BY check_at LIMIT ?", now, limit)
      .toArray()
      .map(toJob);
  }

  /** When the next check is due, or null. */
  nextCheck(): number | null {
    return first<{ at: number | null }>(this.sql, "SELECT MIN(check_at) AS at FROM fleet_jobs")?.at ?? null;
  }

  /**
   * Jobs held past their state's maximum age at `now` (core/fleet.ts `MAX_AGE_MS`), and finished
   * jobs past their retention: up to `limit` of each state.
   */
  expired(now: number, limit: number): FleetJob[] {
    const limits: [FleetJobState, number][] = [
      ["waiting", MAX_AGE_MS.waiting],
      ["queued", MAX_AGE_MS.queued],
      ["busy", MAX_AGE_MS.busy],
      ["done", DONE_RETENTION_MS],
    ];
    return limits.flatMap(([state, age]) =>
      this.sql
        .exec<JobRow>(
          "SELECT * FROM fleet_jobs WHERE state = ? AND since < ? ORDER BY since LIMIT ?",
          state,
          now - age,
          limit,
        )
        .toArray()
        .map(toJob),
    );
  }

  /** Machines that run nothing, other than `keep` (the configured ones): up to `limit` names. */
  idleMachines(keep: ReadonlySet<string>, limit: number): string[] {
    return this.sql
      .exec<{ name: string }>(
        "SELECT name FROM machines m WHERE NOT EXISTS (SELECT 1 FROM fleet_jobs j WHERE j.machine = m.name AND j.state = 'busy') ORDER BY name",
      )
      .toArray()
      .map((r) => r.name)
      .filter((name) => !keep.has(name))
      .slice(0, limit);
  }
}

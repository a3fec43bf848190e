import { type BilledLine, type CostJob, jobMinutes, parseInstant, type Requirement } from "../core/index.ts";
import { addCostLine } from "./schema.ts";
import type { Sql } from "./sql.ts";

/** A job's billing is remembered this long, so it is billed once (jobs end within 5 days). */
export const COST_JOB_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** Day totals are kept for reports this long: 400 days. */
export const COST_DAY_RETENTION_DAYS = 400;

interface DayRow extends Record<string, string | number> {
  day: string;
  repository: string;
  runner: string;
  requirement: string;
  arm: string;
  gpu: number;
  jobs: number;
  minutes: number;
}

const toLine = (row: DayRow): BilledLine => ({
  day: row.day,
  repository: row.repository,
  runner: row.runner,
  requirement: row.requirement === "" ? null : (row.requirement as Requirement),
  arm: row.arm === "" ? null : row.arm,
  gpu: row.gpu === 1,
  jobs: row.jobs,
  minutes: row.minutes,
});

/**
 * The cost ledger: billed minutes per UTC day (by repository, runner, requirement, A/B arm and
 * GPU work) for 400 days, and per month (by runner) for the gauges, both added to in the
 * delivery's transaction; `cost_jobs` remembers which job attempts were billed, so none is
 * billed twice. Reports read the day totals of their period, never one row per job.
 */
export class CostStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Bills a completed job once, by the instant it completed; false when it was billed already or has no readable end. */
  insert(job: CostJob, gpu: boolean, now: number): boolean {
    const completed = parseInstant(job.completed_at);
    if (completed === null) return false;
    const inserted = this.sql.exec(
      "INSERT OR IGNORE INTO cost_jobs (job_id, run_attempt, completed_at, recorded_at) VALUES (?, ?, ?, ?)",
      job.job_id,
      job.run_attempt,
      completed,
      now,
    ).rowsWritten;
    if (inserted === 0) return false;
    addCostLine(
      this.sql,
      { repository: job.repository, runner: job.runner, requirement: job.requirement, arm: job.arm ?? null, gpu },
      completed,
      jobMinutes(job),
    );
    return true;
  }

  /** The day totals of the UTC days from `firstDay` to `lastDay` (YYYY-MM-DD, both included). */
  days(firstDay: string, lastDay: string): BilledLine[] {
    return this.sql
      .exec<DayRow>(
        "SELECT day, repository, runner, requirement, arm, gpu, jobs, minutes FROM cost_days WHERE day >= ? AND day <= ?",
        firstDay,
        lastDay,
      )
      .toArray()
      .map(toLine);
  }

  /** A month's totals by runner (YYYY-MM), as lines without a repository. */
  month(month: string): BilledLine[] {
    return this.sql
      .exec<{ runner: string; gpu: number; jobs: number; minutes: number }>(
        "SELECT runner, gpu, jobs, minutes FROM cost_months WHERE month = ?",
        month,
      )
      .toArray()
      .map((row) => ({
        repository: "",
        runner: row.runner,
        requirement: null,
        arm: null,
        gpu: row.gpu === 1,
        jobs: row.jobs,
        minutes: row.minutes,
      }));
  }

  /** Forgets billed jobs recorded before `jobsBefore`, and day and month totals before `dayBefore` (YYYY-MM-DD). */
  prune(jobsBefore: number, dayBefore: string, limit: number): boolean {
    const jobs = this.sql.exec(
      "DELETE FROM cost_jobs WHERE (job_id, run_attempt) IN (SELECT job_id, run_attempt FROM cost_jobs WHERE recorded_at < ? ORDER BY recorded_at LIMIT ?)",
      jobsBefore,
      limit,
    ).rowsWritten;
    const days = this.sql.exec(
      "DELETE FROM cost_days WHERE rowid IN (SELECT rowid FROM cost_days WHERE day < ? LIMIT ?)",
      dayBefore,
      limit,
    ).rowsWritten;
    this.sql.exec("DELETE FROM cost_months WHERE month < ?", dayBefore.slice(0, 7));
    return jobs >= limit || days >= limit;
  }
}

import type { CostJob } from "../core/index.ts";

/**
 * The cost ledger: one row per completed job attempt, kept long after the 24-hour build
 * records so that monthly reports stay true. Written in the delivery's transaction, once.
 */
export class CostStore {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    sql.exec(`
      CREATE TABLE IF NOT EXISTS cost_jobs (
        job_id INTEGER NOT NULL,
        run_attempt INTEGER NOT NULL,
        repository TEXT NOT NULL,
        requirement TEXT,
        runner TEXT NOT NULL,
        suggested TEXT,
        started_at TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        arm TEXT,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (job_id, run_attempt)
      );
      CREATE INDEX IF NOT EXISTS cost_jobs_completed ON cost_jobs (completed_at);
    `);
  }

  /** Records a completed job; a second completion of the same attempt changes nothing. */
  insert(job: CostJob, now: number): void {
    this.sql.exec(
      `INSERT OR IGNORE INTO cost_jobs
         (job_id, run_attempt, repository, requirement, runner, suggested, started_at, completed_at, arm, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      job.job_id,
      job.run_attempt,
      job.repository,
      job.requirement,
      job.runner,
      job.suggested,
      job.started_at,
      job.completed_at,
      job.arm ?? null,
      now,
    );
  }

  /** Jobs completed in [start, end), ISO-8601 UTC bounds. */
  between(start: string, end: string): CostJob[] {
    return this.sql
      .exec<CostJob & Record<string, SqlStorageValue>>(
        `SELECT job_id, run_attempt, repository, requirement, runner, suggested, started_at, completed_at, arm
         FROM cost_jobs WHERE completed_at >= ? AND completed_at < ? ORDER BY completed_at`,
        start,
        end,
      )
      .toArray();
  }

  prune(before: number): void {
    this.sql.exec("DELETE FROM cost_jobs WHERE recorded_at < ?", before);
  }
}

import type { QueueHourRow } from "../core/index.ts";
import type { Sql } from "./sql.ts";

/** GET /queue shows up to 48 hours: the current hour and the 48 before it are kept. */
export const QUEUE_HOURS_KEPT = 48;

/**
 * How long jobs waited for a runner, per class and hour (since the epoch) they left the queue:
 * jobs, the sum and the longest of their waits, and how many waited past their class's target.
 * One upsert by key in the transaction in which a job leaves the queue, so each is counted once;
 * at most classes × 49 rows.
 */
export class QueueHoursStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Counts a job of `runnerClass` that left the queue in `hour` after waiting `seconds`. */
  observe(runnerClass: string, hour: number, seconds: number, overTarget: boolean): void {
    this.sql.exec(
      `INSERT INTO queue_hours (runner_class, hour, jobs, queue_seconds, max_seconds, over_target) VALUES (?, ?, 1, ?, ?, ?)
       ON CONFLICT (runner_class, hour) DO UPDATE SET jobs = jobs + 1, queue_seconds = queue_seconds + excluded.queue_seconds,
         max_seconds = MAX(max_seconds, excluded.max_seconds), over_target = over_target + excluded.over_target`,
      runnerClass,
      hour,
      seconds,
      seconds,
      overTarget ? 1 : 0,
    );
  }

  /** Every row from `firstHour` on. */
  since(firstHour: number): QueueHourRow[] {
    return this.sql
      .exec<{
        runner_class: string;
        hour: number;
        jobs: number;
        queue_seconds: number;
        max_seconds: number;
        over_target: number;
      }>(
        "SELECT runner_class, hour, jobs, queue_seconds, max_seconds, over_target FROM queue_hours WHERE hour >= ?",
        firstHour,
      )
      .toArray()
      .map((r) => ({
        runnerClass: r.runner_class,
        hour: r.hour,
        jobs: r.jobs,
        seconds: r.queue_seconds,
        maxSeconds: r.max_seconds,
        overTarget: r.over_target,
      }));
  }

  /** Deletes up to `limit` rows of hours before `beforeHour`; true when the batch was full. */
  prune(beforeHour: number, limit: number): boolean {
    return (
      this.sql.exec(
        "DELETE FROM queue_hours WHERE rowid IN (SELECT rowid FROM queue_hours WHERE hour < ? LIMIT ?)",
        beforeHour,
        limit,
      ).rowsWritten >= limit
    );
  }
}

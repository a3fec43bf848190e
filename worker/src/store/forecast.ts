import { countStart, type HistoryRow, type HourHistory, hourOfWeek } from "../core/index.ts";
import { first, type Sql } from "./sql.ts";

/**
 * The hour-of-week history of job starts behind GET /forecast: one row per runner class and hour
 * of the week (at most classes × 168), each updated in O(1) in the transaction of the
 * `workflow_job` delivery that started a job. The arithmetic is the core's (core/forecast.ts).
 */
export class ForecastStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Counts a job of `runnerClass` started at `at` (epoch ms). */
  countStart(runnerClass: string, at: number): void {
    const hour = hourOfWeek(at);
    const row =
      first<HourHistory & Record<string, number>>(
        this.sql,
        "SELECT weight, latest, week, since FROM forecast_hours WHERE runner_class = ? AND hour = ?",
        runnerClass,
        hour,
      ) ?? null;
    // A new hour of a known class keeps the class's history start (at most 167 rows, by key).
    const since =
      row?.since ??
      first<{ since: number | null }>(
        this.sql,
        "SELECT MIN(since) AS since FROM forecast_hours WHERE runner_class = ?",
        runnerClass,
      )?.since ??
      at;
    const next = countStart(row, at, since);
    this.sql.exec(
      `INSERT INTO forecast_hours (runner_class, hour, weight, latest, week, since) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (runner_class, hour) DO UPDATE SET weight = excluded.weight, latest = excluded.latest,
         week = excluded.week, since = excluded.since`,
      runnerClass,
      hour,
      next.weight,
      next.latest,
      next.week,
      next.since,
    );
  }

  /** Every row of history. */
  rows(): HistoryRow[] {
    return this.sql
      .exec<{ runner_class: string; hour: number; weight: number; latest: number; week: number; since: number }>(
        "SELECT runner_class, hour, weight, latest, week, since FROM forecast_hours",
      )
      .toArray()
      .map((r) => ({
        runnerClass: r.runner_class,
        hour: r.hour,
        weight: r.weight,
        latest: r.latest,
        week: r.week,
        since: r.since,
      }));
  }

  /** Deletes up to `limit` rows last added to before week `beforeWeek`; true when the batch was full. */
  prune(beforeWeek: number, limit: number): boolean {
    const deleted = this.sql.exec(
      "DELETE FROM forecast_hours WHERE rowid IN (SELECT rowid FROM forecast_hours WHERE week < ? LIMIT ?)",
      beforeWeek,
      limit,
    ).rowsWritten;
    return deleted >= limit;
  }
}

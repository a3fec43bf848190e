import type { AccuracyRow } from "../core/index.ts";
import type { Sql } from "./sql.ts";

/**
 * Routing accuracy per UTC day: finished jobs by the class the decision named and the class that
 * ran them, added to in the transaction that counts `ci_router_routing_accuracy_total` (route
 * jobs left out, as there). Kept as long as the cost totals, so GET /costs can say it for any
 * period it reports; at most 400 days × (classes + 1)² rows.
 */
export class AccuracyStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Counts a job that finished on `day` (YYYY-MM-DD). */
  add(day: string, suggested: string, used: string): void {
    this.sql.exec(
      `INSERT INTO accuracy_days (day, suggested, used, jobs) VALUES (?, ?, ?, 1)
       ON CONFLICT (day, suggested, used) DO UPDATE SET jobs = jobs + 1`,
      day,
      suggested,
      used,
    );
  }

  /** The counts of the days from `firstDay` to `lastDay` (both included), summed over the days. */
  days(firstDay: string, lastDay: string): AccuracyRow[] {
    return this.sql
      .exec<{ suggested: string; used: string; jobs: number }>(
        "SELECT suggested, used, SUM(jobs) AS jobs FROM accuracy_days WHERE day >= ? AND day <= ? GROUP BY suggested, used ORDER BY suggested, used",
        firstDay,
        lastDay,
      )
      .toArray();
  }

  /** Deletes up to `limit` rows of days before `dayBefore`; true when the batch was full. */
  prune(dayBefore: string, limit: number): boolean {
    return (
      this.sql.exec(
        "DELETE FROM accuracy_days WHERE rowid IN (SELECT rowid FROM accuracy_days WHERE day < ? LIMIT ?)",
        dayBefore,
        limit,
      ).rowsWritten >= limit
    );
  }
}

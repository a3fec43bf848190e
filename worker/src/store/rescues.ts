import type { Sql, SqlValue } from "./sql.ts";
/**
 * Stuck-queue rescues, one row per workflow run. The Ledger's alarm decides (in its transaction)
 * to rescue a run and counts the attempt here, exactly once; it then asks GitHub to cancel the
 * run, and, once the run is seen `completed` / `cancelled`, to re-run it, so that the workflow's
 * route step asks again and gets the fallback.
 *
 * `last_action`:
 * - `cancel_pending`: rescue decided, the cancel request not yet answered;
 * - `cancelled_for_rescue`: GitHub accepted the cancel; waiting for the run to complete cancelled;
 * - `rerun`: the re-run was requested (the rescue is done; another may follow, up to the bound);
 * - `cancel_failed` / `rerun_failed`: GitHub refused, or never confirmed the cancel in time;
 * - `alert`: the job should have been rescued but could not (no token, rescue disabled);
 * - `give_up`: the bound was reached; alerted once.
 */
export type RescueStep =
  | "cancel_pending"
  | "cancelled_for_rescue"
  | "rerun"
  | "cancel_failed"
  | "rerun_failed"
  | "alert"
  | "give_up";

export interface RescueRow {
  run_id: number;
  repository: string;
  build_id: string;
  attempts: number;
  /** The run attempt being rescued: the re-run waits for that attempt (or a later one) to end cancelled. */
  run_attempt: number;
  last_action: RescueStep;
  last_at: number;
}

/** Steps during which a rescue is under way: no second one starts for the run. */
const IN_FLIGHT: readonly RescueStep[] = ["cancel_pending", "cancelled_for_rescue"];

export class Rescues {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  get(runId: number): RescueRow | null {
    const row = this.sql
      .exec<RescueRow & Record<string, SqlValue>>("SELECT * FROM rescues WHERE run_id = ?", runId)
      .toArray()[0];
    return row === undefined ? null : { ...row };
  }

  /** Whether a rescue of the run is under way. */
  inFlight(row: RescueRow | null): boolean {
    return row !== null && IN_FLIGHT.includes(row.last_action);
  }

  /** Starts a rescue: counts the attempt and waits for the cancel request. */
  start(run: { runId: number; repository: string; buildId: string }, runAttempt: number, now: number): void {
    this.sql.exec(
      `INSERT INTO rescues (run_id, repository, build_id, attempts, run_attempt, last_action, last_at)
       VALUES (?, ?, ?, 1, ?, 'cancel_pending', ?)
       ON CONFLICT (run_id) DO UPDATE SET attempts = attempts + 1, last_action = 'cancel_pending',
         run_attempt = excluded.run_attempt, last_at = excluded.last_at, build_id = excluded.build_id`,
      run.runId,
      run.repository,
      run.buildId,
      runAttempt,
      now,
    );
  }

  /** Records a step that is not an attempt (alert, give_up), keeping the count. */
  note(run: { runId: number; repository: string; buildId: string }, step: RescueStep, now: number): void {
    this.sql.exec(
      `INSERT INTO rescues (run_id, repository, build_id, attempts, last_action, last_at)
       VALUES (?, ?, ?, 0, ?, ?)
       ON CONFLICT (run_id) DO UPDATE SET last_action = excluded.last_action, last_at = excluded.last_at`,
      run.runId,
      run.repository,
      run.buildId,
      step,
      now,
    );
  }

  /** Moves a run from one step to the next, unless it moved meanwhile; true when it did. */
  advance(runId: number, from: RescueStep, to: RescueStep, now: number): boolean {
    const cursor = this.sql.exec(
      "UPDATE rescues SET last_action = ?, last_at = ? WHERE run_id = ? AND last_action = ?",
      to,
      now,
      runId,
      from,
    );
    return cursor.rowsWritten > 0;
  }

  /** Runs at `step`, oldest first. */
  at(step: RescueStep, limit: number): RescueRow[] {
    return this.sql
      .exec<RescueRow & Record<string, SqlValue>>(
        "SELECT * FROM rescues WHERE last_action = ? ORDER BY last_at, run_id LIMIT ?",
        step,
        limit,
      )
      .toArray()
      .map((row) => ({ ...row }));
  }

  /** Whether any rescue is under way (the alarm then comes back soon). */
  anyInFlight(): boolean {
    return (
      this.sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM rescues WHERE last_action IN (${IN_FLIGHT.map(() => "?").join(", ")})`,
          ...IN_FLIGHT,
        )
        .one().n > 0
    );
  }

  /** Deletes rows last touched before `before`. */
  prune(before: number): void {
    this.sql.exec("DELETE FROM rescues WHERE last_at < ?", before);
  }
}

import { type AttemptResult, type NextStep, type WakeUp, type WarmHook, warmStep } from "../core/index.ts";
import type { Sql, SqlValue } from "./sql.ts";

export interface WarmCallRow {
  /** The build woken for, and the wake-up's id (`X-Ci-Router-Delivery`). */
  build_id: string;
  runner_class: string;
  url: string;
  /** The name of the Worker secret that signs it, read when it is sent. */
  secret_env: string;
  /** The JSON body, exactly as signed and sent on every attempt. */
  body: string;
  attempts: number;
  created_at: number;
}

/**
 * Wake-ups waiting for their class's warm hook. A row is written in the transaction of the
 * delivery that routed its build, at most one per build, so a build wakes its class exactly
 * once however often its delivery comes; the Ledger's alarm sends due rows, retrying as
 * `warmStep` says. A row ends `sent` or `failed` (kept, with its last error), never deleted unsent.
 */
export class WarmCalls {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Queues the wake-up of `body.build_id`, due at once; false when that build already has one. */
  enqueue(hook: WarmHook, body: WakeUp, now: number): boolean {
    const inserted = this.sql.exec(
      `INSERT INTO warm_calls (build_id, runner_class, url, secret_env, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (build_id) DO NOTHING`,
      body.build_id,
      body.class,
      hook.url,
      hook.secretEnv,
      JSON.stringify(body),
      now,
      now,
    ).rowsWritten;
    return inserted > 0;
  }

  due(now: number, limit: number): WarmCallRow[] {
    return this.sql
      .exec<WarmCallRow & Record<string, SqlValue>>(
        `SELECT build_id, runner_class, url, secret_env, body, attempts, created_at FROM warm_calls
         WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, created_at LIMIT ?`,
        now,
        limit,
      )
      .toArray();
  }

  /** When the next pending row is due, or null. */
  nextDue(): number | null {
    return this.sql
      .exec<{ next: number | null }>("SELECT MIN(next_at) AS next FROM warm_calls WHERE status = 'pending'")
      .one().next;
  }

  /** Records an attempt's result; returns what happens next. */
  record(row: WarmCallRow, result: AttemptResult, now: number): NextStep {
    const attempts = row.attempts + 1;
    const step = warmStep(result, attempts, row.created_at, now);
    if (step.kind === "sent") {
      this.sql.exec(
        "UPDATE warm_calls SET status = 'sent', attempts = ?, last_error = NULL WHERE build_id = ?",
        attempts,
        row.build_id,
      );
    } else if (step.kind === "retry") {
      this.sql.exec(
        "UPDATE warm_calls SET attempts = ?, next_at = ?, last_error = ? WHERE build_id = ?",
        attempts,
        now + step.delayMs,
        step.why,
        row.build_id,
      );
    } else {
      this.sql.exec(
        "UPDATE warm_calls SET status = 'failed', attempts = ?, last_error = ? WHERE build_id = ?",
        attempts,
        step.why,
        row.build_id,
      );
    }
    return step;
  }

  /** Gives up on a row without trying it. */
  fail(row: WarmCallRow, why: string): void {
    this.sql.exec("UPDATE warm_calls SET status = 'failed', last_error = ? WHERE build_id = ?", why, row.build_id);
  }

  /** Deletes up to `limit` finished rows created before `before`; true when the batch was full. */
  prune(before: number, limit: number): boolean {
    const deleted = this.sql.exec(
      `DELETE FROM warm_calls WHERE build_id IN (
         SELECT build_id FROM warm_calls WHERE created_at < ? AND status != 'pending' LIMIT ?)`,
      before,
      limit,
    ).rowsWritten;
    return deleted >= limit;
  }
}

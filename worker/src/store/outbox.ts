import { type AttemptResult, type NextStep, nextStep, type OutboxStatus } from "../core/index.ts";
import type { Sql, SqlValue } from "./sql.ts";

export interface OutboxRow {
  id: number;
  kind: string;
  build_id: string;
  payload: string;
  attempts: number;
}

/** An alert as GET /alerts lists it: never its payload (the Discord message). */
export interface AlertView {
  id: number;
  kind: string;
  build_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: string;
  next_at: string;
}

/**
 * Alerts waiting to be delivered. A row is written in the same transaction as the delivery that
 * raised it, so an alert is queued exactly once; the Ledger's alarm sends due rows, retrying as
 * `nextStep` says. A row ends `sent` or `failed` (kept, with its last error), never deleted unsent.
 */
export class Outbox {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  enqueue(kind: string, buildId: string, payload: unknown, now: number): void {
    this.sql.exec(
      "INSERT INTO outbox (kind, build_id, payload, next_at, created_at) VALUES (?, ?, ?, ?, ?)",
      kind,
      buildId,
      JSON.stringify(payload),
      now,
      now,
    );
  }

  due(now: number, limit: number): OutboxRow[] {
    return this.sql
      .exec<OutboxRow & Record<string, SqlValue>>(
        "SELECT id, kind, build_id, payload, attempts FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  /** When the next pending row is due, or null. */
  nextDue(): number | null {
    const row = this.sql
      .exec<{ next: number | null }>("SELECT MIN(next_at) AS next FROM outbox WHERE status = 'pending'")
      .one();
    return row.next;
  }

  /** Records an attempt's result; returns what happens next. */
  record(row: OutboxRow, result: AttemptResult, now: number): NextStep {
    const attempts = row.attempts + 1;
    const step = nextStep(result, attempts);
    if (step.kind === "sent") {
      this.sql.exec(
        "UPDATE outbox SET status = 'sent', attempts = ?, last_error = NULL WHERE id = ?",
        attempts,
        row.id,
      );
    } else if (step.kind === "retry") {
      this.sql.exec(
        "UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
        attempts,
        now + step.delayMs,
        step.why,
        row.id,
      );
    } else {
      this.sql.exec(
        "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE id = ?",
        attempts,
        step.why,
        row.id,
      );
    }
    return step;
  }

  /** Gives up on a row without trying it. */
  fail(row: OutboxRow, why: string): void {
    this.sql.exec("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?", why, row.id);
  }

  /** The latest `limit` alerts (of `status` when given), newest first: by id, which grows with each alert queued. */
  list(status: OutboxStatus | null, limit: number): AlertView[] {
    return this.sql
      .exec<{
        id: number;
        kind: string;
        build_id: string;
        status: string;
        attempts: number;
        last_error: string | null;
        created_at: number;
        next_at: number;
      }>(
        `SELECT id, kind, build_id, status, attempts, last_error, created_at, next_at FROM outbox
         ${status === null ? "" : "WHERE status = ?"} ORDER BY id DESC LIMIT ?`,
        ...(status === null ? [] : [status]),
        limit,
      )
      .toArray()
      .map((row) => ({
        ...row,
        created_at: new Date(row.created_at).toISOString(),
        next_at: new Date(row.next_at).toISOString(),
      }));
  }

  /** Deletes finished rows older than `before`. */
  prune(before: number): void {
    this.sql.exec("DELETE FROM outbox WHERE status != 'pending' AND created_at < ?", before);
  }
}

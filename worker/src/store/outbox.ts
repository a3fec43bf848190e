import { type AttemptResult, type NextStep, nextStep, type OutboxStatus } from "../core/index.ts";
import { Owed } from "./owed.ts";
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
export class Outbox extends Owed<OutboxRow & Record<string, SqlValue>> {
  constructor(sql: Sql) {
    super(sql, {
      table: "outbox",
      key: "id",
      status: "status",
      due: { columns: "id, kind, build_id, payload, attempts", tieBreak: "id" },
      open: ["pending"],
    });
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

  /** Records an attempt's result; returns what happens next. */
  record(row: OutboxRow, result: AttemptResult, now: number): NextStep {
    return this.recordAttempt(row.id, row.attempts, (attempts) => nextStep(result, attempts), now);
  }

  /** Gives up on a row without trying it. */
  fail(row: OutboxRow, why: string): void {
    this.giveUp(row.id, why);
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

  /** Deletes finished rows older than `before`, in one statement rather than in batches. */
  prune(before: number): void {
    this.pruneAllFinished(before);
  }
}

import { type AttemptResult, type NextStep, type WakeUp, type WarmHook, warmStep } from "../core/index.ts";
import { Owed } from "./owed.ts";
import type { Sql, SqlValue } from "./sql.ts";

export interface WarmCallRow {
  /** The wake-up's id, `<build_id>:<runner_class>`: its `X-Ci-Router-Delivery`, the same on every retry. */
  id: string;
  /** The build woken for. */
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

/** A wake-up's id: one per build and class. */
export const wakeUpId = (buildId: string, runnerClass: string): string => `${buildId}:${runnerClass}`;

/**
 * Wake-ups waiting for their class's warm hook. Rows are written in the transaction of the
 * delivery that routed their build, at most one per build and class, so a build wakes each class
 * exactly once however often its delivery comes; the Ledger's alarm sends due rows, retrying as
 * `warmStep` says. A row ends `sent` or `failed` (kept, with its last error), never deleted unsent.
 */
export class WarmCalls extends Owed<WarmCallRow & Record<string, SqlValue>> {
  constructor(sql: Sql) {
    super(sql, {
      table: "warm_calls",
      key: "id",
      status: "status",
      // Keyed by build and class, not by a growing id: rows due together go in the order they were queued.
      due: {
        columns: "id, build_id, runner_class, url, secret_env, body, attempts, created_at",
        tieBreak: "created_at",
      },
      open: ["pending"],
    });
  }

  /** Queues the wake-up of `body.class` for `body.build_id`, due at once; false when that build already has one for that class. */
  enqueue(hook: WarmHook, body: WakeUp, now: number): boolean {
    const inserted = this.sql.exec(
      `INSERT INTO warm_calls (id, build_id, runner_class, url, secret_env, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
      wakeUpId(body.build_id, body.class),
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

  /** Records an attempt's result; returns what happens next. */
  record(row: WarmCallRow, result: AttemptResult, now: number): NextStep {
    return this.recordAttempt(row.id, row.attempts, (attempts) => warmStep(result, attempts, row.created_at, now), now);
  }

  /** Gives up on a row without trying it. */
  fail(row: WarmCallRow, why: string): void {
    this.giveUp(row.id, why);
  }

  /** Deletes up to `limit` finished rows created before `before`; true when the batch was full. */
  prune(before: number, limit: number): boolean {
    return this.pruneFinished(before, limit);
  }
}

import type { CheckRunOutput, CheckRunState } from "../core/index.ts";
import { Owed } from "./owed.ts";
import type { Sql, SqlValue } from "./sql.ts";

/**
 * A row's status: `pending` while GitHub lacks the state owed (due at `next_at`), `sent` once it
 * has it while the build may still move on, `done` once the completed state is sent (final),
 * `failed` when a call was refused or ran out of tries (final, kept with `last_error`).
 */
export type CheckRunRowStatus = "pending" | "sent" | "done" | "failed";

export interface CheckRunRow {
  id: number;
  repository: string;
  head_sha: string;
  name: string;
  installation_id: number;
  build_id: string;
  check_run_id: number | null;
  wanted: CheckRunState;
  sent: CheckRunState | null;
  title: string;
  summary: string;
  status: CheckRunRowStatus;
  attempts: number;
  next_at: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

type Row = CheckRunRow & Record<string, SqlValue>;

/** A check run to queue for a routed commit. */
export interface NewCheckRun {
  repository: string;
  head_sha: string;
  name: string;
  installation_id: number;
  build_id: string;
  wanted: CheckRunState;
  output: CheckRunOutput;
}

/**
 * The check runs owed to routed commits in GitHub App mode, one row per (repository, commit,
 * check name): a push and a pull request of the same head commit, or a redelivery, queue it
 * once. Each row holds the latest state owed (`wanted`) with its output, and the latest state
 * GitHub has (`sent`); the alarm sends what is missing, each state at most once. Written in
 * the transactions of the deliveries that route the commit and move its build on.
 */
export class CheckRuns extends Owed<Row> {
  constructor(sql: Sql) {
    // A `sent` row may be owed a later state yet. Every write stamps `updated_at`, which
    // retention reads (`prune`).
    super(sql, {
      table: "check_runs",
      key: "id",
      status: "status",
      due: { columns: "*", tieBreak: "id" },
      open: ["pending", "sent"],
      touched: "updated_at",
    });
  }

  /** Queues a commit's check run, due at `dueAt`; false when the commit has one of that name already. */
  queue(run: NewCheckRun, dueAt: number, now: number): boolean {
    return (
      this.sql.exec(
        `INSERT INTO check_runs (repository, head_sha, name, installation_id, build_id, wanted, title, summary, next_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, head_sha, name) DO NOTHING`,
        run.repository.toLowerCase(),
        run.head_sha.toLowerCase(),
        run.name,
        run.installation_id,
        run.build_id,
        run.wanted,
        run.output.title,
        run.output.summary,
        dueAt,
        now,
        now,
      ).rowsWritten > 0
    );
  }

  /** The rows of a commit still open to a later state (one per check name it was given: in practice one). */
  openOfCommit(repository: string, sha: string): CheckRunRow[] {
    return this.sql
      .exec<Row>(
        "SELECT * FROM check_runs WHERE repository = ? AND head_sha = ? AND status IN ('pending', 'sent')",
        repository.toLowerCase(),
        sha.toLowerCase(),
      )
      .toArray();
  }

  /**
   * Owes `state` with `output` (the latest state owed, or a fresher output of it while unsent):
   * a row GitHub was caught up on is due again at `dueAt`; a row waiting for a retry keeps its time.
   */
  want(id: number, state: CheckRunState, output: CheckRunOutput, dueAt: number, now: number): boolean {
    return (
      this.sql.exec(
        `UPDATE check_runs SET wanted = ?, title = ?, summary = ?, updated_at = ?,
           attempts = CASE WHEN status = 'sent' THEN 0 ELSE attempts END,
           next_at = CASE WHEN status = 'sent' THEN ? ELSE next_at END,
           status = 'pending'
         WHERE id = ? AND status IN ('pending', 'sent')`,
        state,
        output.title,
        output.summary,
        now,
        dueAt,
        id,
      ).rowsWritten > 0
    );
  }

  byId(id: number): CheckRunRow | null {
    return this.sql.exec<Row>("SELECT * FROM check_runs WHERE id = ?", id).toArray()[0] ?? null;
  }

  /**
   * Takes a due row for a call: one attempt more, counted before the call, so that a create
   * whose answer never came (the Ledger restarted during it) is looked up before it is tried
   * again. False when the row is no longer pending.
   */
  claim(id: number, now: number): boolean {
    return (
      this.sql.exec(
        "UPDATE check_runs SET attempts = attempts + 1, updated_at = ? WHERE id = ? AND status = 'pending'",
        now,
        id,
      ).rowsWritten > 0
    );
  }

  /**
   * GitHub has `state` now (and the check run's id, after a create): the row is caught up
   * (`sent`, or `done` once completed), or pending again at once when a later state was owed
   * meanwhile. Returns the row as it is now.
   */
  sent(id: number, state: CheckRunState, checkRunId: number | null, now: number): CheckRunRow | null {
    this.sql.exec(
      `UPDATE check_runs SET check_run_id = COALESCE(?, check_run_id), sent = ?, attempts = 0, last_error = NULL,
         updated_at = ?, next_at = ?,
         status = CASE WHEN wanted != ? THEN 'pending' WHEN ? = 'completed' THEN 'done' ELSE 'sent' END
       WHERE id = ?`,
      checkRunId,
      state,
      now,
      now,
      state,
      state,
      id,
    );
    return this.byId(id);
  }

  /** The call is tried again at `at` (its attempt was counted when it was claimed). */
  retry(id: number, at: number, why: string, now: number): void {
    this.putOff(id, at, now, why);
  }

  /** Gives a row up, saying why (never a credential: the desk's reasons are scrubbed). */
  fail(id: number, why: string, now: number): void {
    this.giveUp(id, why, now);
  }

  /** Every pending row of an installation waits until `until` at least (GitHub's rate limit for it). */
  pause(installation: number, until: number): void {
    this.sql.exec(
      "UPDATE check_runs SET next_at = MAX(next_at, ?) WHERE status = 'pending' AND installation_id = ?",
      until,
      installation,
    );
  }

  /**
   * Deletes up to `limit` rows whose build can no longer change them: final ones (`done`,
   * `failed`) last changed before `settledBefore`, and any created before `createdBefore`.
   * True when a batch was full.
   */
  prune(settledBefore: number, createdBefore: number, limit: number): boolean {
    const settled = this.deleteBatch("status IN ('done', 'failed') AND updated_at < ?", [settledBefore], limit);
    const old = this.deleteBatch("created_at < ?", [createdBefore], limit);
    return settled || old;
  }
}

import {
  type CommitState,
  type DependencyTarget,
  type DispatchOrigin,
  type DispatchState,
  type NextStep,
  type WriteResult,
  writeStep,
} from "../core/index.ts";
import { Owed } from "./owed.ts";
import { first, type Sql, type SqlValue } from "./sql.ts";

/** A row's state: the graph's states, and `sending` while the alarm's call is under way. */
export type DispatchRowState = DispatchState | "sending";

export interface DispatchRow {
  id: number;
  upstream_repository: string;
  repository: string;
  workflow: string;
  ref: string;
  upstream_sha: string;
  upstream_build: string;
  depth: number;
  state: DispatchRowState;
  attempts: number;
  next_at: number;
  last_error: string | null;
  dispatched_at: number | null;
  run_id: number | null;
  build_id: string | null;
  conclusion: string | null;
  html_url: string | null;
  created_at: number;
}

type Row = DispatchRow & Record<string, SqlValue>;

/** What became of a run a dispatch started, as its events tell it. */
export interface Followed {
  runId: number;
  buildId: string;
  state: "running" | "completed";
  conclusion: string | null;
  htmlUrl: string | null;
}

/**
 * The workflow dispatches dependencies owe, and what became of them. A row is written in the
 * transaction of the push that matched, one per target: while it waits for its debounce
 * (`pending`) a later push for the same upstream repository, target repository, workflow and ref
 * replaces its commit (one pending row per such key: `dispatches_pending`), so pushes in one
 * window dispatch once. The alarm claims a due row (`sending`) before its call, so a dispatch is
 * sent at most once, and records the answer: `dispatched`, back to `pending` for a retry, or
 * `failed`. The downstream run's events then move it to `running` and `completed`.
 */
export class Dispatches extends Owed<Row> {
  constructor(sql: Sql) {
    // A claimed row (`sending`) may yet be sent: it is kept from pruning like a pending one.
    super(sql, {
      table: "dispatches",
      key: "id",
      status: "state",
      due: { columns: "*", tieBreak: "id" },
      open: ["pending", "sending"],
    });
  }

  /** The pending row of a key, or null. */
  pending(upstreamRepository: string, target: DependencyTarget): DispatchRow | null {
    return (
      first<Row>(
        this.sql,
        `SELECT * FROM dispatches WHERE upstream_repository = ? AND repository = ? AND workflow = ? AND ref = ? AND state = 'pending'`,
        upstreamRepository,
        target.repository,
        target.workflow,
        target.ref,
      ) ?? null
    );
  }

  /**
   * Queues the dispatch of `target` for `origin`, due at `dueAt`: a new row, or the key's
   * pending row pointed at the later commit (its due time kept). Returns the upstream build the
   * replaced commit belonged to, when another.
   */
  queue(target: DependencyTarget, origin: DispatchOrigin, dueAt: number, now: number): { replaced: string | null } {
    const known = this.pending(origin.upstreamRepository, target);
    if (known !== null) {
      this.sql.exec(
        "UPDATE dispatches SET upstream_sha = ?, upstream_build = ?, depth = ? WHERE id = ?",
        origin.upstreamSha,
        origin.upstreamBuild,
        origin.depth,
        known.id,
      );
      return { replaced: known.upstream_build === origin.upstreamBuild ? null : known.upstream_build };
    }
    this.sql.exec(
      `INSERT INTO dispatches (upstream_repository, repository, workflow, ref, upstream_sha, upstream_build, depth, next_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      origin.upstreamRepository,
      target.repository,
      target.workflow,
      target.ref,
      origin.upstreamSha,
      origin.upstreamBuild,
      origin.depth,
      dueAt,
      now,
    );
    return { replaced: null };
  }

  /** Takes a due row for its call (one attempt more); false when it is no longer pending. */
  claim(id: number, now: number): boolean {
    return (
      this.sql.exec(
        "UPDATE dispatches SET state = 'sending', attempts = attempts + 1, next_at = ? WHERE id = ? AND state = 'pending'",
        now,
        id,
      ).rowsWritten > 0
    );
  }

  /** Puts a due row off without an attempt (GitHub's rate limit is low). */
  defer(id: number, at: number): void {
    this.putOff(id, at);
  }

  /**
   * Records the answer to a claimed row's call, as core/retry.ts says what follows: sent, tried
   * again at `now + delay` (unless a later push queued the key meanwhile: that row, due no later,
   * sends the later commit, and this one ends `failed`), or failed with `why`.
   */
  record(row: DispatchRow, step: NextStep, now: number): DispatchRowState {
    if (step.kind === "sent") {
      this.sql.exec(
        "UPDATE dispatches SET state = 'dispatched', dispatched_at = ?, last_error = NULL WHERE id = ?",
        now,
        row.id,
      );
      return "dispatched";
    }
    if (step.kind === "retry") {
      const at = now + step.delayMs;
      const later = this.pending(row.upstream_repository, row);
      if (later === null) {
        this.sql.exec(
          "UPDATE dispatches SET state = 'pending', next_at = ?, last_error = ? WHERE id = ?",
          at,
          step.why,
          row.id,
        );
        return "pending";
      }
      this.sql.exec("UPDATE dispatches SET next_at = MIN(next_at, ?) WHERE id = ?", at, later.id);
      this.fail(row.id, `${step.why}; a later push is dispatched instead`);
      return "failed";
    }
    this.fail(row.id, step.why);
    return "failed";
  }

  fail(id: number, why: string): void {
    this.giveUp(id, why);
  }

  /**
   * Claimed rows whose call never came back (the Ledger restarted during it) by `before`: failed
   * rather than tried again, since GitHub may have taken the dispatch. Returns them.
   */
  failInterrupted(before: number, limit: number): DispatchRow[] {
    const rows = this.sql
      .exec<Row>("SELECT * FROM dispatches WHERE state = 'sending' AND next_at < ? LIMIT ?", before, limit)
      .toArray();
    for (const row of rows)
      this.fail(row.id, "interrupted during the call; not sent again, so as not to dispatch twice");
    return rows;
  }

  /**
   * Sent rows of `repository` whose run has not been seen, dispatched at `since` (ms) or later,
   * the earliest first: dispatches whose run never came stay behind the window, so they cannot
   * crowd out the ones a run may still answer.
   */
  awaitingRun(repository: string, since: number, limit: number): DispatchRow[] {
    return this.sql
      .exec<Row>(
        `SELECT * FROM dispatches WHERE repository = ? AND state = 'dispatched' AND run_id IS NULL
         AND dispatched_at >= ? ORDER BY dispatched_at, id LIMIT ?`,
        repository.toLowerCase(),
        since,
        limit,
      )
      .toArray();
  }

  /** The rows following a workflow run. */
  ofRun(runId: number): DispatchRow[] {
    return this.sql.exec<Row>("SELECT * FROM dispatches WHERE run_id = ?", runId).toArray();
  }

  /** A dispatch's run moved on: its state, conclusion, link and the build its events update. */
  follow(id: number, followed: Followed): void {
    this.sql.exec(
      `UPDATE dispatches SET run_id = ?, build_id = ?, state = ?, conclusion = ?, html_url = COALESCE(?, html_url)
       WHERE id = ? AND state IN ('dispatched', 'running', 'completed')`,
      followed.runId,
      followed.buildId,
      followed.state,
      followed.conclusion,
      followed.htmlUrl,
      id,
    );
  }

  /** A dispatched build's workflow_dispatch delivery named its upstream: the rows it answers, given its build. */
  linkBuild(upstreamBuild: string, repository: string, buildId: string): DispatchRow[] {
    const rows = this.sql
      .exec<Row>(
        `SELECT * FROM dispatches WHERE upstream_build = ? AND repository = ? AND build_id IS NULL
         AND state IN ('dispatched', 'running', 'completed') ORDER BY id`,
        upstreamBuild,
        repository.toLowerCase(),
      )
      .toArray();
    for (const row of rows) this.sql.exec("UPDATE dispatches SET build_id = ? WHERE id = ?", buildId, row.id);
    return rows;
  }

  /** The dispatches of an upstream build, in the order they were queued, at most `limit`. */
  ofUpstream(buildId: string, limit: number): DispatchRow[] {
    return this.sql
      .exec<Row>("SELECT * FROM dispatches WHERE upstream_build = ? ORDER BY id LIMIT ?", buildId, limit)
      .toArray();
  }

  /** Deletes up to `limit` rows created before `before` and no longer waiting to be sent; true when the batch was full. */
  prune(before: number, limit: number): boolean {
    return this.pruneFinished(before, limit);
  }
}

export interface CommitStatusRow {
  id: number;
  repository: string;
  sha: string;
  context: string;
  state: CommitState;
  target_url: string | null;
  description: string;
  attempts: number;
}

type StatusRow = CommitStatusRow & Record<string, SqlValue>;

/**
 * Commit statuses owed to upstream commits, one row per (commit, context, state): a state is
 * queued at most once. The alarm sends them in the order they were queued, a row only once
 * every earlier row of its commit and context is sent or given up, retrying as alerts are.
 */
export class CommitStatuses extends Owed<StatusRow> {
  constructor(sql: Sql) {
    // No shared `due`: a row waits for the earlier rows of its commit and context, in queue order.
    super(sql, { table: "commit_statuses", key: "id", status: "status", open: ["pending"] });
  }

  /** Queues a state for a commit's context, due at once; false when that state was queued before. */
  enqueue(status: Omit<CommitStatusRow, "id" | "attempts">, now: number): boolean {
    return (
      this.sql.exec(
        `INSERT INTO commit_statuses (repository, sha, context, state, target_url, description, next_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, sha, context, state) DO NOTHING`,
        status.repository,
        status.sha,
        status.context,
        status.state,
        status.target_url,
        status.description,
        now,
        now,
      ).rowsWritten > 0
    );
  }

  /** Due rows with nothing earlier of their commit and context still unsent, in queue order. */
  override due(now: number, limit: number): StatusRow[] {
    return this.sql
      .exec<StatusRow>(
        `SELECT id, repository, sha, context, state, target_url, description, attempts FROM commit_statuses s
         WHERE s.status = 'pending' AND s.next_at <= ? AND NOT EXISTS (
           SELECT 1 FROM commit_statuses e WHERE e.repository = s.repository AND e.sha = s.sha
           AND e.context = s.context AND e.status = 'pending' AND e.id < s.id)
         ORDER BY s.id LIMIT ?`,
        now,
        limit,
      )
      .toArray();
  }

  /** Records an attempt's result; returns what happens next. */
  record(row: CommitStatusRow, result: WriteResult, now: number): NextStep {
    return this.recordAttempt(row.id, row.attempts, (attempts) => writeStep(result, attempts), now);
  }

  /** Gives up on a row without trying it. */
  fail(id: number, why: string): void {
    this.giveUp(id, why);
  }

  /** Deletes up to `limit` finished rows created before `before`; true when the batch was full. */
  prune(before: number, limit: number): boolean {
    return this.pruneFinished(before, limit);
  }
}

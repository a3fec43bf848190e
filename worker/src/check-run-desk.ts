import {
  type BuildRecord,
  buildSummary,
  CHECK_RUN_BATCH,
  CHECK_RUN_DONE_RETENTION_MS,
  CHECK_RUN_MAX_RETENTION_MS,
  CHECK_RUN_PER_MINUTE,
  type CheckRunAction,
  type CheckRunAnswer,
  type CheckRunState,
  checkRunBody,
  checkRunName,
  checkRunOutput,
  checkRunStep,
  FULL_SHA,
  fail,
  LruMap,
  MAX_CACHED_INSTALLATIONS,
  nextAction,
  nextSendAt,
  PACING_WINDOW_MS,
  type RoutingConfig,
  type Runner,
  STATE_AFTER,
  scrubSecrets,
  type WorkflowUpdate,
} from "./core/index.ts";
import type { GitHubClient } from "./github.ts";
import { gitHubClient } from "./github-app.ts";
import { log } from "./log.ts";
import type { Settings } from "./settings.ts";
import { type CheckRunRow, CheckRuns } from "./store/check-runs.ts";
import type { MetricsStore } from "./store/metrics.ts";
import type { Sql, Transaction } from "./store/sql.ts";

/** What the check-run desk uses of the Ledger. */
export interface CheckRunDeps {
  sql: Sql;
  transaction: Transaction;
  /** Asks for the Ledger's alarm at `at` or sooner. */
  wake: (at: number) => void;
  settings: () => Settings | null;
  /** The pool builds are priced by (the cost report's), for a completed build's minutes and cost. */
  runners: () => Record<string, Runner>;
  /** Counts each call's outcome in the transaction that records it. */
  metrics: MetricsStore;
}

/** The state a build's record is in, as its check run shows it. */
const stateOf = (build: BuildRecord): CheckRunState =>
  build.status === "completed" ? "completed" : build.status === "in_progress" ? "in_progress" : "queued";

const NO_APP =
  "GitHub App credentials are not set (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY): only an App can write check runs";

/**
 * GitHub App mode's check runs inside the Ledger. In a delivery's transaction: a routed commit
 * from an App installation queues its check run (once per commit and name), the build's first
 * job start owes `in_progress`, its completion owes `completed` (once: a re-run does not reopen
 * it). After the alarm's transaction: sends what is owed with that installation's token, at
 * most {@link CHECK_RUN_BATCH} calls a run and {@link CHECK_RUN_PER_MINUTE} a minute, waiting
 * out GitHub's rate limit per installation. Never on a webhook's path. Table: `check_runs`
 * (docs/storage-schema.md); the rules: core/check-runs.ts.
 */
export class CheckRunDesk {
  private readonly deps: CheckRunDeps;
  readonly runs: CheckRuns;
  private sending = false;
  /** When each of the last calls went (at most {@link CHECK_RUN_PER_MINUTE}, the last minute's). */
  private readonly recent: number[] = [];
  /**
   * Until when GitHub asked each installation to wait (its rate limit), per isolate: rows queued
   * meanwhile are due then. The rows waiting already are deferred in the table too.
   */
  private readonly paused = new LruMap<number, number>(MAX_CACHED_INSTALLATIONS);

  constructor(deps: CheckRunDeps) {
    this.deps = deps;
    this.runs = new CheckRuns(deps.sql);
  }

  /**
   * A build was routed (in its delivery's transaction): in App mode, for a delivery from an
   * installation, its commit's check run is queued in the state the build is in, unless the
   * commit has one of that name already (a push and a pull request of one head commit, a
   * redelivery) or `checkRun` is false.
   */
  onRouted(
    build: BuildRecord,
    installation: { id: number } | undefined,
    config: RoutingConfig | null,
    now: number,
  ): void {
    if (installation === undefined || config === null || this.deps.settings()?.github?.app == null) return;
    const name = checkRunName(config);
    if (name === null || build.sha === null || !FULL_SHA.test(build.sha)) return;
    const state = stateOf(build);
    const dueAt = this.dueAt(installation.id, now);
    const queued = this.runs.queue(
      {
        repository: build.repository,
        head_sha: build.sha,
        name,
        installation_id: installation.id,
        build_id: build.build_id,
        wanted: state,
        output: this.output(build, state),
      },
      dueAt,
      now,
    );
    if (queued) this.deps.wake(dueAt);
  }

  /**
   * A workflow event moved `after` on from `before` (in its delivery's transaction): the first
   * job start owes `in_progress` (its output, naming the runners so far, renewed while unsent);
   * the build's completion owes `completed`, once. Any other event, or any event without App
   * credentials, reads nothing.
   */
  onWorkflow(before: BuildRecord, after: BuildRecord, update: WorkflowUpdate, now: number): void {
    const completedNow = after.status === "completed" && before.status !== "completed";
    const started = update.kind === "job" && update.job.status === "in_progress";
    if ((!completedNow && !started) || after.sha === null) return;
    // Without App credentials no check run is ever sent: a job's event reads no table for one.
    if (this.deps.settings()?.github?.app == null) return;
    for (const row of this.runs.openOfCommit(after.repository, after.sha)) {
      let state: CheckRunState;
      if (completedNow) {
        if (row.wanted === "completed") continue;
        state = "completed";
      } else if (row.wanted === "queued" || (row.wanted === "in_progress" && row.sent !== "in_progress")) {
        state = "in_progress";
      } else continue;
      const dueAt = this.dueAt(row.installation_id, now);
      if (this.runs.want(row.id, state, this.output(after, state), dueAt, now)) this.deps.wake(dueAt);
    }
  }

  /** In the alarm's transaction: deletes rows past their retention; true when a batch was full. */
  prune(now: number, limit: number): boolean {
    return this.runs.prune(now - CHECK_RUN_DONE_RETENTION_MS, now - CHECK_RUN_MAX_RETENTION_MS, limit);
  }

  /**
   * When the next call is due, or null: the earliest pending row, no sooner than the pacing
   * allows. Null while the settings are wrong (the rows wait for them).
   */
  nextDue(now: number): number | null {
    if (this.deps.settings() === null) return null;
    const due = this.runs.nextDue();
    return due === null ? null : Math.max(due, nextSendAt(this.recent, now));
  }

  /**
   * Outside any transaction: sends the due rows' calls, one after the other, at most
   * {@link CHECK_RUN_BATCH} this run and never faster than {@link CHECK_RUN_PER_MINUTE} a minute;
   * a row's later state follows its create in the same run. Each answer is recorded in its own
   * transaction.
   */
  async run(now = Date.now()): Promise<void> {
    const settings = this.deps.settings();
    if (this.sending || settings === null) return;
    this.sending = true;
    try {
      const budget = { calls: CHECK_RUN_BATCH };
      for (const row of this.runs.due(now, CHECK_RUN_BATCH)) {
        if (!(await this.send(row, settings, budget))) break;
      }
    } finally {
      this.sending = false;
    }
  }

  /** Sends what `row` owes while the budget lasts; false when the run should stop (out of calls or paced). */
  private async send(row: CheckRunRow, settings: Settings, budget: { calls: number }): Promise<boolean> {
    let current: CheckRunRow | null = row;
    while (current !== null && current.status === "pending") {
      const action = nextAction(current);
      if (action === null) {
        // GitHub has what is owed already: caught up, so that the row is not due for ever.
        const caughtUp = current;
        this.transact(() => this.runs.sent(caughtUp.id, caughtUp.wanted, null, Date.now()));
        return true;
      }
      const github = settings.github;
      const client = github?.app == null ? null : gitHubClient(github, current.installation_id);
      if (client === null) {
        const failed = current;
        this.transact(() => this.settle(failed, action, { kind: "failed", why: NO_APP }, Date.now()));
        return true;
      }
      const at = Date.now();
      const pausedUntil = this.paused.get(current.installation_id) ?? 0;
      if (pausedUntil > at) {
        const waiting = current;
        this.transact(() => this.runs.pause(waiting.installation_id, pausedUntil));
        this.deps.wake(pausedUntil);
        return true;
      }
      // A create tried before is looked up first: two calls.
      const needed = action === "create" && current.attempts > 0 ? 2 : 1;
      const free = nextSendAt(this.recent, at);
      if (budget.calls < needed || free > at) {
        this.deps.wake(Math.max(free, at));
        return false;
      }
      const claimed: CheckRunRow = current;
      if (!this.transact(() => this.runs.claim(claimed.id, Date.now()))) return true;
      const attempts = claimed.attempts + 1;
      const answer = await this.call(client, claimed, action, attempts, budget);
      current = this.transact((): CheckRunRow | null =>
        this.settle(claimed, action, checkRunStep(answer, attempts, Date.now()), Date.now(), answer),
      );
    }
    return true;
  }

  /**
   * One state's call. A create tried before (its answer may have been lost with GitHub having
   * taken it) first asks GitHub for the commit's check run of that name and build: found, it is
   * that one's answer, and no second check run is created.
   */
  private async call(
    client: GitHubClient,
    row: CheckRunRow,
    action: CheckRunAction,
    attempts: number,
    budget: { calls: number },
  ): Promise<CheckRunAnswer> {
    const output = { title: row.title, summary: row.summary };
    const body = checkRunBody(action, row, output);
    if (action !== "create" || row.check_run_id !== null) {
      this.spend(budget, true);
      return client.updateCheckRun(row.repository, row.check_run_id ?? 0, body);
    }
    if (attempts > 1) {
      // A read: it counts against the run's calls, not against the writes of the minute.
      this.spend(budget, false);
      const found = await client.findCheckRun(row.repository, row.head_sha, row.name, row.build_id);
      if (!found.ok || found.value.status >= 300 || found.value.id !== null) return found;
    }
    this.spend(budget, true);
    const answer = await client.createCheckRun(row.repository, body);
    if (answer.ok && answer.value.status < 300 && answer.value.id === null) {
      // Taken, but with no id to move it on by: the next try finds it by its build.
      return fail("upstream", `GitHub answered ${answer.value.status} without the check run's id`);
    }
    return answer;
  }

  /** One call more this run, and, for a write, in the last minute. */
  private spend(budget: { calls: number }, write: boolean): void {
    budget.calls--;
    if (!write) return;
    const now = Date.now();
    this.recent.push(now);
    while (this.recent.length > CHECK_RUN_PER_MINUTE || (this.recent[0] ?? now) <= now - PACING_WINDOW_MS) {
      this.recent.shift();
    }
  }

  /**
   * Records what follows a row's call (in a transaction): sent (the row caught up, or due at once
   * for its next state), tried again later (a rate limit pausing the installation), or failed.
   * Counted once each. Returns the row when it is due again now, for the same run.
   */
  private settle(
    row: CheckRunRow,
    action: CheckRunAction,
    step: ReturnType<typeof checkRunStep>,
    now: number,
    answer?: CheckRunAnswer,
  ): CheckRunRow | null {
    const labels = { action, outcome: step.kind === "retry" ? "retried" : step.kind };
    this.deps.metrics.add("checkRuns", labels);
    if (step.kind === "sent") {
      const id = action === "create" && answer?.ok ? answer.value.id : null;
      const next = this.runs.sent(row.id, STATE_AFTER[action], id, now);
      return next !== null && next.status === "pending" ? next : null;
    }
    if (step.kind === "retry") {
      this.runs.retry(row.id, now + step.delayMs, step.why, now);
      if (step.pauseUntil !== undefined) {
        this.paused.set(row.installation_id, step.pauseUntil);
        this.runs.pause(row.installation_id, step.pauseUntil);
      }
      this.deps.wake(now + step.delayMs);
      return null;
    }
    const why = scrubSecrets(step.why);
    this.runs.fail(row.id, why, now);
    log("warn", "check run not sent", { repository: row.repository, sha: row.head_sha, action, why });
    return null;
  }

  /** When a row of `installation` queued now is due: now, or once GitHub's rate limit for it ends. */
  private dueAt(installation: number, now: number): number {
    return Math.max(now, this.paused.get(installation) ?? 0);
  }

  /** A state's output for the build as it is now (a completed one with its minutes and cost). */
  private output(build: BuildRecord, state: CheckRunState) {
    const figures = state === "completed" ? buildSummary(build, this.deps.runners()) : undefined;
    return checkRunOutput(build, state, figures);
  }

  private transact<T>(fn: () => T): T {
    return this.deps.transaction(fn);
  }
}

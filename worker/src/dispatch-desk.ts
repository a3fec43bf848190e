import {
  type BuildRecord,
  type BuildStatus,
  type ChangeSet,
  type CommitState,
  DEPENDENCY_LIMITS,
  type DependencyGraph,
  type DispatchState,
  type DownstreamLink,
  type DownstreamOrigin,
  debounceDue,
  dispatchBody,
  downstreamState,
  matchingTargets,
  mayDispatch,
  RUN_MATCH_WINDOW_MS,
  refsOfName,
  runMatchesDispatch,
  statusContext,
  statusDescription,
  unknownChanges,
  type WorkflowUpdate,
  type WriteResult,
  writeStep,
} from "./core/index.ts";
import type { GitHubClient } from "./github.ts";
import { GitHubClients } from "./github-app.ts";
import { log } from "./log.ts";
import type { Settings } from "./settings.ts";
import type { BuildStore } from "./store/builds.ts";
import { CommitStatuses, Dispatches, type DispatchRow, type DispatchRowState } from "./store/dispatches.ts";
import type { MetricsStore } from "./store/metrics.ts";
import type { Sql, Transaction } from "./store/sql.ts";

/** Dispatches and commit statuses sent per alarm run, one after the other; the rest wait for the next run. */
export const DISPATCH_BATCH = 20;
/** GitHub calls left in the rate-limit window below which nothing is sent (the job checks' reserve). */
export const DISPATCH_RESERVE = 500;
/** A due row put off for the rate limit is looked at again after this long. */
const RATE_LIMITED_DELAY_MS = 60_000;
/** A claimed dispatch whose call has not come back after this long was interrupted. */
const INTERRUPTED_AFTER_MS = 15 * 60_000;
/** Sent dispatches of one repository a workflow run is compared with to find its own. */
const MATCH_CANDIDATES = 32;

/** What the dispatch desk uses of the Ledger. */
export interface DispatchDeps {
  sql: Sql;
  transaction: Transaction;
  /** Asks for the Ledger's alarm at `at` or sooner. */
  wake: (at: number) => void;
  builds: BuildStore;
  settings: () => Settings | null;
  /** Counts each dispatch and commit status once, when it ends, in the transaction that ends it. */
  metrics: MetricsStore;
}

/** One downstream dispatch as GET /builds/<id>/graph lists it. */
export interface GraphDownstream {
  repository: string;
  workflow: string;
  ref: string;
  state: DispatchState;
  conclusion: string | null;
  build_id: string | null;
  run_id: number | null;
  dispatched_at: string | null;
  /** Why it failed, when it did. */
  error: string | null;
}

/** GET /builds/<id>/graph's answer: a build, the build that dispatched it, and what it dispatched. */
export interface BuildGraph {
  build: {
    build_id: string;
    repository: string;
    sha: string | null;
    status: BuildStatus;
    conclusion: string | null;
  };
  upstream: (DownstreamOrigin & { status: BuildStatus | null; conclusion: string | null })[];
  downstream: GraphDownstream[];
}

/** A row's state as the graph and the records show it: a claimed row is still pending. */
const shown = (state: DispatchRowState): DispatchState => (state === "sending" ? "pending" : state);

/**
 * Cross-repository builds inside the Ledger. In a delivery's transaction: queues the dispatches
 * a push's dependencies owe (debounced, one pending row per key), links a dispatched run to its
 * dispatch and its build to the upstream build, and queues the commit statuses that follow.
 * After the alarm's transaction: sends due dispatches and statuses through GitHub's API.
 * Tables: `dispatches`, `commit_statuses` (docs/storage-schema.md); the rules: core/dependencies.ts.
 */
export class DispatchDesk {
  private readonly deps: DispatchDeps;
  readonly dispatches: Dispatches;
  readonly statuses: CommitStatuses;
  private sending = false;

  constructor(deps: DispatchDeps) {
    this.deps = deps;
    this.dispatches = new Dispatches(deps.sql);
    this.statuses = new CommitStatuses(deps.sql);
  }

  /**
   * A routed build was recorded (in its delivery's transaction): a push queues its dependents'
   * dispatches; a workflow_dispatch a dependency sent gives its dispatch the build.
   */
  onRouted(build: BuildRecord, changes: ChangeSet, graph: DependencyGraph | undefined, now: number): void {
    if (build.upstream !== undefined) {
      const rows = this.dispatches.linkBuild(build.upstream.build_id, build.repository, build.build_id);
      if (rows.length > 0) this.syncUpstream(build.upstream.build_id, now);
    }
    if (build.event !== "push" || build.sha === null || build.ref === null) return;
    const queued = { repository: build.repository, refs: [build.ref], changes };
    // The build is written already: its record gets the dispatches it now owes.
    if (this.queueDependents(queued, { sha: build.sha, buildId: build.build_id, depth: 0 }, graph, now)) {
      this.syncUpstream(build.build_id, now);
    }
  }

  /**
   * A workflow event is about to be written to `build` (in its delivery's transaction): a run a
   * dependency dispatched is matched to its dispatch (by repository, workflow, ref and time) the
   * first time it is seen, its dispatch follows it, and, while the chain is under the depth limit,
   * the run's own dependents are queued. Returns the record with its `upstream` and `downstream`.
   */
  onWorkflow(build: BuildRecord, update: WorkflowUpdate, graph: DependencyGraph | undefined, now: number): BuildRecord {
    let rows: DispatchRow[];
    if (update.kind === "job") {
      rows = this.dispatches.ofRun(update.job.run_id);
    } else {
      rows = this.dispatches.ofRun(update.run.id);
      if (rows.length === 0 && update.run.event === "workflow_dispatch" && update.origin !== undefined) {
        const found = this.matchRun(build.repository, update.run.id, update.origin, now);
        if (found !== null) {
          rows = [found];
          const dispatched = { sha: build.sha ?? "", buildId: build.build_id, depth: found.depth };
          if (build.sha !== null && graph !== undefined && mayDispatch(found.depth, graph.maxDepth)) {
            const change = { repository: build.repository, refs: refsOfName(found.ref), changes: RUN_CHANGES };
            this.queueDependents(change, dispatched, graph, now);
          }
        }
      }
      const { run, origin } = update;
      const completed = run.status === "completed";
      for (const row of rows) {
        // A late event of an earlier state does not take a finished run back.
        if (row.state === "completed" && !completed) continue;
        this.dispatches.follow(row.id, {
          runId: run.id,
          buildId: build.build_id,
          state: completed ? "completed" : "running",
          conclusion: completed ? run.conclusion : null,
          htmlUrl: origin?.htmlUrl ?? null,
        });
        this.noteStatus(row, now);
        this.syncUpstream(row.upstream_build, now);
      }
    }
    const row = rows[0];
    const upstream = row === undefined ? build.upstream : originOf(row);
    return this.withLinks({ ...build, ...(upstream === undefined ? {} : { upstream }) });
  }

  /** The first sent dispatch of `repository` a newly seen dispatched run answers, linked to the run; or null. */
  private matchRun(
    repository: string,
    runId: number,
    origin: NonNullable<Extract<WorkflowUpdate, { kind: "run" }>["origin"]>,
    now: number,
  ): DispatchRow | null {
    // A dispatch sent longer than the match window before the run was created (before now, for a
    // run without a time) cannot be the one it answers.
    const since = (origin.createdAt ?? now) - RUN_MATCH_WINDOW_MS;
    for (const row of this.dispatches.awaitingRun(repository, since, MATCH_CANDIDATES)) {
      const dispatch = { workflow: row.workflow, ref: row.ref, dispatchedAt: row.dispatched_at ?? row.created_at };
      if (runMatchesDispatch(dispatch, origin)) return { ...row, run_id: runId };
    }
    return null;
  }

  /**
   * Queues, for a change of an upstream repository, the dispatch of every target its
   * dependencies name: one pending row per key, due a debounce after the first push of its
   * window; a later push takes the row over, for its own (later) commit. True when any was queued.
   */
  private queueDependents(
    change: Parameters<typeof matchingTargets>[1],
    from: { sha: string; buildId: string; depth: number },
    graph: DependencyGraph | undefined,
    now: number,
  ): boolean {
    const origin = {
      upstreamRepository: change.repository.toLowerCase(),
      upstreamSha: from.sha.toLowerCase(),
      upstreamBuild: from.buildId,
      depth: from.depth + 1,
    };
    const targets = matchingTargets(graph, change);
    for (const { target, debounceSeconds } of targets) {
      const pending = this.dispatches.pending(origin.upstreamRepository, target);
      const dueAt = debounceDue(pending === null ? null : { dueAt: pending.next_at }, now, debounceSeconds);
      const { replaced } = this.dispatches.queue(target, origin, dueAt, now);
      if (replaced !== null) this.syncUpstream(replaced, now);
      this.deps.wake(dueAt);
    }
    return targets.length > 0;
  }

  /**
   * The commit status a dispatch's downstream repository now owes its upstream commit, from all
   * its dispatches for that build: queued when it is one not queued before.
   */
  private noteStatus(row: DispatchRow, now: number): void {
    const rows = this.dispatches.ofUpstream(row.upstream_build, DEPENDENCY_LIMITS.downstream);
    const mine = rows.filter((r) => r.repository === row.repository);
    const state: CommitState | null = downstreamState(
      mine.map((r) => ({ state: shown(r.state), conclusion: r.conclusion })),
    );
    if (state === null) return;
    const url = mine.find((r) => r.html_url !== null)?.html_url ?? null;
    const workflows = [...new Set(mine.map((r) => r.workflow))].join(", ");
    const queued = this.statuses.enqueue(
      {
        repository: row.upstream_repository,
        sha: row.upstream_sha,
        context: statusContext(row.repository),
        state,
        target_url: url,
        description: statusDescription(workflows, state),
      },
      now,
    );
    if (queued) this.deps.wake(now);
  }

  /** An upstream build's record gets its dispatches as they are now (when it is still live). */
  private syncUpstream(buildId: string, now: number): void {
    const record = this.deps.builds.byId(buildId);
    if (record === null) return;
    const next = this.withLinks(record);
    if (JSON.stringify(next.downstream ?? []) !== JSON.stringify(record.downstream ?? [])) {
      this.deps.builds.update(next, now);
    }
  }

  /** A record with its `downstream` read from its dispatches (at most 16); left out when it has none. */
  private withLinks(build: BuildRecord): BuildRecord {
    const rows = this.dispatches.ofUpstream(build.build_id, DEPENDENCY_LIMITS.downstream);
    const { downstream: _, ...rest } = build;
    if (rows.length === 0) return rest;
    const downstream: DownstreamLink[] = rows.map((row) => ({
      repository: row.repository,
      workflow: row.workflow,
      state: shown(row.state),
      build_id: row.build_id,
      run_id: row.run_id,
    }));
    return { ...rest, downstream };
  }

  /** For GET /builds/<id>/graph: `build` (the live record, or its KV copy), its upstream and its dispatches. */
  graph(build: BuildRecord): BuildGraph {
    const upstream = build.upstream === undefined ? [] : [build.upstream];
    return {
      build: {
        build_id: build.build_id,
        repository: build.repository,
        sha: build.sha,
        status: build.status,
        conclusion: build.conclusion,
      },
      upstream: upstream.map((origin) => {
        const record = this.deps.builds.byId(origin.build_id);
        return { ...origin, status: record?.status ?? null, conclusion: record?.conclusion ?? null };
      }),
      downstream: this.dispatches.ofUpstream(build.build_id, DEPENDENCY_LIMITS.downstream).map((row) => ({
        repository: row.repository,
        workflow: row.workflow,
        ref: row.ref,
        state: shown(row.state),
        conclusion: row.conclusion,
        build_id: row.build_id,
        run_id: row.run_id,
        dispatched_at: row.dispatched_at === null ? null : new Date(row.dispatched_at).toISOString(),
        error: row.state === "failed" ? row.last_error : null,
      })),
    };
  }

  /** In the alarm's transaction: claimed dispatches whose call never came back are failed (and say so on their commit). */
  maintain(now: number): void {
    for (const row of this.dispatches.failInterrupted(now - INTERRUPTED_AFTER_MS, DISPATCH_BATCH)) {
      this.noteStatus({ ...row, state: "failed" }, now);
      this.syncUpstream(row.upstream_build, now);
    }
  }

  /** Deletes finished rows created before `before`; true when a batch was full. */
  prune(before: number, limit: number): boolean {
    const dispatches = this.dispatches.prune(before, limit);
    return this.statuses.prune(before, limit) || dispatches;
  }

  /** When the next dispatch or status is due, or null. */
  nextDue(): number | null {
    const times = [this.dispatches.nextDue(), this.statuses.nextDue()].filter((t): t is number => t !== null);
    return times.length === 0 ? null : Math.min(...times);
  }

  /**
   * Outside any transaction: sends the due dispatches, then the due commit statuses, one call at
   * a time (at most {@link DISPATCH_BATCH} each), never below {@link DISPATCH_RESERVE} calls left.
   * A dispatch is claimed before its call, so it is sent at most once.
   */
  async run(now = Date.now()): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      const clients = new GitHubClients(this.deps.settings()?.github ?? null);
      await this.sendDispatches(clients, now);
      await this.sendStatuses(clients, Date.now());
    } finally {
      this.sending = false;
    }
  }

  private async sendDispatches(clients: GitHubClients, now: number): Promise<void> {
    for (const row of this.dispatches.due(now, DISPATCH_BATCH)) {
      const client = clients.for(row.repository);
      if (client === null) {
        this.transact(() => this.settle(row, { kind: "failed", why: "GITHUB_TOKEN is not set" }, Date.now()));
        continue;
      }
      if (lowOnCalls(client)) {
        this.dispatches.defer(row.id, Date.now() + RATE_LIMITED_DELAY_MS);
        this.deps.wake(Date.now() + RATE_LIMITED_DELAY_MS);
        continue;
      }
      if (!this.transact(() => this.dispatches.claim(row.id, Date.now()))) continue;
      const body = dispatchBody(row.ref, {
        upstreamRepository: row.upstream_repository,
        upstreamSha: row.upstream_sha,
        upstreamBuild: row.upstream_build,
        depth: row.depth,
      });
      const answer = await client.dispatchWorkflow(row.repository, row.workflow, body);
      const claimed = { ...row, attempts: row.attempts + 1 };
      const state = this.transact(() => this.settle(claimed, writeStep(answer, claimed.attempts), Date.now()));
      if (state === "failed") {
        log("warn", "dispatch not sent", { repository: row.repository, workflow: row.workflow, why: whyOf(answer) });
      }
    }
  }

  /** Records a claimed dispatch's answer, then what follows from it: its commit status, its upstream's record. */
  private settle(row: DispatchRow, step: Parameters<Dispatches["record"]>[1], now: number): DispatchRowState {
    const state = this.dispatches.record(row, step, now);
    if (state === "pending") this.deps.wake(this.dispatches.nextDue() ?? now);
    else this.deps.metrics.add("dispatches", { outcome: state === "dispatched" ? "sent" : "failed" });
    this.noteStatus({ ...row, state }, now);
    this.syncUpstream(row.upstream_build, now);
    return state;
  }

  private async sendStatuses(clients: GitHubClients, now: number): Promise<void> {
    for (const row of this.statuses.due(now, DISPATCH_BATCH)) {
      const client = clients.for(row.repository);
      if (client === null) {
        this.transact(() => {
          this.statuses.fail(row.id, "GITHUB_TOKEN is not set");
          this.deps.metrics.add("commitStatuses", { state: row.state, outcome: "failed" });
        });
        continue;
      }
      if (lowOnCalls(client)) break;
      const answer = await client.createCommitStatus(row.repository, row.sha, {
        state: row.state,
        context: row.context,
        description: row.description,
        ...(row.target_url === null ? {} : { target_url: row.target_url }),
      });
      const step = this.transact(() => {
        const next = this.statuses.record(row, answer, Date.now());
        if (next.kind !== "retry") this.deps.metrics.add("commitStatuses", { state: row.state, outcome: next.kind });
        return next;
      });
      if (step.kind === "retry") this.deps.wake(Date.now() + step.delayMs);
      else if (step.kind === "failed") log("warn", "commit status not sent", { context: row.context, why: step.why });
    }
    // A later state of a context waits for the earlier one: it is due now that that one went.
    const next = this.statuses.nextDue();
    if (next !== null) this.deps.wake(next);
  }

  private transact<T>(fn: () => T): T {
    return this.deps.transaction(fn);
  }
}

/** A dispatched run's files are not known: its dependents' path filters count as matched. */
const RUN_CHANGES = unknownChanges("dispatch", "a dispatched run names no changed files");

/** What a downstream build's record says of its upstream, from its dispatch. */
function originOf(row: DispatchRow): DownstreamOrigin {
  return { repository: row.upstream_repository, sha: row.upstream_sha, build_id: row.upstream_build, depth: row.depth };
}

/** Whether GitHub's rate-limit window has fewer calls left than the reserve. */
function lowOnCalls(client: GitHubClient): boolean {
  return client.rateLimitRemaining !== null && client.rateLimitRemaining < DISPATCH_RESERVE;
}

function whyOf(answer: WriteResult): string {
  if (!answer.ok) return answer.error.message;
  return `${answer.value.status}${answer.value.message === null ? "" : ` ${answer.value.message}`}`;
}

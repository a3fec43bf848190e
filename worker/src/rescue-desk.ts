import {
  type AlertEvent,
  afterCancel,
  type BuildRecord,
  type FleetSnapshot,
  policyFor,
  type RoutingPolicy,
  rescuedAttempt,
  stuckDecision,
} from "./core/index.ts";
import { GitHubClients } from "./github-app.ts";
import { log } from "./log.ts";
import type { Settings } from "./settings.ts";
import type { MetricsStore } from "./store/metrics.ts";
import type { QueueWatch } from "./store/queue-watch.ts";
import { Rescues } from "./store/rescues.ts";
import type { Sql } from "./store/sql.ts";

/** While a rescue is under way (cancel sent, run not yet seen cancelled), the alarm comes back this soon. */
export const RESCUE_POLL_MS = 30_000;
/** GitHub calls per alarm run, per step; the rest wait for the next run. */
export const RESCUE_BATCH = 10;

/** What the rescue desk uses of the Ledger: its stores, its settings, its alarm, its alerts. */
export interface RescueDeps {
  sql: Sql;
  /** Asks for the Ledger's alarm at `at` or sooner. */
  wake: (at: number) => void;
  metrics: MetricsStore;
  watch: QueueWatch;
  settings: () => Settings | null;
  buildById: (buildId: string) => BuildRecord | null;
  queueAlerts: (event: AlertEvent, now: number) => void;
}

/**
 * Stuck-queue rescue inside the Ledger: decides, in the alarm's transaction, what to do with a
 * job still queued when its watch falls due, and afterwards asks GitHub to cancel and re-run
 * the runs being rescued. Tables: `rescues` (docs/storage-schema.md); the pure decision is the
 * core's `rescueAction`, wrapped in rescue.ts.
 */
export class RescueDesk {
  private readonly deps: RescueDeps;
  private readonly rescues: Rescues;

  constructor(deps: RescueDeps) {
    this.deps = deps;
    this.rescues = new Rescues(deps.sql);
  }

  /** Deletes finished rescues older than `before`. */
  prune(before: number): void {
    this.rescues.prune(before);
  }

  /**
   * A job whose watch fell due is still queued (inside the alarm's transaction): rescue it
   * (counted here, exactly once; GitHub is called after the transaction), alert, give up
   * (alerting once per run), or wait, alerting at `alerts.queuedTooLongSeconds` as before.
   */
  onStuck(
    build: BuildRecord,
    job: BuildRecord["jobs"][string],
    waitedSeconds: number,
    fleet: (policy: RoutingPolicy) => FleetSnapshot,
    now: number,
  ): void {
    const settings = this.deps.settings();
    const asBefore = () => this.deps.queueAlerts({ kind: "queued_too_long", build, job, waitedSeconds }, now);
    if (settings === null) {
      asBefore();
      return;
    }
    const policy = policyFor(settings.config, build.repository);
    const run = { runId: job.run_id, repository: build.repository, buildId: build.build_id };
    const known = this.rescues.get(job.run_id);
    // Its run is being cancelled and re-run already: this job goes with it.
    if (this.rescues.inFlight(known)) return;
    const decided = stuckDecision({
      policy,
      fleet: fleet(policy),
      build,
      job,
      waitedSeconds,
      now,
      attempts: known?.attempts ?? 0,
      tokenAvailable: settings.github !== null,
    });
    const runner = decided.runnerClass ?? "unknown";
    const fields = { build_id: build.build_id, job_id: job.id, run_id: job.run_id, reason: decided.reason };
    switch (decided.action) {
      case "wait": {
        const alertAfter = policy.alerts.queuedTooLongSeconds;
        if (waitedSeconds >= alertAfter) {
          asBefore();
          return;
        }
        const queuedAt = job.queued_at ?? job.created_at ?? new Date(now - waitedSeconds * 1000).toISOString();
        this.deps.wake(this.deps.watch.add({ jobId: job.id, buildId: build.build_id, queuedAt }, alertAfter, now));
        return;
      }
      case "rescue":
        this.rescues.start(run, rescuedAttempt(build.runs[String(job.run_id)]), now);
        this.deps.metrics.add("rescues", { runner, action: "rescue" });
        log("info", "rescuing a stuck job: cancel and re-run", fields);
        return;
      case "alert":
        this.rescues.note(run, "alert", now);
        this.deps.metrics.add("rescues", { runner, action: "alert" });
        this.queueStuckAlert(build, job, waitedSeconds, decided.reason, now);
        return;
      case "give_up":
        if (known?.last_action === "give_up") return;
        this.rescues.note(run, "give_up", now);
        this.deps.metrics.add("rescues", { runner, action: "give_up" });
        log("warn", "stuck job not rescued again", fields);
        this.queueStuckAlert(build, job, waitedSeconds, decided.reason, now);
        return;
    }
  }

  /** A `queued_too_long` alert now (the job is past its class's target), saying why it was not rescued. */
  private queueStuckAlert(
    build: BuildRecord,
    job: BuildRecord["jobs"][string],
    waitedSeconds: number,
    reason: string,
    now: number,
  ): void {
    this.deps.queueAlerts({ kind: "queued_too_long", build, job, waitedSeconds, rescue: reason }, now);
  }

  /**
   * Outside any transaction: asks GitHub to cancel the runs being rescued, and to re-run those
   * seen `completed` / `cancelled` since, so their route step asks again and gets the fallback.
   */
  async run(): Promise<void> {
    const rescues = this.rescues;
    const clients = new GitHubClients(this.deps.settings()?.github ?? null);
    for (const row of rescues.at("cancel_pending", RESCUE_BATCH)) {
      const client = clients.for(row.repository);
      const fields = { run_id: row.run_id, build_id: row.build_id };
      if (client === null) {
        rescues.advance(row.run_id, "cancel_pending", "cancel_failed", Date.now());
        log("warn", "rescue not done: GITHUB_TOKEN is not set", fields);
        continue;
      }
      const result = await client.cancelRun(row.repository, row.run_id);
      rescues.advance(row.run_id, "cancel_pending", result.ok ? "cancelled_for_rescue" : "cancel_failed", Date.now());
      if (!result.ok) log("warn", "rescue: GitHub did not cancel the run", { ...fields, why: result.error.message });
    }
    for (const row of rescues.at("cancelled_for_rescue", RESCUE_BATCH)) {
      const client = clients.for(row.repository);
      const fields = { run_id: row.run_id, build_id: row.build_id };
      const run = this.deps.buildById(row.build_id)?.runs[String(row.run_id)];
      const rescue = { runAttempt: row.run_attempt, cancelledAt: row.last_at };
      const step = afterCancel(run, rescue, Date.now(), client !== null);
      if (step === "wait") continue;
      if (step === "give_up") {
        rescues.advance(row.run_id, "cancelled_for_rescue", "cancel_failed", Date.now());
        log("warn", "rescue: the cancelled run never completed", fields);
        continue;
      }
      if (step === "not_rerun" || client === null) {
        rescues.advance(row.run_id, "cancelled_for_rescue", "rerun_failed", Date.now());
        log("warn", "rescue: not re-run", { ...fields, conclusion: run?.conclusion ?? null, token: client !== null });
        continue;
      }
      // Claimed before the call: a run is re-run at most once per rescue.
      if (!rescues.advance(row.run_id, "cancelled_for_rescue", "rerun", Date.now())) continue;
      const result = await client.rerunRun(row.repository, row.run_id);
      if (!result.ok) {
        rescues.advance(row.run_id, "rerun", "rerun_failed", Date.now());
        log("warn", "rescue: GitHub did not re-run the run", { ...fields, why: result.error.message });
      }
    }
  }

  /** While a rescue is under way, the alarm should come back within {@link RESCUE_POLL_MS}: when, else null. */
  nextPoll(now: number): number | null {
    return this.rescues.anyInFlight() ? now + RESCUE_POLL_MS : null;
  }
}

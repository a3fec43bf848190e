import type { BuildRecord, JobState, RunState } from "./builds.ts";
import { jobClass } from "./builds.ts";
import { fallbackChain } from "./chain.ts";
import type { FleetSnapshot } from "./load.ts";
import { DEFAULT_QUEUE_TARGET_SECONDS, type Requirement, type RoutingPolicy, type Runner } from "./types.ts";

/**
 * Stuck-queue rescue, pure: which class a queued job waits for, when it counts as stuck, and
 * what to do about it (wait, cancel and re-run it so its route step asks again, alert, give up).
 */

const ms = (iso: string): number => Date.parse(iso);

/**
 * Seconds a queued job may wait for its class before it counts as stuck: the class's
 * `queueTargetSeconds`, else {@link DEFAULT_QUEUE_TARGET_SECONDS} (also for a job whose class
 * is not known).
 */
export function queueTarget(runner: Pick<Runner, "queueTargetSeconds"> | undefined): number {
  return runner?.queueTargetSeconds ?? DEFAULT_QUEUE_TARGET_SECONDS;
}

export type RescueAction = "wait" | "rescue" | "alert" | "give_up";

export interface RescueInput {
  /** When the job entered the queue. */
  queuedAt: string;
  now: string;
  /** The class the job waits for. */
  runnerClass: string;
  requirement: Requirement;
  /** Rescues already done for this workflow run. */
  attempts: number;
  /** Whether a GitHub token that may cancel and re-run workflows is configured. */
  tokenAvailable: boolean;
}

/**
 * What to do about a job still queued at `now`:
 * - `wait`: within its class's queue target, or its class has room, or its requirement may not
 *   leave the class (GPU and deploy unless in `failover.requirements`), or no fallback has room;
 * - `give_up`: `failover.rescue.maxPerRun` rescues were already done for the run;
 * - `alert`: it should be rescued, but rescue is disabled or no token can do it;
 * - `rescue`: cancel and re-run, so that its route step asks again and gets `fallback`.
 */
export function rescueAction(
  input: RescueInput,
  policy: RoutingPolicy,
  fleet: FleetSnapshot,
): { action: RescueAction; reason: string; fallback: string | null } {
  const runner = policy.runners[input.runnerClass];
  const wait = (reason: string) => ({ action: "wait" as const, reason, fallback: null });
  if (runner === undefined) return wait(`unknown runner class "${input.runnerClass}"`);
  const target = queueTarget(runner);
  const waited = Math.floor((ms(input.now) - ms(input.queuedAt)) / 1000);
  if (!(waited > target)) return wait(`queued ${waited} s of ${runner.id}'s ${target} s target`);
  const stuck = `queued ${waited} s, past ${runner.id}'s ${target} s target`;
  if (!policy.failover.requirements.includes(input.requirement)) {
    return wait(`${stuck}; ${input.requirement} waits for ${runner.id} (not in failover.requirements)`);
  }
  const load = fleet[runner.id];
  if (load === undefined || runner.kind === "github-hosted" || (!load.saturated && !load.offline)) {
    return wait(`${stuck}, but ${runner.id} has room: re-routing would choose it again`);
  }
  const fallback = roomyFallback(runner, policy, fleet);
  if (fallback === null) return wait(`${stuck}, and no fallback of ${runner.id} has room`);
  const { maxPerRun, enabled } = policy.failover.rescue;
  if (input.attempts >= maxPerRun) {
    return {
      action: "give_up",
      reason: `${stuck}; ${input.attempts} of ${maxPerRun} rescues done for the run`,
      fallback,
    };
  }
  if (!enabled) return { action: "alert", reason: `${stuck}; rescue is disabled`, fallback };
  if (!input.tokenAvailable) return { action: "alert", reason: `${stuck}; no token to cancel and re-run`, fallback };
  return { action: "rescue", reason: `${stuck}; cancel and re-run → ${fallback}`, fallback };
}

/** The first class along `runner`'s fallback chain that has room, as chooseRunner would walk it. */
function roomyFallback(runner: Runner, policy: RoutingPolicy, fleet: FleetSnapshot): string | null {
  for (const next of fallbackChain(policy, runner).chain) {
    if (policy.mode === "self-hosted-only" && next.kind === "github-hosted") return null;
    const load = fleet[next.id];
    if (load === undefined || next.kind === "github-hosted" || (!load.saturated && !load.offline)) return next.id;
  }
  return null;
}

/**
 * Seconds after queueing at which a job's watch falls due: the sooner of its class's queue
 * target (when it may be rescued) and `alerts.queuedTooLongSeconds` (when it alerts).
 */
export function watchSeconds(policy: RoutingPolicy, build: BuildRecord, jobId: number): number {
  const alertAfter = policy.alerts.queuedTooLongSeconds;
  const job = build.jobs[String(jobId)];
  const runnerClass = job === undefined ? null : jobClass(policy, job, build);
  const runner = runnerClass === null ? undefined : policy.runners[runnerClass];
  if (runner === undefined) return alertAfter;
  return Math.min(alertAfter, queueTarget(runner));
}

export interface StuckDecision {
  runnerClass: string | null;
  action: RescueAction;
  reason: string;
  fallback: string | null;
}

/** What to do about a job whose watch fell due and that is still queued. */
export function stuckDecision(input: {
  policy: RoutingPolicy;
  fleet: FleetSnapshot;
  build: BuildRecord;
  job: JobState;
  waitedSeconds: number;
  now: number;
  attempts: number;
  tokenAvailable: boolean;
}): StuckDecision {
  const { policy, build, job, now } = input;
  const runnerClass = jobClass(policy, job, build);
  if (runnerClass === null) {
    return { runnerClass, action: "wait", reason: "its labels fit no runner class", fallback: null };
  }
  const queuedAt = job.queued_at ?? job.created_at ?? new Date(now - input.waitedSeconds * 1000).toISOString();
  const decided = rescueAction(
    {
      queuedAt,
      now: new Date(now).toISOString(),
      runnerClass,
      requirement: build.decision?.requirement ?? "default",
      attempts: input.attempts,
      tokenAvailable: input.tokenAvailable,
    },
    policy,
    input.fleet,
  );
  return { runnerClass, ...decided };
}

/**
 * The attempt of a run a rescue cancels: the one its record shows, or, when that attempt already
 * ended (its jobs are queued again for a re-run GitHub has not reported yet), the next one.
 */
export function rescuedAttempt(run: { status: string; attempt: number } | undefined): number {
  if (run === undefined) return 1;
  return run.status === "completed" ? run.attempt + 1 : run.attempt;
}

/** A cancel GitHub accepted but never confirmed by a `completed` / `cancelled` run within this is given up. */
export const CANCEL_CONFIRM_MS = 60 * 60 * 1000;

/**
 * What to do with a run cancelled for a rescue, from its record: `wait` until it is seen
 * completed in the attempt that was cancelled (up to {@link CANCEL_CONFIRM_MS} after the cancel,
 * then `give_up`), `rerun` it once it ended cancelled, or `not_rerun` when it ended any other
 * way (someone else re-ran or finished it) or there is no token to re-run with.
 */
export function afterCancel(
  run: Pick<RunState, "status" | "attempt" | "conclusion"> | undefined,
  rescue: { runAttempt: number; cancelledAt: number },
  now: number,
  tokenAvailable: boolean,
): "wait" | "give_up" | "rerun" | "not_rerun" {
  if (run?.status !== "completed" || run.attempt < rescue.runAttempt) {
    return now - rescue.cancelledAt > CANCEL_CONFIRM_MS ? "give_up" : "wait";
  }
  return run.conclusion === "cancelled" && tokenAvailable ? "rerun" : "not_rerun";
}

import {
  type BuildRecord,
  DEFAULT_QUEUE_TARGET_SECONDS,
  DISCORD_LIMITS,
  type DiscordPayload,
  type FleetState,
  fleetSnapshot,
  type JobState,
  type RescueAction,
  type RoutingPolicy,
  rescueAction,
  runnerForLabels,
} from "./core/index.ts";

/**
 * Stuck-queue rescue, the Ledger's side: which class a queued job waits for, when its queue
 * watch falls due, and what to do about it (the pure decision is the core's `rescueAction`).
 */

/** While a rescue is under way (cancel sent, run not yet seen cancelled), the alarm comes back this soon. */
export const RESCUE_POLL_MS = 30_000;
/** A cancel GitHub accepted but never confirmed by a `completed` / `cancelled` run within this is given up. */
export const CANCEL_CONFIRM_MS = 60 * 60 * 1000;
/** GitHub calls per alarm run, per step; the rest wait for the next run. */
export const RESCUE_BATCH = 10;

/** The class a queued job waits for: from its labels, else its recorded class, else the build's decision. */
export function jobClass(policy: RoutingPolicy, build: BuildRecord, job: JobState): string | null {
  return runnerForLabels(policy, job.labels)?.id ?? job.runner ?? build.decision?.runner ?? null;
}

/**
 * Seconds after queueing at which a job's watch falls due: the sooner of its class's queue
 * target (when it may be rescued) and `alerts.queuedTooLongSeconds` (when it alerts).
 */
export function watchSeconds(policy: RoutingPolicy, build: BuildRecord, jobId: number): number {
  const alertAfter = policy.alerts.queuedTooLongSeconds;
  const job = build.jobs[String(jobId)];
  const runnerClass = job === undefined ? null : jobClass(policy, build, job);
  const runner = runnerClass === null ? undefined : policy.runners[runnerClass];
  if (runner === undefined) return alertAfter;
  return Math.min(alertAfter, runner.queueTargetSeconds ?? DEFAULT_QUEUE_TARGET_SECONDS);
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
  fleet: FleetState;
  build: BuildRecord;
  job: JobState;
  waitedSeconds: number;
  now: number;
  attempts: number;
  tokenAvailable: boolean;
}): StuckDecision {
  const { policy, build, job, now } = input;
  const runnerClass = jobClass(policy, build, job);
  if (runnerClass === null) {
    return { runnerClass, action: "wait", reason: "its labels fit no runner class", fallback: null };
  }
  const queuedAt = job.created_at ?? new Date(now - input.waitedSeconds * 1000).toISOString();
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
    fleetSnapshot(input.fleet, policy),
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

/** The alert with a "Rescue" field saying why, when the embed has room for it. */
export function withReason(payload: DiscordPayload, reason: string): DiscordPayload {
  const [embed, ...rest] = payload.embeds;
  if (embed === undefined || embed.fields.length >= DISCORD_LIMITS.fields) return payload;
  const value = reason.length > 300 ? `${reason.slice(0, 299)}…` : reason;
  const used =
    embed.title.length +
    embed.description.length +
    embed.fields.reduce((n, f) => n + f.name.length + f.value.length, 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.author?.name.length ?? 0);
  if (used + "Rescue".length + value.length > DISCORD_LIMITS.total) return payload;
  return { ...payload, embeds: [{ ...embed, fields: [...embed.fields, { name: "Rescue", value }] }, ...rest] };
}

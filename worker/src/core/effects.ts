import type { AlertEvent } from "./alerts.ts";
import { type BuildRecord, type JobState, jobTransition, type WorkflowUpdate } from "./builds.ts";
import { type CostJob, jobMinutes, ROUTING_OVERHEAD } from "./costs.ts";
import { HANDLED_EVENTS } from "./events.ts";
import type { JobSample, LearnKey } from "./learn-stats.ts";
import type { MetricKey } from "./metrics.ts";
import type { Requirement } from "./types.ts";

/** What one accepted delivery did to the Ledger's state. */
export type Change =
  | { kind: "answered"; event: string; ignored: boolean }
  | { kind: "created"; event: string; build: BuildRecord }
  | {
      kind: "updated";
      event: string;
      before: BuildRecord | null;
      after: BuildRecord;
      update: WorkflowUpdate;
      /** Found by asking GitHub about a job whose event was lost, not delivered: not a delivery. */
      checked?: boolean;
      /** The job is the router's own route job (it asked for a route naming itself): overhead, not the build's work. */
      routing?: boolean;
      /**
       * For a job the build record leaves out (past its cap): its status before this event, as
       * the fleet's row had it (undefined when the fleet had no row), so it is still counted once.
       */
      unlisted?: { before: string | undefined };
    };

/** Events `ci_router_webhook_deliveries_total` names: those the router handles; any other counts as `other`. */
export const EVENT_LABELS: readonly string[] = HANDLED_EVENTS;
/** Conclusions GitHub gives runs and jobs; any other counts as `other`. */
export const CONCLUSION_LABELS = [
  "success",
  "failure",
  "cancelled",
  "skipped",
  "neutral",
  "timed_out",
  "action_required",
  "stale",
  "startup_failure",
];

/** A label value from a closed list: itself when listed, else `other`, so series stay bounded. */
export function bounded(value: string, allowed: readonly string[]): string {
  return allowed.includes(value) ? value : "other";
}

/** Everything a change implies besides itself: metrics, alerts, cost rows, queue watches. */
export interface Effects {
  counters: { metric: MetricKey; labels: Record<string, string>; by: number }[];
  observations: { metric: MetricKey; labels: Record<string, string>; seconds: number }[];
  alerts: AlertEvent[];
  costJob: CostJob | null;
  /** A job entered the queue: watch it, from when it was queued. */
  watch: { jobId: number; buildId: string; queuedAt: string | null } | null;
  /** A job left the queue (or finished): stop watching it. */
  unwatch: number | null;
  /** A job of a build the learner routed finished: what it took, for its history. */
  learnJob: JobObservation | null;
  /** A build the learner routed finished: the jobs it ran, for its roster. */
  learnBuild: BuildObservation | null;
}

/** One finished job for the learner's history (core/learn-stats.ts `observe`). */
export interface JobObservation {
  key: LearnKey;
  runnerClass: string;
  sample: JobSample;
}

/**
 * One finished build for the learner's roster (core/learn-stats.ts `observeBuild`): the jobs it ran,
 * with their ids so that the Ledger can leave out the router's own route jobs, known only there.
 */
export interface BuildObservation {
  scope: { repository: string; requirement: Requirement };
  jobs: { id: number; workflow: string; job: string }[];
}

/**
 * The conclusions of a job or build that ran to its end: only such a job's time says what the
 * job takes, and only such a build says which jobs builds of its kind run. Cancelled and skipped
 * ones are left out.
 */
const LEARNED_CONCLUSIONS = ["success", "failure", "timed_out"];

/**
 * The name of the workflow a job belongs to: the job's own `workflow_name`, else its run's in the
 * build record ("" when neither is there).
 */
const workflowOf = (build: BuildRecord, job: JobState) => job.workflow ?? build.runs[String(job.run_id)]?.name ?? "";

/** The runner label for a job whose labels fit no runner class. */
export const UNKNOWN_RUNNER = "unknown";

/** The `suggested` label of a job whose build nothing was routed for (no decision). */
export const NO_SUGGESTION = "none";

/**
 * Derives a change's effects. Pure, and applied in the same transaction as the change, so a
 * delivery is counted, billed and alerted exactly once.
 */
export function effectsOf(change: Change): Effects {
  const effects: Effects = {
    counters: [],
    observations: [],
    alerts: [],
    costJob: null,
    watch: null,
    unwatch: null,
    learnJob: null,
    learnBuild: null,
  };
  const count = (metric: MetricKey, labels: Record<string, string> = {}, by = 1) =>
    effects.counters.push({ metric, labels, by });

  const outcome = change.kind === "answered" && change.ignored ? "ignored" : "accepted";
  if (!(change.kind === "updated" && change.checked)) {
    count("deliveries", { event: bounded(change.event, EVENT_LABELS), outcome });
  }

  if (change.kind === "created") {
    const { decision } = change.build;
    if (decision !== null) {
      count("decisions", { runner: decision.runner, requirement: decision.requirement, mode: decision.mode });
      if (!decision.satisfiable) count("unsatisfiable", { requirement: decision.requirement, mode: decision.mode });
      if (decision.truncated) count("incompleteFiles", { kind: "truncated" });
      if (!decision.files_known) count("incompleteFiles", { kind: "unknown" });
    }
    effects.alerts.push({ kind: "routed", build: change.build });
  }

  if (change.kind === "updated") {
    const { before, after, update } = change;
    if (update.kind === "job") {
      const listed = after.jobs[String(update.job.id)];
      const routing = change.routing === true;
      if (listed !== undefined) jobEffects(before?.jobs[String(update.job.id)], listed, after, routing, effects, count);
      else if (change.unlisted !== undefined) {
        const previous = change.unlisted.before === undefined ? undefined : { status: change.unlisted.before };
        jobEffects(previous, update.job, after, routing, effects, count);
      }
    }
    if (after.status === "completed" && before?.status !== "completed") {
      const runner = after.runners_used[0] ?? after.decision?.runner ?? UNKNOWN_RUNNER;
      count("builds", { runner, conclusion: bounded(after.conclusion ?? "neutral", CONCLUSION_LABELS) });
      effects.alerts.push({ kind: "completed", build: after });
      effects.learnBuild = buildObservation(after);
    }
  }
  return effects;
}

/**
 * What one job's event implies: `previous` is its state before the event, `job` after it.
 * Whether a job ran where the router said (accuracy, `fell_back`) is judged when it finishes:
 * by then the router knows whether it was its own route job, which asks for its route only once
 * it has started. A routing job counts as a job and is billed as routing overhead; it is never
 * judged, alerted, watched or part of an A/B arm.
 */
function jobEffects(
  previous: Pick<JobState, "status"> | undefined,
  job: JobState,
  after: BuildRecord,
  routing: boolean,
  effects: Effects,
  count: (metric: MetricKey, labels?: Record<string, string>, by?: number) => void,
): void {
  const jobId = job.id;
  const runner = job.runner ?? UNKNOWN_RUNNER;
  const transition = jobTransition(previous, job);
  /** The A/B arm the build was routed under; its jobs' outcomes are also counted per arm. */
  const arm = routing ? null : (after.decision?.arm ?? null);

  // A job is watched once it queues for a runner: a job waiting for an approval is not demand.
  if (!routing && job.status === "queued" && (previous === undefined || previous.status === "waiting")) {
    effects.watch = { jobId, buildId: after.build_id, queuedAt: job.queued_at };
  }
  if (transition.started) {
    effects.unwatch = jobId;
    if (transition.started.queueSeconds !== null) {
      effects.observations.push({
        metric: "queueSeconds",
        labels: { runner },
        seconds: transition.started.queueSeconds,
      });
      if (arm !== null) {
        effects.observations.push({
          metric: "abQueueSeconds",
          labels: { runner, arm },
          seconds: transition.started.queueSeconds,
        });
      }
    }
  }
  if (transition.completed) {
    // Watched while queued: a job that started was unwatched then.
    if (transition.started === null && previous?.status !== "in_progress") effects.unwatch = jobId;
    const conclusion = bounded(transition.completed.conclusion, CONCLUSION_LABELS);
    count("jobs", { runner, conclusion });
    if (routing) count("routingJobs", { runner, conclusion });
    else {
      count("accuracy", { suggested: after.decision?.runner ?? NO_SUGGESTION, used: runner });
      effects.alerts.push({ kind: "job_ran", build: after, job });
    }
    if (arm !== null) count("abJobs", { runner, arm, conclusion });
    if (transition.completed.runSeconds !== null && !routing) {
      effects.observations.push({ metric: "runSeconds", labels: { runner }, seconds: transition.completed.runSeconds });
      if (arm !== null) {
        effects.observations.push({
          metric: "abRunSeconds",
          labels: { runner, arm },
          seconds: transition.completed.runSeconds,
        });
      }
    }
    if (!routing) effects.learnJob = jobObservation(job, after);
    if (job.started_at !== null && job.completed_at !== null && job.runner !== null) {
      effects.costJob = {
        job_id: job.id,
        run_attempt: job.run_attempt,
        repository: after.repository,
        requirement: routing ? ROUTING_OVERHEAD : (after.decision?.requirement ?? null),
        runner: job.runner,
        suggested: after.decision?.runner ?? null,
        started_at: job.started_at,
        completed_at: job.completed_at,
        arm,
      };
      count("billableSeconds", { runner: job.runner }, 60 * jobMinutes(effects.costJob));
    }
  }
}

/**
 * A finished job for the learner: only for a build the learner routed (its decision carries the
 * `learned` note, whose requirement the job is learned under), a job that ran to its end on a
 * known class, with its name, queue and run times known. Never the router's own route job (the
 * caller leaves it out).
 */
function jobObservation(job: JobState, build: BuildRecord): JobObservation | null {
  const key = learnKeyOf(build, job);
  if (key === null || job.runner === null) return null;
  if (!LEARNED_CONCLUSIONS.includes(job.conclusion ?? "")) return null;
  // The job's whole history as one event: its queue time as the metrics read it.
  const { started, completed } = jobTransition(undefined, job);
  const queueSeconds = started?.queueSeconds ?? null;
  const runSeconds = completed?.runSeconds ?? null;
  if (queueSeconds === null || runSeconds === null) return null;
  return {
    key,
    runnerClass: job.runner,
    sample: { minutes: runSeconds / 60, queueSeconds, failed: job.conclusion !== "success" },
  };
}

/**
 * The key a job of `build` is learned under: for a build the learner decided (its `learned`
 * note names the requirement), a job with a name; else null.
 */
export function learnKeyOf(build: BuildRecord, job: JobState): LearnKey | null {
  const requirement = build.decision?.learned?.requirement;
  if (requirement === undefined || job.name === null) return null;
  return { repository: build.repository, workflow: workflowOf(build, job), job: job.name, requirement };
}

/** A finished build for the learner's roster: a build the learner routed that ran to its end, with the jobs that did. */
function buildObservation(build: BuildRecord): BuildObservation | null {
  const requirement = build.decision?.learned?.requirement;
  if (requirement === undefined || !LEARNED_CONCLUSIONS.includes(build.conclusion ?? "")) return null;
  const jobs = Object.values(build.jobs).flatMap((job) =>
    job.name !== null && LEARNED_CONCLUSIONS.includes(job.conclusion ?? "")
      ? [{ id: job.id, workflow: workflowOf(build, job), job: job.name }]
      : [],
  );
  return { scope: { repository: build.repository, requirement }, jobs };
}

import type { JobState } from "./builds.ts";

/**
 * The fleet's live state, as rows: one per job the fleet follows and one per machine it knows,
 * each changed by key, so a delivery costs the same however many runner names were ever seen.
 * This module is the pure part: what a `workflow_job` event does to a job's row, when a row is
 * too old to trust, and when to ask GitHub about it. Times are epoch milliseconds passed in.
 *
 * A job is `waiting` (for an environment's protection rules: not demand for a runner), `queued`
 * (for a runner), `busy` (on a machine) or `done`; it only moves forward, so late and repeated
 * events change nothing. A machine is a row while it is configured or running a job: an
 * ephemeral runner (a new name for every job) is forgotten when its job ends.
 */

export const FLEET_JOB_STATES = ["waiting", "queued", "busy", "done"] as const;
export type FleetJobState = (typeof FLEET_JOB_STATES)[number];

export interface FleetJob {
  jobId: number;
  state: FleetJobState;
  repository: string;
  runId: number;
  runAttempt: number;
  /** The runner class its labels map to; null when none fits. */
  runnerClass: string | null;
  /** The machine (runner name) it runs on, while busy. */
  machine: string | null;
  /** Its `runs-on` labels, at most {@link MAX_STORED_LABELS}. */
  labels: string[];
  /** When it entered its state. */
  since: number;
  /** When to ask GitHub about it next (a lost event), or null. */
  checkAt: number | null;
  /** How many times GitHub was asked while it stayed in this state. */
  checks: number;
  /**
   * Its expected run on its class in seconds, from the learned history when it entered the
   * fleet or changed class (null: not a learned build's job, or nothing known): the learned
   * router's backlog.
   */
  expectedSeconds: number | null;
}

/** One self-hosted runner the fleet knows: configured, or running a job. */
export interface FleetMachine {
  name: string;
  runnerClass: string | null;
  lastSeen: number | null;
  offlineSince: number | null;
}

export const MAX_STORED_LABELS = 32;

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * How long a job may stay in a state before the fleet lets it go (and counts it): GitHub
 * cancels a job queued 24 hours without a runner and stops a self-hosted job after 5 days; an
 * environment's wait timer runs at most 30 days. An hour is added for late events.
 */
export const MAX_AGE_MS: Record<Exclude<FleetJobState, "done">, number> = {
  waiting: 30 * DAY_MS + HOUR_MS,
  queued: DAY_MS + HOUR_MS,
  busy: 5 * DAY_MS + HOUR_MS,
};

/** A finished job is remembered this long, so a late `queued` or `in_progress` never puts it back. */
export const DONE_RETENTION_MS = DAY_MS;

const RANK: Record<FleetJobState, number> = { waiting: 0, queued: 1, busy: 2, done: 3 };

/** The fleet state a `workflow_job` status puts a job in; null for a status the fleet ignores. */
function fleetStateOf(status: string): FleetJobState | null {
  switch (status) {
    case "waiting":
      return "waiting";
    case "queued":
    case "pending":
    case "requested":
      return "queued";
    case "in_progress":
      return "busy";
    case "completed":
      return "done";
    default:
      return null;
  }
}

/** A fleet state in a `workflow_job`'s words: the status that puts a job in it. */
export const JOB_STATUS_OF: Record<FleetJobState, string> = {
  waiting: "waiting",
  queued: "queued",
  busy: "in_progress",
  done: "completed",
};

const at = (iso: string | null, fallback: number): number => {
  const ms = iso === null ? Number.NaN : Date.parse(iso);
  return Number.isFinite(ms) ? Math.min(ms, fallback) : fallback;
};

/**
 * The job's row after an event, or null when the event changes nothing: a job only moves
 * forward (waiting → queued → busy → done), except that a busy job seen on another machine
 * moves there. A job that waited for approval enters the queue when it is `queued`, not when
 * it was created.
 */
export function stepJob(
  row: FleetJob | null,
  event: {
    job: JobState;
    repository: string;
    runAttempt: number;
    runnerClass: string | null;
    /** The job's expected run seconds on a class, asked when the job is new to the fleet or to the class. */
    estimate?: (runnerClass: string) => number | null;
  },
  now: number,
): FleetJob | null {
  const { job } = event;
  const state = fleetStateOf(job.status);
  if (state === null) return null;
  if (row !== null) {
    if (RANK[state] < RANK[row.state]) return null;
    if (state === row.state) {
      const moved = state === "busy" && job.runner_name !== null && job.runner_name !== row.machine;
      return moved ? { ...row, machine: job.runner_name } : null;
    }
  }
  const runnerClass = event.runnerClass ?? row?.runnerClass ?? null;
  let since = now;
  if (state === "queued" && row?.state !== "waiting") since = at(job.created_at, now);
  else if (state === "busy") since = at(job.started_at, now);
  return {
    jobId: job.id,
    state,
    repository: event.repository,
    runId: job.run_id,
    runAttempt: event.runAttempt,
    runnerClass,
    machine: state === "busy" ? job.runner_name : null,
    labels: job.labels.slice(0, MAX_STORED_LABELS),
    since,
    checkAt: null,
    checks: 0,
    // Kept while its class stays; estimated when the job is new to the fleet or to a class.
    expectedSeconds:
      row !== null && row.runnerClass === runnerClass
        ? row.expectedSeconds
        : state === "done" || runnerClass === null
          ? null
          : (event.estimate?.(runnerClass) ?? null),
  };
}

/** Whether a row is past its state's {@link MAX_AGE_MS} (or, when done, its retention). */
export function expired(row: Pick<FleetJob, "state" | "since">, now: number): boolean {
  const limit = row.state === "done" ? DONE_RETENTION_MS : MAX_AGE_MS[row.state];
  return now - row.since > limit;
}

/** Online when seen after its latest offline report, or never reported offline. */
export function isOnline(machine: Pick<FleetMachine, "lastSeen" | "offlineSince">): boolean {
  return machine.offlineSince === null || (machine.lastSeen !== null && machine.lastSeen > machine.offlineSince);
}

/** The longest wait between two checks of the same job. */
export const MAX_CHECK_INTERVAL_MS = 6 * HOUR_MS;
/** Checks wait at least this long after a job entered its state. */
const MIN_FIRST_CHECK_MS: Record<Exclude<FleetJobState, "done">, number> = {
  waiting: HOUR_MS,
  queued: 2 * 60 * 1000,
  busy: 5 * 60 * 1000,
};

/**
 * When to ask GitHub about a job that may have lost an event: once it has been in its state
 * longer than usual (`usualMs`: its class's 90th percentile queue or run time, or a default),
 * then at doubling intervals up to {@link MAX_CHECK_INTERVAL_MS}. Null for a finished job.
 */
export function nextCheck(
  row: Pick<FleetJob, "state" | "since" | "checks">,
  usualMs: number,
  now: number,
): number | null {
  if (row.state === "done") return null;
  const first = Math.max(usualMs, MIN_FIRST_CHECK_MS[row.state]);
  if (row.checks === 0) return Math.max(row.since + first, now);
  return now + Math.min(first * 2 ** row.checks, MAX_CHECK_INTERVAL_MS);
}

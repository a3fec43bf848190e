import { type JobState, runnerForLabels } from "./builds.ts";
import {
  DEFAULT_QUEUE_TARGET_SECONDS,
  type Decision,
  type Requirement,
  type RoutingPolicy,
  type Runner,
} from "./types.ts";

/**
 * Load-aware routing, pure: the fleet's live state as a reducer over `workflow_job` events and
 * runner sightings, the per-class load it implies, the load-aware choice of a runner (least-loaded
 * machine, fallback, A/B arm) and the stuck-queue rescue decision. Times are ISO 8601 strings
 * passed in (`now`); nothing reads a clock. The state is plain JSON, for a Durable Object.
 */

/** One self-hosted runner, as the fleet knows it. */
export interface FleetMachine {
  name: string;
  /** The pool class it serves; null when its jobs' labels fit no class. */
  runnerClass: string | null;
  /** Jobs it takes at once: 1 for a machine only seen through events (the policy's value wins in snapshots). */
  capacity: number;
  /** Ids of the jobs running on it, ascending. */
  busy: number[];
  /** The latest time it was seen: a job started or finished on it, or a sighting. */
  lastSeen: string | null;
  /** The latest time it was reported offline. */
  offlineSince: string | null;
  /** Seen since it was last reported offline (or never reported offline). */
  online: boolean;
}

/** A job waiting for a runner. */
export interface QueuedJob {
  jobId: number;
  runId: number;
  labels: string[];
  queuedAt: string;
  /** The class its labels map to; null when none fits. */
  runnerClass: string | null;
}

export interface FleetState {
  machines: Record<string, FleetMachine>;
  /** By job id. */
  queued: Record<string, QueuedJob>;
  /**
   * Jobs that left the queue (job id → when that was seen), so that a late or repeated event
   * never puts them back: completed jobs, and jobs started without a runner name. Pruned
   * {@link SETTLED_RETENTION_SECONDS} after they were noted.
   */
  settled: Record<string, { status: "in_progress" | "completed"; at: string }>;
}

/** How long a settled job is remembered: GitHub redelivers for far less than a day. */
export const SETTLED_RETENTION_SECONDS = 24 * 3600;

export function emptyFleet(): FleetState {
  return { machines: {}, queued: {}, settled: {} };
}

/** A fleet holding the policy's configured machines (online until reported otherwise), over `state` if given. */
export function fleetFromPolicy(policy: RoutingPolicy, state: FleetState = emptyFleet()): FleetState {
  const machines = { ...state.machines };
  for (const runner of Object.values(policy.runners)) {
    for (const [name, machine] of Object.entries(runner.machines ?? {})) {
      const known = machines[name];
      machines[name] = known
        ? { ...known, runnerClass: runner.id, capacity: machine.capacity }
        : newMachine(name, runner.id, machine.capacity);
    }
  }
  return { ...state, machines };
}

function newMachine(name: string, runnerClass: string | null, capacity: number): FleetMachine {
  return { name, runnerClass, capacity, busy: [], lastSeen: null, offlineSince: null, online: true };
}

const ms = (iso: string | null): number => (iso === null ? Number.NEGATIVE_INFINITY : Date.parse(iso));
const later = (a: string | null, b: string | null): string | null => (ms(b) > ms(a) ? b : a);

/** Online when seen after the latest offline report (a tie goes to the report). */
function withPresence(machine: FleetMachine): FleetMachine {
  const online = machine.offlineSince === null || ms(machine.lastSeen) > ms(machine.offlineSince);
  return online === machine.online ? machine : { ...machine, online };
}

const QUEUED = new Set(["queued", "waiting", "pending", "requested"]);

/**
 * Applies one `workflow_job` state to the fleet, observed at `now`. Exact and order-tolerant:
 * the same event twice changes nothing; a job never goes back to the queue once it started or
 * finished; a `completed` seen before its `in_progress` leaves the machine free. A job running
 * on a machine the fleet does not know adds that machine, with capacity 1, under the class its
 * labels map to (`runnerForLabels` over `policy` when given, else the job's own `runner`).
 */
export function applyJobEvent(state: FleetState, job: JobState, now: string, policy?: RoutingPolicy): FleetState {
  const key = String(job.id);
  const runnerClass = policy ? (runnerForLabels(policy, job.labels)?.id ?? job.runner) : job.runner;
  const settled = state.settled[key];
  let next = prune(state, now);

  if (QUEUED.has(job.status)) {
    if (settled !== undefined || runningOn(state, job.id) !== null || state.queued[key] !== undefined) return next;
    const queued: QueuedJob = {
      jobId: job.id,
      runId: job.run_id,
      labels: [...job.labels],
      queuedAt: job.created_at ?? now,
      runnerClass,
    };
    return { ...next, queued: { ...next.queued, [key]: queued } };
  }
  if (job.status !== "in_progress" && job.status !== "completed") return next;

  const { [key]: _left, ...queued } = next.queued;
  next = { ...next, queued };
  if (job.runner_name !== null) next = sighted(next, job.runner_name, runnerClass, now);

  if (job.status === "completed") {
    next = { ...next, machines: withoutJob(next.machines, job.id) };
    if (settled?.status !== "completed") {
      next = { ...next, settled: { ...next.settled, [key]: { status: "completed", at: now } } };
    }
    return next;
  }
  // in_progress: unless it already finished, it is busy on its machine and on no other.
  if (settled?.status === "completed") return next;
  if (job.runner_name === null) {
    if (settled === undefined)
      next = { ...next, settled: { ...next.settled, [key]: { status: "in_progress", at: now } } };
    return next;
  }
  const machines = withoutJob(next.machines, job.id);
  const machine = machines[job.runner_name];
  if (machine !== undefined) {
    machines[job.runner_name] = { ...machine, busy: [...machine.busy, job.id].sort((a, b) => a - b) };
  }
  return { ...next, machines };
}

function runningOn(state: FleetState, jobId: number): string | null {
  for (const machine of Object.values(state.machines)) if (machine.busy.includes(jobId)) return machine.name;
  return null;
}

function withoutJob(machines: Record<string, FleetMachine>, jobId: number): Record<string, FleetMachine> {
  const out: Record<string, FleetMachine> = {};
  for (const [name, machine] of Object.entries(machines)) {
    out[name] = machine.busy.includes(jobId)
      ? { ...machine, busy: machine.busy.filter((id) => id !== jobId) }
      : machine;
  }
  return out;
}

/** Records a sighting of `name` at `now`, adding the machine when it is new. */
function sighted(state: FleetState, name: string, runnerClass: string | null, now: string): FleetState {
  const known = state.machines[name] ?? newMachine(name, runnerClass, 1);
  const machine = withPresence({
    ...known,
    runnerClass: known.runnerClass ?? runnerClass,
    lastSeen: later(known.lastSeen, now),
  });
  return { ...state, machines: { ...state.machines, [name]: machine } };
}

/** Drops settled jobs noted more than {@link SETTLED_RETENTION_SECONDS} before `now`. */
function prune(state: FleetState, now: string): FleetState {
  const horizon = ms(now) - SETTLED_RETENTION_SECONDS * 1000;
  const entries = Object.entries(state.settled);
  const kept = entries.filter(([, s]) => ms(s.at) >= horizon);
  return kept.length === entries.length ? state : { ...state, settled: Object.fromEntries(kept) };
}

/** Machines seen at `now` (e.g. by the runners API): online unless a later offline report exists. Unknown names are ignored. */
export function markSeen(state: FleetState, names: readonly string[], now: string): FleetState {
  let next = state;
  for (const name of names) {
    const known = next.machines[name];
    if (known === undefined) continue;
    next = {
      ...next,
      machines: { ...next.machines, [name]: withPresence({ ...known, lastSeen: later(known.lastSeen, now) }) },
    };
  }
  return next;
}

/** Machines reported offline at `now`: offline until seen after it. A report older than the last sighting changes nothing. */
export function markOffline(state: FleetState, names: readonly string[], now: string): FleetState {
  let next = state;
  for (const name of names) {
    const known = next.machines[name];
    if (known === undefined) continue;
    const machine = withPresence({ ...known, offlineSince: later(known.offlineSince, now) });
    next = { ...next, machines: { ...next.machines, [name]: machine } };
  }
  return next;
}

/** One machine's load. */
export interface MachineLoad {
  name: string;
  capacity: number;
  busy: number;
  free: number;
  online: boolean;
  lastSeen: string | null;
  /** Every label it answers to: its class's `runsOn`, its own name, its configured extras. */
  labels: string[];
}

/** One runner class's load. With machines, the totals count online machines only. */
export interface ClassLoad {
  capacity: number;
  busy: number;
  free: number;
  /** Jobs queued for the class. */
  queued: number;
  /** True when the class's machines (configured or seen) decide its capacity. */
  hasMachines: boolean;
  /** No free slot (never for github-hosted). */
  saturated: boolean;
  /** Has machines and none of them is online. */
  offline: boolean;
  /** By name. */
  machines: MachineLoad[];
}

export type FleetSnapshot = Record<string, ClassLoad>;

/**
 * Per class of `policy`: capacity, busy, free and queued. A class with configured machines
 * counts its machines (configured ones with the policy's capacity, others seen running its jobs
 * with 1); a class without configured machines is one pool of `capacity` slots against the jobs
 * running on it. A github-hosted class never saturates.
 */
export function fleetSnapshot(state: FleetState, policy: RoutingPolicy): FleetSnapshot {
  const snapshot: FleetSnapshot = {};
  for (const runner of Object.values(policy.runners)) {
    const configured = runner.machines ?? {};
    const names = new Set(Object.keys(configured));
    for (const machine of Object.values(state.machines)) {
      if (machine.runnerClass === runner.id && !ownedElsewhere(policy, runner.id, machine.name))
        names.add(machine.name);
    }
    const machines = [...names].sort().map((name): MachineLoad => {
      const known = state.machines[name];
      const capacity = configured[name]?.capacity ?? known?.capacity ?? 1;
      const busy = known?.busy.length ?? 0;
      const labels = [...runner.runsOn, name, ...(configured[name]?.labels ?? [])];
      return {
        name,
        capacity,
        busy,
        free: Math.max(0, capacity - busy),
        online: known?.online ?? true,
        lastSeen: known?.lastSeen ?? null,
        labels: [...new Set(labels)],
      };
    });
    const queued = Object.values(state.queued).filter((j) => j.runnerClass === runner.id).length;
    const hasMachines = Object.keys(configured).length > 0;
    const online = machines.filter((m) => m.online);
    const capacity = hasMachines ? sum(online.map((m) => m.capacity)) : runner.capacity;
    const busy = sum((hasMachines ? online : machines).map((m) => m.busy));
    const free = hasMachines ? sum(online.map((m) => m.free)) : Math.max(0, capacity - busy);
    snapshot[runner.id] = {
      capacity,
      busy,
      free,
      queued,
      hasMachines,
      saturated: runner.kind !== "github-hosted" && free === 0,
      offline: hasMachines && online.length === 0,
      machines,
    };
  }
  return snapshot;
}

/** A machine configured under another class belongs there, whatever its jobs' labels said. */
function ownedElsewhere(policy: RoutingPolicy, runnerClass: string, name: string): boolean {
  return Object.values(policy.runners).some((r) => r.id !== runnerClass && r.machines?.[name] !== undefined);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * FNV-1a, 32-bit, over the UTF-8 bytes of `text` (offset basis 0x811c9dc5, prime 0x01000193).
 * The A/B arm of a commit is `fnv1a32(`${repository}@${sha}`) / 2^32 < share`, with the
 * repository and sha lower-cased, so the same commit always lands on the same arm.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const byte = (b: number) => {
    hash = Math.imul(hash ^ b, 0x01000193) >>> 0;
  };
  for (const char of text) {
    const c = char.codePointAt(0) ?? 0;
    if (c < 0x80) byte(c);
    else if (c < 0x800) {
      byte(0xc0 | (c >> 6));
      byte(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 0x3f));
      byte(0x80 | (c & 0x3f));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 0x3f));
      byte(0x80 | ((c >> 6) & 0x3f));
      byte(0x80 | (c & 0x3f));
    }
  }
  return hash;
}

/** Where a commit falls in [0, 1) for A/B splits. */
export function abBucket(repository: string, sha: string): number {
  return fnv1a32(`${repository.toLowerCase()}@${sha.toLowerCase()}`) / 2 ** 32;
}

export interface ChooseOptions {
  repository: string;
  sha: string | null;
  /** Labels the job needs besides its class's `runsOn` (e.g. `arm64`): only machines that have them all qualify. */
  labels?: readonly string[];
}

/**
 * The decision with load taken into account:
 * 1. A/B: when `policy.ab` splits the decided class, the commit's bucket picks the arm.
 * 2. Within the class, the least-loaded online machine with a free slot that has every label
 *    (lowest busy/capacity, then name): `runs_on` becomes the class's labels plus its name.
 * 3. A saturated or all-offline class falls back along `fallback` when the requirement is in
 *    `failover.requirements` (never to a github-hosted class in self-hosted-only mode);
 *    otherwise, or when the chain runs out, the job waits on its class.
 * Every step that changes or explains the choice appends a reason.
 */
export function chooseRunner(
  decision: Decision,
  policy: RoutingPolicy,
  fleet: FleetSnapshot,
  options: ChooseOptions,
): Decision {
  const reasons = [...decision.reasons];
  let primary = policy.runners[decision.runner];
  if (primary === undefined) return { ...decision, arm: null };
  let arm: Decision["arm"] = null;
  const test = policy.ab[primary.id];
  const candidate = test ? policy.runners[test.candidate] : undefined;
  if (test && candidate) {
    const from = primary.id;
    if (options.sha === null) {
      arm = "control";
      reasons.push(`A/B ${from} vs ${candidate.id}: no commit to hash → control`);
    } else if (policy.mode === "self-hosted-only" && candidate.kind === "github-hosted") {
      arm = "control";
      reasons.push(`A/B ${from} vs ${candidate.id}: self-hosted-only keeps the control`);
    } else {
      const bucket = abBucket(options.repository, options.sha);
      const shown = bucket.toFixed(4);
      if (bucket < test.share) {
        arm = "candidate";
        primary = candidate;
        reasons.push(
          `A/B ${from} vs ${candidate.id}: commit bucket ${shown} < share ${test.share} → candidate ${candidate.id}`,
        );
      } else {
        arm = "control";
        reasons.push(`A/B ${from} vs ${candidate.id}: commit bucket ${shown} ≥ share ${test.share} → control ${from}`);
      }
    }
  }

  const need = options.labels ?? [];
  const mayFallBack = policy.failover.requirements.includes(decision.requirement);
  const seen = new Set<string>();
  for (let runner: Runner | undefined = primary; runner !== undefined; ) {
    seen.add(runner.id);
    const load = fleet[runner.id];
    const pick = load ? pickMachine(runner, load, need) : null;
    if (load === undefined || runner.kind === "github-hosted" || (!load.hasMachines && !load.saturated) || pick) {
      const runs_on = pick ? [...runner.runsOn, pick.name] : [...runner.runsOn];
      if (pick) {
        reasons.push(`${pick.name} is the least-loaded ${runner.id} machine (${pick.busy}/${pick.capacity} busy)`);
      } else if (load !== undefined && runner.kind !== "github-hosted") {
        reasons.push(`${runner.id} has room (${load.busy}/${load.capacity} busy)`);
      }
      return { ...decision, runner: runner.id, runs_on, reasons, arm };
    }
    const why = unavailable(runner, load, need);
    const next: Runner | undefined = runner.fallback === null ? undefined : policy.runners[runner.fallback];
    if (!mayFallBack) {
      reasons.push(`${why}; ${decision.requirement} waits`);
      break;
    }
    if (next === undefined || seen.has(next.id)) {
      reasons.push(`${why}, no fallback left; ${decision.requirement} waits on ${primary.id}`);
      break;
    }
    if (policy.mode === "self-hosted-only" && next.kind === "github-hosted") {
      reasons.push(
        `${why}; self-hosted-only: no fallback to ${next.id}, ${decision.requirement} waits on ${primary.id}`,
      );
      break;
    }
    reasons.push(`${why} → ${next.id}`);
    runner = next;
  }
  return { ...decision, runner: primary.id, runs_on: [...primary.runsOn], reasons, arm };
}

/** The least-loaded online machine with a free slot and every needed label; null when none. */
function pickMachine(runner: Runner, load: ClassLoad, need: readonly string[]): MachineLoad | null {
  if (!load.hasMachines) return null;
  const fits = load.machines.filter(
    (m) => m.online && m.free > 0 && [...runner.runsOn, ...need].every((l) => m.labels.includes(l)),
  );
  // busy/capacity compared by cross-multiplying, exactly; ties by name (the list is sorted by name).
  fits.sort((a, b) => a.busy * b.capacity - b.busy * a.capacity);
  return fits[0] ?? null;
}

/** Why a class cannot take the job now, e.g. "vps saturated (2/2 busy)". */
function unavailable(runner: Runner, load: ClassLoad, need: readonly string[]): string {
  if (load.offline) {
    const n = load.machines.length;
    return `${runner.id} offline (${n === 1 ? "its machine is" : `all ${n} machines are`} offline)`;
  }
  if (load.saturated) return `${runner.id} saturated (${load.busy}/${load.capacity} busy)`;
  return `${runner.id} has no free machine with labels ${need.join(", ")}`;
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
  const target = runner.queueTargetSeconds ?? DEFAULT_QUEUE_TARGET_SECONDS;
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
  const seen = new Set([runner.id]);
  for (let id = runner.fallback; id !== null && !seen.has(id); ) {
    const next = policy.runners[id];
    if (next === undefined) return null;
    if (policy.mode === "self-hosted-only" && next.kind === "github-hosted") return null;
    const load = fleet[id];
    if (load === undefined || next.kind === "github-hosted" || (!load.saturated && !load.offline)) return id;
    seen.add(id);
    id = next.fallback;
  }
  return null;
}

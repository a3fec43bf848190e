import { type FleetMachine, isOnline } from "./fleet.ts";
import { histogramQuantile } from "./metrics.ts";
import { own } from "./names.ts";
import type { RoutingPolicy } from "./types.ts";

/**
 * What the fleet can take, per runner class of a policy, from the fleet's counts. Pure.
 */

/** The fleet's state as the load needs it: every stored machine, and active jobs counted. */
export interface FleetCounts {
  machines: readonly FleetMachine[];
  /** Busy jobs per machine. */
  busyByMachine: ReadonlyMap<string, number>;
  /** Busy jobs per runner class (with or without a machine). */
  busyByClass: ReadonlyMap<string, number>;
  /** Jobs queued for a runner, per runner class. */
  queuedByClass: ReadonlyMap<string, number>;
  /** Jobs waiting for an environment's protection rules, per runner class: not demand. */
  waitingByClass: ReadonlyMap<string, number>;
  /**
   * Queued and busy jobs per runner class, per lower-cased repository (`owner/name`): what fair
   * shares (core/fair-share.ts) weigh. Only repositories with active jobs appear.
   */
  activeByClass: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** The typical (median) run seconds of a class's jobs, where enough of them ran to say. */
  runSecondsByClass?: ReadonlyMap<string, number>;
  /** Per class, the expected run of each job running and queued there (see {@link AheadRuns}); read for the learned router only. */
  aheadByClass?: ReadonlyMap<string, AheadRuns>;
}

/** The most jobs per class and state an {@link AheadRuns} lists; the rest count at the class's typical run. */
export const MAX_AHEAD_LISTED = 64;

/**
 * The expected run seconds of the jobs ahead on a class, each estimated from the learned history
 * when the job entered the fleet (null: nothing was known of it): the running ones, and the
 * queued ones oldest first, at most {@link MAX_AHEAD_LISTED} of each.
 */
export interface AheadRuns {
  running: (number | null)[];
  queued: (number | null)[];
}

export const NO_COUNTS: FleetCounts = {
  machines: [],
  busyByMachine: new Map(),
  busyByClass: new Map(),
  queuedByClass: new Map(),
  waitingByClass: new Map(),
  activeByClass: new Map(),
};

/** Adds `n` active jobs of `repository` on `runnerClass` to a per-class, per-repository count (names lower-cased). */
export function addActive(
  counts: Map<string, Map<string, number>>,
  runnerClass: string,
  repository: string,
  n: number,
): void {
  const key = repository.toLowerCase();
  let byRepository = counts.get(runnerClass);
  if (byRepository === undefined) counts.set(runnerClass, (byRepository = new Map()));
  byRepository.set(key, (byRepository.get(key) ?? 0) + n);
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
  /** Jobs waiting for an approval or a wait timer before they queue for the class (not counted as demand). */
  waiting: number;
  /** True when the class's machines (configured or seen) decide its capacity. */
  hasMachines: boolean;
  /** No free slot (never for github-hosted). */
  saturated: boolean;
  /** Has machines and none of them is online. */
  offline: boolean;
  /** By name. */
  machines: MachineLoad[];
  /**
   * Queued and busy jobs per lower-cased repository (`owner/name`), for fair shares. Absent when
   * none, so that an idle class keeps its plain shape.
   */
  repositories?: Record<string, number>;
  /** The class's typical (median) job run time in seconds; absent while too few jobs ran to say. */
  runSeconds?: number;
  /**
   * Jobs that builds routed to the class in the last minutes are expected to run, not queued yet
   * (core/routed.ts); absent when none. Read by the learned router's expected queue only.
   */
  routed?: number;
  /** The expected runs of the jobs running and queued on the class (from `FleetCounts.aheadByClass`); read by the learned router's expected queue only. */
  ahead?: AheadRuns;
}

export type FleetSnapshot = Record<string, ClassLoad>;

/**
 * A class's typical run seconds from its run-time histogram (counts per `DURATION_BUCKETS`
 * bound): the median, as the bucket bound it falls under; undefined while too few jobs ran. The
 * Ledger reads it from `ci_router_job_run_seconds`, the simulator from the jobs it ran.
 */
export function typicalRunSeconds(histogram: readonly number[] | null): number | undefined {
  return (histogram === null ? null : histogramQuantile(histogram, 0.5)) ?? undefined;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Per class of `policy`: capacity, busy, free, queued, waiting, machines, and the active jobs
 * per repository and typical run time when known (for fair shares). A class with
 * configured machines counts them (with the policy's capacities) and any other machine running
 * its jobs (capacity 1); a class without is one pool of `capacity` slots against the jobs
 * running on it. A github-hosted class never saturates.
 */
export function fleetSnapshot(counts: FleetCounts, policy: RoutingPolicy): FleetSnapshot {
  const stored = new Map(counts.machines.map((m) => [m.name, m]));
  const snapshot: FleetSnapshot = {};
  for (const runner of Object.values(policy.runners)) {
    const configured = runner.machines ?? {};
    const names = new Set(Object.keys(configured));
    for (const machine of counts.machines) {
      if (machine.runnerClass === runner.id && !ownedElsewhere(policy, runner.id, machine.name))
        names.add(machine.name);
    }
    const machines = [...names].sort().map((name): MachineLoad => {
      const known = stored.get(name);
      const mine = own(configured, name);
      const capacity = mine?.capacity ?? 1;
      const busy = counts.busyByMachine.get(name) ?? 0;
      return {
        name,
        capacity,
        busy,
        free: Math.max(0, capacity - busy),
        online: known === undefined ? true : isOnline(known),
        lastSeen: iso(known?.lastSeen ?? null),
        labels: [...new Set([...runner.runsOn, name, ...(mine?.labels ?? [])])],
      };
    });
    const hasMachines = Object.keys(configured).length > 0;
    const online = machines.filter((m) => m.online);
    const capacity = hasMachines ? sum(online.map((m) => m.capacity)) : runner.capacity;
    const busy = hasMachines ? sum(online.map((m) => m.busy)) : (counts.busyByClass.get(runner.id) ?? 0);
    const free = hasMachines ? sum(online.map((m) => m.free)) : Math.max(0, capacity - busy);
    const load: ClassLoad = {
      capacity,
      busy,
      free,
      queued: counts.queuedByClass.get(runner.id) ?? 0,
      waiting: counts.waitingByClass.get(runner.id) ?? 0,
      hasMachines,
      saturated: runner.kind !== "github-hosted" && free === 0,
      offline: hasMachines && online.length === 0,
      machines,
    };
    const active = counts.activeByClass.get(runner.id);
    // A plain object (read with Object.hasOwn): the snapshot crosses the Durable Object's RPC,
    // which copies only plain objects; Object.fromEntries makes every name an own key.
    if (active !== undefined && active.size > 0) load.repositories = Object.fromEntries(active);
    const runSeconds = counts.runSecondsByClass?.get(runner.id);
    if (runSeconds !== undefined) load.runSeconds = runSeconds;
    const ahead = counts.aheadByClass?.get(runner.id);
    if (ahead !== undefined && (ahead.running.length > 0 || ahead.queued.length > 0)) load.ahead = ahead;
    snapshot[runner.id] = load;
  }
  return snapshot;
}

/** A machine configured under another class belongs there, whatever its jobs' labels said. */
function ownedElsewhere(policy: RoutingPolicy, runnerClass: string, name: string): boolean {
  return Object.values(policy.runners).some(
    (r) => r.id !== runnerClass && r.machines !== undefined && own(r.machines, name) !== undefined,
  );
}

/** The class a configured machine belongs to in any of `policies`, or null (the first policy wins). */
export function configuredClass(policies: readonly RoutingPolicy[], name: string): string | null {
  for (const policy of policies) {
    for (const runner of Object.values(policy.runners)) {
      if (runner.machines !== undefined && own(runner.machines, name) !== undefined) return runner.id;
    }
  }
  return null;
}

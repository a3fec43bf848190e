/**
 * Demand the fleet cannot see yet: builds routed in the last minutes whose jobs have not queued.
 *
 * A push is routed 30 to 120 seconds before GitHub queues its jobs, so for that while the fleet
 * shows none of them. Commits that arrive together (a merge train, a matrix pushed as several
 * branches) would each see the same free slots and all pick them. The learned router counts,
 * besides the jobs queued, the jobs routed builds are expected to run on each class.
 *
 * An entry is the build's expected jobs per class (its decision's `learned.expected_jobs`, each
 * job counted by the share of the repository's builds that run it). Each of the build's jobs
 * that queues takes one off its class (the fleet counts it from then on); the entry ends when
 * less than half a job is left on every class, when the build is superseded, or
 * `ROUTED_TTL_MS` after it was routed (a push that starts no workflow never queues a job). A job
 * on a class the build was not expected on (a route job on GitHub-hosted runners, say) takes
 * nothing. At most `ROUTED_LIMIT` entries, the oldest dropped first: memory and the cost of a
 * read are bounded whatever the traffic.
 *
 * State in memory only: it is a hint for a few minutes, and after a restart the learner decides
 * as it would without it. Pure: the caller passes the time.
 */

import type { FleetSnapshot } from "./load.ts";

/** How long a routed build counts as demand at most. */
export const ROUTED_TTL_MS = 10 * 60_000;
/** The most routed builds counted at once. */
export const ROUTED_LIMIT = 1024;

interface Entry {
  at: number;
  /** Jobs still expected per class. */
  jobs: Record<string, number>;
}

export class RoutedDemand {
  /** By build, in the order routed (a Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  private readonly limit: number;
  private readonly ttlMs: number;

  constructor(options: { limit?: number; ttlMs?: number } = {}) {
    this.limit = options.limit ?? ROUTED_LIMIT;
    this.ttlMs = options.ttlMs ?? ROUTED_TTL_MS;
  }

  /** A build routed at `at`, expected to run `jobs[class]` jobs on each class (entries ≤ 0 ignored). */
  routed(build: string, jobs: Readonly<Record<string, number>>, at: number): void {
    const kept: Record<string, number> = {};
    for (const [runner, n] of Object.entries(jobs)) if (Number.isFinite(n) && n > 0) kept[runner] = n;
    this.entries.delete(build);
    if (Object.keys(kept).length === 0) return;
    this.entries.set(build, { at, jobs: kept });
    while (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** A job of `build` queued on `runnerClass`: one job less expected there; the entry ends once under half a job is left anywhere. */
  queued(build: string, runnerClass: string | null): void {
    const entry = this.entries.get(build);
    if (entry === undefined || runnerClass === null || !Object.hasOwn(entry.jobs, runnerClass)) return;
    entry.jobs[runnerClass] = (entry.jobs[runnerClass] ?? 0) - 1;
    if (Object.values(entry.jobs).every((n) => n < 0.5)) this.entries.delete(build);
  }

  /** The build is gone or replaced: its demand ends. */
  forget(build: string): void {
    this.entries.delete(build);
  }

  /** Jobs still expected per class of the builds routed within the time to live of `now`; older entries dropped. */
  byClass(now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [build, entry] of this.entries) {
      if (entry.at + this.ttlMs <= now) {
        this.entries.delete(build);
        continue;
      }
      for (const [runner, n] of Object.entries(entry.jobs)) if (n > 0) out[runner] = (out[runner] ?? 0) + n;
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** `snapshot` with each class's `routed` jobs from `byClass` (classes it does not name keep none). */
export function withRouted(snapshot: FleetSnapshot, byClass: Readonly<Record<string, number>>): FleetSnapshot {
  const out: FleetSnapshot = {};
  for (const [runner, load] of Object.entries(snapshot)) {
    const routed = byClass[runner];
    out[runner] = routed === undefined || routed <= 0 ? load : { ...load, routed };
  }
  return out;
}

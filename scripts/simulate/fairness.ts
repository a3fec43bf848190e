/**
 * How evenly a policy's queue time falls on the trace's repositories: Jain's fairness index of
 * their mean queue times, and the p95 queue of the small repositories (every repository but the
 * large one: the scenario's, else the one with the most jobs), the ones its burst makes wait.
 */
import type { JobRun, SimResult } from "./engine.ts";
import { type PolicyFigures, percentile } from "./figures.ts";
import type { TraceCommit } from "./trace.ts";

export interface Fairness {
  /** Jain's index over the repositories' mean queue times, in (0, 1]: 1 when all are equal. */
  jain_index: number;
  /** Mean queue seconds per repository, of its jobs that ran. */
  mean_queue_s: Record<string, number>;
  /** The large repository, left out of the small ones: named by the scenario, else the one with the most jobs. */
  largest: string | null;
  /** p95 queue seconds of the other repositories' jobs. */
  small_queue_p95_s: number;
}

/**
 * Jain's fairness index, (Σx)² / (n·Σx²): 1 when every value is the same, 1/n when one value
 * holds everything. For no values, or all of them 0 (nobody waits), 1: equal treatment.
 */
export function jainIndex(values: readonly number[]): number {
  let sum = 0;
  let squares = 0;
  for (const x of values) {
    sum += x;
    squares += x * x;
  }
  if (values.length === 0 || squares === 0) return 1;
  return (sum * sum) / (values.length * squares);
}

const queueSeconds = (j: JobRun) => ((j.startedAt ?? j.queuedAt) - j.queuedAt) / 1000;
const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

/** The repository with the most jobs in the trace, ties by name; null for an empty trace. */
export function largestRepository(trace: readonly TraceCommit[]): string | null {
  const jobs = new Map<string, number>();
  for (const c of trace) jobs.set(c.repository, (jobs.get(c.repository) ?? 0) + c.jobs.length);
  let best: [string, number] | null = null;
  for (const [name, n] of [...jobs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (best === null || n > best[1]) best = [name, n];
  }
  return best?.[0] ?? null;
}

/**
 * A policy's fairness over the trace: per repository, the jobs that ran (placed and started);
 * `large` is the repository left out of the small ones (default: the one with the most jobs).
 */
export function fairnessOf(
  result: SimResult,
  trace: readonly TraceCommit[],
  large: string | null = largestRepository(trace),
): Fairness {
  const byRepository = new Map<string, number[]>();
  for (const j of result.jobs) {
    if (j.failedPlacement || j.startedAt === null) continue;
    const repository = trace[j.commit]?.repository ?? "";
    const list = byRepository.get(repository) ?? [];
    list.push(queueSeconds(j));
    byRepository.set(repository, list);
  }
  const names = [...byRepository.keys()].sort();
  const means = names.map((name) => {
    const q = byRepository.get(name) ?? [];
    return q.reduce((a, x) => a + x, 0) / q.length;
  });
  const small = names.filter((n) => n !== large).flatMap((n) => byRepository.get(n) ?? []);
  return {
    jain_index: round(jainIndex(means), 4),
    mean_queue_s: Object.fromEntries(names.map((n, i) => [n, round(means[i] ?? 0, 1)])),
    largest: large,
    small_queue_p95_s: percentile(small, 0.95),
  };
}

/** Fills in each policy's fairness from its run (`results` in the order of `figures`). */
export function addFairness(
  figures: PolicyFigures[],
  results: readonly SimResult[],
  trace: readonly TraceCommit[],
  large: string | null = largestRepository(trace),
): void {
  for (const [i, f] of figures.entries()) {
    const result = results[i];
    if (result !== undefined) f.fairness = fairnessOf(result, trace, large);
  }
}

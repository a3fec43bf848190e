/**
 * What a policy's run comes to: its cost by the cost ledger's own arithmetic (`costReport`, each
 * job rounded up to the minute as GitHub bills, fixed monthly prices prorated to the trace's span
 * from its first to its last commit), queue and time-to-green percentiles, SLO violations,
 * failed placements, and regret against the oracle.
 */
import {
  type BilledLine,
  costReport,
  jobMinutes,
  type Requirement,
  type RoutingConfig,
} from "../../worker/src/core/index.ts";
import type { JobRun, SimResult } from "./engine.ts";
import type { Fairness } from "./fairness.ts";
import { classSettings, type SimSettings } from "./settings.ts";
import type { TraceCommit } from "./trace.ts";

const DAY = 86_400_000;

export interface Regret {
  /** Cost minus the oracle's, USD. */
  cost_usd: number;
  /** Per-minute charges + idle + priced queue time, minus the oracle's, USD. */
  objective_usd: number;
  /** p95 time to green minus the oracle's, seconds. */
  ttg_p95_s: number;
  /** p95 queue time minus the oracle's, seconds. */
  queue_p95_s: number;
}

export interface PolicyFigures {
  policy: string;
  /** A router (held to zero failed placements), not a baseline. */
  router: boolean;
  builds: number;
  jobs: number;
  /** Everything paid over the trace's span: fixed (prorated) + per-minute + idle warm machines. */
  cost_usd: number;
  fixed_usd: number;
  per_minute_usd: number;
  idle_usd: number;
  /** The same billed minutes on GitHub-hosted runners (the cost report's baseline). */
  baseline_usd: number;
  cost_per_build_usd: number;
  billed_minutes: number;
  queue_p50_s: number;
  queue_p95_s: number;
  ttg_p50_s: number;
  ttg_p95_s: number;
  /** Jobs put on a class that cannot run them (never run). */
  failed_placements: number;
  /** Builds with a failed placement: never green, left out of time to green. */
  builds_never_done: number;
  failed_jobs: number;
  /** Class-days whose p95 queue exceeded the class's SLO, of `class_days` with jobs. */
  slo_violations: number;
  class_days: number;
  /** Queue minutes × the wait price. */
  wait_usd: number;
  /** per_minute_usd + idle_usd + wait_usd: what the learner and the oracle minimise. */
  objective_usd: number;
  cold_starts: number;
  warm_starts: number;
  /** Commits whose learned choice explored. */
  explored: number;
  warm: { warmed: number; used: number; wasted: number; idle_minutes: number };
  /** Jobs and billed minutes per class. */
  by_runner: Record<string, { jobs: number; minutes: number }>;
  regret: Regret | null;
  /** Cumulative objective minus the oracle's, at the end of each day of the trace, USD. */
  regret_by_day: number[];
  /** Cumulative objective at the end of each day (USD). */
  objective_by_day: number[];
  /** How evenly queue time fell on the repositories (filled in by `addFairness`). */
  fairness: Fairness | null;
}

/** Nearest-rank percentile; 0 for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

const iso = (ms: number) => new Date(ms).toISOString();
const cents = (x: number) => Math.round(x * 100) / 100;
const queueMs = (j: JobRun) => (j.startedAt ?? j.queuedAt) - j.queuedAt;

/** A policy's figures (regret is filled in by `addRegret`, once the oracle has run). */
export function figuresOf(
  result: SimResult,
  trace: readonly TraceCommit[],
  config: RoutingConfig,
  settings: SimSettings,
  requirements: readonly Requirement[],
): PolicyFigures {
  const runners = config.defaults.runners;
  const ran = result.jobs.filter((j) => !j.failedPlacement && j.startedAt !== null && j.doneAt !== null);
  const lines: BilledLine[] = ran.map((j) => {
    const commit = result.commits[j.commit];
    const requirement = commit?.decision?.requirement ?? requirements[j.commit] ?? null;
    const runner = runners[j.runner ?? ""];
    return {
      repository: trace[j.commit]?.repository ?? "",
      requirement,
      runner: j.runner ?? "",
      arm: commit?.decision?.arm ?? null,
      gpu: requirement === "gpu" || (runner?.runsOn.some((l) => l.toLowerCase() === "gpu") ?? false),
      jobs: 1,
      minutes: jobMinutes({ started_at: iso(j.startedAt ?? 0), completed_at: iso(j.doneAt ?? 0) }),
    };
  });
  const report = costReport(
    lines,
    runners,
    { start: iso(result.period.start), end: iso(result.period.end) },
    { baselineRunner: config.defaults.assign.lightweight },
  );

  const queues = ran.map((j) => queueMs(j) / 1000);
  const done = result.commits.filter((c) => c.doneAt !== null);
  const ttg = done.map((c) => ((c.doneAt ?? c.at) - c.at) / 1000);

  // SLO: per class and UTC day of queueing, the p95 queue against the class's target.
  const byClassDay = new Map<string, { runner: string; queues: number[] }>();
  for (const j of ran) {
    const key = `${j.runner}@${Math.floor(j.queuedAt / DAY)}`;
    const slot = byClassDay.get(key) ?? { runner: j.runner ?? "", queues: [] };
    slot.queues.push(queueMs(j) / 1000);
    byClassDay.set(key, slot);
  }
  let violations = 0;
  for (const { runner, queues: q } of byClassDay.values()) {
    const kind = runners[runner]?.kind ?? "self-hosted";
    if (percentile(q, 0.95) > classSettings(settings, runner, kind).sloQueueSeconds) violations++;
  }

  // The objective per commit, by the day it arrived.
  const days = Math.max(1, Math.ceil((result.period.end - result.period.start) / DAY) || 1);
  const perDay = new Array<number>(days).fill(0);
  let waitUsd = 0;
  for (const [i, j] of ran.entries()) {
    const runner = runners[j.runner ?? ""];
    const price = runner !== undefined && "perMinuteUsd" in runner.cost ? runner.cost.perMinuteUsd : 0;
    const wait = (settings.waitUsdPerMinute * queueMs(j)) / 60_000;
    waitUsd += wait;
    const day = Math.min(days - 1, Math.max(0, Math.floor((j.queuedAt - result.period.start) / DAY)));
    perDay[day] = (perDay[day] ?? 0) + price * (lines[i]?.minutes ?? 0) + wait;
  }
  const objectiveByDay: number[] = [];
  let sum = 0;
  for (const v of perDay) objectiveByDay.push((sum += v));

  const byRunner: Record<string, { jobs: number; minutes: number }> = {};
  for (const [i, j] of ran.entries()) {
    const line = (byRunner[j.runner ?? ""] ??= { jobs: 0, minutes: 0 });
    line.jobs++;
    line.minutes += lines[i]?.minutes ?? 0;
  }
  const coldStart = (j: JobRun) => {
    const kind = runners[j.runner ?? ""]?.kind ?? "self-hosted";
    return classSettings(settings, j.runner ?? "", kind).coldStartSeconds > 0;
  };
  const cost = report.totals.cost_usd + result.warm.idleUsd;
  const perMinute = report.totals.per_minute_usd;
  return {
    policy: result.policy,
    router: result.router,
    builds: result.commits.length,
    jobs: result.jobs.length,
    cost_usd: cents(cost),
    fixed_usd: report.totals.fixed_usd,
    per_minute_usd: perMinute,
    idle_usd: cents(result.warm.idleUsd),
    baseline_usd: report.baseline.cost_usd,
    cost_per_build_usd: Math.round((cost / Math.max(1, result.commits.length)) * 10_000) / 10_000,
    billed_minutes: report.totals.minutes,
    queue_p50_s: percentile(queues, 0.5),
    queue_p95_s: percentile(queues, 0.95),
    ttg_p50_s: percentile(ttg, 0.5),
    ttg_p95_s: percentile(ttg, 0.95),
    failed_placements: result.jobs.filter((j) => j.failedPlacement).length,
    builds_never_done: result.commits.filter((c) => c.failedPlacement).length,
    failed_jobs: ran.filter((j) => j.failed).length,
    slo_violations: violations,
    class_days: byClassDay.size,
    wait_usd: cents(waitUsd),
    objective_usd: cents(perMinute + result.warm.idleUsd + waitUsd),
    cold_starts: ran.filter((j) => !j.warm && coldStart(j)).length,
    warm_starts: ran.filter((j) => j.warm).length,
    explored: result.commits.filter((c) => c.explored).length,
    warm: {
      warmed: result.warm.warmed,
      used: result.warm.used,
      wasted: result.warm.wasted,
      idle_minutes: Math.round(Object.values(result.warm.idleMinutes).reduce((a, b) => a + b, 0)),
    },
    by_runner: byRunner,
    regret: null,
    regret_by_day: [],
    objective_by_day: objectiveByDay,
    fairness: null,
  };
}

/** Fills in every policy's regret against the oracle's figures. */
export function addRegret(all: PolicyFigures[]): void {
  const oracle = all.find((f) => f.policy === "oracle");
  if (oracle === undefined) return;
  for (const f of all) {
    f.regret = {
      cost_usd: cents(f.cost_usd - oracle.cost_usd),
      objective_usd: cents(f.objective_usd - oracle.objective_usd),
      ttg_p95_s: f.ttg_p95_s - oracle.ttg_p95_s,
      queue_p95_s: f.queue_p95_s - oracle.queue_p95_s,
    };
    f.regret_by_day = f.objective_by_day.map((v, i) => cents(v - (oracle.objective_by_day[i] ?? 0)));
  }
}

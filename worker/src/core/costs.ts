import { shown } from "./names.ts";
import { fail, ok, type Result } from "./result.ts";
import type { Requirement, Runner } from "./types.ts";

/**
 * The cost ledger's arithmetic: what the jobs of a period cost on the runners that ran them, and
 * what the same work would have cost on GitHub-hosted runners alone.
 * Pure: times come in as ISO 8601 strings, nothing reads a clock.
 */

/**
 * The `requirement` the router's own route jobs are billed under: overhead, apart from every
 * build's work, and left out of the baseline (without the router there would be no route job).
 */
export const ROUTING_OVERHEAD = "routing";

/** What a billed job did: a build's requirement, routing overhead, or unknown (null). */
export type BilledRequirement = Requirement | typeof ROUTING_OVERHEAD | null;

/** One finished job, as the ledger keeps it. */
export interface CostJob {
  job_id: number;
  run_attempt: number;
  repository: string;
  requirement: BilledRequirement;
  /** The runner class (pool id) that ran the job. */
  runner: string;
  /** The runner the routing decision named, when there was one. */
  suggested: string | null;
  started_at: string;
  completed_at: string;
  /** The experiment arm the job was routed under, if any. */
  arm?: string | null;
}

/**
 * Billed jobs summed by what a report groups them by: the unit the cost ledger keeps (per day
 * and per month) and reports read. A single job is a line of one job.
 */
export interface BilledLine {
  repository: string;
  requirement: BilledRequirement;
  runner: string;
  arm: string | null;
  /** GPU work: GitHub-hosted runners could not have run it, so it has no baseline price. */
  gpu: boolean;
  jobs: number;
  minutes: number;
  /**
   * The UTC day the jobs completed (`YYYY-MM-DD`), for a report's `by_day`; lines without one
   * (the month's totals behind the gauges) count in every figure but the days.
   */
  day?: string;
}

/** A finished job as a billed line, priced by `runners` (which tell whether it was GPU work). */
export function costLineOf(job: CostJob, runners: Record<string, Runner>): BilledLine {
  const completed = parseInstant(job.completed_at);
  return {
    repository: job.repository,
    requirement: job.requirement,
    runner: job.runner,
    arm: job.arm ?? null,
    gpu: isGpuWork(job.requirement, Object.hasOwn(runners, job.runner) ? runners[job.runner] : undefined),
    jobs: 1,
    minutes: jobMinutes(job),
    ...(completed === null ? {} : { day: utcDay(completed) }),
  };
}

/** The UTC day (`YYYY-MM-DD`) an instant falls on: the unit the cost ledger keeps. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** How a runner's cost line was priced; `unknown` is a runner the pool does not define. */
export type CostModelKind = "per_minute" | "monthly" | "unknown";

export interface CostLine {
  minutes: number;
  jobs: number;
  cost_usd: number;
}

export interface RunnerCostLine extends CostLine {
  model: CostModelKind;
}

export interface CostReport {
  period: { start: string; end: string; days: number };
  totals: {
    jobs: number;
    minutes: number;
    /** Everything paid for the period: per-minute charges plus every fixed cost, prorated. */
    cost_usd: number;
    per_minute_usd: number;
    fixed_usd: number;
    /** Fixed cost of runners that ran no billable minutes: paid, but owed to no repository. */
    unallocated_usd: number;
    /** Jobs on runners the pool does not define: counted, but priced at nothing. */
    unpriced: { jobs: number; minutes: number };
  };
  /** Every runner of the pool, used or not, plus any unknown runner a job names. */
  by_runner: Record<string, RunnerCostLine>;
  by_repository: Record<string, CostLine>;
  /** Keyed by requirement; jobs without one are under `unknown`, the router's route jobs under `routing`. */
  by_requirement: Record<string, CostLine>;
  /** The router's own route jobs: in the totals (they are paid for), never in the baseline. */
  routing_overhead: CostLine;
  /** Keyed by A/B arm (`control`, `candidate`); jobs routed under no A/B rollout are not listed. */
  by_arm: Record<string, CostLine>;
  /** The same billable minutes on GitHub-hosted runners. */
  baseline: {
    /** The GitHub-hosted runner whose rate prices the baseline; null when the pool has none. */
    runner: string | null;
    per_minute_usd: number | null;
    jobs: number;
    minutes: number;
    cost_usd: number;
    /** GPU jobs: GitHub-hosted runners cannot run them, so they have no baseline price. */
    not_possible: { jobs: number; minutes: number };
  };
  /** Baseline minus actual; `percent` of the baseline, null when the baseline is 0; null without a baseline. */
  savings: { usd: number | null; percent: number | null };
  /**
   * Every UTC day of the period (so far), keyed `YYYY-MM-DD`: its jobs and minutes, what it
   * cost (per-minute charges plus each fixed price's share of the day) and its baseline. The
   * days add up to `totals` and `baseline.cost_usd`, to the cent.
   */
  by_day: Record<string, DayLine>;
}

/** One day of a cost report. */
export interface DayLine {
  jobs: number;
  minutes: number;
  cost_usd: number;
  baseline_usd: number;
}

/** Days in the average month (a Julian year over 12): what a monthly price is prorated by. */
export const AVERAGE_MONTH_DAYS = 365.25 / 12;

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** ISO 8601 date-times with an explicit offset, the form GitHub and the ledger write. */
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/**
 * Milliseconds since the epoch, or null for anything but an ISO 8601 date-time with an offset
 * that names a real instant (`Date.parse` alone reads 2024-02-30 as March 1st).
 */
export function parseInstant(text: string): number | null {
  const m = INSTANT.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second = "0", offsetHours = "0", offsetMinutes = "0"] = m.slice(1);
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return null;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return null;
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Billable minutes of a job. GitHub bills each job's run time rounded UP to the whole minute
 * (a 61 s job bills 2 minutes, a 0 s job nothing), per job, not per workflow run. A job whose
 * times cannot be read, or that completed before it started, bills 0.
 */
export function jobMinutes(job: Pick<CostJob, "started_at" | "completed_at">): number {
  const start = parseInstant(job.started_at);
  const end = parseInstant(job.completed_at);
  if (start === null || end === null || end < start) return 0;
  return Math.ceil((end - start) / MINUTE_MS);
}

/** Rounds half away from zero at `digits` decimals, immune to binary artefacts like 1.005. */
function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  const scaled = Math.abs(value) * scale;
  const rounded = Math.round(scaled + scaled * Number.EPSILON * 4) / scale;
  const out = Math.sign(value) * rounded;
  return out === 0 ? 0 : out;
}

const cents = (usd: number) => round(usd, 2);

/**
 * Whether billed work is GPU work, which GitHub-hosted runners cannot run (so it has no baseline
 * price): its requirement is gpu, or the runner that ran it is labelled gpu.
 */
export function isGpuWork(requirement: BilledRequirement, runner: Runner | undefined): boolean {
  if (requirement === "gpu") return true;
  return runner?.runsOn.some((label) => label.toLowerCase() === "gpu") ?? false;
}

/**
 * The GitHub-hosted runner that prices the baseline: `preferred` when it is one, else the runner
 * with id `github-hosted`, else the first GitHub-hosted runner of the pool, among those priced
 * per minute.
 */
function baselineRunner(runners: Record<string, Runner>, preferred: string | undefined) {
  const priced = (r: Runner | undefined): r is Runner & { cost: { perMinuteUsd: number } } =>
    r !== undefined && r.kind === "github-hosted" && "perMinuteUsd" in r.cost;
  const candidates = [
    preferred === undefined ? undefined : runners[preferred],
    runners["github-hosted"],
    ...Object.values(runners),
  ];
  return candidates.find(priced) ?? null;
}

/** The per-minute rate that prices the baseline (see {@link baselineRunner}), or null when the pool has none. */
export function baselineRate(runners: Record<string, Runner>, preferred?: string): number | null {
  return baselineRunner(runners, preferred)?.cost.perMinuteUsd ?? null;
}

/**
 * What a billed line is charged by the minute: its minutes at its runner's per-minute price;
 * nothing on a fixed-monthly runner (its price is paid by the month, used or not) or on a runner
 * the pool does not define.
 */
export function perMinuteCharge(line: Pick<BilledLine, "runner" | "minutes">, runners: Record<string, Runner>): number {
  const runner = Object.hasOwn(runners, line.runner) ? runners[line.runner] : undefined;
  return runner !== undefined && "perMinuteUsd" in runner.cost ? line.minutes * runner.cost.perMinuteUsd : 0;
}

/**
 * How a billed line counts in the baseline: `priced` at the GitHub-hosted rate; `not_possible`
 * for GPU work (GitHub-hosted runners cannot run it); `routing` for the router's own route jobs
 * (without the router they would not run at all).
 */
export function baselineShare(line: Pick<BilledLine, "requirement" | "gpu">): "priced" | "not_possible" | "routing" {
  if (line.requirement === ROUTING_OVERHEAD) return "routing";
  return line.gpu ? "not_possible" : "priced";
}

interface Line {
  minutes: number;
  jobs: number;
  cost: number;
}

const emptyLine = (): Line => ({ minutes: 0, jobs: 0, cost: 0 });

function lineAt(lines: Map<string, Line>, key: string): Line {
  let line = lines.get(key);
  if (line === undefined) lines.set(key, (line = emptyLine()));
  return line;
}

const output = (line: Line): CostLine => ({ minutes: line.minutes, jobs: line.jobs, cost_usd: cents(line.cost) });

export interface CostReportOptions {
  /**
   * The runner id whose per-minute rate prices the baseline, e.g. the policy's
   * `assign.lightweight`; used when it is a GitHub-hosted runner priced per minute.
   */
  baselineRunner?: string;
}

/**
 * What the billed jobs of a period cost, by runner, repository and requirement, against the
 * counterfactual of running them all on GitHub-hosted runners. `lines` are the period's: the
 * cost ledger picks them (each job once, by when it completed).
 *
 * - Per-minute runners cost their billable minutes × rate.
 * - Fixed-monthly runners cost their monthly price × period days / {@link AVERAGE_MONTH_DAYS},
 *   used or not: a fixed cost is paid anyway. It is allocated to repositories and requirements
 *   in proportion to their minutes on that runner; a runner with no minutes leaves its cost in
 *   `totals.unallocated_usd`.
 * - The baseline prices the same billable minutes at the GitHub-hosted rate, except GPU work:
 *   GitHub-hosted runners cannot run it, so it is counted in `baseline.not_possible` and left
 *   out of its dollars, and the router's own route jobs ({@link ROUTING_OVERHEAD}): they cost
 *   what they cost, in the totals and in `routing_overhead`, and without the router they would
 *   not run at all.
 *
 * Money is computed in full precision and rounded to cents only in the report.
 * Throws a RangeError when the period's bounds are not ISO 8601 date-times or end before start.
 */
export function costReport(
  lines: readonly BilledLine[],
  runners: Record<string, Runner>,
  period: { start: string; end: string },
  options: CostReportOptions = {},
): CostReport {
  const start = parseInstant(period.start);
  const end = parseInstant(period.end);
  if (start === null || end === null) {
    throw new RangeError(`cost period needs ISO 8601 date-times, got ${JSON.stringify(period)}`);
  }
  if (end < start) throw new RangeError(`cost period ends (${period.end}) before it starts (${period.start})`);
  const days = (end - start) / DAY_MS;

  const byRunner = new Map<string, Line & { model: CostModelKind }>();
  for (const runner of Object.values(runners)) {
    byRunner.set(runner.id, { ...emptyLine(), model: "perMinuteUsd" in runner.cost ? "per_minute" : "monthly" });
  }
  const byRepository = new Map<string, Line>();
  const byRequirement = new Map<string, Line>();
  const byArm = new Map<string, Line>();
  const hosted = baselineRunner(runners, options.baselineRunner);
  const baseline = { jobs: 0, minutes: 0, cost: 0, impossibleJobs: 0, impossibleMinutes: 0 };
  const unpriced = { jobs: 0, minutes: 0 };
  let perMinuteUsd = 0;
  let totalJobs = 0;
  let totalMinutes = 0;

  // First pass: minutes everywhere, per-minute charges where they fall, the baseline.
  const rate = hosted?.cost.perMinuteUsd ?? null;
  const byDay = new Map<string, Line & { baseline: number }>();
  for (const billed of lines) {
    const { minutes, jobs } = billed;
    totalJobs += jobs;
    totalMinutes += minutes;
    let line = byRunner.get(billed.runner);
    if (line === undefined) byRunner.set(billed.runner, (line = { ...emptyLine(), model: "unknown" }));
    const repository = lineAt(byRepository, billed.repository);
    const requirement = lineAt(byRequirement, billed.requirement ?? "unknown");
    const arm = billed.arm ? lineAt(byArm, billed.arm) : null;
    const day = billed.day === undefined ? null : dayAt(byDay, billed.day);
    const grouped = [line, repository, requirement, arm, day].filter((l): l is Line => l !== null);
    const cost = perMinuteCharge(billed, runners);
    for (const l of grouped) {
      l.minutes += minutes;
      l.jobs += jobs;
      l.cost += cost;
    }
    perMinuteUsd += cost;
    if (!Object.hasOwn(runners, billed.runner)) {
      unpriced.jobs += jobs;
      unpriced.minutes += minutes;
    }
    const share = baselineShare(billed);
    if (share === "not_possible") {
      baseline.impossibleJobs += jobs;
      baseline.impossibleMinutes += minutes;
    } else if (share === "priced") {
      baseline.jobs += jobs;
      baseline.minutes += minutes;
      const usd = rate === null ? 0 : minutes * rate;
      baseline.cost += usd;
      if (day !== null) day.baseline += usd;
    }
  }

  // Second pass: each fixed cost, prorated, shared out by minutes on its runner.
  let fixedUsd = 0;
  let unallocatedUsd = 0;
  for (const runner of Object.values(runners)) {
    if (!("monthlyUsd" in runner.cost)) continue;
    const fixed = (runner.cost.monthlyUsd * days) / AVERAGE_MONTH_DAYS;
    const line = byRunner.get(runner.id);
    if (line === undefined) continue;
    line.cost = fixed;
    fixedUsd += fixed;
    const perDay = runner.cost.monthlyUsd / AVERAGE_MONTH_DAYS;
    for (const [key, share] of dayShares(start, end)) dayAt(byDay, key).cost += perDay * share;
    if (line.minutes === 0) {
      unallocatedUsd += fixed;
      continue;
    }
    for (const billed of lines) {
      if (billed.runner !== runner.id) continue;
      const share = (fixed * billed.minutes) / line.minutes;
      lineAt(byRepository, billed.repository).cost += share;
      lineAt(byRequirement, billed.requirement ?? "unknown").cost += share;
      if (billed.arm) lineAt(byArm, billed.arm).cost += share;
    }
  }

  const actual = perMinuteUsd + fixedUsd;
  const saved = baseline.cost - actual;
  return {
    period: { start: period.start, end: period.end, days },
    totals: {
      jobs: totalJobs,
      minutes: totalMinutes,
      cost_usd: cents(actual),
      per_minute_usd: cents(perMinuteUsd),
      fixed_usd: cents(fixedUsd),
      unallocated_usd: cents(unallocatedUsd),
      unpriced,
    },
    by_runner: Object.fromEntries(
      [...byRunner].map(([id, line]) => [id, { ...output(line), model: line.model } satisfies RunnerCostLine]),
    ),
    by_repository: Object.fromEntries([...byRepository].map(([key, line]) => [key, output(line)])),
    by_requirement: Object.fromEntries([...byRequirement].map(([key, line]) => [key, output(line)])),
    by_arm: Object.fromEntries([...byArm].map(([key, line]) => [key, output(line)])),
    routing_overhead: output(byRequirement.get(ROUTING_OVERHEAD) ?? emptyLine()),
    baseline: {
      runner: hosted?.id ?? null,
      per_minute_usd: hosted?.cost.perMinuteUsd ?? null,
      jobs: baseline.jobs,
      minutes: baseline.minutes,
      cost_usd: cents(baseline.cost),
      not_possible: { jobs: baseline.impossibleJobs, minutes: baseline.impossibleMinutes },
    },
    savings:
      hosted === null
        ? { usd: null, percent: null }
        : { usd: cents(saved), percent: baseline.cost === 0 ? null : round((saved / baseline.cost) * 100, 1) },
    by_day: dayLines(byDay, start, end, actual, baseline.cost),
  };
}

function dayAt(days: Map<string, Line & { baseline: number }>, key: string): Line & { baseline: number } {
  let day = days.get(key);
  if (day === undefined) days.set(key, (day = { ...emptyLine(), baseline: 0 }));
  return day;
}

/** Each UTC day [start, end) touches, with the share of a whole day of it inside (1 for a whole day). */
function dayShares(start: number, end: number): [string, number][] {
  const shares: [string, number][] = [];
  for (let day = Math.floor(start / DAY_MS) * DAY_MS; day < end; day += DAY_MS) {
    shares.push([utcDay(day), (Math.min(end, day + DAY_MS) - Math.max(start, day)) / DAY_MS]);
  }
  return shares;
}

/**
 * The report's days, every one of the period's and any other a line named, oldest first; their
 * dollars rounded so that they add up to the rounded totals ({@link splitCents}).
 */
function dayLines(
  byDay: Map<string, Line & { baseline: number }>,
  start: number,
  end: number,
  actual: number,
  baseline: number,
): Record<string, DayLine> {
  for (const [key] of dayShares(start, end)) dayAt(byDay, key);
  const days = [...byDay].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const costs = splitCents(
    days.map(([, d]) => d.cost),
    cents(actual),
  );
  const baselines = splitCents(
    days.map(([, d]) => d.baseline),
    cents(baseline),
  );
  return Object.fromEntries(
    days.map(([key, d], i) => [
      key,
      { jobs: d.jobs, minutes: d.minutes, cost_usd: costs[i] ?? 0, baseline_usd: baselines[i] ?? 0 },
    ]),
  );
}

/**
 * Dollar amounts rounded to cents so that they add up to `total` (itself in cents): each is
 * rounded down, and the cents left over go to those with the largest remainders. Should the
 * parts not add up to about the total (they always do in a report), each is rounded alone.
 */
export function splitCents(parts: readonly number[], total: number): number[] {
  const scaled = parts.map((usd) => usd * 100);
  const floors = scaled.map((x) => Math.floor(round(x, 6)));
  let left = Math.round(total * 100) - floors.reduce((a, b) => a + b, 0);
  if (left < 0 || left > parts.length) return parts.map(cents);
  const order = scaled.map((x, i) => [x - (floors[i] ?? 0), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left === 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    left--;
  }
  return floors.map((c) => c / 100);
}

/** Longest rolling period `Nd` accepts. */
export const MAX_PERIOD_DAYS = 400;

/** A report period: [start, end) as ISO instants, and how to name it. */
export interface Period {
  start: string;
  end: string;
  label: string;
}

const PERIOD_HELP =
  'use "YYYY-MM" for a calendar month (UTC), "Nd" for the last N days (1 to 400), or nothing for this month to date';

const pad2 = (n: number) => String(n).padStart(2, "0");

/** The first instant of a UTC month; `month` (0-based) may run past 11 into the next year. */
export function monthStart(year: number, month: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month, 1);
  return date;
}

/**
 * Reads a report period:
 * - `YYYY-MM`: that calendar month, UTC, [first instant, first instant of the next month), from
 *   1970 to the current month (a month that has not started has nothing to report);
 * - `Nd`, 1 ≤ N ≤ 400: the last N days, whole UTC days: today (to `now`) and the N - 1 before it;
 * - null or blank: the current UTC calendar month, to `now`.
 */
export function parsePeriod(text: string | null, now: Date): Result<Period> {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) return fail("invalid_request", "the current time is not a valid date");
  const value = (text ?? "").trim();
  if (value === "") {
    const start = monthStart(now.getUTCFullYear(), now.getUTCMonth());
    const label = `${start.getUTCFullYear()}-${pad2(start.getUTCMonth() + 1)} to date`;
    return ok({ start: start.toISOString(), end: now.toISOString(), label });
  }
  const month = /^(\d{4})-(\d{2})$/.exec(value);
  if (month) {
    const year = Number(month[1]);
    const m = Number(month[2]);
    if (m < 1 || m > 12) return fail("invalid_request", `period ${shown(value)}: the month must be 01 to 12`);
    if (year < 1970) return fail("invalid_request", `period ${shown(value)}: the year must be 1970 or later`);
    const start = monthStart(year, m - 1);
    if (start.getTime() > nowMs) return fail("invalid_request", `period ${shown(value)} has not started yet`);
    const end = monthStart(year, m);
    return ok({ start: start.toISOString(), end: end.toISOString(), label: value });
  }
  const rolling = /^(\d+)d$/i.exec(value);
  if (rolling) {
    const n = Number(rolling[1]);
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PERIOD_DAYS) {
      return fail("invalid_request", `period ${shown(value)}: the number of days must be 1 to ${MAX_PERIOD_DAYS}`);
    }
    // Today and the n - 1 days before it, whole UTC days: the cost ledger keeps days.
    const start = new Date(0);
    start.setUTCFullYear(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (n - 1));
    return ok({ start: start.toISOString(), end: now.toISOString(), label: `last ${n} day${n === 1 ? "" : "s"}` });
  }
  return fail("invalid_request", `period ${shown(value)} is not understood: ${PERIOD_HELP}`);
}

/** What a decision's runner costs against GitHub-hosted, as a route answer states it. */
export interface Pricing {
  /** The runner's price per minute, when it is priced per minute. */
  runner_per_minute_usd: number | null;
  /** The runner's flat monthly price, when it has one (paid whether it runs or not). */
  runner_monthly_usd: number | null;
  /** What the baseline's GitHub-hosted runner costs per minute; null when the pool has none. */
  github_hosted_per_minute_usd: number | null;
}

/** The prices behind a decision for `runner`, read from the pool the decision was made with. */
export function pricingOf(runners: Record<string, Runner>, runner: string): Pricing {
  const chosen = Object.hasOwn(runners, runner) ? runners[runner] : undefined;
  const cost = chosen?.cost;
  return {
    runner_per_minute_usd: cost !== undefined && "perMinuteUsd" in cost ? cost.perMinuteUsd : null,
    runner_monthly_usd: cost !== undefined && "monthlyUsd" in cost ? cost.monthlyUsd : null,
    github_hosted_per_minute_usd: baselineRunner(runners, undefined)?.cost.perMinuteUsd ?? null,
  };
}

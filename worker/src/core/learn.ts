import { fallbackChain } from "./chain.ts";
import { chooseRunner, fnv1a32 } from "./choose.ts";
import { decide } from "./decide.ts";
import {
  classKey,
  type Estimate,
  estimateJob,
  expectedBilled,
  type JobEstimate,
  LEVELS,
  type LearnedStats,
  type LearnKey,
  type Level,
  orgRosterKey,
  queueQuantile,
  rosterKey,
} from "./learn-stats.ts";
import type { ClassLoad, FleetSnapshot } from "./load.ts";
import { gaussian, mulberry32 } from "./random.ts";
import { treeRoute } from "./tree-route.ts";
import {
  DEFAULT_QUEUE_TARGET_SECONDS,
  type Decision,
  type JobPlacement,
  type Requirement,
  type RoutingInput,
  type RoutingPolicy,
  type Runner,
} from "./types.ts";

/**
 * The learned router's choice: a class for each commit, and one for each job it knows by name,
 * by expected cost and expected wait within what the decision tree allows, from what
 * core/learn-stats.ts has learned of each job on each runner class. Pure: no platform types, no
 * clock; the statistics and the fleet's load come in as arguments, and every random draw comes
 * from the commit's hash.
 *
 * API (the Worker calls the same functions, with the statistics kept in its Durable Object):
 *
 * - `feasibleClasses(tree, policy)`: the classes the decision tree allows for a commit.
 * - `learnedChoice(input, policy, snapshot, stats, options?)` → `LearnedChoice`:
 *   `{ decision, probability, explored, greedy, requirement, learned, predicted, placements,
 *   expected }`. The `decision` is the same `Decision` type `route()` returns, with its
 *   `placements` when the learner places jobs apart; the probability of the choice travels
 *   beside it.
 *
 * The choice: within the classes the tree allows (GPU work only on GPU classes, deploy only on
 * the deploy class, the mode's restrictions; cloudflare-only is the tree's decision), the class
 * with the least expected per-minute charge (price × expected billed minutes, each job rounded
 * up; a monthly-priced class costs 0 at the margin, its limited capacity shows as queue) plus
 * expected queue minutes × `waitUsdPerMinute`, among the classes within their queue target
 * (and p90 target, when given). Exploration: for the commits whose hash bucket
 * (`fnv1a32("explore:" + repository@sha) / 2^32`) is under `exploreShare`, a Thompson draw over
 * the duration estimates (seeded by `fnv1a32(repository@sha)`) picks instead; `probability` is
 * `(1 − share) × [greedy] + share × (the draw's share of 32 draws)`.
 *
 * Granularity: one decision per commit, at push or pull-request time, where `route()` decides,
 * before any job exists. The learner predicts the build from the repository's roster for the
 * commit's requirement (each job with how often builds run it, its duration estimated per
 * class); `options.jobs` names the jobs instead when the caller knows them. The build's class
 * (`runs_on`) is chosen for the build as a whole; then each job it knows by name is placed on
 * its own best class (`placements`), one after another, each counted in its class's queue
 * before the next is placed, so that a build's jobs spread over classes instead of queueing
 * behind each other. A job nobody named yet runs on the build's class. An explored commit
 * places nothing apart: the whole build tries the drawn class.
 */

// ---------------------------------------------------------------------------------------------
// Feasibility

const hasGpu = (runner: Runner) => runner.runsOn.some((label) => label.toLowerCase() === "gpu");
const GENERAL: readonly Requirement[] = ["docker", "default", "lightweight"];

/**
 * The classes the decision tree allows a commit on, the tree's own class first:
 * - `cloudflare-only`, and a requirement not in `failover.requirements` (by default gpu and
 *   deploy): the tree's class alone (GPU work only where a GPU is, deploy only on the deploy class);
 * - gpu that may move: the tree's class and the GPU-labelled classes on its fallback chain;
 * - deploy that may move: the tree's class and its fallback chain;
 * - docker, default, lightweight: the classes assigned to any of the three and their fallback
 *   chains, less GPU-labelled classes and the deploy class (unless assigned to one of the three);
 * - `self-hosted-only`: never a github-hosted class.
 */
export function feasibleClasses(tree: Pick<Decision, "requirement" | "runner">, policy: RoutingPolicy): string[] {
  const own = policy.runners[tree.runner];
  if (own === undefined || policy.mode === "cloudflare-only") return [tree.runner];
  if (!policy.failover.requirements.includes(tree.requirement)) return [tree.runner];
  const chainOf = (runner: Runner) => [runner, ...fallbackChain(policy, runner).chain];
  let runners: Runner[];
  if (tree.requirement === "gpu") runners = chainOf(own).filter((r) => r.id === own.id || hasGpu(r));
  else if (tree.requirement === "deploy") runners = chainOf(own);
  else {
    const assigned = new Set(GENERAL.map((r) => policy.assign[r]));
    const starts = [own, ...GENERAL.map((r) => policy.runners[policy.assign[r]])];
    runners = starts
      .flatMap((r) => (r === undefined ? [] : chainOf(r)))
      .filter((r) => assigned.has(r.id) || (!hasGpu(r) && r.id !== policy.assign.deploy));
  }
  const ids = [...new Set(runners.map((r) => r.id))];
  const allowed = ids.filter(
    (id) => policy.mode !== "self-hosted-only" || policy.runners[id]?.kind !== "github-hosted",
  );
  return allowed.includes(tree.runner) ? allowed : [tree.runner, ...allowed];
}

// ---------------------------------------------------------------------------------------------
// The choice

export interface LearnOptions {
  /** What a minute of a job's queue time is worth avoiding, USD (default 0.01). */
  waitUsdPerMinute?: number;
  /** A build predicted (p50 of its longest job) under this many minutes is lightweight (default 2). */
  lightweightMinutes?: number;
  /** Share of commits whose choice may explore, 0..1 (default 0.1; 0: never). */
  exploreShare?: number;
  /**
   * What each minute a job is expected to queue past its class's queue target costs, USD, on top
   * of the wait price (default 0.15): a class that would make the build wait past its target is
   * chosen only where it saves more than that.
   */
  overTargetUsdPerMinute?: number;
  /** Per class: the queue target `overTargetUsdPerMinute` prices the time past (default the runner's queueTargetSeconds, else 600). */
  queueTargetSeconds?: Readonly<Record<string, number>>;
  /** Per class: a class whose predicted p90 time to green exceeds this is left out. */
  p90TargetSeconds?: Readonly<Record<string, number>>;
  /** Runs a level needs before it is used (default 3). */
  minRuns?: number;
  /** The build's jobs when the caller knows them; else the repository's roster. */
  jobs?: readonly { workflow: string; job: string }[];
  /** Thompson draws behind the probability (default 32). */
  draws?: number;
}

/** What the learner predicts for the build on one class. */
export interface ClassPrediction {
  runner: string;
  /** Per-minute charges: price × expected billed minutes (0 on a monthly-priced class). */
  costUsd: number;
  /** Expected queue per job, seconds. */
  queueSeconds: number;
  /** Expected queue of the build's last job plus the p90 of its longest job, seconds. */
  p90Seconds: number;
  /** Expected run minutes, summed over the build's jobs (weighted by how often they run). */
  minutes: number;
  billedMinutes: number;
  /** Jobs the build is expected to run (rounded; at least 1). */
  jobs: number;
  /** p50 and p90 of the longest job, minutes. */
  p50Longest: number;
  p90Longest: number;
  /** Fewest runs behind any job's estimate (0: guessed from another class). */
  runs: number;
  /** The least specific level used for a job, or `guess`. */
  level: Level | "guess";
  /** costUsd + wait price × expected queue minutes of every job + the over-target price × their minutes past the queue target. */
  objective: number;
  /** The build's jobs are expected to queue longer than the class's queue target, on average. */
  overTarget: boolean;
  /** Meets its p90 target (a class that does not is chosen only when none does). */
  eligible: boolean;
}

export interface LearnedChoice {
  decision: Decision;
  /** How likely this policy was to pick `decision.runner` for this commit: 1 − share on the greedy class, plus share × its Thompson share. */
  probability: number;
  /** The Thompson draw overrode the greedy choice. */
  explored: boolean;
  /** The class the expected values alone pick. */
  greedy: string;
  /** The decision tree's requirement: the key to `observe` this commit's jobs under. */
  requirement: Requirement;
  /** False when nothing was known and the paths rule (with the load) decided. */
  learned: boolean;
  predicted: ClassPrediction[];
  /** Every job known by name, on the class placed (the decision carries them when one differs from its runner). */
  placements: JobPlacement[];
  /**
   * The jobs the build is expected to run on each class (by the share of builds that run each):
   * the placed jobs on their classes, the rest on the decision's; empty when the paths rule
   * decided. What `RoutedDemand` counts until the build's jobs queue.
   */
  expected: Record<string, number>;
}

/** The quantile of a class's queue times read as its pickup (see `learnedChoice`). */
const PICKUP_QUANTILE = 0.25;

/** The most jobs of one build placed apart (a roster holds at most 16). */
export const MAX_PLACEMENTS = 32;

interface BuildJob {
  key: LearnKey;
  presence: number;
}

interface JobView {
  job: BuildJob;
  estimate: JobEstimate;
}

/** The jobs a build is expected to run: the caller's, else the roster, else one typical job of the organisation's. */
function buildJobs(
  stats: LearnedStats,
  scope: { repository: string; requirement: Requirement },
  jobs: LearnOptions["jobs"],
): BuildJob[] {
  const keyOf = (workflow: string, job: string): LearnKey => ({ ...scope, workflow, job });
  if (jobs !== undefined && jobs.length > 0) return jobs.map((j) => ({ key: keyOf(j.workflow, j.job), presence: 1 }));
  const roster = stats.rosters.get(rosterKey(scope.repository, scope.requirement));
  if (roster !== undefined && roster.builds > 0 && roster.jobs.length > 0) {
    return roster.jobs
      .map((j) => ({ key: keyOf(j.workflow, j.job), presence: Math.min(1, j.seen / roster.builds) }))
      .filter((j) => j.presence >= 0.05);
  }
  const org = stats.rosters.get(orgRosterKey(scope.requirement));
  const perBuild = org !== undefined && org.builds > 0 ? org.jobCount / org.builds : 1;
  // No roster: a job nobody named, so the estimate backs off to the repository, then the organisation.
  return [{ key: keyOf("", ""), presence: Math.max(1, perBuild) }];
}

/** The draws of one commit, from its hash. */
const drawsFor = (seed: number): (() => number) => mulberry32(seed);

/**
 * When each of a class's slots is next free, in seconds from now, ascending: its queue as list
 * scheduling sees it. A running job holds its slot for half its expected run (what is left, on
 * average, of a run found at a random moment; its start is not read, so the estimate does not
 * hang on when its events arrived). Then each queued job, oldest first, and each job routed to
 * the class but not queued yet takes the slot free soonest for its expected run. A job with no
 * estimate counts at `fill`, the class's typical run. Null for a class without a queue
 * (GitHub-hosted, or no load known); a class whose machines are all offline is never free.
 */
function backlogOf(runner: Runner, load: ClassLoad | undefined, fill: number): number[] | null {
  if (runner.kind === "github-hosted" || load === undefined) return null;
  if (load.offline) return [Number.POSITIVE_INFINITY];
  const usable = Math.max(1, load.busy + load.free);
  const busy = Math.min(load.busy, usable);
  const running = load.ahead?.running ?? [];
  // The slots free soonest, at most MAX_SLOTS of them (see there): free ones, then running ones.
  const slots = new Array<number>(Math.min(usable - busy, MAX_SLOTS)).fill(0);
  for (let k = 0; k < Math.min(busy, running.length + MAX_SLOTS); k++) slots.push((running[k] ?? fill) / 2);
  slots.sort((a, b) => a - b).splice(MAX_SLOTS);
  const queued = load.ahead?.queued ?? [];
  const listed = Math.min(load.queued, queued.length);
  for (let k = 0; k < listed; k++) take(slots, queued[k] ?? fill);
  spread(slots, load.queued - listed + (load.routed ?? 0), fill, usable);
  return slots;
}

/**
 * The most slots of a class a backlog keeps, the ones free soonest, and the most jobs put on it
 * one at a time. Exact while fewer jobs than this are put on it, for a job always takes the slot
 * free soonest and every slot left out is free no sooner than every one kept; a class of
 * thousands of slots, or a queue of thousands of jobs, costs no more to read than 512.
 */
const MAX_SLOTS = 512;

/** Puts a job of `run` seconds on the slot free soonest, keeping `slots` ascending; returns when it starts. */
function take(slots: number[], run: number): number {
  const start = slots[0] ?? 0;
  const end = start + run;
  // The first slot free later than the job ends (binary search), and the end put just before it.
  let lo = 1;
  let hi = slots.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((slots[mid] ?? 0) < end) lo = mid + 1;
    else hi = mid;
  }
  slots.copyWithin(0, 1, lo);
  slots[lo - 1] = end;
  return start;
}

/**
 * `count` jobs of `run` seconds each (a fraction of a job as that share of a run): one at a time
 * up to `MAX_SLOTS` of them, the rest as work poured onto the slots free soonest until they are
 * level (the `usable` slots left out of `slots` taken as free when the last kept one is), so that
 * a long queue costs no more to read than a short one.
 */
function spread(slots: number[], count: number, run: number, usable: number): void {
  let left = Math.max(0, count);
  for (let k = 0; k < MAX_SLOTS && left > 0; k++) {
    const part = Math.min(1, left);
    take(slots, part * run);
    left -= part;
  }
  if (left <= 0 || slots.length === 0) return;
  const work = left * run;
  const extra = Math.max(0, usable - slots.length);
  let sum = 0;
  for (let k = 1; k <= slots.length; k++) {
    sum += slots[k - 1] ?? 0;
    const last = k === slots.length;
    const level = last ? (work + sum + extra * (slots[k - 1] ?? 0)) / (k + extra) : (work + sum) / k;
    if (last || level <= (slots[k] ?? 0)) {
      for (let i = 0; i < k; i++) slots[i] = level;
      return;
    }
  }
}

/**
 * Expected queue seconds of `count` jobs of `runSeconds` each placed now on a class with
 * `backlog` (its times scaled by `scale`): their mean and the last's.
 */
function expectedQueue(
  backlog: readonly number[] | null,
  pickup: number,
  runSeconds: number,
  count: number,
  scale: number,
) {
  if (backlog === null) return { mean: pickup, last: pickup };
  // `count` jobs only ever take from the `count` slots free soonest (and the ends they leave).
  const slots = backlog.slice(0, count).map((t) => t * scale);
  let sum = 0;
  let last = 0;
  for (let i = 0; i < count; i++) {
    const wait = pickup + take(slots, runSeconds);
    sum += wait;
    last = Math.max(last, wait);
  }
  return { mean: sum / Math.max(1, count), last };
}

interface Resolved {
  wait: number;
  overTarget: number;
  lightweight: number;
  share: number;
  minRuns: number;
  draws: number;
  queueTarget: (runner: Runner) => number;
  p90Target: (runner: Runner) => number;
}

/** The learner's settings when a caller leaves them out (see `LearnOptions`); the simulator's defaults too. */
export const LEARN_DEFAULTS = {
  waitUsdPerMinute: 0.01,
  overTargetUsdPerMinute: 0.15,
  lightweightMinutes: 2,
  exploreShare: 0.1,
  minRuns: 3,
} as const;

function resolveOptions(options: LearnOptions): Resolved {
  return {
    wait: options.waitUsdPerMinute ?? LEARN_DEFAULTS.waitUsdPerMinute,
    overTarget: options.overTargetUsdPerMinute ?? LEARN_DEFAULTS.overTargetUsdPerMinute,
    lightweight: options.lightweightMinutes ?? LEARN_DEFAULTS.lightweightMinutes,
    share: Math.min(1, Math.max(0, options.exploreShare ?? LEARN_DEFAULTS.exploreShare)),
    minRuns: Math.max(1, options.minRuns ?? LEARN_DEFAULTS.minRuns),
    draws: Math.max(1, Math.floor(options.draws ?? 32)),
    queueTarget: (r) => options.queueTargetSeconds?.[r.id] ?? r.queueTargetSeconds ?? DEFAULT_QUEUE_TARGET_SECONDS,
    p90Target: (r) => options.p90TargetSeconds?.[r.id] ?? Number.POSITIVE_INFINITY,
  };
}

/** Per class, each job's estimate; a class known for no job borrows the best-known class's, marked as a guess. */
function estimates(stats: LearnedStats, jobs: BuildJob[], classes: string[], minRuns: number) {
  const known = new Map<string, JobView[] | null>();
  for (const c of classes) {
    const views: JobView[] = [];
    for (const job of jobs) {
      const estimate = estimateJob(stats, job.key, c, classes, minRuns);
      if (estimate === null) break;
      views.push({ job, estimate });
    }
    known.set(c, views.length === jobs.length ? views : null);
  }
  return known;
}

/** The build on one class: expected cost, queue and time, each job's minutes scaled by `factors` (a draw), 1 otherwise. */
function predict(
  runner: Runner,
  views: readonly JobView[],
  backlog: readonly number[] | null,
  classEntry: Estimate | undefined,
  pickup: number,
  o: Resolved,
  level: Level | "guess",
  factors: readonly number[] | null,
): ClassPrediction {
  let minutes = 0;
  let billed = 0;
  let p50Longest = 0;
  let p90Longest = 0;
  let p50Any = 0;
  let p90Any = 0;
  let count = 0;
  let runs = Number.POSITIVE_INFINITY;
  for (const [i, { job, estimate }] of views.entries()) {
    const f = factors?.[i] ?? 1;
    minutes += job.presence * estimate.meanMinutes * f;
    billed += job.presence * (f === 1 ? estimate.billedMinutes : expectedBilled(estimate.hist, estimate.scale * f));
    count += job.presence;
    // The longest job a build usually runs (any job when none runs in half the builds).
    p50Any = Math.max(p50Any, estimate.p50Minutes * f);
    p90Any = Math.max(p90Any, estimate.p90Minutes * f);
    if (job.presence >= 0.5) {
      p50Longest = Math.max(p50Longest, estimate.p50Minutes * f);
      p90Longest = Math.max(p90Longest, estimate.p90Minutes * f);
    }
    runs = Math.min(runs, estimate.runs);
  }
  if (p90Longest === 0) {
    p50Longest = p50Any;
    p90Longest = p90Any;
  }
  const jobs = Math.max(1, Math.round(count));
  // A draw scales the class's queue with its durations: a slower class also drains its queue slower.
  const drawn = factors === null || factors.length === 0 ? 1 : factors.reduce((a, f) => a + f, 0) / factors.length;
  const typicalRun = (classEntry === undefined ? minutes / Math.max(1, count) : classEntry.ewma * drawn) * 60;
  const queue = expectedQueue(backlog, pickup * drawn, typicalRun, jobs, drawn);
  const price = "perMinuteUsd" in runner.cost ? runner.cost.perMinuteUsd : 0;
  const costUsd = price * billed;
  const p90Seconds = queue.last + p90Longest * 60;
  const past = Math.max(0, queue.mean - o.queueTarget(runner));
  const objective = costUsd + ((o.wait * queue.mean + o.overTarget * past) * count) / 60;
  const eligible = p90Seconds <= o.p90Target(runner);
  return {
    runner: runner.id,
    costUsd,
    queueSeconds: queue.mean,
    p90Seconds,
    minutes,
    billedMinutes: billed,
    jobs,
    p50Longest,
    p90Longest,
    runs: level === "guess" ? 0 : runs,
    level,
    objective,
    overTarget: past > 0,
    eligible,
  };
}

/** The least specific level any job's estimate came from. */
const widest = (views: readonly JobView[]): Level =>
  LEVELS[Math.max(0, ...views.map((v) => LEVELS.indexOf(v.estimate.level)))] ?? "organisation";

/** The best of `predictions`: lowest objective among the eligible (else lowest p90 time), earlier classes on ties. */
function best(predictions: readonly ClassPrediction[]): ClassPrediction | undefined {
  const eligible = predictions.filter((p) => p.eligible);
  if (eligible.length === 0) {
    return predictions.reduce<ClassPrediction | undefined>(
      (a, p) => (a === undefined || p.p90Seconds < a.p90Seconds ? p : a),
      undefined,
    );
  }
  return eligible.reduce<ClassPrediction | undefined>(
    (a, p) => (a === undefined || p.objective < a.objective - 1e-9 ? p : a),
    undefined,
  );
}

const fmt = (x: number) => (x >= 10 ? x.toFixed(0) : x.toFixed(1));
const usd = (x: number) => `$${x.toFixed(3)}`;

function jobsLabel(views: readonly JobView[]): string {
  const named = views.filter((v) => v.job.key.job !== "").map((v) => v.job.key.job);
  if (named.length === 0) return "a build of this kind";
  if (named.length === 1) return named[0] ?? "";
  const shown = named.slice(0, 3).join(", ");
  return `${shown}${named.length > 3 ? ", …" : ""} (${named.length} jobs)`;
}

/**
 * Each job of the build known by name, the likeliest to run first (the roster's share of builds
 * that ran it; ties in roster order), on the class with the best objective for it alone (among
 * the eligible, as for the build), the jobs placed before it counted in their class's backlog
 * by that share: a job the build runs half the time takes a slot for half its expected run.
 */
function placeJobs(
  jobs: readonly BuildJob[],
  runners: readonly Runner[],
  backlogs: ReadonlyMap<string, readonly number[] | null>,
  predictOne: (runner: Runner, view: JobView, backlog: readonly number[] | null) => ClassPrediction,
  viewsOf: (c: string) => readonly JobView[],
): { job: BuildJob; prediction: ClassPrediction }[] {
  const queues = new Map<string, number[] | null>();
  for (const r of runners) {
    const backlog = backlogs.get(r.id) ?? null;
    queues.set(r.id, backlog === null ? null : [...backlog]);
  }
  const order = jobs
    .map((job, index) => ({ job, index }))
    .filter(({ job }) => job.key.job !== "")
    .sort((a, b) => b.job.presence - a.job.presence || a.index - b.index)
    .slice(0, MAX_PLACEMENTS);
  const placed: { job: BuildJob; prediction: ClassPrediction }[] = [];
  for (const { job, index } of order) {
    const predictions = runners.flatMap((r) => {
      const view = viewsOf(r.id)[index];
      return view === undefined
        ? []
        : [predictOne(r, { job: { ...job, presence: 1 }, estimate: view.estimate }, queues.get(r.id) ?? null)];
    });
    const pick = best(predictions);
    if (pick === undefined) continue;
    placed.push({ job, prediction: pick });
    const queue = queues.get(pick.runner);
    if (queue !== null && queue !== undefined) take(queue, Math.min(1, job.presence) * pick.minutes * 60);
  }
  return placed;
}

/** The build's expected jobs per class: each placed job's share on its class, the others' on `runner` (all `jobs` of it when none was placed). */
function expectedJobs(
  placed: readonly { job: BuildJob; prediction: ClassPrediction }[],
  jobs: readonly BuildJob[],
  runner: string,
  predictedJobs: number,
): Record<string, number> {
  if (placed.length === 0) return { [runner]: predictedJobs };
  const out: Record<string, number> = {};
  const add = (c: string, n: number) => {
    out[c] = Math.round(((out[c] ?? 0) + n) * 100) / 100;
  };
  for (const { job, prediction } of placed) add(prediction.runner, Math.min(1, job.presence));
  for (const job of jobs) if (job.key.job === "") add(runner, job.presence);
  return out;
}

function placementsLabel(placed: readonly { job: BuildJob; prediction: ClassPrediction }[]): string {
  const shown = placed
    .slice(0, 6)
    .map(
      ({ job, prediction: p }) =>
        `${job.key.job} → ${p.runner} (~${fmt(p.p50Longest)} min, queue ~${fmt(p.queueSeconds / 60)} min)`,
    );
  return `${shown.join("; ")}${placed.length > 6 ? `; and ${placed.length - 6} more` : ""}`;
}

/**
 * The learned decision for a commit. Within `feasibleClasses`, each class's build is predicted
 * from `stats`; the choice minimises expected per-minute cost (price × expected billed minutes;
 * a monthly-priced class costs nothing at the margin, its limited capacity shows as queue) plus
 * the expected queue (the class's usual pickup, plus when a slot frees for each job: the
 * snapshot's running and queued jobs, and the jobs routed there, scheduled onto its slots at
 * their expected runs) × `waitUsdPerMinute`, plus each minute of it past the class's queue
 * target × `overTargetUsdPerMinute`, among the classes within their p90 targets. For a share
 * `exploreShare` of commits (by the hash of repository@sha), a Thompson draw over the duration
 * estimates picks instead. A default or lightweight build with its
 * repository's own history is lightweight when its longest job usually (p50) takes under
 * `lightweightMinutes`, else default. With nothing known, the paths rule decides, with the load:
 * `treeRoute(input, policy, snapshot)`. The machine is picked by `chooseRunner`, with no A/B and no
 * failover: the class is the learner's choice, a saturated one waited for knowingly.
 */
export function learnedChoice(
  input: RoutingInput,
  policy: RoutingPolicy,
  snapshot: FleetSnapshot | null,
  stats: LearnedStats,
  options: LearnOptions = {},
): LearnedChoice {
  const o = resolveOptions(options);
  const tree = decide(input, policy);
  const scope = { repository: input.repository, requirement: tree.requirement };
  const classes = feasibleClasses(tree, policy);
  const jobs = buildJobs(stats, scope, options.jobs);
  const known = estimates(stats, jobs, classes, o.minRuns);
  const reference = classes.map((c) => known.get(c)).find((v) => v !== null && v !== undefined);

  if (reference === undefined || policy.mode === "cloudflare-only") {
    const decision = treeRoute(input, policy, snapshot);
    const why =
      policy.mode === "cloudflare-only"
        ? "learned: cloudflare-only leaves no choice → the paths rule"
        : `learned: no history for ${tree.requirement} builds of ${input.repository} or the organisation → the paths rule`;
    return {
      decision: { ...decision, reasons: [...decision.reasons, why] },
      probability: 1,
      explored: false,
      greedy: decision.runner,
      requirement: tree.requirement,
      learned: false,
      predicted: [],
      placements: [],
      expected: {},
    };
  }

  const runners = classes.flatMap((c) => {
    const r = policy.runners[c];
    return r === undefined ? [] : [r];
  });
  const viewsOf = (c: string) => known.get(c) ?? reference;
  const levelOf = (c: string): Level | "guess" => {
    const views = known.get(c);
    return views === null || views === undefined ? "guess" : widest(views);
  };
  // A class's usual pickup, the wait of a job that finds a free slot (its boot): the low quartile
  // of its queue times, its own once known, else the tree's class's. Not the median: the backlog
  // is the snapshot's part, and a class once seen congested would keep a congested median it
  // never gets the chance to correct, for the learner would stop choosing it.
  const pickupOf = (c: string) => {
    const entry = stats.entries.get(classKey(c));
    return entry !== undefined && entry.n >= o.minRuns ? queueQuantile(entry, PICKUP_QUANTILE) : undefined;
  };
  const fallbackPickup = classes.map(pickupOf).find((p) => p !== undefined) ?? 0;
  // Each class's backlog, read once for every prediction and draw; a job with no estimate counts
  // at the class's typical run (its own mean once known, else the build's mean job there).
  const fillOf = (r: Runner) => {
    const entry = stats.entries.get(classKey(r.id));
    if (entry !== undefined && entry.n > 0) return entry.ewma * 60;
    const views = viewsOf(r.id);
    const jobs = views.reduce((a, v) => a + v.job.presence, 0);
    return jobs > 0 ? (views.reduce((a, v) => a + v.job.presence * v.estimate.meanMinutes, 0) / jobs) * 60 : 0;
  };
  const backlogs = new Map(runners.map((r) => [r.id, backlogOf(r, snapshot?.[r.id], fillOf(r))]));
  const predictOne = (r: Runner, view: JobView, backlog: readonly number[] | null) =>
    predict(
      r,
      [view],
      backlog,
      stats.entries.get(classKey(r.id)),
      pickupOf(r.id) ?? fallbackPickup,
      o,
      levelOf(r.id),
      null,
    );
  const predictAll = (factors: ((c: string) => number[]) | null) =>
    runners.map((r) =>
      predict(
        r,
        viewsOf(r.id),
        backlogs.get(r.id) ?? null,
        stats.entries.get(classKey(r.id)),
        pickupOf(r.id) ?? fallbackPickup,
        o,
        levelOf(r.id),
        factors?.(r.id) ?? null,
      ),
    );

  const predicted = predictAll(null);
  const greedy = best(predicted) ?? predicted[0];
  if (greedy === undefined) throw new Error("learnedChoice: no feasible class"); // feasibleClasses names at least the tree's

  // Thompson draws: each job's minutes on each class scaled by exp(z × spread / √runs); a guess is wide.
  const random = drawsFor(fnv1a32(`${input.repository.toLowerCase()}@${(input.sha ?? "").toLowerCase()}`));
  const picks: string[] = [];
  for (let d = 0; d < o.draws; d++) {
    const factors = new Map<string, number[]>();
    for (const r of runners) {
      const views = viewsOf(r.id);
      const guess = levelOf(r.id) === "guess";
      factors.set(
        r.id,
        views.map((v) =>
          Math.exp(
            (gaussian(random) * (guess ? 1 : v.estimate.spread)) / Math.sqrt(guess ? 1 : Math.max(1, v.estimate.runs)),
          ),
        ),
      );
    }
    picks.push(best(predictAll((c) => factors.get(c) ?? []))?.runner ?? greedy.runner);
  }
  const share = input.sha === null ? 0 : o.share;
  const bucket = fnv1a32(`explore:${input.repository.toLowerCase()}@${(input.sha ?? "").toLowerCase()}`) / 2 ** 32;
  const exploring = bucket < share;
  const chosenId = exploring ? (picks[0] ?? greedy.runner) : greedy.runner;
  const chosen = predicted.find((p) => p.runner === chosenId) ?? greedy;
  const thompson = picks.filter((p) => p === chosenId).length / picks.length;
  const probability = share * thompson + (1 - share) * (chosenId === greedy.runner ? 1 : 0);

  // The requirement: lightweight when the repository's own history says the build is short.
  let requirement = tree.requirement;
  const views = viewsOf(chosenId);
  const ownHistory = chosen.level !== "guess" && chosen.level !== "organisation";
  const reasons = [...tree.reasons];
  const usual = `${jobsLabel(views)} usually ${fmt(chosen.p50Longest)} min on ${chosenId} (p90 ${fmt(chosen.p90Longest)}, ${chosen.runs} runs)`;
  const complete = input.changes.known && !input.changes.truncated;
  if ((requirement === "default" || requirement === "lightweight") && ownHistory && complete) {
    requirement = chosen.p50Longest < o.lightweight ? "lightweight" : "default";
    reasons.push(`learned: ${usual} → ${requirement}`);
  } else {
    reasons.push(`learned: ${usual}${chosen.level === "guess" ? ", a guess from another class" : ""}`);
  }
  if (predicted.length > 1) {
    const shown = predicted.map((p) => {
      const out = p.overTarget ? " (over its target)" : "";
      return `${p.runner} ${usd(p.costUsd)} + queue ~${fmt(p.queueSeconds / 60)} min${out}`;
    });
    reasons.push(`learned: ${shown.join("; ")} → ${greedy.runner}`);
  }
  if (exploring && chosenId !== greedy.runner) {
    reasons.push(
      `learned: exploring (commit bucket ${bucket.toFixed(4)} < share ${share}): a Thompson draw picked ${chosenId} over ${greedy.runner}`,
    );
  }

  const runner = policy.runners[chosenId];
  const base: Decision = {
    ...tree,
    runner: chosenId,
    runs_on: [...(runner?.runsOn ?? tree.runs_on)],
    requirement,
    reasons,
    arm: null,
  };
  // The class is chosen: chooseRunner only picks its machine (no A/B, no failover).
  const pinned: RoutingPolicy = { ...policy, ab: {}, failover: { ...policy.failover, requirements: [] } };
  const machine = chooseRunner(base, pinned, snapshot ?? {}, { repository: input.repository, sha: input.sha });
  const explored = exploring && chosenId !== greedy.runner;
  const placed = explored ? [] : placeJobs(jobs, runners, backlogs, predictOne, viewsOf);
  const placements: JobPlacement[] = placed.map(({ job, prediction }) => ({
    workflow: job.key.workflow,
    job: job.key.job,
    runner: prediction.runner,
    runs_on: [
      ...(prediction.runner === machine.runner ? machine.runs_on : (policy.runners[prediction.runner]?.runsOn ?? [])),
    ],
  }));
  const apart = placements.some((p) => p.runner !== machine.runner);
  const decision: Decision = apart
    ? { ...machine, reasons: [...machine.reasons, `learned: per job: ${placementsLabel(placed)}`], placements }
    : machine;
  return {
    decision,
    probability,
    explored,
    greedy: greedy.runner,
    requirement: tree.requirement,
    learned: true,
    predicted,
    placements,
    expected: expectedJobs(placed, jobs, machine.runner, chosen.jobs),
  };
}

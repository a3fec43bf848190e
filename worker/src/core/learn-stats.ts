import type { Requirement } from "./types.ts";

/**
 * What the learned router knows (core/learn.ts decides with it): per repository, workflow, job
 * and runner class, streaming estimates of each job's run minutes, queue seconds and failures,
 * and per repository which jobs its builds run (rosters), in a bounded store. Pure: no platform
 * types, no clock; the Ledger keeps the same entries in its tables (worker/src/store/learn.ts).
 *
 * - `createStats(limits?)` → a bounded, mutable store (`LearnedStats`).
 * - `observe(stats, key, runnerClass, { minutes, queueSeconds, failed })`: one finished job.
 *   `key` is `{ repository, workflow, job, requirement }`, `requirement` the decision tree's for
 *   the commit (what its paths say, known at push time). Updates five entries, one per level:
 *   job (`j␟req␟repo␟workflow␟job␟class`), workflow (`w␟req␟repo␟workflow␟class`), repository
 *   (`r␟req␟repo␟class`), organisation (`o␟req␟class`, all repositories pooled) and class
 *   (`c␟class`: the class's typical run and queue time), joined with U+001F.
 * - `observeBuild(stats, { repository, requirement }, jobs)`: which jobs a finished build ran
 *   (the repository's roster for that kind of change; how the learner knows, at push time, what
 *   a build will run).
 * - `estimateJob(stats, key, runnerClass, classes, minRuns?)`: a job's duration on a class,
 *   backing off job → workflow → repository → organisation (each once it has `minRuns`
 *   observations, default 3); a class the job never ran on is predicted from its best-known
 *   class × the organisation's speed ratio between the two.
 * - `exportStats(stats)` / `importStats(dump, limits?)`: plain JSON rows in and out.
 *
 * Bounds: an entry is fixed-size (a 32-bucket log histogram of run minutes, a 16-bucket one of
 * queue seconds, four numbers), about 300 bytes as JSON; the store keeps at most
 * `maxEntries` (4,096) entries and `maxRosters` (1,024) rosters of at most 16 jobs, dropping
 * the least recently updated, whatever the number of keys fed. Keys: repository lower-cased (at
 * most 140 characters), workflow and job names cut to 100 characters, so a key is at most about
 * 420 characters.
 */

// ---------------------------------------------------------------------------------------------
// Streaming estimates

/** Run-minute histogram: bucket i holds [0.1 × (4/3)^i, 0.1 × (4/3)^(i+1)) minutes; the last takes the rest (≥ ~1,000 min). */
export const RUN_BUCKETS = 32;
const RUN_BASE = 0.1;
const RUN_RATIO = 4 / 3;
/** Queue-second histogram: bucket i holds [2^i, 2^(i+1)) seconds (bucket 0 also under 1 s). */
export const QUEUE_BUCKETS = 16;
const QUEUE_BASE = 1;
const QUEUE_RATIO = 2;
/** When a histogram's counts sum past this, every count is halved: old runs fade, counts stay small. */
const HALVE_AT = 512;
/** The EWMA's weight for a new run (a running mean for the first ten). */
const EWMA_ALPHA = 0.1;

/** One key's running estimates: fixed size whatever it has seen. */
export interface Estimate {
  /** Runs observed (not decayed). */
  n: number;
  /** Exponentially weighted mean of run minutes. */
  ewma: number;
  /** Counts of run minutes per log bucket ({@link RUN_BUCKETS}). */
  run: number[];
  /** Counts of queue seconds per log bucket ({@link QUEUE_BUCKETS}). */
  queue: number[];
  /** Exponentially weighted mean of queue seconds. */
  queueEwma: number;
  /** Exponentially weighted failure rate, 0..1. */
  failEwma: number;
}

function emptyEstimate(): Estimate {
  return {
    n: 0,
    ewma: 0,
    run: new Array<number>(RUN_BUCKETS).fill(0),
    queue: new Array<number>(QUEUE_BUCKETS).fill(0),
    queueEwma: 0,
    failEwma: 0,
  };
}

function bucketOf(value: number, base: number, ratio: number, count: number): number {
  if (!(value > base)) return 0;
  return Math.min(count - 1, Math.floor(Math.log(value / base) / Math.log(ratio)));
}

const edge = (i: number, base: number, ratio: number) => base * ratio ** i;

function add(counts: number[], i: number): void {
  counts[i] = (counts[i] ?? 0) + 1;
  if (counts.reduce((a, b) => a + b, 0) > HALVE_AT) {
    for (let j = 0; j < counts.length; j++) counts[j] = Math.round((counts[j] ?? 0) * 50) / 100;
  }
}

/** The q-quantile of a log histogram, interpolated geometrically within its bucket; 0 when empty. */
function quantile(counts: readonly number[], q: number, base: number, ratio: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  const target = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && seen + c >= target) {
      const within = Math.min(1, Math.max(0, (target - seen) / c));
      return edge(i, base, ratio) * ratio ** within;
    }
    seen += c;
  }
  return edge(counts.length, base, ratio);
}

/**
 * E[ceil(X × scale)] over a run histogram: what GitHub bills, each job rounded up to the minute.
 * Each bucket is taken as log-uniform and split at the whole minutes inside it; a bucket wider
 * than 8 minutes is taken at its geometric middle plus half a minute.
 */
export function expectedBilled(counts: readonly number[], scale: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c <= 0) continue;
    const lo = edge(i, RUN_BASE, RUN_RATIO) * scale;
    const hi = edge(i + 1, RUN_BASE, RUN_RATIO) * scale;
    if (hi - lo > 8) {
      sum += c * (Math.sqrt(lo * hi) + 0.5);
      continue;
    }
    const span = Math.log(hi / lo);
    let billed = 0;
    for (let k = Math.floor(lo) + 1; ; k++) {
      const from = Math.max(lo, k - 1);
      const to = Math.min(hi, k);
      if (to > from) billed += (k * Math.log(to / from)) / span;
      if (k >= hi) break;
    }
    sum += c * billed;
  }
  return sum / total;
}

/** Adds one run to an estimate. */
function record(entry: Estimate, sample: JobSample): void {
  entry.n++;
  const alpha = Math.max(EWMA_ALPHA, 1 / entry.n);
  entry.ewma += alpha * (sample.minutes - entry.ewma);
  entry.queueEwma += alpha * (sample.queueSeconds - entry.queueEwma);
  entry.failEwma += alpha * ((sample.failed ? 1 : 0) - entry.failEwma);
  add(entry.run, bucketOf(sample.minutes, RUN_BASE, RUN_RATIO, RUN_BUCKETS));
  add(entry.queue, bucketOf(sample.queueSeconds, QUEUE_BASE, QUEUE_RATIO, QUEUE_BUCKETS));
}

/** The p-quantile of an estimate's run minutes. */
export const runQuantile = (entry: Estimate, q: number): number => quantile(entry.run, q, RUN_BASE, RUN_RATIO);
/** The p-quantile of an estimate's queue seconds. */
export const queueQuantile = (entry: Estimate, q: number): number => quantile(entry.queue, q, QUEUE_BASE, QUEUE_RATIO);

// ---------------------------------------------------------------------------------------------
// The store

/** What identifies a job for the learner. */
export interface LearnKey {
  repository: string;
  workflow: string;
  job: string;
  /** The decision tree's requirement for the job's commit. */
  requirement: Requirement;
}

/** One finished job. */
export interface JobSample {
  /** Run time (in_progress → completed), minutes. */
  minutes: number;
  /** Queue time (queued → in_progress), seconds. */
  queueSeconds: number;
  failed: boolean;
}

export interface LearnLimits {
  /** Most estimate entries kept (least recently updated dropped first). */
  maxEntries: number;
  /** Most rosters kept. */
  maxRosters: number;
  /** Most jobs a roster lists. */
  rosterJobs: number;
}

export const DEFAULT_LEARN_LIMITS: LearnLimits = { maxEntries: 4096, maxRosters: 1024, rosterJobs: 16 };

/** A job a repository's builds of one kind run, and in how many of them. */
export interface RosterJob {
  workflow: string;
  job: string;
  seen: number;
}

/** What a repository's builds of one requirement run; at organisation level only the counts. */
export interface Roster {
  builds: number;
  /** Jobs counted over those builds. */
  jobCount: number;
  jobs: RosterJob[];
}

/** The learner's bounded store. Maps iterate in update order: the first key is the least recently updated. */
export interface LearnedStats {
  readonly limits: LearnLimits;
  readonly entries: Map<string, Estimate>;
  readonly rosters: Map<string, Roster>;
}

export function createStats(limits: Partial<LearnLimits> = {}): LearnedStats {
  return { limits: { ...DEFAULT_LEARN_LIMITS, ...limits }, entries: new Map(), rosters: new Map() };
}

const SEP = "\u001f";
/** Longest workflow or job name kept in a key. */
export const MAX_NAME_IN_KEY = 100;
const cut = (name: string) => name.slice(0, MAX_NAME_IN_KEY);
/** Longest repository name kept in a key (GitHub's own limit: a 39-character owner, a 100-character name). */
const MAX_REPOSITORY_IN_KEY = 140;
const repo = (repository: string) => repository.toLowerCase().slice(0, MAX_REPOSITORY_IN_KEY);

/** The levels an estimate backs off through, most specific first. */
export const LEVELS = ["job", "workflow", "repository", "organisation"] as const;
export type Level = (typeof LEVELS)[number];

function levelKey(level: Level, key: LearnKey, runnerClass: string): string {
  const name = repo(key.repository);
  switch (level) {
    case "job":
      return ["j", key.requirement, name, cut(key.workflow), cut(key.job), runnerClass].join(SEP);
    case "workflow":
      return ["w", key.requirement, name, cut(key.workflow), runnerClass].join(SEP);
    case "repository":
      return ["r", key.requirement, name, runnerClass].join(SEP);
    case "organisation":
      return ["o", key.requirement, runnerClass].join(SEP);
  }
}

export const classKey = (runnerClass: string) => `c${SEP}${runnerClass}`;
export const rosterKey = (repository: string, requirement: Requirement) =>
  ["b", requirement, repo(repository)].join(SEP);
export const orgRosterKey = (requirement: Requirement) => ["b", requirement, "*"].join(SEP);

/** Puts `key` last (most recently updated) and drops the oldest keys past `max`. */
function touch<T>(map: Map<string, T>, key: string, value: T, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}

const validSample = (s: JobSample) =>
  Number.isFinite(s.minutes) && s.minutes >= 0 && Number.isFinite(s.queueSeconds) && s.queueSeconds >= 0;

/** Records one finished job at every level. False (and nothing recorded) for a sample that is not finite and ≥ 0. */
export function observe(stats: LearnedStats, key: LearnKey, runnerClass: string, sample: JobSample): boolean {
  if (!validSample(sample)) return false;
  const keys = [...LEVELS.map((level) => levelKey(level, key, runnerClass)), classKey(runnerClass)];
  for (const k of keys) {
    const entry = stats.entries.get(k) ?? emptyEstimate();
    record(entry, sample);
    touch(stats.entries, k, entry, stats.limits.maxEntries);
  }
  return true;
}

/** Records which jobs one finished build ran, for its repository and the organisation. */
export function observeBuild(
  stats: LearnedStats,
  scope: { repository: string; requirement: Requirement },
  jobs: readonly { workflow: string; job: string }[],
): void {
  const names = new Map<string, { workflow: string; job: string }>();
  for (const j of jobs)
    names.set(`${cut(j.workflow)}${SEP}${cut(j.job)}`, { workflow: cut(j.workflow), job: cut(j.job) });
  for (const key of [rosterKey(scope.repository, scope.requirement), orgRosterKey(scope.requirement)]) {
    const roster = stats.rosters.get(key) ?? { builds: 0, jobCount: 0, jobs: [] };
    roster.builds++;
    roster.jobCount += names.size;
    if (key !== orgRosterKey(scope.requirement)) {
      for (const name of names.values()) {
        const known = roster.jobs.find((j) => j.workflow === name.workflow && j.job === name.job);
        if (known) known.seen++;
        else if (roster.jobs.length < stats.limits.rosterJobs) roster.jobs.push({ ...name, seen: 1 });
        else {
          // Full: the least seen job gives way.
          let least = 0;
          for (let i = 1; i < roster.jobs.length; i++) {
            if ((roster.jobs[i]?.seen ?? 0) < (roster.jobs[least]?.seen ?? 0)) least = i;
          }
          roster.jobs[least] = { ...name, seen: 1 };
        }
      }
    }
    if (roster.builds > HALVE_AT / 2) {
      roster.builds /= 2;
      roster.jobCount /= 2;
      for (const j of roster.jobs) j.seen /= 2;
    }
    touch(stats.rosters, key, roster, stats.limits.maxRosters);
  }
}

/** The store as plain rows, for a table. */
export interface StatsDump {
  entries: [string, Estimate][];
  rosters: [string, Roster][];
}

export function exportStats(stats: LearnedStats): StatsDump {
  return {
    entries: [...stats.entries].map(([k, e]) => [k, { ...e, run: [...e.run], queue: [...e.queue] }]),
    rosters: [...stats.rosters].map(([k, r]) => [k, { ...r, jobs: r.jobs.map((j) => ({ ...j })) }]),
  };
}

/** A store from rows (oldest first), within `limits`. */
export function importStats(dump: StatsDump, limits: Partial<LearnLimits> = {}): LearnedStats {
  const stats = createStats(limits);
  for (const [k, e] of dump.entries) {
    touch(stats.entries, k, { ...e, run: [...e.run], queue: [...e.queue] }, stats.limits.maxEntries);
  }
  for (const [k, r] of dump.rosters) {
    touch(stats.rosters, k, { ...r, jobs: r.jobs.map((j) => ({ ...j })) }, stats.limits.maxRosters);
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Estimates with backoff

/** A job's predicted duration on one class, and where it came from. */
export interface JobEstimate {
  level: Level;
  /** The class whose runs it is read from (another class's when transferred). */
  from: string;
  /** The speed ratio applied (1 unless transferred). */
  scale: number;
  runs: number;
  meanMinutes: number;
  p50Minutes: number;
  p90Minutes: number;
  /** Expected billed minutes: each run rounded up to the minute. */
  billedMinutes: number;
  /** Spread of log minutes (from p50 and p90): the draw's width. */
  spread: number;
  failRate: number;
  /** The run histogram it was read from, for draws. */
  hist: readonly number[];
}

function fromEntry(entry: Estimate, level: Level, from: string, scale: number): JobEstimate {
  const p50 = runQuantile(entry, 0.5) * scale;
  const p90 = runQuantile(entry, 0.9) * scale;
  return {
    level,
    from,
    scale,
    runs: entry.n,
    meanMinutes: entry.ewma * scale,
    p50Minutes: p50,
    p90Minutes: p90,
    billedMinutes: expectedBilled(entry.run, scale),
    spread: Math.max(0.1, Math.log(Math.max(p90, 1e-9) / Math.max(p50, 1e-9)) / 1.2816),
    failRate: entry.failEwma,
    hist: entry.run,
  };
}

/** The most specific level with `minRuns` runs of `key` on `runnerClass`, and its index. */
function bestLevel(
  stats: LearnedStats,
  key: LearnKey,
  runnerClass: string,
  minRuns: number,
): { entry: Estimate; level: Level; index: number } | null {
  for (const [index, level] of LEVELS.entries()) {
    const entry = stats.entries.get(levelKey(level, key, runnerClass));
    if (entry !== undefined && entry.n >= minRuns) return { entry, level, index };
  }
  return null;
}

/** The organisation's speed ratio of class `to` over class `from` for a requirement (else all work), or null. */
function speedRatio(stats: LearnedStats, requirement: Requirement, from: string, to: string, minRuns: number) {
  const pairs = [
    [stats.entries.get(["o", requirement, from].join(SEP)), stats.entries.get(["o", requirement, to].join(SEP))],
    [stats.entries.get(classKey(from)), stats.entries.get(classKey(to))],
  ];
  for (const [a, b] of pairs) {
    if (a && b && a.n >= minRuns && b.n >= minRuns) {
      const ra = runQuantile(a, 0.5);
      const rb = runQuantile(b, 0.5);
      if (ra > 0 && rb > 0) return rb / ra;
    }
  }
  return null;
}

/**
 * The expected run seconds of one job on `runnerClass` (its estimate there, backing off as
 * `estimateJob` does, from no other class), or null when nothing is known: what a job is
 * expected to hold its slot for, in the learner's backlog (core/learn.ts).
 */
export function expectedRunSeconds(
  stats: LearnedStats,
  key: LearnKey,
  runnerClass: string,
  minRuns = 3,
): number | null {
  const estimate = estimateJob(stats, key, runnerClass, [runnerClass], minRuns);
  return estimate === null ? null : estimate.meanMinutes * 60;
}

/**
 * What `key` is expected to take on `runnerClass`: the most specific level with `minRuns` runs
 * there (job → workflow → repository → organisation), unless a more specific level knows it on
 * another of `classes`, when that estimate is scaled by the organisation's speed ratio between
 * the classes. Null when nothing is known.
 */
export function estimateJob(
  stats: LearnedStats,
  key: LearnKey,
  runnerClass: string,
  classes: readonly string[],
  minRuns = 3,
): JobEstimate | null {
  const here = bestLevel(stats, key, runnerClass, minRuns);
  let transfer: { entry: Estimate; level: Level; index: number; from: string; ratio: number } | null = null;
  for (const other of classes) {
    if (other === runnerClass) continue;
    const there = bestLevel(stats, key, other, minRuns);
    if (there === null || (here !== null && there.index >= here.index)) continue;
    if (transfer !== null && (there.index > transfer.index || there.entry.n <= transfer.entry.n)) continue;
    const ratio = speedRatio(stats, key.requirement, other, runnerClass, minRuns);
    if (ratio !== null) transfer = { ...there, from: other, ratio };
  }
  if (transfer !== null) return fromEntry(transfer.entry, transfer.level, transfer.from, transfer.ratio);
  return here === null ? null : fromEntry(here.entry, here.level, runnerClass, 1);
}

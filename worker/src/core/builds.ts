import { baselineRate, baselineShare, isGpuWork, jobMinutes, perMinuteCharge } from "./costs.ts";
import type { DownstreamLink, DownstreamOrigin } from "./dependencies.ts";
import { dict, isRepository, isSha } from "./names.ts";
import type { Decision, RoutingPolicy, Runner } from "./types.ts";

/** Progress of a run or job; later states never give way to earlier ones. */
const STATUS_ORDER = ["requested", "waiting", "queued", "pending", "in_progress", "completed"] as const;

function rank(status: string): number {
  const i = (STATUS_ORDER as readonly string[]).indexOf(status);
  return i === -1 ? 0 : i;
}

/** Conclusions from worst to best: a build's conclusion is its worst run's. */
const CONCLUSION_ORDER = [
  "failure",
  "timed_out",
  "startup_failure",
  "action_required",
  "cancelled",
  "stale",
  "neutral",
  "skipped",
  "success",
];

export interface RunState {
  id: number;
  name: string | null;
  event: string | null;
  attempt: number;
  status: string;
  conclusion: string | null;
  started_at: string | null;
  updated_at: string | null;
}

export interface JobState {
  id: number;
  run_id: number;
  /** The attempt of its run this job belongs to (a re-run's jobs have new ids and a higher attempt). */
  run_attempt: number;
  name: string | null;
  /** Its workflow's name (`workflow_name`), when GitHub sent it. */
  workflow?: string;
  status: string;
  conclusion: string | null;
  labels: string[];
  runner_name: string | null;
  runner_group_name: string | null;
  /** The runner class of the pool that ran the job, from its labels. */
  runner: string | null;
  created_at: string | null;
  /**
   * When it started waiting for a runner: its creation, or, for a job that first waited for an
   * environment's protection rules, when it was seen queued after that.
   */
  queued_at: string | null;
  started_at: string | null;
  completed_at: string | null;
}

/** A build's states, in the order it goes through them. */
export const BUILD_STATUSES = ["routed", "queued", "in_progress", "completed"] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

export interface BuildRecord {
  build_id: string;
  repository: string;
  event: string;
  ref: string | null;
  sha: string | null;
  pull_request: number | null;
  delivery: string;
  created_at: string;
  updated_at: string;
  /** Null for builds first seen through a workflow event (nothing was routed). */
  decision: Decision | null;
  status: BuildStatus;
  conclusion: string | null;
  /** Runner classes that actually ran this build's jobs, in order of first use. */
  runners_used: string[];
  started_at: string | null;
  completed_at: string | null;
  runs: Record<string, RunState>;
  jobs: Record<string, JobState>;
  /**
   * Present (true) once a run or job arrived past {@link MAX_RUNS_PER_BUILD} or
   * {@link MAX_JOBS_PER_BUILD}: the record lists the first ones only, and its status and
   * conclusion are theirs. The fleet, metrics and costs count every job all the same.
   */
  truncated?: true;
  /** For a build a dependency dispatched: the build that dispatched it (core/dependencies.ts). */
  upstream?: DownstreamOrigin;
  /** For a build whose push dispatched others: its dispatches, at most `DEPENDENCY_LIMITS.downstream` (16). */
  downstream?: DownstreamLink[];
}

/**
 * A build id as {@link buildId} makes them: up to 12 lower-case letters and digits of a commit
 * (or `nosha`), a dash, and a delivery id as `DELIVERY` in names.ts allows.
 */
export const BUILD_ID = /^[0-9a-z]{1,12}-[A-Za-z0-9._:-]{1,128}$/;

/**
 * Jobs and runs kept per build; past these, new ones are left out of the record and it is
 * marked `truncated`. With the payload limits, a record stays well under a megabyte (the
 * Ledger's SQLite takes 2 MB a value).
 */
export const MAX_JOBS_PER_BUILD = 256;
export const MAX_RUNS_PER_BUILD = 64;

/**
 * How much of each run and job a build record keeps: names and runner names cut to
 * `text` characters, at most `labels` labels of at most `label` characters. (Routing and the
 * fleet read the event itself; the record is what /status shows.) With these, 256 jobs and 64
 * runs stay under about 600 KB.
 */
export const RECORD_LIMITS = { text: 200, labels: 16, label: 100 } as const;

const cut = (text: string | null, max: number = RECORD_LIMITS.text): string | null =>
  text === null || text.length <= max ? text : `${text.slice(0, max - 1)}…`;

function compactJob(job: JobState): JobState {
  return {
    ...job,
    name: cut(job.name),
    ...(job.workflow === undefined ? {} : { workflow: cut(job.workflow) ?? job.workflow }),
    labels: job.labels.slice(0, RECORD_LIMITS.labels).map((l) => cut(l, RECORD_LIMITS.label) ?? l),
    runner_name: cut(job.runner_name),
    runner_group_name: cut(job.runner_group_name),
  };
}

function compactRun(run: RunState): RunState {
  return { ...run, name: cut(run.name), event: cut(run.event) };
}

/**
 * A build's id: the first 12 characters of the commit it builds, then the whole id of the
 * delivery that announced it (`X-GitHub-Delivery`, as `DELIVERY` in names.ts allows). Deterministic, so a
 * redelivery names the same build, and one-to-one: two deliveries never share a build id.
 */
export function buildId(sha: string | null, delivery: string): string {
  const head =
    (sha ?? "")
      .replace(/[^A-Za-z0-9]/g, "")
      .slice(0, 12)
      .toLowerCase() || "nosha";
  return `${head}-${delivery}`;
}

export function newBuild(fields: {
  build_id: string;
  repository: string;
  event: string;
  ref: string | null;
  sha: string | null;
  pull_request?: number | null;
  delivery: string;
  decision: Decision | null;
  at: string;
  upstream?: DownstreamOrigin | null;
}): BuildRecord {
  return {
    build_id: fields.build_id,
    repository: fields.repository,
    event: fields.event,
    ref: fields.ref,
    sha: fields.sha,
    pull_request: fields.pull_request ?? null,
    delivery: fields.delivery,
    created_at: fields.at,
    updated_at: fields.at,
    decision: fields.decision,
    status: "routed",
    conclusion: null,
    runners_used: [],
    started_at: null,
    completed_at: null,
    runs: {},
    jobs: {},
    ...(fields.upstream == null ? {} : { upstream: fields.upstream }),
  };
}

/** A workflow event reduced to what a build record keeps. */
export type WorkflowUpdate = { kind: "run"; run: RunState; origin?: RunOrigin } | { kind: "job"; job: JobState };

/**
 * What a `workflow_run` event says of where its run came from, kept on the update only (a
 * record does not store it): to match a dispatched run to the dispatch that started it.
 */
export interface RunOrigin {
  /** `.github/workflows/ci.yml`. */
  path: string | null;
  workflowId: number | null;
  headBranch: string | null;
  /** Epoch milliseconds of the run's creation. */
  createdAt: number | null;
  htmlUrl: string | null;
}

/** Applies a workflow event to a build. Pure; out-of-order events never move a run or job backwards. */
export function applyUpdate(build: BuildRecord, update: WorkflowUpdate, at: string): BuildRecord {
  const next: BuildRecord = { ...build, runs: { ...build.runs }, jobs: { ...build.jobs }, updated_at: at };
  if (update.kind === "run") {
    const key = String(update.run.id);
    const known = next.runs[key];
    if (known !== undefined || Object.keys(next.runs).length < MAX_RUNS_PER_BUILD) {
      next.runs[key] = merge(known, compactRun(update.run));
    } else {
      next.truncated = true;
    }
  } else {
    const key = String(update.job.id);
    const known = next.jobs[key];
    if (known !== undefined || Object.keys(next.jobs).length < MAX_JOBS_PER_BUILD) {
      const merged = merge(known, compactJob(update.job));
      // Waited for an approval, then queued for a runner: its queue time starts now.
      next.jobs[key] =
        known?.status === "waiting" && merged.status === "queued" ? { ...merged, queued_at: at } : merged;
    } else {
      next.truncated = true;
    }
    const runner = update.job.runner;
    if (runner !== null && !next.runners_used.includes(runner)) next.runners_used = [...next.runners_used, runner];
  }
  return summarise(next);
}

function merge<S extends { status: string; attempt?: number }>(known: S | undefined, incoming: S): S {
  if (known === undefined) return incoming;
  // A re-run starts a new attempt of the same run: it replaces the old one, and the old one's
  // late events never overwrite it.
  const attempt = (incoming.attempt ?? 1) - (known.attempt ?? 1);
  if (attempt > 0) return incoming;
  if (attempt < 0) return known;
  if (rank(incoming.status) < rank(known.status)) {
    // Older news: keep the later status, but fill fields the later event did not carry.
    const filled = { ...known };
    for (const [k, v] of Object.entries(incoming) as [keyof S, S[keyof S]][]) {
      if (filled[k] === null || filled[k] === undefined) filled[k] = v;
    }
    return filled;
  }
  const merged = { ...known };
  for (const [k, v] of Object.entries(incoming) as [keyof S, S[keyof S]][]) {
    if (v !== null && v !== undefined) merged[k] = v;
  }
  return merged;
}

function summarise(build: BuildRecord): BuildRecord {
  const runs = Object.values(build.runs);
  const jobs = Object.values(build.jobs);
  const all = [...runs, ...jobs];
  const starts = [...runs.map((r) => r.started_at), ...jobs.map((j) => j.started_at)].filter(
    (s): s is string => s !== null,
  );
  const started_at = starts.sort()[0] ?? build.started_at;
  if (all.length === 0) return build;
  const done = all.every((s) => s.status === "completed");
  if (!done) {
    const running = all.some((s) => s.status === "in_progress");
    return { ...build, status: running ? "in_progress" : "queued", conclusion: null, completed_at: null, started_at };
  }
  const conclusions = (runs.length > 0 ? runs : jobs).map((r) => r.conclusion ?? "neutral");
  const worst = conclusions.sort((a, b) => conclusionRank(a) - conclusionRank(b))[0] ?? null;
  const ends = [...runs.map((r) => r.updated_at), ...jobs.map((j) => j.completed_at)].filter(
    (s): s is string => s !== null,
  );
  const completed_at = ends.sort().at(-1) ?? build.updated_at;
  return { ...build, status: "completed", conclusion: worst, completed_at, started_at };
}

function conclusionRank(c: string): number {
  const i = CONCLUSION_ORDER.indexOf(c);
  return i === -1 ? CONCLUSION_ORDER.length : i;
}

/**
 * The pool's runner class a job ran on: the runner whose `runsOn` labels the job's labels all
 * include, the most specific one when several do. Null when no class fits.
 */
export function runnerForLabels(policy: RoutingPolicy, labels: readonly string[]): Runner | null {
  const have = new Set(labels.map((l) => l.toLowerCase()));
  let best: Runner | null = null;
  for (const runner of Object.values(policy.runners)) {
    if (!runner.runsOn.every((l) => have.has(l.toLowerCase()))) continue;
    if (best === null || runner.runsOn.length > best.runsOn.length) best = runner;
  }
  return best;
}

/**
 * The runner class a job is for, the one way it is worked out: the class its `runs-on` labels
 * fit ({@link runnerForLabels}) under the repository's policy, else the class recorded when it
 * ran, else the class its build was routed to. Null when none is known.
 */
export function jobClass(
  policy: RoutingPolicy | null,
  job: Pick<JobState, "labels" | "runner">,
  build?: Pick<BuildRecord, "decision">,
): string | null {
  const fits = policy === null ? null : runnerForLabels(policy, job.labels);
  return fits?.id ?? job.runner ?? build?.decision?.runner ?? null;
}

/** What one workflow_job event changed about a job, for metrics and the cost ledger. */
export interface JobTransition {
  /** Set when the job left the queue with this event: seconds it waited, when both times are known. */
  started: { queueSeconds: number | null } | null;
  /** Set when the job completed with this event: seconds it ran, when both times are known. */
  completed: { runSeconds: number | null; conclusion: string } | null;
}

const RUNNING = new Set(["in_progress", "completed"]);

function secondsBetween(from: string | null, to: string | null): number | null {
  if (from === null || to === null) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : null;
}

/** Compares a job before and after an event; each transition is reported once, when it happens. */
export function jobTransition(before: Pick<JobState, "status"> | undefined, after: JobState): JobTransition {
  const wasRunning = before !== undefined && RUNNING.has(before.status);
  const wasDone = before?.status === "completed";
  return {
    started:
      !wasRunning && RUNNING.has(after.status)
        ? { queueSeconds: secondsBetween(after.queued_at ?? after.created_at, after.started_at) }
        : null,
    completed:
      !wasDone && after.status === "completed"
        ? {
            runSeconds: secondsBetween(after.started_at, after.completed_at),
            conclusion: after.conclusion ?? "neutral",
          }
        : null,
  };
}

/** Runs a build summary lists (a record keeps up to {@link MAX_RUNS_PER_BUILD}). */
export const SUMMARY_RUNS = 16;

/**
 * What GET /builds shows of a build: its record without the per-job detail, with what the jobs
 * came to (minutes, dollars, waits) and links to GitHub. Derived from the record alone
 * ({@link buildSummary}), so its size is bounded by the record's: at most 16 runs, one line per
 * runner class.
 */
export interface BuildSummary
  extends Pick<
    BuildRecord,
    | "build_id"
    | "repository"
    | "event"
    | "ref"
    | "sha"
    | "pull_request"
    | "created_at"
    | "updated_at"
    | "status"
    | "conclusion"
    | "decision"
    | "runners_used"
  > {
  /** Every job the record holds; `by_runner` those that got a runner, by the class that ran them. */
  jobs: { total: number; by_runner: Record<string, { jobs: number; minutes: number }> };
  /** The longest a job waited for a runner, in seconds; null while none has started. */
  queue_seconds: number | null;
  /** From the first job's start to the last job's completion, in seconds; null until both are known. */
  run_seconds: number | null;
  /** Billable minutes of the completed jobs, each rounded up to the minute. */
  minutes: number;
  /** Their per-minute charges at the configured prices (a fixed-monthly runner adds nothing here). */
  cost_usd: number;
  /** The same minutes at the GitHub-hosted baseline rate, GPU work left out as in the cost report; null without a baseline. */
  hosted_usd: number | null;
  runs: { id: number; name: string | null; attempt: number; status: string; conclusion: string | null }[];
  links: { commit: string | null; pull_request: string | null; runs: string[] };
}

/** Money of one build, to a millionth of a dollar: sums over many builds stay true to the cent. */
const fineUsd = (usd: number): number => Math.round(usd * 1e6) / 1e6;

/** Milliseconds of an ISO instant, or null when absent or unreadable. */
const msOf = (iso: string | null | undefined): number | null => {
  const ms = iso == null ? Number.NaN : Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
};

/** What a job adds to its build's summary, read from its times. */
interface JobFigures {
  start: number | null;
  /** When it completed; null until it has. */
  end: number | null;
  /** Seconds it waited for a runner, as `ci_router_job_queue_seconds` reads it; null until it started. */
  wait: number | null;
  /** Billable minutes once it completed (`jobMinutes`), else 0. */
  minutes: number;
}

/**
 * Each job state's figures, kept while the state lives: a record's job states are never changed
 * in place (applyUpdate copies the one an event changes and keeps the others), so summarising a
 * record after an event reads the times of the job it moved, not again those of the other 255.
 */
const FIGURES = new WeakMap<JobState, JobFigures>();

function figuresOf(job: JobState): JobFigures {
  let figures = FIGURES.get(job);
  if (figures !== undefined) return figures;
  const done = job.status === "completed" && job.started_at != null && job.completed_at != null;
  figures = {
    start: msOf(job.started_at),
    end: job.status === "completed" ? msOf(job.completed_at) : null,
    wait: jobTransition(undefined, job).started?.queueSeconds ?? null,
    minutes: done ? jobMinutes({ started_at: job.started_at as string, completed_at: job.completed_at as string }) : 0,
  };
  FIGURES.set(job, figures);
  return figures;
}

/**
 * The summary of a build, priced by `runners` (the pool the cost report prices with): each
 * completed job's minutes as GitHub bills them (`jobMinutes`), and each class's minutes charged
 * and priced in the baseline by the report's own rules (`perMinuteCharge`, `baselineShare`).
 * Pure, and linear in the record's runs and jobs (at most 64 and 256). Tolerates records of
 * older versions that lack a field.
 */
export function buildSummary(build: BuildRecord, runners: Record<string, Runner>): BuildSummary {
  const byRunner = dict<{ jobs: number; minutes: number }>();
  let longestWait: number | null = null;
  let firstStart: number | null = null;
  let lastEnd: number | null = null;
  const jobs = Object.values(build.jobs ?? {});
  for (const job of jobs) {
    const { start, end, wait, minutes } = figuresOf(job);
    if (start !== null && (firstStart === null || start < firstStart)) firstStart = start;
    if (end !== null && (lastEnd === null || end > lastEnd)) lastEnd = end;
    if (wait !== null && (longestWait === null || wait > longestWait)) longestWait = wait;
    if (job.runner == null) continue;
    const line = (byRunner[job.runner] ??= { jobs: 0, minutes: 0 });
    line.jobs += 1;
    line.minutes += minutes;
  }
  const requirement = build.decision?.requirement ?? null;
  const rate = baselineRate(runners);
  let minutes = 0;
  let cost = 0;
  let hosted = 0;
  for (const [runner, line] of Object.entries(byRunner)) {
    const pool = Object.hasOwn(runners, runner) ? runners[runner] : undefined;
    const billed = { runner, minutes: line.minutes, requirement, gpu: isGpuWork(requirement, pool) };
    minutes += line.minutes;
    cost += perMinuteCharge(billed, runners);
    if (rate !== null && baselineShare(billed) === "priced") hosted += line.minutes * rate;
  }
  const runs = Object.values(build.runs ?? {})
    .slice(0, SUMMARY_RUNS)
    .map((run) => ({
      id: run.id,
      name: run.name ?? null,
      attempt: run.attempt ?? 1,
      status: run.status,
      conclusion: run.conclusion ?? null,
    }));
  return {
    build_id: build.build_id,
    repository: build.repository,
    event: build.event,
    ref: build.ref ?? null,
    sha: build.sha ?? null,
    pull_request: build.pull_request ?? null,
    created_at: build.created_at,
    updated_at: build.updated_at,
    status: build.status,
    conclusion: build.conclusion ?? null,
    decision: build.decision ?? null,
    runners_used: build.runners_used ?? [],
    jobs: { total: jobs.length, by_runner: byRunner },
    queue_seconds: longestWait,
    run_seconds:
      firstStart !== null && lastEnd !== null && lastEnd >= firstStart ? (lastEnd - firstStart) / 1000 : null,
    minutes,
    cost_usd: fineUsd(cost),
    hosted_usd: rate === null ? null : fineUsd(hosted),
    runs,
    links: githubLinks(build, runs),
  };
}

/** Where the build is on GitHub: its commit, pull request and runs; only for names GitHub could have given. */
function githubLinks(build: BuildRecord, runs: readonly { id: number }[]): BuildSummary["links"] {
  if (!isRepository(build.repository)) return { commit: null, pull_request: null, runs: [] };
  const base = `https://github.com/${build.repository}`;
  const pr = build.pull_request ?? null;
  return {
    commit: build.sha != null && isSha(build.sha) ? `${base}/commit/${build.sha}` : null,
    pull_request: pr !== null && Number.isSafeInteger(pr) && pr > 0 ? `${base}/pull/${pr}` : null,
    runs: runs
      .filter((run) => Number.isSafeInteger(run.id) && run.id > 0)
      .map((run) => `${base}/actions/runs/${run.id}`),
  };
}

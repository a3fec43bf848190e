/**
 * Waking a self-hosted class before its build's jobs queue: what a wake-up says, which classes
 * may have a warm hook, when a call is tried again, and what the history predicts. The wire
 * contract is docs/prewarm.md; the Ledger queues a build's wake-ups, one per class, in the routed
 * delivery's transaction (worker/src/book.ts) and its alarm sends them (worker/src/warm.ts).
 */
import type { BuildRecord } from "./builds.ts";
import { histogramQuantile } from "./metrics.ts";
import { isLoopbackHost } from "./names.ts";
import { type AttemptResult, type NextStep, nextStep } from "./retry.ts";
import type { Decision, RoutingPolicy, Runner, WarmHook } from "./types.ts";

/**
 * A warm hook's signing key is a Worker secret whose name starts with this: it can never name
 * one of the router's own secrets (the API token, the webhook secret), which a receiver would
 * then have to hold.
 */
export const WARM_SECRET_PREFIX = "WARM_";
/** `secretEnv` as the configuration takes it: `WARM_` and 1 to 64 upper-case letters, digits or `_`. */
export const WARM_SECRET_NAME = /^WARM_[A-Z0-9_]{1,64}$/;
/** The longest warm hook URL taken. */
export const MAX_WARM_URL = 2048;

/** The headers of a wake-up, in the case HTTP/2 sends them (names are case-insensitive). */
export const WARM_HEADERS = {
  /** `sha256=<hex HMAC-SHA256 of the body under the class's secret>`: GitHub's webhook scheme. */
  signature: "x-ci-router-signature-256",
  /** The wake-up's id, `<build_id>:<class>`, the same on every retry: the receiver's idempotency key. */
  delivery: "x-ci-router-delivery",
} as const;

/** The body's `version`: a change that would break a receiver gets a new one. */
export const WAKE_UP_VERSION = 1;

/** The events whose routed builds wake their class. */
export const WAKE_EVENTS: readonly string[] = ["push", "pull_request"];

/** A wake-up later than this helps nobody (the build's jobs have queued or run): it is given up instead. */
export const WARM_MAX_AGE_MS = 15 * 60_000;

/**
 * The most wake-ups one build queues: its decision's class and one for each class its jobs were
 * placed on (at most `MAX_PLACEMENTS`, 32, in core/learn.ts), whatever the number of classes
 * configured. A number here rather than an import: learn.ts reaches this module through the
 * configuration, and a constant read across that cycle could be read before it is set.
 */
export const MAX_WAKE_UPS_PER_BUILD = 33;

/** A class is woken for a build only when it is expected to run at least this many of its jobs. */
export const MIN_WAKE_JOBS = 0.5;

/** Builds routed to a class before its jobs-per-build average is given. */
export const MIN_ROUTED_BUILDS = 5;

/** What a class's history says a build routed to it will take; each part null when the history cannot say. */
export interface ExpectedWork {
  /** Jobs the build is expected to run on the class. */
  jobs: number | null;
  /** Minutes one of its jobs usually runs. */
  minutes: number | null;
}

/** The JSON body of a wake-up, version 1 (docs/prewarm.md). */
export interface WakeUp {
  version: typeof WAKE_UP_VERSION;
  class: string;
  repository: string;
  sha: string | null;
  ref: string | null;
  event: string;
  build_id: string;
  expected: ExpectedWork;
  /** When the build was routed (ISO 8601): the same on every retry. */
  at: string;
}

/**
 * Why `url` cannot be a warm hook, or null when it can: `https://` anywhere, `http://` only on
 * the machine itself, and nothing a URL in a non-secret configuration should carry (user info,
 * a query, a fragment).
 */
export function warmUrlProblem(url: string): string | null {
  const rule =
    "must be an https URL (http only for 127.0.0.1, localhost or [::1]) without user info, query or fragment";
  if (url.length > MAX_WARM_URL) return `is longer than ${MAX_WARM_URL} characters`;
  const parts = /^(https?):\/\/([^\s/?#]+)[^\s?#]*$/i.exec(url);
  const scheme = parts?.[1]?.toLowerCase();
  const authority = parts?.[2] ?? "";
  const host = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.exec(authority)?.[1]?.toLowerCase();
  if (scheme === undefined || host === undefined) return rule;
  if (scheme === "http" && !isLoopbackHost(host)) return rule;
  return null;
}

/** A runner's warm hook problems, each starting with its path under `runners.<id>` (`warm…`). */
export function warmHookProblems(runner: Runner): string[] {
  const hook = runner.warm;
  if (hook === undefined) return [];
  const problems: string[] = [];
  if (runner.kind === "github-hosted") {
    problems.push(
      "warm: a github-hosted class has no runners of ours to wake; only self-hosted classes take a warm hook",
    );
  }
  const url = warmUrlProblem(hook.url);
  if (url !== null) problems.push(`warm.url: ${url}`);
  return problems;
}

/**
 * Every warm hook whose secret is not bound, once per secret and class: the secret's name and
 * where it is named, never a value. `isSet` says whether a Worker binding of that name holds a
 * non-empty string.
 */
export function warmSecretProblems(
  policies: readonly RoutingPolicy[],
  isSet: (name: string) => boolean,
): { secret: string; problem: string }[] {
  const seen = new Set<string>();
  const problems: { secret: string; problem: string }[] = [];
  for (const policy of policies) {
    for (const runner of Object.values(policy.runners)) {
      const secret = runner.warm?.secretEnv;
      if (secret === undefined || isSet(secret) || seen.has(`${runner.id}\n${secret}`)) continue;
      seen.add(`${runner.id}\n${secret}`);
      problems.push({ secret, problem: `${secret} is not set (runners.${runner.id}.warm.secretEnv names it)` });
    }
  }
  return problems;
}

/** A class a routed build wakes, and the jobs it is expected to run there (null: as the class's history says). */
export interface WakeUpClass {
  runner: string;
  jobs: number | null;
}

/**
 * The classes a routed build wakes. A learned decision that expects at least half a job of the
 * build on some class (`learned.expected_jobs`) wakes every such class with a warm hook, each
 * told its expected jobs rounded up: jobs placed apart from the decision's class wake their own
 * class too, and a class the build is unlikely to use is left asleep. Any other decision (the
 * decision tree's, or the learner's without history) wakes its `runner`, when that has a hook.
 * One entry per class, the most jobs first, at most {@link MAX_WAKE_UPS_PER_BUILD}. `canWake`
 * says which classes can be woken (a warm hook; the simulator warms any self-hosted class).
 */
export function wakeUpClasses(
  decision: Decision | null,
  policy: RoutingPolicy,
  canWake: (runner: Runner) => boolean = (runner) => runner.warm !== undefined,
): WakeUpClass[] {
  if (decision === null) return [];
  const hooked = (id: string) => {
    const runner = Object.hasOwn(policy.runners, id) ? policy.runners[id] : undefined;
    return runner !== undefined && canWake(runner);
  };
  const expected = Object.entries(decision.learned?.expected_jobs ?? {}).filter(
    ([, jobs]) => Number.isFinite(jobs) && jobs >= MIN_WAKE_JOBS,
  );
  if (expected.length === 0) return hooked(decision.runner) ? [{ runner: decision.runner, jobs: null }] : [];
  return expected
    .filter(([runner]) => hooked(runner))
    .map(([runner, jobs]) => ({ runner, jobs: Math.ceil(jobs) }))
    .sort((a, b) => b.jobs - a.jobs || (a.runner < b.runner ? -1 : a.runner > b.runner ? 1 : 0))
    .slice(0, MAX_WAKE_UPS_PER_BUILD);
}

/**
 * The wake-ups a routed build owes, each with the hook it goes to: for a push or pull request
 * ({@link WAKE_EVENTS}), one per class `wakeUpClasses` names, told what `expected` says its
 * history expects (`jobs` given when the decision says). None for another event.
 */
export function wakeUpsOf(
  build: BuildRecord,
  policy: RoutingPolicy,
  expected: (runnerClass: string, jobs: number | null) => ExpectedWork,
): { hook: WarmHook; body: WakeUp }[] {
  if (!WAKE_EVENTS.includes(build.event)) return [];
  return wakeUpClasses(build.decision, policy).flatMap(({ runner, jobs }) => {
    const hook = policy.runners[runner]?.warm;
    return hook === undefined ? [] : [{ hook, body: wakeUp(build, runner, expected(runner, jobs)) }];
  });
}

/** The wake-up of `runnerClass` for a routed build. */
export function wakeUp(build: BuildRecord, runnerClass: string, expected: ExpectedWork): WakeUp {
  return {
    version: WAKE_UP_VERSION,
    class: runnerClass,
    repository: build.repository,
    sha: build.sha,
    ref: build.ref,
    event: build.event,
    build_id: build.build_id,
    expected,
    at: build.created_at,
  };
}

/**
 * What a build routed to a class will take, from the class's history:
 * - `minutes`: the median of its jobs' run times (`ci_router_job_run_seconds`), as the upper
 *   bound of the bucket it falls in, in whole minutes rounded up; null before 20 jobs.
 * - `jobs`: an all-time average, jobs that ran on the class (with a known run time, route jobs
 *   left out) per build routed to it (`ci_router_routing_decisions_total`), rounded, at least 1.
 *   It counts jobs that fell back onto the class and misses those that fell back off it, and a
 *   build routed there that runs nothing lowers it. Null before {@link MIN_ROUTED_BUILDS} builds
 *   or any timed job.
 */
export function expectedWork(history: { runCounts: readonly number[] | null; routedBuilds: number }): ExpectedWork {
  const counts = history.runCounts ?? [];
  const seconds = histogramQuantile(counts, 0.5);
  const ran = counts.reduce((a, b) => a + b, 0);
  return {
    jobs:
      history.routedBuilds >= MIN_ROUTED_BUILDS && ran > 0 ? Math.max(1, Math.round(ran / history.routedBuilds)) : null,
    minutes: seconds === null ? null : Math.ceil(seconds / 60),
  };
}

/** Why a wake-up routed at `createdAt` is too late to send at `now`, or null while it is not. */
export function warmExpired(createdAt: number, now: number): string | null {
  return now - createdAt > WARM_MAX_AGE_MS
    ? `not sent within ${WARM_MAX_AGE_MS / 60_000} minutes of the build being routed`
    : null;
}

/**
 * What follows attempt number `attempts` of a wake-up routed at `createdAt`: as for any
 * outgoing message (`nextStep`: 2xx sent, 429 after its Retry-After, 5xx and timeouts backed
 * off, other statuses failed at once, at most MAX_ATTEMPTS tries), except that a retry that would
 * come past {@link WARM_MAX_AGE_MS} is given up now.
 */
export function warmStep(result: AttemptResult, attempts: number, createdAt: number, now: number): NextStep {
  const step = nextStep(result, attempts);
  if (step.kind !== "retry" || warmExpired(createdAt, now + step.delayMs) === null) return step;
  return {
    kind: "failed",
    why: `${step.why}; a retry would come too late (${WARM_MAX_AGE_MS / 60_000} minutes after the build was routed)`,
  };
}

/** Seconds a `Retry-After` header asks to wait: delay-seconds or an HTTP date; null when it says neither. */
export function retryAfterSeconds(header: string | null, now: number): number | null {
  const text = header?.trim() ?? "";
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  // An HTTP date starts with its day's name (IMF-fixdate, RFC 850 or asctime form).
  const at = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, (at - now) / 1000) : null;
}

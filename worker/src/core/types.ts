/**
 * The vocabulary of the router. Everything here is plain data: no platform types.
 */

import type { CheckRunConfig } from "./check-runs.ts";
import type { DependencyGraph } from "./dependencies.ts";

/** What a change needs from a runner, in the decision tree's order of precedence. */
export const REQUIREMENTS = ["gpu", "docker", "deploy", "lightweight", "default"] as const;
export type Requirement = (typeof REQUIREMENTS)[number];

/** `RUNNER_DISPATCH_MODE`. */
export const MODES = ["hybrid", "self-hosted-only", "cloudflare-only"] as const;
export type Mode = (typeof MODES)[number];

/** What a runner costs: a rate per minute, or a fixed monthly price spread over its minutes. */
export type CostModel = { perMinuteUsd: number } | { monthlyUsd: number };

export interface Runner {
  id: string;
  /** `github-hosted` runners are GitHub's machines; everything else is ours. */
  kind: "self-hosted" | "github-hosted";
  /** The labels a job's `runs-on` names to land on this runner. */
  runsOn: string[];
  /** The runner to use when this one cannot take the job; null means the job waits. */
  fallback: string | null;
  /** How many jobs the runner takes at once. */
  capacity: number;
  cost: CostModel;
  /**
   * The individual self-hosted runners registered for this class, by runner name (a machine's
   * own label is its name, so `runs-on` can target it). Absent: the class is one pool of
   * `capacity` slots, and load is counted per class.
   */
  machines?: Record<string, Machine>;
  /** Seconds a queued job may wait for this class before it counts as stuck (absent: {@link DEFAULT_QUEUE_TARGET_SECONDS}). */
  queueTargetSeconds?: number;
  /** The class's warm hook, woken when a build is routed to it (self-hosted classes only; docs/prewarm.md). */
  warm?: WarmHook;
}

/**
 * Where a self-hosted class is told that a build is coming, so it can start a runner before the
 * job queues. The configuration is not secret: it names the Worker secret holding the signing key.
 */
export interface WarmHook {
  /** `https://` (plain `http://` only on 127.0.0.1, localhost or [::1]). */
  url: string;
  /** The name of the Worker secret whose value signs each wake-up (`WARM_…`), never the value. */
  secretEnv: string;
}

/** One registered self-hosted runner of a class. */
export interface Machine {
  /** How many jobs it takes at once. */
  capacity: number;
  /** Labels it has besides its class's `runsOn` and its own name. */
  labels: string[];
}

/** Past this many seconds in the queue a job counts as stuck, unless its class says otherwise. */
export const DEFAULT_QUEUE_TARGET_SECONDS = 600;

/** What happens when a class cannot take a job: fall back, or rescue a job stuck in its queue. */
export interface FailoverPolicy {
  /** Requirements that may leave a saturated or offline class along its fallback chain; the others wait. */
  requirements: Requirement[];
  rescue: {
    /** Whether a stuck job may be cancelled and re-run so its route step asks again. */
    enabled: boolean;
    /** The most rescues per workflow run. */
    maxPerRun: number;
  };
}

/** An A/B rollout: `share` of a class's commits (by a stable hash) go to `candidate`. */
export interface AbTest {
  candidate: string;
  /** 0..1. */
  share: number;
}

/** A pattern rule: any changed file matching one of `patterns` gives the change its requirement. */
export interface Rule {
  id: string;
  requirement: Exclude<Requirement, "default" | "deploy">;
  patterns: string[];
}

/** A ref that deploys, and the environment it deploys to. `ref` is a glob over full refs. */
export interface DeployRef {
  ref: string;
  environment: string;
}

export interface DeployPolicy {
  refs: DeployRef[];
  /** A push to a deploy ref is a deployment when a changed file matches one of these. */
  paths: string[];
}

/** Everything that decides where a build runs, for one repository. */
export interface RoutingPolicy {
  mode: Mode;
  rules: Rule[];
  deploy: DeployPolicy;
  runners: Record<string, Runner>;
  /** Which runner serves each requirement. */
  assign: Record<Requirement, string>;
  /** Which builds alert Discord. */
  alerts: AlertsPolicy;
  failover: FailoverPolicy;
  /** A/B rollouts, keyed by the class whose commits are split. */
  ab: Record<string, AbTest>;
  /** The learned router's settings; absent (as when not configured) or not enabled: the decision tree decides. */
  learning?: LearningPolicy;
  /**
   * Per-job path filters, by job name: each decision says, per job, whether its inputs changed
   * (core/jobs.ts). Absent when the policy declares none, so that such a policy keeps its plain shape.
   */
  jobs?: Record<string, JobFilter>;
  /**
   * Fair shares of the self-hosted classes across repositories (core/fair-share.ts), from the
   * configuration's top-level `fairShare`, the same in every repository's policy. Absent when
   * not configured, so that such a policy keeps its plain shape.
   */
  fairShare?: FairSharePolicy;
}

/**
 * How a contended self-hosted class is shared between repositories (core/fair-share.ts). Off
 * unless `enabled`: with it off, no decision changes.
 */
export interface FairSharePolicy {
  enabled: boolean;
  /** Per lower-cased `owner/name` or `owner/*` (a repository's own key first); a repository not listed weighs 1. */
  weights: Record<string, number>;
  /** Per class, per lower-cased `owner/name` or `owner/*`: the most queued + busy jobs it may hold there, contended or not. */
  caps: Record<string, Record<string, number>>;
  /** Builds never moved by fair share: to a deploy ref (`deploy.refs`), pushes to the repository's default branch. */
  priority: { deployRefs: boolean; defaultBranch: boolean };
  /** A repository over its share stays when its class expects a free slot within this many seconds. */
  maxWaitSeconds: number;
}

/**
 * A job's path filter, read as GitHub reads a workflow's `paths:`: a changed file counts when
 * the last pattern it matches is a positive one (`!` patterns exclude).
 */
export interface JobFilter {
  /** Globs, in order; a leading `!` makes one an exclusion. */
  paths: string[];
}

/** Whether one declared job's inputs changed, and why. */
export interface JobVerdict {
  /** False only when the file list is known, complete, and no file counts for the job. */
  run: boolean;
  /** Short and bounded: at most one file and one pattern, or the patterns cut short. */
  reasons: string[];
}

/**
 * Whether a repository is decided by the learned router (core/learn.ts) from its own job
 * history, and the learner's settings. A setting left out keeps the learner's default (in
 * `LearnOptions`): a wait price of $0.01 a minute and $0.15 more a minute past a class's queue
 * target, lightweight under 2 minutes, 10% of commits explored, 3 runs before a level of history
 * is used.
 */
export interface LearningPolicy {
  /** Off by default: the decision tree with the fleet's load decides, and no history is kept. */
  enabled: boolean;
  /** What a minute of a job's queue time is worth avoiding, USD. */
  waitUsdPerMinute?: number;
  /** What each minute a job is expected to queue past its class's `queueTargetSeconds` costs on top, USD. */
  overTargetUsdPerMinute?: number;
  /** A default or lightweight build whose longest job usually takes under this many minutes is lightweight. */
  lightweightMinutes?: number;
  /** Share of commits (by a stable hash of repository and commit) whose class a draw may pick, 0..1; 0 never explores. */
  exploreShare?: number;
  /** Runs a level of history (job, workflow, repository, organisation) needs before it is used. */
  minRuns?: number;
}

/** The whole routing configuration: a default policy and per-repository overrides. */
export interface RoutingConfig {
  defaults: RoutingPolicy;
  /** Keyed by lower-cased `owner/name`, or `owner/*` for every repository of an owner. */
  repositories: Record<string, RoutingPolicy>;
  /** Repository ids pinned by the configuration, keyed by lower-cased `owner/name`. */
  ids: Record<string, number>;
  /** Cross-repository builds (`dependencies`, core/dependencies.ts); absent when none are declared. */
  dependencies?: DependencyGraph;
  /** GitHub App mode's check runs (`checkRun`, core/check-runs.ts); absent: the default name. */
  checkRun?: CheckRunConfig;
}

/** The files a change touched, as far as GitHub told us. */
export interface ChangeSet {
  /** Repository-relative paths, without duplicates. */
  files: string[];
  /** False when nothing could say which files changed (e.g. a pull request without a token). */
  known: boolean;
  /** True when GitHub capped the list, so more files changed than `files` holds. */
  truncated: boolean;
  /** Where the list came from, for the reasons. */
  source: string;
  /** Human-readable notes on gaps: caps hit, APIs not called. */
  notes: string[];
}

/** What triggered the decision. */
export interface RoutingInput {
  repository: string;
  event: string;
  /** Full ref, e.g. `refs/heads/main` or `refs/tags/v1.2.0`. */
  ref: string | null;
  sha: string | null;
  changes: ChangeSet;
  /** For `workflow_dispatch`: the environment its inputs name, if any. */
  environment?: string | null;
  /** The repository's default branch (a branch name, e.g. `main`), when the event says it: a push's `repository.default_branch`. */
  defaultBranch?: string | null;
}

export interface Decision {
  runner: string;
  runs_on: string[];
  requirement: Requirement;
  mode: Mode;
  reasons: string[];
  truncated: boolean;
  files_known: boolean;
  files_count: number;
  /** False when the mode forced a runner that cannot meet the requirement (e.g. gpu in cloudflare-only). */
  satisfiable: boolean;
  /** The deploy environment, when the requirement is `deploy`. */
  environment: string | null;
  /** The id of the rule that decided, when one did. */
  rule: string | null;
  /** The A/B arm the commit landed on, when the class is under an A/B rollout (see `chooseRunner`). */
  arm: "control" | "candidate" | null;
  /** How the learned router decided; present only for a repository whose policy has `learning.enabled`. */
  learned?: LearnedNote;
  /** Per declared job, whether its inputs changed; present only when the policy declares `jobs`. */
  jobs?: Record<string, JobVerdict>;
  /**
   * The learned router's class for each job of the build it knows by name (core/learn.ts),
   * in the order it placed them; present only for a learned decision that puts at least one of
   * them on a class other than `runner` (which stays the class of every other job).
   */
  placements?: JobPlacement[];
}

/** One job of a build, by its workflow's and its own name, and the class the learned router places it on. */
export interface JobPlacement {
  workflow: string;
  job: string;
  runner: string;
  runs_on: string[];
}

/** What the learned router says of its choice beside the decision (core/learn.ts `LearnedChoice`). */
export interface LearnedNote {
  /**
   * How likely the learner was to pick `runner` for this commit: 1 − exploreShare on its greedy
   * choice, plus exploreShare × the share of its draws picking it (1 when nothing was explored).
   */
  probability: number;
  /** A draw overrode the greedy choice (this commit was explored). */
  explored: boolean;
  /** The class the expected cost and wait alone pick. */
  greedy: string;
  /** The decision tree's requirement for the change: the build's jobs are learned under it. */
  requirement: Requirement;
  /** False when nothing was known yet for this kind of build, and the paths rule decided (with the load). */
  history: boolean;
  /**
   * The jobs the build is expected to run per class (by the share of its builds that run each),
   * counted as demand on those classes until its first job queues (core/routed.ts); `{}` when
   * the paths rule decided. Absent from decisions recorded before it was kept.
   */
  expected_jobs?: Record<string, number>;
}

/** The kinds of alert, in the order they are raised. */
export const ALERT_KINDS = [
  "production_deploy",
  "gpu_build",
  "deploy_ref_failure",
  "unsatisfiable",
  "fell_back",
  "queued_too_long",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface AlertsPolicy {
  /** The kinds that alert, in {@link ALERT_KINDS} order. */
  enabled: AlertKind[];
  /** How long a job may wait in the queue before `queued_too_long`. */
  queuedTooLongSeconds: number;
}

/**
 * The simulation's settings (`--settings SIM.json`): what the trace does not say about the
 * fleet and what waiting is worth. Every key is optional; `DEFAULT_SETTINGS` holds the rest.
 *
 * ```json
 * {
 *   "seed": 7,
 *   "queueDelaySeconds": { "min": 30, "max": 120 },
 *   "waitUsdPerMinute": 0.01,
 *   "prewarmIdleMinutes": 10,
 *   "selfHosted": { "coldStartSeconds": 45, "warmPool": 1, "sloQueueSeconds": 300 },
 *   "githubHosted": { "coldStartSeconds": 30, "warmPool": 0, "sloQueueSeconds": 120 },
 *   "classes": { "ai-lab": { "coldStartSeconds": 90 } },
 *   "learner": { "exploreShare": 0.1, "lightweightMinutes": 2, "minRuns": 3, "overTargetUsdPerMinute": 0.15 }
 * }
 * ```
 *
 * - `seed`: draws the queue delay of every commit (the same for every policy).
 * - `queueDelaySeconds`: after a commit, its jobs are queued between `min` and `max` seconds
 *   later (the workflow run being created and its route job answering).
 * - `waitUsdPerMinute`: the price of one minute of one job's queue time: what the learner and
 *   the oracle trade against per-minute charges, and what regret is measured in.
 * - `prewarmIdleMinutes`: a machine warmed ahead by `learned+prewarm` and not taken within this
 *   many minutes is let go; on a per-minute class its idle minutes are billed.
 * - per class (`classes.<id>`, else `selfHosted` / `githubHosted` by the class's kind):
 *   `coldStartSeconds` (a job starting on a machine that is not warm waits this long first:
 *   an ephemeral runner booting and registering; counted as queue time, as GitHub counts it),
 *   `warmPool` (machines `fixed-warm-pool` keeps booted; 0 for GitHub-hosted classes, whose
 *   machines GitHub starts), `sloQueueSeconds` (the p95 queue target; a class-day over it is an
 *   SLO violation, and the learner's queue target).
 * - `learner`: `exploreShare` (share of commits that may explore), `lightweightMinutes`,
 *   `minRuns` (runs before a level of the learner's backoff is used), `overTargetUsdPerMinute`
 *   (what the learner adds for each minute a job is expected to queue past its class's
 *   `sloQueueSeconds`, on top of the wait price; the Worker's `learning.overTargetUsdPerMinute`).
 */
import { LEARN_DEFAULTS } from "../../worker/src/core/index.ts";

export interface ClassSettings {
  coldStartSeconds: number;
  warmPool: number;
  sloQueueSeconds: number;
}

export interface SimSettings {
  seed: number;
  queueDelaySeconds: { min: number; max: number };
  waitUsdPerMinute: number;
  prewarmIdleMinutes: number;
  selfHosted: ClassSettings;
  githubHosted: ClassSettings;
  classes: Record<string, Partial<ClassSettings>>;
  learner: { exploreShare: number; lightweightMinutes: number; minRuns: number; overTargetUsdPerMinute: number };
}

/**
 * Defaults. Cold starts: an ephemeral self-hosted runner (a container or VM booting, then
 * registering with GitHub) takes tens of seconds to minutes; GitHub-hosted jobs usually start
 * within half a minute. The wait price is a judgement, not a measurement: $0.01 a minute values
 * an hour of one job's queueing at $0.60, so a 15-minute queue is worth a 25-minute job on
 * GitHub's 2-core Linux runner at $0.006 a minute.
 */
export const DEFAULT_SETTINGS: SimSettings = {
  seed: 7,
  queueDelaySeconds: { min: 30, max: 120 },
  waitUsdPerMinute: LEARN_DEFAULTS.waitUsdPerMinute,
  prewarmIdleMinutes: 10,
  selfHosted: { coldStartSeconds: 45, warmPool: 1, sloQueueSeconds: 300 },
  githubHosted: { coldStartSeconds: 30, warmPool: 0, sloQueueSeconds: 120 },
  classes: { "ai-lab": { coldStartSeconds: 90 } },
  learner: {
    exploreShare: LEARN_DEFAULTS.exploreShare,
    lightweightMinutes: LEARN_DEFAULTS.lightweightMinutes,
    minRuns: LEARN_DEFAULTS.minRuns,
    overTargetUsdPerMinute: LEARN_DEFAULTS.overTargetUsdPerMinute,
  },
};

/** Settings that cannot be used, every problem at once. */
export class SettingsError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid simulation settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "SettingsError";
    this.problems = problems;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads settings over the defaults; throws a SettingsError listing every problem. */
export function parseSettings(input: unknown): SimSettings {
  const problems: string[] = [];
  const out: SimSettings = structuredClone(DEFAULT_SETTINGS);
  if (input === undefined || input === null) return out;
  if (!isObject(input)) throw new SettingsError(["(root): must be a JSON object"]);

  const unknownKeys = (o: Record<string, unknown>, keys: readonly string[], where: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) problems.push(`${where}${k}: not a setting`);
  };
  const number = (v: unknown, where: string, min: number, max: number, integer = false): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${where}: must be ${integer ? "an integer" : "a number"} from ${min} to ${max}`);
      return undefined;
    }
    return v;
  };
  const readClass = (v: unknown, where: string): Partial<ClassSettings> => {
    if (v === undefined) return {};
    if (!isObject(v)) {
      problems.push(`${where}: must be an object`);
      return {};
    }
    unknownKeys(v, ["coldStartSeconds", "warmPool", "sloQueueSeconds"], `${where}.`);
    const coldStartSeconds = number(v.coldStartSeconds, `${where}.coldStartSeconds`, 0, 3600);
    const warmPool = number(v.warmPool, `${where}.warmPool`, 0, 1000, true);
    const sloQueueSeconds = number(v.sloQueueSeconds, `${where}.sloQueueSeconds`, 1, 86_400);
    const partial: Partial<ClassSettings> = {};
    if (coldStartSeconds !== undefined) partial.coldStartSeconds = coldStartSeconds;
    if (warmPool !== undefined) partial.warmPool = warmPool;
    if (sloQueueSeconds !== undefined) partial.sloQueueSeconds = sloQueueSeconds;
    return partial;
  };

  unknownKeys(
    input,
    [
      "seed",
      "queueDelaySeconds",
      "waitUsdPerMinute",
      "prewarmIdleMinutes",
      "selfHosted",
      "githubHosted",
      "classes",
      "learner",
    ],
    "",
  );
  out.seed = number(input.seed, "seed", 0, 2 ** 32 - 1, true) ?? out.seed;
  if (input.queueDelaySeconds !== undefined) {
    const d = input.queueDelaySeconds;
    if (!isObject(d)) problems.push("queueDelaySeconds: must be { min, max }");
    else {
      unknownKeys(d, ["min", "max"], "queueDelaySeconds.");
      const min = number(d.min, "queueDelaySeconds.min", 0, 3600) ?? out.queueDelaySeconds.min;
      const max = number(d.max, "queueDelaySeconds.max", 0, 3600) ?? out.queueDelaySeconds.max;
      if (max < min) problems.push(`queueDelaySeconds: max (${max}) is under min (${min})`);
      out.queueDelaySeconds = { min, max };
    }
  }
  out.waitUsdPerMinute = number(input.waitUsdPerMinute, "waitUsdPerMinute", 0, 100) ?? out.waitUsdPerMinute;
  out.prewarmIdleMinutes = number(input.prewarmIdleMinutes, "prewarmIdleMinutes", 1, 1440) ?? out.prewarmIdleMinutes;
  out.selfHosted = { ...out.selfHosted, ...readClass(input.selfHosted, "selfHosted") };
  out.githubHosted = { ...out.githubHosted, ...readClass(input.githubHosted, "githubHosted") };
  if (out.githubHosted.warmPool !== 0) {
    problems.push("githubHosted.warmPool: must be 0 (GitHub starts its own machines; none can be kept warm)");
  }
  if (input.classes !== undefined) {
    if (!isObject(input.classes)) problems.push("classes: must be an object keyed by runner class");
    else {
      out.classes = { ...out.classes };
      for (const [id, v] of Object.entries(input.classes)) {
        out.classes[id] = { ...out.classes[id], ...readClass(v, `classes.${id}`) };
      }
    }
  }
  if (input.learner !== undefined) {
    const l = input.learner;
    if (!isObject(l)) problems.push("learner: must be an object");
    else {
      unknownKeys(l, ["exploreShare", "lightweightMinutes", "minRuns", "overTargetUsdPerMinute"], "learner.");
      out.learner = {
        exploreShare: number(l.exploreShare, "learner.exploreShare", 0, 1) ?? out.learner.exploreShare,
        lightweightMinutes:
          number(l.lightweightMinutes, "learner.lightweightMinutes", 0, 1440) ?? out.learner.lightweightMinutes,
        minRuns: number(l.minRuns, "learner.minRuns", 1, 1000, true) ?? out.learner.minRuns,
        overTargetUsdPerMinute:
          number(l.overTargetUsdPerMinute, "learner.overTargetUsdPerMinute", 0, 100) ??
          out.learner.overTargetUsdPerMinute,
      };
    }
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return out;
}

/** A class's settings: its own, over its kind's. */
export function classSettings(settings: SimSettings, id: string, kind: "self-hosted" | "github-hosted"): ClassSettings {
  const base = kind === "github-hosted" ? settings.githubHosted : settings.selfHosted;
  const own = Object.hasOwn(settings.classes, id) ? settings.classes[id] : undefined;
  const merged = { ...base, ...own };
  // GitHub starts its own machines: a GitHub-hosted class has no warm pool, whatever a class entry says.
  return kind === "github-hosted" ? { ...merged, warmPool: 0 } : merged;
}

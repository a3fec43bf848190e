import * as z from "zod/mini";
import { alertsSchema, resolveAlerts } from "./alerts.ts";
import { fallbackChain } from "./chain.ts";
import { CHECK_RUN_NAME, type CheckRunConfig, DEFAULT_CHECK_RUN_NAME } from "./check-runs.ts";
import { DEFAULT_POLICY } from "./defaults.ts";
import {
  DEFAULT_DEPENDENCY_DEPTH,
  DEPENDENCY_LIMITS,
  type DependencyGraph,
  type DependencyInput,
  resolveDependencies,
} from "./dependencies.ts";
import { DEFAULT_FAIR_SHARE } from "./fair-share.ts";
import { globProblem } from "./glob.ts";
import { PARSE_OPTIONS } from "./issues.ts";
import { isExclusion, JOB_LIMITS, JOB_NAME, jobPatternProblem } from "./jobs.ts";
import { dict, isRecord, OWNER_WILDCARD, REPOSITORY, repositoryKey } from "./names.ts";
import { hostedPrice } from "./prices.ts";
import {
  type FailoverPolicy,
  type FairSharePolicy,
  type JobFilter,
  type LearningPolicy,
  type Machine,
  MODES,
  REQUIREMENTS,
  type Requirement,
  type RoutingConfig,
  type RoutingPolicy,
  type Rule,
  type Runner,
} from "./types.ts";
import { WARM_SECRET_NAME, warmHookProblems } from "./warm.ts";

/**
 * The routing configuration as users write it (JSON in `ROUTING_CONFIG`, or the Pulumi stack
 * config). Every key is optional: what is left out keeps the defaults in `defaults.ts`.
 *
 * - `runners`: by id; a known id takes a partial override, a new id needs `kind` and `runsOn`. A
 *   GitHub-hosted class without a `cost` is priced by its labels from GitHub's table (prices.ts).
 * - `rules`: replaces the default pattern rules as a whole.
 * - `deploy`, `assign`: replace / override the deploy policy and the requirement → runner map.
 * - `runners.<id>.machines`: the class's registered runners by name (`capacity` default 1,
 *   extra `labels`); replaces the inherited map as a whole. `queueTargetSeconds` (≥ 60, default
 *   600): past it a queued job counts as stuck. `warm` (self-hosted only): `{ url, secretEnv }`,
 *   the class's warm hook and the name of the Worker secret that signs its wake-ups (`null`
 *   removes an inherited one; docs/prewarm.md).
 * - `failover`: which requirements may fall back (default docker, default, lightweight: GPU and
 *   deploy wait) and the stuck-queue rescue (`enabled`, `maxPerRun` 0..10, default 2).
 * - `ab`: per class, `{ candidate, share }`: that share of its commits go to the candidate.
 * - `learning`: `{ enabled, waitUsdPerMinute, overTargetUsdPerMinute, lightweightMinutes,
 *   exploreShare, minRuns }`, the learned router (off by default); a repository's entry overrides
 *   the top level's field by field.
 * - `jobs`: per job name (1 to 64 of `A-Za-z0-9_-`, at most 64 jobs), `{ paths }`: 1 to 64 globs,
 *   `!` ones excluding, read as GitHub reads a workflow's `paths:` (core/jobs.ts). Merged by name
 *   like `ab` and `assign`: a repository's job replaces the top level's job of its name whole.
 * - `repositories`: the same keys per `owner/name`, applied over the top-level ones; `owner/*`
 *   stands for every repository of that owner not listed by name. The repositories listed here
 *   are the ones the router serves to GitHub Actions OIDC tokens. An entry's `id` (GitHub's
 *   `repository_id`) pins it: only tokens of that repository are served under its name.
 */
const text = z.string().check(z.minLength(1, "must not be empty"));
const labels = z.array(text).check(z.minLength(1, "must name at least one label"));

const costSchema = z.union([
  z.strictObject({ perMinuteUsd: z.number().check(z.gte(0, "must be 0 or more")) }),
  z.strictObject({ monthlyUsd: z.number().check(z.gte(0, "must be 0 or more")) }),
]);

const machineSchema = z.strictObject({
  capacity: z.optional(z.int().check(z.gte(1, "must be at least 1"))),
  labels: z.optional(z.array(text)),
});

const warmSchema = z.strictObject({
  url: text,
  secretEnv: z
    .string()
    .check(z.regex(WARM_SECRET_NAME, "must be the name of a Worker secret: WARM_ and 1 to 64 of A-Z, 0-9, _")),
});

const runnerSchema = z.strictObject({
  kind: z.optional(z.enum(["self-hosted", "github-hosted"])),
  runsOn: z.optional(labels),
  fallback: z.optional(z.nullable(text)),
  capacity: z.optional(z.int().check(z.gte(1, "must be at least 1"))),
  cost: z.optional(costSchema),
  machines: z.optional(z.record(text, machineSchema)),
  queueTargetSeconds: z.optional(z.int().check(z.gte(60, "must be at least 60 (seconds)"))),
  warm: z.optional(z.nullable(warmSchema)),
});

const failoverSchema = z.strictObject({
  requirements: z.optional(z.array(z.enum(REQUIREMENTS))),
  rescue: z.optional(
    z.strictObject({
      enabled: z.optional(z.boolean()),
      maxPerRun: z.optional(z.int().check(z.gte(0, "must be between 0 and 10"), z.lte(10, "must be between 0 and 10"))),
    }),
  ),
});

const share = z.number().check(z.gte(0, "must be between 0 and 1"), z.lte(1, "must be between 0 and 1"));

const abSchema = z.strictObject({ candidate: text, share });

const learningSchema = z.strictObject({
  enabled: z.optional(z.boolean()),
  waitUsdPerMinute: z.optional(z.number().check(z.gte(0, "must be 0 or more"))),
  overTargetUsdPerMinute: z.optional(z.number().check(z.gte(0, "must be 0 or more"))),
  lightweightMinutes: z.optional(z.number().check(z.gte(0, "must be 0 or more"))),
  exploreShare: z.optional(share),
  minRuns: z.optional(z.int().check(z.gte(1, "must be at least 1"))),
});

const ruleSchema = z.strictObject({
  id: text,
  requirement: z.enum(["gpu", "docker", "lightweight"]),
  patterns: z.array(z.string()).check(z.minLength(1, "must list at least one pattern")),
});

const jobSchema = z.strictObject({
  paths: z
    .array(z.string())
    .check(
      z.minLength(1, "must list at least one pattern"),
      z.maxLength(JOB_LIMITS.patterns, `must list at most ${JOB_LIMITS.patterns} patterns`),
    ),
});

const deploySchema = z.strictObject({
  refs: z.array(z.strictObject({ ref: text, environment: text })),
  paths: z.array(z.string()),
});

const policyShape = {
  mode: z.optional(z.enum(MODES)),
  runners: z.optional(z.record(z.string(), runnerSchema)),
  rules: z.optional(z.array(ruleSchema)),
  deploy: z.optional(deploySchema),
  assign: z.optional(z.partialRecord(z.enum(REQUIREMENTS), text)),
  alerts: z.optional(alertsSchema),
  failover: z.optional(failoverSchema),
  ab: z.optional(z.record(z.string(), abSchema)),
  learning: z.optional(learningSchema),
  jobs: z.optional(z.record(z.string(), jobSchema)),
};

const policySchema = z.strictObject({
  ...policyShape,
  id: z.optional(z.int().check(z.gte(1, "must be a repository id (a positive integer)"))),
});
const configSchema = z.strictObject({
  ...policyShape,
  repositories: z.optional(z.record(z.string(), policySchema)),
  // Read on their own (dependenciesOf), so that one bad entry does not hide the others' problems.
  dependencies: z.optional(z.unknown()),
  dependencyDepth: z.optional(z.unknown()),
  // Read on its own (fairShareOf), after the policies it names classes of.
  fairShare: z.optional(z.unknown()),
  // Read on its own (checkRunOf): top level only, a check run is per commit, not per policy.
  checkRun: z.optional(z.unknown()),
});

/**
 * `dependencies`: cross-repository builds (core/dependencies.ts). Each entry: `from` (owner/name),
 * `refs` (1 to 16 globs over full refs), `paths` (1 to 64 globs, default every file),
 * `debounceSeconds` (0..3600, default 60), `to` (1 to 16 `{repository, workflow, ref}`).
 * `dependencyDepth` (1..5, default 3): hops a chain of dispatches may take.
 */
const dependencyTargetSchema = z.strictObject({
  repository: text,
  workflow: z.union([text, z.int().check(z.gte(1, "must be a workflow id (a positive integer)"))]),
  ref: text,
});
const dependencySchema = z.strictObject({
  from: text,
  refs: z
    .array(text)
    .check(
      z.minLength(1, "must list at least one ref"),
      z.maxLength(DEPENDENCY_LIMITS.refs, `must list at most ${DEPENDENCY_LIMITS.refs} refs`),
    ),
  paths: z.optional(
    z
      .array(text)
      .check(
        z.minLength(1, "must list at least one pattern (leave paths out for every file)"),
        z.maxLength(DEPENDENCY_LIMITS.paths, `must list at most ${DEPENDENCY_LIMITS.paths} patterns`),
      ),
  ),
  debounceSeconds: z.optional(
    z
      .int()
      .check(
        z.gte(0, `must be between 0 and ${DEPENDENCY_LIMITS.debounceSeconds}`),
        z.lte(DEPENDENCY_LIMITS.debounceSeconds, `must be between 0 and ${DEPENDENCY_LIMITS.debounceSeconds}`),
      ),
  ),
  to: z
    .array(dependencyTargetSchema)
    .check(
      z.minLength(1, "must name at least one target"),
      z.maxLength(DEPENDENCY_LIMITS.targets, `must name at most ${DEPENDENCY_LIMITS.targets} targets`),
    ),
});
const depthRange = `must be between ${DEPENDENCY_LIMITS.minDepth} and ${DEPENDENCY_LIMITS.maxDepth}`;
const dependencyDepthSchema = z
  .int()
  .check(z.gte(DEPENDENCY_LIMITS.minDepth, depthRange), z.lte(DEPENDENCY_LIMITS.maxDepth, depthRange));

/**
 * The configuration's dependency graph, every problem pushed with its path: each entry is read
 * on its own, and the entries that pass their schema are checked further (names, globs, loops).
 * Undefined when the configuration declares none.
 */
function dependenciesOf(raw: unknown, problems: string[]): DependencyGraph | undefined {
  if (!isRecord(raw) || (raw.dependencies === undefined && raw.dependencyDepth === undefined)) return undefined;
  let maxDepth = DEFAULT_DEPENDENCY_DEPTH;
  if (raw.dependencyDepth !== undefined) {
    const depth = dependencyDepthSchema.safeParse(raw.dependencyDepth, PARSE_OPTIONS);
    if (depth.success) maxDepth = depth.data;
    else
      problems.push(
        ...depth.error.issues.map((issue) => `${formatPath(["dependencyDepth", ...issue.path])}: ${issue.message}`),
      );
  }
  const list = raw.dependencies ?? [];
  if (!Array.isArray(list)) {
    problems.push("dependencies: must be a list of dependencies");
    return { dependencies: [], maxDepth };
  }
  if (list.length > DEPENDENCY_LIMITS.dependencies) {
    problems.push(`dependencies: lists ${list.length} dependencies, at most ${DEPENDENCY_LIMITS.dependencies}`);
  }
  const read: [number, DependencyInput][] = [];
  list.forEach((entry: unknown, i) => {
    const parsed = dependencySchema.safeParse(entry, PARSE_OPTIONS);
    if (parsed.success) read.push([i, parsed.data]);
    else {
      problems.push(
        ...parsed.error.issues.map((issue) => `${formatPath(["dependencies", i, ...issue.path])}: ${issue.message}`),
      );
      const salvaged = salvageDependency(entry);
      if (salvaged !== null) read.push([i, salvaged]);
    }
  });
  return resolveDependencies(read, maxDepth, problems);
}

/** What can still be checked of an entry the schema refused: its valid fields, each target that is valid in its place. */
function salvageDependency(raw: unknown): DependencyInput | null {
  if (!isRecord(raw)) return null;
  const valid = validFields(dependencySchema.shape, raw);
  const to = Array.isArray(raw.to) ? raw.to.map((t: unknown) => dependencyTargetSchema.safeParse(t).data ?? null) : [];
  return { from: valid.from ?? null, refs: valid.refs ?? [], paths: valid.paths, to, refused: true };
}

export type PolicyInput = z.infer<typeof policySchema>;
export type RoutingConfigInput = z.infer<typeof configSchema>;

/** Thrown with every problem found in a configuration, one per line. */
export class RoutingConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    const n = problems.length;
    super(`invalid routing config (${n} problem${n === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "RoutingConfigError";
    this.problems = problems;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || "(root)";
}

/**
 * Validates a routing configuration and resolves it against the defaults, reporting every
 * problem at once. Used by the Worker at start, by `infra/` before anything deploys, and by
 * the explain command.
 */
export function parseRoutingConfig(input: unknown = {}): RoutingConfig {
  const raw = input ?? {};
  const parsed = configSchema.safeParse(raw, PARSE_OPTIONS);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  problems.push(...reservedKeys(raw, []));
  // Schema problems do not stop the checks below: they run on the parts that are valid, so that
  // one run reports every problem.
  const { repositories = {}, ...top } = parsed.success ? parsed.data : salvageConfig(raw);
  const defaults = resolvePolicy(DEFAULT_POLICY, top, "", problems);
  const topLevel = new Set(problems);
  const byRepo = dict<RoutingPolicy>();
  const ids = dict<number>();
  const spelled = dict<string>();
  for (const [name, { id, ...override }] of Object.entries(repositories)) {
    const where = `repositories[${JSON.stringify(name)}].`;
    if (!REPOSITORY.test(name) && !OWNER_WILDCARD.test(name)) {
      problems.push(`${where.slice(0, -1)}: must be "owner/name", or "owner/*" for every repository of an owner`);
      continue;
    }
    if (id !== undefined && OWNER_WILDCARD.test(name)) {
      problems.push(`${where}id: an "owner/*" entry stands for many repositories and takes no id`);
    }
    const key = name.toLowerCase();
    const earlier = spelled[key];
    if (earlier !== undefined) {
      problems.push(
        `${where.slice(0, -1)}: the same repository as repositories[${JSON.stringify(earlier)}] (names are case-insensitive)`,
      );
      continue;
    }
    spelled[key] = name;
    if (id !== undefined) ids[key] = id;
    // A problem the repository inherits from the top level is reported once, at the top level.
    const own: string[] = [];
    byRepo[key] = resolvePolicy(defaults, override, where, own);
    problems.push(...own.filter((problem) => !topLevel.has(problem.slice(where.length))));
  }
  const dependencies = dependenciesOf(raw, problems);
  const fairShare = fairShareOf(raw, [defaults, ...Object.values(byRepo)], problems);
  if (fairShare !== undefined) for (const policy of [defaults, ...Object.values(byRepo)]) policy.fairShare = fairShare;
  const checkRun = checkRunOf(raw, problems);
  if (problems.length > 0) throw new RoutingConfigError([...new Set(problems)]);
  return {
    defaults,
    repositories: byRepo,
    ids,
    ...(dependencies === undefined ? {} : { dependencies }),
    ...(checkRun === undefined ? {} : { checkRun }),
  };
}

/**
 * `__proto__` as a key: JSON gives it as an own key, but a schema's output object would take it
 * as its prototype, so it is refused by name wherever it appears.
 */
function reservedKeys(raw: unknown, path: PropertyKey[]): string[] {
  if (path.length > 8) return [];
  if (Array.isArray(raw)) return raw.flatMap((item, i) => reservedKeys(item, [...path, i]));
  if (!isRecord(raw)) return [];
  return Object.keys(raw).flatMap((key) =>
    key === "__proto__"
      ? [`${formatPath([...path, key])}: "__proto__" is not a usable name`]
      : reservedKeys(raw[key], [...path, key]),
  );
}

/** The fields of `raw` that pass their own schema; the others are left out. */
function validFields<S extends Record<string, z.ZodMiniType>>(
  shape: S,
  raw: unknown,
): { [K in keyof S]?: z.infer<S[K]> } {
  const out: { [K in keyof S]?: z.infer<S[K]> } = {};
  if (!isRecord(raw)) return out;
  for (const key of Object.keys(shape) as (keyof S & string)[]) {
    const field = shape[key]?.safeParse(raw[key]);
    if (field?.success && field.data !== undefined) out[key] = field.data as z.infer<S[typeof key]>;
  }
  return out;
}

/** What can still be checked in a policy the schema rejected: its valid parts, item by item. */
function salvagePolicy(raw: unknown): PolicyInput {
  const policy: PolicyInput = validFields(policyShape, raw);
  if (!isRecord(raw)) return policy;
  if (policy.runners === undefined && isRecord(raw.runners)) {
    policy.runners = Object.fromEntries(
      Object.entries(raw.runners).map(([id, runner]) => [id, validFields(runnerSchema.shape, runner)]),
    );
  }
  if (policy.rules === undefined && Array.isArray(raw.rules)) {
    // Index for index, so that the problems found below name the rule as written.
    policy.rules = raw.rules.map((rule: unknown) => {
      const valid = validFields(ruleSchema.shape, rule);
      return { id: valid.id ?? "", requirement: valid.requirement ?? "lightweight", patterns: valid.patterns ?? [] };
    });
  }
  if (policy.deploy === undefined && isRecord(raw.deploy)) {
    const valid = validFields(deploySchema.shape, raw.deploy);
    policy.deploy = { refs: valid.refs ?? [], paths: valid.paths ?? [] };
  }
  if (policy.ab === undefined && isRecord(raw.ab)) {
    // The valid tests only, so that their runner ids are still checked.
    policy.ab = Object.fromEntries(
      Object.entries(raw.ab).flatMap(([id, test]) => {
        const valid = abSchema.safeParse(test);
        return valid.success ? [[id, valid.data]] : [];
      }),
    );
  }
  if (policy.jobs === undefined && isRecord(raw.jobs)) {
    // Every job, so that its name is still checked; its patterns when they are all text.
    policy.jobs = Object.fromEntries(
      Object.entries(raw.jobs).map(([name, job]) => {
        const paths = isRecord(job) && Array.isArray(job.paths) ? job.paths : [];
        return [name, { paths: paths.every((p: unknown) => typeof p === "string") ? (paths as string[]) : [] }];
      }),
    );
  }
  if (policy.assign === undefined && isRecord(raw.assign)) {
    policy.assign = Object.fromEntries(
      Object.entries(raw.assign).filter(
        ([requirement, id]) => (REQUIREMENTS as readonly string[]).includes(requirement) && text.safeParse(id).success,
      ),
    );
  }
  return policy;
}

function salvageConfig(raw: unknown): RoutingConfigInput {
  const repositories = isRecord(raw) && isRecord(raw.repositories) ? raw.repositories : {};
  return {
    ...salvagePolicy(raw),
    repositories: Object.fromEntries(Object.entries(repositories).map(([name, p]) => [name, salvagePolicy(p)])),
  };
}

/** Every policy a configuration holds: the defaults, then each repository's. */
export function allPolicies(config: RoutingConfig): RoutingPolicy[] {
  return [config.defaults, ...Object.values(config.repositories)];
}

/**
 * The entry of `repositories` that names `repository` (`owner/name`, any case): its own, else
 * its owner's `owner/*`; undefined when neither is listed.
 */
export function repositoryEntry(config: RoutingConfig, repository: string): string | undefined {
  return repositoryKey(config.repositories, repository);
}

/** The policy that applies to `repository` (`owner/name`, any case): its entry's, else the defaults. */
export function policyFor(config: RoutingConfig, repository: string): RoutingPolicy {
  const entry = repositoryEntry(config, repository);
  return (entry === undefined ? undefined : config.repositories[entry]) ?? config.defaults;
}

function resolvePolicy(base: RoutingPolicy, input: PolicyInput, where: string, problems: string[]): RoutingPolicy {
  const runners = dict(Object.entries(base.runners));
  for (const [id, override] of Object.entries(input.runners ?? {})) {
    const known = runners[id];
    if (known === undefined && (override.kind === undefined || override.runsOn === undefined)) {
      problems.push(`${where}runners.${id}: a new runner needs "kind" and "runsOn"`);
      continue;
    }
    const kind = override.kind ?? known?.kind ?? "self-hosted";
    const runsOn = override.runsOn ?? known?.runsOn ?? [];
    let cost = override.cost ?? known?.cost ?? { monthlyUsd: 0 };
    if (
      override.cost === undefined &&
      kind === "github-hosted" &&
      (known === undefined || override.runsOn !== undefined)
    ) {
      // A GitHub-hosted class is priced by its labels, as GitHub bills it, unless its cost is given.
      const price = hostedPrice(runsOn);
      if (price === null) {
        problems.push(
          `${where}runners.${id}.cost: GitHub's price for ${JSON.stringify(runsOn)} is not known (a larger runner?): set cost`,
        );
      } else cost = { perMinuteUsd: price };
    }
    const runner: Runner = {
      id,
      kind,
      runsOn,
      fallback: override.fallback === undefined ? (known?.fallback ?? null) : override.fallback,
      capacity: override.capacity ?? known?.capacity ?? 1,
      cost,
    };
    // Left out when not configured, so that a runner without them keeps its plain shape.
    const machines = override.machines === undefined ? known?.machines : resolveMachines(override.machines);
    if (machines !== undefined) runner.machines = machines;
    const queueTargetSeconds = override.queueTargetSeconds ?? known?.queueTargetSeconds;
    if (queueTargetSeconds !== undefined) runner.queueTargetSeconds = queueTargetSeconds;
    const warm = override.warm === undefined ? known?.warm : (override.warm ?? undefined);
    if (warm !== undefined) runner.warm = warm;
    runners[id] = runner;
  }
  const policy: RoutingPolicy = {
    mode: input.mode ?? base.mode,
    rules: input.rules ?? base.rules,
    deploy: input.deploy ?? base.deploy,
    runners,
    assign: { ...base.assign, ...input.assign },
    alerts: {
      enabled: input.alerts?.enabled === undefined ? base.alerts.enabled : resolveAlerts(input.alerts).enabled,
      queuedTooLongSeconds: input.alerts?.queuedTooLongSeconds ?? base.alerts.queuedTooLongSeconds,
    },
    failover: resolveFailover(base.failover, input.failover),
    ab: dict([...Object.entries(base.ab), ...Object.entries(input.ab ?? {})]),
  };
  // Left out when not configured, so that a policy without it keeps its plain shape.
  const learning = resolveLearning(base.learning, input.learning);
  if (learning !== undefined) policy.learning = learning;
  const jobs = resolveJobs(base.jobs, input.jobs);
  if (jobs !== undefined) policy.jobs = jobs;
  checkPolicy(policy, base, where, problems);
  return policy;
}

/** The learning settings: the input's fields over the base's; `enabled` false unless one of them says true. */
function resolveLearning(base: LearningPolicy | undefined, input: PolicyInput["learning"]): LearningPolicy | undefined {
  if (input === undefined) return base;
  return { ...base, ...input, enabled: input.enabled ?? base?.enabled ?? false };
}

/**
 * The job filters: the input's jobs over the base's, by name (a job given replaces the base's of
 * its name whole). Undefined when there are none, so that a policy without jobs keeps its plain
 * shape; the base's own map when the input adds none, so that its compiled filters are shared.
 */
function resolveJobs(
  base: Record<string, JobFilter> | undefined,
  input: PolicyInput["jobs"],
): Record<string, JobFilter> | undefined {
  if (input === undefined || Object.keys(input).length === 0) return base;
  const own = Object.entries(input).map(([name, job]): [string, JobFilter] => [name, { paths: [...job.paths] }]);
  return dict([...Object.entries(base ?? {}), ...own]);
}

function resolveMachines(input: Record<string, { capacity?: number; labels?: string[] }>): Record<string, Machine> {
  return dict(Object.entries(input).map(([name, m]) => [name, { capacity: m.capacity ?? 1, labels: m.labels ?? [] }]));
}

function resolveFailover(base: FailoverPolicy, input: PolicyInput["failover"]): FailoverPolicy {
  const requirements = input?.requirements;
  return {
    // In the decision tree's order, each once.
    requirements: requirements === undefined ? base.requirements : REQUIREMENTS.filter((r) => requirements.includes(r)),
    rescue: {
      enabled: input?.rescue?.enabled ?? base.rescue.enabled,
      maxPerRun: input?.rescue?.maxPerRun ?? base.rescue.maxPerRun,
    },
  };
}

/** Checks `policy`; its rules and deploy policy only when they are not `base`'s, already checked. */
function checkPolicy(policy: RoutingPolicy, base: RoutingPolicy, where: string, problems: string[]): void {
  const seen = new Set<string>();
  const rules = policy.rules === base.rules ? [] : policy.rules;
  rules.forEach((rule: Rule, i) => {
    if (rule.id !== "" && seen.has(rule.id))
      problems.push(`${where}rules[${i}].id: "${rule.id}" is used by an earlier rule`);
    seen.add(rule.id);
    rule.patterns.forEach((pattern, j) => {
      const problem = globProblem(pattern);
      if (problem) problems.push(`${where}rules[${i}].patterns[${j}]: "${pattern}" ${problem}`);
    });
  });
  const deploy = policy.deploy === base.deploy ? { paths: [], refs: [] } : policy.deploy;
  deploy.paths.forEach((pattern, j) => {
    const problem = globProblem(pattern);
    if (problem) problems.push(`${where}deploy.paths[${j}]: "${pattern}" ${problem}`);
  });
  deploy.refs.forEach(({ ref }, j) => {
    if (!ref.startsWith("refs/"))
      problems.push(`${where}deploy.refs[${j}].ref: "${ref}" must be a full ref starting with "refs/"`);
  });

  for (const requirement of REQUIREMENTS) {
    const id = policy.assign[requirement as Requirement];
    if (policy.runners[id] === undefined) problems.push(`${where}assign.${requirement}: unknown runner "${id}"`);
  }
  // Every runner's chain is walked; a problem several chains reach is reported once.
  const reported = new Set<string>();
  const report = (key: string, problem: string) => {
    if (!reported.has(key)) problems.push(problem);
    reported.add(key);
  };
  for (const runner of Object.values(policy.runners)) {
    const { chain, end } = fallbackChain(policy, runner);
    const ids = [runner.id, ...chain.map((r) => r.id)];
    if (end.kind === "unknown") {
      report(`${ids.at(-1)}\n${end.id}`, `${where}runners.${ids.at(-1)}.fallback: unknown runner "${end.id}"`);
    } else if (end.kind === "cycle") {
      // Named from the runner where this walk entered it.
      const cycle = ids.slice(ids.indexOf(end.id));
      report(
        [...cycle].sort().join("\n"),
        `${where}runners.${end.id}.fallback: cycle ${[...cycle, end.id].join(" → ")}`,
      );
    }
  }
  const owners = new Map<string, string>();
  for (const runner of Object.values(policy.runners)) {
    const names = Object.keys(runner.machines ?? {});
    if (names.length > 0 && runner.kind === "github-hosted") {
      problems.push(`${where}runners.${runner.id}.machines: a github-hosted runner has no machines of ours to list`);
    }
    for (const problem of warmHookProblems(runner)) problems.push(`${where}runners.${runner.id}.${problem}`);
    for (const name of names) {
      const owner = owners.get(name);
      if (owner !== undefined) {
        problems.push(`${where}runners.${runner.id}.machines.${name}: already listed under runners.${owner}`);
      } else owners.set(name, runner.id);
    }
  }
  for (const [id, test] of Object.entries(policy.ab)) {
    if (policy.runners[id] === undefined) problems.push(`${where}ab.${id}: unknown runner "${id}"`);
    if (policy.runners[test.candidate] === undefined) {
      problems.push(`${where}ab.${id}.candidate: unknown runner "${test.candidate}"`);
    } else if (test.candidate === id) {
      problems.push(`${where}ab.${id}.candidate: must differ from the class it is tested against`);
    }
  }
  checkJobs(policy, base, where, problems);
  const defaultRunner = policy.runners[policy.assign.default];
  if (policy.mode === "self-hosted-only" && defaultRunner?.kind === "github-hosted") {
    problems.push(`${where}mode: "self-hosted-only" needs assign.default to be a self-hosted runner`);
  }
  if (policy.mode === "cloudflare-only" && hostedRunner(policy) === undefined) {
    problems.push(`${where}mode: "cloudflare-only" needs a runner of kind "github-hosted"`);
  }
}

/**
 * Checks the job filters `policy` declares itself (a job it inherits from `base` was checked
 * there): how many there are, each name, each pattern under the glob cost bound, and that a
 * filter includes something.
 */
function checkJobs(policy: RoutingPolicy, base: RoutingPolicy, where: string, problems: string[]): void {
  const jobs = policy.jobs ?? {};
  const names = Object.keys(jobs);
  if (names.length > JOB_LIMITS.jobs) {
    problems.push(`${where}jobs: declares ${names.length} jobs, at most ${JOB_LIMITS.jobs}`);
  }
  for (const name of names) {
    const job = jobs[name];
    if (job === undefined || (base.jobs !== undefined && Object.hasOwn(base.jobs, name) && base.jobs[name] === job)) {
      continue;
    }
    const at = `${where}${formatPath(["jobs", name])}`;
    if (!JOB_NAME.test(name)) {
      problems.push(`${at}: a job name is 1 to 64 of A-Z, a-z, 0-9, _ and - (it names the output run-<job>)`);
    }
    job.paths.forEach((pattern, j) => {
      const problem = jobPatternProblem(pattern);
      if (problem) problems.push(`${at}.paths[${j}]: "${pattern}" ${problem}`);
    });
    if (job.paths.length > 0 && job.paths.every(isExclusion)) {
      problems.push(`${at}.paths: every pattern starts with '!': with nothing included, no file ever counts`);
    }
  }
}

/** The GitHub-hosted runner `cloudflare-only` mode sends everything to. */
export function hostedRunner(policy: RoutingPolicy): Runner | undefined {
  const assigned = policy.runners[policy.assign.lightweight];
  if (assigned?.kind === "github-hosted") return assigned;
  return Object.values(policy.runners).find((r) => r.kind === "github-hosted");
}

/**
 * `checkRun` (top level only): `{"name": "…"}`, the name of the check run each routed commit gets
 * in GitHub App mode (1 to 100 printable characters, default `ci-router`), or `false` for none.
 */
const checkRunSchema = z.strictObject({
  name: z.optional(
    z
      .string()
      .check(
        z.regex(
          CHECK_RUN_NAME,
          "must be 1 to 100 printable characters (no control characters or line breaks, not only spaces)",
        ),
      ),
  ),
});

/**
 * The configuration's check-run setting, every problem pushed with its path; undefined when the
 * configuration has no `checkRun` (or a wrong one, already reported).
 */
function checkRunOf(raw: unknown, problems: string[]): CheckRunConfig | undefined {
  if (!isRecord(raw) || raw.checkRun === undefined) return undefined;
  const written = raw.checkRun;
  if (written === false) return false;
  if (!isRecord(written)) {
    problems.push('checkRun: must be {"name": "…"} for a check run of that name, or false for none');
    return undefined;
  }
  const parsed = checkRunSchema.safeParse(written, PARSE_OPTIONS);
  if (!parsed.success) {
    problems.push(
      ...parsed.error.issues.map((issue) => `${formatPath(["checkRun", ...issue.path])}: ${issue.message}`),
    );
    return undefined;
  }
  return { name: parsed.data.name ?? DEFAULT_CHECK_RUN_NAME };
}

/**
 * `fairShare` (top level only: shares are across repositories): `enabled` (default false),
 * `weights` per `owner/name` or `owner/*` (more than 0, default 1), `caps` per class id, per
 * `owner/name` or `owner/*` (an integer, 0 or more; a class of ours, not GitHub's), `priority`
 * `{deployRefs, defaultBranch}` (both default true), `maxWaitSeconds` (0..86400, default 120).
 */
const weightValue = z.number().check(z.gt(0, "must be more than 0"));
const capValue = z.int().check(z.gte(0, "must be 0 or more"));
const fairShareSchema = z.strictObject({
  enabled: z.optional(z.boolean()),
  weights: z.optional(z.record(z.string(), weightValue)),
  caps: z.optional(z.record(z.string(), z.record(z.string(), capValue))),
  priority: z.optional(z.strictObject({ deployRefs: z.optional(z.boolean()), defaultBranch: z.optional(z.boolean()) })),
  maxWaitSeconds: z.optional(
    z
      .int()
      .check(z.gte(0, "must be between 0 and 86400 (seconds)"), z.lte(86400, "must be between 0 and 86400 (seconds)")),
  ),
});

/**
 * The configuration's fair shares, every problem pushed with its path: the schema's, then the
 * repository keys of `weights` and of each class's `caps` as written (shape, one spelling per
 * repository), and each capped class known to one of `policies` and self-hosted. Undefined when
 * the configuration has no `fairShare`.
 */
function fairShareOf(
  raw: unknown,
  policies: readonly RoutingPolicy[],
  problems: string[],
): FairSharePolicy | undefined {
  if (!isRecord(raw) || raw.fairShare === undefined) return undefined;
  const parsed = fairShareSchema.safeParse(raw.fairShare, PARSE_OPTIONS);
  if (!parsed.success) {
    problems.push(
      ...parsed.error.issues.map((issue) => `${formatPath(["fairShare", ...issue.path])}: ${issue.message}`),
    );
  }
  const input = parsed.success ? parsed.data : validFields(fairShareSchema.shape, raw.fairShare);
  const written = isRecord(raw.fairShare) ? raw.fairShare : {};
  const caps = dict<Record<string, number>>();
  for (const [id, byRepository] of Object.entries(isRecord(written.caps) ? written.caps : {})) {
    const at = formatPath(["fairShare", "caps", id]);
    const runner = policies.map((p) => (Object.hasOwn(p.runners, id) ? p.runners[id] : undefined)).find(Boolean);
    if (runner === undefined) problems.push(`${at}: unknown runner "${id}"`);
    else if (runner.kind === "github-hosted")
      problems.push(`${at}: a github-hosted class is not shared: it takes no cap`);
    caps[id] = byRepositoryOf(byRepository, ["fairShare", "caps", id], capValue, problems);
  }
  return {
    enabled: input.enabled ?? DEFAULT_FAIR_SHARE.enabled,
    weights: byRepositoryOf(written.weights, ["fairShare", "weights"], weightValue, problems),
    caps,
    priority: { ...DEFAULT_FAIR_SHARE.priority, ...input.priority },
    maxWaitSeconds: input.maxWaitSeconds ?? DEFAULT_FAIR_SHARE.maxWaitSeconds,
  };
}

/**
 * A map by repository as written, its keys checked (`owner/name` or `owner/*`, one spelling
 * each) and lower-cased; an entry whose value fails `value` (already reported) is left out.
 */
function byRepositoryOf(
  map: unknown,
  path: readonly string[],
  value: z.ZodMiniType<number>,
  problems: string[],
): Record<string, number> {
  const out = dict<number>();
  const spelled = dict<string>();
  for (const [name, n] of Object.entries(isRecord(map) ? map : {})) {
    const at = formatPath([...path, name]);
    if (!REPOSITORY.test(name) && !OWNER_WILDCARD.test(name)) {
      problems.push(`${at}: must be "owner/name", or "owner/*" for every repository of an owner`);
      continue;
    }
    const key = name.toLowerCase();
    const earlier = spelled[key];
    if (earlier !== undefined) {
      problems.push(`${at}: the same repository as ${formatPath([...path, earlier])} (names are case-insensitive)`);
      continue;
    }
    spelled[key] = name;
    const read = value.safeParse(n);
    if (read.success) out[key] = read.data;
  }
  return out;
}

import {
  isOwner,
  isRepository,
  MODES,
  type Mode,
  type PolicyInput,
  parseRoutingConfig,
  type RoutingConfig,
  RoutingConfigError,
  type RoutingConfigInput,
} from "../worker/src/core/index.ts";

/**
 * The stack configuration: the one interface of the Pulumi program. Every key lives in the
 * project's namespace (`pulumi config set <key> <value>` inside this project). This module is
 * pure: raw config values in, validated settings out, or one error listing every problem.
 */
export const CONFIG_KEYS = {
  cloudflareAccountId: "Cloudflare account id (32 hex characters); required",
  workersSubdomain: 'the account\'s workers.dev subdomain ("acme" for acme.workers.dev); required without customDomain',
  customDomain: "optional {hostname, zoneId}: serve the router on a Custom Domain instead of workers.dev",
  workerName: 'optional base name of the Worker; the stack name is appended (default "pmoves-ci-orchestrator")',
  githubOwner: "GitHub organization (or user) that owns every onboarded repository; required",
  mode: `optional RUNNER_DISPATCH_MODE: ${MODES.join(" | ")} (default from the core: hybrid)`,
  routing: "optional routing config, the same shape as ROUTING_CONFIG (runners, rules, deploy, assign)",
  repositories: 'map of onboarded repositories: "owner/name" → per-repository routing overrides ({} for none)',
  runnerGroups: "optional boolean (default true): manage one self-hosted runner group per runner class",
  webhookSecretGeneration: "integer ≥ 1 (default 1); bump by one to rotate the webhook secret",
  apiTokenGeneration: "integer ≥ 1 (default 1); bump by one to rotate the API token",
  githubToken: "optional secret: token the Worker uses to read pull-request file lists (set with --secret)",
  discordWebhookUrl: "optional secret: Discord webhook for build alerts (set with --secret)",
  runnersOwner:
    "optional GitHub organization whose self-hosted runners a Cron Trigger reconciles every minute (needs githubToken)",
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Keys whose values are secrets: the program reads them with `getSecret`, never from here. */
export const SECRET_KEYS = ["githubToken", "discordWebhookUrl"] as const satisfies readonly ConfigKey[];

export const DEFAULT_WORKER_NAME = "pmoves-ci-orchestrator";

export interface RepositorySettings {
  /** `owner/name` as configured. */
  fullName: string;
  owner: string;
  name: string;
  /** Lower-cased `owner-name`: the stable part of every per-repository resource name. */
  slug: string;
  /** The self-hosted runner classes this repository's policy can send a job to. */
  runners: string[];
}

export interface RunnerClass {
  id: string;
  kind: "self-hosted" | "github-hosted";
  runsOn: string[];
  /** The organization runner group for a self-hosted class, when runner groups are managed. */
  group: string | null;
  /** Onboarded repositories that may use this class, sorted. */
  repositories: string[];
}

export interface StackSettings {
  stack: string;
  cloudflareAccountId: string;
  /** Null when a custom domain serves the router. */
  workersSubdomain: string | null;
  customDomain: { hostname: string; zoneId: string } | null;
  /** `<workerName>-<stack>`: the Worker script, and the workers.dev host label. */
  scriptName: string;
  kvTitle: string;
  githubOwner: string;
  /** The organization whose self-hosted runners are reconciled (GITHUB_RUNNERS_OWNER); null: no Cron Trigger. */
  runnersOwner: string | null;
  mode: Mode;
  /** What the Worker receives as ROUTING_CONFIG: the stack's routing input, overrides included. */
  routingInput: RoutingConfigInput;
  /** The same input resolved by the core parser (mode applied). */
  routing: RoutingConfig;
  /** Sorted by slug. */
  repositories: RepositorySettings[];
  runnerClasses: RunnerClass[];
  runnerGroups: boolean;
  webhookSecretGeneration: number;
  apiTokenGeneration: number;
  /** Which optional secrets are set; their values are read by the program as secrets. */
  optionalSecrets: { githubToken: boolean; discordWebhookUrl: boolean };
  /** `https://<host>`: the router's public base URL. */
  baseUrl: string;
  webhookUrl: string;
}

/** Thrown once with every problem found in a stack's config. */
export class StackConfigError extends Error {
  readonly problems: readonly string[];
  constructor(stack: string, problems: readonly string[]) {
    const n = problems.length;
    super(
      `stack "${stack}" has ${n} config problem${n === 1 ? "" : "s"} (nothing was deployed):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "StackConfigError";
    this.problems = problems;
  }
}

const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** Keys of the routing config that the stack config sets through its own keys. */
const ROUTING_KEYS_SET_ELSEWHERE = { mode: "mode", repositories: "repositories" } as const;

type Raw = Readonly<Record<string, string | undefined>>;

/**
 * Validates a stack's config and derives everything the program builds from it.
 *
 * @param raw the project's config as Pulumi holds it: bare key → string (objects as JSON text).
 * @param stack the stack name, appended to every name that must differ between stacks.
 * @throws StackConfigError listing every problem, routing-rule problems from the core parser included.
 */
export function parseStackConfig(raw: Raw, stack: string): StackSettings {
  const problems: string[] = [];
  const value = (key: ConfigKey): string | undefined => {
    const v = raw[key];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };

  for (const key of Object.keys(raw).sort()) {
    if (!(key in CONFIG_KEYS)) {
      problems.push(`${key}: unknown key (known keys: ${Object.keys(CONFIG_KEYS).join(", ")})`);
    }
  }

  const cloudflareAccountId = value("cloudflareAccountId");
  if (cloudflareAccountId === undefined)
    problems.push(`cloudflareAccountId: required (${CONFIG_KEYS.cloudflareAccountId})`);
  else if (!ACCOUNT_ID.test(cloudflareAccountId))
    problems.push(`cloudflareAccountId: must be 32 lower-case hex characters (got "${cloudflareAccountId}")`);

  const customDomain = parseCustomDomain(value("customDomain"), problems);
  const workersSubdomain = value("workersSubdomain") ?? null;
  if (workersSubdomain === null && customDomain === null) {
    problems.push(`workersSubdomain: required unless customDomain is set (${CONFIG_KEYS.workersSubdomain})`);
  } else if (workersSubdomain !== null && !DNS_LABEL.test(workersSubdomain)) {
    problems.push(
      `workersSubdomain: must be one lower-case DNS label, without ".workers.dev" (got "${workersSubdomain}")`,
    );
  }

  const workerName = value("workerName") ?? DEFAULT_WORKER_NAME;
  const scriptName = `${workerName}-${stack}`;
  if (!DNS_LABEL.test(scriptName)) {
    problems.push(
      `workerName: "${workerName}" plus the stack name ("${scriptName}") must be one lower-case DNS label of at most 63 characters`,
    );
  }

  const githubOwner = value("githubOwner");
  if (githubOwner === undefined) problems.push(`githubOwner: required (${CONFIG_KEYS.githubOwner})`);
  else if (!isOwner(githubOwner)) problems.push(`githubOwner: not a GitHub account name (got "${githubOwner}")`);

  const runnersOwner = value("runnersOwner") ?? null;
  if (runnersOwner !== null && !isOwner(runnersOwner))
    problems.push(`runnersOwner: not a GitHub organization name (got "${runnersOwner}")`);

  const modeText = value("mode");
  let mode: Mode | undefined;
  if (modeText !== undefined) {
    if ((MODES as readonly string[]).includes(modeText)) mode = modeText as Mode;
    else problems.push(`mode: must be one of ${MODES.join(", ")} (got "${modeText}")`);
  }

  const routing = parseObject("routing", value("routing"), problems) ?? {};
  for (const [key, instead] of Object.entries(ROUTING_KEYS_SET_ELSEWHERE)) {
    if (key in routing) problems.push(`routing.${key}: set it with the stack's own "${instead}" key`);
  }

  const repositories = parseRepositories(value("repositories"), githubOwner, problems);
  const runnerGroups = parseBoolean("runnerGroups", value("runnerGroups"), true, problems);
  const webhookSecretGeneration = parseGeneration(
    "webhookSecretGeneration",
    value("webhookSecretGeneration"),
    problems,
  );
  const apiTokenGeneration = parseGeneration("apiTokenGeneration", value("apiTokenGeneration"), problems);

  const discordWebhookUrl = value("discordWebhookUrl");
  if (discordWebhookUrl !== undefined && !discordWebhookUrl.startsWith("https://")) {
    // The value is a secret: name the key, never echo it.
    problems.push("discordWebhookUrl: must be an https:// URL");
  }

  // ROUTING_CONFIG carries the routing keys and the overrides of repositories that have any; the
  // mode travels as RUNNER_DISPATCH_MODE. A repository onboarded with {} leaves it unchanged.
  const { mode: _mode, repositories: _repositories, ...routingKeys } = routing;
  const overrides = Object.fromEntries(
    repositories.filter((r) => Object.keys(r.override).length > 0).map((r) => [r.fullName, r.override]),
  );
  const routingInput = {
    ...routingKeys,
    ...(Object.keys(overrides).length > 0 ? { repositories: overrides } : {}),
  } as RoutingConfigInput;

  let resolved: RoutingConfig | null = null;
  try {
    resolved = parseRoutingConfig(mode === undefined ? routingInput : { ...routingInput, mode });
  } catch (error) {
    if (!(error instanceof RoutingConfigError)) throw error;
    problems.push(...error.problems.map(routingProblem));
  }

  if (
    problems.length > 0 ||
    resolved === null ||
    cloudflareAccountId === undefined ||
    githubOwner === undefined ||
    (workersSubdomain === null && customDomain === null)
  ) {
    throw new StackConfigError(stack, problems);
  }

  const host = customDomain?.hostname ?? `${scriptName}.${workersSubdomain}.workers.dev`;
  const baseUrl = `https://${host}`;
  const repositorySettings = repositories.map(({ fullName, owner, name, slug }) => ({
    fullName,
    owner,
    name,
    slug,
    runners: reachableSelfHosted(resolved, fullName),
  }));
  return {
    stack,
    cloudflareAccountId,
    workersSubdomain: customDomain === null ? workersSubdomain : null,
    customDomain,
    scriptName,
    kvTitle: `${scriptName}-build-state`,
    githubOwner,
    runnersOwner,
    mode: resolved.defaults.mode,
    routingInput,
    routing: resolved,
    repositories: repositorySettings,
    runnerClasses: runnerClasses(resolved, repositorySettings, runnerGroups ? scriptName : null),
    runnerGroups,
    webhookSecretGeneration,
    apiTokenGeneration,
    optionalSecrets: {
      githubToken: value("githubToken") !== undefined,
      discordWebhookUrl: discordWebhookUrl !== undefined,
    },
    baseUrl,
    webhookUrl: `${baseUrl}/webhook/github`,
  };
}

/** Places a core-parser problem under the stack key it came from, keeping the parser's words. */
function routingProblem(problem: string): string {
  return problem.startsWith("repositories[") || problem.startsWith("mode:") ? problem : `routing.${problem}`;
}

function parseObject(key: ConfigKey, text: string | undefined, problems: string[]): Record<string, unknown> | null {
  if (text === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push(`${key}: must be an object (a YAML map in Pulumi.<stack>.yaml, or JSON text)`);
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    problems.push(`${key}: must be an object (a YAML map in Pulumi.<stack>.yaml, or JSON text)`);
    return null;
  }
  return parsed as Record<string, unknown>;
}

function parseCustomDomain(text: string | undefined, problems: string[]): StackSettings["customDomain"] {
  const object = parseObject("customDomain", text, problems);
  if (object === null) return null;
  const { hostname, zoneId, ...rest } = object;
  const before = problems.length;
  for (const key of Object.keys(rest)) problems.push(`customDomain.${key}: unknown key (expected hostname, zoneId)`);
  if (typeof hostname !== "string" || !HOSTNAME.test(hostname))
    problems.push("customDomain.hostname: must be a lower-case host name, e.g. ci.example.com");
  if (typeof zoneId !== "string" || !ACCOUNT_ID.test(zoneId))
    problems.push("customDomain.zoneId: must be the zone id (32 lower-case hex characters)");
  return problems.length === before ? { hostname: hostname as string, zoneId: zoneId as string } : null;
}

interface RepositoryEntry {
  fullName: string;
  owner: string;
  name: string;
  slug: string;
  override: PolicyInput;
}

function parseRepositories(text: string | undefined, githubOwner: string | undefined, problems: string[]) {
  const object = parseObject("repositories", text, problems) ?? {};
  const entries: RepositoryEntry[] = [];
  const seen = new Map<string, string>();
  for (const [fullName, override] of Object.entries(object)) {
    const where = `repositories[${JSON.stringify(fullName)}]`;
    if (!isRepository(fullName)) {
      problems.push(`${where}: must be "owner/name"`);
      continue;
    }
    const [owner = "", name = ""] = fullName.split("/");
    if (githubOwner !== undefined && owner.toLowerCase() !== githubOwner.toLowerCase()) {
      problems.push(`${where}: belongs to "${owner}", but this stack's githubOwner is "${githubOwner}"`);
    }
    const slug = `${owner}-${name}`.toLowerCase();
    const earlier = seen.get(fullName.toLowerCase());
    if (earlier !== undefined) {
      problems.push(`${where}: listed twice (also as "${earlier}"; names are case-insensitive)`);
      continue;
    }
    seen.set(fullName.toLowerCase(), fullName);
    if (override !== null && (typeof override !== "object" || Array.isArray(override))) {
      problems.push(`${where}: must be a map of routing overrides ({} for none)`);
      continue;
    }
    entries.push({ fullName, owner, name, slug, override: (override ?? {}) as PolicyInput });
  }
  return entries.sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
}

function parseBoolean(key: ConfigKey, text: string | undefined, fallback: boolean, problems: string[]): boolean {
  if (text === undefined) return fallback;
  if (text === "true" || text === "false") return text === "true";
  problems.push(`${key}: must be true or false (got "${text}")`);
  return fallback;
}

function parseGeneration(key: ConfigKey, text: string | undefined, problems: string[]): number {
  if (text === undefined) return 1;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1) {
    problems.push(`${key}: must be an integer ≥ 1 (got "${text}")`);
    return 1;
  }
  return n;
}

/**
 * The self-hosted runners a repository's jobs can land on: every runner its policy assigns a
 * requirement to, and their fallbacks. `cloudflare-only` sends everything to GitHub's machines.
 */
function reachableSelfHosted(config: RoutingConfig, fullName: string): string[] {
  const policy = config.repositories[fullName.toLowerCase()] ?? config.defaults;
  if (policy.mode === "cloudflare-only") return [];
  const reached = new Set<string>();
  for (const id of Object.values(policy.assign)) {
    for (
      let next: string | null = id;
      next !== null && !reached.has(next);
      next = policy.runners[next]?.fallback ?? null
    ) {
      reached.add(next);
    }
  }
  return [...reached].filter((id) => policy.runners[id]?.kind === "self-hosted").sort();
}

/**
 * Every runner class of the stack's pool (and any a repository override adds), with the labels
 * jobs name and, for self-hosted classes, the runner group and the repositories allowed in it.
 */
function runnerClasses(config: RoutingConfig, repositories: RepositorySettings[], groupPrefix: string | null) {
  const classes = new Map<string, RunnerClass>();
  const policies = [config.defaults, ...repositories.map((r) => config.repositories[r.fullName.toLowerCase()])];
  for (const policy of policies) {
    for (const runner of Object.values(policy?.runners ?? {})) {
      if (classes.has(runner.id)) continue;
      const selfHosted = runner.kind === "self-hosted";
      classes.set(runner.id, {
        id: runner.id,
        kind: runner.kind,
        runsOn: [...runner.runsOn],
        group: selfHosted && groupPrefix !== null ? `${groupPrefix}-${runner.id}` : null,
        repositories: selfHosted
          ? repositories.filter((r) => r.runners.includes(runner.id)).map((r) => r.fullName)
          : [],
      });
    }
  }
  return [...classes.values()];
}

import { DEFAULT_OIDC_AUDIENCE, DEFAULT_OIDC_ISSUER } from "../worker/src/bindings.ts";
import {
  APP_ID,
  allPolicies,
  appPrivateKeyPkcs8,
  isLoopbackHost,
  isOwner,
  isRepository,
  LOOPBACK_HOSTS,
  MODES,
  type Mode,
  OWNER_WILDCARD,
  type PolicyInput,
  parseRoutingConfig,
  policyFor,
  type RoutingConfig,
  RoutingConfigError,
  type RoutingConfigInput,
  WARM_SECRET_NAME,
} from "../worker/src/core/index.ts";
import { DEFAULT_ACTION_REF, isActionRef } from "./workflow.ts";

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
  repositories:
    'map of onboarded repositories: "owner/name" → per-repository routing overrides ({} for none); "owner/*" serves every repository of the owner without onboarding any',
  runnerGroups: "optional boolean (default true): manage one self-hosted runner group per runner class",
  webhookSecretGeneration: "integer ≥ 1 (default 1); bump by one to rotate the webhook secret",
  apiTokenGeneration: "integer ≥ 1 (default 1); bump by one to rotate the API token",
  githubToken: "optional secret: token the Worker uses to read pull-request file lists (set with --secret)",
  discordWebhookUrl: "optional secret: Discord webhook for build alerts (set with --secret)",
  runnersOwner:
    "optional GitHub organization whose self-hosted runners a Cron Trigger reconciles every minute (needs githubToken)",
  oidc: "optional boolean (default true): route jobs authenticate with GitHub Actions OIDC tokens, and no repository holds the API token",
  oidcIssuer: `optional OIDC_ISSUER (default ${DEFAULT_OIDC_ISSUER}); GitHub Enterprise Server: https://HOSTNAME/_services/token`,
  oidcAudience: `optional OIDC_AUDIENCE, the audience route tokens are asked for (default "${DEFAULT_OIDC_AUDIENCE}")`,
  actionRef: `optional route action for the workflow the stack prints, owner/repo[/path]@ref (default ${DEFAULT_ACTION_REF})`,
  observability:
    "optional boolean (default true): Workers Logs, so past requests can be searched in the Cloudflare dashboard",
  dashboard:
    "optional boolean (default true): serve the router's dashboard page at / (static assets; its data still needs the API token)",
  warmSecrets:
    'optional secret map "WARM_…" → signing key for each warm hook the routing config names (runners.<id>.warm.secretEnv); set with --secret --path',
  githubApp:
    "optional GitHub App mode, {appId, privateKey, webhookSecret} from the App's manifest conversion (privateKey and webhookSecret set with --secret --path): the App's one webhook replaces every repository webhook; see docs/github-app.md",
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Keys whose values are secrets: the program reads them with `getSecret`, never from here. */
export const SECRET_KEYS = [
  "githubToken",
  "discordWebhookUrl",
  "warmSecrets",
  "githubApp",
] as const satisfies readonly ConfigKey[];

/** The keys of the `githubApp` setting. */
export const GITHUB_APP_KEYS = ["appId", "privateKey", "webhookSecret"] as const;

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

/**
 * GitHub App mode. Only the App id is kept here (it is public: the App JWT's `iss`); the private
 * key and the webhook secret are read by the program as secrets, never from the settings.
 */
export interface GitHubAppSettings {
  appId: string;
}

/** How route jobs authenticate with GitHub Actions OIDC tokens: the Worker's OIDC_ISSUER and OIDC_AUDIENCE. */
export interface OidcSettings {
  issuer: string;
  audience: string;
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
  /**
   * The routing config built into the bundle, read by the Worker as it would ROUTING_CONFIG: the
   * stack's `routing`, and under `repositories` every repository the router serves.
   */
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
  /** The names of the warm hooks' signing keys (`warmSecrets`' keys), each bound as a Worker secret; values are read as secrets. */
  warmSecretNames: string[];
  /** Null when `oidc` is false: repositories then hold the API token as an Actions secret. */
  oidc: OidcSettings | null;
  /**
   * GitHub App mode, or null for repository webhooks. With an App, its one webhook delivers every
   * installed repository's events, so no repository gets a webhook, and route jobs use OIDC.
   */
  githubApp: GitHubAppSettings | null;
  /** The route action the printed workflow uses. */
  actionRef: string;
  /** Whether Workers Logs keeps the Worker's invocations and log lines. */
  observability: boolean;
  /** Whether the Worker carries the dashboard page as static assets. */
  dashboard: boolean;
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

/**
 * The values the committed stack files and docs/deploy.md hold until they are replaced. They
 * are well-formed, so without this check a stack would deploy to the documentation's sample
 * account or wire the sample owner's repositories.
 */
const PLACEHOLDERS = {
  cloudflareAccountId: {
    values: ["023e105f4ecef8ad9ca31a8372d0c353", "0123456789abcdef0123456789abcdef"],
    instead: "your Cloudflare account id",
  },
  workersSubdomain: { values: ["your-account"], instead: "your account's workers.dev subdomain" },
  githubOwner: { values: ["your-org"], instead: "the GitHub organization (or user) that owns your repositories" },
  "customDomain.zoneId": { values: ["0123456789abcdef0123456789abcdef"], instead: "your zone's id" },
} as const;

type PlaceholderKey = keyof typeof PLACEHOLDERS;

/** The problem to report when `value` of `key` is still a placeholder (none when it is not one). */
function placeholders(key: PlaceholderKey, value: string, where: string = key): string[] {
  const { values, instead } = PLACEHOLDERS[key];
  if (!(values as readonly string[]).includes(value.toLowerCase())) return [];
  return [`${where}: "${value}" is still the placeholder: replace the placeholder with ${instead}`];
}

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
  else problems.push(...placeholders("cloudflareAccountId", cloudflareAccountId));

  const customDomain = parseCustomDomain(value("customDomain"), problems);
  const workersSubdomain = value("workersSubdomain") ?? null;
  if (workersSubdomain === null && customDomain === null) {
    problems.push(`workersSubdomain: required unless customDomain is set (${CONFIG_KEYS.workersSubdomain})`);
  } else if (workersSubdomain !== null && !DNS_LABEL.test(workersSubdomain)) {
    problems.push(
      `workersSubdomain: must be one lower-case DNS label, without ".workers.dev" (got "${workersSubdomain}")`,
    );
  } else if (workersSubdomain !== null) problems.push(...placeholders("workersSubdomain", workersSubdomain));

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
  else problems.push(...placeholders("githubOwner", githubOwner));

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

  const { onboarded, owners } = parseRepositories(value("repositories"), githubOwner, problems);
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

  // Keys whose default applies only when they are left out: set to "" they are a mistake.
  const optionalText = (key: ConfigKey): string | undefined => {
    const v = value(key);
    if (v === undefined && raw[key] !== undefined)
      problems.push(`${key}: must not be empty (leave it unset for the default)`);
    return v;
  };
  const oidcEnabled = parseBoolean("oidc", value("oidc"), true, problems);
  const oidcIssuer = optionalText("oidcIssuer");
  const oidcAudience = optionalText("oidcAudience");
  if (oidcIssuer !== undefined) problems.push(...issuerProblems(oidcIssuer));
  if (!oidcEnabled) {
    for (const [key, set] of [
      ["oidcIssuer", oidcIssuer],
      ["oidcAudience", oidcAudience],
    ] as const) {
      if (set !== undefined) problems.push(`${key}: only used when oidc is true (remove it, or set oidc to true)`);
    }
  }
  const oidc = oidcEnabled
    ? { issuer: oidcIssuer ?? DEFAULT_OIDC_ISSUER, audience: oidcAudience ?? DEFAULT_OIDC_AUDIENCE }
    : null;
  const githubApp = parseGitHubApp(value("githubApp"), problems);
  if (value("githubApp") !== undefined && !oidcEnabled) {
    // Without OIDC every repository would hold the API token as an Actions secret, a
    // per-repository resource App mode exists to do without.
    problems.push(
      "oidc: must be true with githubApp: in App mode route jobs authenticate with OIDC tokens and no repository holds a router secret (remove oidc: false)",
    );
  }

  const actionRef = optionalText("actionRef") ?? DEFAULT_ACTION_REF;
  if (!isActionRef(actionRef)) {
    problems.push(
      `actionRef: must be an action reference owner/repo[/path]@ref, like ${DEFAULT_ACTION_REF} (got "${actionRef}")`,
    );
  }
  const observability = parseBoolean("observability", value("observability"), true, problems);
  const dashboard = parseBoolean("dashboard", value("dashboard"), true, problems);

  // The routing config built into the bundle carries the routing keys and every repository the
  // router serves; the mode travels as RUNNER_DISPATCH_MODE.
  const { mode: _mode, repositories: _repositories, ...routingKeys } = routing;
  const served = servedRepositories(onboarded, owners);
  const routingInput = {
    ...routingKeys,
    ...(Object.keys(served).length > 0 ? { repositories: served } : {}),
  } as RoutingConfigInput;

  let resolved: RoutingConfig | null = null;
  try {
    resolved = parseRoutingConfig(mode === undefined ? routingInput : { ...routingInput, mode });
  } catch (error) {
    if (!(error instanceof RoutingConfigError)) throw error;
    problems.push(...error.problems.map(routingProblem));
  }
  const warmSecretNames = resolved === null ? [] : parseWarmSecrets(value("warmSecrets"), resolved, problems);

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
  const repositorySettings = onboarded.map(({ fullName, owner, name, slug }) => ({
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
    warmSecretNames,
    oidc,
    githubApp,
    actionRef,
    observability,
    dashboard,
    baseUrl,
    webhookUrl: `${baseUrl}/webhook/github`,
  };
}

/**
 * Why `issuer` cannot be the Worker's OIDC issuer (nothing when it can). A token's `iss` claim
 * must equal it as written, so it is a bare URL; plain http is allowed only for a loopback
 * issuer (a local test issuer), since the keys that sign route tokens are fetched from it.
 */
function issuerProblems(issuer: string): string[] {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return [`oidcIssuer: must be a URL (got "${issuer}")`];
  }
  const loopback = url.protocol === "http:" && isLoopbackHost(url.hostname);
  if (url.protocol !== "https:" && !loopback) {
    return [
      `oidcIssuer: must be an https:// URL (http:// only for a loopback issuer: ${LOOPBACK_HOSTS.join(", ")}) (got "${issuer}")`,
    ];
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return [`oidcIssuer: must be a bare issuer URL, without credentials, query or fragment (got "${issuer}")`];
  }
  if (issuer.endsWith("/")) {
    return [`oidcIssuer: must not end with "/": tokens name their issuer without it (got "${issuer}")`];
  }
  return [];
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
  else problems.push(...placeholders("customDomain.zoneId", zoneId));
  return problems.length === before ? { hostname: hostname as string, zoneId: zoneId as string } : null;
}

interface RepositoryEntry {
  fullName: string;
  owner: string;
  name: string;
  slug: string;
  override: PolicyInput;
}

/** An `owner/*` entry: every repository of `owner` is served, none is onboarded. */
interface OwnerEntry {
  /** `owner/*` as configured. */
  entry: string;
  owner: string;
  override: PolicyInput;
}

/**
 * The stack's `repositories`: the repositories to onboard (sorted by slug), and the `owner/*`
 * entries, which only reach the routing config (a webhook, a variable or a runner group needs a
 * repository by name).
 */
function parseRepositories(
  text: string | undefined,
  githubOwner: string | undefined,
  problems: string[],
): { onboarded: RepositoryEntry[]; owners: OwnerEntry[] } {
  const object = parseObject("repositories", text, problems) ?? {};
  const onboarded: RepositoryEntry[] = [];
  const owners: OwnerEntry[] = [];
  const seen = new Map<string, string>();
  for (const [fullName, override] of Object.entries(object)) {
    const where = `repositories[${JSON.stringify(fullName)}]`;
    const wildcard = OWNER_WILDCARD.test(fullName);
    if (!wildcard && !isRepository(fullName)) {
      problems.push(`${where}: must be "owner/name", or "owner/*" for every repository of an owner`);
      continue;
    }
    const [owner = "", name = ""] = fullName.split("/");
    const placeholder = placeholders("githubOwner", owner, where);
    problems.push(...placeholder);
    if (placeholder.length === 0 && githubOwner !== undefined && owner.toLowerCase() !== githubOwner.toLowerCase()) {
      problems.push(`${where}: belongs to "${owner}", but this stack's githubOwner is "${githubOwner}"`);
    }
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
    const policy = (override ?? {}) as PolicyInput;
    if (wildcard) owners.push({ entry: fullName, owner, override: policy });
    else onboarded.push({ fullName, owner, name, slug: `${owner}-${name}`.toLowerCase(), override: policy });
  }
  return { onboarded: onboarded.sort((a, b) => compare(a.slug, b.slug)), owners };
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The routing config's `repositories`: every repository the router serves, and so every one
 * whose OIDC tokens it accepts. Each `owner/*` entry with its overrides; each onboarded
 * repository under its name with its overrides, or with {} when it has none, unless its
 * owner's `owner/*` entry already serves it (it then keeps that entry's policy). Sorted, so
 * that the order of the stack file never changes the bundle.
 */
function servedRepositories(onboarded: RepositoryEntry[], owners: OwnerEntry[]): Record<string, PolicyInput> {
  const wildcards = new Set(owners.map((o) => o.owner.toLowerCase()));
  const entries: [string, PolicyInput][] = [
    ...owners.map((o): [string, PolicyInput] => [o.entry, o.override]),
    ...onboarded
      .filter((r) => Object.keys(r.override).length > 0 || !wildcards.has(r.owner.toLowerCase()))
      .map((r): [string, PolicyInput] => [r.fullName, r.override]),
  ];
  return Object.fromEntries(entries.sort(([a], [b]) => compare(a.toLowerCase(), b.toLowerCase())));
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
  const policy = policyFor(config, fullName);
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
 * Every runner class of the stack's pool (and any a `repositories` entry adds), with the labels
 * jobs name and, for self-hosted classes, the runner group and the repositories allowed in it.
 */
function runnerClasses(config: RoutingConfig, repositories: RepositorySettings[], groupPrefix: string | null) {
  const classes = new Map<string, RunnerClass>();
  for (const policy of allPolicies(config)) {
    for (const runner of Object.values(policy.runners)) {
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

/** How to set the App's secret keys, for the problems that ask for them. */
const SET_APP_SECRET = {
  privateKey: "jq -r .pem app.json | pulumi config set --secret --path githubApp.privateKey",
  webhookSecret: 'pulumi config set --secret --path githubApp.webhookSecret "$(jq -r .webhook_secret app.json)"',
} as const;

/**
 * The `githubApp` setting: the App id (a positive integer; `pulumi config set --path` stores one
 * as a number), and the private key and webhook secret, which are checked here but never kept
 * nor quoted: the program reads them again as secrets. Null when it is not set.
 */
function parseGitHubApp(text: string | undefined, problems: string[]): GitHubAppSettings | null {
  if (text === undefined) return null;
  const object = parseObject("githubApp", text, problems);
  if (object === null) return null;
  const before = problems.length;
  for (const key of Object.keys(object)) {
    if (!(GITHUB_APP_KEYS as readonly string[]).includes(key))
      problems.push(`githubApp.${key}: unknown key (expected ${GITHUB_APP_KEYS.join(", ")})`);
  }
  const { appId, privateKey, webhookSecret } = object;
  const id = typeof appId === "number" && Number.isSafeInteger(appId) ? String(appId) : appId;
  if (id === undefined || id === null || id === "") {
    problems.push("githubApp.appId: required, the App's numeric id (`id` in the manifest conversion's answer)");
  } else if (typeof id !== "string" || !APP_ID.test(id)) {
    // Quoted only when short and on one line: a secret set under the wrong key stays unquoted.
    const shown = typeof id === "string" && id.length <= 32 && !/\s/.test(id) ? ` (got "${id}")` : "";
    problems.push(`githubApp.appId: must be the App's numeric id${shown}`);
  }
  if (privateKey === undefined || privateKey === null || privateKey === "") {
    problems.push(`githubApp.privateKey: required, the App's private key (${SET_APP_SECRET.privateKey})`);
  } else if (typeof privateKey !== "string" || appPrivateKeyPkcs8(privateKey) === null) {
    // A secret: name what is wrong with it, never quote it.
    problems.push(
      'githubApp.privateKey: must be the App\'s RSA private key in PEM ("BEGIN RSA PRIVATE KEY" or "BEGIN PRIVATE KEY")',
    );
  }
  if (webhookSecret === undefined || webhookSecret === null || webhookSecret === "") {
    problems.push(`githubApp.webhookSecret: required, the App's webhook secret (${SET_APP_SECRET.webhookSecret})`);
  } else if (typeof webhookSecret !== "string") {
    problems.push("githubApp.webhookSecret: must be text, the App's webhook secret");
  } else if (webhookSecret.trim() !== webhookSecret) {
    // GitHub signs with the secret as set on the App; a stray newline would fail every delivery.
    problems.push("githubApp.webhookSecret: must not begin or end with whitespace (GitHub signs with it as set)");
  }
  return problems.length === before ? { appId: id as string } : null;
}

/**
 * The names in `warmSecrets` (a JSON object "WARM_…" → signing key; only its names are read
 * here, never a value), checked against the warm hooks the routing configuration names: every
 * `secretEnv` needs its key, and every key must be one a hook names.
 */
function parseWarmSecrets(text: string | undefined, routing: RoutingConfig, problems: string[]): string[] {
  const named = new Set<string>();
  for (const policy of allPolicies(routing)) {
    for (const runner of Object.values(policy.runners)) if (runner.warm) named.add(runner.warm.secretEnv);
  }
  let given: string[] = [];
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const isMap =
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.values(parsed).every((v) => typeof v === "string" && v.length > 0);
    if (!isMap) {
      problems.push(
        'warmSecrets: must be a map of "WARM_…" names to non-empty signing keys (set with --secret --path)',
      );
      return [];
    }
    given = Object.keys(parsed as Record<string, string>).sort();
  }
  for (const name of given) {
    if (!WARM_SECRET_NAME.test(name))
      problems.push(`warmSecrets.${name}: a name must be WARM_ and 1 to 64 of A-Z, 0-9, _`);
    else if (!named.has(name)) problems.push(`warmSecrets.${name}: no runners.<id>.warm.secretEnv names it`);
  }
  for (const name of [...named].sort()) {
    if (!given.includes(name)) {
      problems.push(
        `warmSecrets.${name}: required, a warm hook signs with it (set with --secret --path 'warmSecrets.${name}')`,
      );
    }
  }
  return given.filter((name) => WARM_SECRET_NAME.test(name) && named.has(name));
}

import { DEFAULT_OIDC_AUDIENCE, DEFAULT_OIDC_ISSUER, OIDC_OFF, SECRET_NAMES, VAR_NAMES } from "./bindings.ts";
import {
  APP_ID,
  allPolicies,
  appPrivateKeyPkcs8,
  compilePolicy,
  fail,
  isLoopbackHost,
  MODES,
  type Mode,
  ok,
  parseRoutingConfig,
  type Result,
  type RoutingConfig,
  RoutingConfigError,
} from "./core/index.ts";

export type SecretName = (typeof SECRET_NAMES)[keyof typeof SECRET_NAMES];
export type VarName = (typeof VAR_NAMES)[keyof typeof VAR_NAMES];
/** The Worker's string bindings, as settings read them. */
export type SettingsSource = { readonly [K in SecretName | VarName]?: string | undefined };

/** The text of the two bindings the routing configuration is read from. */
export interface RoutingSource {
  config: string | null;
  mode: string | null;
}

/** The Worker's settings, read from its bindings once per isolate. */
export interface Settings {
  config: RoutingConfig;
  /** What `config` was read from: handed to the Ledger, which routes with the same configuration. */
  routing: RoutingSource;
  mode: Mode;
  webhookSecrets: string[];
  /** The API token, then the previous one during a rotation. */
  apiTokens: string[];
  /** How GitHub's API is called; null when neither GITHUB_TOKEN nor a GitHub App is set. */
  github: GitHubSettings | null;
  discordWebhookUrl: string | null;
  /** The organization whose self-hosted runners the Cron Trigger reconciles, when set. */
  runnersOwner: string | null;
  /** The GitHub Actions OIDC tokens `/route` accepts: their issuer and audience; null when OIDC_ISSUER is `off`. */
  oidc: { issuer: string; audience: string } | null;
}

/**
 * GitHub's API and the credentials for it. With both an App and a token, an event from one of
 * the App's installations is answered with that installation's token, and anything else
 * (events without an installation, work for an owner no delivery has named yet) with the token.
 */
export interface GitHubSettings {
  apiUrl: string;
  /** GITHUB_TOKEN, or null. */
  token: string | null;
  /** The GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY), or null. */
  app: GitHubAppSettings | null;
}

export interface GitHubAppSettings {
  /** The App id, the App JWT's `iss`. */
  id: string;
  /** The private key as PKCS#8 PEM (a PKCS#1 key is wrapped when read). */
  privateKey: string;
}

/** The longest OIDC audience taken. */
const MAX_AUDIENCE = 256;

/**
 * The bindings are wrong. `problems` says what, and may quote configuration (never a secret):
 * it is for the log and for authenticated callers. `settings` names the bindings at fault, which
 * anyone may learn (`/health`). `apiTokens` are the tokens that authenticate a caller, when
 * `API_TOKEN` itself could be read.
 */
export class SettingsError extends Error {
  readonly problems: readonly string[];
  readonly settings: readonly string[];
  readonly apiTokens: readonly string[];
  constructor(problems: readonly { setting: string; problem: string }[], apiTokens: readonly string[]) {
    super(`the Worker is misconfigured: ${problems.map((p) => p.problem).join("; ")}`);
    this.name = "SettingsError";
    this.problems = problems.map((p) => p.problem);
    this.settings = [...new Set(problems.map((p) => p.setting))];
    this.apiTokens = apiTokens;
  }
}

/** Replaced by the bundler (bindings.ts `BUILT_IN_ROUTING_GLOBAL`); undefined where nothing replaced it (Node). */
declare const __BUILT_IN_ROUTING_CONFIG__: string | null | undefined;

/**
 * The routing configuration built into the bundle (the Pulumi program does this: a Worker
 * variable holds at most 5 KB), read when `ROUTING_CONFIG` is not bound; null when none is.
 */
export const BUILT_IN_ROUTING: string | null =
  typeof __BUILT_IN_ROUTING_CONFIG__ === "string" ? __BUILT_IN_ROUTING_CONFIG__ : null;

const cache = new WeakMap<object, Settings | SettingsError>();
/** The same bindings seen through another object (the module's `env` and a request's): by their values. */
const byValues = new Map<string, Settings | SettingsError>();
const MAX_BY_VALUES = 4;
const NAMES: readonly (SecretName | VarName)[] = [...Object.values(SECRET_NAMES), ...Object.values(VAR_NAMES)];

/**
 * Reads and validates every binding, reporting all problems at once. Cached per source object
 * and by the bindings' values, so the settings (and the policies compiled from them) read
 * before the first request serve it.
 */
export function loadSettings(source: SettingsSource): Settings {
  let settings = cache.get(source);
  if (settings === undefined) {
    const key = NAMES.map((name) => source[name] ?? "\u0000").join("\u0001");
    settings = byValues.get(key);
    if (settings === undefined) {
      try {
        settings = parseSettings(source);
      } catch (error) {
        if (!(error instanceof SettingsError)) throw error;
        settings = error;
      }
      if (byValues.size >= MAX_BY_VALUES) byValues.clear();
      byValues.set(key, settings);
    }
    cache.set(source, settings);
  }
  if (settings instanceof SettingsError) throw settings;
  return settings;
}

/**
 * Reads the settings and compiles every policy's patterns now, so that no request pays for
 * it: called when the Worker's module is evaluated. Wrong settings are left for the first
 * request to report.
 */
export function prepareSettings(source: SettingsSource): void {
  const settings = settingsOrNull(source);
  if (settings !== null) for (const policy of allPolicies(settings.config)) compilePolicy(policy);
}

/** {@link loadSettings}, or null when the bindings are wrong (for work that can wait for a fix). */
export function settingsOrNull(source: SettingsSource): Settings | null {
  try {
    return loadSettings(source);
  } catch (error) {
    if (error instanceof SettingsError) return null;
    throw error;
  }
}

export function parseSettings(source: SettingsSource): Settings {
  const problems: { setting: string; problem: string }[] = [];
  const read = (name: SecretName | VarName) => setting(source, name);
  const webhookSecret = read(SECRET_NAMES.webhookSecret);
  const previous = read(SECRET_NAMES.webhookSecretPrevious);
  const apiToken = read(SECRET_NAMES.apiToken);
  const previousToken = read(SECRET_NAMES.apiTokenPrevious);
  if (webhookSecret === null) {
    problems.push({ setting: SECRET_NAMES.webhookSecret, problem: `${SECRET_NAMES.webhookSecret} is not set` });
  }
  if (apiToken === null) {
    problems.push({ setting: SECRET_NAMES.apiToken, problem: `${SECRET_NAMES.apiToken} is not set` });
  }
  const apiTokens = apiToken === null ? [] : [apiToken, ...(previousToken === null ? [] : [previousToken])];

  const routingSource = { config: read(VAR_NAMES.routingConfig) ?? BUILT_IN_ROUTING, mode: read(VAR_NAMES.mode) };
  const routing = routingOf(routingSource);
  if (!routing.ok) {
    // Each problem starts with the name of the setting it is about.
    const about = (problem: string) => (problem.startsWith(VAR_NAMES.mode) ? VAR_NAMES.mode : VAR_NAMES.routingConfig);
    problems.push(...routing.error.problems.map((problem) => ({ setting: about(problem), problem })));
  }
  const config = routing.ok ? routing.value : null;

  const issuer = (read(VAR_NAMES.oidcIssuer) ?? DEFAULT_OIDC_ISSUER).replace(/\/+$/, "");
  if (issuer !== OIDC_OFF && !isTrustedIssuerUrl(issuer)) {
    problems.push({
      setting: VAR_NAMES.oidcIssuer,
      problem: `${VAR_NAMES.oidcIssuer} must be an https URL (http only for an issuer on 127.0.0.1, localhost or [::1]), or ${OIDC_OFF}`,
    });
  }
  const audience = read(VAR_NAMES.oidcAudience) ?? DEFAULT_OIDC_AUDIENCE;
  if (audience.length > MAX_AUDIENCE) {
    problems.push({
      setting: VAR_NAMES.oidcAudience,
      problem: `${VAR_NAMES.oidcAudience} is longer than ${MAX_AUDIENCE} characters`,
    });
  }

  const app = appOf(read(SECRET_NAMES.githubAppId), read(SECRET_NAMES.githubAppPrivateKey), problems);

  if (problems.length > 0 || config === null || webhookSecret === null || apiToken === null) {
    throw new SettingsError(problems, apiTokens);
  }
  const githubToken = read(SECRET_NAMES.githubToken);
  return {
    config,
    routing: routingSource,
    mode: config.defaults.mode,
    webhookSecrets: previous === null ? [webhookSecret] : [webhookSecret, previous],
    apiTokens,
    github:
      githubToken === null && app === null
        ? null
        : {
            token: githubToken,
            app,
            apiUrl: (read(VAR_NAMES.githubApiUrl) ?? "https://api.github.com").replace(/\/+$/, ""),
          },
    discordWebhookUrl: read(SECRET_NAMES.discordWebhookUrl),
    runnersOwner: read(VAR_NAMES.runnersOwner)?.trim() || null,
    oidc: issuer === OIDC_OFF ? null : { issuer, audience },
  };
}

/**
 * The GitHub App, when both its secrets are set; one without the other, an id that is not a
 * number or a key that is not an RSA private key in PEM is a problem naming the setting (never
 * quoting it: both are secrets).
 */
function appOf(
  id: string | null,
  key: string | null,
  problems: { setting: string; problem: string }[],
): GitHubAppSettings | null {
  const { githubAppId: idName, githubAppPrivateKey: keyName } = SECRET_NAMES;
  if (id === null && key === null) return null;
  if (id === null || key === null) {
    const [missing, set] = id === null ? [idName, keyName] : [keyName, idName];
    problems.push({ setting: missing, problem: `${missing} is not set, but ${set} is: a GitHub App needs both` });
    return null;
  }
  const trimmed = id.trim();
  if (!APP_ID.test(trimmed)) {
    problems.push({ setting: idName, problem: `${idName} must be the App's numeric id` });
  }
  const privateKey = appPrivateKeyPkcs8(key);
  if (privateKey === null) {
    problems.push({
      setting: keyName,
      problem: `${keyName} is not an RSA private key in PEM ("BEGIN RSA PRIVATE KEY" or "BEGIN PRIVATE KEY")`,
    });
  }
  return privateKey === null || !APP_ID.test(trimmed) ? null : { id: trimmed, privateKey };
}

/** `https:` anywhere, `http:` only on the machine itself (a local issuer for tests and development). */
export function isTrustedIssuerUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && isLoopbackHost(url.hostname);
}

/** A binding's value, or null when it is unset or empty. */
function setting(source: SettingsSource, name: SecretName | VarName): string | null {
  const value = source[name];
  return typeof value === "string" && value.length > 0 ? value : null;
}

/**
 * The routing configuration from `ROUTING_CONFIG` (JSON; unset means the defaults), with
 * `RUNNER_DISPATCH_MODE` as its top-level mode (each repository's own mode still wins), or
 * every problem with either, each naming its setting. The Worker's settings and
 * `npm run explain` read the configuration this one way.
 */
export function readRouting(source: SettingsSource): Result<RoutingConfig> {
  const problems: string[] = [];
  const modeText = setting(source, VAR_NAMES.mode);
  const modeValid = modeText !== null && (MODES as readonly string[]).includes(modeText);
  if (modeText !== null && !modeValid) {
    // The value is not quoted: a variable set by mistake may hold anything, a token included.
    problems.push(`${VAR_NAMES.mode} must be one of ${MODES.join(", ")}`);
  }

  let configInput: Record<string, unknown> = {};
  const configText = setting(source, VAR_NAMES.routingConfig);
  const configProblem = (problem: string) => problems.push(problem);
  if (configText !== null) {
    try {
      const parsed: unknown = JSON.parse(configText);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        configProblem(`${VAR_NAMES.routingConfig} must be a JSON object`);
      } else configInput = parsed as Record<string, unknown>;
    } catch {
      configProblem(`${VAR_NAMES.routingConfig} is not valid JSON`);
    }
  }
  // RUNNER_DISPATCH_MODE replaces the config's top-level mode, but not one that is not a mode:
  // that stays for the parser to report against ROUTING_CONFIG, rather than pass unnoticed.
  const ownMode = configInput.mode;
  if (modeValid && (ownMode === undefined || (MODES as readonly unknown[]).includes(ownMode))) {
    configInput = { ...configInput, mode: modeText };
  }

  let config: RoutingConfig | null = null;
  try {
    config = parseRoutingConfig(configInput);
  } catch (error) {
    if (!(error instanceof RoutingConfigError)) throw error;
    for (const p of error.problems) configProblem(`${VAR_NAMES.routingConfig} ${p}`);
  }
  return problems.length > 0 || config === null ? fail("invalid_config", ...problems) : ok(config);
}

const routings = new Map<string, Result<RoutingConfig>>();
/** Configurations kept by their text: one in steady state, a few while a deploy rolls out. */
const MAX_ROUTINGS = 4;

/** {@link readRouting} for the bindings' text, kept by that text, so each is parsed once per isolate. */
export function routingOf(source: RoutingSource): Result<RoutingConfig> {
  const key = `${source.mode ?? ""}\n${source.config ?? ""}`;
  let routing = routings.get(key);
  if (routing === undefined) {
    if (routings.size >= MAX_ROUTINGS) routings.clear();
    routing = readRouting({
      ...(source.config === null ? {} : { [VAR_NAMES.routingConfig]: source.config }),
      ...(source.mode === null ? {} : { [VAR_NAMES.mode]: source.mode }),
    });
    routings.set(key, routing);
  }
  return routing;
}

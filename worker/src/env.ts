import { type KV_BINDING, type LEDGER_BINDING, SECRET_NAMES, VAR_NAMES } from "./bindings.ts";
import { MODES, type Mode, parseRoutingConfig, type RoutingConfig, RoutingConfigError } from "./core/index.ts";
import type { Ledger } from "./ledger.ts";

type SecretName = (typeof SECRET_NAMES)[keyof typeof SECRET_NAMES];
type VarName = (typeof VAR_NAMES)[keyof typeof VAR_NAMES];

export type Env = { [K in typeof KV_BINDING]: KVNamespace } & {
  [K in typeof LEDGER_BINDING]: DurableObjectNamespace<Ledger>;
} & { [K in SecretName | VarName]?: string };

/** The Worker's settings, read from its bindings once per isolate. */
export interface Settings {
  config: RoutingConfig;
  mode: Mode;
  webhookSecrets: string[];
  /** The API token, then the previous one during a rotation. */
  apiTokens: string[];
  github: { token: string; apiUrl: string } | null;
  discordWebhookUrl: string | null;
}

export class SettingsError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`the Worker is misconfigured: ${problems.join("; ")}`);
    this.name = "SettingsError";
    this.problems = problems;
  }
}

const cache = new WeakMap<object, Settings | SettingsError>();

/** Reads and validates every binding, reporting all problems at once. Cached per env object. */
export function loadSettings(env: Env): Settings {
  let settings = cache.get(env);
  if (settings === undefined) {
    try {
      settings = parseSettings(env);
    } catch (error) {
      if (!(error instanceof SettingsError)) throw error;
      settings = error;
    }
    cache.set(env, settings);
  }
  if (settings instanceof SettingsError) throw settings;
  return settings;
}

function parseSettings(env: Env): Settings {
  const problems: string[] = [];
  const read = (name: SecretName | VarName) => {
    const value = env[name];
    return typeof value === "string" && value.length > 0 ? value : null;
  };
  const webhookSecret = read(SECRET_NAMES.webhookSecret);
  const previous = read(SECRET_NAMES.webhookSecretPrevious);
  const apiToken = read(SECRET_NAMES.apiToken);
  const previousToken = read(SECRET_NAMES.apiTokenPrevious);
  if (webhookSecret === null) problems.push(`${SECRET_NAMES.webhookSecret} is not set`);
  if (apiToken === null) problems.push(`${SECRET_NAMES.apiToken} is not set`);

  const modeText = read(VAR_NAMES.mode);
  if (modeText !== null && !(MODES as readonly string[]).includes(modeText)) {
    problems.push(`${VAR_NAMES.mode} must be one of ${MODES.join(", ")} (got "${modeText}")`);
  }

  let configInput: Record<string, unknown> = {};
  const configText = read(VAR_NAMES.routingConfig);
  if (configText !== null) {
    try {
      const parsed: unknown = JSON.parse(configText);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        problems.push(`${VAR_NAMES.routingConfig} must be a JSON object`);
      } else configInput = parsed as Record<string, unknown>;
    } catch {
      problems.push(`${VAR_NAMES.routingConfig} is not valid JSON`);
    }
  }
  if (modeText !== null && (MODES as readonly string[]).includes(modeText))
    configInput = { ...configInput, mode: modeText };

  let config: RoutingConfig | null = null;
  try {
    config = parseRoutingConfig(configInput);
  } catch (error) {
    if (!(error instanceof RoutingConfigError)) throw error;
    problems.push(...error.problems.map((p) => `${VAR_NAMES.routingConfig} ${p}`));
  }

  if (problems.length > 0 || config === null || webhookSecret === null || apiToken === null) {
    throw new SettingsError(problems);
  }
  const githubToken = read(SECRET_NAMES.githubToken);
  return {
    config,
    mode: config.defaults.mode,
    webhookSecrets: previous === null ? [webhookSecret] : [webhookSecret, previous],
    apiTokens: [apiToken, ...(previousToken === null ? [] : [previousToken])],
    github:
      githubToken === null
        ? null
        : {
            token: githubToken,
            apiUrl: (read(VAR_NAMES.githubApiUrl) ?? "https://api.github.com").replace(/\/+$/, ""),
          },
    discordWebhookUrl: read(SECRET_NAMES.discordWebhookUrl),
  };
}

/**
 * Every name the Worker is bound under, defined once. The Worker's Env type, the local
 * server, the tests and the Pulumi program all read these constants.
 */
export const KV_BINDING = "CI_STATE";
export const LEDGER_BINDING = "LEDGER";
/** The Durable Object class behind LEDGER, as exported by the Worker's main module. */
export const LEDGER_CLASS = "Ledger";
/**
 * The Ledger instance every deployment starts with: the directory of organisations, and the
 * Ledger of the first one (ledger.ts `directoryOf`); every later organisation's is `org:<login>`.
 */
export const LEDGER_INSTANCE = "ledger";

export const SECRET_NAMES = {
  webhookSecret: "WEBHOOK_SECRET",
  webhookSecretPrevious: "WEBHOOK_SECRET_PREVIOUS",
  apiToken: "API_TOKEN",
  apiTokenPrevious: "API_TOKEN_PREVIOUS",
  githubToken: "GITHUB_TOKEN",
  /** A GitHub App's id and private key (PEM, PKCS#1 or PKCS#8): set both for App mode. */
  githubAppId: "GITHUB_APP_ID",
  githubAppPrivateKey: "GITHUB_APP_PRIVATE_KEY",
  discordWebhookUrl: "DISCORD_WEBHOOK_URL",
} as const;

export const VAR_NAMES = {
  mode: "RUNNER_DISPATCH_MODE",
  routingConfig: "ROUTING_CONFIG",
  githubApiUrl: "GITHUB_API_URL",
  runnersOwner: "GITHUB_RUNNERS_OWNER",
  oidcIssuer: "OIDC_ISSUER",
  oidcAudience: "OIDC_AUDIENCE",
} as const;

/** GitHub Actions' OIDC issuer, used when OIDC_ISSUER is not set. */
export const DEFAULT_OIDC_ISSUER = "https://token.actions.githubusercontent.com";
/** OIDC_ISSUER's value for a router that takes no OIDC token: only the API token opens /route. */
export const OIDC_OFF = "off";
/** The audience route tokens are asked for, used when OIDC_AUDIENCE is not set. */
export const DEFAULT_OIDC_AUDIENCE = "pmoves-ci-orchestrator";

/**
 * The global the bundler replaces with the routing configuration built into a deployed bundle
 * (a string of JSON, or null): see settings.ts.
 */
export const BUILT_IN_ROUTING_GLOBAL = "__BUILT_IN_ROUTING_CONFIG__";

/** The Workers runtime date the Worker is written against. */
export const COMPATIBILITY_DATE = "2026-11-01";

/** KV keys: see docs/storage-schema.md. */
export const BUILD_KEY_PREFIX = "build:";
/** Build records live 24 hours in KV. */
export const BUILD_TTL_SECONDS = 24 * 60 * 60;

import { join } from "node:path";
import * as cloudflare from "@pulumi/cloudflare";
import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DASHBOARD_DIR, headersFile } from "../dashboard/assets.ts";
import { bundleWorker, ROOT } from "../scripts/bundle.ts";
import {
  COMPATIBILITY_DATE,
  KV_BINDING,
  LEDGER_BINDING,
  LEDGER_CLASS,
  OIDC_OFF,
  SECRET_NAMES,
  VAR_NAMES,
} from "../worker/src/bindings.ts";
import { migrationsToUpload } from "./migrations.ts";
import { registrationCommand } from "./runners.ts";
import { parseStackConfig, type RepositorySettings, StackConfigError, type StackSettings } from "./stack-config.ts";
import { ROUTER_TOKEN_SECRET, ROUTER_URL_VARIABLE, workflowSnippet } from "./workflow.ts";

/**
 * What every repository webhook subscribes to. `workflow_dispatch` is deliberately absent:
 * GitHub's "Webhook events and payloads" documents it as available to GitHub Apps only, so a
 * repository webhook cannot subscribe to it; a dispatched run still reaches the router as a
 * `workflow_run` whose `event` is "workflow_dispatch" (and its jobs as `workflow_job`).
 */
export const WEBHOOK_EVENTS = ["push", "pull_request", "workflow_run", "workflow_job"] as const;

/** Where `pulumi up` writes the bundle it deploys (`npm run build`'s, with the stack's routing configuration built in). */
export const DEPLOY_BUNDLE_PATH = join(ROOT, "dist/infra/worker.js");

/** The Worker's main module name inside the upload. */
const MAIN_MODULE = "index.js";

/** Stack outputs: everything a person or a workflow needs; the one secret among them stays a secret. */
export interface RouterOutputs {
  scriptName: string;
  webhookUrl: string;
  apiUrl: string;
  kvNamespaceId: pulumi.Output<string>;
  /** SHA-256 of the deployed bundle: it changes exactly when the Worker's code or routing configuration does. */
  workerSha256: string;
  repositories: string[];
  /** Per runner class: the `runs-on` labels the router answers with. */
  runsOn: Record<string, string[]>;
  /** Per self-hosted runner class: its runner group (null when runner groups are not managed). */
  runnerGroups: Record<string, string | null>;
  /** Per self-hosted runner class: how a machine registers to serve it. */
  runnerRegistration: Record<string, string>;
  /** The complete workflow for onboarded repositories: a `route` job, and a `build` job that runs where it says. */
  workflowSnippet: string;
  /** The current API token, for people and scrapers calling /status, /fleet, /costs and /metrics: a secret output. */
  apiToken: pulumi.Output<string>;
}

/** How often the Cron Trigger reconciles the fleet: every minute. */
export const RECONCILE_CRON = "* * * * *";

/**
 * The whole router for the current stack: config → resources → outputs. The config is
 * validated first, routing rules by the core's own parser, and every problem is reported at
 * once before any resource is declared.
 */
export async function createRouter(): Promise<RouterOutputs> {
  const settings = loadSettings();
  const config = new pulumi.Config();
  // The routing configuration is built into the bundle: a Worker variable holds at most 5 KB.
  const bundle = await bundleWorker(DEPLOY_BUNDLE_PATH, { routingConfig: JSON.stringify(settings.routingInput) });
  const accountId = settings.cloudflareAccountId;

  const kv = new cloudflare.WorkersKvNamespace("build-state", { accountId, title: settings.kvTitle });

  // One random secret per generation, named after it. Bumping a generation creates the new one
  // and keeps the one before it; older generations leave the stack (and are deleted) in the
  // same `up`.
  const webhookSecret = generatedSecret("webhook-secret", settings.webhookSecretGeneration);
  const previousWebhookSecret =
    settings.webhookSecretGeneration > 1 && settings.githubApp === null
      ? generatedSecret("webhook-secret", settings.webhookSecretGeneration - 1)
      : null;
  // In App mode GitHub signs every delivery with the App's webhook secret, so the Worker checks
  // that one first. The stack's own secret stays accepted as the previous one: the repository
  // webhooks it signs for are deleted only after the Worker is updated, so none of their last
  // deliveries is refused, and switching back to webhooks finds the secret unchanged.
  const app =
    settings.githubApp === null
      ? null
      : config.requireSecretObject<{ privateKey: string; webhookSecret: string }>("githubApp");
  const acceptedWebhookSecrets =
    app === null
      ? { current: webhookSecret, previous: previousWebhookSecret }
      : { current: app.apply((a) => a.webhookSecret), previous: webhookSecret };
  // The same for the API token: the Worker accepts the current and the previous generation, and
  // (without OIDC) every repository's Actions secret switches to the new one after the Worker
  // accepts it.
  const apiToken = generatedSecret("api-token", settings.apiTokenGeneration);
  const previousApiToken =
    settings.apiTokenGeneration > 1 ? generatedSecret("api-token", settings.apiTokenGeneration - 1) : null;

  const secretText = (name: string, text: pulumi.Input<string>) => ({
    type: "secret_text",
    name,
    text: pulumi.secret(text),
  });
  const githubToken = settings.optionalSecrets.githubToken ? config.requireSecret("githubToken") : null;
  const discordWebhookUrl = settings.optionalSecrets.discordWebhookUrl
    ? config.requireSecret("discordWebhookUrl")
    : null;
  const warmSecrets =
    settings.warmSecretNames.length > 0
      ? config.requireSecretObject<Record<string, string>>("warmSecrets")
      : pulumi.output<Record<string, string>>({});

  const deployedMigrationTag = cloudflare
    .getWorkersScriptsOutput({ accountId })
    .apply(({ results }) => results.find((script) => script.id === settings.scriptName)?.migrationTag || null);

  const script = new cloudflare.WorkersScript("worker", {
    accountId,
    scriptName: settings.scriptName,
    content: bundle.code,
    mainModule: MAIN_MODULE,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: [
      { type: "kv_namespace", name: KV_BINDING, namespaceId: kv.id },
      { type: "durable_object_namespace", name: LEDGER_BINDING, className: LEDGER_CLASS },
      { type: "plain_text", name: VAR_NAMES.mode, text: settings.mode },
      ...(settings.runnersOwner === null
        ? []
        : [{ type: "plain_text", name: VAR_NAMES.runnersOwner, text: settings.runnersOwner }]),
      secretText(SECRET_NAMES.webhookSecret, acceptedWebhookSecrets.current),
      ...(acceptedWebhookSecrets.previous === null
        ? []
        : [secretText(SECRET_NAMES.webhookSecretPrevious, acceptedWebhookSecrets.previous)]),
      secretText(SECRET_NAMES.apiToken, apiToken),
      ...(previousApiToken === null ? [] : [secretText(SECRET_NAMES.apiTokenPrevious, previousApiToken)]),
      ...(githubToken === null ? [] : [secretText(SECRET_NAMES.githubToken, githubToken)]),
      ...(discordWebhookUrl === null ? [] : [secretText(SECRET_NAMES.discordWebhookUrl, discordWebhookUrl)]),
      // The App's credentials, under the names the Worker reads them by (worker/src/settings.ts).
      ...(app === null || settings.githubApp === null
        ? []
        : [
            secretText(SECRET_NAMES.githubAppId, settings.githubApp.appId),
            secretText(
              SECRET_NAMES.githubAppPrivateKey,
              app.apply((a) => a.privateKey),
            ),
          ]),
      // Each warm hook's signing key, under the name its runner class's `warm.secretEnv` gives.
      ...settings.warmSecretNames.map((name) =>
        secretText(
          name,
          warmSecrets.apply((all) => all[name] ?? ""),
        ),
      ),
      ...(settings.oidc === null
        ? [{ type: "plain_text", name: VAR_NAMES.oidcIssuer, text: OIDC_OFF }]
        : [
            { type: "plain_text", name: VAR_NAMES.oidcIssuer, text: settings.oidc.issuer },
            { type: "plain_text", name: VAR_NAMES.oidcAudience, text: settings.oidc.audience },
          ]),
    ],
    migrations: deployedMigrationTag.apply((tag) => migrationsToUpload(tag)),
    observability: workersLogs(settings.observability),
    ...(settings.dashboard ? { assets: dashboardAssets() } : {}),
  });

  const endpoint = publicEndpoint(settings, script);

  // Fleet reconciliation with GitHub's runners API, every minute, when an organization is named.
  if (settings.runnersOwner !== null) {
    new cloudflare.WorkersCronTrigger("fleet-reconcile", {
      accountId,
      scriptName: script.scriptName,
      schedules: [{ cron: RECONCILE_CRON }],
    });
  }

  const provider = new github.Provider("github", { owner: settings.githubOwner, token: githubProviderToken() });
  // Everything GitHub-side waits for the Worker (and its address): a rotated webhook secret is
  // only handed to GitHub once the Worker accepts it, so no delivery fails in between.
  const afterWorker: pulumi.CustomResourceOptions = { provider, dependsOn: [script, endpoint] };

  const repoIds = new Map<string, pulumi.Output<number>>();
  for (const repository of settings.repositories) {
    repoIds.set(repository.fullName, onboard(repository, settings, { webhookSecret, apiToken }, afterWorker));
  }

  for (const runner of settings.runnerClasses) {
    if (runner.group === null) continue;
    new github.ActionsRunnerGroup(
      `runner-group-${runner.id}`,
      {
        name: runner.group,
        visibility: "selected",
        selectedRepositoryIds: runner.repositories.flatMap((name) => repoIds.get(name) ?? []),
        restrictedToWorkflows: false,
        allowsPublicRepositories: false,
      },
      { provider },
    );
  }

  const selfHosted = settings.runnerClasses.filter((runner) => runner.kind === "self-hosted");
  return {
    scriptName: settings.scriptName,
    webhookUrl: settings.webhookUrl,
    apiUrl: settings.baseUrl,
    kvNamespaceId: kv.id,
    workerSha256: bundle.sha256,
    repositories: settings.repositories.map((r) => r.fullName),
    runsOn: Object.fromEntries(settings.runnerClasses.map((runner) => [runner.id, runner.runsOn])),
    runnerGroups: Object.fromEntries(selfHosted.map((runner) => [runner.id, runner.group])),
    runnerRegistration: Object.fromEntries(
      selfHosted.map((runner) => [runner.id, registrationCommand(runner, settings.githubOwner)]),
    ),
    workflowSnippet: workflowSnippet(settings.routing.defaults, {
      oidc: settings.oidc !== null,
      ...(settings.oidc === null ? {} : { audience: settings.oidc.audience }),
      actionRef: settings.actionRef,
    }),
    apiToken: pulumi.secret(apiToken),
  };
}

/**
 * The dashboard page as the script's static assets: Cloudflare serves its files (`/` is its
 * index.html) with the page's headers before the Worker runs, so loading the page costs no Worker
 * CPU and the Worker's bundle does not grow; every other path reaches the Worker.
 */
function dashboardAssets(): cloudflare.types.input.WorkersScriptAssets {
  return {
    directory: DASHBOARD_DIR,
    config: { headers: headersFile(), htmlHandling: "auto-trailing-slash", notFoundHandling: "none" },
  };
}

/**
 * The WorkersScript's observability setting. Enabled: Workers Logs keeps every invocation (the
 * request and its outcome) with the Worker's own JSON log lines, every request sampled, so past
 * requests can be searched in the dashboard. Disabled is sent as such, so that turning it off
 * takes effect on a script that had it on.
 */
function workersLogs(enabled: boolean): cloudflare.types.input.WorkersScriptObservability {
  return { enabled, headSamplingRate: 1, logs: { enabled, invocationLogs: enabled, headSamplingRate: 1 } };
}

/** Reads the project's config and validates it; a bad config ends the program with one message. */
function loadSettings(): StackSettings {
  const prefix = `${pulumi.getProject()}:`;
  const raw = Object.fromEntries(
    Object.entries(pulumi.runtime.allConfig())
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
  try {
    return parseStackConfig(raw, pulumi.getStack());
  } catch (error) {
    // A RunError ends the program with its message alone, without a stack trace.
    if (error instanceof StackConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

function generatedSecret(kind: string, generation: number): pulumi.Output<string> {
  const password = new random.RandomPassword(`${kind}-${generation}`, { length: 48, special: false });
  return pulumi.secret(password.result);
}

/** The GitHub provider's token: `github:token` from the stack config, else GITHUB_TOKEN; always a secret. */
function githubProviderToken(): pulumi.Output<string> | undefined {
  const configured = new pulumi.Config("github").getSecret("token");
  if (configured !== undefined) return configured;
  const fromEnv = process.env.GITHUB_TOKEN;
  return fromEnv ? pulumi.secret(fromEnv) : undefined;
}

/** The router's public address: a Custom Domain when configured, else its workers.dev host. */
function publicEndpoint(settings: StackSettings, script: cloudflare.WorkersScript): pulumi.CustomResource {
  const workersDev = new cloudflare.WorkersScriptSubdomain("workers-dev", {
    accountId: settings.cloudflareAccountId,
    scriptName: script.scriptName,
    enabled: settings.customDomain === null,
    previewsEnabled: false,
  });
  if (settings.customDomain === null) return workersDev;
  return new cloudflare.WorkersCustomDomain("custom-domain", {
    accountId: settings.cloudflareAccountId,
    hostname: settings.customDomain.hostname,
    zoneId: settings.customDomain.zoneId,
    service: script.scriptName,
  });
}

/**
 * One repository's share of the stack: the Actions variable its workflows call the router at;
 * with repository webhooks (no `githubApp`) also its webhook, since in App mode the App's one
 * webhook delivers every installed repository's events; without OIDC also the Actions secret
 * holding the API token (with OIDC a job proves its repository with a token GitHub issues, and
 * no repository holds a router secret; App mode always uses OIDC). Names derive from the
 * repository alone, so onboarding or removing one repository touches nothing else. Returns the
 * repository id for runner groups.
 */
function onboard(
  repository: RepositorySettings,
  settings: StackSettings,
  secrets: { webhookSecret: pulumi.Output<string>; apiToken: pulumi.Output<string> },
  options: pulumi.CustomResourceOptions,
): pulumi.Output<number> {
  const { name, slug } = repository;
  if (settings.githubApp === null) {
    new github.RepositoryWebhook(
      `webhook-${slug}`,
      {
        repository: name,
        active: true,
        events: [...WEBHOOK_EVENTS],
        configuration: {
          url: settings.webhookUrl,
          contentType: "json",
          insecureSsl: false,
          secret: secrets.webhookSecret,
        },
      },
      options,
    );
  }
  new github.ActionsVariable(
    `router-url-${slug}`,
    { repository: name, variableName: ROUTER_URL_VARIABLE, value: settings.baseUrl },
    options,
  );
  if (settings.oidc === null) {
    new github.ActionsSecret(
      `router-token-${slug}`,
      { repository: name, secretName: ROUTER_TOKEN_SECRET, value: secrets.apiToken },
      options,
    );
  }
  return github.getRepositoryOutput({ fullName: repository.fullName }, { provider: options.provider }).repoId;
}

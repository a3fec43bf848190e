import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY, DASHBOARD_DIR } from "../../dashboard/assets.ts";
import { WEBHOOK_EVENTS } from "../../infra/router.ts";
import { workflowSnippet } from "../../infra/workflow.ts";
import { BUNDLE_PATH, bundleWorker, ROOT } from "../../scripts/bundle.ts";
import {
  COMPATIBILITY_DATE,
  DEFAULT_OIDC_AUDIENCE,
  DEFAULT_OIDC_ISSUER,
  KV_BINDING,
  LEDGER_BINDING,
  LEDGER_CLASS,
  OIDC_OFF,
  SECRET_NAMES,
  VAR_NAMES,
} from "../../worker/src/bindings.ts";
import { parseRoutingConfig } from "../../worker/src/core/index.ts";
import {
  deployableConfig,
  key,
  ofType,
  only,
  type ProgramRun,
  passwordOf,
  REAL_VALUES,
  repoIdOf,
  reveal,
  runStack,
  STACKS,
  succeeded,
  TYPES,
  workerBindings,
} from "./harness.ts";

describe.each(STACKS)("the %s stack, from its own stack file", (stack) => {
  let run: ProgramRun;
  let outputs: Record<string, unknown>;
  let repositories: string[];

  beforeAll(async () => {
    run = await runStack(stack);
    outputs = succeeded(run);
    repositories = Object.keys(deployableConfig(stack)[key("repositories")] as Record<string, unknown>);
  });

  const script = () => only(run, TYPES.script);
  const webhooks = () => ofType(run, TYPES.webhook);

  it("onboards at least one repository (so the per-repository policies below are exercised)", () => {
    expect(repositories.length).toBeGreaterThan(0);
    expect(webhooks()).toHaveLength(repositories.length);
  });

  it("keeps build state in a KV namespace titled for the stack", () => {
    expect(only(run, TYPES.kv).inputs.title).toBe(`pmoves-ci-orchestrator-${stack}-build-state`);
  });

  it("deploys a module Worker named for the stack, at the compatibility date the Worker is written against", () => {
    expect(script().inputs).toMatchObject({
      scriptName: `pmoves-ci-orchestrator-${stack}`,
      mainModule: "index.js",
      compatibilityDate: COMPATIBILITY_DATE,
    });
  });

  it("deploys the bundle the Worker tests run, with the stack's routing configuration built in", async () => {
    const deployed = script().inputs.content as string;
    // The stack files keep the core's routing defaults; the built-in configuration lists every
    // onboarded repository, so that the Worker serves their OIDC tokens.
    const routingConfig = JSON.stringify({ repositories: Object.fromEntries(repositories.map((r) => [r, {}])) });
    const expected = await bundleWorker(join(tmpdir(), `stack-bundle-${process.pid}.js`), { routingConfig });
    expect(deployed).toBe(expected.code);
    expect(outputs.workerSha256).toBe(createHash("sha256").update(deployed).digest("hex"));
    // Without a configuration it is byte for byte the tests' bundle.
    const plain = await bundleWorker(join(tmpdir(), `plain-bundle-${process.pid}.js`));
    expect(plain.code).toBe(readFileSync(BUNDLE_PATH, "utf8"));
  });

  it("binds the KV namespace, the Ledger Durable Object and the plain vars by their names and types", () => {
    const { byName } = workerBindings(run);
    expect(byName.get(KV_BINDING)).toEqual({
      type: "kv_namespace",
      name: KV_BINDING,
      namespaceId: `kv-pmoves-ci-orchestrator-${stack}-build-state`,
    });
    expect(byName.get(LEDGER_BINDING)).toEqual({
      type: "durable_object_namespace",
      name: LEDGER_BINDING,
      className: LEDGER_CLASS,
    });
    expect(byName.get(VAR_NAMES.mode)).toEqual({ type: "plain_text", name: VAR_NAMES.mode, text: "hybrid" });
    // The routing configuration is built into the bundle instead (a variable holds at most 5 KB).
    expect(byName.has(VAR_NAMES.routingConfig)).toBe(false);
  });

  it("binds WEBHOOK_SECRET and API_TOKEN as secret_text, and the binding list travels as a secret", () => {
    const { secret, byName } = workerBindings(run);
    expect(secret).toBe(true);
    expect(byName.get(SECRET_NAMES.webhookSecret)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.webhookSecret,
      text: passwordOf(stack, "webhook-secret-1"),
    });
    expect(byName.get(SECRET_NAMES.apiToken)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.apiToken,
      text: passwordOf(stack, "api-token-1"),
    });
  });

  it("binds no previous webhook secret at generation 1, and no optional secret that is not configured", () => {
    const { byName } = workerBindings(run);
    expect(byName.has(SECRET_NAMES.webhookSecretPrevious)).toBe(false);
    expect(byName.has(SECRET_NAMES.githubToken)).toBe(false);
    expect(byName.has(SECRET_NAMES.discordWebhookUrl)).toBe(false);
    expect([...byName.keys()]).toHaveLength(7);
  });

  it("binds OIDC_ISSUER and OIDC_AUDIENCE as plain text, GitHub Actions' issuer and the default audience", () => {
    const { byName } = workerBindings(run);
    expect(byName.get(VAR_NAMES.oidcIssuer)).toEqual({
      type: "plain_text",
      name: VAR_NAMES.oidcIssuer,
      text: DEFAULT_OIDC_ISSUER,
    });
    expect(byName.get(VAR_NAMES.oidcAudience)).toEqual({
      type: "plain_text",
      name: VAR_NAMES.oidcAudience,
      text: DEFAULT_OIDC_AUDIENCE,
    });
  });

  it("turns Workers Logs on, every request sampled, so past requests can be searched", () => {
    expect(script().inputs.observability).toEqual({
      enabled: true,
      headSamplingRate: 1,
      logs: { enabled: true, invocationLogs: true, headSamplingRate: 1 },
    });
  });

  it("carries the dashboard page as static assets, with the page's Content-Security-Policy", () => {
    const assets = script().inputs.assets as { directory: string; config: { headers: string; htmlHandling: string } };
    expect(assets.directory).toBe(DASHBOARD_DIR);
    expect(existsSync(join(assets.directory, "index.html"))).toBe(true);
    expect(assets.config.htmlHandling).toBe("auto-trailing-slash");
    expect(assets.config.headers.split("\n")[0]).toBe("/*");
    expect(assets.config.headers).toContain(`Content-Security-Policy: ${CONTENT_SECURITY_POLICY}`);
  });

  it("creates the Ledger SQLite-backed (migration v1) on the first deploy", () => {
    expect(script().inputs.migrations).toEqual({ newTag: "v1", newSqliteClasses: [LEDGER_CLASS] });
  });

  it("enables the workers.dev address of the stack's script", () => {
    expect(only(run, TYPES.subdomain).inputs).toMatchObject({
      scriptName: `pmoves-ci-orchestrator-${stack}`,
      enabled: true,
      previewsEnabled: false,
    });
    expect(ofType(run, TYPES.customDomain)).toHaveLength(0);
  });

  it("every webhook posts JSON to the Worker's /webhook/github over verified TLS, and is active", () => {
    for (const webhook of webhooks()) {
      expect(webhook.inputs.active).toBe(true);
      expect(reveal(webhook.inputs.configuration).value).toMatchObject({
        url: `https://pmoves-ci-orchestrator-${stack}.acme.workers.dev/webhook/github`,
        contentType: "json",
        insecureSsl: false,
      });
    }
    expect(outputs.webhookUrl).toBe(`https://pmoves-ci-orchestrator-${stack}.acme.workers.dev/webhook/github`);
  });

  it("every webhook subscribes to push, pull_request, workflow_run and workflow_job, never workflow_dispatch", () => {
    for (const webhook of webhooks()) {
      expect(webhook.inputs.events).toEqual(["push", "pull_request", "workflow_run", "workflow_job"]);
      expect(webhook.inputs.events).not.toContain("workflow_dispatch");
    }
    expect(WEBHOOK_EVENTS).not.toContain("workflow_dispatch");
  });

  it("every webhook signs with the secret the Worker checks as WEBHOOK_SECRET", () => {
    const workerSecret = workerBindings(run).byName.get(SECRET_NAMES.webhookSecret)?.text;
    for (const webhook of webhooks()) {
      expect(reveal<{ secret: string }>(webhook.inputs.configuration).value.secret).toBe(workerSecret);
    }
  });

  it("the webhook secret is a secret wherever it is passed", () => {
    for (const webhook of webhooks()) expect(reveal(webhook.inputs.configuration).secret).toBe(true);
  });

  it("every webhook and Actions variable waits for the Worker script and its address", () => {
    const gitHubSide = [...webhooks(), ...ofType(run, TYPES.variable)];
    expect(gitHubSide).toHaveLength(2 * repositories.length);
    for (const resource of gitHubSide) {
      expect(resource.dependsOn).toContain(script().name);
      expect(resource.dependsOn).toContain(only(run, TYPES.subdomain).name);
    }
  });

  it("every onboarded repository gets CI_ROUTER_URL, and none holds the API token: route jobs use OIDC", () => {
    const names = repositories.map((fullName) => fullName.split("/")[1]);
    expect(ofType(run, TYPES.variable).map((v) => v.inputs)).toEqual(
      names.map((repository) => ({ repository, variableName: "CI_ROUTER_URL", value: outputs.apiUrl })),
    );
    expect(ofType(run, TYPES.secret)).toEqual([]);
  });

  it("one runner group per self-hosted class, visible only to the onboarded repositories, selected by id", () => {
    const groups = ofType(run, TYPES.runnerGroup);
    expect(groups.map((g) => g.inputs.name).sort()).toEqual(
      ["ai-lab", "kvm2", "kvm4", "vps"].map((id) => `pmoves-ci-orchestrator-${stack}-${id}`),
    );
    for (const group of groups) {
      expect(group.inputs).toMatchObject({ visibility: "selected", restrictedToWorkflows: false });
      expect(group.inputs.selectedRepositoryIds).toEqual(repositories.map(repoIdOf));
    }
  });

  it("manages GitHub through a provider pinned to the configured owner", () => {
    expect(only(run, TYPES.githubProvider).inputs.owner).toBe(REAL_VALUES.githubOwner);
  });

  it("outputs the runs-on labels of every runner class and how each self-hosted runner registers", () => {
    expect(outputs.runsOn).toEqual({
      "ai-lab": ["self-hosted", "ai-lab", "gpu"],
      vps: ["self-hosted", "vps"],
      kvm4: ["self-hosted", "cloudstartup", "kvm4"],
      "github-hosted": ["ubuntu-latest"],
      kvm2: ["self-hosted", "kvm2"],
    });
    const registration = outputs.runnerRegistration as Record<string, string>;
    expect(Object.keys(registration).sort()).toEqual(["ai-lab", "kvm2", "kvm4", "vps"]);
    expect(registration["ai-lab"]).toContain(
      `--runnergroup pmoves-ci-orchestrator-${stack}-ai-lab --labels ai-lab,gpu`,
    );
  });

  it("outputs the URLs, the KV namespace id and a workflow snippet that calls the router", () => {
    expect(outputs.apiUrl).toBe(`https://pmoves-ci-orchestrator-${stack}.acme.workers.dev`);
    expect(outputs.kvNamespaceId).toBe(`kv-pmoves-ci-orchestrator-${stack}-build-state`);
    // The stack files keep the core's default policy, so the snippet is the default one.
    expect(outputs.workflowSnippet).toBe(workflowSnippet(parseRoutingConfig({ mode: "hybrid" }).defaults));
  });

  it("stack outputs hold no secret in plain: the API token is the only secret output, marked secret", () => {
    expect(run.secretOutputs).toEqual(["apiToken"]);
    expect(outputs.apiToken).toBe(passwordOf(stack, "api-token-1"));
    const { apiToken: _secret, ...plain } = outputs;
    const text = JSON.stringify(plain);
    for (const password of ofType(run, TYPES.password)) {
      expect(text).not.toContain(passwordOf(stack, password.name));
    }
  });
});

describe("stacks side by side", () => {
  it("staging and production are separate Workers with separate KV namespaces and runner groups", async () => {
    // One program at a time: the Pulumi runtime is global to the process.
    const staging = await runStack("staging");
    const production = await runStack("production");
    expect(only(staging, TYPES.script).inputs.scriptName).toBe("pmoves-ci-orchestrator-staging");
    expect(only(production, TYPES.script).inputs.scriptName).toBe("pmoves-ci-orchestrator-production");
    expect(only(staging, TYPES.kv).inputs.title).not.toBe(only(production, TYPES.kv).inputs.title);
    const groupNames = (run: ProgramRun) => ofType(run, TYPES.runnerGroup).map((g) => g.inputs.name);
    expect(groupNames(staging).filter((name) => groupNames(production).includes(name))).toEqual([]);
  });
});

describe("a stack's later deploys", () => {
  it("send no Durable Object migration once the script is at v1, so a second `pulumi up` cannot fail on it", async () => {
    const run = await runStack("staging", undefined, {
      deployedScripts: [
        { id: "some-other-worker", migrationTag: "v3" },
        { id: "pmoves-ci-orchestrator-staging", migrationTag: "v1" },
      ],
    });
    succeeded(run);
    expect(only(run, TYPES.script).inputs.migrations).toBeUndefined();
  });

  it("bundle the same bytes from the same code, so nothing but a code change redeploys the Worker", async () => {
    const [first, second] = [await runStack("staging"), await runStack("staging")];
    expect(only(second, TYPES.script).inputs).toEqual(only(first, TYPES.script).inputs);
    expect(succeeded(second).workerSha256).toBe(succeeded(first).workerSha256);
  });
});

describe("without OIDC (oidc: false)", () => {
  let run: ProgramRun;
  let repositories: string[];

  beforeAll(async () => {
    run = await runStack("staging", (config) => {
      config[key("oidc")] = false;
    });
    succeeded(run);
    repositories = Object.keys(deployableConfig("staging")[key("repositories")] as Record<string, unknown>);
  });

  it("every onboarded repository gets CI_ROUTER_TOKEN, the Worker's API token, as a secret", () => {
    const apiToken = workerBindings(run).byName.get(SECRET_NAMES.apiToken)?.text;
    const secrets = ofType(run, TYPES.secret);
    expect(secrets.map((s) => s.inputs.repository)).toEqual(repositories.map((fullName) => fullName.split("/")[1]));
    for (const secret of secrets) {
      expect(secret.inputs.secretName).toBe("CI_ROUTER_TOKEN");
      expect(reveal(secret.inputs.value)).toEqual({ secret: true, value: apiToken });
      expect(secret.dependsOn).toContain("worker");
      expect(secret.dependsOn).toContain(only(run, TYPES.subdomain).name);
    }
    expect(ofType(run, TYPES.variable)).toHaveLength(repositories.length);
  });

  it("binds OIDC_ISSUER off (the Worker takes no OIDC token) and no OIDC_AUDIENCE", () => {
    const { byName } = workerBindings(run);
    expect(byName.get(VAR_NAMES.oidcIssuer)).toMatchObject({ type: "plain_text", text: OIDC_OFF });
    expect(byName.has(VAR_NAMES.oidcAudience)).toBe(false);
  });

  it("outputs the workflow that sends the token secret instead of asking for an OIDC token", () => {
    const outputs = succeeded(run);
    expect(outputs.workflowSnippet).toBe(workflowSnippet(parseRoutingConfig({}).defaults, { oidc: false }));
    expect(outputs.workflowSnippet).toContain(`token: \${{ secrets.CI_ROUTER_TOKEN }}`);
  });
});

describe("optional settings", () => {
  it("bind the configured OIDC issuer and audience, and print the audience in the workflow", async () => {
    const run = await runStack("production", (config) => {
      config[key("oidcIssuer")] = "https://ghe.example.com/_services/token";
      config[key("oidcAudience")] = "ci-router";
    });
    const { byName } = workerBindings(run);
    expect(byName.get(VAR_NAMES.oidcIssuer)?.text).toBe("https://ghe.example.com/_services/token");
    expect(byName.get(VAR_NAMES.oidcAudience)?.text).toBe("ci-router");
    expect(succeeded(run).workflowSnippet).toContain("audience: ci-router");
  });

  it("upload no assets when dashboard is false", async () => {
    const run = await runStack("staging", (config) => {
      config[key("dashboard")] = false;
    });
    succeeded(run);
    expect(only(run, TYPES.script).inputs.assets).toBeUndefined();
  });

  it("turn Workers Logs off when observability is false", async () => {
    const run = await runStack("staging", (config) => {
      config[key("observability")] = false;
    });
    succeeded(run);
    expect(only(run, TYPES.script).inputs.observability).toEqual({
      enabled: false,
      headSamplingRate: 1,
      logs: { enabled: false, invocationLogs: false, headSamplingRate: 1 },
    });
  });

  it("print the workflow with the configured route action", async () => {
    const run = await runStack("staging", (config) => {
      config[key("actionRef")] = "acme/pmoves-ci-orchestrator/action@v2.1.0";
    });
    expect(succeeded(run).workflowSnippet).toContain("uses: acme/pmoves-ci-orchestrator/action@v2.1.0");
  });

  it("bind GITHUB_TOKEN and DISCORD_WEBHOOK_URL as secrets only when configured", async () => {
    const run = await runStack("staging", (config) => {
      config[key("githubToken")] = "ghp_example";
      config[key("discordWebhookUrl")] = "https://discord.com/api/webhooks/1/example";
    });
    const { secret, byName } = workerBindings(run);
    expect(secret).toBe(true);
    expect(byName.get(SECRET_NAMES.githubToken)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.githubToken,
      text: "ghp_example",
    });
    expect(byName.get(SECRET_NAMES.discordWebhookUrl)).toMatchObject({ type: "secret_text" });
    expect(JSON.stringify(succeeded(run))).not.toContain("ghp_example");
  });

  it("bind each warm hook's signing key as a secret under the name its runner class gives", async () => {
    const run = await runStack("staging", (config) => {
      config[key("routing")] = {
        runners: { vps: { warm: { url: "https://warm.example.com/vps", secretEnv: "WARM_SECRET_VPS" } } },
      };
      config[key("warmSecrets")] = { WARM_SECRET_VPS: "warm-key-example" };
    });
    const { byName } = workerBindings(run);
    expect(byName.get("WARM_SECRET_VPS")).toEqual({
      type: "secret_text",
      name: "WARM_SECRET_VPS",
      text: "warm-key-example",
    });
    expect(JSON.stringify(succeeded(run))).not.toContain("warm-key-example");
  });

  it("serve the router on a custom domain instead of workers.dev when one is configured", async () => {
    const run = await runStack("production", (config) => {
      delete config[key("workersSubdomain")];
      config[key("customDomain")] = { hostname: "ci.example.com", zoneId: "f".repeat(32) };
    });
    const outputs = succeeded(run);
    expect(only(run, TYPES.customDomain).inputs).toMatchObject({
      hostname: "ci.example.com",
      service: "pmoves-ci-orchestrator-production",
    });
    expect(only(run, TYPES.subdomain).inputs.enabled).toBe(false);
    expect(outputs.webhookUrl).toBe("https://ci.example.com/webhook/github");
    for (const webhook of ofType(run, TYPES.webhook)) {
      expect(reveal<{ url: string }>(webhook.inputs.configuration).value.url).toBe(
        "https://ci.example.com/webhook/github",
      );
      expect(webhook.dependsOn).toContain(only(run, TYPES.customDomain).name);
    }
  });

  it("leave runner groups unmanaged when runnerGroups is false", async () => {
    const run = await runStack("staging", (config) => {
      config[key("runnerGroups")] = false;
    });
    expect(ofType(run, TYPES.runnerGroup)).toHaveLength(0);
    expect(succeeded(run).runnerRegistration).toMatchObject({ vps: expect.not.stringContaining("--runnergroup") });
  });
});

it("the stack files hold no secret values (secrets are set with `pulumi config set --secret`)", () => {
  for (const stack of STACKS) {
    const text = readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8");
    expect(text).not.toMatch(/githubToken|discordWebhookUrl|secure:/);
  }
});

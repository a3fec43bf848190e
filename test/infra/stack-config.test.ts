import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseStackConfig, SECRET_KEYS, StackConfigError } from "../../infra/stack-config.ts";
import { DEFAULT_ACTION_REF } from "../../infra/workflow.ts";
import { DEFAULT_OIDC_AUDIENCE, DEFAULT_OIDC_ISSUER } from "../../worker/src/bindings.ts";
import { parseRoutingConfig, policyFor, RoutingConfigError } from "../../worker/src/core/index.ts";

/** The smallest valid stack config, as the Pulumi engine hands it over (strings; objects as JSON). */
const MINIMAL = {
  cloudflareAccountId: "4b0c9e2d7a1f48e3b6c5d9a0e7f2c1d8",
  workersSubdomain: "acme",
  githubOwner: "acme",
} as const;

const json = (value: unknown) => JSON.stringify(value);

function problemsOf(raw: Record<string, string>, stack = "staging"): readonly string[] {
  try {
    parseStackConfig(raw, stack);
  } catch (error) {
    if (error instanceof StackConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

/** The core parser's own problem lines for a routing input. */
function coreProblems(input: unknown): readonly string[] {
  try {
    parseRoutingConfig(input);
  } catch (error) {
    if (error instanceof RoutingConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the core parser to reject the routing input");
}

describe("the stack config loader", () => {
  it("resolves a minimal config with the core's defaults", () => {
    const settings = parseStackConfig({ ...MINIMAL }, "staging");
    expect(settings.scriptName).toBe("pmoves-ci-orchestrator-staging");
    expect(settings.kvTitle).toBe("pmoves-ci-orchestrator-staging-build-state");
    expect(settings.mode).toBe("hybrid");
    expect(settings.webhookSecretGeneration).toBe(1);
    expect(settings.apiTokenGeneration).toBe(1);
    expect(settings.runnerGroups).toBe(true);
    expect(settings.routingInput).toEqual({});
    expect(settings.repositories).toEqual([]);
    expect(settings.baseUrl).toBe("https://pmoves-ci-orchestrator-staging.acme.workers.dev");
    expect(settings.webhookUrl).toBe("https://pmoves-ci-orchestrator-staging.acme.workers.dev/webhook/github");
    expect(settings.optionalSecrets).toEqual({ githubToken: false, discordWebhookUrl: false });
    expect(settings.oidc).toEqual({ issuer: DEFAULT_OIDC_ISSUER, audience: DEFAULT_OIDC_AUDIENCE });
    expect(settings.actionRef).toBe(DEFAULT_ACTION_REF);
    expect(settings.observability).toBe(true);
    expect(settings.dashboard).toBe(true);
  });

  it("names everything after the stack, so stacks never share a Worker or a namespace", () => {
    const staging = parseStackConfig({ ...MINIMAL }, "staging");
    const production = parseStackConfig({ ...MINIMAL }, "production");
    expect(staging.scriptName).not.toBe(production.scriptName);
    expect(staging.kvTitle).not.toBe(production.kvTitle);
    expect(staging.runnerClasses.map((r) => r.group)).not.toEqual(production.runnerClasses.map((r) => r.group));
  });

  it("reports every problem at once, in one error", () => {
    const problems = problemsOf({
      cloudflareAccountId: "not-an-account",
      githubOwner: "acme",
      mode: "turbo",
      webhookSecretGeneration: "0",
      apiTokenGeneration: "two",
      runnerGroups: "yes",
      webhookSecretGenration: "2",
      routing: json({ rules: [{ id: "gpu", requirement: "gpu", patterns: ["/kernels/**"] }] }),
    });
    const text = problems.join("\n");
    expect(problems).toHaveLength(8);
    expect(text).toContain("cloudflareAccountId: must be 32 lower-case hex characters");
    expect(text).toContain("workersSubdomain: required unless customDomain is set");
    expect(text).toContain('mode: must be one of hybrid, self-hosted-only, cloudflare-only (got "turbo")');
    expect(text).toContain('webhookSecretGeneration: must be an integer ≥ 1 (got "0")');
    expect(text).toContain('apiTokenGeneration: must be an integer ≥ 1 (got "two")');
    expect(text).toContain('runnerGroups: must be true or false (got "yes")');
    expect(text).toContain("webhookSecretGenration: unknown key");
    expect(text).toContain("must be relative to the repository root (no leading '/')");
  });

  it("puts the problem count and every problem in the error message", () => {
    expect(() => parseStackConfig({ githubOwner: "acme" }, "production")).toThrowError(
      /stack "production" has 2 config problems \(nothing was deployed\):\n {2}- cloudflareAccountId: required.*\n {2}- workersSubdomain: required/,
    );
  });

  it("rejects a bad routing rule with the core parser's own words", () => {
    const routing = { rules: [{ id: "docker", requirement: "docker", patterns: ["/services/**"] }] };
    const [core] = coreProblems(routing);
    expect(core).toBeDefined();
    expect(problemsOf({ ...MINIMAL, routing: json(routing) })).toEqual([`routing.${core}`]);
  });

  it("rejects a bad per-repository override with the core parser's own words", () => {
    const override = { assign: { gpu: "nowhere" } };
    const [core] = coreProblems({ repositories: { "acme/api": override } });
    expect(problemsOf({ ...MINIMAL, repositories: json({ "acme/api": override }) })).toEqual([core]);
  });

  it.each([
    ["workersSubdomain", "acme.workers.dev", "workersSubdomain: must be one lower-case DNS label"],
    ["workerName", "Router_Name", 'workerName: "Router_Name" plus the stack name'],
    ["workerName", "x".repeat(60), "at most 63 characters"],
    ["githubOwner", "acme/tools", "githubOwner: not a GitHub account name"],
    ["routing", "rules: []", "routing: must be an object"],
    ["routing", json({ mode: "hybrid" }), 'routing.mode: set it with the stack\'s own "mode" key'],
    ["routing", json({ repositories: {} }), 'routing.repositories: set it with the stack\'s own "repositories" key'],
    ["repositories", json(["acme/api"]), "repositories: must be an object"],
    ["repositories", json({ api: {} }), 'repositories["api"]: must be "owner/name"'],
    [
      "repositories",
      json({ "other/api": {} }),
      'repositories["other/api"]: belongs to "other", but this stack\'s githubOwner is "acme"',
    ],
    [
      "repositories",
      json({ "acme/api": {}, "ACME/API": {} }),
      'repositories["ACME/API"]: listed twice (also as "acme/api"; names are case-insensitive)',
    ],
    ["repositories", json({ "acme/api": "fast" }), 'repositories["acme/api"]: must be a map of routing overrides'],
    ["customDomain", json({ hostname: "ci.example.com" }), "customDomain.zoneId: must be the zone id"],
    ["customDomain", json({ hostname: "CI", zoneId: "0".repeat(32), port: 8443 }), "customDomain.port: unknown key"],
  ])("rejects %s = %s", (name, value, expected) => {
    expect(problemsOf({ ...MINIMAL, [name]: value }).join("\n")).toContain(expected);
  });

  it("never echoes a secret value in a problem", () => {
    const problems = problemsOf({ ...MINIMAL, discordWebhookUrl: "http://discord.example/hook-SECRET-PART" });
    expect(problems).toEqual(["discordWebhookUrl: must be an https:// URL"]);
  });

  it("records which optional secrets are set, without keeping their values", () => {
    const settings = parseStackConfig(
      { ...MINIMAL, githubToken: "ghp_value", discordWebhookUrl: "https://discord.com/api/webhooks/1/x" },
      "staging",
    );
    expect(settings.optionalSecrets).toEqual({ githubToken: true, discordWebhookUrl: true });
    expect(JSON.stringify(settings)).not.toContain("ghp_value");
    expect(JSON.stringify(settings)).not.toContain("discord.com/api/webhooks");
  });

  it("serves the router on the custom domain when one is configured, and then needs no workers.dev subdomain", () => {
    const settings = parseStackConfig(
      {
        cloudflareAccountId: MINIMAL.cloudflareAccountId,
        githubOwner: "acme",
        customDomain: json({ hostname: "ci.example.com", zoneId: "f".repeat(32) }),
      },
      "production",
    );
    expect(settings.workersSubdomain).toBeNull();
    expect(settings.webhookUrl).toBe("https://ci.example.com/webhook/github");
  });

  it("lists every onboarded repository in the routing config, {} for none, so the Worker serves its OIDC tokens", () => {
    const settings = parseStackConfig(
      { ...MINIMAL, repositories: json({ "acme/web": {}, "acme/api": {} }) },
      "staging",
    );
    expect(settings.routingInput).toEqual({ repositories: { "acme/api": {}, "acme/web": {} } });
    // Sorted, so that the order of the stack file never changes the bundle.
    expect(Object.keys(settings.routingInput.repositories ?? {})).toEqual(["acme/api", "acme/web"]);
    expect(settings.repositories.map((r) => r.fullName)).toEqual(["acme/api", "acme/web"]);
    // Listed with {}, a repository keeps the default policy.
    expect(policyFor(settings.routing, "acme/api")).toEqual(settings.routing.defaults);
  });

  it("carries per-repository overrides into the routing config, where the Worker applies them", () => {
    const settings = parseStackConfig(
      { ...MINIMAL, repositories: json({ "acme/ml": { assign: { default: "ai-lab" } }, "acme/api": {} }) },
      "staging",
    );
    expect(settings.routingInput).toEqual({
      repositories: { "acme/api": {}, "acme/ml": { assign: { default: "ai-lab" } } },
    });
    expect(settings.routing.repositories["acme/ml"]?.assign.default).toBe("ai-lab");
  });

  it("serves every repository of the owner for an owner/* entry, and onboards none for it", () => {
    const settings = parseStackConfig(
      {
        ...MINIMAL,
        repositories: json({
          "acme/*": { mode: "cloudflare-only" },
          "acme/api": {},
          "acme/ml": { assign: { default: "ai-lab" } },
        }),
      },
      "staging",
    );
    expect(settings.repositories.map((r) => r.fullName)).toEqual(["acme/api", "acme/ml"]);
    // acme/api has no overrides of its own: the owner's entry serves it, with that entry's policy.
    expect(settings.routingInput).toEqual({
      repositories: { "acme/*": { mode: "cloudflare-only" }, "acme/ml": { assign: { default: "ai-lab" } } },
    });
    expect(policyFor(settings.routing, "acme/api").mode).toBe("cloudflare-only");
    expect(policyFor(settings.routing, "acme/anything-else").mode).toBe("cloudflare-only");
    expect(settings.repositories.find((r) => r.fullName === "acme/api")?.runners).toEqual([]);
  });

  it("holds an owner/* entry to the stack's owner, like any repository", () => {
    expect(problemsOf({ ...MINIMAL, repositories: json({ "other/*": {} }) })).toEqual([
      'repositories["other/*"]: belongs to "other", but this stack\'s githubOwner is "acme"',
    ]);
  });

  it("sets the mode through RUNNER_DISPATCH_MODE and checks it against the pool", () => {
    expect(parseStackConfig({ ...MINIMAL, mode: "self-hosted-only" }, "staging").mode).toBe("self-hosted-only");
    const problems = problemsOf({
      ...MINIMAL,
      mode: "self-hosted-only",
      routing: json({ assign: { default: "github-hosted" } }),
    });
    expect(problems).toEqual(['mode: "self-hosted-only" needs assign.default to be a self-hosted runner']);
  });

  it("gives every self-hosted runner class a runner group holding the repositories that can reach it", () => {
    const settings = parseStackConfig(
      {
        ...MINIMAL,
        repositories: json({
          "acme/api": {},
          "acme/docs": { mode: "cloudflare-only" },
          "acme/web": { assign: { gpu: "vps", deploy: "vps" }, runners: { vps: { fallback: null } } },
        }),
      },
      "staging",
    );
    const byId = Object.fromEntries(settings.runnerClasses.map((r) => [r.id, r]));
    expect(byId["ai-lab"]).toMatchObject({
      group: "pmoves-ci-orchestrator-staging-ai-lab",
      repositories: ["acme/api"],
    });
    expect(byId.vps?.repositories).toEqual(["acme/api", "acme/web"]);
    expect(byId.kvm2?.repositories).toEqual(["acme/api"]);
    expect(byId["github-hosted"]).toMatchObject({ kind: "github-hosted", group: null, repositories: [] });
  });

  it("leaves runner groups out when they are not managed", () => {
    const settings = parseStackConfig({ ...MINIMAL, runnerGroups: "false" }, "staging");
    expect(settings.runnerClasses.every((r) => r.group === null)).toBe(true);
  });

  it("names per-repository resources after the repository alone, case-insensitively", () => {
    const settings = parseStackConfig({ ...MINIMAL, repositories: json({ "acme/PMOVES.AI": {} }) }, "staging");
    expect(settings.repositories[0]).toMatchObject({
      fullName: "acme/PMOVES.AI",
      name: "PMOVES.AI",
      slug: "acme-pmoves.ai",
    });
  });
});

describe("OIDC settings", () => {
  it("default to GitHub Actions' issuer and the router's audience", () => {
    expect(parseStackConfig({ ...MINIMAL }, "staging").oidc).toEqual({
      issuer: "https://token.actions.githubusercontent.com",
      audience: "pmoves-ci-orchestrator",
    });
  });

  it.each([
    "https://ghe.example.com/_services/token",
    "http://127.0.0.1:8787",
    "http://localhost:9000/issuer",
    "http://[::1]:8080",
  ])("take the issuer %s", (issuer) => {
    expect(parseStackConfig({ ...MINIMAL, oidcIssuer: issuer }, "staging").oidc?.issuer).toBe(issuer);
  });

  it.each([
    ["http://example.com", "oidcIssuer: must be an https:// URL (http:// only for a loopback issuer"],
    ["http://127.0.0.2", "oidcIssuer: must be an https:// URL"],
    ["token.actions.githubusercontent.com", "oidcIssuer: must be a URL"],
    ["https://token.actions.githubusercontent.com/", 'oidcIssuer: must not end with "/"'],
    ["https://user:pw@ghe.example.com/_services/token", "oidcIssuer: must be a bare issuer URL"],
    ["https://ghe.example.com/_services/token?x=1", "oidcIssuer: must be a bare issuer URL"],
  ])("reject the issuer %s", (issuer, expected) => {
    expect(problemsOf({ ...MINIMAL, oidcIssuer: issuer }).join("\n")).toContain(expected);
  });

  it("reject an empty issuer or audience instead of quietly using the default", () => {
    expect(problemsOf({ ...MINIMAL, oidcIssuer: "", oidcAudience: "  " })).toEqual([
      "oidcIssuer: must not be empty (leave it unset for the default)",
      "oidcAudience: must not be empty (leave it unset for the default)",
    ]);
  });

  it("turn off with oidc false, and then refuse an issuer or audience that would not be used", () => {
    expect(parseStackConfig({ ...MINIMAL, oidc: "false" }, "staging").oidc).toBeNull();
    expect(problemsOf({ ...MINIMAL, oidc: "false", oidcIssuer: DEFAULT_OIDC_ISSUER, oidcAudience: "x" })).toEqual([
      "oidcIssuer: only used when oidc is true (remove it, or set oidc to true)",
      "oidcAudience: only used when oidc is true (remove it, or set oidc to true)",
    ]);
    expect(problemsOf({ ...MINIMAL, oidc: "no" })).toEqual(['oidc: must be true or false (got "no")']);
  });
});

describe("workflow and logging settings", () => {
  it("take a route action reference, and reject what is not one", () => {
    expect(parseStackConfig({ ...MINIMAL, actionRef: "acme/router/action@v2" }, "staging").actionRef).toBe(
      "acme/router/action@v2",
    );
    expect(problemsOf({ ...MINIMAL, actionRef: "acme/router/action" })).toEqual([
      `actionRef: must be an action reference owner/repo[/path]@ref, like ${DEFAULT_ACTION_REF} (got "acme/router/action")`,
    ]);
  });

  it("leave the dashboard out with dashboard false", () => {
    expect(parseStackConfig({ ...MINIMAL, dashboard: "false" }, "staging").dashboard).toBe(false);
    expect(problemsOf({ ...MINIMAL, dashboard: "yes" })).toEqual(['dashboard: must be true or false (got "yes")']);
  });

  it("turn Workers Logs off with observability false", () => {
    expect(parseStackConfig({ ...MINIMAL, observability: "false" }, "staging").observability).toBe(false);
    expect(problemsOf({ ...MINIMAL, observability: "on" })).toEqual([
      'observability: must be true or false (got "on")',
    ]);
  });
});

describe("placeholders", () => {
  it.each([
    ["cloudflareAccountId", "023e105f4ecef8ad9ca31a8372d0c353", "your Cloudflare account id"],
    ["cloudflareAccountId", "0123456789abcdef0123456789abcdef", "your Cloudflare account id"],
    ["workersSubdomain", "your-account", "your account's workers.dev subdomain"],
    ["githubOwner", "your-org", "the GitHub organization (or user) that owns your repositories"],
  ])("reject %s = %s, naming the key and what to put there", (name, value, instead) => {
    expect(problemsOf({ ...MINIMAL, [name]: value })).toContain(
      `${name}: "${value}" is still the placeholder: replace the placeholder with ${instead}`,
    );
  });

  it("reject a repository of the placeholder owner, and the sample zone id", () => {
    const problems = problemsOf({
      ...MINIMAL,
      repositories: json({ "Your-Org/api": {} }),
      customDomain: json({ hostname: "ci.example.com", zoneId: "0123456789abcdef0123456789abcdef" }),
    });
    expect(problems).toEqual([
      'customDomain.zoneId: "0123456789abcdef0123456789abcdef" is still the placeholder: replace the placeholder with your zone\'s id',
      'repositories["Your-Org/api"]: "Your-Org" is still the placeholder: replace the placeholder with the GitHub organization (or user) that owns your repositories',
    ]);
  });
});

describe("warmSecrets", () => {
  const routing = json({
    runners: { vps: { warm: { url: "https://warm.example.com/vps", secretEnv: "WARM_SECRET_VPS" } } },
  });

  it("names every warm hook's key: none is read as a value", () => {
    const settings = parseStackConfig({ ...MINIMAL, routing, warmSecrets: json({ WARM_SECRET_VPS: "k" }) }, "staging");
    expect(settings.warmSecretNames).toEqual(["WARM_SECRET_VPS"]);
    expect(JSON.stringify(settings)).not.toContain('"k"');
  });

  it("a hook's key left out, a key no hook names, a bad name and a bad shape are each a problem, no value quoted", () => {
    expect(problemsOf({ ...MINIMAL, routing })).toContain(
      "warmSecrets.WARM_SECRET_VPS: required, a warm hook signs with it (set with --secret --path 'warmSecrets.WARM_SECRET_VPS')",
    );
    const extra = problemsOf({
      ...MINIMAL,
      routing,
      warmSecrets: json({ WARM_SECRET_VPS: "k", WARM_OTHER: "secret-value", nope: "secret-value" }),
    });
    expect(extra).toContain("warmSecrets.WARM_OTHER: no runners.<id>.warm.secretEnv names it");
    expect(extra).toContain("warmSecrets.nope: a name must be WARM_ and 1 to 64 of A-Z, 0-9, _");
    expect(extra.join("\n")).not.toContain("secret-value");
    expect(problemsOf({ ...MINIMAL, routing, warmSecrets: json(["x"]) })).toContain(
      'warmSecrets: must be a map of "WARM_…" names to non-empty signing keys (set with --secret --path)',
    );
  });

  it("without warm hooks, no key is needed", () => {
    expect(parseStackConfig({ ...MINIMAL }, "staging").warmSecretNames).toEqual([]);
  });
});

describe("githubApp", () => {
  const pem = generateKeyPairSync("rsa", { modulusLength: 2048 })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
  const app = (fields: Record<string, unknown>) =>
    json({ appId: 42, privateKey: pem, webhookSecret: "webhook-secret-value", ...fields });

  it("is off by default: repository webhooks", () => {
    expect(parseStackConfig({ ...MINIMAL }, "staging").githubApp).toBeNull();
  });

  it("keeps only the App id, as text, and is read by the program as a secret", () => {
    const settings = parseStackConfig({ ...MINIMAL, githubApp: app({}) }, "staging");
    expect(settings.githubApp).toEqual({ appId: "42" });
    expect(JSON.stringify(settings)).not.toContain("webhook-secret-value");
    expect(JSON.stringify(settings)).not.toContain("PRIVATE KEY");
    expect(SECRET_KEYS).toContain("githubApp");
    expect(parseStackConfig({ ...MINIMAL, githubApp: app({ appId: "42" }) }, "staging").githubApp).toEqual({
      appId: "42",
    });
  });

  it.each([
    [{ appId: 0 }, 'githubApp.appId: must be the App\'s numeric id (got "0")'],
    [{ appId: 4.5 }, "githubApp.appId: must be the App's numeric id"],
    [{ appId: "-3" }, 'githubApp.appId: must be the App\'s numeric id (got "-3")'],
    [{ appId: undefined }, "githubApp.appId: required"],
    [{ webhookSecret: "" }, "githubApp.webhookSecret: required"],
    [{ webhookSecret: 7 }, "githubApp.webhookSecret: must be text"],
    [
      { privateKey: pem.replace("PRIVATE KEY", "PUBLIC KEY") },
      "githubApp.privateKey: must be the App's RSA private key",
    ],
  ])("refuses %j", (fields, expected) => {
    const problems = problemsOf({ ...MINIMAL, githubApp: app(fields) });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(expected);
    expect(problems.join("\n")).not.toContain("webhook-secret-value");
  });

  it("never quotes a key set under the id's name", () => {
    const problems = problemsOf({ ...MINIMAL, githubApp: app({ appId: pem }) });
    expect(problems).toEqual(["githubApp.appId: must be the App's numeric id"]);
  });
});

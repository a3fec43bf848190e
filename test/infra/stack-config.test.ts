import { describe, expect, it } from "vitest";
import { parseStackConfig, StackConfigError } from "../../infra/stack-config.ts";
import { parseRoutingConfig, RoutingConfigError } from "../../worker/src/core/index.ts";

/** The smallest valid stack config, as the Pulumi engine hands it over (strings; objects as JSON). */
const MINIMAL = {
  cloudflareAccountId: "0123456789abcdef0123456789abcdef",
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

  it("onboards a repository with no overrides without changing ROUTING_CONFIG", () => {
    const before = parseStackConfig({ ...MINIMAL, repositories: json({ "acme/api": {} }) }, "staging");
    const after = parseStackConfig({ ...MINIMAL, repositories: json({ "acme/api": {}, "acme/web": {} }) }, "staging");
    expect(after.routingInput).toEqual(before.routingInput);
    expect(after.repositories.map((r) => r.fullName)).toEqual(["acme/api", "acme/web"]);
  });

  it("carries per-repository overrides into ROUTING_CONFIG, where the Worker applies them", () => {
    const settings = parseStackConfig(
      { ...MINIMAL, repositories: json({ "acme/ml": { assign: { default: "ai-lab" } }, "acme/api": {} }) },
      "staging",
    );
    expect(settings.routingInput).toEqual({ repositories: { "acme/ml": { assign: { default: "ai-lab" } } } });
    expect(settings.routing.repositories["acme/ml"]?.assign.default).toBe("ai-lab");
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

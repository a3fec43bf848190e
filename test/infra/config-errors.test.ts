import { describe, expect, it } from "vitest";
import { parseRoutingConfig, RoutingConfigError } from "../../worker/src/core/index.ts";
import { key, runStack } from "./harness.ts";

describe("a bad stack config", () => {
  it("fails the program with one message naming every problem, before any resource is declared", async () => {
    const run = await runStack("staging", (config) => {
      config[key("cloudflareAccountId")] = "my-account";
      config[key("workersSubdomain")] = "your-account.workers.dev";
      config[key("mode")] = "fastest";
      config[key("webhookSecretGeneration")] = 0;
      config[key("repositories")] = { "someone-else/repo": {}, "not-a-repository": {} };
      config[key("webhookSecret")] = "typo";
    });
    expect(run.resources).toEqual([]);
    const message = run.error?.message ?? "";
    expect(message).toMatch(/^stack "staging" has 7 config problems \(nothing was deployed\):\n/);
    for (const problem of [
      "cloudflareAccountId: must be 32 lower-case hex characters",
      "workersSubdomain: must be one lower-case DNS label",
      'mode: must be one of hybrid, self-hosted-only, cloudflare-only (got "fastest")',
      'webhookSecretGeneration: must be an integer ≥ 1 (got "0")',
      'repositories["someone-else/repo"]: belongs to "someone-else", but this stack\'s githubOwner is "your-org"',
      'repositories["not-a-repository"]: must be "owner/name"',
      "webhookSecret: unknown key",
    ]) {
      expect(message).toContain(problem);
    }
  });

  it("fails the program on a bad routing rule with the core parser's message", async () => {
    const routing = { rules: [{ id: "docs", requirement: "lightweight", patterns: ["/docs/**", "docs\\*.md"] }] };
    let core: readonly string[] = [];
    try {
      parseRoutingConfig(routing);
    } catch (error) {
      if (error instanceof RoutingConfigError) core = error.problems;
    }
    expect(core).toHaveLength(2);
    const run = await runStack("production", (config) => {
      config[key("routing")] = routing;
    });
    expect(run.resources).toEqual([]);
    for (const problem of core) expect(run.error?.message).toContain(problem);
    expect(run.error?.message).toContain("must be relative to the repository root (no leading '/')");
  });
});

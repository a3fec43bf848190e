import { describe, expect, it } from "vitest";
import { parseRoutingConfig, RoutingConfigError } from "../../worker/src/core/index.ts";
import { key, PLACEHOLDER_OWNER, runProgram, runStack, STACKS, stackFileConfig } from "./harness.ts";

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
      'repositories["someone-else/repo"]: belongs to "someone-else", but this stack\'s githubOwner is "acme"',
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

describe.each(STACKS)("the %s stack file as committed", (stack) => {
  it("fails with one message asking to replace every placeholder, naming each key", async () => {
    const committed = stackFileConfig(stack);
    const run = await runProgram(stack, committed);
    expect(run.resources).toEqual([]);
    const message = run.error?.message ?? "";
    const repositories = Object.keys(committed[key("repositories")] as Record<string, unknown>);
    expect(repositories.length).toBeGreaterThan(0);
    for (const problem of [
      `cloudflareAccountId: "${String(committed[key("cloudflareAccountId")])}" is still the placeholder: replace the placeholder with your Cloudflare account id`,
      `workersSubdomain: "your-account" is still the placeholder: replace the placeholder with your account's workers.dev subdomain`,
      `githubOwner: "${PLACEHOLDER_OWNER}" is still the placeholder: replace the placeholder with the GitHub organization (or user) that owns your repositories`,
      ...repositories.map(
        (fullName) =>
          `repositories[${JSON.stringify(fullName)}]: "${PLACEHOLDER_OWNER}" is still the placeholder: replace the placeholder`,
      ),
    ]) {
      expect(message).toContain(problem);
    }
    const count = 3 + repositories.length;
    expect(message).toMatch(new RegExp(`^stack "${stack}" has ${count} config problems \\(nothing was deployed\\):\n`));
  });
});

describe("bad OIDC settings", () => {
  it("fail the program with the loader's one message, naming each key", async () => {
    const run = await runStack("staging", (config) => {
      config[key("oidcIssuer")] = "http://example.com";
      config[key("oidcAudience")] = "";
    });
    expect(run.resources).toEqual([]);
    const message = run.error?.message ?? "";
    expect(message).toMatch(/^stack "staging" has 2 config problems \(nothing was deployed\):\n/);
    expect(message).toContain("oidcIssuer: must be an https:// URL (http:// only for a loopback issuer");
    expect(message).toContain('(got "http://example.com")');
    expect(message).toContain("oidcAudience: must not be empty");
  });
});

describe("bad githubApp settings", () => {
  it("fail the program before any resource, naming each key: a non-numeric id and a missing private key", async () => {
    const run = await runStack("staging", (config) => {
      config[key("githubApp")] = { appId: "pmoves-app", webhookSecret: "app-webhook-secret" };
    });
    expect(run.resources).toEqual([]);
    const message = run.error?.message ?? "";
    expect(message).toMatch(/^stack "staging" has 2 config problems \(nothing was deployed\):\n/);
    expect(message).toContain(`githubApp.appId: must be the App's numeric id (got "pmoves-app")`);
    expect(message).toContain(
      "githubApp.privateKey: required, the App's private key (jq -r .pem app.json | pulumi config set --secret --path githubApp.privateKey)",
    );
  });

  it("name a private key that is not one, and a webhook secret with a stray newline, quoting neither", async () => {
    const run = await runStack("staging", (config) => {
      config[key("githubApp")] = {
        appId: 42,
        privateKey: "SECRET-not-a-pem-key",
        webhookSecret: "SECRET-webhook\n",
        clientSecret: "x",
      };
    });
    expect(run.resources).toEqual([]);
    const message = run.error?.message ?? "";
    expect(message).toMatch(/^stack "staging" has 3 config problems/);
    expect(message).toContain(
      'githubApp.privateKey: must be the App\'s RSA private key in PEM ("BEGIN RSA PRIVATE KEY" or "BEGIN PRIVATE KEY")',
    );
    expect(message).toContain("githubApp.webhookSecret: must not begin or end with whitespace");
    expect(message).toContain("githubApp.clientSecret: unknown key (expected appId, privateKey, webhookSecret)");
    expect(message).not.toContain("SECRET-");
  });

  it("refuse App mode without OIDC, and a githubApp that is not a map", async () => {
    const withoutOidc = await runStack("staging", (config) => {
      config[key("githubApp")] = "1234";
      config[key("oidc")] = false;
    });
    expect(withoutOidc.resources).toEqual([]);
    const message = withoutOidc.error?.message ?? "";
    expect(message).toContain("githubApp: must be an object (a YAML map in Pulumi.<stack>.yaml, or JSON text)");
    expect(message).toContain(
      "oidc: must be true with githubApp: in App mode route jobs authenticate with OIDC tokens and no repository holds a router secret (remove oidc: false)",
    );
  });
});

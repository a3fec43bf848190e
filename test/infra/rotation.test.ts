import { describe, expect, it } from "vitest";
import { SECRET_NAMES } from "../../worker/src/bindings.ts";
import { key, ofType, passwordOf, reveal, runStack, succeeded, TYPES, workerBindings } from "./harness.ts";

const generation =
  (name: "webhookSecretGeneration" | "apiTokenGeneration", n: number) => (config: Record<string, unknown>) => {
    config[key(name)] = n;
  };

const passwords = (run: Awaited<ReturnType<typeof runStack>>) =>
  ofType(run, TYPES.password)
    .map((p) => p.name)
    .sort();

describe("webhook secret rotation", () => {
  it("bumping the generation gives the Worker the new secret and keeps the previous one as WEBHOOK_SECRET_PREVIOUS", async () => {
    const run = await runStack("production", generation("webhookSecretGeneration", 2));
    succeeded(run);
    const { byName } = workerBindings(run);
    expect(byName.get(SECRET_NAMES.webhookSecret)?.text).toBe(passwordOf("production", "webhook-secret-2"));
    expect(byName.get(SECRET_NAMES.webhookSecretPrevious)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.webhookSecretPrevious,
      text: passwordOf("production", "webhook-secret-1"),
    });
  });

  it("every webhook switches to the new secret in the same `up`, after the Worker accepts it", async () => {
    const run = await runStack("production", generation("webhookSecretGeneration", 2));
    const webhooks = ofType(run, TYPES.webhook);
    expect(webhooks.length).toBeGreaterThan(0);
    for (const webhook of webhooks) {
      expect(reveal(webhook.inputs.configuration)).toMatchObject({
        secret: true,
        value: { secret: passwordOf("production", "webhook-secret-2") },
      });
      expect(webhook.dependsOn).toContain("worker");
    }
  });

  it("keeps exactly the current and the previous generation; older ones leave the stack", async () => {
    expect(passwords(await runStack("staging"))).toEqual(["api-token-1", "webhook-secret-1"]);
    expect(passwords(await runStack("staging", generation("webhookSecretGeneration", 2)))).toEqual([
      "api-token-1",
      "webhook-secret-1",
      "webhook-secret-2",
    ]);
    expect(passwords(await runStack("staging", generation("webhookSecretGeneration", 3)))).toEqual([
      "api-token-1",
      "webhook-secret-2",
      "webhook-secret-3",
    ]);
  });
});

describe("API token rotation", () => {
  const withoutOidc = (config: Record<string, unknown>) => {
    config[key("oidc")] = false;
    generation("apiTokenGeneration", 2)(config);
  };

  it("without OIDC, bumping the generation replaces API_TOKEN and every repository's CI_ROUTER_TOKEN in the same `up`", async () => {
    const run = await runStack("staging", withoutOidc);
    const token = passwordOf("staging", "api-token-2");
    expect(workerBindings(run).byName.get(SECRET_NAMES.apiToken)?.text).toBe(token);
    const secrets = ofType(run, TYPES.secret);
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(reveal(secret.inputs.value)).toEqual({ secret: true, value: token });
      expect(secret.dependsOn).toContain("worker");
    }
  });

  it("with OIDC, bumping the generation changes the Worker and the API token output, no repository", async () => {
    const run = await runStack("staging", generation("apiTokenGeneration", 2));
    expect(ofType(run, TYPES.secret)).toEqual([]);
    expect(succeeded(run).apiToken).toBe(passwordOf("staging", "api-token-2"));
  });

  it("keeps the previous API token bound as API_TOKEN_PREVIOUS, so no route call fails during the `up`", async () => {
    const run = await runStack("staging", generation("apiTokenGeneration", 2));
    expect(passwords(run)).toEqual(["api-token-1", "api-token-2", "webhook-secret-1"]);
    const { byName } = workerBindings(run);
    expect(byName.get(SECRET_NAMES.apiTokenPrevious)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.apiTokenPrevious,
      text: passwordOf("staging", "api-token-1"),
    });
    expect(byName.has(SECRET_NAMES.webhookSecretPrevious)).toBe(false);
  });

  it("generation 1 binds no previous API token", async () => {
    const run = await runStack("staging");
    expect(workerBindings(run).byName.has(SECRET_NAMES.apiTokenPrevious)).toBe(false);
  });
});

import { generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { SECRET_NAMES } from "../../worker/src/bindings.ts";
import {
  type DeclaredResource,
  deployableConfig,
  identities,
  key,
  ofType,
  only,
  type ProgramRun,
  passwordOf,
  reveal,
  runStack,
  succeeded,
  TYPES,
  workerBindings,
} from "./harness.ts";

/** A private key as GitHub hands one out (PKCS#1 PEM), and the App's other credentials. */
const PRIVATE_KEY = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs1", format: "pem" })
  .toString();
const APP_WEBHOOK_SECRET = "app-webhook-secret-4f1c9e";
const APP_ID = 1234567;

/** The stack config in App mode: `githubApp` as `pulumi config set --path` stores it (the id a number). */
const appMode = (config: Record<string, unknown>) => {
  config[key("githubApp")] = { appId: APP_ID, privateKey: PRIVATE_KEY, webhookSecret: APP_WEBHOOK_SECRET };
};

/** The secrets' text as it would show in any input or output left in plain. */
const SECRET_TEXTS = [PRIVATE_KEY.split("\n")[1] ?? PRIVATE_KEY, APP_WEBHOOK_SECRET];

const byIdentity = (run: ProgramRun) => new Map(run.resources.map((r) => [`${r.type}::${r.name}`, r]));

/** What changes between two runs: identities added and removed, and resources whose inputs differ. */
function diff(before: ProgramRun, after: ProgramRun) {
  const [a, b] = [byIdentity(before), byIdentity(after)];
  const changed: DeclaredResource[] = [];
  for (const [identity, resource] of b) {
    const old = a.get(identity);
    if (old !== undefined && JSON.stringify(old.inputs) !== JSON.stringify(resource.inputs)) changed.push(resource);
  }
  return {
    added: identities(after).filter((id) => !a.has(id)),
    removed: identities(before).filter((id) => !b.has(id)),
    changed: changed.map((r) => `${r.type}::${r.name}`).sort(),
  };
}

const onboarded = Object.keys(deployableConfig("staging")[key("repositories")] as Record<string, unknown>);
const slugOf = (fullName: string) => fullName.toLowerCase().replace("/", "-");
/** The repository webhooks webhook mode declares for the staging stack: App mode's only difference on GitHub. */
const WEBHOOKS = onboarded.map((fullName) => `${TYPES.webhook}::webhook-${slugOf(fullName)}`).sort();
const WORKER = `${TYPES.script}::worker`;

describe("App mode (githubApp set)", () => {
  let run: ProgramRun;

  beforeAll(async () => {
    run = await runStack("staging", appMode);
    succeeded(run);
  });

  it("creates no repository webhook and no per-repository secret; every onboarded repository keeps CI_ROUTER_URL", () => {
    expect(onboarded.length).toBeGreaterThan(0);
    expect(ofType(run, TYPES.webhook)).toEqual([]);
    expect(ofType(run, TYPES.secret)).toEqual([]);
    expect(ofType(run, TYPES.variable).map((v) => v.inputs.variableName)).toEqual(onboarded.map(() => "CI_ROUTER_URL"));
    expect(ofType(run, TYPES.runnerGroup).length).toBeGreaterThan(0);
  });

  it("binds the App's id and private key under the names the Worker reads, as secret text", () => {
    const { secret, byName } = workerBindings(run);
    expect(secret).toBe(true);
    expect(byName.get(SECRET_NAMES.githubAppId)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.githubAppId,
      text: String(APP_ID),
    });
    expect(byName.get(SECRET_NAMES.githubAppPrivateKey)).toEqual({
      type: "secret_text",
      name: SECRET_NAMES.githubAppPrivateKey,
      text: PRIVATE_KEY,
    });
  });

  it("checks deliveries against the App's webhook secret, and still the stack's own as the previous one", () => {
    const { byName } = workerBindings(run);
    expect(byName.get(SECRET_NAMES.webhookSecret)?.text).toBe(APP_WEBHOOK_SECRET);
    expect(byName.get(SECRET_NAMES.webhookSecretPrevious)?.text).toBe(passwordOf("staging", "webhook-secret-1"));
  });

  it("keeps the App's key and webhook secret out of every plain input and output", () => {
    for (const resource of run.resources) {
      for (const [name, input] of Object.entries(resource.inputs)) {
        const { secret, value } = reveal(input);
        if (secret) continue;
        const text = JSON.stringify(value) ?? "";
        for (const hidden of SECRET_TEXTS) expect(text, `${resource.name}.${name}`).not.toContain(hidden);
      }
    }
    const outputs = JSON.stringify(succeeded(run));
    for (const hidden of SECRET_TEXTS) expect(outputs).not.toContain(hidden);
    expect(run.secretOutputs).toEqual(["apiToken"]);
  });

  it("takes the App id as text too (a stack file edited by hand)", async () => {
    const text = await runStack("staging", (config) => {
      appMode(config);
      config[key("githubApp")] = { ...(config[key("githubApp")] as object), appId: String(APP_ID) };
    });
    expect(workerBindings(text).byName.get(SECRET_NAMES.githubAppId)?.text).toBe(String(APP_ID));
  });
});

describe("switching a stack between repository webhooks and App mode", () => {
  it("to App mode deletes exactly the repository webhooks and updates the Worker; back creates exactly those", async () => {
    const webhooks = await runStack("staging");
    const app = await runStack("staging", appMode);
    expect(diff(webhooks, app)).toEqual({ added: [], removed: WEBHOOKS, changed: [WORKER] });
    expect(diff(app, webhooks)).toEqual({ added: WEBHOOKS, removed: [], changed: [WORKER] });

    // The Worker's code and everything but its bindings stay as they were.
    const { bindings: _a, ...before } = only(webhooks, TYPES.script).inputs;
    const { bindings: _b, ...after } = only(app, TYPES.script).inputs;
    expect(after).toEqual(before);

    // Back in webhook mode the webhooks sign with the secret they had: the one App mode kept.
    const secret = passwordOf("staging", "webhook-secret-1");
    expect(workerBindings(webhooks).byName.get(SECRET_NAMES.webhookSecret)?.text).toBe(secret);
    for (const webhook of ofType(webhooks, TYPES.webhook)) {
      expect(reveal<{ secret: string }>(webhook.inputs.configuration).value.secret).toBe(secret);
    }
    for (const name of [SECRET_NAMES.githubAppId, SECRET_NAMES.githubAppPrivateKey]) {
      expect(workerBindings(webhooks).byName.has(name)).toBe(false);
    }
  });

  it("past generation 1, App mode also lets the previous generation's webhook secret go (it serves only a rotation)", async () => {
    const generation2 = (config: Record<string, unknown>) => {
      config[key("webhookSecretGeneration")] = 2;
    };
    const webhooks = await runStack("staging", generation2);
    const app = await runStack("staging", (config) => {
      generation2(config);
      appMode(config);
    });
    expect(diff(webhooks, app)).toEqual({
      added: [],
      removed: [...WEBHOOKS, `${TYPES.password}::webhook-secret-1`].sort(),
      changed: [WORKER],
    });
    expect(workerBindings(app).byName.get(SECRET_NAMES.webhookSecretPrevious)?.text).toBe(
      passwordOf("staging", "webhook-secret-2"),
    );
  });
});

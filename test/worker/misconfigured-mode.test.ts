/**
 * A mode that is not one, in RUNNER_DISPATCH_MODE or in ROUTING_CONFIG (top level or a
 * repository's), makes the Worker misconfigured, and GET /health names the setting it is in:
 * also when a valid RUNNER_DISPATCH_MODE, which replaces the config's top-level mode, is bound
 * (the test bindings bind one, as a deployed Worker does).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import { call, deliver, expectError, type Fetch, pushPayload, withBindings } from "./helpers.ts";

interface Health {
  status: string;
  mode?: string;
  settings?: string[];
  problems?: string[];
}

/** GET /health without a token (what anyone learns) and with the API token (the problems). */
async function health(via: Fetch): Promise<{ status: number; open: Health; trusted: Health }> {
  const open = await call<Health>("/health", { via, token: null });
  const trusted = await call<Health>("/health", { via, token: TEST_SECRETS.api });
  expect(trusted.status).toBe(open.status);
  return { status: open.status, open: open.body, trusted: trusted.body };
}

/** Asserts a 503 naming exactly `settings`, with a problem starting with each of `problems` for the token's holder. */
async function expectNamed(via: Fetch, settings: string[], problems: string[]): Promise<void> {
  const answer = await health(via);
  expect(answer.status).toBe(503);
  expect(answer.open).toMatchObject({ status: "misconfigured" });
  expect(answer.open.settings?.slice().sort()).toEqual([...settings].sort());
  expect(answer.open.problems).toBeUndefined();
  for (const start of problems)
    expect(
      answer.trusted.problems?.some((p) => p.startsWith(start)),
      start,
    ).toBe(true);
  // Deliveries are refused too, not routed under some other mode.
  expectError(await deliver("push", pushPayload(), { via }), 503, "misconfigured");
}

const config = (value: unknown) => JSON.stringify(value);

describe("a mode that is not one", () => {
  it("is bound as RUNNER_DISPATCH_MODE in the tests, so the cases below are the deployed ones (control)", () => {
    expect(env.RUNNER_DISPATCH_MODE).toBe("hybrid");
  });

  it("in ROUTING_CONFIG, under a valid RUNNER_DISPATCH_MODE, names ROUTING_CONFIG", async () => {
    await expectNamed(
      withBindings({ ROUTING_CONFIG: config({ mode: "fast" }) }),
      ["ROUTING_CONFIG"],
      ["ROUTING_CONFIG mode:"],
    );
  });

  it("in ROUTING_CONFIG, with no RUNNER_DISPATCH_MODE, names ROUTING_CONFIG", async () => {
    const via = withBindings({ ROUTING_CONFIG: config({ mode: "fast" }), RUNNER_DISPATCH_MODE: undefined });
    await expectNamed(via, ["ROUTING_CONFIG"], ["ROUTING_CONFIG mode:"]);
  });

  it("of another type in ROUTING_CONFIG names ROUTING_CONFIG", async () => {
    await expectNamed(
      withBindings({ ROUTING_CONFIG: config({ mode: 3 }) }),
      ["ROUTING_CONFIG"],
      ["ROUTING_CONFIG mode:"],
    );
  });

  it("in a repository of ROUTING_CONFIG names ROUTING_CONFIG", async () => {
    const via = withBindings({ ROUTING_CONFIG: config({ repositories: { "acme/app": { mode: "turbo" } } }) });
    await expectNamed(via, ["ROUTING_CONFIG"], ['ROUTING_CONFIG repositories["acme/app"].mode:']);
  });

  it("in RUNNER_DISPATCH_MODE, over a valid config mode, names RUNNER_DISPATCH_MODE only", async () => {
    const via = withBindings({ RUNNER_DISPATCH_MODE: "fast", ROUTING_CONFIG: config({ mode: "cloudflare-only" }) });
    await expectNamed(via, ["RUNNER_DISPATCH_MODE"], ["RUNNER_DISPATCH_MODE must be one of"]);
  });

  it("in both names both", async () => {
    const via = withBindings({ RUNNER_DISPATCH_MODE: "fast", ROUTING_CONFIG: config({ mode: "faster" }) });
    await expectNamed(
      via,
      ["RUNNER_DISPATCH_MODE", "ROUTING_CONFIG"],
      ["RUNNER_DISPATCH_MODE must be one of", "ROUTING_CONFIG mode:"],
    );
  });
});

describe("valid modes (control)", () => {
  it("RUNNER_DISPATCH_MODE wins over the config's mode", async () => {
    const via = withBindings({
      RUNNER_DISPATCH_MODE: "self-hosted-only",
      ROUTING_CONFIG: config({ mode: "cloudflare-only" }),
    });
    const answer = await health(via);
    expect(answer.status).toBe(200);
    expect(answer.open).toMatchObject({ status: "ok", mode: "self-hosted-only" });
  });

  it("the config's mode applies without RUNNER_DISPATCH_MODE", async () => {
    const via = withBindings({ RUNNER_DISPATCH_MODE: undefined, ROUTING_CONFIG: config({ mode: "cloudflare-only" }) });
    expect((await health(via)).open).toMatchObject({ status: "ok", mode: "cloudflare-only" });
  });

  it("hybrid applies with neither", async () => {
    const via = withBindings({ RUNNER_DISPATCH_MODE: undefined, ROUTING_CONFIG: undefined });
    expect((await health(via)).open).toMatchObject({ status: "ok", mode: "hybrid" });
  });
});

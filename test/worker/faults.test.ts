/**
 * Faults in what the Worker depends on. Where GitHub should not redeliver (KV, GitHub's API),
 * the webhook is still answered 2xx with a documented degraded decision and the failure is
 * logged; where nothing could be recorded (the Ledger), it answers 503 so the delivery can be
 * redelivered. Discord failures are in alerts.test.ts: they are retried, then recorded.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SLOW_GITHUB_MS } from "../support/fake-github.ts";
import { randomSha } from "../support/webhooks.ts";
import { call, deliver, expectError, pullRequestPayload, pushPayload, withBindings } from "./helpers.ts";

interface Routed {
  build_id: string;
  decision: { runner: string; requirement: string; files_known: boolean; reasons: string[] };
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** A KV namespace whose writes fail, reads passing through. */
function failingKv(): KVNamespace {
  const kv = env.CI_STATE;
  return new Proxy(kv, {
    get(target, key) {
      if (key === "put") return async () => Promise.reject(new Error("KV PUT failed: 503 Service Unavailable"));
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A Durable Object namespace whose objects cannot be reached. */
function unreachableLedger(): typeof env.LEDGER {
  const ns = env.LEDGER;
  const broken = new Proxy(
    {},
    {
      get: () => async () => Promise.reject(new Error("Durable Object is overloaded")),
    },
  );
  return new Proxy(ns, {
    get(target, key) {
      if (key === "get") return () => broken;
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("KV failing", () => {
  it("still answers 202, keeps the build in the Ledger, and logs the failed write", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const via = withBindings({ CI_STATE: failingKv() });
    const res = await deliver<Routed>("push", pushPayload({ files: ["kernels/a.cu"] }), { via });
    expect(res.status).toBe(202);
    expect(res.body.decision.runner).toBe("ai-lab");
    const status = await call<{ build_id: string; decision: { runner: string } }>(
      `/status?build_id=${res.body.build_id}`,
      { via },
    );
    expect(status.status).toBe(200);
    expect(status.body.decision.runner).toBe("ai-lab");
    expect(errors.mock.calls.map((c) => String(c[0])).some((line) => line.includes('"kv write failed"'))).toBe(true);
    expect((await env.CI_STATE.get(`build:${res.body.build_id}`)) === null).toBe(true);
  });
});

describe("the Ledger failing", () => {
  it("answers 503 unavailable, records nothing, so the delivery can be redelivered", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const payload = pushPayload();
    const delivery = crypto.randomUUID();
    const broken = withBindings({ LEDGER: unreachableLedger() });
    const res = await deliver("push", payload, { delivery, via: broken });
    expectError(res, 503, "unavailable");
    expect(res.text).toMatch(/redeliver/);
    // Redelivered once the Ledger is back: accepted as new, not as a duplicate.
    const again = await deliver<Routed & { duplicate?: boolean }>("push", payload, { delivery });
    expect(again.status).toBe(202);
    expect(again.body.duplicate).toBeUndefined();
  });
});

describe("GitHub's API failing", () => {
  it.each([
    ["acme/broken", "500"],
    ["acme/limited", "403"],
    ["acme/missing", "404"],
  ])(
    "%s (%s): 202, files unknown, routed to the default runner with the status in the reasons",
    async (repository, code) => {
      const res = await deliver<Routed>("pull_request", pullRequestPayload({ repository }));
      expect(res.status).toBe(202);
      expect(res.body.decision).toMatchObject({ files_known: false, requirement: "default", runner: "vps" });
      expect(res.body.decision.reasons.join(" ")).toContain(`answered ${code}`);
    },
  );

  it(
    `slower than the listing budget (${SLOW_GITHUB_MS} ms): 202 with files unknown, 'timed out' in the reasons`,
    async () => {
      const res = await deliver<Routed>("pull_request", pullRequestPayload({ repository: "acme/slow" }));
      expect(res.status).toBe(202);
      expect(res.body.decision).toMatchObject({ files_known: false, requirement: "default" });
      expect(res.body.decision.reasons.join(" ")).toContain("timed out");
    },
    SLOW_GITHUB_MS + 5_000,
  );

  it("a push whose files GitHub cannot list still routes a tag as a deploy", async () => {
    const payload = pushPayload({ repository: "acme/broken", ref: "refs/tags/v2.0.0", sha: randomSha() });
    payload.commits = [];
    const res = await deliver<Routed>("push", payload);
    expect(res.status).toBe(202);
    expect(res.body.decision).toMatchObject({ requirement: "deploy", runner: "kvm4", files_known: false });
  });

  it("GET /route for an unknown commit degrades the same way", async () => {
    const res = await call<{ decision: Routed["decision"]; recorded: boolean }>(
      `/route?repository=acme/broken&sha=${randomSha()}`,
    );
    expect(res.status).toBe(200);
    expect(res.body.recorded).toBe(false);
    expect(res.body.decision).toMatchObject({ files_known: false, requirement: "default" });
  });
});

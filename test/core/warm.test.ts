/**
 * Pre-warm, the pure parts: which warm hooks the configuration takes, the wake-up's body and
 * its signature (checked against @octokit/webhooks-methods and node:crypto, as a receiver
 * would), what the history expects, and when a wake-up is tried again or given up.
 */
import { createHmac } from "node:crypto";
import { verify } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import {
  allPolicies,
  type BuildRecord,
  expectedWork,
  fail,
  MAX_ATTEMPTS,
  MIN_ROUTED_BUILDS,
  newBuild,
  ok,
  parseRoutingConfig,
  RoutingConfigError,
  retryAfterSeconds,
  WARM_MAX_AGE_MS,
  wakeUp,
  warmExpired,
  warmSecretProblems,
  warmStep,
  warmUrlProblem,
} from "../../worker/src/core/index.ts";
import { signBody } from "../../worker/src/warm.ts";

const HOOK = { url: "https://runners.example/warm", secretEnv: "WARM_SECRET_VPS" };

function problemsOf(input: unknown): readonly string[] {
  try {
    parseRoutingConfig(input);
  } catch (error) {
    if (error instanceof RoutingConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("warm hook URLs: https, plain http only on the machine itself, nothing secret in them", () => {
  it.each([
    "https://runners.example/warm",
    "https://runners.example:8443/hooks/vps",
    "http://127.0.0.1:9000/warm",
    "http://localhost/warm",
    "http://[::1]:9000/",
  ])("%s is taken", (url) => {
    expect(warmUrlProblem(url)).toBeNull();
  });

  it.each([
    "http://runners.example/warm",
    "http://127.0.0.2/warm",
    "https://user:secret@runners.example/warm",
    "https://runners.example/warm?token=abc",
    "https://runners.example/warm#x",
    "ftp://runners.example/warm",
    "runners.example/warm",
    "https:///warm",
    "https://runners example/warm",
  ])("%s is refused", (url) => {
    expect(warmUrlProblem(url)).toMatch(/must be an https URL/);
  });

  it("a URL over 2,048 characters is refused", () => {
    expect(warmUrlProblem(`https://runners.example/${"a".repeat(2048)}`)).toMatch(/longer than 2048/);
  });
});

describe("runners.<id>.warm in the routing configuration", () => {
  it("is resolved onto its class, inherited by repositories, and removed by null", () => {
    const config = parseRoutingConfig({
      runners: { vps: { warm: HOOK } },
      repositories: { "acme/app": {}, "acme/cold": { runners: { vps: { warm: null } } } },
    });
    expect(config.defaults.runners.vps?.warm).toEqual(HOOK);
    expect(config.repositories["acme/app"]?.runners.vps?.warm).toEqual(HOOK);
    expect(config.repositories["acme/cold"]?.runners.vps).not.toHaveProperty("warm");
    expect(config.defaults.runners.kvm2).not.toHaveProperty("warm");
  });

  it("reports every problem at once, an inherited one once", () => {
    const problems = problemsOf({
      runners: {
        "github-hosted": { warm: HOOK },
        vps: { warm: { url: "http://runners.example/warm", secretEnv: "WARM_VPS" } },
        kvm2: { warm: { url: HOOK.url, secretEnv: "API_TOKEN" } },
        kvm4: { warm: { url: HOOK.url, secretEnv: "warm_lower" } },
        "ai-lab": { warm: { url: HOOK.url } },
      },
      repositories: { "acme/app": {} },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        "runners.github-hosted.warm: a github-hosted class has no runners of ours to wake; only self-hosted classes take a warm hook",
        "runners.vps.warm.url: must be an https URL (http only for 127.0.0.1, localhost or [::1]) without user info, query or fragment",
        "runners.kvm2.warm.secretEnv: must be the name of a Worker secret: WARM_ and 1 to 64 of A-Z, 0-9, _",
        "runners.kvm4.warm.secretEnv: must be the name of a Worker secret: WARM_ and 1 to 64 of A-Z, 0-9, _",
      ]),
    );
    expect(problems.some((p) => p.startsWith('runners["ai-lab"].warm.secretEnv'))).toBe(true);
    expect(problems.filter((p) => p.includes("runners.vps.warm.url"))).toHaveLength(1);
  });

  it("a repository that makes a warm class GitHub-hosted is told so under its own name", () => {
    expect(
      problemsOf({
        runners: { vps: { warm: HOOK } },
        repositories: { "acme/app": { runners: { vps: { kind: "github-hosted", runsOn: ["ubuntu-latest"] } } } },
      }),
    ).toContain(
      'repositories["acme/app"].runners.vps.warm: a github-hosted class has no runners of ours to wake; only self-hosted classes take a warm hook',
    );
  });
});

describe("warmSecretProblems: a hook whose secret is not bound", () => {
  it("names the secret and where it is named, once per class, never a value", () => {
    const config = parseRoutingConfig({
      runners: { vps: { warm: HOOK }, kvm2: { warm: { ...HOOK, secretEnv: "WARM_SECRET_KVM2" } } },
      repositories: { "acme/app": {} },
    });
    const bound = new Map([["WARM_SECRET_KVM2", "s3cr3t-value"]]);
    const problems = warmSecretProblems(allPolicies(config), (name) => bound.has(name));
    expect(problems).toEqual([
      { secret: "WARM_SECRET_VPS", problem: "WARM_SECRET_VPS is not set (runners.vps.warm.secretEnv names it)" },
    ]);
    expect(JSON.stringify(warmSecretProblems(allPolicies(config), () => false))).not.toContain("s3cr3t");
  });
});

const BUILD: BuildRecord = newBuild({
  build_id: "2222222222222-5b1d8a3e",
  repository: "acme/api",
  event: "push",
  ref: "refs/heads/main",
  sha: "2222222222222222222222222222222222222222",
  delivery: "5b1d8a3e",
  decision: null,
  at: "2026-11-20T10:00:00.000Z",
});

describe("the wake-up's body and signature", () => {
  it("says, version 1, which class, which build and what it is expected to take", () => {
    expect(wakeUp(BUILD, "vps", { jobs: 3, minutes: 5 })).toEqual({
      version: 1,
      class: "vps",
      repository: "acme/api",
      sha: "2222222222222222222222222222222222222222",
      ref: "refs/heads/main",
      event: "push",
      build_id: "2222222222222-5b1d8a3e",
      expected: { jobs: 3, minutes: 5 },
      at: "2026-11-20T10:00:00.000Z",
    });
  });

  it("is signed as GitHub signs webhooks: @octokit/webhooks-methods verifies it, node:crypto agrees", async () => {
    const body = JSON.stringify(wakeUp({ ...BUILD, repository: "acme/ünïcode" }, "vps", { jobs: null, minutes: null }));
    const signature = await signBody("warm-secret", body);
    expect(signature).toBe(`sha256=${createHmac("sha256", "warm-secret").update(body, "utf8").digest("hex")}`);
    expect(await verify("warm-secret", body, signature)).toBe(true);
    expect(await verify("another-secret", body, signature)).toBe(false);
    expect(await verify("warm-secret", `${body} `, signature)).toBe(false);
  });
});

describe("expectedWork: the class's history", () => {
  /** Run-time counts per DURATION_BUCKETS bound (5 s … 7,200 s) and +Inf. */
  const runs = (bucket: number, n: number) => Array.from({ length: 12 }, (_, i) => (i === bucket ? n : 0));

  it("the median job's bucket in whole minutes, and jobs per routed build", () => {
    // 30 jobs of 2 to 5 minutes (bucket ≤ 300 s) over 10 builds.
    expect(expectedWork({ runCounts: runs(5, 30), routedBuilds: 10 })).toEqual({ jobs: 3, minutes: 5 });
    // Under a minute rounds up to 1; fewer jobs than builds still expects one.
    expect(expectedWork({ runCounts: runs(2, 20), routedBuilds: 80 })).toEqual({ jobs: 1, minutes: 1 });
  });

  it("null for what the history cannot say yet", () => {
    expect(expectedWork({ runCounts: null, routedBuilds: 0 })).toEqual({ jobs: null, minutes: null });
    // Fewer than 20 timed jobs: no median; fewer than MIN_ROUTED_BUILDS builds: no average.
    expect(expectedWork({ runCounts: runs(5, 19), routedBuilds: MIN_ROUTED_BUILDS - 1 })).toEqual({
      jobs: null,
      minutes: null,
    });
    expect(expectedWork({ runCounts: runs(5, 19), routedBuilds: MIN_ROUTED_BUILDS })).toEqual({
      jobs: 4,
      minutes: null,
    });
    expect(expectedWork({ runCounts: null, routedBuilds: 50 })).toEqual({ jobs: null, minutes: null });
  });
});

describe("sending: sent, tried again, or given up", () => {
  const routed = Date.parse("2026-11-20T10:00:00Z");
  const status = (n: number, retryAfterSeconds: number | null = null) => ok({ status: n, retryAfterSeconds });

  it("2xx is sent; other 4xx and 3xx fail at once", () => {
    expect(warmStep(status(202), 1, routed, routed)).toEqual({ kind: "sent" });
    expect(warmStep(status(400), 1, routed, routed)).toEqual({ kind: "failed", why: "400 refused" });
    expect(warmStep(status(302), 1, routed, routed)).toEqual({ kind: "failed", why: "302 refused" });
  });

  it("5xx and timeouts back off exponentially; 429 waits what Retry-After says", () => {
    expect(warmStep(status(503), 1, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 2_000,
      why: "503 server error",
    });
    expect(warmStep(status(500), 3, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 8_000,
      why: "500 server error",
    });
    expect(warmStep(fail("upstream", "timed out"), 2, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 4_000,
      why: "timed out",
    });
    expect(warmStep(status(429, 30), 1, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 30_000,
      why: "429 rate limited",
    });
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts, or when a retry would come too late to help`, () => {
    expect(warmStep(status(500), MAX_ATTEMPTS, routed, routed)).toMatchObject({ kind: "failed" });
    const late = warmStep(status(429, 16 * 60), 1, routed, routed);
    expect(late).toMatchObject({
      kind: "failed",
      why: expect.stringMatching(/^429 rate limited; a retry would come too late/),
    });
    expect(warmStep(status(500), 1, routed, routed + WARM_MAX_AGE_MS - 1_000)).toMatchObject({ kind: "failed" });
    expect(warmExpired(routed, routed + WARM_MAX_AGE_MS)).toBeNull();
    expect(warmExpired(routed, routed + WARM_MAX_AGE_MS + 1)).toMatch(/not sent within 15 minutes/);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-20T10:00:00Z");
    expect(retryAfterSeconds("120", now)).toBe(120);
    expect(retryAfterSeconds(" 0 ", now)).toBe(0);
    expect(retryAfterSeconds("Fri, 20 Nov 2026 10:01:30 GMT", now)).toBe(90);
    expect(retryAfterSeconds("Fri, 20 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds("soon", now)).toBeNull();
    expect(retryAfterSeconds("-5", now)).toBeNull();
    expect(retryAfterSeconds(null, now)).toBeNull();
  });
});

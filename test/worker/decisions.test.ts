import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  call,
  deliver,
  expectError,
  expectRouted,
  type Fetch,
  ledgerCount,
  POOL,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  withBindings,
} from "./helpers.ts";

describe("push decisions, end to end", () => {
  it("a push touching kernels/x.cu → ai-lab (gpu)", async () => {
    const { decision } = expectRouted(await deliver("push", pushPayload({ files: ["kernels/x.cu", "README.md"] })));
    expect(decision).toMatchObject({
      runner: "ai-lab",
      runs_on: ["self-hosted", "ai-lab", "gpu"],
      requirement: "gpu",
      truncated: false,
      files_known: true,
    });
    expect(decision.reasons.join("\n")).toContain("kernels/x.cu");
  });

  it("a docs-only push → github-hosted (lightweight)", async () => {
    const files = ["docs/guide.md", "README.md", "LICENSE", "tests/unit/a.test.ts"];
    const { decision } = expectRouted(await deliver("push", pushPayload({ files })));
    expect(decision).toMatchObject({ runner: "github-hosted", runs_on: ["ubuntu-latest"], requirement: "lightweight" });
  });

  it("a push touching services/ → vps (docker)", async () => {
    const { decision } = expectRouted(await deliver("push", pushPayload({ files: ["services/api/main.go"] })));
    expect(decision).toMatchObject({ runner: "vps", runs_on: POOL.vps, requirement: "docker" });
  });

  it("a push of source code → vps (default)", async () => {
    const { decision } = expectRouted(await deliver("push", pushPayload({ files: ["src/index.ts", "README.md"] })));
    expect(decision).toMatchObject({ runner: "vps", requirement: "default" });
    expect(decision.reasons.join("\n")).toContain("src/index.ts");
  });

  it("gpu wins over docker and lightweight in one push", async () => {
    const files = ["README.md", "services/x/Dockerfile", "models/ollama/run.sh"];
    const { decision } = expectRouted(await deliver("push", pushPayload({ files })));
    expect(decision).toMatchObject({ runner: "ai-lab", requirement: "gpu" });
  });

  it("a push to main touching deploy/ → kvm4 (deploy to staging)", async () => {
    const payload = pushPayload({ ref: "refs/heads/main", files: ["deploy/app.yaml"] });
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision).toMatchObject({
      runner: "kvm4",
      runs_on: POOL.kvm4,
      requirement: "deploy",
      environment: "staging",
    });
  });

  it("a push to a feature branch touching deploy/ is not a deploy", async () => {
    const payload = pushPayload({ ref: "refs/heads/feature", files: ["deploy/app.yaml"] });
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision.requirement).not.toBe("deploy");
  });

  it("a v* tag push → kvm4 (deploy to production)", async () => {
    const payload = pushPayload({ ref: "refs/tags/v1.2.3", files: ["README.md"] });
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision).toMatchObject({ runner: "kvm4", requirement: "deploy", environment: "production" });
  });

  it("a push listing GitHub's 2,048-commit cap is truncated and never lightweight", async () => {
    const payload = pushPayload({ files: ["docs/a.md"] });
    payload.commits = Array.from({ length: 2048 }, (_, i) => ({ ...payload.commits[0], added: [`docs/p${i}.md`] }));
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision.truncated).toBe(true);
    expect(decision.requirement).not.toBe("lightweight");
    expect(decision.runner).not.toBe("github-hosted");
  });

  it("a commit listing GitHub's 3,000-file cap is truncated and never lightweight", async () => {
    const files = Array.from({ length: 3000 }, (_, i) => `docs/p${i}.md`);
    const { decision } = expectRouted(await deliver("push", pushPayload({ files })));
    expect(decision.truncated).toBe(true);
    expect(decision.requirement).not.toBe("lightweight");
  });

  it("a push without commits asks GitHub's compare API (two docs files → lightweight)", async () => {
    const payload = pushPayload();
    payload.commits = [];
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision).toMatchObject({ files_known: true, requirement: "lightweight", runner: "github-hosted" });
  });
});

describe("pull_request decisions, with files from GitHub's API", () => {
  it("acme/gpu-pr (a .cu file listed) → ai-lab", async () => {
    const payload = pullRequestPayload({ repository: "acme/gpu-pr", sha: randomSha() });
    const { decision } = expectRouted(await deliver("pull_request", payload));
    expect(decision).toMatchObject({
      runner: "ai-lab",
      runs_on: POOL["ai-lab"],
      requirement: "gpu",
      files_known: true,
    });
    expect(decision.reasons.join("\n")).toContain("kernels/matmul.cu");
  });

  for (const action of ["opened", "synchronize", "reopened", "ready_for_review"]) {
    it(`routes action ${action}`, async () => {
      const payload = pullRequestPayload({ repository: "acme/gpu-pr", action });
      expect(expectRouted(await deliver("pull_request", payload)).decision.runner).toBe("ai-lab");
    });
  }

  it("acme/many-files #3000 (GitHub's cap reached) → truncated, not lightweight", async () => {
    const payload = pullRequestPayload({ repository: "acme/many-files", number: 3000 });
    const { decision } = expectRouted(await deliver("pull_request", payload));
    expect(decision.truncated).toBe(true);
    expect(decision.requirement).not.toBe("lightweight");
    expect(decision.runner).not.toBe("github-hosted");
    expect(decision.reasons.join("\n")).toMatch(/truncat/);
  });

  it("answers well inside GitHub's 10 s even when the file list takes 30 pages", async () => {
    const started = Date.now();
    expectRouted(await deliver("pull_request", pullRequestPayload({ repository: "acme/many-files", number: 3000 })));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("acme/many-files #2999 (under the cap, all docs) → lightweight, not truncated", async () => {
    const payload = pullRequestPayload({ repository: "acme/many-files", number: 2999 });
    const { decision } = expectRouted(await deliver("pull_request", payload));
    expect(decision).toMatchObject({ truncated: false, requirement: "lightweight", files_known: true });
  });

  for (const [repository, status] of [
    ["acme/broken", "500"],
    ["acme/limited", "403"],
  ] as const) {
    it(`${repository} (GitHub answers ${status}) → still 202, files unknown, the status in a reason`, async () => {
      const payload = pullRequestPayload({ repository });
      const { decision } = expectRouted(await deliver("pull_request", payload));
      expect(decision.files_known).toBe(false);
      expect(decision.requirement).not.toBe("lightweight");
      expect(decision.runner).toBe("vps");
      expect(decision.reasons.join("\n")).toContain(status);
    });
  }
});

describe("without GITHUB_TOKEN", () => {
  const noToken = () => withBindings({ GITHUB_TOKEN: undefined });

  it("a pull_request is routed with its files unknown, and says why", async () => {
    const payload = pullRequestPayload({ repository: "acme/gpu-pr" });
    const { decision } = expectRouted(await deliver("pull_request", payload, { via: noToken() }));
    expect(decision.files_known).toBe(false);
    expect(decision.requirement).toBe("default");
    expect(decision.runner).toBe("vps");
    expect(decision.reasons.join("\n")).toContain("GITHUB_TOKEN");
  });

  it("a push without commits is routed with its files unknown", async () => {
    const payload = pushPayload();
    payload.commits = [];
    const { decision } = expectRouted(await deliver("push", payload, { via: noToken() }));
    expect(decision.files_known).toBe(false);
    expect(decision.reasons.join("\n")).toContain("GITHUB_TOKEN");
  });

  it("a push with commits needs no token", async () => {
    const { decision } = expectRouted(
      await deliver("push", pushPayload({ files: ["kernels/a.cu"] }), { via: noToken() }),
    );
    expect(decision).toMatchObject({ files_known: true, runner: "ai-lab" });
  });

  it("/health says GitHub's API is off", async () => {
    const res = await call("/health", { via: noToken(), token: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", github_api: false });
  });
});

describe("RUNNER_DISPATCH_MODE", () => {
  const mode = (m: string): Fetch => withBindings({ RUNNER_DISPATCH_MODE: m });

  it("self-hosted-only: a docs-only push goes to vps, never github-hosted", async () => {
    const via = mode("self-hosted-only");
    const { decision } = expectRouted(
      await deliver("push", pushPayload({ files: ["docs/a.md"] }), { via }),
      "self-hosted-only",
    );
    expect(decision).toMatchObject({ requirement: "lightweight", runner: "vps", runs_on: POOL.vps, satisfiable: true });
    expect(decision.reasons.join("\n")).toContain("self-hosted-only");
  });

  it("self-hosted-only: gpu still goes to ai-lab; /health reports the mode", async () => {
    const via = mode("self-hosted-only");
    const { decision } = expectRouted(
      await deliver("push", pushPayload({ files: ["a/b.cu"] }), { via }),
      "self-hosted-only",
    );
    expect(decision.runner).toBe("ai-lab");
    expect((await call("/health", { via, token: null })).body).toMatchObject({ mode: "self-hosted-only" });
  });

  it("cloudflare-only: everything goes to github-hosted; gpu is kept and flagged not satisfiable", async () => {
    const via = mode("cloudflare-only");
    const gpu = expectRouted(
      await deliver("push", pushPayload({ files: ["kernels/x.cu"] }), { via }),
      "cloudflare-only",
    ).decision;
    expect(gpu).toMatchObject({
      runner: "github-hosted",
      runs_on: ["ubuntu-latest"],
      requirement: "gpu",
      satisfiable: false,
    });
    expect(gpu.reasons.join("\n")).toContain("cloudflare-only");

    const docker = expectRouted(
      await deliver("push", pushPayload({ files: ["services/a/Dockerfile"] }), { via }),
      "cloudflare-only",
    ).decision;
    expect(docker).toMatchObject({ runner: "github-hosted", requirement: "docker", satisfiable: true });

    const deploy = expectRouted(
      await deliver("push", pushPayload({ ref: "refs/tags/v2.0.0", files: ["x.ts"] }), { via }),
      "cloudflare-only",
    ).decision;
    expect(deploy).toMatchObject({ runner: "github-hosted", requirement: "deploy", satisfiable: false });
  });

  it("cloudflare-only applies to POST /route as well", async () => {
    const res = await call("/route", {
      via: mode("cloudflare-only"),
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository: "acme/x", files: ["services/db/Dockerfile"] }),
    });
    expect(res.status).toBe(200);
    expect(res.body.decision).toMatchObject({ runner: "github-hosted", mode: "cloudflare-only" });
  });
});

describe("ROUTING_CONFIG", () => {
  it("a per-repository override changes that repository's decision only", async () => {
    const special = randomRepository();
    const via = withBindings({
      ROUTING_CONFIG: JSON.stringify({ repositories: { [special]: { assign: { default: "kvm2" } } } }),
    });
    const mine = expectRouted(await deliver("push", pushPayload({ repository: special, files: ["x.ts"] }), { via }));
    expect(mine.decision).toMatchObject({ runner: "kvm2", runs_on: POOL.kvm2 });
    const other = expectRouted(await deliver("push", pushPayload({ files: ["x.ts"] }), { via }));
    expect(other.decision.runner).toBe("vps");
  });
});

describe("misconfiguration: 503 misconfigured on every route, nothing stored, details only for the API token", () => {
  const ROUTES: [string, string, RequestInit][] = [
    ["GET /status", `/status?build_id=x`, {}],
    ["GET /route", `/route?repository=acme/x&sha=${"a".repeat(40)}`, {}],
    [
      "POST /route",
      "/route",
      { method: "POST", headers: { "content-type": "application/json" }, body: '{"repository":"acme/x"}' },
    ],
    ["GET /metrics", "/metrics", {}],
    ["GET /nowhere", "/nowhere", {}],
  ];
  const GENERIC = "the Worker is misconfigured; GET /health names the settings to fix";

  /**
   * Every route answers 503 misconfigured. A caller without the API token (none, or a wrong one)
   * learns that, and from /health which settings are wrong, never what is wrong with them; a
   * caller with it (when API_TOKEN can be read) learns every problem. Nothing is stored.
   */
  async function expectMisconfigured(via: Fetch, settings: string[], details: string[]): Promise<void> {
    const tokenReadable = !settings.includes("API_TOKEN");
    for (const token of [null, "wrong-token", TEST_SECRETS.api]) {
      const trusted = token === TEST_SECRETS.api && tokenReadable;
      const health = await call<Record<string, unknown>>("/health", { via, token });
      expect(health.status).toBe(503);
      expect(health.body).toEqual({
        status: "misconfigured",
        version: expect.any(String),
        settings,
        ...(trusted ? { problems: expect.any(Array) } : {}),
      });
      for (const [name, path, init] of ROUTES) {
        const message = expectError(await call(path, { ...init, via, token }), 503, "misconfigured");
        if (trusted) for (const d of details) expect(message, name).toContain(d);
        else expect(message, `${name} without the API token`).toBe(GENERIC);
      }
      if (trusted) {
        const problems = (health.body.problems as string[]).join("\n");
        for (const d of details) expect(problems).toContain(d);
      } else {
        for (const d of details.filter((d) => !settings.includes(d))) expect(health.text).not.toContain(d);
      }
    }
    const delivery = crypto.randomUUID();
    const message = expectError(await deliver("push", pushPayload(), { via, delivery }), 503, "misconfigured");
    expect(message).toBe(GENERIC);
    expect(await ledgerCount("deliveries", "id = ?", delivery)).toBe(0);
  }

  it("no WEBHOOK_SECRET", async () => {
    await expectMisconfigured(
      withBindings({ WEBHOOK_SECRET: undefined }),
      ["WEBHOOK_SECRET"],
      ["WEBHOOK_SECRET is not set"],
    );
  });

  it("an empty WEBHOOK_SECRET counts as none", async () => {
    await expectMisconfigured(withBindings({ WEBHOOK_SECRET: "" }), ["WEBHOOK_SECRET"], ["WEBHOOK_SECRET is not set"]);
  });

  it("no WEBHOOK_SECRET even when WEBHOOK_SECRET_PREVIOUS is set: deliveries signed with it are not accepted", async () => {
    const via = withBindings({ WEBHOOK_SECRET: undefined });
    const res = await deliver("push", pushPayload(), { via, secret: TEST_SECRETS.previous });
    expectError(res, 503, "misconfigured");
  });

  it("no API_TOKEN", async () => {
    await expectMisconfigured(withBindings({ API_TOKEN: undefined }), ["API_TOKEN"], ["API_TOKEN is not set"]);
  });

  it("a RUNNER_DISPATCH_MODE that is not a mode", async () => {
    await expectMisconfigured(
      withBindings({ RUNNER_DISPATCH_MODE: "turbo" }),
      ["RUNNER_DISPATCH_MODE"],
      ["must be one of hybrid, self-hosted-only, cloudflare-only"],
    );
  });

  it("ROUTING_CONFIG that is not JSON", async () => {
    await expectMisconfigured(withBindings({ ROUTING_CONFIG: "{rules: [" }), ["ROUTING_CONFIG"], ["is not valid JSON"]);
  });

  it("ROUTING_CONFIG that is JSON but not an object", async () => {
    await expectMisconfigured(withBindings({ ROUTING_CONFIG: "[1,2]" }), ["ROUTING_CONFIG"], ["must be a JSON object"]);
  });

  it("ROUTING_CONFIG with several shape errors lists every one", async () => {
    const config = {
      rules: [{ id: "x", requirement: "quantum", patterns: [] }],
      runners: { vps: { capacity: 0 } },
      surprise: true,
    };
    const via = withBindings({ ROUTING_CONFIG: JSON.stringify(config) });
    await expectMisconfigured(
      via,
      ["ROUTING_CONFIG"],
      ["rules[0].requirement", "rules[0].patterns", "runners.vps.capacity", "surprise"],
    );
    const health = await call<{ problems: string[] }>("/health", { via });
    expect(health.body.problems.filter((p) => p.startsWith("ROUTING_CONFIG ")).length).toBeGreaterThanOrEqual(4);
  });

  it("ROUTING_CONFIG naming unknown runners lists every one", async () => {
    const config = { assign: { gpu: "nowhere" }, runners: { vps: { fallback: "missing" } } };
    await expectMisconfigured(
      withBindings({ ROUTING_CONFIG: JSON.stringify(config) }),
      ["ROUTING_CONFIG"],
      ["assign.gpu", "nowhere", "runners.vps.fallback", "missing"],
    );
  });

  it("several problems at once are all reported", async () => {
    await expectMisconfigured(
      withBindings({ WEBHOOK_SECRET: undefined, API_TOKEN: undefined, RUNNER_DISPATCH_MODE: "fast" }),
      ["WEBHOOK_SECRET", "API_TOKEN", "RUNNER_DISPATCH_MODE"],
      ["WEBHOOK_SECRET is not set", "API_TOKEN is not set", "must be one of"],
    );
  });

  it("never quotes a mis-set variable's value, which could hold a token, even to the API token's holder", async () => {
    const via = withBindings({ RUNNER_DISPATCH_MODE: TEST_SECRETS.github });
    for (const token of [null, TEST_SECRETS.api]) {
      const res = await call("/health", { via, token });
      expect(res.status).toBe(503);
      for (const secret of Object.values(TEST_SECRETS)) expect(res.text).not.toContain(secret);
      const metrics = await call("/metrics", { via, token });
      for (const secret of Object.values(TEST_SECRETS)) expect(metrics.text).not.toContain(secret);
    }
  });

  it("the bindings as given to the tests are valid (control)", async () => {
    const res = await call("/health", { via: withBindings({}), token: null });
    expect(res.status).toBe(200);
  });
});

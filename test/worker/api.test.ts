import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  call,
  deliver,
  expectDecision,
  expectError,
  expectRouted,
  kvKeys,
  ledgerCount,
  POOL,
  pushPayload,
  randomRepository,
  randomSha,
  worker,
} from "./helpers.ts";

const json = { "content-type": "application/json" };

describe("HEAD", () => {
  it("is answered as its GET, without the body; a path without a GET answers 405", async () => {
    const head = await worker(new Request("https://router.test/health", { method: "HEAD" }));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const webhook = await worker(new Request("https://router.test/webhook/github", { method: "HEAD" }));
    expect(webhook.status).toBe(405);
    expect(webhook.headers.get("allow")).toBe("POST");
  });
});

describe("GET /health", () => {
  it("answers 200 {status: ok, mode, version} without auth", async () => {
    const res = await call("/health", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ status: "ok", mode: "hybrid", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it("ignores a bearer token, right or wrong", async () => {
    expect((await call("/health", { token: "nonsense" })).status).toBe(200);
    expect((await call("/health")).status).toBe(200);
  });
});

describe("GET /status", () => {
  it("401 without a token", async () => {
    expectError(await call("/status?build_id=x", { token: null }), 401, "unauthorized");
  });

  it("401 with a wrong token, however it is written", async () => {
    for (const token of ["wrong", `${TEST_SECRETS.api}x`, TEST_SECRETS.api.slice(0, -1), TEST_SECRETS.webhook]) {
      expectError(await call("/status?build_id=x", { token }), 401, "unauthorized");
    }
    for (const authorization of [TEST_SECRETS.api, `Basic ${TEST_SECRETS.api}`, "Bearer", "Bearer "]) {
      const res = await call("/status?build_id=x", { token: null, headers: { authorization } });
      expectError(res, 401, "unauthorized");
    }
  });

  it("401 comes before anything else: no build id is looked up without a token", async () => {
    expectError(await call("/status", { token: null }), 401, "unauthorized");
  });

  it("400 without build_id", async () => {
    expectError(await call("/status"), 400, "missing_parameter");
    expectError(await call("/status?build_id="), 400, "missing_parameter");
  });

  it("404 for an unknown build", async () => {
    const message = expectError(await call(`/status?build_id=nope-${crypto.randomUUID()}`), 404, "build_not_found");
    expect(message).toContain("nope-");
  });

  it("200 with the record of a known build", async () => {
    const { build_id } = expectRouted(await deliver("push", pushPayload()));
    const res = await call(`/status?build_id=${build_id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ build_id, status: "routed" });
  });

  it("falls back to the KV copy when the Ledger no longer has the build", async () => {
    const build_id = `kvonly-${crypto.randomUUID().slice(0, 8)}`;
    const record = { build_id, repository: "acme/old", status: "completed" };
    const { env } = await import("cloudflare:workers");
    await env.CI_STATE.put(`build:${build_id}`, JSON.stringify(record), { expirationTtl: 60 });
    const res = await call(`/status?build_id=${build_id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(record);
  });

  it("accepts the bearer scheme in any case", async () => {
    const { build_id } = expectRouted(await deliver("push", pushPayload()));
    const res = await call(`/status?build_id=${build_id}`, {
      token: null,
      headers: { authorization: `bearer ${TEST_SECRETS.api}` },
    });
    expect(res.status).toBe(200);
  });
});

describe("POST /route", () => {
  it("answers a decision for the files given, and records nothing", async () => {
    const repository = randomRepository();
    const buildsBefore = await ledgerCount("builds");
    const keysBefore = (await kvKeys()).length;
    const res = await call("/route", {
      method: "POST",
      headers: json,
      body: JSON.stringify({
        repository,
        event: "push",
        ref: "refs/heads/feature",
        sha: randomSha(),
        files: ["kernels/x.cu", "README.md"],
      }),
    });
    expect(res.status, res.text).toBe(200);
    const decision = expectDecision(res.body.decision);
    expect(decision).toMatchObject({
      runner: "ai-lab",
      runs_on: POOL["ai-lab"],
      requirement: "gpu",
      files_known: true,
    });
    expect(await ledgerCount("builds")).toBe(buildsBefore);
    expect((await kvKeys()).length).toBe(keysBefore);
  });

  it("a docs-only list → github-hosted; a truncated one never is", async () => {
    const body = { repository: "acme/x", files: ["docs/a.md"] };
    const light = await call("/route", { method: "POST", headers: json, body: JSON.stringify(body) });
    expect(expectDecision(light.body.decision)).toMatchObject({ runner: "github-hosted", requirement: "lightweight" });
    const cut = await call("/route", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ ...body, truncated: true }),
    });
    expect(expectDecision(cut.body.decision)).toMatchObject({ truncated: true, requirement: "default", runner: "vps" });
  });

  it("a deploy ref and an environment are honoured", async () => {
    const res = await call("/route", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ repository: "acme/x", event: "workflow_dispatch", environment: "production" }),
    });
    expect(expectDecision(res.body.decision)).toMatchObject({ runner: "kvm4", requirement: "deploy" });
  });

  it("without files but with a sha, asks GitHub for the commit's files", async () => {
    const res = await call("/route", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ repository: "acme/x", sha: randomSha() }),
    });
    expect(expectDecision(res.body.decision)).toMatchObject({ files_known: true, runner: "github-hosted" });
  });

  it("without files or sha, routes with files unknown (never lightweight)", async () => {
    const res = await call("/route", { method: "POST", headers: json, body: JSON.stringify({ repository: "acme/x" }) });
    expect(expectDecision(res.body.decision)).toMatchObject({ files_known: false, requirement: "default" });
  });

  it("400 listing every problem with a bad body", async () => {
    const res = await call("/route", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ repository: "not a repo", ref: "main", sha: "xyz", files: [""], colour: "blue" }),
    });
    const message = expectError(res, 400, "invalid_request");
    for (const field of ["repository", "ref", "sha", "files", "colour"]) expect(message).toContain(field);
    expect(message.split("; ").length).toBeGreaterThanOrEqual(5);
  });

  it("400 for a body that is not JSON, or not an object", async () => {
    for (const body of ["{", "[]", "null", ""]) {
      const res = await call("/route", { method: "POST", headers: json, body });
      expect(res.status, body).toBe(400);
      expect(res.body).toEqual({ error: { code: expect.stringMatching(/^invalid_/), message: expect.any(String) } });
    }
  });

  it("400 without repository", async () => {
    const res = await call("/route", { method: "POST", headers: json, body: JSON.stringify({ files: ["a.ts"] }) });
    expect(expectError(res, 400, "invalid_request")).toContain("repository");
  });

  it("415 for a body that is not JSON by type", async () => {
    const res = await call("/route", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ repository: "acme/x" }),
    });
    expectError(res, 415, "unsupported_media_type");
  });

  it("413 for a body over 1 MiB", async () => {
    const files = Array.from({ length: 2000 }, (_, i) => `${"d/".repeat(300)}${i}.md`);
    const res = await call("/route", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ repository: "acme/x", files }),
    });
    expectError(res, 413, "payload_too_large");
  });

  it("401 without auth, or with a wrong token, before the body is read", async () => {
    const body = JSON.stringify({ repository: "acme/x", files: ["a.cu"] });
    expectError(await call("/route", { method: "POST", headers: json, body, token: null }), 401, "unauthorized");
    expectError(await call("/route", { method: "POST", headers: json, body, token: "nope" }), 401, "unauthorized");
    expectError(await call("/route", { method: "POST", headers: json, body: "{", token: null }), 401, "unauthorized");
  });
});

describe("GET /route", () => {
  it("answers the decision recorded for a pushed commit (recorded: true)", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const pushed = expectRouted(await deliver("push", pushPayload({ repository, sha, files: ["kernels/x.cu"] })));
    const res = await call(`/route?repository=${repository}&sha=${sha}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      build_id: pushed.build_id,
      decision: pushed.decision,
      recorded: true,
      routing_job: null,
      // The default pool: gpu goes to ai-lab, a flat $0 a month, against GitHub's $0.006 a minute for ubuntu-latest.
      pricing: { runner_per_minute_usd: null, runner_monthly_usd: 0, github_hosted_per_minute_usd: 0.006 },
    });
  });

  it("finds the recorded decision whatever the case of repository and sha", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const pushed = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const res = await call(`/route?repository=${repository.toUpperCase()}&sha=${sha.toUpperCase()}`);
    expect(res.body).toMatchObject({ build_id: pushed.build_id, recorded: true });
  });

  it("computes a decision when none was recorded (recorded: false), writing nothing", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const res = await call(`/route?repository=${repository}&sha=${sha}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ build_id: null, recorded: false });
    expect(expectDecision(res.body.decision)).toMatchObject({ files_known: true, runner: "github-hosted" });
    expect(await ledgerCount("commits", "repository = ?", repository)).toBe(0);
    // Asking again still finds nothing recorded.
    expect((await call(`/route?repository=${repository}&sha=${sha}`)).body.recorded).toBe(false);
  });

  it("a computed decision with GitHub failing says the files are unknown", async () => {
    const res = await call(`/route?repository=acme/broken&sha=${randomSha()}`);
    expect(res.status).toBe(200);
    const decision = expectDecision(res.body.decision);
    expect(decision.files_known).toBe(false);
    expect(decision.reasons.join("\n")).toContain("500");
  });

  it("a commit only a workflow event announced has no decision: one is computed", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { workflowJobPayload } = await import("./helpers.ts");
    await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "queued", id: 1 }));
    const res = await call(`/route?repository=${repository}&sha=${sha}`);
    expect(res.body).toMatchObject({ recorded: false, build_id: null });
    expectDecision(res.body.decision);
  });

  it("400 when repository or sha is missing", async () => {
    expectError(await call("/route"), 400, "missing_parameter");
    expectError(await call("/route?repository=acme/x"), 400, "missing_parameter");
    expectError(await call(`/route?sha=${randomSha()}`), 400, "missing_parameter");
    expectError(await call(`/route?repository=&sha=${randomSha()}`), 400, "missing_parameter");
  });

  it("400 when repository or sha is malformed", async () => {
    expectError(await call(`/route?repository=acme&sha=${randomSha()}`), 400, "invalid_request");
    expectError(await call("/route?repository=acme/x&sha=not-a-sha"), 400, "invalid_request");
  });

  it("401 without a token", async () => {
    expectError(await call(`/route?repository=acme/x&sha=${randomSha()}`, { token: null }), 401, "unauthorized");
  });
});

describe("the API's 4xx answers write nothing", () => {
  it("after a series of refused calls, no delivery, build or key was added", async () => {
    const before = {
      deliveries: await ledgerCount("deliveries"),
      builds: await ledgerCount("builds"),
      commits: await ledgerCount("commits"),
      keys: (await kvKeys()).length,
    };
    await call("/status", { token: null });
    await call("/status");
    await call(`/status?build_id=${crypto.randomUUID()}`);
    await call("/route", { method: "POST", headers: json, body: "{}" });
    await call("/route", { method: "POST", headers: json, body: "{}", token: null });
    await call("/route?repository=acme/x");
    await call("/route", { method: "PUT" });
    expect({
      deliveries: await ledgerCount("deliveries"),
      builds: await ledgerCount("builds"),
      commits: await ledgerCount("commits"),
      keys: (await kvKeys()).length,
    }).toEqual(before);
  });
});

import { sign } from "@octokit/webhooks-methods";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { encodeBody, webhookRequest } from "../support/webhooks.ts";
import {
  type Answer,
  call,
  deliver,
  expectRouted,
  type Fetch,
  pullRequestPayload,
  pushPayload,
  randomSha,
  withBindings,
  worker,
} from "./helpers.ts";

const METHODS = ["log", "info", "warn", "error", "debug"] as const;

describe("no secret in any response or log line", () => {
  let spies: MockInstance[] = [];
  const lines = (): string[] =>
    spies.flatMap((spy) =>
      spy.mock.calls.map((args) => args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")),
    );

  beforeEach(() => {
    // The Worker runs in the tests' isolate, so its console is this console.
    spies = METHODS.map((m) => vi.spyOn(console, m).mockImplementation(() => {}));
  });
  afterEach(() => {
    for (const spy of spies) spy.mockRestore();
  });

  it("across successes and failures of every route", async () => {
    const answers: Answer<unknown>[] = [];
    const authorizations: string[] = [];
    const signatures: string[] = [];
    const keep = (a: Answer<unknown>) => {
      answers.push(a);
      return a;
    };
    const api = async (path: string, init: Parameters<typeof call>[1] = {}) => {
      const token = init.token === undefined ? TEST_SECRETS.api : init.token;
      if (token !== null) authorizations.push(`Bearer ${token}`);
      return keep(await call(path, init));
    };
    const hook = async (event: string, payload: unknown, options: Parameters<typeof deliver>[2] = {}) => {
      const request = await webhookRequest(event, payload, options);
      signatures.push(request.headers.get("x-hub-signature-256") ?? "");
      const res = await deliver(event, payload, options);
      return keep(res);
    };
    const misconfigured: Fetch = withBindings({ RUNNER_DISPATCH_MODE: "turbo" });
    const noSecret: Fetch = withBindings({ WEBHOOK_SECRET: undefined });

    // Webhooks that succeed, with both secrets, in both content types, through GitHub's API.
    const push = await hook("push", pushPayload({ files: ["kernels/x.cu"] }));
    const { build_id } = expectRouted(push as Answer);
    await hook("push", pushPayload(), { secret: TEST_SECRETS.previous, contentType: "form" });
    await hook("pull_request", pullRequestPayload({ repository: "acme/gpu-pr" }));
    await hook("pull_request", pullRequestPayload({ repository: "acme/broken" }));
    await hook("pull_request", pullRequestPayload({ repository: "acme/limited" }));
    await hook("pull_request", pullRequestPayload({ repository: "acme/many-files", number: 3000 }));
    // Webhooks that fail.
    await hook("push", pushPayload(), { secret: "wrong-secret" });
    await hook("push", pushPayload(), { secret: TEST_SECRETS.api });
    await hook("push", pushPayload(), { headers: { "x-hub-signature-256": null } });
    await hook("push", pushPayload(), { headers: { "x-github-event": null } });
    await hook("push", null, { body: "{not json" });
    await hook("push", null, { contentType: "form", body: "x=1" });
    await hook("push", pushPayload(), { contentType: "text/plain" });
    await hook("push", { ref: "refs/heads/x", before: randomSha(), after: randomSha() });
    await hook("push", pushPayload(), { headers: { "content-length": String(26 * 1024 * 1024) } });
    const delivery = crypto.randomUUID();
    await hook("push", pushPayload(), { delivery });
    await hook("push", pushPayload(), { delivery });
    // A webhook whose body names the secrets: the Worker must not echo bodies either.
    await hook(
      "push",
      { ...pushPayload(), note: Object.values(TEST_SECRETS).join(" ") },
      { headers: { "x-github-event": "" } },
    );

    // The API, with and without the right token.
    await api("/health", { token: null });
    await api(`/status?build_id=${build_id}`);
    await api(`/status?build_id=${build_id}`, { token: null });
    await api(`/status?build_id=${build_id}`, { token: "wrong-token-value-123" });
    await api(`/status?build_id=${build_id}`, { token: TEST_SECRETS.webhook });
    await api("/status");
    await api("/status?build_id=unknown");
    await api("/route", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"repository":"acme/x","files":["a.cu"]}',
    });
    await api("/route", { method: "POST", headers: { "content-type": "application/json" }, body: '{"repository":1}' });
    await api(`/route?repository=acme/x&sha=${randomSha()}`);
    await api(`/route?repository=acme/broken&sha=${randomSha()}`);
    await api("/route?repository=acme/x");
    await api("/nowhere");
    await api("/webhook/github");

    // Misconfigured Workers (these log at error level).
    for (const via of [misconfigured, noSecret]) {
      await api("/health", { via, token: null });
      await api("/status?build_id=x", { via });
      const request = await webhookRequest("push", pushPayload());
      signatures.push(request.headers.get("x-hub-signature-256") ?? "");
      keep(
        await (async () => {
          const res = await via(request);
          return { status: res.status, headers: res.headers, body: null, text: await res.text() };
        })(),
      );
    }

    const forbidden = [...Object.values(TEST_SECRETS), ...new Set(authorizations), ...new Set(signatures)].filter(
      (value) => value.length > 0,
    );
    expect(forbidden.length).toBeGreaterThan(10);

    // Something was logged, including error lines, so the check below is not vacuous.
    const logged = lines();
    expect(logged.length).toBeGreaterThanOrEqual(10);
    expect(logged.some((l) => l.includes('"level":"error"'))).toBe(true);
    expect(logged.some((l) => l.includes('"message":"webhook"'))).toBe(true);

    for (const line of logged) {
      for (const secret of forbidden) expect(line, "log line").not.toContain(secret);
      expect(line.toLowerCase()).not.toContain("authorization");
      expect(line.toLowerCase()).not.toContain("x-hub-signature");
    }
    expect(answers.length).toBeGreaterThan(30);
    for (const answer of answers) {
      for (const secret of forbidden) expect(answer.text, "response body").not.toContain(secret);
      for (const [name, value] of answer.headers) {
        for (const secret of forbidden) expect(`${name}: ${value}`, "response header").not.toContain(secret);
      }
    }
  });

  it("a delivery that GitHub's API answers with a token-bearing error leaks nothing either", async () => {
    // The fake really does echo the token for acme/echo: this test could catch a leak.
    const echoed = await fetch(`${FAKE_GITHUB_URL}/repos/acme/echo/pulls/1/files`, {
      headers: { authorization: `Bearer ${TEST_SECRETS.github}` },
    });
    expect(await echoed.text()).toContain(TEST_SECRETS.github);
    const res = await worker(await webhookRequest("pull_request", pullRequestPayload({ repository: "acme/echo" })));
    const text = await res.text();
    expect(res.status).toBe(202);
    expect(text).toContain("pull request files API answered 401");
    expect(text).not.toContain(TEST_SECRETS.github);
    for (const line of lines()) expect(line).not.toContain(TEST_SECRETS.github);
    // The build record (read back through the API) holds nothing of the answer either.
    const { build_id } = JSON.parse(text) as { build_id: string };
    const status = await call(`/status?build_id=${build_id}`);
    expect(status.status).toBe(200);
    expect(status.text).not.toContain(TEST_SECRETS.github);
  });

  it("signatures made with the secrets never appear, even for a body signed under the API token", async () => {
    const body = encodeBody(pushPayload());
    const signature = await sign(TEST_SECRETS.api, body);
    const res = await deliver("push", null, { body, headers: { "x-hub-signature-256": signature } });
    expect(res.status).toBe(401);
    expect(res.text).not.toContain(signature.slice(7));
    for (const line of lines()) expect(line).not.toContain(signature.slice(7));
  });
});

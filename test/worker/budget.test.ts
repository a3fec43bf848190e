/**
 * What one whole build costs against the free plan's daily quotas: KV writes (1,000 a day),
 * Durable Object requests, and subrequests to GitHub. Counted on the Worker's source under
 * bindings that count every call made through them.
 */

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../../worker/src/app.ts";
import { KV_WRITE_INTERVAL_MS } from "../../worker/src/store/builds.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import {
  deliver,
  expectRouted,
  type Fetch,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { runInProgressPayload, sleep } from "./observability.ts";

interface Counts {
  /** KV calls by method. */
  kv: Record<string, number>;
  /** Ledger (Durable Object) calls by method. */
  ledger: Record<string, number>;
  /** Outbound fetches by origin. */
  fetch: Record<string, number>;
}

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** `target` with every method call counted in `counts` by method name. */
function counted<T extends object>(target: T, counts: Record<string, number>): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        bump(counts, property);
        return Reflect.apply(value, object, args);
      };
    },
  });
}

let counts: Counts;
let via: Fetch;

beforeEach(() => {
  counts = { kv: {}, ledger: {}, fetch: {} };
  const ledgers = {
    idFromName: (name: string) => env.LEDGER.idFromName(name),
    get: (id: DurableObjectId) => counted(env.LEDGER.get(id), counts.ledger),
  } as unknown as Cloudflare.Env["LEDGER"];
  const bindings: Cloudflare.Env = { ...env, CI_STATE: counted(env.CI_STATE, counts.kv), LEDGER: ledgers };
  via = async (request) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(request, bindings, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  const fetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    bump(counts.fetch, new URL(input instanceof Request ? input.url : String(input)).origin);
    return fetch(input, init);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Everything GitHub sends for a build after the event that routed it: its workflow run
 * requested, in progress and completed, and two jobs each queued, in progress and completed.
 * Nine deliveries; answers checked.
 */
async function runBuild(repository: string, sha: string, buildId: string): Promise<void> {
  const runId = 10_000_000 + Math.floor(Math.random() * 1_000_000_000);
  const jobs = [runId + 1, runId + 2];
  const steps: [string, unknown][] = [
    ["workflow_run", workflowRunPayload({ repository, sha, action: "requested", id: runId })],
    ["workflow_run", runInProgressPayload({ repository, sha, id: runId })],
    ...jobs.flatMap((id) =>
      (["queued", "in_progress"] as const).map((action): [string, unknown] => [
        "workflow_job",
        workflowJobPayload({ repository, sha, action, id, runId }),
      ]),
    ),
    ...jobs.map((id): [string, unknown] => [
      "workflow_job",
      workflowJobPayload({ repository, sha, action: "completed", id, runId }),
    ]),
    ["workflow_run", workflowRunPayload({ repository, sha, action: "completed", id: runId, conclusion: "success" })],
  ];
  for (const [i, [event, payload]] of steps.entries()) {
    // A build takes minutes, not milliseconds: its record is not copied to KV twice within a second.
    if (i === steps.length - 1) await sleep(KV_WRITE_INTERVAL_MS);
    const answer = await deliver(event, payload, { via });
    expect(answer.status, answer.text).toBe(202);
    expect(answer.body).toEqual({ build_id: buildId });
  }
  const build = await env.CI_STATE.get<{ status: string; conclusion: string }>(`build:${buildId}`, "json");
  expect(build).toMatchObject({ status: "completed", conclusion: "success" });
}

describe("one whole build on the free plan", () => {
  it("a pushed build (10 deliveries) writes KV 2 times, reads it 0 times, calls the Ledger 10 times and GitHub 0 times", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha }), { via }));
    await runBuild(repository, sha, build_id);

    // KV: the build when routed, and once more when it completed.
    expect(counts.kv).toEqual({ put: 2 });
    // The Ledger: one call per delivery, which records it, counts it and answers it.
    expect(counts.ledger).toEqual({ accept: 10 });
    // The push listed its files: GitHub is never asked.
    expect(counts.fetch[FAKE_GITHUB_URL]).toBeUndefined();
  });

  it("a pull request's build (10 deliveries) writes KV 2 times, calls the Ledger 10 times and GitHub 1 time", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(
      await deliver("pull_request", pullRequestPayload({ repository, sha, number: 12 }), { via }),
    );
    await runBuild(repository, sha, build_id);

    expect(counts.kv).toEqual({ put: 2 });
    expect(counts.ledger).toEqual({ accept: 10 });
    // One page of the pull request's files (two files).
    expect(counts.fetch[FAKE_GITHUB_URL]).toBe(1);
  });

  it("a refused delivery writes no KV and makes 1 Ledger call, to count it", async () => {
    const answer = await deliver("push", pushPayload(), { via, secret: "not-the-secret" });
    expect(answer.status).toBe(401);
    expect(counts.kv).toEqual({});
    expect(counts.ledger).toEqual({ reject: 1 });
    expect(counts.fetch).toEqual({});
  });
});

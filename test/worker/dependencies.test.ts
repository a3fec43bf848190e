/**
 * Cross-repository builds through the deployed Worker: a push to acme/lib-up's main dispatches
 * acme/app-down's ci.yml from the Ledger's alarm (the fake GitHub records the call and its
 * inputs) and puts a pending commit status on the upstream commit; the dispatched run's
 * completion turns it to success; GET /builds/<id>/graph shows both ends.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { DOWNSTREAM_REPOSITORY, DOWNSTREAM_WORKFLOW, UPSTREAM_REPOSITORY } from "../support/fleet-config.ts";
import { call, deliver, expectError, expectRouted, pushPayload, randomSha, workflowRunPayload } from "./helpers.ts";
import { changes, newJobId, runAlarm, scrape, seriesKey, useManualAlarms } from "./observability.ts";

interface Write {
  path: string;
  body: Record<string, unknown> & { inputs?: Record<string, string> };
}

/** What the fake GitHub was sent for `repository`: dispatches to it, statuses on its commits. */
async function writes(repository: string): Promise<Write[]> {
  const res = await fetch(`${FAKE_GITHUB_URL}/__writes/${repository}`);
  return (await res.json()) as Write[];
}

const CONTEXT = `ci-router/downstream/${DOWNSTREAM_REPOSITORY}`;

/** A workflow_run of the dispatched workflow in the downstream repository, as GitHub sends it. */
function dispatchedRun(fields: { id: number; sha: string; action: "requested" | "completed"; conclusion?: string }) {
  const payload = workflowRunPayload({ repository: DOWNSTREAM_REPOSITORY, ...fields });
  Object.assign(payload.workflow_run, {
    event: "workflow_dispatch",
    path: `.github/workflows/${DOWNSTREAM_WORKFLOW}`,
    head_branch: "main",
    created_at: new Date().toISOString(),
    html_url: `https://github.com/${DOWNSTREAM_REPOSITORY}/actions/runs/${fields.id}`,
  });
  return payload;
}

interface Graph {
  build: { build_id: string; repository: string; sha: string | null; status: string; conclusion: string | null };
  upstream: { repository: string; sha: string; build_id: string; depth: number }[];
  downstream: {
    repository: string;
    workflow: string;
    ref: string;
    state: string;
    conclusion: string | null;
    build_id: string | null;
    run_id: number | null;
    dispatched_at: string | null;
  }[];
}

describe("cross-repository builds", () => {
  beforeEach(async () => {
    await useManualAlarms();
  });

  it("a push dispatches the downstream workflow once, and the upstream commit's status follows its run", async () => {
    const before = await scrape();
    const sha = randomSha();
    const push = pushPayload({ repository: UPSTREAM_REPOSITORY, sha, ref: "refs/heads/main", files: ["src/lib.ts"] });
    const { build_id } = expectRouted(await deliver("push", push));
    // Redelivered: a duplicate, nothing more to dispatch.
    expect((await deliver("push", push)).body).toMatchObject({ duplicate: true });

    await runAlarm();
    await runAlarm();
    const dispatches = (await writes(DOWNSTREAM_REPOSITORY)).filter((w) => w.body.inputs?.upstream_build === build_id);
    expect(dispatches).toEqual([
      {
        path: `/repos/${DOWNSTREAM_REPOSITORY}/actions/workflows/${DOWNSTREAM_WORKFLOW}/dispatches`,
        body: {
          ref: "main",
          inputs: { upstream_repository: UPSTREAM_REPOSITORY, upstream_sha: sha, upstream_build: build_id, depth: "1" },
        },
      },
    ]);
    const onCommit = async () =>
      (await writes(UPSTREAM_REPOSITORY)).filter((w) => w.path === `/repos/${UPSTREAM_REPOSITORY}/statuses/${sha}`);
    expect((await onCommit()).map((w) => w.body)).toEqual([
      { state: "pending", context: CONTEXT, description: `${DOWNSTREAM_WORKFLOW}: dispatched, running` },
    ]);

    // The dispatched run starts and completes in the downstream repository.
    const runId = newJobId();
    const downstreamSha = randomSha();
    expect(
      (await deliver("workflow_run", dispatchedRun({ id: runId, sha: downstreamSha, action: "requested" }))).status,
    ).toBe(202);
    const completed = dispatchedRun({ id: runId, sha: downstreamSha, action: "completed", conclusion: "success" });
    const { body } = await deliver("workflow_run", completed);
    const downstreamBuild = body.build_id as string;
    await runAlarm();
    expect((await onCommit()).map((w) => w.body)).toEqual([
      { state: "pending", context: CONTEXT, description: `${DOWNSTREAM_WORKFLOW}: dispatched, running` },
      {
        state: "success",
        context: CONTEXT,
        description: `${DOWNSTREAM_WORKFLOW}: passed`,
        target_url: `https://github.com/${DOWNSTREAM_REPOSITORY}/actions/runs/${runId}`,
      },
    ]);

    // Each dispatch and each status counted once, when it ended.
    const counted = changes(
      before,
      await scrape(),
      (key) => !/^ci_router_(dispatches|commit_statuses)_total/.test(key),
    );
    expect(counted).toEqual({
      [seriesKey("dispatches", { outcome: "sent" })]: 1,
      [seriesKey("commitStatuses", { state: "pending", outcome: "sent" })]: 1,
      [seriesKey("commitStatuses", { state: "success", outcome: "sent" })]: 1,
    });

    const up = await call<Graph>(`/builds/${build_id}/graph`);
    expect(up.status, up.text).toBe(200);
    expect(up.body).toMatchObject({
      build: { build_id, repository: UPSTREAM_REPOSITORY, sha },
      upstream: [],
      downstream: [
        {
          repository: DOWNSTREAM_REPOSITORY,
          workflow: DOWNSTREAM_WORKFLOW,
          ref: "main",
          state: "completed",
          conclusion: "success",
          build_id: downstreamBuild,
          run_id: runId,
          dispatched_at: expect.any(String),
        },
      ],
    });
    const down = await call<Graph>(`/builds/${downstreamBuild}/graph`);
    expect(down.body).toMatchObject({
      build: {
        build_id: downstreamBuild,
        repository: DOWNSTREAM_REPOSITORY,
        status: "completed",
        conclusion: "success",
      },
      upstream: [{ repository: UPSTREAM_REPOSITORY, sha, build_id, depth: 1 }],
      downstream: [],
    });
    // The records say the same.
    const record = await call(`/status?build_id=${downstreamBuild}`);
    expect(record.body.upstream).toEqual({ repository: UPSTREAM_REPOSITORY, sha, build_id, depth: 1 });
  });

  it("a push that touches none of the entry's paths dispatches nothing", async () => {
    const sha = randomSha();
    const push = pushPayload({ repository: UPSTREAM_REPOSITORY, sha, ref: "refs/heads/main", files: ["docs/a.md"] });
    const { build_id } = expectRouted(await deliver("push", push));
    await runAlarm();
    const dispatches = (await writes(DOWNSTREAM_REPOSITORY)).filter((w) => w.body.inputs?.upstream_build === build_id);
    expect(dispatches).toEqual([]);
    expect((await call<Graph>(`/builds/${build_id}/graph`)).body.downstream).toEqual([]);
  });

  it("GET /builds/<id>/graph: operators only, 400 for a malformed id, 404 for an unknown build, 405 for POST", async () => {
    expectError(await call("/builds/abc-unknown/graph", { token: null }), 401, "unauthorized");
    expectError(await call("/builds/NOT%20AN%20ID/graph"), 400, "invalid_request");
    expectError(await call(`/builds/${"a".repeat(13)}-x/graph`), 400, "invalid_request");
    expectError(await call("/builds/abcdef123456-unknown/graph"), 404, "build_not_found");
    expectError(await call("/builds/abcdef123456-unknown/graph", { method: "POST" }), 405, "method_not_allowed");
    expectError(await call("/builds/abcdef123456-unknown/graph/more"), 404, "not_found");
  });
});

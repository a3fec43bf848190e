/**
 * The learned router in the Worker: for a repository whose policy has `learning.enabled`, the
 * Ledger learns from the `workflow_job` and `workflow_run` deliveries of the builds the learner
 * routed, and decides pushes and route requests with that history; a redelivery, a route job and
 * a repository that does not learn change nothing.
 *
 * The routing configuration is given as the Worker's ROUTING_CONFIG through `withBindings`; the
 * Ledger decides with the text the Worker hands it (its own bindings, under the test bindings,
 * hold the tests' configuration, where learning is off). What it learns follows the build's
 * recorded decision, so it needs no configuration of its own.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { learned, operatorScope } from "../../worker/src/api.ts";
import { VAR_NAMES } from "../../worker/src/bindings.ts";
import type { Decision, StatsDump } from "../../worker/src/core/index.ts";
import { parseSettings } from "../../worker/src/settings.ts";
import { TEST_ROUTING_CONFIG } from "../support/fleet-config.ts";
import { ROUTER_URL } from "../support/webhooks.ts";
import {
  call,
  deliver,
  expectError,
  expectRouted,
  pushPayload,
  randomRepository,
  randomSha,
  withBindings,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { ledgerSql, newJobId } from "./observability.ts";

/** Every repository of this owner learns, and explores nothing; its self-hosted classes are priced by the minute, so the learner's choice shows. */
const OWNER = "learnco";
const CONFIG = {
  ...TEST_ROUTING_CONFIG,
  repositories: {
    ...TEST_ROUTING_CONFIG.repositories,
    [`${OWNER}/*`]: {
      learning: { enabled: true, exploreShare: 0 },
      runners: { vps: { cost: { perMinuteUsd: 0.05 } }, kvm2: { cost: { perMinuteUsd: 0.05 } } },
    },
  },
};
const via = withBindings({ [VAR_NAMES.routingConfig]: JSON.stringify(CONFIG) });

/** The decision's keys when the repository does not learn, as every other test asserts them. */
const DECISION_KEYS = [
  "arm",
  "environment",
  "files_count",
  "files_known",
  "mode",
  "reasons",
  "requirement",
  "rule",
  "runner",
  "runs_on",
  "satisfiable",
  "truncated",
];

/** Every row of the learned history. */
async function history(): Promise<{ stats: unknown[]; rosters: unknown[] }> {
  return {
    stats: await ledgerSql("SELECT key, row FROM learn_stats ORDER BY key"),
    rosters: await ledgerSql("SELECT key, row FROM learn_rosters ORDER BY key"),
  };
}

async function push(repository: string, sha = randomSha()): Promise<{ build_id: string; decision: Decision }> {
  return expectRouted(await deliver("push", pushPayload({ repository, sha, files: ["src/index.ts"] }), { via }));
}

/** A job of `repository`@`sha` completed on GitHub-hosted: queued 20 s, ran a minute. */
function completedJob(repository: string, sha: string, fields: { id: number; runId: number; name?: string }) {
  const payload = workflowJobPayload({ repository, sha, action: "completed", id: fields.id, runId: fields.runId });
  const job = payload.workflow_job;
  const end = Math.floor(Date.now() / 1000) * 1000;
  job.name = fields.name ?? "test";
  // The workflow's name, as GitHub sends it on the job too (workflow_run.name below).
  job.workflow_name = "CI";
  job.labels = ["ubuntu-latest"];
  job.runner_name = "GitHub Actions 7";
  job.runner_group_name = "GitHub Actions";
  job.created_at = new Date(end - 80_000).toISOString();
  job.started_at = new Date(end - 60_000).toISOString();
  job.completed_at = new Date(end).toISOString();
  return payload;
}

function run(repository: string, sha: string, id: number, action: "requested" | "completed") {
  const payload = workflowRunPayload({ repository, sha, id, action });
  payload.workflow_run.name = "CI";
  payload.workflow_run.run_attempt = 1;
  return payload;
}

/** One whole build: the push, its run, one job, the run completed. */
async function build(repository: string): Promise<Decision> {
  const sha = randomSha();
  const { decision } = await push(repository, sha);
  const runId = newJobId();
  expect((await deliver("workflow_run", run(repository, sha, runId, "requested"), { via })).status).toBe(202);
  const job = completedJob(repository, sha, { id: newJobId(), runId });
  expect((await deliver("workflow_job", job, { via })).status).toBe(202);
  expect((await deliver("workflow_run", run(repository, sha, runId, "completed"), { via })).status).toBe(202);
  return decision;
}

describe("a repository that learns", () => {
  it("routes by its history once its jobs have run: the reasons cite it, the runner is the learner's", async () => {
    const repository = randomRepository(OWNER);
    const first = await build(repository);
    // Nothing known yet: the paths rule decided, and says so.
    expect(first.runner).toBe("vps");
    expect(first.learned).toEqual({
      probability: 1,
      explored: false,
      greedy: "vps",
      requirement: "default",
      history: false,
      expected_jobs: {},
    });
    expect(first.reasons.at(-1)).toMatch(/^learned: no history for default builds of/);
    await build(repository);
    await build(repository);

    const { decision } = await push(repository);
    expect(decision.runner).toBe("github-hosted");
    expect(decision.runs_on).toEqual(["ubuntu-latest"]);
    expect(decision.requirement).toBe("lightweight");
    expect(decision.learned).toEqual({
      probability: 1,
      explored: false,
      greedy: "github-hosted",
      requirement: "default",
      history: true,
      // One job, `test`, in every build: expected once on the class chosen.
      expected_jobs: { "github-hosted": 1 },
    });
    expect(decision.reasons).toContainEqual(
      expect.stringMatching(/^learned: test usually 1\.\d min on github-hosted \(p90 1\.\d, 3 runs\) → lightweight$/),
    );

    // /route asks the Ledger, which decides with the same history; the answer keeps its shape.
    const posted = await call("/route", {
      via,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository, sha: randomSha(), files: ["src/index.ts"] }),
    });
    expect(posted.status, posted.text).toBe(200);
    expect(Object.keys(posted.body).sort()).toEqual(["decision", "pricing", "routing_job"]);
    expect(posted.body.decision).toMatchObject({ runner: "github-hosted", learned: { history: true } });
    expect((posted.body.decision as Decision).reasons).toContainEqual(expect.stringMatching(/usually 1\.\d min/));

    // GET /learned has the rows the decision read; the learner, fed them, decides the same.
    const settings = parseSettings({ ...env, [VAR_NAMES.routingConfig]: JSON.stringify(CONFIG) });
    const url = new URL(`${ROUTER_URL}/learned?repository=${repository}`);
    const answer = await learned(operatorScope(url, env), settings);
    const dump = (await answer.json()) as StatsDump & { repository: string; enabled: boolean };
    expect(dump).toMatchObject({ repository, enabled: true });
    const jobKey = ["j", "default", repository, "CI", "test", "github-hosted"].join("\u001f");
    expect(dump.entries.find(([key]) => key === jobKey)?.[1]).toMatchObject({ n: 3 });
    expect(dump.rosters.map(([key]) => key)).toContain(["b", "default", repository].join("\u001f"));
  });

  it("learns nothing from a redelivered completed job: the rows are as they were", async () => {
    const repository = randomRepository(OWNER);
    const sha = randomSha();
    await push(repository, sha);
    const job = completedJob(repository, sha, { id: newJobId(), runId: newJobId() });
    const delivery = crypto.randomUUID();
    expect((await deliver("workflow_job", job, { via, delivery })).status).toBe(202);
    const rows = await history();
    expect(rows.stats.length).toBeGreaterThan(0);

    // The same delivery again, then the same event under another delivery id.
    expect((await deliver("workflow_job", job, { via, delivery })).body).toMatchObject({ duplicate: true });
    expect((await deliver("workflow_job", job, { via })).body).toMatchObject({ duplicate: true });
    expect(await history()).toEqual(rows);
  });

  it("learns nothing from the router's own route job", async () => {
    const repository = randomRepository(OWNER);
    const sha = randomSha();
    await push(repository, sha);
    const routeJob = newJobId();
    const asked = await call(`/route?repository=${repository}&sha=${sha}&job_id=${routeJob}`, { via });
    expect(asked.status, asked.text).toBe(200);
    expect(asked.body).toMatchObject({ recorded: true, routing_job: routeJob });
    const rows = await history();

    const runId = newJobId();
    const own = completedJob(repository, sha, { id: routeJob, runId, name: "route" });
    expect((await deliver("workflow_job", own, { via })).status).toBe(202);
    expect(await history()).toEqual(rows);

    // The build's own job is learned.
    const job = completedJob(repository, sha, { id: newJobId(), runId });
    expect((await deliver("workflow_job", job, { via })).status).toBe(202);
    expect(await history()).not.toEqual(rows);
  });
});

describe("a repository that does not learn", () => {
  it("is decided as before, and nothing is learned from its jobs", async () => {
    const rows = await history();
    const repository = randomRepository();
    const sha = randomSha();
    const { decision } = await push(repository, sha);
    expect(Object.keys(decision).sort()).toEqual(DECISION_KEYS);
    expect(decision.runner).toBe("vps");
    expect(decision.reasons.some((r) => r.startsWith("learned:"))).toBe(false);
    const job = completedJob(repository, sha, { id: newJobId(), runId: newJobId() });
    expect((await deliver("workflow_job", job, { via })).status).toBe(202);
    expect(await history()).toEqual(rows);

    const posted = await call("/route", {
      via,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository, files: ["src/index.ts"] }),
    });
    expect(Object.keys(posted.body.decision as Decision).sort()).toEqual(DECISION_KEYS);
  });
});

describe("GET /learned", () => {
  it("serves a repository's learned rows to the API token only; 400 without a repository", async () => {
    const res = await call<{ repository: string; enabled: boolean; entries: unknown[]; rosters: unknown[] }>(
      "/learned?repository=acme/not-learning",
      { via },
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ repository: "acme/not-learning", enabled: false });
    expect(Array.isArray(res.body.entries) && Array.isArray(res.body.rosters)).toBe(true);
    expectError(await call("/learned?repository=acme/x", { via, token: null }), 401, "unauthorized");
    expectError(await call("/learned", { via }), 400, "missing_parameter");
    expectError(await call("/learned?repository=../x", { via }), 400, "invalid_request");
  });
});

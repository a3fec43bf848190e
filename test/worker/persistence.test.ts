import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  call,
  deliver,
  expectRouted,
  kvKeys,
  ledgerCount,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { eventually } from "./observability.ts";

const DAY_SECONDS = 24 * 60 * 60;

interface Build {
  build_id: string;
  repository: string;
  sha: string | null;
  status: string;
  conclusion: string | null;
  runners_used: string[];
  decision: Record<string, unknown> | null;
  jobs: Record<string, { status: string; runner_name: string | null; labels: string[]; runner: string | null }>;
  runs: Record<string, { status: string; conclusion: string | null }>;
}

async function status(buildId: string): Promise<Build> {
  const res = await call<Build>(`/status?build_id=${encodeURIComponent(buildId)}`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function kvRecord(buildId: string): Promise<Build | null> {
  return env.CI_STATE.get<Build>(`build:${buildId}`, "json");
}

describe("a push's build record", () => {
  it("is in KV under build:<build_id> for 24 hours", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const before = Math.floor(Date.now() / 1000);
    const { build_id, decision } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const after = Math.ceil(Date.now() / 1000);

    const [key] = await kvKeys(`build:${build_id}`);
    expect(key?.name).toBe(`build:${build_id}`);
    expect(key?.expiration).toBeGreaterThanOrEqual(before + DAY_SECONDS - 5);
    expect(key?.expiration).toBeLessThanOrEqual(after + DAY_SECONDS + 5);

    const record = await kvRecord(build_id);
    expect(record).toMatchObject({ build_id, repository, sha, status: "routed", decision });
  });

  it("is answered by GET /status", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id, decision } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const record = await status(build_id);
    expect(record).toMatchObject({
      build_id,
      repository,
      sha,
      event: "push",
      ref: "refs/heads/feature",
      status: "routed",
      conclusion: null,
      runners_used: [],
      decision,
    });
    expect(record).toEqual(await kvRecord(build_id));
  });

  it("is recorded once in the Ledger, with its commit", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    expect(await ledgerCount("builds", "build_id = ? AND sha = ?", build_id, sha)).toBe(1);
    expect(await ledgerCount("commits", "repository = ? AND sha = ? AND build_id = ?", repository, sha, build_id)).toBe(
      1,
    );
  });
});

describe("workflow events update the build of their repository and head SHA", () => {
  it("queued → in_progress → completed, then workflow_run completed", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const job = { repository, sha, id: 4242, runId: 99 };

    const queued = await deliver("workflow_job", workflowJobPayload({ ...job, action: "queued" }));
    expect(queued.status).toBe(202);
    expect(queued.body).toEqual({ build_id });
    let record = await status(build_id);
    expect(record.status).toBe("queued");
    expect(record.jobs["4242"]).toMatchObject({ status: "queued", runner_name: null, labels: ["self-hosted", "vps"] });
    expect(record.runners_used).toEqual([]);

    const running = await deliver(
      "workflow_job",
      workflowJobPayload({ ...job, action: "in_progress", runnerName: "vps-runner-7" }),
    );
    expect(running.body).toEqual({ build_id });
    record = await status(build_id);
    expect(record.status).toBe("in_progress");
    expect(record.jobs["4242"]).toMatchObject({
      status: "in_progress",
      runner_name: "vps-runner-7",
      labels: ["self-hosted", "vps"],
      runner: "vps",
    });
    expect(record.runners_used).toEqual(["vps"]);

    const done = await deliver(
      "workflow_job",
      workflowJobPayload({ ...job, action: "completed", runnerName: "vps-runner-7", conclusion: "success" }),
    );
    expect(done.body).toEqual({ build_id });
    record = await status(build_id);
    expect(record.jobs["4242"]?.status).toBe("completed");
    expect(record).toMatchObject({ status: "completed", conclusion: "success", runners_used: ["vps"] });

    const run = await deliver("workflow_run", workflowRunPayload({ repository, sha, action: "completed", id: 99 }));
    expect(run.status).toBe(202);
    expect(run.body).toEqual({ build_id });
    record = await status(build_id);
    expect(record).toMatchObject({ status: "completed", conclusion: "success", runners_used: ["vps"] });
    expect(record.runs["99"]).toMatchObject({ status: "completed", conclusion: "success" });
    expect(record.decision).not.toBeNull();

    // The completed record reached KV too: at most one copy a second, so the Ledger's alarm
    // writes this one (the build completed within a second of being routed).
    const copy = await eventually(
      () => kvRecord(build_id),
      (r) => r?.status === "completed",
      5_000,
    );
    expect(copy).toMatchObject({
      status: "completed",
      conclusion: "success",
      runners_used: ["vps"],
    });
  });

  it("a failing run makes the build's conclusion failure", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    await deliver(
      "workflow_run",
      workflowRunPayload({ repository, sha, action: "completed", id: 1, conclusion: "success" }),
    );
    await deliver(
      "workflow_run",
      workflowRunPayload({ repository, sha, action: "completed", id: 2, conclusion: "failure" }),
    );
    expect(await status(build_id)).toMatchObject({ status: "completed", conclusion: "failure" });
  });

  it("matches the repository and SHA whatever their case", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const res = await deliver(
      "workflow_job",
      workflowJobPayload({ repository: repository.toUpperCase(), sha: sha.toUpperCase(), action: "queued", id: 5 }),
    );
    expect(res.body).toEqual({ build_id });
  });

  it("an event arriving late never moves a job backwards", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const job = { repository, sha, id: 31 };
    await deliver("workflow_job", workflowJobPayload({ ...job, action: "completed" }));
    await deliver("workflow_job", workflowJobPayload({ ...job, action: "queued" }));
    const record = await status(build_id);
    expect(record.jobs["31"]?.status).toBe("completed");
    expect(record.status).toBe("completed");
  });

  it("an event for a commit no push announced starts a build with no decision", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const res = await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "queued", id: 8 }));
    expect(res.status).toBe(202);
    const buildId = res.body.build_id as string;
    const record = await status(buildId);
    expect(record).toMatchObject({ repository, sha, decision: null, status: "queued" });
    expect(await kvKeys(`build:${buildId}`)).toHaveLength(1);
    // A later job of the same commit joins that build.
    const next = await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "queued", id: 9 }));
    expect(next.body).toEqual({ build_id: buildId });
  });

  it("jobs whose events arrive before the push are kept in the push's build", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const early = await deliver(
      "workflow_job",
      workflowJobPayload({ repository, sha, action: "in_progress", id: 61, runnerName: "vps-runner-2" }),
    );
    expect(early.status).toBe(202);
    const { build_id, decision } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const record = await status(build_id);
    expect(record.decision).toEqual(decision);
    expect(record.jobs["61"]).toMatchObject({ status: "in_progress", runner_name: "vps-runner-2", runner: "vps" });
    expect(record).toMatchObject({ status: "in_progress", runners_used: ["vps"] });
    expect(await kvRecord(build_id)).toMatchObject({ status: "in_progress", runners_used: ["vps"] });
    // Later events of that commit keep going to the push's build.
    const later = await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "completed", id: 61 }));
    expect(later.body).toEqual({ build_id });
    expect(await status(build_id)).toMatchObject({ status: "completed", conclusion: "success" });
  });

  it("a job on GitHub's machines is recorded as github-hosted", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    await deliver(
      "workflow_job",
      workflowJobPayload({
        repository,
        sha,
        action: "in_progress",
        id: 1,
        labels: ["ubuntu-latest"],
        runnerName: "GitHub Actions 2",
      }),
    );
    expect((await status(build_id)).runners_used).toEqual(["github-hosted"]);
  });

  it("many jobs of one build sent concurrently: every job is kept (no lost update)", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const JOBS = 40;
    const ids = Array.from({ length: JOBS }, (_, i) => 10_000 + i);
    const events = ids.flatMap((id) =>
      (["queued", "in_progress", "completed"] as const).map((action) =>
        workflowJobPayload({ repository, sha, action, id, runId: 555 }),
      ),
    );
    const answers = await Promise.all(events.map((payload) => deliver("workflow_job", payload)));
    for (const a of answers) {
      expect(a.status).toBe(202);
      expect(a.body).toEqual({ build_id });
    }
    const record = await status(build_id);
    expect(Object.keys(record.jobs).sort()).toEqual(ids.map(String).sort());
    for (const id of ids) expect(record.jobs[String(id)]?.status, `job ${id}`).toBe("completed");
    expect(record).toMatchObject({ status: "completed", conclusion: "success", runners_used: ["vps"] });
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(1);
    expect(await ledgerCount("deliveries", "1 = 1")).toBeGreaterThanOrEqual(JOBS * 3);
  });

  it("concurrent runs and jobs of one build are all kept", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const payloads: [string, Record<string, unknown>][] = [
      ...Array.from({ length: 10 }, (_, i): [string, Record<string, unknown>] => [
        "workflow_run",
        workflowRunPayload({ repository, sha, action: "completed", id: 100 + i }),
      ]),
      ...Array.from({ length: 10 }, (_, i): [string, Record<string, unknown>] => [
        "workflow_job",
        workflowJobPayload({ repository, sha, action: "completed", id: 200 + i, runId: 100 + i }),
      ]),
    ];
    await Promise.all(payloads.map(([event, payload]) => deliver(event, payload)));
    const record = await status(build_id);
    expect(Object.keys(record.runs)).toHaveLength(10);
    expect(Object.keys(record.jobs)).toHaveLength(10);
    expect(record.status).toBe("completed");
  });
});

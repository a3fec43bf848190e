import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyUpdate,
  type BuildRecord,
  buildId,
  buildSummary,
  DEFAULT_POLICY,
  DEFAULT_RUNNERS,
  decide,
  type JobState,
  MAX_JOBS_PER_BUILD,
  MAX_RUNS_PER_BUILD,
  newBuild,
  parseRoutingConfig,
  RECORD_LIMITS,
  type Runner,
  type RunState,
  runnerForLabels,
  SUMMARY_RUNS,
  unknownChanges,
  type WorkflowUpdate,
} from "../../worker/src/core/index.ts";
import { DELIVERY as DELIVERY_RULE } from "../../worker/src/core/names.ts";

const SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

function build(): BuildRecord {
  return newBuild({
    build_id: buildId(SHA, DELIVERY),
    repository: "acme/app",
    event: "push",
    ref: "refs/heads/main",
    sha: SHA,
    delivery: DELIVERY,
    decision: null,
    at: "2024-06-01T10:00:00Z",
  });
}

function run(over: Partial<RunState> = {}): WorkflowUpdate {
  return {
    kind: "run",
    run: {
      id: 100,
      name: "CI",
      event: "push",
      attempt: 1,
      status: "requested",
      conclusion: null,
      started_at: null,
      updated_at: null,
      ...over,
    },
  };
}

function job(over: Partial<JobState> = {}): WorkflowUpdate {
  return {
    kind: "job",
    job: {
      id: 1,
      run_id: 100,
      run_attempt: 1,
      name: "test",
      status: "queued",
      conclusion: null,
      labels: ["self-hosted", "vps"],
      runner_name: "vps-1",
      runner_group_name: "Default",
      runner: "vps",
      created_at: "2024-06-01T10:00:05Z",
      queued_at: "2024-06-01T10:00:05Z",
      started_at: null,
      completed_at: null,
      ...over,
    },
  };
}

/** Applies updates in order, at increasing times. */
function apply(start: BuildRecord, updates: WorkflowUpdate[]): BuildRecord {
  return updates.reduce((b, u, i) => applyUpdate(b, u, `2024-06-01T10:0${i + 1}:00Z`), start);
}

describe("newBuild", () => {
  it("starts routed, with nothing run yet", () => {
    const decision = decide(
      {
        repository: "acme/app",
        event: "push",
        ref: "refs/heads/main",
        sha: SHA,
        changes: unknownChanges("push", "x"),
      },
      DEFAULT_POLICY,
    );
    const b = newBuild({
      build_id: "id-1",
      repository: "acme/app",
      event: "pull_request",
      ref: "refs/heads/feature",
      sha: SHA,
      pull_request: 7,
      delivery: DELIVERY,
      decision,
      at: "2024-06-01T10:00:00Z",
    });
    expect(b).toEqual({
      build_id: "id-1",
      repository: "acme/app",
      event: "pull_request",
      ref: "refs/heads/feature",
      sha: SHA,
      pull_request: 7,
      delivery: DELIVERY,
      created_at: "2024-06-01T10:00:00Z",
      updated_at: "2024-06-01T10:00:00Z",
      decision,
      status: "routed",
      conclusion: null,
      runners_used: [],
      started_at: null,
      completed_at: null,
      runs: {},
      jobs: {},
    });
    expect(build().pull_request).toBeNull();
  });
});

describe("applyUpdate: workflow_run", () => {
  it("requested → in_progress → completed moves the build's status", () => {
    const b0 = build();
    const b1 = applyUpdate(b0, run({ status: "requested" }), "2024-06-01T10:01:00Z");
    expect([b1.status, b1.conclusion, b1.updated_at]).toEqual(["queued", null, "2024-06-01T10:01:00Z"]);

    const b2 = applyUpdate(
      b1,
      run({ status: "in_progress", started_at: "2024-06-01T10:01:30Z", updated_at: "2024-06-01T10:01:30Z" }),
      "2024-06-01T10:02:00Z",
    );
    expect([b2.status, b2.conclusion, b2.started_at, b2.completed_at]).toEqual([
      "in_progress",
      null,
      "2024-06-01T10:01:30Z",
      null,
    ]);

    const b3 = applyUpdate(
      b2,
      run({ status: "completed", conclusion: "success", updated_at: "2024-06-01T10:05:00Z" }),
      "2024-06-01T10:05:01Z",
    );
    expect([b3.status, b3.conclusion, b3.started_at, b3.completed_at]).toEqual([
      "completed",
      "success",
      "2024-06-01T10:01:30Z",
      "2024-06-01T10:05:00Z",
    ]);
    expect(b3.runs["100"]).toEqual({
      id: 100,
      name: "CI",
      event: "push",
      attempt: 1,
      status: "completed",
      conclusion: "success",
      started_at: "2024-06-01T10:01:30Z",
      updated_at: "2024-06-01T10:05:00Z",
    });
    // Pure: earlier records are untouched.
    expect([b0.status, b1.status, b2.status]).toEqual(["routed", "queued", "in_progress"]);
    expect(b0.runs).toEqual({});
  });

  it.each([["queued"], ["waiting"], ["pending"], ["requested"]])("a run %s → build queued", (status) => {
    expect(apply(build(), [run({ status })]).status).toBe("queued");
  });

  it("out of order: completed then in_progress never moves the run backwards", () => {
    const b = apply(build(), [
      run({ status: "completed", conclusion: "failure", updated_at: "2024-06-01T10:05:00Z" }),
      run({ status: "in_progress", started_at: "2024-06-01T10:01:30Z", updated_at: "2024-06-01T10:01:30Z" }),
      run({ status: "requested" }),
    ]);
    expect([b.status, b.conclusion, b.completed_at]).toEqual(["completed", "failure", "2024-06-01T10:05:00Z"]);
    // The late event still fills what the later one did not carry.
    expect(b.runs["100"]).toMatchObject({
      status: "completed",
      conclusion: "failure",
      started_at: "2024-06-01T10:01:30Z",
      updated_at: "2024-06-01T10:05:00Z",
    });
    expect(b.started_at).toBe("2024-06-01T10:01:30Z");
  });

  it("a re-run (a later attempt) restarts the run; the earlier attempt's late events do not overwrite it", () => {
    const failed = apply(build(), [run({ status: "completed", conclusion: "failure", attempt: 1 })]);
    expect([failed.status, failed.conclusion]).toEqual(["completed", "failure"]);

    const rerun = applyUpdate(failed, run({ status: "queued", attempt: 2 }), "2024-06-01T11:00:00Z");
    expect([rerun.status, rerun.conclusion]).toEqual(["queued", null]);
    expect(rerun.runs["100"]).toMatchObject({ attempt: 2, status: "queued", conclusion: null });

    const stale = applyUpdate(
      rerun,
      run({ status: "completed", conclusion: "failure", attempt: 1 }),
      "2024-06-01T11:00:01Z",
    );
    expect(stale.runs["100"]).toMatchObject({ attempt: 2, status: "queued", conclusion: null });

    const passed = applyUpdate(
      stale,
      run({ status: "completed", conclusion: "success", attempt: 2 }),
      "2024-06-01T11:05:00Z",
    );
    expect([passed.status, passed.conclusion]).toEqual(["completed", "success"]);
  });

  it.each<[string[], string]>([
    [["success", "failure"], "failure"],
    [["failure", "success"], "failure"],
    [["success", "cancelled"], "cancelled"],
    [["skipped", "success"], "skipped"],
    [["timed_out", "cancelled"], "timed_out"],
    [["timed_out", "failure"], "failure"],
    [["cancelled", "success", "failure"], "failure"],
    [["success", "success"], "success"],
    [["neutral", "success"], "neutral"],
  ])("conclusion is the worst run's: %j → %s", (conclusions, worst) => {
    const b = apply(
      build(),
      conclusions.map((conclusion, i) => run({ id: 200 + i, status: "completed", conclusion })),
    );
    expect([b.status, b.conclusion]).toEqual(["completed", worst]);
  });

  it("the build completes only when every run has", () => {
    const b = apply(build(), [
      run({ id: 1, status: "completed", conclusion: "success" }),
      run({ id: 2, status: "in_progress" }),
    ]);
    expect([b.status, b.conclusion, b.completed_at]).toEqual(["in_progress", null, null]);
    const done = applyUpdate(b, run({ id: 2, status: "completed", conclusion: "failure" }), "2024-06-01T10:09:00Z");
    expect([done.status, done.conclusion]).toEqual(["completed", "failure"]);
  });
});

describe("applyUpdate: workflow_job", () => {
  it("records jobs, their runner class, and runners_used in order of first use, once each", () => {
    const b = apply(build(), [
      job({ id: 1, runner: "github-hosted", labels: ["ubuntu-latest"] }),
      job({ id: 2, runner: "vps" }),
      job({ id: 3, runner: "github-hosted", labels: ["ubuntu-latest"] }),
      job({ id: 4, runner: null, runner_name: null }),
      job({ id: 5, runner: "ai-lab", labels: ["self-hosted", "ai-lab", "gpu"] }),
    ]);
    expect(b.runners_used).toEqual(["github-hosted", "vps", "ai-lab"]);
    expect(Object.keys(b.jobs)).toEqual(["1", "2", "3", "4", "5"]);
    expect(b.jobs["2"]).toMatchObject({ id: 2, run_id: 100, runner: "vps", runner_name: "vps-1" });
    expect(b.status).toBe("queued");
  });

  it("jobs alone drive status and conclusion when no run event came", () => {
    const b = apply(build(), [
      job({ id: 1, status: "in_progress", started_at: "2024-06-01T10:02:00Z" }),
      job({ id: 2, status: "completed", conclusion: "success", completed_at: "2024-06-01T10:03:00Z" }),
    ]);
    expect([b.status, b.started_at]).toEqual(["in_progress", "2024-06-01T10:02:00Z"]);
    const done = applyUpdate(
      b,
      job({ id: 1, status: "completed", conclusion: "failure", completed_at: "2024-06-01T10:04:00Z" }),
      "2024-06-01T10:04:01Z",
    );
    expect([done.status, done.conclusion, done.completed_at]).toEqual(["completed", "failure", "2024-06-01T10:04:00Z"]);
  });

  it("a late in_progress after completed keeps the job completed", () => {
    const b = apply(build(), [
      job({ status: "completed", conclusion: "success", completed_at: "2024-06-01T10:04:00Z" }),
      job({ status: "in_progress", started_at: "2024-06-01T10:02:00Z" }),
    ]);
    expect(b.jobs["1"]).toMatchObject({
      status: "completed",
      conclusion: "success",
      started_at: "2024-06-01T10:02:00Z",
      completed_at: "2024-06-01T10:04:00Z",
    });
    expect([b.status, b.conclusion]).toEqual(["completed", "success"]);
  });

  it(`keeps at most ${MAX_JOBS_PER_BUILD} jobs, says it left some out, and still records runners of the rest`, () => {
    let b = build();
    for (let id = 1; id <= MAX_JOBS_PER_BUILD; id++) b = applyUpdate(b, job({ id }), "t");
    expect(b.truncated).toBeUndefined();
    b = applyUpdate(b, job({ id: 9999, runner: "kvm2" }), "t");
    expect(b.truncated).toBe(true);
    expect(Object.keys(b.jobs)).toHaveLength(MAX_JOBS_PER_BUILD);
    expect(b.jobs["9999"]).toBeUndefined();
    expect(b.runners_used).toEqual(["vps", "kvm2"]);
    // A job already kept is still updated.
    b = applyUpdate(b, job({ id: 1, status: "in_progress" }), "t");
    expect(b.jobs["1"]?.status).toBe("in_progress");
  });
});

describe("runnerForLabels", () => {
  const policy = parseRoutingConfig({}).defaults;
  it.each<[string[], string | null]>([
    [["self-hosted", "vps"], "vps"],
    [["self-hosted", "ai-lab", "gpu", "x"], "ai-lab"],
    [["ubuntu-latest"], "github-hosted"],
    [["self-hosted", "cloudstartup", "kvm4"], "kvm4"],
    [["self-hosted", "kvm2"], "kvm2"],
    [["Self-Hosted", "VPS"], "vps"],
    [["self-hosted"], null],
    [["ai-lab", "gpu"], null],
    [["windows-latest"], null],
    [["gpu", "db-app", "dc-03"], null],
    [[], null],
  ])("%j → %s", (labels, runner) => {
    expect(runnerForLabels(policy, labels)?.id ?? null).toBe(runner);
  });

  it("prefers the most specific runner when several fit", () => {
    const custom = parseRoutingConfig({
      runners: { "vps-big": { kind: "self-hosted", runsOn: ["self-hosted", "vps", "big"] } },
    }).defaults;
    expect(runnerForLabels(custom, ["self-hosted", "vps", "big"])?.id).toBe("vps-big");
    expect(runnerForLabels(custom, ["self-hosted", "vps"])?.id).toBe("vps");
  });
});

describe("buildId", () => {
  it.each<[string | null, string, string]>([
    [SHA, DELIVERY, "6113728f27ae-72d3162e-cc78-11e3-81ab-4c9367dc0958"],
    [null, DELIVERY, "nosha-72d3162e-cc78-11e3-81ab-4c9367dc0958"],
    ["6113728F27AE82C7", "local-1", "6113728f27ae-local-1"],
    ["", "x", "nosha-x"],
  ])("(%j, %j) → %j", (sha, delivery, id) => {
    expect(buildId(sha, delivery)).toBe(id);
  });

  it("is one-to-one: deliveries whose ids share a prefix never share a build id", () => {
    // The 12-character prefix these share named both builds the same before.
    const a = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    const b = "72d3162e-cc78-11e3-81ab-4c9367dc0959";
    expect(buildId(SHA, a)).not.toBe(buildId(SHA, b));
    fc.assert(
      fc.property(fc.stringMatching(DELIVERY_RULE), fc.stringMatching(DELIVERY_RULE), (x, y) => {
        fc.pre(x !== y);
        expect(buildId(SHA, x)).not.toBe(buildId(SHA, y));
        expect(buildId(SHA, x)).toBe(buildId(SHA, x));
      }),
      { numRuns: 500 },
    );
  });

  it("is URL- and KV-key-safe for every delivery id the Worker takes", () => {
    fc.assert(
      fc.property(fc.stringMatching(DELIVERY_RULE), (delivery) => {
        const id = buildId(SHA, delivery);
        expect(id).toMatch(/^[0-9a-f]{12}-[A-Za-z0-9._:-]{1,128}$/);
        expect(encodeURIComponent(id).replace(/%3A/g, ":")).toBe(id);
      }),
      { numRuns: 300 },
    );
  });
});

describe("buildSummary", () => {
  /** The default pool and a per-minute self-hosted class, as a configuration could add. */
  const RUNNERS: Record<string, Runner> = {
    ...DEFAULT_RUNNERS,
    canary: {
      id: "canary",
      kind: "self-hosted",
      runsOn: ["self-hosted", "canary"],
      fallback: null,
      capacity: 4,
      cost: { perMinuteUsd: 0.002 },
    },
  };
  const decision = decide(
    { repository: "acme/app", event: "push", ref: "refs/heads/main", sha: SHA, changes: unknownChanges("push", "x") },
    DEFAULT_POLICY,
  );
  const routed = () => ({ ...build(), decision, pull_request: 12 });
  const done = (over: Partial<JobState>) =>
    job({ status: "completed", conclusion: "success", completed_at: "2024-06-01T10:10:00Z", ...over });

  it("a routed build with nothing run yet: no minutes, no cost, links to its commit and pull request", () => {
    const summary = buildSummary(routed(), RUNNERS);
    expect(summary).toEqual({
      build_id: buildId(SHA, DELIVERY),
      repository: "acme/app",
      event: "push",
      ref: "refs/heads/main",
      sha: SHA,
      pull_request: 12,
      created_at: "2024-06-01T10:00:00Z",
      updated_at: "2024-06-01T10:00:00Z",
      status: "routed",
      conclusion: null,
      decision,
      runners_used: [],
      jobs: { total: 0, by_runner: {} },
      queue_seconds: null,
      run_seconds: null,
      minutes: 0,
      cost_usd: 0,
      hosted_usd: 0,
      runs: [],
      links: {
        commit: `https://github.com/acme/app/commit/${SHA}`,
        pull_request: "https://github.com/acme/app/pull/12",
        runs: [],
      },
    });
  });

  it("bills each completed job rounded up, per-minute classes charged, every minute priced at the hosted rate", () => {
    const b = apply(routed(), [
      run({ id: 100, status: "completed", conclusion: "success" }),
      // 4 min 30 s on vps (fixed monthly: no per-minute charge), queued 55 s.
      done({ id: 1, started_at: "2024-06-01T10:01:00Z", completed_at: "2024-06-01T10:05:30Z" }),
      // 10 min on the per-minute canary class, queued 2 min 55 s.
      done({
        id: 2,
        runner: "canary",
        labels: ["self-hosted", "canary"],
        started_at: "2024-06-01T10:03:00Z",
        completed_at: "2024-06-01T10:13:00Z",
      }),
      // 1 s on GitHub-hosted: 1 billable minute at $0.006.
      done({
        id: 3,
        runner: "github-hosted",
        labels: ["ubuntu-latest"],
        started_at: "2024-06-01T10:02:00Z",
        completed_at: "2024-06-01T10:02:01Z",
      }),
      // Still running, after the longest wait (3 min 55 s): counted under its class, no minutes yet.
      job({ id: 4, status: "in_progress", started_at: "2024-06-01T10:04:00Z" }),
    ]);
    const summary = buildSummary(b, RUNNERS);
    expect(summary.jobs).toEqual({
      total: 4,
      by_runner: {
        vps: { jobs: 2, minutes: 5 },
        canary: { jobs: 1, minutes: 10 },
        "github-hosted": { jobs: 1, minutes: 1 },
      },
    });
    expect(summary.minutes).toBe(16);
    expect(summary.cost_usd).toBeCloseTo(10 * 0.002 + 1 * 0.006, 9);
    expect(summary.hosted_usd).toBeCloseTo(16 * 0.006, 9);
    expect(summary.queue_seconds).toBe(235);
    // From the first start (10:01) to the last completion (10:13).
    expect(summary.run_seconds).toBe(720);
    expect(summary.runs).toEqual([{ id: 100, name: "CI", attempt: 1, status: "completed", conclusion: "success" }]);
    expect(summary.links.runs).toEqual(["https://github.com/acme/app/actions/runs/100"]);
  });

  it("GPU work has no hosted price, as in the cost report; without a GitHub-hosted class there is no baseline", () => {
    const gpu = apply(routed(), [
      done({
        id: 1,
        runner: "ai-lab",
        labels: ["self-hosted", "ai-lab", "gpu"],
        started_at: "2024-06-01T10:00:00Z",
        completed_at: "2024-06-01T11:00:00Z",
      }),
    ]);
    expect(buildSummary(gpu, RUNNERS)).toMatchObject({ minutes: 60, cost_usd: 0, hosted_usd: 0 });
    const selfHostedOnly = Object.fromEntries(Object.entries(RUNNERS).filter(([id]) => id !== "github-hosted"));
    expect(buildSummary(gpu, selfHostedOnly).hosted_usd).toBeNull();
  });

  it("lists the first 16 runs; a build without a decision, SHA or pull request has no such links", () => {
    let b: BuildRecord = { ...build(), sha: null };
    for (let i = 1; i <= 20; i++) b = applyUpdate(b, run({ id: i, status: "queued" }), "2024-06-01T10:01:00Z");
    const summary = buildSummary(b, RUNNERS);
    expect(summary.runs.map((r) => r.id)).toEqual(Array.from({ length: SUMMARY_RUNS }, (_, i) => i + 1));
    expect(summary.links).toMatchObject({ commit: null, pull_request: null });
    expect(summary.links.runs).toHaveLength(SUMMARY_RUNS);
    expect(summary.decision).toBeNull();
  });

  it("reads records of older versions that lack fields (as version 1 kept them)", () => {
    const old = {
      ...build(),
      runners_used: undefined,
      jobs: { "7": { id: 7, run_id: 77, status: "in_progress" } },
      runs: { "77": { id: 77, status: "in_progress" } },
    } as unknown as BuildRecord;
    expect(buildSummary(old, RUNNERS)).toMatchObject({
      jobs: { total: 1, by_runner: {} },
      runners_used: [],
      runs: [{ id: 77, name: null, attempt: 1, status: "in_progress", conclusion: null }],
      minutes: 0,
    });
  });

  it("stays small for the largest record there is: 64 runs, 256 jobs, every name at its cap", () => {
    const long = "n".repeat(RECORD_LIMITS.text + 50);
    let b: BuildRecord = routed();
    for (let i = 1; i <= MAX_RUNS_PER_BUILD; i++) {
      b = applyUpdate(
        b,
        run({ id: i, name: long, status: "completed", conclusion: "failure" }),
        "2024-06-01T10:01:00Z",
      );
    }
    for (let i = 1; i <= MAX_JOBS_PER_BUILD; i++) {
      b = applyUpdate(
        b,
        done({ id: i, run_id: 1 + (i % MAX_RUNS_PER_BUILD), name: long, started_at: "2024-06-01T10:00:00Z" }),
        "2024-06-01T10:02:00Z",
      );
    }
    const size = JSON.stringify(buildSummary(b, RUNNERS)).length;
    expect(JSON.stringify(b).length).toBeGreaterThan(100_000);
    expect(size).toBeLessThan(10_000);
  });
});

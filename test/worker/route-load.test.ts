import { beforeEach, describe, expect, it } from "vitest";
import { CANARY_LABELS, FLEET_REPOSITORY, POOL_LABELS } from "../support/fleet-config.ts";
import { pool, poolJob, resetFleet, shaOnArm } from "./fleet-helpers.ts";
import { call, deliver, POOL, pushPayload, workflowJobPayload } from "./helpers.ts";
import { newJobId, scrape } from "./observability.ts";

interface LoadDecision {
  runner: string;
  runs_on: string[];
  requirement: string;
  reasons: string[];
  arm: "control" | "candidate" | null;
}

beforeEach(resetFleet);

async function routeGet(sha: string): Promise<{ decision: LoadDecision; recorded: boolean }> {
  const res = await call<{ decision: LoadDecision; recorded: boolean }>(
    `/route?repository=${FLEET_REPOSITORY}&sha=${sha}`,
  );
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** Both pool machines busy with one job each; returns the job ids. */
async function saturate(): Promise<[number, number]> {
  const a = newJobId();
  const b = newJobId();
  await poolJob({ action: "in_progress", id: a, runnerName: "pool-1" });
  await poolJob({ action: "in_progress", id: b, runnerName: "pool-2" });
  expect(await pool()).toMatchObject({ busy: 2, saturated: true });
  return [a, b];
}

describe("GET /route with the fleet's load", () => {
  it("names the least-loaded machine of an idle class (ties by name)", async () => {
    const { decision, recorded } = await routeGet(shaOnArm("control"));
    expect(recorded).toBe(false);
    expect(decision).toMatchObject({ runner: "pool", requirement: "docker", arm: "control" });
    expect(decision.runs_on).toEqual([...POOL_LABELS, "pool-1"]);
    expect(decision.reasons).toContain("pool-1 is the least-loaded pool machine (0/1 busy)");
  });

  it("falls back to kvm2 when both machines are busy, and back to the freed machine after a job completes", async () => {
    const [a] = await saturate();
    const saturated = (await routeGet(shaOnArm("control"))).decision;
    expect(saturated).toMatchObject({ runner: "kvm2", runs_on: POOL.kvm2, arm: "control" });
    expect(saturated.reasons).toContain("pool saturated (2/2 busy) → kvm2");

    await poolJob({ action: "completed", id: a, runnerName: "pool-1" });
    const freed = (await routeGet(shaOnArm("control"))).decision;
    expect(freed).toMatchObject({ runner: "pool", arm: "control" });
    expect(freed.runs_on).toEqual([...POOL_LABELS, "pool-1"]);
    expect(freed.runs_on).toContain("pool-1");
  });

  it("puts the same commit on the same A/B arm on every call", async () => {
    const candidate = shaOnArm("candidate");
    const first = (await routeGet(candidate)).decision;
    expect(first).toMatchObject({ runner: "canary", runs_on: CANARY_LABELS, arm: "candidate" });
    expect(first.reasons.some((r) => r.startsWith("A/B pool vs canary") && r.includes("→ candidate canary"))).toBe(
      true,
    );
    for (let i = 0; i < 3; i++) expect((await routeGet(candidate)).decision).toEqual(first);
    // The candidate has no machines of its own: the pool's load does not move it.
    await saturate();
    expect((await routeGet(candidate)).decision).toMatchObject({ runner: "canary", arm: "candidate" });

    const control = shaOnArm("control");
    expect((await routeGet(control)).decision.arm).toBe("control");
    expect((await routeGet(control)).decision.arm).toBe("control");
  });

  it("leaves a repository without A/B or machines with arm null and its pool labels", async () => {
    const res = await call<{ decision: LoadDecision }>(`/route?repository=acme/other&sha=${shaOnArm("control")}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.decision.arm).toBeNull();
    expect(res.body.decision.runs_on).toEqual(POOL[res.body.decision.runner]);
  });
});

describe("POST /route with the fleet's load", () => {
  it("falls back when the pool is saturated, and says why", async () => {
    await saturate();
    const res = await call<{ decision: LoadDecision }>("/route", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository: FLEET_REPOSITORY, sha: shaOnArm("control"), files: ["Dockerfile"] }),
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.decision).toMatchObject({ runner: "kvm2", arm: "control" });
    expect(res.body.decision.reasons).toContain("pool saturated (2/2 busy) → kvm2");
  });
});

describe("the webhook's recorded decision", () => {
  it("is load-aware, answered and recorded the same, and redelivered unchanged", async () => {
    await saturate();
    const sha = shaOnArm("control");
    const delivery = crypto.randomUUID();
    const payload = pushPayload({ repository: FLEET_REPOSITORY, sha, files: ["Dockerfile"] });
    const first = await deliver<{ build_id: string; decision: LoadDecision }>("push", payload, { delivery });
    expect(first.status, first.text).toBe(202);
    expect(Object.keys(first.body).sort()).toEqual(["build_id", "decision"]);
    expect(first.body.decision).toMatchObject({ runner: "kvm2", runs_on: POOL.kvm2, arm: "control" });
    expect(first.body.decision.reasons).toContain("pool saturated (2/2 busy) → kvm2");

    // The pool frees up: the recorded decision and the redelivered answer stay as first given.
    await resetFleet();
    const again = await deliver<{ decision: LoadDecision; duplicate: boolean }>("push", payload, { delivery });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    const recorded = await routeGet(sha);
    expect(recorded).toMatchObject({ build_id: first.body.build_id, decision: first.body.decision, recorded: true });
  });
});

describe("per-arm outcomes", () => {
  it("counts a completed job of an A/B-routed build under its arm, and records the arm with its cost", async () => {
    const sha = shaOnArm("control");
    const pushed = await deliver<{ decision: LoadDecision }>(
      "push",
      pushPayload({ repository: FLEET_REPOSITORY, sha, files: ["Dockerfile"] }),
    );
    expect(pushed.body.decision).toMatchObject({ runner: "pool", arm: "control" });

    const armJobs = async () =>
      (await call<{ by_arm: Record<string, { jobs: number }> }>("/costs?period=1d")).body.by_arm.control?.jobs ?? 0;
    const billedBefore = await armJobs();
    const before = await scrape();
    const id = newJobId();
    await poolJob({ action: "queued", id, sha });
    await poolJob({ action: "in_progress", id, sha, runnerName: "pool-1" });
    await poolJob({ action: "completed", id, sha, runnerName: "pool-1", conclusion: "failure" });
    const after = await scrape();

    const labels = { runner: "pool", arm: "control" };
    expect(after.value("abJobs", { ...labels, conclusion: "failure" })).toBe(
      before.value("abJobs", { ...labels, conclusion: "failure" }) + 1,
    );
    expect(after.histogram("abRunSeconds", labels).count).toBe(before.histogram("abRunSeconds", labels).count + 1);
    const queued = (s: typeof before, metric: "abQueueSeconds" | "queueSeconds", l: Record<string, string>) =>
      s.histogram(metric, l).count;
    expect(queued(after, "abQueueSeconds", labels) - queued(before, "abQueueSeconds", labels)).toBe(
      queued(after, "queueSeconds", { runner: "pool" }) - queued(before, "queueSeconds", { runner: "pool" }),
    );
    // The arm's series never appear for the candidate arm here, nor does the label set of the old families change.
    expect(after.value("abJobs", { runner: "pool", arm: "candidate", conclusion: "failure" })).toBe(
      before.value("abJobs", { runner: "pool", arm: "candidate", conclusion: "failure" }),
    );
    expect(after.value("jobs", { runner: "pool", conclusion: "failure" })).toBe(
      before.value("jobs", { runner: "pool", conclusion: "failure" }) + 1,
    );

    // Its minutes are billed under its arm.
    expect(await armJobs()).toBe(billedBefore + 1);
  });

  it("counts nothing per arm for a build under no A/B rollout", async () => {
    const before = await scrape();
    const sha = shaOnArm("control");
    await deliver("push", pushPayload({ repository: "acme/plain", sha, files: ["Dockerfile"] }));
    const id = newJobId();
    for (const action of ["in_progress", "completed"] as const) {
      await deliver("workflow_job", workflowJobPayload({ repository: "acme/plain", sha, action, id, runId: id }));
    }
    const after = await scrape();
    const abKeys = [...after.series.keys()].filter((k) => k.startsWith("ci_router_ab_"));
    for (const key of abKeys) expect(after.series.get(key), key).toBe(before.series.get(key));
  });
});

import { describe, expect, it } from "vitest";
import type { CostReport } from "../../worker/src/core/costs.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  call,
  deliver,
  expectError,
  expectRouted,
  POOL,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
} from "./helpers.ts";
import { githubTime, ledgerSql, newJobId } from "./observability.ts";

type Report = CostReport & { period: CostReport["period"] & { label: string } };

async function costs(query = ""): Promise<Report> {
  const res = await call<Report>(`/costs${query}`);
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return res.body;
}

/** This calendar month as `YYYY-MM`: a period whose bounds do not move with the clock. */
const thisMonth = () => new Date().toISOString().slice(0, 7);

/**
 * A routed push, then one job completed on `labels` (10 minutes, ending a few seconds ago) for
 * each entry of `jobs`.
 */
async function buildWithJobs(jobs: { labels: string[]; runnerName: string }[]) {
  const repository = randomRepository();
  const sha = randomSha();
  const { decision } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
  const end = Date.now() - 5_000;
  for (const { labels, runnerName } of jobs) {
    const job = workflowJobPayload({ repository, sha, action: "completed", id: newJobId(), labels, runnerName });
    job.workflow_job.created_at = githubTime(end - 11 * 60_000);
    job.workflow_job.started_at = githubTime(end - 10 * 60_000);
    job.workflow_job.completed_at = githubTime(end);
    expect((await deliver("workflow_job", job)).status).toBe(202);
  }
  return { repository, sha, decision };
}

describe("GET /costs", () => {
  it("401 without a token or with a wrong one", async () => {
    expectError(await call("/costs", { token: null }), 401, "unauthorized");
    expectError(await call("/costs", { token: TEST_SECRETS.webhook }), 401, "unauthorized");
  });

  it("400 invalid_request for a period it cannot read, saying why", async () => {
    for (const period of ["2026-13", "abc", "2026-00", "0d", "401d"]) {
      const message = expectError(await call(`/costs?period=${period}`), 400, "invalid_request");
      expect(message).toContain(period);
    }
  });

  it("this month to date by default: totals, every runner of the pool, repositories, requirements, baseline, savings", async () => {
    const report = await costs();
    expect(Object.keys(report).sort()).toEqual(
      [
        "accuracy",
        "baseline",
        "by_arm",
        "by_day",
        "by_repository",
        "by_requirement",
        "by_runner",
        "period",
        "routing_overhead",
        "savings",
        "totals",
      ].sort(),
    );
    const now = new Date();
    expect(report.period.start).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString());
    expect(report.period.label).toBe(`${thisMonth()} to date`);
    expect(Object.keys(report.by_runner).sort()).toEqual(Object.keys(POOL).sort());
    for (const line of Object.values(report.by_runner)) {
      expect(line).toEqual({
        minutes: expect.any(Number),
        jobs: expect.any(Number),
        cost_usd: expect.any(Number),
        model: expect.stringMatching(/^(per_minute|monthly)$/),
      });
    }
    expect(report.by_runner["github-hosted"]?.model).toBe("per_minute");
    expect(report.totals).toMatchObject({ jobs: expect.any(Number), minutes: expect.any(Number) });
    // GitHub's price for ubuntu-latest.
    expect(report.baseline).toMatchObject({ runner: "github-hosted", per_minute_usd: 0.006 });
    expect(report.savings).toEqual({
      usd: expect.any(Number),
      percent: report.baseline.cost_usd === 0 ? null : expect.any(Number),
    });
  });

  it("completed jobs count under the runner and repository that ran them, priced, against the baseline", async () => {
    const before = await costs(`?period=${thisMonth()}`);
    const { repository, decision } = await buildWithJobs([
      { labels: ["self-hosted", "vps"], runnerName: "vps-runner-1" },
      { labels: ["ubuntu-latest"], runnerName: "GitHub Actions 7" },
    ]);
    const after = await costs(`?period=${thisMonth()}`);

    const grew = (
      a: { minutes: number; jobs: number } | undefined,
      b: { minutes: number; jobs: number } | undefined,
    ) => ({
      minutes: (b?.minutes ?? 0) - (a?.minutes ?? 0),
      jobs: (b?.jobs ?? 0) - (a?.jobs ?? 0),
    });
    expect(grew(before.by_runner.vps, after.by_runner.vps)).toEqual({ minutes: 10, jobs: 1 });
    expect(grew(before.by_runner["github-hosted"], after.by_runner["github-hosted"])).toEqual({ minutes: 10, jobs: 1 });
    for (const id of ["ai-lab", "kvm4", "kvm2"]) {
      expect(grew(before.by_runner[id], after.by_runner[id]), id).toEqual({ minutes: 0, jobs: 0 });
    }
    // The GitHub-hosted job at $0.006 a minute: $0.06, within the cent each report rounds to.
    expect(
      Math.abs(
        (after.by_runner["github-hosted"]?.cost_usd ?? 0) - (before.by_runner["github-hosted"]?.cost_usd ?? 0) - 0.06,
      ),
    ).toBeLessThanOrEqual(0.010001);
    expect(before.by_repository[repository]).toBeUndefined();
    expect(after.by_repository[repository]).toMatchObject({ minutes: 20, jobs: 2 });
    // Its own $0.06, plus its share of the vps's fixed price.
    expect(after.by_repository[repository]?.cost_usd).toBeGreaterThanOrEqual(0.06);
    expect(grew(before.by_requirement[decision.requirement], after.by_requirement[decision.requirement])).toEqual({
      minutes: 20,
      jobs: 2,
    });
    expect(grew(before.totals, after.totals)).toEqual({ minutes: 20, jobs: 2 });
    // Both jobs in the baseline, at the GitHub-hosted rate.
    expect(grew(before.baseline, after.baseline)).toEqual({ minutes: 20, jobs: 2 });
    expect(Math.abs(after.baseline.cost_usd - before.baseline.cost_usd - 0.12)).toBeLessThanOrEqual(0.010001);
    expect(after.savings.usd).toBeCloseTo(after.baseline.cost_usd - after.totals.cost_usd, 10);
  });

  it("outlives the 24-hour build records: pruning the builds changes no figure", async () => {
    await buildWithJobs([
      { labels: ["self-hosted", "vps"], runnerName: "vps-runner-1" },
      { labels: ["ubuntu-latest"], runnerName: "GitHub Actions 8" },
    ]);
    const before = await costs(`?period=${thisMonth()}`);
    expect(before.totals.jobs).toBeGreaterThanOrEqual(2);
    // What the alarm's prune does to builds older than 24 hours, done to all of them now.
    await ledgerSql("DELETE FROM builds");
    await ledgerSql("DELETE FROM commits WHERE build_id NOT IN (SELECT build_id FROM builds)");
    expect(await costs(`?period=${thisMonth()}`)).toEqual(before);
  });
});

/**
 * The router's own route job: a job that asks for its build's route naming itself (`job_id`, or
 * its OIDC token's check run) is overhead. A build whose route job runs on a GitHub-hosted
 * runner and whose build job runs on vps leaves routing accuracy, alerts and /fleet as the build
 * job alone would, and bills the route job's minutes as routing overhead.
 */
import { describe, expect, it } from "vitest";
import { OIDC_SERVED } from "../support/fleet-config.ts";
import { FAKE_OIDC_ISSUER, jobClaims } from "../support/oidc-issuer.ts";
import {
  call,
  deliver,
  expectRouted,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
} from "./helpers.ts";
import { changes, isClockGauge, newJobId, outbox, scrape, seriesKey } from "./observability.ts";

const HOSTED = { labels: ["ubuntu-latest"], runnerName: "GitHub Actions 12" };
const VPS = { labels: ["self-hosted", "vps"], runnerName: "vps-runner-1" };

type Where = typeof HOSTED;

async function job(
  repository: string,
  sha: string,
  id: number,
  action: "queued" | "in_progress" | "completed",
  where: Where,
) {
  const payload = workflowJobPayload({ repository, sha, action, id, runId: 77, labels: where.labels });
  payload.workflow_job.runner_name = action === "queued" ? null : where.runnerName;
  payload.workflow_job.name = id % 2 === 0 ? "route" : "build";
  const res = await deliver("workflow_job", payload);
  expect(res.status, res.text).toBe(202);
}

/** A docker commit (routed to vps), its route job on a hosted runner asking for the route, then its build job on vps. */
async function buildWithRouteJob(options: { name: boolean; repository?: string; token?: string }) {
  const repository = options.repository ?? randomRepository();
  const sha = randomSha();
  const { build_id, decision } = expectRouted(
    await deliver("push", pushPayload({ repository, sha, files: ["Dockerfile"] })),
  );
  expect(decision.runner).toBe("vps");
  const routeJob = 2 * Math.floor(newJobId() / 2);
  const buildJob = routeJob + 1;

  await job(repository, sha, routeJob, "queued", HOSTED);
  await job(repository, sha, routeJob, "in_progress", HOSTED);
  const asked = await call(`/route?repository=${repository}&sha=${sha}${options.name ? `&job_id=${routeJob}` : ""}`, {
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  expect(asked.status, asked.text).toBe(200);
  expect(asked.body).toMatchObject({ build_id, recorded: true, decision: { runner: "vps" } });
  const busyWhileRouting = await hostedBusy();
  await job(repository, sha, routeJob, "completed", HOSTED);

  await job(repository, sha, buildJob, "queued", VPS);
  await job(repository, sha, buildJob, "in_progress", VPS);
  await job(repository, sha, buildJob, "completed", VPS);
  return { build_id, routeJob, asked: asked.body, busyWhileRouting };
}

async function hostedBusy(): Promise<number> {
  const res = await call<{ classes: Record<string, { busy: number; queued: number }> }>("/fleet");
  expect(res.status, res.text).toBe(200);
  return res.body.classes["github-hosted"]?.busy ?? 0;
}

const accuracy = (suggested: string, used: string) => seriesKey("accuracy", { suggested, used });

describe("a build's route job on a hosted runner, its build job on vps", () => {
  it("named by job_id: accuracy counts the build job alone, no alert, not in /fleet, billed as routing overhead", async () => {
    const before = await scrape();
    const costsBefore = await call<{ routing_overhead: { jobs: number } }>("/costs?period=1d");
    const { build_id, routeJob, asked, busyWhileRouting } = await buildWithRouteJob({ name: true });
    expect(asked.routing_job).toBe(routeJob);
    expect(busyWhileRouting).toBe(0);

    const delta = changes(before, await scrape(), isClockGauge);
    expect(delta[accuracy("vps", "vps")]).toBe(1);
    expect(delta[accuracy("vps", "github-hosted")]).toBeUndefined();
    expect(delta[seriesKey("routingJobs", { runner: "github-hosted", conclusion: "success" })]).toBe(1);
    expect(delta[seriesKey("jobs", { runner: "vps", conclusion: "success" })]).toBe(1);
    expect((await outbox(build_id)).map((row) => row.kind)).not.toContain("fell_back");

    const costs = await call<{ routing_overhead: { jobs: number; minutes: number } }>("/costs?period=1d");
    expect(costs.body.routing_overhead.jobs).toBe(costsBefore.body.routing_overhead.jobs + 1);
    expect(costs.body.routing_overhead.minutes).toBeGreaterThan(0);
  });

  it("not named (control): the same route job counts as a mismatch and raises fell_back", async () => {
    const before = await scrape();
    const { build_id, asked, busyWhileRouting } = await buildWithRouteJob({ name: false });
    expect(asked.routing_job).toBeNull();
    expect(busyWhileRouting).toBe(1);
    const delta = changes(before, await scrape(), isClockGauge);
    expect(delta[accuracy("vps", "github-hosted")]).toBe(1);
    expect((await outbox(build_id)).map((row) => row.kind)).toContain("fell_back");
  });

  it("named by its OIDC token's check_run_id claim", async () => {
    const repository = OIDC_SERVED;
    const sha = randomSha();
    expectRouted(await deliver("push", pushPayload({ repository, sha, files: ["Dockerfile"] })));
    const routeJob = newJobId();
    await job(repository, sha, routeJob, "in_progress", HOSTED);
    const minted = await fetch(`${FAKE_OIDC_ISSUER}/__mint`, {
      method: "POST",
      body: JSON.stringify({
        claims: jobClaims(repository, { repositoryId: 5001, ownerId: 5000, checkRunId: routeJob }),
      }),
    });
    const { token } = (await minted.json()) as { token: string };
    const before = await scrape();
    const asked = await call(`/route?repository=${repository}&sha=${sha}`, { token });
    expect(asked.status, asked.text).toBe(200);
    expect(asked.body.routing_job).toBe(routeJob);
    await job(repository, sha, routeJob, "completed", HOSTED);
    const delta = changes(before, await scrape(), isClockGauge);
    expect(delta[seriesKey("routingJobs", { runner: "github-hosted", conclusion: "success" })]).toBe(1);
    expect(Object.keys(delta).filter((key) => key.startsWith("ci_router_routing_accuracy_total"))).toEqual([]);
  });

  it("a job_id that is not a check run id: 400, nothing recorded", async () => {
    for (const bad of ["0", "-1", "1.5", "abc", "99999999999999999999"]) {
      const res = await call(`/route?repository=acme/app&sha=${randomSha()}&job_id=${bad}`);
      expect(res.status, `${bad}: ${res.text}`).toBe(400);
    }
  });
});

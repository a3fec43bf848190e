/**
 * Fair shares in the Worker under Miniflare: workflow_job deliveries from three repositories
 * fill the shared vps class, then a push of each is routed under a configuration with
 * `fairShare` enabled (the test bindings' configuration, plus vps at 4 slots and fair shares,
 * given as the Worker's ROUTING_CONFIG for those pushes).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TEST_ROUTING_CONFIG } from "../support/fleet-config.ts";
import { fleet, resetFleet } from "./fleet-helpers.ts";
import { deliver, expectRouted, pushPayload, randomSha, withBindings, workflowJobPayload } from "./helpers.ts";
import { newJobId } from "./observability.ts";

const BIG = "fair/big";
const MID = "fair/mid";
const SMALL = "fair/small";

/** The test configuration with vps at 4 slots and fair shares on (equal weights). */
const FAIR_CONFIG = { ...TEST_ROUTING_CONFIG, runners: { vps: { capacity: 4 } }, fairShare: { enabled: true } };
const fair = withBindings({ ROUTING_CONFIG: JSON.stringify(FAIR_CONFIG) });

/** A vps job of `repository`: queued, or busy on `runner`. */
async function vpsJob(repository: string, runner: string | null): Promise<void> {
  const payload = workflowJobPayload({
    repository,
    sha: randomSha(),
    action: runner === null ? "queued" : "in_progress",
    id: newJobId(),
    runnerName: runner,
  });
  const res = await deliver("workflow_job", payload);
  expect([200, 202], res.text).toContain(res.status);
}

/** A push of a source file of `repository` to `ref`, routed under the fair-share configuration. */
async function push(repository: string, ref = "refs/heads/feature") {
  const res = await deliver("push", pushPayload({ repository, ref, files: ["src/app.ts"] }), { via: fair });
  return expectRouted(res).decision;
}

describe("fair shares of the vps class across repositories", () => {
  beforeAll(async () => {
    await resetFleet();
    // vps (4 slots): busy 3 (one job of each repository), and fair/big has 3 more queued.
    await vpsJob(BIG, "vps-big-1");
    await vpsJob(MID, "vps-mid-1");
    await vpsJob(SMALL, "vps-small-1");
    for (let i = 0; i < 3; i++) await vpsJob(BIG, null);
  });

  it("GET /fleet counts each repository's queued and busy jobs on the class", async () => {
    const vps = (await fleet(null)).vps;
    expect(vps).toMatchObject({ busy: 3, queued: 3, repositories: { [BIG]: 4, [MID]: 1, [SMALL]: 1 } });
  });

  it("moves the big repository, over its share of the contended class, to the fallback", async () => {
    const decision = await push(BIG);
    expect(decision.runner).toBe("kvm2");
    // 4 slots × 1 / 3 repositories active: a share of 1.3 slots, and fair/big holds 4.
    expect(decision.reasons).toContain("fair/big over its vps share (1.3/4 slots) → kvm2");
  });

  it("keeps the small and middle repositories, within their shares, on the class", async () => {
    for (const repository of [SMALL, MID]) {
      const decision = await push(repository);
      expect(decision.runner).toBe("vps");
      expect(decision.reasons).toContain("vps has room (3/4 busy)");
      expect(decision.reasons.some((r) => r.includes("share"))).toBe(false);
    }
  });

  it("never moves a push to the default branch the payload names", async () => {
    const decision = await push(BIG, "refs/heads/master");
    expect(decision.runner).toBe("vps");
    expect(decision.reasons).toContain(
      "fair/big over its vps share (1.3/4 slots); push to the default branch master has priority: stays",
    );
  });

  it("changes nothing under the bindings' own configuration, where fair shares are not configured", async () => {
    const res = await deliver("push", pushPayload({ repository: BIG, files: ["src/app.ts"] }));
    const { decision } = expectRouted(res);
    expect(decision.reasons.some((r) => r.includes("share"))).toBe(false);
  });
});

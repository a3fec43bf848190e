/**
 * Fleet reconciliation by the Cron Trigger: with GITHUB_TOKEN and GITHUB_RUNNERS_OWNER set, the
 * scheduled handler lists the organization's self-hosted runners (every page) from the fake
 * GitHub and marks the fleet's machines online or offline; without them it does nothing.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { VAR_NAMES } from "../../worker/src/bindings.ts";
import main from "../../worker/src/index.ts";
import { reconcile, scheduled } from "../../worker/src/scheduled.ts";
import { deliver, ledger, randomRepository, randomSha, workflowJobPayload } from "./helpers.ts";
import { newJobId } from "./observability.ts";

/** Makes the fleet know a runner by name: a job ran and finished on it. */
async function ranOn(runnerName: string): Promise<void> {
  const repository = randomRepository();
  const sha = randomSha();
  const id = newJobId();
  for (const action of ["in_progress", "completed"] as const) {
    const job = workflowJobPayload({ repository, sha, action, id, runnerName, labels: ["self-hosted", "vps"] });
    expect((await deliver("workflow_job", job)).status).toBe(202);
  }
}

const machines = async () => (await ledger().fleetState()).machines;

/** Later than any event time the tests send. */
const CRON_TIME = Date.UTC(2030, 0, 1, 12, 0, 0);

describe("the Cron Trigger reconciles the fleet with GitHub's runners", () => {
  it("marks listed runners online or offline, across pages; unknown ones stay unknown", async () => {
    // acme-3 and acme-102 (page 2) are offline in the fake; acme-4 online.
    for (const name of ["acme-3", "acme-4", "acme-102"]) await ranOn(name);
    expect((await machines())["acme-3"]?.online).toBe(true);

    const controller = createScheduledController({ scheduledTime: CRON_TIME, cron: "* * * * *" });
    const ctx = createExecutionContext();
    await scheduled(controller, { ...env, [VAR_NAMES.runnersOwner]: "acme" }, ctx);
    await waitOnExecutionContext(ctx);

    const after = await machines();
    const at = new Date(CRON_TIME).toISOString();
    expect(after["acme-3"]).toMatchObject({ online: false, offlineSince: at });
    expect(after["acme-102"]).toMatchObject({ online: false, offlineSince: at });
    expect(after["acme-4"]).toMatchObject({ online: true, lastSeen: at, offlineSince: null });
    expect(after["acme-1"]).toBeUndefined();
  });

  it("reports what it did, and fails without changing anything when GitHub refuses", async () => {
    const owner = { ...env, [VAR_NAMES.runnersOwner]: "acme" };
    expect(await reconcile(owner, CRON_TIME)).toEqual({ kind: "reconciled", online: 80, offline: 40 });
    const before = await machines();
    const broken = await reconcile({ ...env, [VAR_NAMES.runnersOwner]: "broken" }, CRON_TIME + 60_000);
    expect(broken).toEqual({ kind: "failed", why: "runners API answered 500" });
    expect(await machines()).toEqual(before);
  });

  it("does nothing without GITHUB_RUNNERS_OWNER or GITHUB_TOKEN", async () => {
    await ranOn("acme-6");
    const before = await machines();
    expect(await reconcile(env, CRON_TIME)).toEqual({ kind: "disabled", why: "GITHUB_RUNNERS_OWNER not set" });
    expect(await reconcile({ ...env, [VAR_NAMES.runnersOwner]: "acme", GITHUB_TOKEN: undefined }, CRON_TIME)).toEqual({
      kind: "disabled",
      why: "GITHUB_TOKEN not set",
    });
    // The Worker's scheduled export, under the test bindings (no owner): a no-op.
    const ctx = createExecutionContext();
    await main.scheduled(createScheduledController({ scheduledTime: CRON_TIME }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await machines()).toEqual(before);
  });
});

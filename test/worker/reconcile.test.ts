/**
 * Fleet reconciliation by the Cron Trigger: with GITHUB_TOKEN and GITHUB_RUNNERS_OWNER set, the
 * scheduled handler lists the organization's self-hosted runners (every page) from the fake
 * GitHub and marks the machines the fleet knows online or offline; a runner GitHub lists idle
 * while the fleet holds a job on it has that job checked, and a lost `completed` is repaired.
 * Without the settings it does nothing.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { VAR_NAMES } from "../../worker/src/bindings.ts";
import main from "../../worker/src/index.ts";
import { reconcile, scheduled } from "../../worker/src/scheduled.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { call, deliver, randomRepository, randomSha, workflowJobPayload } from "./helpers.ts";
import { ledgerSql, newJobId } from "./observability.ts";

/** Makes the fleet know a runner by name: a job of `repository` is running on it. */
async function runningOn(runnerName: string, repository = randomRepository()): Promise<{ id: number; sha: string }> {
  const sha = randomSha();
  const id = newJobId();
  const job = workflowJobPayload({
    repository,
    sha,
    action: "in_progress",
    id,
    runnerName,
    labels: ["self-hosted", "vps"],
  });
  expect((await deliver("workflow_job", job)).status).toBe(202);
  return { id, sha };
}

interface MachineRow {
  name: string;
  runner_class: string | null;
  last_seen: number | null;
  offline_since: number | null;
}

async function machines(names: string[]): Promise<Record<string, MachineRow>> {
  const rows = await ledgerSql<MachineRow>(
    `SELECT * FROM machines WHERE name IN (${names.map(() => "?").join(", ")})`,
    ...names,
  );
  return Object.fromEntries(rows.map((row) => [row.name, row]));
}

/** Later than any event time the tests send. */
const CRON_TIME = Date.UTC(2030, 0, 1, 12, 0, 0);

async function runCron(bindings: typeof env, scheduledTime: number): Promise<void> {
  const ctx = createExecutionContext();
  await scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), bindings, ctx);
  await waitOnExecutionContext(ctx);
}

describe("the Cron Trigger reconciles the fleet with GitHub's runners", () => {
  it("marks the runners the fleet knows online or offline, across pages; others stay unknown", async () => {
    // acme-3 and acme-102 (page 2) are offline in the fake; acme-4 online.
    for (const name of ["acme-3", "acme-4", "acme-102"]) await runningOn(name);
    await runCron({ ...env, [VAR_NAMES.runnersOwner]: "acme" }, CRON_TIME);

    const after = await machines(["acme-1", "acme-3", "acme-4", "acme-102"]);
    expect(after["acme-3"]).toMatchObject({ offline_since: CRON_TIME });
    expect(after["acme-102"]).toMatchObject({ offline_since: CRON_TIME });
    expect(after["acme-4"]).toMatchObject({ last_seen: CRON_TIME, offline_since: null });
    // Listed by GitHub, but never running a job of the fleet's nor configured: nothing to know.
    expect(after["acme-1"]).toBeUndefined();
  });

  it("an ephemeral runner (a new name for every job) is forgotten when its job ends", async () => {
    const repository = randomRepository();
    const name = `ephemeral-${newJobId()}`;
    const { id, sha } = await runningOn(name, repository);
    expect(Object.keys(await machines([name]))).toEqual([name]);
    const done = workflowJobPayload({
      repository,
      sha,
      action: "completed",
      id,
      runnerName: name,
      labels: ["self-hosted", "vps"],
    });
    expect((await deliver("workflow_job", done)).status).toBe(202);
    expect(await machines([name])).toEqual({});
    const fleet = await call<{ classes: Record<string, { machines: { name: string }[] }> }>(
      `/fleet?repository=${repository}`,
    );
    expect(fleet.body.classes.vps?.machines.map((m) => m.name)).not.toContain(name);
  });

  it("a runner GitHub lists idle while the fleet holds a job on it: the job is checked and its lost completion applied", async () => {
    const repository = randomRepository();
    const { id, sha } = await runningOn("acme-4", repository);
    const job = workflowJobPayload({
      repository,
      sha,
      action: "completed",
      id,
      runnerName: "acme-4",
      labels: ["self-hosted", "vps"],
    });
    await fetch(`${FAKE_GITHUB_URL}/__jobs/${id}`, { method: "PUT", body: JSON.stringify(job.workflow_job) });
    const busy = async () =>
      (await ledgerSql<{ state: string }>("SELECT state FROM fleet_jobs WHERE job_id = ?", id))[0]?.state;
    expect(await busy()).toBe("busy");

    // Past the grace a fresh job gets (its events may still be on their way).
    await runCron({ ...env, [VAR_NAMES.runnersOwner]: "acme" }, Date.now() + 3 * 60_000);
    expect(await busy()).toBe("done");
    const lookups = await (await fetch(`${FAKE_GITHUB_URL}/__jobs/${id}/calls`)).json();
    expect(lookups).toEqual({ lookups: 1 });
    // Applied as the missing delivery would have been: the build's job completed, its slot free.
    const [row] = await ledgerSql<{ record: string }>(
      "SELECT b.record FROM commits c JOIN builds b ON b.build_id = c.build_id WHERE c.repository = ? AND c.sha = ?",
      repository.toLowerCase(),
      sha,
    );
    const record = JSON.parse(row?.record ?? "{}") as { jobs: Record<string, { status: string; conclusion: string }> };
    expect(record.jobs[String(id)]).toMatchObject({ status: "completed", conclusion: "success" });
  });

  it("reports what it did, and fails without changing anything when GitHub refuses", async () => {
    const owner = { ...env, [VAR_NAMES.runnersOwner]: "acme" };
    expect(await reconcile(owner, CRON_TIME)).toEqual({ kind: "reconciled", online: 80, offline: 40 });
    const before = await ledgerSql("SELECT * FROM machines ORDER BY name");
    const broken = await reconcile({ ...env, [VAR_NAMES.runnersOwner]: "broken" }, CRON_TIME + 60_000);
    expect(broken).toEqual({ kind: "failed", why: "runners API answered 500" });
    expect(await ledgerSql("SELECT * FROM machines ORDER BY name")).toEqual(before);
  });

  it("does nothing without GITHUB_RUNNERS_OWNER or GITHUB_TOKEN", async () => {
    await runningOn("acme-6");
    const before = await ledgerSql("SELECT * FROM machines ORDER BY name");
    expect(await reconcile(env, CRON_TIME)).toEqual({ kind: "disabled", why: "GITHUB_RUNNERS_OWNER not set" });
    expect(await reconcile({ ...env, [VAR_NAMES.runnersOwner]: "acme", GITHUB_TOKEN: undefined }, CRON_TIME)).toEqual({
      kind: "disabled",
      why: "GITHUB_TOKEN not set",
    });
    // The Worker's scheduled export, under the test bindings (no owner): no reconciliation.
    const ctx = createExecutionContext();
    await main.scheduled(createScheduledController({ scheduledTime: CRON_TIME }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await ledgerSql("SELECT * FROM machines ORDER BY name")).toEqual(before);
  });
});

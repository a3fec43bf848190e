/**
 * Stuck-queue rescue: a job still queued past its class's queue target, whose class is saturated
 * while a fallback has room, is cancelled and re-run through GitHub's API (the fake records the
 * calls), at most `failover.rescue.maxPerRun` times per run; GPU work is never rescued, and
 * without a token the router alerts instead.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { Ledger } from "../../worker/src/ledger.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import {
  deliver,
  expectRouted,
  ledger,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { githubTime, ledgerSql, newJobId, outbox, runAlarm, scrape, useManualAlarms } from "./observability.ts";

const VPS = ["self-hosted", "vps"];
const GPU = ["self-hosted", "ai-lab", "gpu"];

/** The calls the fake GitHub recorded for a run: "cancel" / "rerun", oldest first. */
async function calls(runId: number): Promise<string[]> {
  const res = await fetch(`${FAKE_GITHUB_URL}/__calls/${runId}`);
  const list = (await res.json()) as { method: string; path: string }[];
  return list.map((c) => {
    expect(c.method).toBe("POST");
    return c.path.split("/").at(-1) ?? "";
  });
}

/** Fills a class with jobs running on runners of its own (`count` of them), in a build of their own. */
async function fill(labels: string[], count: number): Promise<void> {
  const repository = randomRepository();
  const sha = randomSha();
  for (let i = 0; i < count; i++) {
    const job = workflowJobPayload({
      repository,
      sha,
      action: "in_progress",
      id: newJobId(),
      labels,
      runnerName: `busy-${labels.at(-1)}-${newJobId()}`,
    });
    expect((await deliver("workflow_job", job)).status).toBe(202);
  }
}

/** A job of `runId` queued 20 minutes ago (past the 600 s default target and the 900 s alert). */
async function stuckJob(fields: { repository: string; sha: string; runId: number; labels?: string[] }) {
  const id = newJobId();
  const queued = workflowJobPayload({ ...fields, action: "queued", id, labels: fields.labels ?? VPS });
  queued.workflow_job.created_at = githubTime(Date.now() - 20 * 60_000);
  expect((await deliver("workflow_job", queued)).status).toBe(202);
  return id;
}

/** GitHub's report that the run's attempt ended cancelled (after the router's cancel); 200 when it repeats one. */
async function runCancelled(repository: string, sha: string, runId: number, attempt: number, status = 202) {
  const run = workflowRunPayload({ repository, sha, action: "completed", id: runId, conclusion: "cancelled" });
  run.workflow_run.run_attempt = attempt;
  expect((await deliver("workflow_run", run)).status).toBe(status);
}

/** GitHub's report that a re-run started the run's next attempt. */
async function runRequested(repository: string, sha: string, runId: number, attempt: number) {
  const run = workflowRunPayload({ repository, sha, action: "requested", id: runId });
  run.workflow_run.run_attempt = attempt;
  expect((await deliver("workflow_run", run)).status).toBe(202);
}

async function rescueRow(runId: number) {
  return runInDurableObject(ledger(), (_instance, state) => {
    const rows = state.storage.sql
      .exec("SELECT attempts, last_action FROM rescues WHERE run_id = ?", runId)
      .toArray()
      .map((r) => ({ ...r }));
    return rows[0] ?? null;
  });
}

const stuckAlerts = async (buildId: string) => (await outbox(buildId)).filter((row) => row.kind === "queued_too_long");

beforeEach(async () => {
  await useManualAlarms();
  await ledgerSql("DELETE FROM outbox");
  await ledgerSql("DELETE FROM queue_watch");
});

describe("stuck-queue rescue", () => {
  it("a docker job stuck behind a saturated vps is cancelled, then re-run once the run ends cancelled, at most twice per run", async () => {
    await fill(VPS, 2);
    const before = await scrape();
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id, decision } = expectRouted(
      await deliver("push", pushPayload({ repository, sha, files: ["services/api/Dockerfile"] })),
    );
    expect(decision.requirement).toBe("docker");
    const runId = newJobId();

    // Attempt 1: stuck → cancel; nothing more until GitHub reports the run cancelled.
    await stuckJob({ repository, sha, runId });
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel"]);
    expect(await rescueRow(runId)).toEqual({ attempts: 1, last_action: "cancelled_for_rescue" });
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel"]);
    await runCancelled(repository, sha, runId, 1);
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel", "rerun"]);
    expect(await rescueRow(runId)).toEqual({ attempts: 1, last_action: "rerun" });
    await runAlarm();
    await runCancelled(repository, sha, runId, 1, 200); // the same event again changes nothing
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel", "rerun"]);

    // Attempt 2: the re-run's job is stuck again → a second rescue.
    await runRequested(repository, sha, runId, 2);
    await stuckJob({ repository, sha, runId });
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel", "rerun", "cancel"]);
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel", "rerun", "cancel"]);
    await runCancelled(repository, sha, runId, 2);
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel", "rerun", "cancel", "rerun"]);
    expect(await rescueRow(runId)).toEqual({ attempts: 2, last_action: "rerun" });

    // Attempt 3: the bound is reached → one alert saying so, no more calls; a second stuck job of
    // the same run alerts no more.
    await runRequested(repository, sha, runId, 3);
    await stuckJob({ repository, sha, runId });
    await runAlarm();
    await stuckJob({ repository, sha, runId });
    await runAlarm();
    await runAlarm();
    expect(await calls(runId)).toEqual(["cancel", "rerun", "cancel", "rerun"]);
    expect(await rescueRow(runId)).toEqual({ attempts: 2, last_action: "give_up" });
    const alerts = await stuckAlerts(build_id);
    expect(alerts).toHaveLength(1);
    const embed = JSON.parse(alerts[0]?.payload ?? "{}").embeds[0];
    expect(embed.title).toMatch(/queued for 20 minutes/);
    expect(embed.fields.at(-1)).toEqual({ name: "Rescue", value: expect.stringMatching(/2 of 2 rescues done/) });

    const after = await scrape();
    const count = (action: string) =>
      after.value("rescues", { runner: "vps", action }) - before.value("rescues", { runner: "vps", action });
    expect([count("rescue"), count("give_up"), count("alert")]).toEqual([2, 1, 0]);
  });

  it("a GPU job is never rescued: it waits for ai-lab and alerts as before", async () => {
    await fill(GPU, 1);
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id, decision } = expectRouted(
      await deliver("push", pushPayload({ repository, sha, files: ["kernels/x.cu"] })),
    );
    expect(decision.requirement).toBe("gpu");
    const runId = newJobId();
    await stuckJob({ repository, sha, runId, labels: GPU });
    await runAlarm();
    await runAlarm();
    expect(await calls(runId)).toEqual([]);
    expect(await rescueRow(runId)).toBeNull();
    const alerts = await stuckAlerts(build_id);
    expect(alerts).toHaveLength(1);
    expect(JSON.parse(alerts[0]?.payload ?? "{}").embeds[0].title).toMatch(/queued for 20 minutes/);
  });

  it("without GITHUB_TOKEN a stuck docker job alerts, saying why, and GitHub is not called", async () => {
    await fill(VPS, 2);
    const before = await scrape();
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(
      await deliver("push", pushPayload({ repository, sha, files: ["services/api/Dockerfile"] })),
    );
    const runId = newJobId();
    await stuckJob({ repository, sha, runId });
    const noToken = { ...env, GITHUB_TOKEN: undefined };
    await runInDurableObject(ledger(), (_instance, state) => new Ledger(state, noToken).alarm());
    expect(await calls(runId)).toEqual([]);
    expect(await rescueRow(runId)).toEqual({ attempts: 0, last_action: "alert" });
    const alerts = await stuckAlerts(build_id);
    expect(alerts).toHaveLength(1);
    const embed = JSON.parse(alerts[0]?.payload ?? "{}").embeds[0];
    expect(embed.fields.at(-1)).toEqual({ name: "Rescue", value: expect.stringMatching(/no token to cancel/) });
    const after = await scrape();
    expect(after.value("rescues", { runner: "vps", action: "alert" })).toBe(
      before.value("rescues", { runner: "vps", action: "alert" }) + 1,
    );
  });

  it("a job queued within its class's target is watched until the target, then alerts at the alert limit", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const id = newJobId();
    const queued = workflowJobPayload({ repository, sha, action: "queued", id, labels: VPS });
    const created = Date.now() - 60_000;
    queued.workflow_job.created_at = githubTime(created);
    await deliver("workflow_job", queued);
    const due = await runInDurableObject(ledger(), (_instance, state) =>
      state.storage.sql.exec<{ due_at: number }>("SELECT due_at FROM queue_watch WHERE job_id = ?", id).one(),
    );
    // vps's target (600 s) comes before alerts.queuedTooLongSeconds (900 s).
    expect(due.due_at).toBe(Math.floor(created / 1000) * 1000 + 600_000);
  });
});

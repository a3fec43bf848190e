/**
 * The simulator's `learned` decides as the real Worker's learned router does: a short generated
 * trace run through the simulator, then replayed through the bundled Worker under Miniflare step
 * by step as the simulation took them (`SimResult.timeline`): each commit as a signed push
 * webhook, each of its jobs as signed `workflow_job` deliveries (queued, in_progress, completed)
 * on the class the decision named, with the queue and run times the simulation gave it. The
 * Worker's fleet then holds what the simulated fleet held at every push, and its Ledger learns
 * the same samples in the same order as the simulator's learner, so every push's decision must
 * be the simulator's: runner, labels, requirement, rule and every reason (the history's "usually
 * … min … (p90 …, N runs)", the classes' costs and queues, the load's "has room"), and the
 * learned note's probability and exploration.
 *
 * One configuration for both sides: learning on for every repository, its settings the
 * simulator's `learner` settings (the price of the time past a queue target among them), and
 * each class's queue target its `sloQueueSeconds` (the simulator's learner prices the time past
 * its SLO, the Worker's the time past its `queueTargetSeconds`). Exploration stays on and is
 * deterministic on both sides: whether a commit explores, and the draws, come from the hash of
 * `repository@sha`, and the push carries the trace's sha.
 *
 * The trace is placed ahead of the wall clock: the Ledger keeps its fleet rows and queue watches
 * by the events' own times against its clock, and a trace in the past would have its jobs
 * expired or rescued by the alarm in the middle of the replay.
 */
import { sign } from "@octokit/webhooks-methods";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalWorker, startLocalWorker } from "../../scripts/local-worker.ts";
import type { JobRun, TimelineStep } from "../../scripts/simulate/engine.ts";
import { generateTrace } from "../../scripts/simulate/generate.ts";
import { simulate } from "../../scripts/simulate/run.ts";
import { classSettings, parseSettings } from "../../scripts/simulate/settings.ts";
import { parseTrace, type TraceCommit } from "../../scripts/simulate/trace.ts";
import { DEFAULT_RUNNERS, type Decision, parseRoutingConfig } from "../../worker/src/core/index.ts";
import { pushOfCommit } from "../support/webhooks.ts";

const SECRET = "simulate-learned-test-webhook-secret";

/** Half the commits may explore (the default is a tenth), so that a short trace has draws that win. */
const LEARNER = { exploreShare: 0.5, lightweightMinutes: 2, minRuns: 3, overTargetUsdPerMinute: 0.05 };
const WAIT_USD_PER_MINUTE = 0.01;
const SETTINGS = parseSettings({ waitUsdPerMinute: WAIT_USD_PER_MINUTE, learner: LEARNER });

/** The routing configuration both sides decide with (the Worker's ROUTING_CONFIG). */
const CONFIG_INPUT = {
  learning: { enabled: true, waitUsdPerMinute: WAIT_USD_PER_MINUTE, ...LEARNER },
  runners: Object.fromEntries(
    Object.values(DEFAULT_RUNNERS).map((r) => [
      r.id,
      { queueTargetSeconds: classSettings(SETTINGS, r.id, r.kind).sloQueueSeconds },
    ]),
  ),
};
const CONFIG = parseRoutingConfig(CONFIG_INPUT);

/** The first 80 pushes of eight generated days: six repositories, about 200 jobs. */
const TRACE: TraceCommit[] = parseTrace(generateTrace(CONFIG, { days: 8, seed: 3, start: "2100-01-04T00:00:00Z" }))
  .filter((c) => c.event === "push" && !c.truncated)
  .slice(0, 80);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A job's `workflow_job` event at one step, on the class it was placed on (labels: its placement's, else its decision's). */
function jobPayload(step: Exclude<TimelineStep, { kind: "commit" }>, labels: readonly string[]) {
  const { job } = step;
  const commit = TRACE[job.commit] as TraceCommit;
  const action = step.kind === "started" ? "in_progress" : step.kind;
  const running = step.kind !== "queued";
  return {
    action,
    repository: { full_name: commit.repository },
    workflow_job: {
      id: jobId(job),
      run_id: 1000 + job.commit,
      run_attempt: 1,
      head_sha: commit.sha,
      name: job.name,
      workflow_name: job.workflow,
      status: action,
      conclusion: step.kind === "completed" ? (job.failed ? "failure" : "success") : null,
      labels: [...labels],
      // An ephemeral runner: a new machine per job.
      runner_name: running ? `${job.runner}-${jobId(job)}` : null,
      runner_group_name: running ? "Default" : null,
      created_at: iso(job.queuedAt),
      started_at: running ? iso(job.startedAt) : null,
      completed_at: step.kind === "completed" ? iso(job.doneAt) : null,
    },
  };
}

const jobId = (job: JobRun) => 100_000 + job.commit * 1000 + job.index;

let worker: LocalWorker;
let deliveries = 0;

async function deliver(event: string, payload: unknown): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(`${worker.url}/webhook/github`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": `simulate-learned-${deliveries++}`,
      "x-hub-signature-256": await sign(SECRET, body),
    },
  });
}

beforeAll(async () => {
  worker = await startLocalWorker({
    bindings: { WEBHOOK_SECRET: SECRET, API_TOKEN: "t", ROUTING_CONFIG: JSON.stringify(CONFIG_INPUT) },
    onLog: () => {},
  });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
});

describe("the simulator's learned router against the real Worker", { timeout: 180_000 }, () => {
  it("decides every commit as the Worker's webhooks do, having learned the same jobs", async () => {
    expect(TRACE).toHaveLength(80);
    // The Worker's clock is the wall clock here, not the trace's: routed demand ends by events alone on both sides.
    const run = simulate(TRACE, CONFIG, SETTINGS, ["learned"], null, {
      timeline: true,
      routedTtlMs: Number.POSITIVE_INFINITY,
    });
    const result = run.results[0];
    const timeline = result?.timeline;
    if (result === undefined || timeline === undefined) throw new Error("the simulation kept no timeline");
    expect(result.jobs.filter((j) => j.failedPlacement)).toEqual([]);
    expect(timeline.filter((s) => s.kind === "completed")).toHaveLength(result.jobs.length);

    const decided: (Decision | null)[] = TRACE.map(() => null);
    for (const step of timeline) {
      if (step.kind === "commit") {
        const res = await deliver("push", pushOfCommit(TRACE[step.commit] as TraceCommit));
        expect(res.status).toBe(202);
        decided[step.commit] = ((await res.json()) as { decision: Decision }).decision;
        continue;
      }
      const decision = decided[step.job.commit];
      if (decision === null || decision === undefined)
        throw new Error(`job of commit ${step.job.commit} before its push`);
      // A job placed apart runs on its placement's labels (as the route action hands them out), any other on the build's.
      const placed = decision.placements?.find((p) => p.workflow === step.job.workflow && p.job === step.job.name);
      const labels = placed?.runs_on ?? decision.runs_on;
      const res = await deliver("workflow_job", jobPayload(step, labels));
      expect(res.status, `${step.kind} of ${step.job.name} (commit ${step.job.commit})`).toBe(202);
    }

    let fromHistory = 0;
    let explored = 0;
    const classes = new Set<string>();
    for (const [i, commit] of TRACE.entries()) {
      const simulated = result.commits[i];
      const decision = decided[i];
      if (simulated?.decision == null || decision == null) throw new Error(`commit ${i} was not decided on both sides`);
      const { learned, ...rest } = decision;
      const where = `commit ${i} (${commit.repository}: ${commit.files.join(", ")})`;
      expect(rest, where).toEqual(simulated.decision);
      expect(learned, where).toMatchObject({
        probability: simulated.probability,
        explored: simulated.explored,
        history: !decision.reasons.some((r) => r.includes("no history")),
      });
      if (learned?.history) fromHistory++;
      if (learned?.explored) explored++;
      classes.add(decision.runner);
    }
    // The comparison is worth something only when the history decided most commits.
    expect(fromHistory).toBeGreaterThanOrEqual(TRACE.length / 2);
    expect(decided.some((d) => d?.reasons.some((r) => /usually .* min on .* \(p90 .*, \d+ runs\)/.test(r)))).toBe(true);
    expect(classes.size).toBeGreaterThanOrEqual(3);
    // Exploration was exercised: commits whose seeded draws disagreed (a probability under 1), and
    // commits a draw moved off the greedy class, on both sides alike.
    expect(decided.filter((d) => (d?.learned?.probability ?? 1) < 1).length).toBeGreaterThanOrEqual(5);
    expect(explored).toBeGreaterThanOrEqual(1);
    // Jobs placed apart from their build's class, the same on both sides, and run where placed.
    const apart = decided.filter((d) => d?.placements?.some((p) => p.runner !== d.runner));
    expect(apart.length).toBeGreaterThanOrEqual(3);
    const placedJobs = result.jobs.filter((j) => {
      const d = decided[j.commit];
      return d?.placements?.some((p) => p.job === j.name && p.workflow === j.workflow && p.runner !== d.runner);
    });
    expect(placedJobs.length).toBeGreaterThanOrEqual(3);
    for (const j of placedJobs) {
      expect(j.runner).toBe(decided[j.commit]?.placements?.find((p) => p.job === j.name)?.runner);
    }
  });
});

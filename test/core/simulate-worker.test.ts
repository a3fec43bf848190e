/**
 * The simulator's `tree` decides as the real Worker does: a 30-commit trace replayed through the
 * bundled Worker under Miniflare as signed push webhooks (a push carries its files, so no GitHub
 * API is needed), each answer's decision against the simulator's for the same commit. The Worker
 * decides with its fleet's load; with no job running anywhere that step only adds "has room"
 * reasons, so everything else must be equal and the tree's reasons must come first.
 */
import { sign } from "@octokit/webhooks-methods";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalWorker, startLocalWorker } from "../../scripts/local-worker.ts";
import { generateTrace } from "../../scripts/simulate/generate.ts";
import { simulate } from "../../scripts/simulate/run.ts";
import { parseSettings } from "../../scripts/simulate/settings.ts";
import { parseTrace, type TraceCommit } from "../../scripts/simulate/trace.ts";
import { type Decision, parseRoutingConfig } from "../../worker/src/core/index.ts";
import { pushOfCommit } from "../support/webhooks.ts";

const SECRET = "simulate-test-webhook-secret";
const CONFIG = parseRoutingConfig({});

/** The first 30 pushes of a generated trace (GPU, docker, deploy, lightweight and default among them). */
const TRACE: TraceCommit[] = parseTrace(generateTrace(CONFIG, { days: 10, seed: 7 }))
  .filter((c) => c.event === "push" && !c.truncated)
  .slice(0, 30);

let worker: LocalWorker;

beforeAll(async () => {
  worker = await startLocalWorker({ bindings: { WEBHOOK_SECRET: SECRET, API_TOKEN: "t" }, onLog: () => {} });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
});

describe("the simulator's tree against the real Worker", { timeout: 90_000 }, () => {
  it("decides all 30 commits as the Worker's webhooks do", async () => {
    expect(TRACE).toHaveLength(30);
    const run = simulate(TRACE, CONFIG, parseSettings({}), ["tree"]);
    const simulated = run.results[0]?.commits.map((c) => c.decision) ?? [];
    const requirements = new Set<string>();
    for (const [i, commit] of TRACE.entries()) {
      const body = JSON.stringify(pushOfCommit(commit));
      const res = await fetch(`${worker.url}/webhook/github`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": `simulate-${i}`,
          "x-hub-signature-256": await sign(SECRET, body),
        },
      });
      expect(res.status).toBe(202);
      const { decision } = (await res.json()) as { decision: Decision };
      const tree = simulated[i];
      if (tree === null || tree === undefined) throw new Error(`no simulated decision for commit ${i}`);
      const { reasons, ...rest } = decision;
      const { reasons: treeReasons, ...treeRest } = tree;
      expect(rest, `commit ${i} (${commit.files.join(", ")})`).toEqual(treeRest);
      expect(reasons.slice(0, treeReasons.length)).toEqual(treeReasons);
      for (const extra of reasons.slice(treeReasons.length)) expect(extra).toMatch(/ has room \(0\/\d+ busy\)$/);
      requirements.add(decision.requirement);
    }
    expect(requirements.size).toBeGreaterThanOrEqual(4);
  });
});

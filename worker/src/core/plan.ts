import { type BuildRecord, buildId, newBuild, type WorkflowUpdate } from "./builds.ts";
import type { UpdateIntent } from "./events.ts";

/** What the Worker decided to do with a delivery; the Ledger applies it at most once. */
export type Plan =
  | { kind: "respond"; status: number; body: string }
  /**
   * A routed delivery: `build.decision` is the decision from what the change needs; the Ledger,
   * holding the fleet, applies load (chooseRunner) before saving it and answers `{build_id, decision}`.
   */
  | { kind: "create"; build: BuildRecord }
  | { kind: "update"; repository: string; sha: string; update: WorkflowUpdate; fallback: BuildRecord; at: string };

/** The plan for a workflow event: update the build of its commit, or start one without a decision. */
export function updatePlan(intent: UpdateIntent, delivery: string, at: string): Plan {
  const fallback = newBuild({
    build_id: buildId(intent.sha, delivery),
    repository: intent.repository,
    event: intent.event,
    ref: null,
    sha: intent.sha,
    delivery,
    decision: null,
    at,
  });
  return { kind: "update", repository: intent.repository, sha: intent.sha, update: intent.update, fallback, at };
}

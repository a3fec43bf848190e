import { type BuildRecord, buildId, newBuild, type WorkflowUpdate } from "./builds.ts";
import type { RouteIntent, UpdateIntent } from "./events.ts";
import type { InstallationEvent } from "./installations.ts";
import type { ChangeSet, RoutingInput } from "./types.ts";

/** A new build's fields before its decision is made. */
export type NewBuild = Omit<Parameters<typeof newBuild>[0], "decision">;

/** What the Worker decided to do with a delivery; the Ledger applies it at most once. */
export type Plan =
  | { kind: "respond"; status: number; body: string }
  /**
   * A routed delivery: the Ledger, holding the fleet, makes the decision (`route`) for `input`
   * in the transaction that records the build, and answers `{build_id, decision}`.
   */
  | { kind: "create"; input: RoutingInput; build: NewBuild }
  | { kind: "update"; repository: string; sha: string; update: WorkflowUpdate; fallback: BuildRecord; at: string }
  /** A GitHub App installation event: the installation's status and the repositories it serves. */
  | { kind: "installation"; installation: InstallationEvent };

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

/** The plan for a push, pull request or dispatch whose changed files are `changes`. */
export function routePlan(intent: RouteIntent, changes: ChangeSet, delivery: string, at: string): Plan {
  const input: RoutingInput = {
    repository: intent.repository,
    event: intent.event,
    ref: intent.ref,
    sha: intent.sha,
    changes,
    environment: intent.environment,
    ...(intent.defaultBranch === undefined ? {} : { defaultBranch: intent.defaultBranch }),
  };
  const build: NewBuild = {
    build_id: buildId(intent.sha, delivery),
    repository: intent.repository,
    event: intent.event,
    ref: intent.ref,
    sha: intent.sha,
    pull_request: intent.pullRequest,
    delivery,
    at,
    // A dispatch a dependency sent names its upstream build, which its record keeps.
    ...(intent.upstream === undefined ? {} : { upstream: intent.upstream }),
  };
  return { kind: "create", input, build };
}

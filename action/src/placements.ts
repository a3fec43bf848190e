import { JOB_NAME } from "../../worker/src/core/jobs.ts";
import type { JobPlacement } from "../../worker/src/core/types.ts";

/**
 * The learned router's per-job placements (`decision.placements`), as the action turns them into
 * outputs: `placements`, the JSON map job name → labels of the placements of the workflow the
 * action runs in, and `runs-on-<job>` = those labels for each of them whose name makes a valid
 * output name.
 *
 * A job with no placement keeps the decision's `runs-on`, and so does every job on the fallback:
 * a workflow writes `fromJSON(needs.route.outputs.placements)['e2e'] ||
 * fromJSON(needs.route.outputs.runs-on)`, which needs `placements` to be a JSON object whenever
 * the action sets outputs. A placement the action cannot read is left out, so that job runs on
 * `runs-on`: whatever goes wrong on the way, a job leaves the build's class only when the router
 * said so.
 */

export type { JobPlacement };

/** The output that carries this workflow's placements as a JSON map, `{"e2e":["self-hosted","kvm2"]}`. */
export const PLACEMENTS_OUTPUT = "placements";

/** The output one placed job's labels are set in. */
export const runsOnOutput = (job: string): string => `runs-on-${job}`;

/**
 * The most placements a decision carries: the router's MAX_PLACEMENTS. Written out rather than
 * imported, so that the bundle does not take in the learned router and everything it imports;
 * test/action/placements.test.ts holds the two equal.
 */
export const MAX_PLACEMENTS = 32;

/**
 * The longest workflow or job name a placement carries: the router keys what it learns by names
 * cut to this length (its MAX_NAME_IN_KEY, held equal the same way), so it never names a longer one.
 */
export const MAX_PLACEMENT_NAME = 100;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isName = (value: unknown): value is string =>
  typeof value === "string" && value !== "" && value.length <= MAX_PLACEMENT_NAME;

const isLabels = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" && v !== "");

/**
 * The placements of a decision, in the router's order: only entries with a workflow and a job
 * name, a runner and a non-empty list of labels, at most MAX_PLACEMENTS of them (as many as the
 * router places). Empty when the decision has none.
 */
export function readPlacements(value: unknown): JobPlacement[] {
  const placements: JobPlacement[] = [];
  if (!Array.isArray(value)) return placements;
  for (const entry of value) {
    if (placements.length === MAX_PLACEMENTS) break;
    if (!isObject(entry)) continue;
    const { workflow, job, runner, runs_on } = entry;
    if (!isName(workflow) || !isName(job) || typeof runner !== "string" || runner === "" || !isLabels(runs_on)) {
      continue;
    }
    placements.push({ workflow, job, runner, runs_on: [...runs_on] });
  }
  return placements;
}

/** The placements that concern the workflow the action runs in, and how many were left out. */
export interface WorkflowPlacements {
  /** The workflow's name as GITHUB_WORKFLOW gives it; null when it is not set. */
  workflow: string | null;
  /** Its placements, one per job (the first the router gave), in the router's order. */
  here: JobPlacement[];
  /** The placements left out: other workflows' (or every one, when the workflow is not known). */
  left: number;
}

/**
 * The placements of the workflow named `workflow` (GITHUB_WORKFLOW: the workflow's `name:`, or
 * its file's path when it has none, the same string the `workflow_job` webhook sends as
 * `workflow_name`, which the router learned the jobs under). The same commit can run several
 * workflows, each with a route job of its own: each takes its own placements only. The name is
 * compared as the router keeps it, cut to MAX_PLACEMENT_NAME characters.
 */
export function placementsFor(placements: readonly JobPlacement[], workflow: string | undefined): WorkflowPlacements {
  if (workflow === undefined || workflow === "") return { workflow: null, here: [], left: placements.length };
  const name = workflow.slice(0, MAX_PLACEMENT_NAME);
  const seen = new Set<string>();
  const here: JobPlacement[] = [];
  for (const placement of placements) {
    if (placement.workflow !== name || seen.has(placement.job)) continue;
    seen.add(placement.job);
    here.push(placement);
  }
  return { workflow, here, left: placements.filter((p) => p.workflow !== name).length };
}

/** Whether a placed job also gets a `runs-on-<job>` output: its name is one an output can have. */
export const hasRunsOnOutput = (job: string): boolean => JOB_NAME.test(job);

/**
 * The outputs for this workflow's placements: `runs-on-<job>` (compact JSON) for each whose name
 * is a valid output name, and the `placements` map of them all. With no placements, and on the
 * fallback (no decision), only `placements`, as `{}`.
 */
export function placementOutputs(here: readonly JobPlacement[]): [string, string][] {
  const map = Object.create(null) as Record<string, string[]>;
  const outputs: [string, string][] = [];
  for (const { job, runs_on } of here) {
    if (Object.hasOwn(map, job)) continue;
    map[job] = runs_on;
    if (hasRunsOnOutput(job)) outputs.push([runsOnOutput(job), JSON.stringify(runs_on)]);
  }
  return [...outputs, [PLACEMENTS_OUTPUT, JSON.stringify(map)]];
}

import { JOB_LIMITS, JOB_NAME } from "../../worker/src/core/jobs.ts";

/**
 * The per-job verdicts a decision carries (`decision.jobs`), as the action turns them into
 * outputs: `run-<job>` = `true` / `false` for each job, and `jobs`, the JSON map of them all.
 *
 * A job the action cannot read is left out, and a job left out has no `run-<job>` output, which
 * a workflow reads as "run" (`needs.route.outputs.run-docs != 'false'`): whatever goes wrong on
 * the way, a job is skipped only when the router said so.
 */

/** One declared job's verdict, as the router sends it. */
export interface JobRun {
  run: boolean;
  reasons: string[];
}

/** The output that carries every job's verdict as a JSON map, `{"docs":true,"api":false}`. */
export const JOBS_OUTPUT = "jobs";

/** The output one job's verdict is set in. */
export const runOutput = (job: string): string => `run-${job}`;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The verdicts of a decision's `jobs`, by job name, in the router's order: only names the router
 * could have declared (so that each makes a valid output name) with a boolean `run`, at most as
 * many as a policy may declare. Empty when the decision has no `jobs`.
 */
export function readJobs(value: unknown): Record<string, JobRun> {
  const jobs = Object.create(null) as Record<string, JobRun>;
  if (!isObject(value)) return jobs;
  let count = 0;
  for (const [name, verdict] of Object.entries(value)) {
    if (count === JOB_LIMITS.jobs) break;
    if (!JOB_NAME.test(name) || !isObject(verdict) || typeof verdict.run !== "boolean") continue;
    const reasons = Array.isArray(verdict.reasons) ? verdict.reasons.filter((r) => typeof r === "string") : [];
    jobs[name] = { run: verdict.run, reasons };
    count++;
  }
  return jobs;
}

/**
 * The outputs for a decision's verdicts: `run-<job>` for each job, and the `jobs` map. For a
 * decision without jobs, and on the fallback (no decision), only `jobs`, as `{}`.
 */
export function jobOutputs(jobs: Readonly<Record<string, JobRun>>): [string, string][] {
  const map = Object.create(null) as Record<string, boolean>;
  const outputs: [string, string][] = [];
  for (const [name, { run }] of Object.entries(jobs)) {
    map[name] = run;
    outputs.push([runOutput(name), String(run)]);
  }
  return [...outputs, [JOBS_OUTPUT, JSON.stringify(map)]];
}

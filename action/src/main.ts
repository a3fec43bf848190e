import { readFile } from "node:fs/promises";
import * as core from "@actions/core";
import type { RouteAnswer } from "./answer.ts";
import { askRouter, SCHEDULE } from "./client.ts";
import { DEFAULT_FALLBACK, parseFallback } from "./fallback.ts";
import { jobOutputs } from "./jobs.ts";
import { placementOutputs, placementsFor } from "./placements.ts";
import { DEFAULT_AUDIENCE, type RouteQuery, readQuery, routeUrl } from "./request.ts";
import { fallbackSummary, routedSummary } from "./summary.ts";

/** The action's inputs, as action.yml declares them. */
interface Inputs {
  url: string;
  token: string;
  audience: string;
  jobId: string;
  fallback: string;
}

/** Reads the inputs, masking the token before anything else can print it. */
function readInputs(): Inputs {
  const token = core.getInput("token");
  if (token !== "") core.setSecret(token);
  return {
    url: core.getInput("url"),
    token,
    audience: core.getInput("audience") || DEFAULT_AUDIENCE,
    jobId: core.getInput("job-id"),
    fallback: core.getInput("fallback") || DEFAULT_FALLBACK,
  };
}

/** The event payload at GITHUB_EVENT_PATH, or undefined when there is none or it is not JSON. */
async function readEvent(path: string | undefined): Promise<unknown> {
  if (path === undefined || path === "") return undefined;
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** A promise that rejects after `ms`, with a timer that never keeps the process alive on its own. */
function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms).unref(),
  );
}

type Credential = { ok: true; token: string } | { ok: false; problem: string };

/**
 * The bearer token for the router: the `token` input when given, else the job's OIDC token for
 * `audience` (`getIDToken` masks it). Without either, the reason says how to grant one.
 */
async function credential(inputs: Inputs): Promise<Credential> {
  if (inputs.token !== "") return { ok: true, token: inputs.token };
  if (!process.env.ACTIONS_ID_TOKEN_REQUEST_URL) {
    return { ok: false, problem: "no token: set `token` or grant `permissions: id-token: write`" };
  }
  try {
    const token = await Promise.race([
      core.getIDToken(inputs.audience),
      timeout(SCHEDULE.tokenTimeoutMs, "getting the OIDC token"),
    ]);
    return { ok: true, token };
  } catch (error) {
    return { ok: false, problem: `no OIDC token: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Sets every output from a decision, and writes the job summary. */
async function reportRouted(answer: RouteAnswer, query: RouteQuery, attempts: number): Promise<void> {
  const { decision } = answer;
  core.setOutput("runs-on", JSON.stringify(decision.runs_on));
  core.setOutput("runner", decision.runner);
  core.setOutput("requirement", decision.requirement);
  core.setOutput("build-id", answer.build_id ?? "");
  core.setOutput("routed", "true");
  for (const [name, value] of jobOutputs(decision.jobs)) core.setOutput(name, value);
  const placed = placementsFor(decision.placements, process.env.GITHUB_WORKFLOW);
  for (const [name, value] of placementOutputs(placed.here)) core.setOutput(name, value);
  const tried = attempts > 1 ? ` after ${attempts} attempts` : "";
  core.info(
    `routed to ${decision.runner}: runs-on ${JSON.stringify(decision.runs_on)} (${decision.requirement})${tried}`,
  );
  for (const reason of decision.reasons) core.info(`  ${reason}`);
  for (const [job, { run, reasons }] of Object.entries(decision.jobs)) {
    core.info(`job ${job}: ${run ? "run" : "skip"} (${reasons.join("; ")})`);
  }
  // Names are quoted as JSON: a job name is the workflow's text, and must not start a line of its own.
  for (const { job, runner, runs_on } of placed.here) {
    core.info(`placed ${JSON.stringify(job)} on ${runner}: runs-on ${JSON.stringify(runs_on)}`);
  }
  if (placed.left > 0) {
    const why = placed.workflow === null ? "GITHUB_WORKFLOW is not set" : "they are other workflows'";
    core.info(`${placed.left} placement(s) left out: ${why}`);
  }
  await writeSummary(routedSummary(answer, query, placed));
}

/** Warns once, naming the cause, sets the fallback outputs, and writes the job summary. */
async function reportFallback(cause: string, fallbackJson: string): Promise<void> {
  core.warning(`${cause}; running on the fallback ${fallbackJson}`);
  core.setOutput("runs-on", fallbackJson);
  core.setOutput("runner", "");
  core.setOutput("requirement", "");
  core.setOutput("build-id", "");
  core.setOutput("routed", "false");
  // No run-<job> output: a workflow reads a missing one as "run", so every job runs.
  for (const [name, value] of jobOutputs({})) core.setOutput(name, value);
  // `placements` is `{}`, never absent: `fromJSON(needs.route.outputs.placements)[job]` must parse.
  for (const [name, value] of placementOutputs([])) core.setOutput(name, value);
  await writeSummary(fallbackSummary(cause, fallbackJson));
}

/** Appends to the job summary; outside a runner (no GITHUB_STEP_SUMMARY) there is none to write. */
async function writeSummary(markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  try {
    await core.summary.addRaw(markdown, true).write();
  } catch (error) {
    core.warning(`could not write the job summary: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Where the route step ends: a decision for this commit, or the reason the build runs on the fallback. */
type Result =
  | { kind: "routed"; answer: RouteAnswer; query: RouteQuery; attempts: number }
  | { kind: "fallback"; cause: string };

/** Works out the commit and the credential and asks the router; any failure is a reason to fall back. */
async function route(inputs: Inputs): Promise<Result> {
  const read = readQuery(process.env, await readEvent(process.env.GITHUB_EVENT_PATH), inputs.jobId);
  if (!read.ok) return { kind: "fallback", cause: read.problem };
  for (const note of read.notes) core.warning(note);
  const url = routeUrl(inputs.url, read.query);
  if (!url.ok) return { kind: "fallback", cause: url.problem };
  const auth = await credential(inputs);
  if (!auth.ok) return { kind: "fallback", cause: auth.problem };
  const outcome = await askRouter(url.url, auth.token, SCHEDULE, {
    fetch,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => performance.now(),
  });
  if (outcome.kind === "routed") {
    return { kind: "routed", answer: outcome.answer, query: read.query, attempts: outcome.attempts };
  }
  const seconds = (outcome.elapsedMs / 1000).toFixed(1);
  const tried = outcome.attempts > 1 ? ` (${outcome.attempts} attempts in ${seconds} s)` : "";
  return { kind: "fallback", cause: `${outcome.cause}${tried}` };
}

/**
 * The route step. An invalid `fallback` input fails it (a broken workflow, found at once); from
 * then on nothing fails it: whatever goes wrong, the build gets the fallback and a warning.
 */
async function run(): Promise<void> {
  const inputs = readInputs();
  const fallback = parseFallback(inputs.fallback);
  if (!fallback.ok) {
    core.setFailed(fallback.problem);
    return;
  }
  let result: Result;
  try {
    result = await route(inputs);
  } catch (error) {
    result = { kind: "fallback", cause: `unexpected error: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (result.kind === "routed") await reportRouted(result.answer, result.query, result.attempts);
  else await reportFallback(result.cause, fallback.json);
}

/** Time left for output to drain before the process exits even if a hung request holds it open. */
const EXIT_GRACE_MS = 1_000;

try {
  await run();
} catch (error) {
  core.setFailed(error instanceof Error ? error.message : String(error));
}
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();

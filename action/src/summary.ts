import type { Pricing, RouteAnswer } from "./answer.ts";
import { type JobRun, runOutput } from "./jobs.ts";
import { hasRunsOnOutput, runsOnOutput, type WorkflowPlacements } from "./placements.ts";
import type { RouteQuery } from "./request.ts";

/** A dollar amount as people write it: no trailing zeros, up to six decimals ($0.008, $10). */
export function usd(amount: number): string {
  return `$${Number(amount.toFixed(6)).toString()}`;
}

/**
 * What running here saves against GitHub-hosted runners, from the prices the router sent. A
 * per-minute runner is compared per minute; a flat-priced one is stated as its monthly price
 * against GitHub's per-minute one (they do not compare without a month's minutes). A price the
 * router did not send is said to be unknown, never guessed.
 */
export function savingsLine(pricing: Pricing | null): string {
  if (pricing === null) return "unknown: the router sent no prices";
  const here = pricing.runner_per_minute_usd;
  const monthly = pricing.runner_monthly_usd;
  const hosted = pricing.github_hosted_per_minute_usd;
  if (here !== null && hosted !== null) return perMinuteComparison(here, hosted);
  if (here !== null) return `${usd(here)}/min here; the GitHub-hosted price is unknown`;
  if (monthly !== null && hosted !== null) {
    return `a flat ${usd(monthly)}/month here against ${usd(hosted)}/min on GitHub-hosted`;
  }
  if (monthly !== null) return `a flat ${usd(monthly)}/month here; the GitHub-hosted price is unknown`;
  if (hosted !== null) return `unknown: this runner's price is unknown (${usd(hosted)}/min on GitHub-hosted)`;
  return "unknown: the router knows neither price";
}

/** Two per-minute prices compared: saves, costs more, or the same. */
function perMinuteComparison(here: number, hosted: number): string {
  const prices = `${usd(here)}/min here against ${usd(hosted)}/min on GitHub-hosted`;
  const difference = Number((hosted - here).toFixed(6));
  if (difference > 0) return `saves ${usd(difference)}/min (${prices})`;
  if (difference < 0) return `costs ${usd(-difference)}/min more (${prices})`;
  return `the same price (${usd(here)}/min here and on GitHub-hosted)`;
}

/** Text as a Markdown code span, whatever backticks it holds. */
export function code(text: string): string {
  const longest = Math.max(0, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Where the decision came from: the webhook's record of the commit, or computed for this request. */
function provenance(answer: RouteAnswer): string {
  if (answer.recorded) {
    const build = answer.build_id === null ? "" : ` (build ${code(answer.build_id)})`;
    return `recorded from the webhook${build}`;
  }
  return "computed now (no webhook recorded this commit)";
}

/** The job summary of a routed build: the choice, why, what it saves, and where this workflow's jobs go. */
export function routedSummary(answer: RouteAnswer, query: RouteQuery, placed: WorkflowPlacements): string {
  const { decision } = answer;
  const lines = [
    `## Route: ${code(decision.runner)}`,
    "",
    `- **Runner:** ${code(decision.runner)}`,
    `- **Labels:** ${code(JSON.stringify(decision.runs_on))}`,
    `- **Requirement:** ${code(decision.requirement)}`,
    `- **Rule:** ${decision.rule === null ? "none (no rule matched)" : code(decision.rule)}`,
    `- **Decision:** ${provenance(answer)}`,
    `- **Commit:** ${code(`${query.repository}@${query.sha}`)}${query.ref === null ? "" : ` on ${code(query.ref)}`}`,
    `- **Against GitHub-hosted:** ${savingsLine(answer.pricing)}`,
  ];
  if (!decision.satisfiable) {
    lines.push(
      `- **Note:** the ${code(decision.mode)} mode cannot meet this requirement; the build may lack what it needs`,
    );
  }
  lines.push("", "### Reasons", "");
  if (decision.reasons.length === 0) lines.push("- (the router gave none)");
  for (const reason of decision.reasons) lines.push(`- ${code(reason)}`);
  lines.push(...jobLines(decision.jobs));
  lines.push(...placementLines(placed, decision.runs_on));
  return `${lines.join("\n")}\n`;
}

/** "1 placement" / "3 placements". */
const placementCount = (n: number) => `${n} placement${n === 1 ? "" : "s"}`;

/**
 * This workflow's per-job placements, one line a job: its class, its labels, and the output that
 * carries them; then how many were left out. Nothing when the decision places no job apart.
 */
function placementLines(placed: WorkflowPlacements, runsOn: readonly string[]): string[] {
  if (placed.here.length === 0 && placed.left === 0) return [];
  const lines = ["", "### Placements", ""];
  if (placed.workflow !== null && placed.here.length > 0) {
    lines.push(
      `The learned router places these jobs of the workflow ${code(placed.workflow)} on classes of their own; every job not listed runs on ${code(JSON.stringify(runsOn))} (\`runs-on\`).`,
      "",
    );
  }
  for (const { job, runner, runs_on } of placed.here) {
    const output = hasRunsOnOutput(job) ? `\`placements\`, ${code(runsOnOutput(job))}` : "`placements` only";
    lines.push(`- ${code(job)} → ${code(runner)}, ${code(JSON.stringify(runs_on))} (${output})`);
  }
  if (placed.workflow === null) {
    lines.push(`- ${placementCount(placed.left)} left out: GITHUB_WORKFLOW is not set, so this workflow is not known`);
  } else if (placed.left > 0) {
    lines.push(
      `- ${placementCount(placed.left)} of other workflows left out (each workflow's route job hands out its own)`,
    );
  }
  return lines;
}

/** The per-job verdicts, one line a job: run or skip, its output, and why; nothing when the decision has no jobs. */
function jobLines(jobs: Readonly<Record<string, JobRun>>): string[] {
  const entries = Object.entries(jobs);
  if (entries.length === 0) return [];
  const lines = entries.map(([job, { run, reasons }]) => {
    const why = reasons.length === 0 ? "" : `: ${reasons.map(code).join("; ")}`;
    return `- ${code(job)}: **${run ? "run" : "skip"}** (${code(`${runOutput(job)}=${run}`)})${why}`;
  });
  return ["", "### Jobs", "", ...lines];
}

/** The job summary of a build that runs on the fallback: that it fell back, and why. */
export function fallbackSummary(cause: string, fallbackJson: string): string {
  return [
    "## Route: fell back",
    "",
    `The router could not answer, so this build runs on the fallback ${code(fallbackJson)}.`,
    "",
    `- **Why:** ${code(cause)}`,
    "- **Jobs:** every job runs (no `run-<job>` output is set)",
    "- **Placements:** none, every job runs on the fallback (`placements` is `{}`)",
    "",
  ].join("\n");
}

import type { BuildRecord, BuildSummary } from "./builds.ts";
import { cutText, fitLines } from "./names.ts";
import type { Result } from "./result.ts";
import { MAX_ATTEMPTS, type NextStep, nextStep } from "./retry.ts";
import type { Decision, RoutingConfig } from "./types.ts";

/**
 * Check runs in GitHub App mode: every routed commit gets one check run showing the router's
 * decision, moved to `in_progress` when the build's first job starts and completed, with the
 * build's outcome and what it cost, when the build completes. It informs and never blocks a
 * merge: its conclusion is always `neutral`. The rules here are pure: what each state's output
 * says (rendered safely for GitHub's markdown, bounded), what to send next, what to do with
 * GitHub's answer, and how fast writes may go. The Ledger's check-run desk (check-run-desk.ts)
 * queues and sends them.
 */

/** The check run's name when `checkRun` is left out of the routing configuration. */
export const DEFAULT_CHECK_RUN_NAME = "ci-router";

/** A check run's name: 1 to 100 characters, none a control, format or line-separator character. */
export const CHECK_RUN_NAME = /^(?=.*[^\s])[^\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]{1,100}$/u;

/** `checkRun` as the routing configuration resolves it: the check run's name, or false for none. */
export type CheckRunConfig = { name: string } | false;

/** The check run a routed commit gets under `config`: its name, or null when `checkRun` is false. */
export function checkRunName(config: Pick<RoutingConfig, "checkRun">): string | null {
  const setting = config.checkRun;
  if (setting === false) return null;
  return setting?.name ?? DEFAULT_CHECK_RUN_NAME;
}

/** The states a check run goes through, in order; a state is never taken back. */
export const CHECK_RUN_STATES = ["queued", "in_progress", "completed"] as const;
export type CheckRunState = (typeof CHECK_RUN_STATES)[number];

/** Whether `state` comes after `than` (a later state replaces an earlier one still owed). */
const isLater = (state: CheckRunState, than: CheckRunState | null): boolean =>
  than === null || CHECK_RUN_STATES.indexOf(state) > CHECK_RUN_STATES.indexOf(than);

/** The calls a check run takes, as `ci_router_check_runs_total` labels them. */
export const CHECK_RUN_ACTIONS = ["create", "update", "complete"] as const;
export type CheckRunAction = (typeof CHECK_RUN_ACTIONS)[number];

/**
 * The call that brings GitHub from what it has to what is owed: the create first (always
 * `queued`), then one PATCH to the latest state owed (an `in_progress` still owed when the
 * build completed is never sent); null when nothing is owed.
 */
export function nextAction(row: {
  check_run_id: number | null;
  sent: CheckRunState | null;
  wanted: CheckRunState;
}): CheckRunAction | null {
  if (row.check_run_id === null) return "create";
  if (!isLater(row.wanted, row.sent)) return null;
  return row.wanted === "completed" ? "complete" : "update";
}

/** What a check run's call sends (`POST /repos/{o}/{r}/check-runs`, `PATCH …/check-runs/{id}`). */
export type CheckRunBody =
  | {
      name: string;
      head_sha: string;
      external_id: string;
      status: "queued";
      output: CheckRunOutput;
    }
  | { status: "in_progress"; output: CheckRunOutput }
  | { status: "completed"; conclusion: "neutral"; output: CheckRunOutput };

export interface CheckRunOutput {
  title: string;
  summary: string;
}

/** The state a check run is in once `action` was sent: GitHub's `status` in that call's body. */
export const STATE_AFTER = {
  create: "queued",
  update: "in_progress",
  complete: "completed",
} as const satisfies Record<CheckRunAction, CheckRunState>;

/** The body of `action` for a row: the create names the commit and the build; the others change the state. */
export function checkRunBody(
  action: CheckRunAction,
  row: { name: string; head_sha: string; build_id: string },
  output: CheckRunOutput,
): CheckRunBody {
  switch (action) {
    case "create":
      return { name: row.name, head_sha: row.head_sha, external_id: row.build_id, status: STATE_AFTER.create, output };
    case "update":
      return { status: STATE_AFTER.update, output };
    case "complete":
      return { status: STATE_AFTER.complete, conclusion: "neutral", output };
  }
}

// --- Rendering ------------------------------------------------------------------------------

/**
 * The longest summary sent: well below GitHub's 65,535 characters, so that what is kept per
 * check run stays small. Lines past it are left out, and the summary says how many.
 */
export const CHECK_RUN_SUMMARY_MAX = 16_000;
/** The longest title sent. */
export const CHECK_RUN_TITLE_MAX = 200;
/** The longest reason shown (a reason quotes a file name, which anyone pushing may choose). */
const REASON_MAX = 1_000;
/** The longest label, runner class or runner name shown. */
const NAME_MAX = 100;
/** Labels and runner names shown per line; more are counted. */
const LIST_MAX = 32;

/** Characters that would end a line, reorder text or hide in it: each shown as U+FFFD. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/gu;

/** Text from outside, one line, bounded. */
function plain(text: string, max: number): string {
  return cutText(text.replace(UNPRINTABLE, "\uFFFD"), max);
}

/**
 * Text from outside as a markdown code span: shown literally, so no name can add a link, an
 * image, a mention, HTML or a heading. The fence is one backtick longer than the longest run of
 * backticks inside (CommonMark's rule), padded with a space where the text starts or ends with
 * one; every line break or control character is U+FFFD, so the span cannot leave its line.
 */
export function codeSpan(text: string, max = NAME_MAX): string {
  const shown = plain(text, max);
  let longest = 0;
  for (const run of shown.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = "`".repeat(longest + 1);
  const pad = shown.startsWith("`") || shown.endsWith("`") || shown.trim() === "" ? " " : "";
  return `${fence}${pad}${shown}${pad}${fence}`;
}

/** Up to {@link LIST_MAX} names as code spans, the rest counted. */
function names(list: readonly string[]): string {
  const shown = list.slice(0, LIST_MAX).map((name) => codeSpan(name));
  const more = list.length - shown.length;
  return more > 0 ? `${shown.join(", ")} and ${more} more` : shown.join(", ");
}

/** Dollars: to the cent, or to a hundredth of a cent below one cent. */
export function usd(value: number): string {
  const fixed = value !== 0 && Math.abs(value) < 0.01 ? value.toFixed(4) : value.toFixed(2);
  return `$${fixed}`;
}

/** What a completed build came to, from its summary (core/builds.ts `buildSummary`). */
export type BuildFigures = Pick<BuildSummary, "minutes" | "cost_usd" | "hosted_usd">;

/** The decision's lines: runner class, `runs-on`, requirement, rule, mode and every reason. */
function decisionLines(decision: Decision | null): string[] {
  if (decision === null) return ["No decision was recorded for this build."];
  const lines = [
    `- Runner class: ${codeSpan(decision.runner)}`,
    `- runs-on: ${names(decision.runs_on)}`,
    `- Requirement: ${codeSpan(decision.requirement)}${
      decision.environment === null ? "" : ` (environment ${codeSpan(decision.environment)})`
    }`,
    `- Rule: ${decision.rule === null ? "none" : codeSpan(decision.rule)}`,
    `- Mode: ${codeSpan(decision.mode)}`,
  ];
  if (decision.arm !== null) lines.push(`- A/B arm: ${codeSpan(decision.arm)}`);
  const files = decision.files_known
    ? `${decision.files_count}${decision.truncated ? " (GitHub's list was cut short)" : ""}`
    : "unknown";
  lines.push(`- Changed files: ${files}`);
  if (!decision.satisfiable)
    lines.push("- **Not satisfiable**: the mode sends this build where its requirement is not met");
  lines.push("", "### Reasons", "");
  for (const reason of decision.reasons) lines.push(`- ${codeSpan(reason, REASON_MAX)}`);
  return lines;
}

/** The runners that took a build's jobs: machine names in the order the record holds the jobs, each once. */
function runnersOf(build: BuildRecord): string[] {
  const seen = new Set<string>();
  for (const job of Object.values(build.jobs ?? {})) {
    if (job.runner_name != null && job.runner_name !== "") seen.add(job.runner_name);
  }
  return [...seen];
}

function runnerLines(build: BuildRecord): string[] {
  const machines = runnersOf(build);
  const classes = build.runners_used ?? [];
  return [
    `- Runners: ${machines.length === 0 ? "none named yet" : names(machines)}`,
    `- Runner classes: ${classes.length === 0 ? "none yet" : names(classes)}`,
  ];
}

const FOOTER =
  "This check shows where the router sent the build. It never blocks a merge: its conclusion is always neutral.";

/**
 * A check run's title and summary in `state`, from the build's record (and, completed, its
 * figures). Every name from outside (reasons quoting file names, runner names, labels) is a code
 * span; the summary is at most {@link CHECK_RUN_SUMMARY_MAX} characters, lines past it left out
 * and counted.
 */
export function checkRunOutput(build: BuildRecord, state: CheckRunState, figures?: BuildFigures): CheckRunOutput {
  const decision = build.decision;
  const routed = decision === null ? "no decision" : `${decision.runner} (${decision.requirement})`;
  let title: string;
  const lines: string[] = [];
  if (state === "queued") {
    title = `Routed to ${routed}`;
    lines.push(`The router sent this build to ${decision === null ? "no runner class" : codeSpan(decision.runner)}.`);
  } else if (state === "in_progress") {
    title = `Running on ${routed}`;
    lines.push("The build is running.", "", ...runnerLines(build));
  } else {
    const conclusion = build.conclusion ?? "neutral";
    title = `Finished ${conclusion} on ${routed}`;
    lines.push(`The build finished: ${codeSpan(conclusion)}.`, "", ...runnerLines(build));
    if (figures !== undefined) {
      lines.push(`- Billable minutes: ${figures.minutes}`, `- Cost at the configured prices: ${usd(figures.cost_usd)}`);
      if (figures.hosted_usd === null) lines.push("- On GitHub-hosted runners: no baseline price is configured");
      else {
        const saved = figures.hosted_usd - figures.cost_usd;
        const against = saved >= 0 ? `saved ${usd(saved)}` : `${usd(-saved)} more`;
        lines.push(`- On GitHub-hosted runners: ${usd(figures.hosted_usd)} (${against})`);
      }
    }
  }
  lines.push("", "### Decision", "", ...decisionLines(decision));
  return { title: plain(title, CHECK_RUN_TITLE_MAX), summary: bounded(lines, FOOTER) };
}

/** The lines joined, then `footer`; lines that would take the text past the bound are left out and counted. */
function bounded(lines: readonly string[], footer: string): string {
  const room = CHECK_RUN_SUMMARY_MAX - footer.length - 2;
  const left = (n: number) =>
    `\n… ${n} more line${n === 1 ? "" : "s"} left out: the summary is kept under ${CHECK_RUN_SUMMARY_MAX} characters.`;
  return `${fitLines(lines, room, left)}\n\n${footer}`;
}

// --- GitHub's answers -----------------------------------------------------------------------

/**
 * GitHub's answer to a check run's call: its status (a 403 or 429 that is a rate limit reads
 * as 429, with its wait), GitHub's message when it refused, and, for a create or a look-up, the
 * check run's id; an `upstream` failure when no answer came (timeout, network).
 */
export type CheckRunAnswer = Result<{
  status: number;
  retryAfterSeconds: number | null;
  message: string | null;
  id: number | null;
}>;

/** Tries per state of a check run (core/retry.ts's bound); past them the row fails. */
export const CHECK_RUN_MAX_ATTEMPTS = MAX_ATTEMPTS;

/** What follows an attempt: core/retry.ts's step, and, for a rate limit, until when the installation waits. */
export type CheckRunStep = NextStep & { pauseUntil?: number };

/**
 * What follows attempt number `attempts` of a check run's call at `now`: 2xx is sent; a rate
 * limit waits what GitHub asked (the row, and every check-run write of its installation, until
 * then); 5xx, timeouts and network errors back off (core/retry.ts); a 404 or 422 (the commit or
 * the check run is gone, or GitHub refused the body) and any other refusal fail at once; nothing
 * is tried more than {@link CHECK_RUN_MAX_ATTEMPTS} times.
 */
export function checkRunStep(answer: CheckRunAnswer, attempts: number, now: number): CheckRunStep {
  const step = nextStep(answer, attempts);
  const refused = answer.ok && answer.value.message !== null ? `: ${answer.value.message}` : "";
  if (step.kind === "failed") return { kind: "failed", why: scrubSecrets(`${step.why}${refused}`) };
  if (step.kind === "retry" && answer.ok && answer.value.status === 429) {
    return { ...step, why: scrubSecrets(`${step.why}${refused}`), pauseUntil: now + step.delayMs };
  }
  return step.kind === "retry" ? { ...step, why: scrubSecrets(step.why) } : step;
}

/**
 * Text kept or logged with anything that looks like a credential replaced: GitHub tokens
 * (`ghs_…`, `ghp_…`, `github_pat_…`), JWTs (`eyJ…`) and bearer values. A refusal's message is
 * GitHub's, but a proxy on the way may echo what it was sent.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(/\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]+/g, "[redacted]")
    .replace(/\beyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)*/g, "[redacted]")
    .replace(/\b(Bearer|token)\s+[^\s"',;]+/gi, "$1 [redacted]");
}

// --- Pacing ---------------------------------------------------------------------------------

/** Check-run calls sent per alarm run; more wait for the next run. */
export const CHECK_RUN_BATCH = 20;
/**
 * Check-run calls sent per minute, over all installations: half of GitHub's 80 content-creating
 * requests a minute, leaving the rest to the dispatches and commit statuses.
 */
export const CHECK_RUN_PER_MINUTE = 40;
export const PACING_WINDOW_MS = 60_000;

/**
 * When the next call may go, given the times of the calls sent in the last minute (oldest
 * first): `now` while fewer than `perMinute` went, else when the oldest of the last
 * `perMinute` leaves the window.
 */
export function nextSendAt(recent: readonly number[], now: number, perMinute = CHECK_RUN_PER_MINUTE): number {
  const inWindow = recent.filter((at) => at > now - PACING_WINDOW_MS);
  if (inWindow.length < perMinute) return now;
  return (inWindow[inWindow.length - perMinute] ?? now) + PACING_WINDOW_MS;
}

// --- Retention ------------------------------------------------------------------------------

/** A check run whose build completed (or that failed) is kept this long after its last change. */
export const CHECK_RUN_DONE_RETENTION_MS = 7 * 86_400_000;
/**
 * Any check run is kept at most this long: a build changes for at most 30 days (the longest a
 * job waits for approval, when the fleet lets it go).
 */
export const CHECK_RUN_MAX_RETENTION_MS = 31 * 86_400_000;

/** A full commit id (SHA-1 or SHA-256): the only kind a check run can be put on. */
export const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

/**
 * The simulator's trace: JSON Lines, one commit a line, and the routing input each commit gives.
 *
 * ```json
 * {"at":"2026-11-02T09:13:07Z","repository":"acme/api","event":"push","ref":"refs/heads/main",
 *  "files":["services/api/main.py"],"truncated":false,
 *  "jobs":[{"name":"build","minutes":{"vps":6.5,"kvm2":9.1,"github-hosted":14.2},"fails":false}]}
 * ```
 *
 * - `at`: when the commit was pushed (ISO 8601 with an offset).
 * - `event`: `push` or `pull_request`; `ref` the full ref (a pull request's head branch).
 * - `files`: what the commit touched (at most 3,000, GitHub's cap); `truncated`: GitHub cut the list.
 * - `jobs` (at most 256): `name`, optional `workflow` (default `CI`), `minutes`: the job's true run
 *   time on each runner class that can run it (a class that is not a key cannot: placing the job
 *   there is a failed placement), `fails`: the job fails wherever it runs.
 * - `sha` (optional, 7 to 64 hex digits): the commit; without it one is derived from the line's
 *   number, repository and time, so A/B arms and the learner's draws still reproduce.
 *
 * Lines are read in any order and sorted by `at` (ties keep the file's order).
 */
import {
  type ChangeSet,
  changesFromList,
  changesFromPush,
  fnv1a32,
  GITHUB_CAPS,
  isRepository,
  isSha,
  parseInstant,
  type RoutingInput,
} from "../../worker/src/core/index.ts";

export const TRACE_LIMITS = {
  files: GITHUB_CAPS.filesPerCommit,
  jobs: 256,
  /** GitHub stops a self-hosted job after 5 days. */
  minutes: 5 * 24 * 60,
  name: 256,
  path: 4096,
  ref: 1024,
  lines: 1_000_000,
} as const;

export const DEFAULT_WORKFLOW = "CI";

export interface TraceJob {
  name: string;
  workflow: string;
  /** True run minutes per runner class that can run the job. */
  minutes: Record<string, number>;
  fails: boolean;
}

export interface TraceCommit {
  at: string;
  /** `at` in milliseconds since the epoch. */
  atMs: number;
  repository: string;
  event: "push" | "pull_request";
  ref: string;
  sha: string;
  files: string[];
  truncated: boolean;
  jobs: TraceJob[];
  /** 1-based line of the trace it came from. */
  line: number;
}

/** A trace line that is not a commit, with its line number. */
export class TraceError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`trace line ${line}: ${message}`);
    this.name = "TraceError";
    this.line = line;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A 40-hex-digit commit id derived from what a line says, for traces without shas. */
export function derivedSha(line: number, repository: string, at: string): string {
  let out = "";
  for (let i = 0; out.length < 40; i++)
    out += fnv1a32(`${i}:${line}:${repository}:${at}`).toString(16).padStart(8, "0");
  return out.slice(0, 40);
}

function readJob(raw: unknown, where: string, fail: (m: string) => never): TraceJob {
  if (!isObject(raw)) fail(`${where} must be an object`);
  const known = new Set(["name", "workflow", "minutes", "fails"]);
  for (const key of Object.keys(raw)) if (!known.has(key)) fail(`${where}.${key} is not a job field`);
  const { name, workflow = DEFAULT_WORKFLOW, minutes, fails = false } = raw;
  if (typeof name !== "string" || name.length === 0 || name.length > TRACE_LIMITS.name) {
    fail(`${where}.name must be a string of 1 to ${TRACE_LIMITS.name} characters`);
  }
  if (typeof workflow !== "string" || workflow.length === 0 || workflow.length > TRACE_LIMITS.name) {
    fail(`${where}.workflow must be a string of 1 to ${TRACE_LIMITS.name} characters`);
  }
  if (typeof fails !== "boolean") fail(`${where}.fails must be true or false`);
  if (!isObject(minutes) || Object.keys(minutes).length === 0) {
    fail(`${where}.minutes must be an object naming at least one runner class`);
  }
  const out: Record<string, number> = Object.create(null);
  for (const [runner, value] of Object.entries(minutes)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > TRACE_LIMITS.minutes) {
      fail(`${where}.minutes.${runner} must be a number of minutes over 0 and at most ${TRACE_LIMITS.minutes}`);
    }
    out[runner] = value;
  }
  return { name, workflow, minutes: out, fails };
}

/** One line read as a commit; throws a TraceError naming the line and the field. */
export function readCommit(raw: unknown, line: number): TraceCommit {
  const fail = (message: string): never => {
    throw new TraceError(line, message);
  };
  if (!isObject(raw)) fail("must be a JSON object");
  const o = raw as Record<string, unknown>;
  const known = new Set(["at", "repository", "event", "ref", "sha", "files", "truncated", "jobs"]);
  for (const key of Object.keys(o)) if (!known.has(key)) fail(`"${key}" is not a trace field`);
  const { at, repository, event, ref, files, truncated = false, jobs, sha } = o;
  if (typeof at !== "string" || parseInstant(at) === null) fail(`at must be an ISO 8601 time with an offset`);
  if (typeof repository !== "string" || !isRepository(repository)) fail(`repository must be "owner/name"`);
  if (event !== "push" && event !== "pull_request") fail(`event must be "push" or "pull_request"`);
  if (typeof ref !== "string" || !ref.startsWith("refs/") || ref.length > TRACE_LIMITS.ref) {
    fail(`ref must be a full ref ("refs/…") of at most ${TRACE_LIMITS.ref} characters`);
  }
  if (sha !== undefined && (typeof sha !== "string" || !isSha(sha))) fail("sha must be 7 to 64 hex digits");
  if (!Array.isArray(files)) fail("files must be an array of paths");
  const paths = files as unknown[];
  if (paths.length > TRACE_LIMITS.files) fail(`files lists ${paths.length} paths, at most ${TRACE_LIMITS.files}`);
  paths.forEach((p, i) => {
    if (typeof p !== "string" || p.length === 0 || p.length > TRACE_LIMITS.path) {
      fail(`files[${i}] must be a path of 1 to ${TRACE_LIMITS.path} characters`);
    }
  });
  if (typeof truncated !== "boolean") fail("truncated must be true or false");
  if (!Array.isArray(jobs) || jobs.length === 0) fail("jobs must list at least one job");
  const list = jobs as unknown[];
  if (list.length > TRACE_LIMITS.jobs) fail(`jobs lists ${list.length} jobs, at most ${TRACE_LIMITS.jobs}`);
  const atText = at as string;
  const name = repository as string;
  return {
    at: atText,
    atMs: parseInstant(atText) as number,
    repository: name,
    event: event as TraceCommit["event"],
    ref: ref as string,
    sha: typeof sha === "string" ? sha.toLowerCase() : derivedSha(line, name, atText),
    files: paths as string[],
    truncated: truncated as boolean,
    jobs: list.map((j, i) => readJob(j, `jobs[${i}]`, fail)),
    line,
  };
}

/** Every commit of a JSON Lines trace, sorted by time; blank lines are skipped. */
export function parseTrace(text: string): TraceCommit[] {
  const commits: TraceCommit[] = [];
  const lines = text.split("\n");
  if (lines.length > TRACE_LIMITS.lines) throw new TraceError(TRACE_LIMITS.lines + 1, "the trace is too long");
  for (const [i, raw] of lines.entries()) {
    const textLine = raw.trim();
    if (textLine === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(textLine);
    } catch (error) {
      throw new TraceError(i + 1, `not JSON (${(error as Error).message})`);
    }
    commits.push(readCommit(value, i + 1));
  }
  if (commits.length === 0) throw new TraceError(1, "the trace holds no commit");
  return commits.sort((a, b) => a.atMs - b.atMs || a.line - b.line);
}

/** A commit as its trace line (fields in the documented order; `workflow` only when it is not the default). */
export function formatCommit(c: Omit<TraceCommit, "atMs" | "line">): string {
  return JSON.stringify({
    at: c.at,
    repository: c.repository,
    event: c.event,
    ref: c.ref,
    sha: c.sha,
    files: c.files,
    truncated: c.truncated,
    jobs: c.jobs.map((j) => ({
      name: j.name,
      ...(j.workflow === DEFAULT_WORKFLOW ? {} : { workflow: j.workflow }),
      minutes: j.minutes,
      fails: j.fails,
    })),
  });
}

/**
 * The files a commit's webhook gives the router: a push lists them in its commits (read as the
 * Worker reads them), a pull request through GitHub's files API (capped at 3,000).
 */
export function changesOf(commit: TraceCommit): ChangeSet {
  if (commit.truncated) {
    return {
      files: [...new Set(commit.files)],
      known: true,
      truncated: true,
      source: "trace",
      notes: ["the trace marks the file list truncated"],
    };
  }
  if (commit.event === "push") return changesFromPush([{ added: [], removed: [], modified: commit.files }]);
  return changesFromList(commit.files, GITHUB_CAPS.pullRequestFiles, "pull request files API");
}

/** What the router is asked for a commit: the same input a webhook gives `route()`. */
export function routingInput(commit: TraceCommit): RoutingInput {
  return {
    repository: commit.repository,
    event: commit.event,
    ref: commit.ref,
    sha: commit.sha,
    changes: changesOf(commit),
  };
}

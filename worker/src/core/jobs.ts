import { globProblem } from "./glob.ts";
import { GlobSet, pathView } from "./globset.ts";
import { cutText } from "./names.ts";
import type { Decision, JobFilter, JobVerdict, RoutingInput, RoutingPolicy } from "./types.ts";

/**
 * Per-job path filters: for each job a policy declares (`jobs` in the routing configuration),
 * whether a change touched its inputs, so that a workflow can skip the job's real work while the
 * job itself still runs and its required check reports.
 *
 * A filter reads as GitHub reads a workflow's `paths:`: a changed file counts for a job when the
 * last of its patterns that the file matches is a positive one (`!` patterns exclude). Skipping
 * is only ever decided from a complete list: when the files are unknown, GitHub truncated the
 * list, or the event lists none (`workflow_dispatch`), every job runs, and its reason says why.
 *
 * Cost per decision: one pass over the changed files, stopped once every job runs; each file is
 * looked up once in one glob set that holds every job's patterns (each job a group of it), so a
 * file is walked once whatever the number of jobs, and the verdicts take at most
 * files × jobs steps (64 jobs at most, each of at most 64 patterns under the glob cost bound).
 */

/** A job's name: it becomes the route action's output `run-<job>`. */
export const JOB_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** How many jobs a policy may declare, and how many patterns each job's filter may list. */
export const JOB_LIMITS = { jobs: 64, patterns: 64 } as const;

/** The most characters of a file or a pattern list a reason quotes, so that every reason stays short. */
export const MAX_REASON_TEXT = 160;

/** Starts a pattern that excludes what it matches. */
const EXCLUDE = "!";

/** Whether a pattern of a job's filter excludes what it matches (starts with `!`). */
export const isExclusion = (pattern: string): boolean => pattern.startsWith(EXCLUDE);

/**
 * The problem with one pattern of a job's filter, or null: the glob after any leading `!`, under
 * the glob cost bound. A sentence that follows the quoted pattern, as `globProblem`'s does.
 */
export function jobPatternProblem(pattern: string): string | null {
  if (!isExclusion(pattern)) return globProblem(pattern);
  const glob = pattern.slice(EXCLUDE.length);
  const problem = globProblem(glob);
  return problem === null ? null : `has, after its '${EXCLUDE}', a glob that ${problem}`;
}

/** What a pattern of the set stands for: the pattern as written, and whether a file it matches counts. */
interface JobPattern {
  written: string;
  includes: boolean;
}

/** A policy's jobs compiled for matching: names in order, each name's index its group in `globs`. */
interface CompiledJobs {
  names: string[];
  /**
   * Each job's patterns in reverse, so that the first pattern the set finds for a group is the
   * last one the file matches in the filter as written: the one GitHub's reading goes by.
   */
  globs: GlobSet<JobPattern>;
  /** Each job's patterns as a reason lists them, cut short. */
  shown: string[];
}

const compiled = new WeakMap<Record<string, JobFilter>, CompiledJobs>();

/** Compiles a policy's jobs once; repositories that inherit the same map share the compiled set. */
function compileJobs(jobs: Record<string, JobFilter>): CompiledJobs {
  const cached = compiled.get(jobs);
  if (cached) return cached;
  const names = Object.keys(jobs);
  const patterns = names.flatMap((name, group) =>
    [...(jobs[name]?.paths ?? [])].reverse().map((written) => {
      const includes = !isExclusion(written);
      return { pattern: includes ? written : written.slice(EXCLUDE.length), tag: { written, includes }, group };
    }),
  );
  const result: CompiledJobs = {
    names,
    globs: new GlobSet(patterns, names.length),
    shown: names.map((name) => clip((jobs[name]?.paths ?? []).join(", "))),
  };
  compiled.set(jobs, result);
  return result;
}

/** Text cut to {@link MAX_REASON_TEXT} characters, never in the middle of a character. */
const clip = (text: string): string => cutText(text, MAX_REASON_TEXT);

/** Why every job runs whatever its filter says, or null when the file list can tell. */
function runsEverything(input: RoutingInput): string | null {
  const { changes } = input;
  if (input.event === "workflow_dispatch") return "workflow_dispatch lists no changed files: runs";
  if (!changes.known) return "changed files unknown: runs";
  if (changes.truncated) return "file list truncated (more files changed than listed): runs";
  return null;
}

/**
 * The verdicts as a decision carries them. A plain object, not a null-prototype one: a decision
 * is stored as JSON and passed to and from the Ledger by structured clone, which refuses objects
 * without the usual prototype. `Object.fromEntries` makes every name an own data property (even
 * `__proto__`, which the configuration refuses anyway), and readers go by own keys.
 */
const verdictMap = (entries: [string, JobVerdict][]): Record<string, JobVerdict> => Object.fromEntries(entries);

/**
 * Per declared job, whether the change touched its inputs: `run` true with the first file that
 * counts and the pattern it matched, else false naming the job's patterns (see the module's
 * comment for when every job runs).
 */
export function jobVerdicts(input: RoutingInput, jobs: Record<string, JobFilter>): Record<string, JobVerdict> {
  const { names, globs, shown } = compileJobs(jobs);
  const everything = runsEverything(input);
  if (everything !== null) return verdictMap(names.map((name) => [name, { run: true, reasons: [everything] }]));
  const found: (JobVerdict | undefined)[] = new Array(names.length);
  let open = names.length;
  for (const path of input.changes.files) {
    if (open === 0) break;
    const hits = globs.firstMatches(pathView(path));
    for (let group = 0; group < names.length; group++) {
      const hit = hits[group];
      if (found[group] !== undefined || !hit?.tag.includes) continue;
      found[group] = { run: true, reasons: [`${clip(path)} matches ${clip(hit.tag.written)}`] };
      open--;
    }
  }
  return verdictMap(
    names.map((name, group): [string, JobVerdict] => [
      name,
      found[group] ?? { run: false, reasons: [`no changed file matches ${shown[group] ?? ""}`] },
    ]),
  );
}

/**
 * The decision with its policy's per-job verdicts (`jobs`), made where every decision is made
 * (`route()`); unchanged, with no `jobs` key, for a policy that declares none.
 */
export function withJobs(decision: Decision, input: RoutingInput, policy: RoutingPolicy): Decision {
  const { jobs } = policy;
  if (jobs === undefined || Object.keys(jobs).length === 0) return decision;
  return { ...decision, jobs: jobVerdicts(input, jobs) };
}

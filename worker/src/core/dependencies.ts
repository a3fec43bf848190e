/**
 * Cross-repository builds: which pushes of one repository start a workflow of another
 * (`dependencies` in the routing configuration), the checks on that graph, and the pure rules
 * the Ledger follows when it records, sends and follows a dispatch. No I/O, no clock: times
 * come in as arguments.
 */

import { compileGlob, type Glob, globProblem, matchGlob } from "./glob.ts";
import { GlobSet, pathView } from "./globset.ts";
import { isRepository, organisationOf } from "./names.ts";
import type { Result } from "./result.ts";
import { type NextStep, nextStep } from "./retry.ts";
import type { ChangeSet } from "./types.ts";

/** Every bound of the feature, in one place. */
export const DEPENDENCY_LIMITS = {
  /** Entries of `dependencies`. */
  dependencies: 64,
  /** Targets (`to`) of one entry. */
  targets: 16,
  /** Ref patterns (`refs`) of one entry. */
  refs: 16,
  /** Path patterns (`paths`) of one entry. */
  paths: 64,
  /** `debounceSeconds`: at most an hour, so a dispatch is never held longer. */
  debounceSeconds: 3600,
  /** `dependencyDepth`: 1 to 5 hops from the push that started a chain. */
  minDepth: 1,
  maxDepth: 5,
  /** Downstream links a build record keeps (and GET /builds/<id>/graph lists). */
  downstream: 16,
} as const;

/** Pushes within this many seconds of the first collapse into one dispatch, unless an entry says otherwise. */
export const DEFAULT_DEBOUNCE_SECONDS = 60;
/** How many hops a chain of dispatches may take, unless `dependencyDepth` says otherwise. */
export const DEFAULT_DEPENDENCY_DEPTH = 3;

/**
 * The workflow a target names: a file name under `.github/workflows` (`ci.yml`, `build.yaml`;
 * no directory, as GitHub's dispatch API takes it), or GitHub's numeric workflow id.
 */
export const WORKFLOW = /^(?:[A-Za-z0-9_.-]{1,250}\.ya?ml|[1-9][0-9]{0,15})$/;

/** One workflow a dependency dispatches: in `repository`, the workflow `workflow`, on branch or tag `ref`. */
export interface DependencyTarget {
  repository: string;
  workflow: string;
  ref: string;
}

/** A resolved `dependencies` entry: pushes of `from` to `refs` touching `paths` dispatch each of `to`. */
export interface Dependency {
  /** Lower-cased `owner/name`. */
  from: string;
  /** Globs over full refs (`refs/heads/main`, `refs/heads/release/*`). */
  refs: string[];
  /** Globs over repository paths (`**` when the entry gives none). */
  paths: string[];
  debounceSeconds: number;
  to: DependencyTarget[];
}

/** The configuration's dependencies and how deep a chain of them may go. */
export interface DependencyGraph {
  dependencies: Dependency[];
  maxDepth: number;
}

/**
 * An entry as the schema let it through, names not yet checked; or what could be read of an
 * entry it refused (`from` null, a target null where they were wrong), to be checked all the
 * same, so that one run reports every problem.
 */
export interface DependencyInput {
  from: string | null;
  refs: string[];
  paths?: string[] | undefined;
  debounceSeconds?: number | undefined;
  to: ({ repository: string; workflow: string | number; ref: string } | null)[];
  /** Set for an entry the schema refused: checked, never resolved. */
  refused?: true;
}

/**
 * Whether `name` is a branch or tag name git and GitHub would take (git check-ref-format's
 * rules, less the full `refs/…` form: a dispatch names the ref as a branch or tag).
 */
function refNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 255) return "must be a branch or tag name of 1 to 255 characters";
  if (name.startsWith("refs/")) return 'must be a branch or tag name ("main", "v1.2"), not a full ref';
  // Control characters, space and what git refuses in a ref name.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(name)) return "must not hold spaces, control characters or ~ ^ : ? * [ \\";
  if (name.includes("..") || name.includes("@{") || name.includes("//")) return 'must not hold "..", "@{" or "//"';
  if (/^[/.-]|[/.]$|\.lock$|\/\./.test(name)) return "is not a valid branch or tag name";
  return null;
}

/**
 * Resolves and checks the entries that passed the schema (their index in the list as written
 * kept, so that problems name them): names, workflows, refs and paths (by the project's glob
 * engine, under its cost bound), self-loops and cycles across entries. Every problem is pushed
 * to `problems`; the graph holds the entries that had none.
 */
export function resolveDependencies(
  entries: readonly (readonly [number, DependencyInput])[],
  maxDepth: number,
  problems: string[],
): DependencyGraph {
  const dependencies: Dependency[] = [];
  const edges: Edge[] = [];
  for (const [i, input] of entries) {
    const at = `dependencies[${i}]`;
    const before = problems.length;
    const from = input.from?.toLowerCase() ?? null;
    if (input.from !== null && !isRepository(input.from)) {
      problems.push(`${at}.from: "${input.from}" must be "owner/name"`);
    }
    input.refs.forEach((ref, j) => {
      if (!ref.startsWith("refs/"))
        problems.push(`${at}.refs[${j}]: "${ref}" must be a full ref starting with "refs/"`);
      const problem = globProblem(ref);
      if (problem) problems.push(`${at}.refs[${j}]: "${ref}" ${problem}`);
    });
    (input.paths ?? []).forEach((pattern, j) => {
      const problem = globProblem(pattern);
      if (problem) problems.push(`${at}.paths[${j}]: "${pattern}" ${problem}`);
    });
    const to: DependencyTarget[] = [];
    input.to.forEach((target, k) => {
      if (target === null) return;
      const where = `${at}.to[${k}]`;
      const workflow = String(target.workflow);
      if (!isRepository(target.repository)) {
        problems.push(`${where}.repository: "${target.repository}" must be "owner/name"`);
      } else if (target.repository.toLowerCase() === from) {
        problems.push(`${where}.repository: "${target.repository}" is the entry's own "from": a self-loop`);
      } else if (from !== null && isRepository(from) && organisationOf(target.repository) !== organisationOf(from)) {
        // Each organisation's builds are in its own Ledger: the upstream's could send the
        // dispatch, but never see the run it starts, nor follow it with a commit status.
        problems.push(
          `${where}.repository: "${target.repository}" is of another organisation than "${input.from}": a dependency links repositories of one organisation`,
        );
      }
      if (!WORKFLOW.test(workflow)) {
        problems.push(
          `${where}.workflow: "${workflow}" must be a workflow file name ending in .yml or .yaml, or a numeric workflow id`,
        );
      }
      const refProblem = refNameProblem(target.ref);
      if (refProblem) problems.push(`${where}.ref: "${target.ref}" ${refProblem}`);
      to.push({ repository: target.repository.toLowerCase(), workflow, ref: target.ref });
      if (from !== null) edges.push({ from, to: target.repository.toLowerCase(), at: where });
    });
    if (problems.length > before || input.refused || from === null) continue;
    dependencies.push({
      from,
      refs: [...input.refs],
      paths: input.paths === undefined ? ["**"] : [...input.paths],
      debounceSeconds: input.debounceSeconds ?? DEFAULT_DEBOUNCE_SECONDS,
      to,
    });
  }
  problems.push(...cycleProblems(edges));
  return { dependencies, maxDepth };
}

interface Edge {
  from: string;
  to: string;
  /** Where the edge is written, for the problem that names it. */
  at: string;
}

/**
 * Every cycle among the entries' edges (self-loops are reported where they are written), each
 * once, named from where the walk entered it: `dependencies[1].to[0]: cycle acme/lib → acme/app
 * → acme/lib`. Iterative, so that no graph can exhaust the stack.
 */
function cycleProblems(edges: readonly Edge[]): string[] {
  const out = new Map<string, Edge[]>();
  for (const edge of edges) {
    if (edge.from === edge.to) continue;
    const list = out.get(edge.from) ?? [];
    list.push(edge);
    out.set(edge.from, list);
  }
  const state = new Map<string, "open" | "done">();
  const reported = new Set<string>();
  const problems: string[] = [];
  for (const start of out.keys()) {
    if (state.has(start)) continue;
    const path: string[] = [start];
    const next: number[] = [0];
    state.set(start, "open");
    while (path.length > 0) {
      const node = path[path.length - 1] as string;
      const list = out.get(node) ?? [];
      const i = next[next.length - 1] as number;
      if (i >= list.length) {
        state.set(node, "done");
        path.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = i + 1;
      const edge = list[i] as Edge;
      const seen = state.get(edge.to);
      if (seen === "open") {
        const cycle = path.slice(path.indexOf(edge.to));
        const key = [...cycle].sort().join("\n");
        if (!reported.has(key)) problems.push(`${edge.at}: cycle ${[...cycle, edge.to].join(" → ")}`);
        reported.add(key);
      } else if (seen === undefined) {
        state.set(edge.to, "open");
        path.push(edge.to);
        next.push(0);
      }
    }
  }
  return problems;
}

/** Each entry's globs, compiled once (the configuration's objects are not changed after parsing). */
/** A dependency's refs (a few, each tested) and its paths (one set, so that each file is looked up once). */
interface CompiledDependency {
  refs: Glob[];
  paths: GlobSet<null>;
}

const compiled = new WeakMap<Dependency, CompiledDependency>();

function globsOf(dependency: Dependency): CompiledDependency {
  let globs = compiled.get(dependency);
  if (globs === undefined) {
    globs = {
      refs: dependency.refs.map(compileGlob),
      paths: new GlobSet(dependency.paths.map((pattern) => ({ pattern, tag: null }))),
    };
    compiled.set(dependency, globs);
  }
  return globs;
}

/** A change of an upstream repository that may start its dependents: a push, or a dispatched run. */
export interface UpstreamChange {
  repository: string;
  /** The full refs it may be read as (a dispatched run names a branch or tag without saying which). */
  refs: readonly string[];
  changes: ChangeSet;
}

/** A target to dispatch, with the debounce of the entry that named it. */
export interface DueTarget {
  target: DependencyTarget;
  debounceSeconds: number;
}

/**
 * The targets a change starts: every entry from its repository whose refs match one of its refs
 * and whose paths match one of its files. A file list that is unknown or was cut short counts
 * as matching: a dependent is built once too often rather than missed. A target several entries
 * name is dispatched once, with the shortest of their debounces.
 */
export function matchingTargets(graph: DependencyGraph | undefined, change: UpstreamChange): DueTarget[] {
  if (graph === undefined) return [];
  const repository = change.repository.toLowerCase();
  const found = new Map<string, DueTarget>();
  for (const dependency of graph.dependencies) {
    if (dependency.from !== repository) continue;
    const globs = globsOf(dependency);
    if (!change.refs.some((ref) => globs.refs.some((glob) => matchGlob(glob, ref)))) continue;
    const files = change.changes;
    const touched =
      !files.known || files.truncated || files.files.some((file) => globs.paths.firstMatch(pathView(file)) !== null);
    if (!touched) continue;
    for (const target of dependency.to) {
      const key = targetKey(target);
      const known = found.get(key);
      if (known === undefined || dependency.debounceSeconds < known.debounceSeconds) {
        found.set(key, { target, debounceSeconds: dependency.debounceSeconds });
      }
    }
  }
  return [...found.values()];
}

const targetKey = (t: DependencyTarget) => `${t.repository}\n${t.workflow}\n${t.ref}`;

/**
 * When a pending dispatch is due: the first push of its window plus the debounce. A later push
 * in the window replaces the commit the row dispatches, never its time, so a stream of pushes
 * cannot hold a dispatch back past one debounce.
 */
export function debounceDue(pending: { dueAt: number } | null, now: number, debounceSeconds: number): number {
  return pending?.dueAt ?? now + debounceSeconds * 1000;
}

/** Whether a build at `depth` (0 for a push, the dispatch's depth for a dispatched run) may dispatch further. */
export const mayDispatch = (depth: number, maxDepth: number): boolean => depth < maxDepth;

/** The inputs a downstream workflow must declare (all strings, as workflow_dispatch inputs are). */
export const DISPATCH_INPUTS = ["upstream_repository", "upstream_sha", "upstream_build", "depth"] as const;

/** What a dispatch tells its downstream workflow. */
export interface DispatchOrigin {
  upstreamRepository: string;
  upstreamSha: string;
  upstreamBuild: string;
  depth: number;
}

/** The body of `POST /repos/{o}/{r}/actions/workflows/{workflow}/dispatches`. */
export function dispatchBody(ref: string, origin: DispatchOrigin): { ref: string; inputs: Record<string, string> } {
  return {
    ref,
    inputs: {
      upstream_repository: origin.upstreamRepository,
      upstream_sha: origin.upstreamSha,
      upstream_build: origin.upstreamBuild,
      depth: String(origin.depth),
    },
  };
}

/**
 * The upstream a workflow_dispatch delivery names in its inputs, or null when it names none (a
 * dispatch by hand). `depth` must be a whole number 1..{@link DEPENDENCY_LIMITS.maxDepth}.
 */
export function upstreamOfInputs(inputs: Readonly<Record<string, unknown>> | null): DownstreamOrigin | null {
  if (inputs === null) return null;
  const text = (key: string, max: number) => {
    const value = Object.hasOwn(inputs, key) ? inputs[key] : undefined;
    return typeof value === "string" && value.length > 0 && value.length <= max ? value : null;
  };
  const repository = text("upstream_repository", 140);
  const sha = text("upstream_sha", 64);
  const build = text("upstream_build", 141);
  const depth = Number(text("depth", 2) ?? Number.NaN);
  if (repository === null || !isRepository(repository) || sha === null || build === null) return null;
  if (!Number.isInteger(depth) || depth < 1 || depth > DEPENDENCY_LIMITS.maxDepth) return null;
  return { repository: repository.toLowerCase(), sha: sha.toLowerCase(), build_id: build, depth };
}

/** What a downstream build's record says of the build that dispatched it. */
export interface DownstreamOrigin {
  repository: string;
  sha: string;
  build_id: string;
  /** Hops from the push that started the chain (1 for a push's own dependents). */
  depth: number;
}

/** A dispatch's state as GET /builds/<id>/graph and the build records show it. */
export const DISPATCH_STATES = ["pending", "dispatched", "running", "completed", "failed"] as const;
export type DispatchState = (typeof DISPATCH_STATES)[number];

/** What an upstream build's record says of one of its dispatches. */
export interface DownstreamLink {
  repository: string;
  workflow: string;
  state: DispatchState;
  build_id: string | null;
  run_id: number | null;
}

/** A commit status's state, as GitHub's statuses API takes it. */
export type CommitState = "pending" | "success" | "failure" | "error";

/** A dispatch's part in its downstream repository's commit status. */
export interface DispatchStanding {
  state: DispatchState;
  conclusion: string | null;
}

const FAILED_CONCLUSIONS = new Set(["failure", "timed_out", "startup_failure"]);
const PASSED_CONCLUSIONS = new Set(["success", "neutral", "skipped"]);

/** A finished run's conclusion as a commit status: passed, failed, or error for anything else (cancelled, stale). */
function stateOfConclusion(conclusion: string | null): CommitState {
  if (conclusion !== null && PASSED_CONCLUSIONS.has(conclusion)) return "success";
  if (conclusion !== null && FAILED_CONCLUSIONS.has(conclusion)) return "failure";
  return "error";
}

/**
 * The commit status of one downstream repository on the upstream commit, from its dispatches
 * for that commit: none while nothing was sent; `pending` while any is on its way; then the
 * worst of their ends (failure, then error, then success). A dispatch that failed is `error`.
 */
export function downstreamState(dispatches: readonly DispatchStanding[]): CommitState | null {
  if (dispatches.every((d) => d.state === "pending")) return null;
  if (dispatches.some((d) => d.state !== "completed" && d.state !== "failed")) return "pending";
  const ends = dispatches.map((d) => (d.state === "failed" ? "error" : stateOfConclusion(d.conclusion)));
  if (ends.includes("failure")) return "failure";
  if (ends.includes("error")) return "error";
  return "success";
}

/** The context of the commit status a downstream repository gets on its upstream's commits. */
export const statusContext = (downstream: string): string => `ci-router/downstream/${downstream.toLowerCase()}`;

/** GitHub takes a status description of at most 140 characters. */
export function statusDescription(workflow: string, state: CommitState): string {
  const words = { pending: "dispatched, running", success: "passed", failure: "failed", error: "did not finish" };
  const text = `${workflow}: ${words[state]}`;
  return text.length <= 140 ? text : `${text.slice(0, 139)}…`;
}

/**
 * Whether a workflow run is the one a dispatch started: its workflow's file (`path`'s last part)
 * or id is the one dispatched, on the ref dispatched, created after the dispatch was sent (less
 * {@link RUN_MATCH_SKEW_MS} for clocks) and within {@link RUN_MATCH_WINDOW_MS} of it.
 */
export function runMatchesDispatch(
  dispatch: { workflow: string; ref: string; dispatchedAt: number },
  run: { path: string | null; workflowId: number | null; headBranch: string | null; createdAt: number | null },
): boolean {
  const file = run.path === null ? null : run.path.slice(run.path.lastIndexOf("/") + 1);
  const sameWorkflow = /^\d+$/.test(dispatch.workflow)
    ? run.workflowId !== null && String(run.workflowId) === dispatch.workflow
    : file === dispatch.workflow;
  if (!sameWorkflow || (run.headBranch !== null && run.headBranch !== dispatch.ref)) return false;
  if (run.createdAt === null) return true;
  const after = run.createdAt - dispatch.dispatchedAt;
  return after >= -RUN_MATCH_SKEW_MS && after <= RUN_MATCH_WINDOW_MS;
}

/** Clock difference allowed between the Ledger and GitHub when a run is matched to its dispatch. */
export const RUN_MATCH_SKEW_MS = 60_000;
/** A run created later than this after a dispatch was sent is not its run. */
export const RUN_MATCH_WINDOW_MS = 60 * 60_000;

/** The full refs a dispatched run's branch or tag may be: a dispatch names it without saying which. */
export const refsOfName = (name: string): string[] => [`refs/heads/${name}`, `refs/tags/${name}`];

/**
 * GitHub's answer to a write the alarm retries (a dispatch, a commit status): its status, its
 * `Retry-After` and, when refused, GitHub's own message; an `upstream` failure when no answer
 * came (timeout, network).
 */
export type WriteResult = Result<{ status: number; retryAfterSeconds: number | null; message: string | null }>;

/**
 * What follows attempt number `attempts` of a write: core/retry.ts's rule (2xx sent; 429, 5xx,
 * timeouts and network errors retried with its backoff, at most MAX_ATTEMPTS tries; any other
 * status failed at once), a refusal recorded with GitHub's message (a 422: "Workflow does not
 * have 'workflow_dispatch' trigger", "Unexpected inputs provided").
 */
export function writeStep(result: WriteResult, attempts: number): NextStep {
  const step = nextStep(result, attempts);
  if (step.kind !== "failed" || !result.ok || result.value.message === null) return step;
  return { kind: "failed", why: `${result.value.status} ${result.value.message}` };
}

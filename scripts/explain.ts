/**
 * `npm run explain -- [options]`: which runner the router would pick for a change, and why.
 *
 * Runs the Worker's own code (its settings loader for the configuration, then policyFor,
 * changesFromList and route) on a change given as a git range or a list of files, so what it
 * prints is what the Worker decides for the same files, ref, event, commit and configuration.
 * The fleet's load, which the Worker also weighs, comes from a running router's GET /fleet
 * when `--url` names one; without it the load-aware step is left out, and the output says so.
 * For a repository whose policy learns, the learned history comes from the same router's
 * GET /learned; without it the learner decides as for a repository it has never seen.
 */
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { SECRET_NAMES, VAR_NAMES } from "../worker/src/bindings.ts";
import {
  type ClassLoad,
  changesFromList,
  createStats,
  type Decision,
  type Estimate,
  type FleetSnapshot,
  importStats,
  isRepository,
  isSha,
  type LearnedStats,
  type MachineLoad,
  MODES,
  type Mode,
  policyFor,
  type Roster,
  type RoutingConfig,
  type RoutingInput,
  route,
  type StatsDump,
} from "../worker/src/core/index.ts";
import { readRouting } from "../worker/src/settings.ts";
import { parseRouterUrl, routerEndpoint } from "./router-url.ts";

const execFileAsync = promisify(execFile);

const EVENTS = ["push", "pull_request", "workflow_dispatch"] as const;
const BUILT_IN = "built-in defaults";
/** What the output says when no fleet snapshot was taken. */
export const NO_SNAPSHOT =
  "no fleet snapshot: the load-aware step is left out (pass --url to take one from a running router)";
/** What the output says of a repository that learns when no learned history was read. */
export const NO_HISTORY =
  "no learned history: decided as the router decides for a repository it has no history of (pass --url, with --repository, to read the router's)";
/** What it says when the router at `--url` has no GET /learned (a router older than the learned router). */
export const NO_LEARNED_ROUTE = "the router at --url answers no GET /learned: decided without learned history";
/** How long GET /fleet or GET /learned may take before the command gives up. */
const FLEET_TIMEOUT_MS = 10_000;

export const USAGE = `Usage: npm run explain -- (--range A..B | --files a,b,c) [options]

Explains which runner the router picks for a change, with the Worker's own decision code.

The change (one of):
  --range A..B          files changed between two commits (git diff A B; A...B diffs from
                        their merge base); a renamed file counts under its old and new path
  --files a,b,c         an explicit, comma-separated list of repository paths (repeatable)

Options:
  --ref REF             full ref the change is on, e.g. refs/heads/main (default with --range:
                        the current branch, from git symbolic-ref HEAD; otherwise none)
  --sha SHA             the commit, whose hash picks the A/B arm of a class under an A/B
                        rollout (default with --range: B's commit; otherwise none, and such a
                        class keeps its control)
  --event EVENT         push | pull_request | workflow_dispatch (default: push)
  --environment NAME    the environment a workflow_dispatch names
  --mode MODE           hybrid | self-hosted-only | cloudflare-only (default: RUNNER_DISPATCH_MODE,
                        else the config's mode, else hybrid); a repository's own mode still wins
  --config FILE         routing config JSON, as ROUTING_CONFIG takes it, relative to --cwd
                        (default: $ROUTING_CONFIG when set, else the built-in defaults), e.g.
                        examples/routing.json in this project
  --repository O/NAME   the repository, to apply its overrides from the config (and to hash
                        its A/B arm as the Worker does, from owner/name@sha)
  --cwd DIR             run as if started in DIR: the git checkout --range reads and where
                        --config is found (default: where npm was run, from INIT_CWD)
  --url URL             a running router's base URL, e.g. http://127.0.0.1:8787 (plain http
                        only on 127.0.0.1, localhost or [::1]): takes a fleet snapshot from its
                        GET /fleet and applies the load-aware step the Worker applies (the
                        least-loaded machine, failover of a saturated or offline class).
                        Without it there is no fleet snapshot: the load-aware step is left
                        out, and the output says so. For a repository whose policy learns
                        (learning.enabled), also reads its learned history from GET /learned
                        and decides with it, as the router does; without it the learner
                        decides as for a repository it has no history of
  --token TOKEN         the router's API token, for --url (default: $API_TOKEN)
  --json                print the decision as JSON, and nothing else, on stdout; with
                        npm run -s explain -- … npm prints no banner of its own either
  -h, --help            show this help

Notes go to stderr. Exit codes: 0 decided, 2 bad usage, range, config or fleet snapshot.
`;

/** A problem with what the user asked for: reported on stderr, exit code 2. */
export class ExplainError extends Error {
  override name = "ExplainError";
}

export interface ExplainIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Where INIT_CWD, ROUTING_CONFIG, RUNNER_DISPATCH_MODE and API_TOKEN are read (default: process.env). */
  env?: Record<string, string | undefined>;
  /** The process's working directory (default: process.cwd()); INIT_CWD takes precedence. */
  cwd?: string;
}

/** Every option the command takes; `--help` lists each one. */
export const OPTIONS = {
  range: { type: "string" },
  files: { type: "string", multiple: true },
  ref: { type: "string" },
  sha: { type: "string" },
  event: { type: "string" },
  environment: { type: "string" },
  mode: { type: "string" },
  config: { type: "string" },
  repository: { type: "string" },
  cwd: { type: "string" },
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns its exit code. Never throws for a user's mistake. */
export async function explain(argv: readonly string[], io: ExplainIO): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    if (error instanceof ExplainError) {
      io.stderr.write(`explain: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

async function run(argv: readonly string[], io: ExplainIO): Promise<number> {
  const env = io.env ?? process.env;
  let values: ReturnType<typeof parse>;
  try {
    values = parse(argv);
  } catch (error) {
    throw new ExplainError(`${error instanceof Error ? error.message : String(error)}\nRun with --help for usage.`);
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }

  if ((values.range === undefined) === (values.files === undefined)) {
    throw new ExplainError(
      values.range === undefined
        ? "say which files changed: --range A..B or --files a,b,c\nRun with --help for usage."
        : "use either --range or --files, not both",
    );
  }
  const event = values.event ?? "push";
  if (!(EVENTS as readonly string[]).includes(event)) {
    throw new ExplainError(`--event must be one of ${EVENTS.join(", ")} (got "${event}")`);
  }
  const mode = readMode(values.mode, env);
  if (values.repository !== undefined && !isRepository(values.repository)) {
    throw new ExplainError(`--repository must be "owner/name" (got "${values.repository}")`);
  }
  if (values.ref !== undefined && !values.ref.startsWith("refs/")) {
    throw new ExplainError(`--ref must be a full ref starting with "refs/", e.g. refs/heads/${values.ref}`);
  }
  if (values.environment !== undefined && values.environment.length === 0) {
    throw new ExplainError("--environment must not be empty");
  }
  if (values.sha !== undefined && !isSha(values.sha)) {
    throw new ExplainError(`--sha must be a hex commit id (got "${values.sha}")`);
  }
  const router = values.url === undefined ? null : routerUrl(values.url);
  const token = values.token ?? nonEmpty(env[SECRET_NAMES.apiToken]);
  if (router !== null && token === undefined) {
    throw new ExplainError(`--url needs the router's API token: pass --token TOKEN or set ${SECRET_NAMES.apiToken}`);
  }

  const cwd = resolve(io.cwd ?? process.cwd(), nonEmpty(env.INIT_CWD) ?? ".", values.cwd ?? ".");
  if (!(await stat(cwd).catch(() => null))?.isDirectory()) throw new ExplainError(`no such directory: ${cwd}`);

  const { config, source: configSource } = await loadConfig(values.config, mode, cwd, env);

  let files: string[];
  let source: string;
  let ref = values.ref ?? null;
  let sha = values.sha?.toLowerCase() ?? null;
  if (values.range !== undefined) {
    files = await filesInRange(values.range, cwd);
    source = `git diff ${values.range}`;
    ref ??= await currentBranch(cwd);
    sha ??= await commitOf(rangeEnd(values.range), cwd);
  } else {
    files = (values.files ?? []).flatMap((list) => list.split(",")).map((file) => file.trim());
    files = files.filter((file) => file.length > 0);
    source = "--files";
  }

  const repository = values.repository ?? "";
  const policy = policyFor(config, repository);
  if (values.mode !== undefined && policy.mode !== values.mode) {
    io.stderr.write(
      `note: repository ${repository} sets its own mode "${policy.mode}", which wins over --mode ${values.mode}\n`,
    );
  }
  if (values.environment !== undefined && event !== "workflow_dispatch") {
    io.stderr.write("note: --environment only counts for --event workflow_dispatch\n");
  }
  if (values.token !== undefined && router === null) {
    io.stderr.write("note: --token only counts with --url\n");
  }
  if (repository === "" && sha !== null && Object.keys(policy.ab).length > 0) {
    io.stderr.write(
      "note: without --repository the A/B arm is hashed from an empty repository name; the Worker hashes owner/name@sha\n",
    );
  }
  const input: RoutingInput = {
    repository,
    event,
    ref,
    sha,
    changes: changesFromList(files, Number.POSITIVE_INFINITY, source),
    environment: values.environment ?? null,
  };

  let snapshot: FleetSnapshot = {};
  let fleet: FleetSource = { from: null, note: NO_SNAPSHOT };
  if (router !== null && token !== undefined) {
    const url = fleetUrl(router, values.repository ?? null);
    snapshot = await takeSnapshot(url, token);
    fleet = { from: url, note: null };
    const missing = Object.keys(policy.runners).filter((id) => snapshot[id] === undefined);
    if (missing.length > 0) {
      io.stderr.write(
        `note: the router's fleet has no class ${missing.join(", ")}; taken as free (does the router run another routing config?)\n`,
      );
    }
  }
  // A repository that learns is decided with its learned history: the router's, or none.
  let history: { stats: LearnedStats; source: Taken } | null = null;
  if (policy.learning?.enabled) {
    history = { stats: createStats(), source: { from: null, note: NO_HISTORY } };
    if (router !== null && token !== undefined && values.repository !== undefined) {
      const url = learnedUrl(router, values.repository);
      const dump = await takeHistory(url, token);
      history =
        dump === null
          ? { stats: createStats(), source: { from: null, note: NO_LEARNED_ROUTE } }
          : { stats: importStats(dump), source: { from: url, note: null } };
    }
  }

  // The core's own route, as the Worker calls it. Without a snapshot it gets an empty one: the
  // A/B step still applies (it needs only the commit) and every class is taken as it was
  // decided, with no machine picked and no failover, which is the load-aware step left out.
  const decision = route(input, policy, snapshot, { history: history?.stats ?? null });

  if (values.json) {
    const extra = history === null ? {} : { history: history.source };
    io.stdout.write(`${JSON.stringify({ ...decision, fleet, ...extra }, null, 2)}\n`);
  } else {
    const overridden = repository !== "" && config.repositories[repository.toLowerCase()] !== undefined;
    io.stdout.write(
      render(decision, {
        policy: overridden
          ? `repositories["${repository}"] from ${configSource}`
          : configSource === BUILT_IN
            ? BUILT_IN
            : `defaults from ${configSource}`,
        event: ref === null ? event : `${event} on ${ref}`,
        commit: sha,
        source,
        fleet: shown(fleet),
        history: history === null ? null : shown(history.source),
      }),
    );
  }
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

/** `--mode`, else `RUNNER_DISPATCH_MODE` as the Worker reads it, else whatever the config says. */
function readMode(option: string | undefined, env: Record<string, string | undefined>): Mode | undefined {
  const [text, name] = option !== undefined ? [option, "--mode"] : [nonEmpty(env[VAR_NAMES.mode]), VAR_NAMES.mode];
  if (text === undefined) return undefined;
  if (!(MODES as readonly string[]).includes(text)) {
    throw new ExplainError(`${name} must be one of ${MODES.join(", ")} (got "${text}")`);
  }
  return text as Mode;
}

/**
 * The routing config from `--config FILE` or `ROUTING_CONFIG`, with the mode applied the way
 * the Worker applies `RUNNER_DISPATCH_MODE`: as the top-level mode, under each repository's own.
 */
async function loadConfig(
  file: string | undefined,
  mode: Mode | undefined,
  cwd: string,
  env: Record<string, string | undefined>,
): Promise<{ config: RoutingConfig; source: string }> {
  let text: string | undefined;
  let source = BUILT_IN;
  if (file !== undefined) {
    source = file;
    try {
      text = await readFile(resolve(cwd, file), "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ExplainError(`--config ${file}: cannot read it (${code ?? String(error)})`);
    }
  } else if (nonEmpty(env[VAR_NAMES.routingConfig]) !== undefined) {
    source = VAR_NAMES.routingConfig;
    text = env[VAR_NAMES.routingConfig];
  }

  // Read the way the Worker reads its bindings, so the same text means the same config.
  const routing = readRouting({
    [VAR_NAMES.routingConfig]: text,
    ...(mode === undefined ? {} : { [VAR_NAMES.mode]: mode }),
  });
  if (routing.ok) return { config: routing.value, source };
  // The loader names the binding; say where the text came from instead. A problem with the
  // text as a whole ("is not valid JSON") reads as a sentence about it.
  const problems = routing.error.problems.map((p) => p.replace(/^ROUTING_CONFIG /, ""));
  const whole = problems.find((p) => /^(is|must) /.test(p));
  if (whole !== undefined) throw new ExplainError(`${source} ${whole}`);
  const n = problems.length;
  throw new ExplainError(
    `${source}: invalid routing config (${n} problem${n === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
  );
}

/** The two ends of `A..B` or `A...B` (an empty end is HEAD), and whether it diffs from the merge base. */
function parseRange(range: string): { from: string; to: string; mergeBase: boolean } {
  const bad = (why: string) => new ExplainError(`--range "${range}": ${why}; expected A..B, e.g. HEAD~1..HEAD`);
  const three = range.split("...");
  const parts = three.length === 2 ? three : range.split("..");
  if (parts.length !== 2) throw bad(three.length > 2 ? "more than one '...'" : "no '..' between two revisions");
  const [from = "", to = ""] = parts;
  if (from === "" && to === "") throw bad("no revisions");
  for (const rev of [from, to]) {
    if (rev.startsWith("-")) throw bad(`"${rev}" is not a revision`);
    if (/\s/.test(rev)) throw bad(`"${rev}" contains whitespace`);
  }
  return { from: from || "HEAD", to: to || "HEAD", mergeBase: three.length === 2 };
}

/** The revisions `git diff` compares for `A..B` (or `A...B`, from their merge base). */
export function rangeRevisions(range: string): string[] {
  const { from, to, mergeBase } = parseRange(range);
  return mergeBase ? [`${from}...${to}`] : [from, to];
}

/** The revision a range ends at, B of `A..B` or `A...B`: the commit a push of the range would be. */
export function rangeEnd(range: string): string {
  return parseRange(range).to;
}

/** The full id of the commit `revision` names, lower-case hex. */
async function commitOf(revision: string, cwd: string): Promise<string> {
  try {
    const args = ["rev-parse", "--verify", "--quiet", `${revision}^{commit}`];
    const { stdout } = await execFileAsync("git", args, { cwd, encoding: "utf8" });
    return stdout.trim().toLowerCase();
  } catch {
    throw new ExplainError(`--range: "${revision}" names no commit in ${cwd}`);
  }
}

/**
 * The paths `git diff` lists for the range. `--no-renames` lists a rename as the deletion of
 * its old path and the addition of its new one, so both count, as they do in a push payload.
 */
async function filesInRange(range: string, cwd: string): Promise<string[]> {
  const revisions = rangeRevisions(range);
  const args = ["diff", "--name-only", "-z", "--no-renames", "--no-relative", "--no-ext-diff", ...revisions, "--"];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync("git", args, { cwd, encoding: "utf8", maxBuffer: 512 * 1024 * 1024 }));
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const detail = e.code === "ENOENT" ? "git is not installed or not on PATH" : e.stderr?.trim() || e.message;
    throw new ExplainError(`--range ${range}: git diff failed in ${cwd}:\n${detail}`);
  }
  return stdout.split("\0").filter((path) => path.length > 0);
}

/** The full ref of the checked-out branch, or null on a detached HEAD. */
async function currentBranch(cwd: string): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync("git", ["symbolic-ref", "-q", "HEAD"], { cwd, encoding: "utf8" });
    const ref = stdout.trim();
    return ref.startsWith("refs/") ? ref : null;
  } catch {
    return null;
  }
}

/** Where something the decision weighed came from (`from`: the URL it was read at), or what was assumed without it. */
type Taken = { from: string; note: null } | { from: null; note: string };
/** Where the decision's fleet snapshot came from (`from`: the GET /fleet URL), or what was assumed without one. */
export type FleetSource = Taken;
/** Where a learning repository's history came from (`from`: the GET /learned URL), or why there was none. */
export type HistorySource = Taken;

/** A source as the output's line shows it: the request it was read with, or the note. */
const shown = (source: Taken) => (source.from === null ? source.note : `GET ${source.from}`);

/** The router's base URL from `--url` (scripts/router-url.ts says what is taken). */
function routerUrl(text: string): URL {
  const parsed = parseRouterUrl(text, "--url");
  if ("error" in parsed) throw new ExplainError(parsed.error);
  return parsed.url;
}

/** GET /fleet under `repository`'s policy (every configured class when null), as the Worker takes it for a decision. */
function fleetUrl(router: URL, repository: string | null): string {
  const url = routerEndpoint(router, "/fleet");
  if (repository !== null) url.searchParams.set("repository", repository);
  return url.href;
}

/** GET /learned for `repository`, as the router answers it for explain. */
function learnedUrl(router: URL, repository: string): string {
  const url = routerEndpoint(router, "/learned");
  url.searchParams.set("repository", repository);
  return url.href;
}

/** Takes the fleet snapshot from a running router's GET /fleet. */
async function takeSnapshot(url: string, token: string): Promise<FleetSnapshot> {
  const { status, body } = await routerGet(url, token, "a fleet snapshot");
  refuseError(url, status, body);
  return snapshotFromFleet(body);
}

/** Takes a repository's learned history from a running router's GET /learned; null when the router has no such route. */
async function takeHistory(url: string, token: string): Promise<StatsDump | null> {
  const { status, body } = await routerGet(url, token, "the learned history");
  if (status === 404 && field(field(body, "error"), "code") === "not_found") return null;
  refuseError(url, status, body);
  return historyFromLearned(body);
}

/** GET `url` from the router with its API token: the status and the JSON answer. */
async function routerGet(url: string, token: string, what: string): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      signal: AbortSignal.timeout(FLEET_TIMEOUT_MS),
      redirect: "error",
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new ExplainError(`--url: cannot take ${what} from ${url}: ${cause}`);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    throw new ExplainError(`--url: GET ${url} answered ${res.status} with no JSON: is it the router?`);
  }
}

/** Refuses an error answer, naming its code and message (and the token, for a 401). */
function refuseError(url: string, status: number, body: unknown): void {
  if (status < 200 || status > 299) {
    const error = field(body, "error");
    const code = typeof field(error, "code") === "string" ? ` ${field(error, "code")}` : "";
    const message = typeof field(error, "message") === "string" ? `: ${field(error, "message")}` : "";
    const hint = status === 401 ? `\npass the router's API token with --token or ${SECRET_NAMES.apiToken}` : "";
    throw new ExplainError(`--url: GET ${url} answered ${status}${code}${message}${hint}`);
  }
}

/** `value[key]` when `value` is an object, else undefined. */
function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/**
 * The core's FleetSnapshot from GET /fleet's answer (`{ classes: { <id>: load } }`, each machine
 * with the ids of its running jobs): the classes, each machine without its `jobs`, every field
 * the core reads checked for its type, so an answer of another shape is refused, not half-read.
 */
export function snapshotFromFleet(body: unknown): FleetSnapshot {
  const bad = (path: string, what: string) =>
    new ExplainError(`--url: GET /fleet answered an unexpected shape: ${path} ${what}`);
  const count = (value: unknown, path: string): number => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw bad(path, "is not a count");
    return value;
  };
  const flag = (value: unknown, path: string): boolean => {
    if (typeof value !== "boolean") throw bad(path, "is not true or false");
    return value;
  };
  const text = (value: unknown, path: string): string => {
    if (typeof value !== "string") throw bad(path, "is not a string");
    return value;
  };
  const classes = field(body, "classes");
  if (typeof classes !== "object" || classes === null || Array.isArray(classes)) throw bad("classes", "is missing");
  const snapshot: FleetSnapshot = {};
  for (const [id, load] of Object.entries(classes as Record<string, unknown>)) {
    const at = `classes.${id}`;
    const machines = field(load, "machines");
    if (!Array.isArray(machines)) throw bad(`${at}.machines`, "is not a list");
    const read: ClassLoad = {
      capacity: count(field(load, "capacity"), `${at}.capacity`),
      busy: count(field(load, "busy"), `${at}.busy`),
      free: count(field(load, "free"), `${at}.free`),
      queued: count(field(load, "queued"), `${at}.queued`),
      waiting: count(field(load, "waiting"), `${at}.waiting`),
      hasMachines: flag(field(load, "hasMachines"), `${at}.hasMachines`),
      saturated: flag(field(load, "saturated"), `${at}.saturated`),
      offline: flag(field(load, "offline"), `${at}.offline`),
      machines: machines.map((machine: unknown, i): MachineLoad => {
        const m = `${at}.machines[${i}]`;
        const lastSeen = field(machine, "lastSeen");
        const labels = field(machine, "labels");
        if (!Array.isArray(labels)) throw bad(`${m}.labels`, "is not a list");
        return {
          name: text(field(machine, "name"), `${m}.name`),
          capacity: count(field(machine, "capacity"), `${m}.capacity`),
          busy: count(field(machine, "busy"), `${m}.busy`),
          free: count(field(machine, "free"), `${m}.free`),
          online: flag(field(machine, "online"), `${m}.online`),
          lastSeen: lastSeen === null ? null : text(lastSeen, `${m}.lastSeen`),
          labels: labels.map((label: unknown, j) => text(label, `${m}.labels[${j}]`)),
        };
      }),
    };
    snapshot[id] = read;
  }
  return snapshot;
}

/**
 * The learner's rows from GET /learned's answer (`{repository, enabled, entries, rosters}`):
 * every field the learner reads checked for its type, so an answer of another shape is refused.
 */
export function historyFromLearned(body: unknown): StatsDump {
  const bad = (path: string, what: string) =>
    new ExplainError(`--url: GET /learned answered an unexpected shape: ${path} ${what}`);
  const number = (value: unknown, path: string): number => {
    if (typeof value !== "number" || !Number.isFinite(value)) throw bad(path, "is not a number");
    return value;
  };
  const numbers = (value: unknown, path: string): number[] => {
    if (!Array.isArray(value)) throw bad(path, "is not a list");
    return value.map((v: unknown, i) => number(v, `${path}[${i}]`));
  };
  const text = (value: unknown, path: string): string => {
    if (typeof value !== "string") throw bad(path, "is not a string");
    return value;
  };
  const rows = <T>(name: string, read: (value: unknown, path: string) => T): [string, T][] => {
    const list = field(body, name);
    if (!Array.isArray(list)) throw bad(name, "is not a list");
    return list.map((row: unknown, i): [string, T] => {
      const at = `${name}[${i}]`;
      if (!Array.isArray(row) || row.length !== 2) throw bad(at, "is not a [key, row] pair");
      return [text(row[0], `${at}[0]`), read(row[1], `${at}[1]`)];
    });
  };
  const entries = rows(
    "entries",
    (e, at): Estimate => ({
      n: number(field(e, "n"), `${at}.n`),
      ewma: number(field(e, "ewma"), `${at}.ewma`),
      run: numbers(field(e, "run"), `${at}.run`),
      queue: numbers(field(e, "queue"), `${at}.queue`),
      queueEwma: number(field(e, "queueEwma"), `${at}.queueEwma`),
      failEwma: number(field(e, "failEwma"), `${at}.failEwma`),
    }),
  );
  const rosters = rows("rosters", (r, at): Roster => {
    const jobs = field(r, "jobs");
    if (!Array.isArray(jobs)) throw bad(`${at}.jobs`, "is not a list");
    return {
      builds: number(field(r, "builds"), `${at}.builds`),
      jobCount: number(field(r, "jobCount"), `${at}.jobCount`),
      jobs: jobs.map((j: unknown, i) => ({
        workflow: text(field(j, "workflow"), `${at}.jobs[${i}].workflow`),
        job: text(field(j, "job"), `${at}.jobs[${i}].job`),
        seen: number(field(j, "seen"), `${at}.jobs[${i}].seen`),
      })),
    };
  });
  return { entries, rosters };
}

function render(
  decision: Decision,
  context: {
    policy: string;
    event: string;
    commit: string | null;
    source: string;
    fleet: string;
    /** Where a learning repository's history came from; null for a repository that does not learn. */
    history: string | null;
  },
): string {
  const yesNo = (value: boolean) => (value ? "yes" : "no");
  const rows: [string, string][] = [
    ["runner", decision.runner],
    ["runs_on", JSON.stringify(decision.runs_on)],
    ["requirement", decision.requirement],
    ["mode", decision.mode],
    ["rule", decision.rule ?? "(none)"],
    ["arm", decision.arm ?? "(no A/B rollout)"],
    ["environment", decision.environment ?? "(none)"],
    ["satisfiable", yesNo(decision.satisfiable)],
    ["truncated", yesNo(decision.truncated)],
    ["files known", yesNo(decision.files_known)],
    ["event", context.event],
    ["commit", context.commit ?? "(none)"],
    ["policy", context.policy],
    ["fleet", context.fleet],
    ...(context.history === null ? [] : [["history", context.history] as [string, string]]),
  ];
  const n = decision.files_count;
  return [
    ...rows.map(([key, value]) => `${`${key}:`.padEnd(13)}${value}`),
    "reasons:",
    ...decision.reasons.map((reason) => `  - ${reason}`),
    ...jobLines(decision),
    `${n} file${n === 1 ? "" : "s"} (${context.source})`,
    "",
  ].join("\n");
}

/** The per-job verdicts, one line a job (`  - docs: skip (no changed file matches docs/**)`); none when the policy declares no jobs. */
function jobLines(decision: Decision): string[] {
  if (decision.jobs === undefined) return [];
  const lines = Object.entries(decision.jobs).map(
    ([name, verdict]) => `  - ${name}: ${verdict.run ? "run" : "skip"} (${verdict.reasons.join("; ")})`,
  );
  return ["jobs:", ...lines];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await explain(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
}

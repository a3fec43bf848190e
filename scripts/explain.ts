/**
 * `npm run explain -- [options]`: which runner the router would pick for a change, and why.
 *
 * Runs the Worker's own code (its settings loader for the configuration, then policyFor,
 * changesFromList and route) on a change given as a git range or a list of files, so what it
 * prints is what the Worker decides for the same files, ref, event and configuration.
 */
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { VAR_NAMES } from "../worker/src/bindings.ts";
import {
  changesFromList,
  type Decision,
  isRepository,
  MODES,
  type Mode,
  policyFor,
  type RoutingConfig,
  type RoutingInput,
  route,
} from "../worker/src/core/index.ts";
import { readRouting } from "../worker/src/settings.ts";

const execFileAsync = promisify(execFile);

const EVENTS = ["push", "pull_request", "workflow_dispatch"] as const;
const BUILT_IN = "built-in defaults";

export const USAGE = `Usage: npm run explain -- (--range A..B | --files a,b,c) [options]

Explains which runner the router picks for a change, with the Worker's own decision code.

The change (one of):
  --range A..B          files changed between two commits (git diff A B; A...B diffs from
                        their merge base); a renamed file counts under its old and new path
  --files a,b,c         an explicit, comma-separated list of repository paths (repeatable)

Options:
  --ref REF             full ref the change is on, e.g. refs/heads/main (default with --range:
                        the current branch, from git symbolic-ref HEAD; otherwise none)
  --event EVENT         push | pull_request | workflow_dispatch (default: push)
  --environment NAME    the environment a workflow_dispatch names
  --mode MODE           hybrid | self-hosted-only | cloudflare-only (default: RUNNER_DISPATCH_MODE,
                        else the config's mode, else hybrid); a repository's own mode still wins
  --config FILE         routing config JSON, as ROUTING_CONFIG takes it (default: $ROUTING_CONFIG
                        when set, else the built-in defaults)
  --repository O/NAME   the repository, to apply its overrides from the config
  --cwd DIR             run as if started in DIR (default: where npm was run, from INIT_CWD)
  --json                print the decision as JSON
  -h, --help            show this help

Exit codes: 0 decided, 2 bad usage, range or config.
`;

/** A problem with what the user asked for: reported on stderr, exit code 2. */
export class ExplainError extends Error {
  override name = "ExplainError";
}

export interface ExplainIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Where INIT_CWD, ROUTING_CONFIG and RUNNER_DISPATCH_MODE are read (default: process.env). */
  env?: Record<string, string | undefined>;
  /** The process's working directory (default: process.cwd()); INIT_CWD takes precedence. */
  cwd?: string;
}

const OPTIONS = {
  range: { type: "string" },
  files: { type: "string", multiple: true },
  ref: { type: "string" },
  event: { type: "string" },
  environment: { type: "string" },
  mode: { type: "string" },
  config: { type: "string" },
  repository: { type: "string" },
  cwd: { type: "string" },
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

  const cwd = resolve(io.cwd ?? process.cwd(), nonEmpty(env.INIT_CWD) ?? ".", values.cwd ?? ".");
  if (!(await stat(cwd).catch(() => null))?.isDirectory()) throw new ExplainError(`no such directory: ${cwd}`);

  const { config, source: configSource } = await loadConfig(values.config, mode, cwd, env);

  let files: string[];
  let source: string;
  let ref = values.ref ?? null;
  if (values.range !== undefined) {
    files = await filesInRange(values.range, cwd);
    source = `git diff ${values.range}`;
    ref ??= await currentBranch(cwd);
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
  const input: RoutingInput = {
    repository,
    event,
    ref,
    sha: null,
    changes: changesFromList(files, Number.POSITIVE_INFINITY, source),
    environment: values.environment ?? null,
  };
  const decision = route(input, policy, null);

  if (values.json) {
    io.stdout.write(`${JSON.stringify(decision, null, 2)}\n`);
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
        source,
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

/** The revisions `git diff` compares for `A..B` (or `A...B`, from their merge base). */
export function rangeRevisions(range: string): string[] {
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
  return three.length === 2 ? [`${from || "HEAD"}...${to || "HEAD"}`] : [from || "HEAD", to || "HEAD"];
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

function render(decision: Decision, context: { policy: string; event: string; source: string }): string {
  const yesNo = (value: boolean) => (value ? "yes" : "no");
  const rows: [string, string][] = [
    ["runner", decision.runner],
    ["runs_on", JSON.stringify(decision.runs_on)],
    ["requirement", decision.requirement],
    ["mode", decision.mode],
    ["rule", decision.rule ?? "(none)"],
    ["environment", decision.environment ?? "(none)"],
    ["satisfiable", yesNo(decision.satisfiable)],
    ["truncated", yesNo(decision.truncated)],
    ["files known", yesNo(decision.files_known)],
    ["event", context.event],
    ["policy", context.policy],
  ];
  const n = decision.files_count;
  return [
    ...rows.map(([key, value]) => `${`${key}:`.padEnd(13)}${value}`),
    "reasons:",
    ...decision.reasons.map((reason) => `  - ${reason}`),
    `${n} file${n === 1 ? "" : "s"} (${context.source})`,
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await explain(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
}

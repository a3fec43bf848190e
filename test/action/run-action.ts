/**
 * Runs the route action's committed bundle as the Actions runner runs a `node24` action: a Node
 * 24 process on `action/index.js`, inputs as `INPUT_<NAME>` variables (upper-cased, hyphens
 * kept), outputs and the job summary in files named by GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/bundle.ts";
import { ACTION_BUNDLE_PATH } from "../../scripts/bundle-action.ts";

/** The Node the runner gives a `node24` action: this one when vitest runs on 24, else the project's own. */
export const NODE24 =
  process.versions.node.split(".")[0] === "24" ? process.execPath : join(ROOT, "node_modules/.bin/node");

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** GITHUB_OUTPUT, parsed. */
  outputs: Record<string, string>;
  /** GITHUB_OUTPUT as written. */
  outputFile: string;
  summary: string;
  /** Wall time of the process, in milliseconds. */
  elapsedMs: number;
}

export interface RunOptions {
  /** Inputs by their action.yml names (`job-id`, not `JOB_ID`). */
  inputs: Record<string, string>;
  /** The event payload written to GITHUB_EVENT_PATH. */
  event: unknown;
  /** GITHUB_* and ACTIONS_* variables. */
  env: Record<string, string>;
}

/**
 * Reads a GITHUB_OUTPUT file: each output as the runner reads it, `name<<DELIMITER`, the value's
 * lines, then `DELIMITER` (the format `@actions/core` writes); a `name=value` line too.
 */
export function parseGithubOutput(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line === "") continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc === null) {
      const eq = line.indexOf("=");
      if (eq <= 0) throw new Error(`GITHUB_OUTPUT line ${i + 1} is neither name=value nor name<<delimiter: ${line}`);
      outputs[line.slice(0, eq)] = line.slice(eq + 1);
      continue;
    }
    const [, name = "", delimiter = ""] = heredoc;
    const end = lines.indexOf(delimiter, i + 1);
    if (end === -1) throw new Error(`GITHUB_OUTPUT: ${name}'s delimiter ${delimiter} never closes`);
    outputs[name] = lines.slice(i + 1, end).join("\n");
    i = end;
  }
  return outputs;
}

/** The variable the runner passes an input in: `INPUT_` and the name upper-cased, spaces as `_`, hyphens kept. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, "_").toUpperCase()}`;
}

/** Runs the bundle once in a fresh temporary folder, with only the environment given (nothing from this process's). */
export async function runAction(options: RunOptions): Promise<ActionRun> {
  const dir = await mkdtemp(join(tmpdir(), "route-action-"));
  try {
    const outputPath = join(dir, "output");
    const summaryPath = join(dir, "summary.md");
    const eventPath = join(dir, "event.json");
    await Promise.all([
      writeFile(outputPath, ""),
      writeFile(summaryPath, ""),
      writeFile(eventPath, JSON.stringify(options.event)),
    ]);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      RUNNER_TEMP: dir,
      GITHUB_ACTIONS: "true",
      GITHUB_OUTPUT: outputPath,
      GITHUB_STEP_SUMMARY: summaryPath,
      GITHUB_EVENT_PATH: eventPath,
      ...options.env,
    };
    for (const [name, value] of Object.entries(options.inputs)) env[inputVariable(name)] = value;
    const started = performance.now();
    const { code, stdout, stderr } = await spawnNode(ACTION_BUNDLE_PATH, env, dir);
    const elapsedMs = performance.now() - started;
    const outputFile = await readFile(outputPath, "utf8");
    return {
      code,
      stdout,
      stderr,
      outputs: parseGithubOutput(outputFile),
      outputFile,
      summary: await readFile(summaryPath, "utf8"),
      elapsedMs,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `node script` to its end, collecting what it printed. */
function spawnNode(
  script: string,
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE24, [script], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The lines of `text` that show `secret`, other than the `::add-mask::` commands that tell the
 * runner to mask it (the runner consumes those; they never reach the log).
 */
export function linesShowing(text: string, secret: string): string[] {
  return text.split("\n").filter((line) => line.includes(secret) && !line.startsWith("::add-mask::"));
}

/**
 * `npm run simulate`: the routing policies compared on one trace of commits, by a discrete-event
 * simulation of the fleet (scripts/simulate/engine.ts) that decides with the router's own core
 * (`route()`, `learnedChoice()`).
 *
 *   npm run simulate -- [--trace FILE] [--config ROUTING.json] [--settings SIM.json]
 *                       [--json OUT.json] [--chart OUT.svg] [--publish URL [--token TOKEN]]
 *   npm run simulate -- --chart docs/simulate.svg        (the README's chart: the default trace)
 *   npm run simulate -- --generate FILE [--days 30] [--seed 7] [--builds 500] [--config ROUTING.json]
 *   npm run simulate -- --scenario burst [--seed 7]      (fair shares: a large repository's burst)
 *
 * Without `--trace` it runs on a generated trace (30 days, seed 7). It prints a table per policy
 * (cost, cost per build, p50/p95 queue, p95 time to green, failed placements, SLO violations,
 * regret against the oracle), the aims as met / NOT met, and the CPU and wall time of the run.
 * `--publish URL` sends the `--json` document to a router's `PUT /simulation`, for its dashboard.
 * Exit codes: 0; 1 when a router misplaced a job (put it on a class that cannot run it); 2 for
 * bad usage, or a trace, configuration or settings file that cannot be read; 3 when the router
 * refused or could not be reached for `--publish`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SECRET_NAMES } from "../worker/src/bindings.ts";
import { parseRoutingConfig, type RoutingConfig, RoutingConfigError } from "../worker/src/core/index.ts";
import { parseRouterUrl, routerEndpoint } from "./router-url.ts";
import { BURST_REPOSITORY, burstConfig, burstTrace } from "./simulate/burst.ts";
import { chartSvg } from "./simulate/chart.ts";
import { DEFAULT_GENERATE, generateTrace } from "./simulate/generate.ts";
import { FAIR_POLICY, POLICY_NAMES, type PolicyName } from "./simulate/policies.ts";
import { aimsText, details, fairnessText, jsonDocument, LEGEND, table } from "./simulate/report.ts";
import { simulate } from "./simulate/run.ts";
import { parseSettings, SettingsError, type SimSettings } from "./simulate/settings.ts";
import { parseTrace, type TraceCommit, TraceError } from "./simulate/trace.ts";

export const USAGE = `usage:
  npm run simulate -- [--trace FILE] [--config ROUTING.json] [--settings SIM.json] [--json OUT.json] [--chart OUT.svg]
                      [--publish URL [--token TOKEN]]
  npm run simulate -- --generate FILE [--days 30] [--seed 7] [--builds 500] [--config ROUTING.json]
  npm run simulate -- --scenario burst [--seed 7] [--config ROUTING.json] [--json OUT.json]

  --trace FILE        the commits, JSON Lines (without it: a generated trace, 30 days, seed 7)
  --config FILE       the routing configuration (default: the built-in defaults)
  --settings FILE     cold starts, warm pools, queue delays, wait price, SLOs, seed
  --json FILE         every policy's figures and the aims, as JSON
  --chart FILE        an SVG: cost against p95 queue per policy, and the learner's regret over time
  --publish URL       send the --json document to the router at URL (PUT /simulation), for its dashboard
  --token TOKEN       the router's API token, for --publish (default: $API_TOKEN)
  --scenario burst    instead of a trace: one repository's 40-job burst beside steady small ones on a
                      self-hosted-only pool (its own configuration unless --config), compared by tree,
                      tree+load and tree+load+fair (fair shares on), with each policy's fairness
  --generate FILE     write a generated trace and stop
  --days N, --seed N, --builds N   the generated trace's length, seed and builds per 30 days`;

export interface Io {
  stdout: { write: (text: string) => void };
  stderr: { write: (text: string) => void };
  /** Where relative paths are read from and written to (npm's INIT_CWD, else the working directory). */
  cwd: string;
  /** Where API_TOKEN is read (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** How long the router may take to take a published simulation. */
const PUBLISH_TIMEOUT_MS = 10_000;

const positive = (text: string | undefined, name: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return value;
};

class UsageError extends Error {}

function readConfig(path: string | undefined, cwd: string): RoutingConfig {
  if (path === undefined) return parseRoutingConfig({});
  return parseRoutingConfig(JSON.parse(readFileSync(resolve(cwd, path), "utf8")));
}

function readSettings(path: string | undefined, cwd: string): SimSettings {
  if (path === undefined) return parseSettings({});
  return parseSettings(JSON.parse(readFileSync(resolve(cwd, path), "utf8")));
}

/**
 * Sends the run's document to the router's `PUT /simulation`; answers the line to print, or
 * throws a PublishError with the router's own error code and message.
 */
async function publish(router: URL, token: string, document: string): Promise<string> {
  const url = routerEndpoint(router, "/simulation");
  let response: Response;
  try {
    response = await fetch(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: document,
      signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
    });
  } catch (error) {
    throw new PublishError(`--publish: PUT ${url.href} failed: ${(error as Error).message}`);
  }
  const body = (await response.json().catch(() => null)) as {
    published_at?: string;
    error?: { code?: string; message?: string };
  } | null;
  if (!response.ok) {
    const reason = body?.error ? `${body.error.code}: ${body.error.message}` : response.statusText;
    throw new PublishError(`--publish: PUT ${url.href} answered ${response.status} (${reason})`);
  }
  return `published to ${url.href} at ${body?.published_at ?? "an unstated time"}\n`;
}

class PublishError extends Error {}

/** The command; resolves to its exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        trace: { type: "string" },
        config: { type: "string" },
        settings: { type: "string" },
        json: { type: "string" },
        chart: { type: "string" },
        generate: { type: "string" },
        days: { type: "string" },
        seed: { type: "string" },
        builds: { type: "string" },
        publish: { type: "string" },
        token: { type: "string" },
        scenario: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const text = (key: string) => (typeof values[key] === "string" ? (values[key] as string) : undefined);
  try {
    const router = publishTarget(text("publish"), text("token"), io.env ?? process.env);
    const scenario = scenarioOf(text("scenario"), text("trace"), text("generate"));
    const config =
      scenario === "burst" && text("config") === undefined ? burstConfig() : readConfig(text("config"), io.cwd);
    const generation = {
      days: text("days") === undefined ? DEFAULT_GENERATE.days : positive(text("days"), "days"),
      seed: text("seed") === undefined ? DEFAULT_GENERATE.seed : positive(text("seed"), "seed"),
      buildsPerMonth:
        text("builds") === undefined ? DEFAULT_GENERATE.buildsPerMonth : positive(text("builds"), "builds"),
    };
    const generate = text("generate");
    if (generate !== undefined) {
      const trace = generateTrace(config, generation);
      writeFileSync(resolve(io.cwd, generate), trace);
      const commits = parseTrace(trace);
      io.stdout.write(
        `wrote ${generate}: ${commits.length} commits, ${commits.reduce((a, c) => a + c.jobs.length, 0)} jobs over ${generation.days} days (seed ${generation.seed})\n`,
      );
      return 0;
    }
    const settings = readSettings(text("settings"), io.cwd);
    const tracePath = text("trace");
    const trace: TraceCommit[] = parseTrace(
      scenario === "burst"
        ? burstTrace(generation.seed)
        : tracePath === undefined
          ? generateTrace(config, generation)
          : readFileSync(resolve(io.cwd, tracePath), "utf8"),
    );
    const source =
      scenario === "burst"
        ? `scenario burst, seed ${generation.seed}`
        : (tracePath ??
          `generated (${generation.days} days, seed ${generation.seed}, ${generation.buildsPerMonth} builds per 30 days)`);
    const jobs = trace.reduce((a, c) => a + c.jobs.length, 0);
    const first = trace[0] as TraceCommit;
    const last = trace.at(-1) as TraceCommit;
    io.stdout.write(
      `simulate: ${trace.length} commits, ${jobs} jobs, ${first.at} to ${last.at} (${source}); wait price $${settings.waitUsdPerMinute}/min; seed ${settings.seed}\n\n`,
    );
    const run =
      scenario === "burst"
        ? simulate(trace, config, settings, BURST_POLICIES, BURST_REPOSITORY)
        : simulate(trace, config, settings, POLICY_NAMES);
    io.stdout.write(
      `${table(run.figures)}\n\n${LEGEND}\n\n${details(run.figures)}\n\n${fairnessText(run.figures)}\n\naims:\n${aimsText(run.aims)}\n`,
    );
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000;
    const wallMs = performance.now() - wall;
    io.stdout.write(`\nCPU ${(cpuMs / 1000).toFixed(2)} s, wall ${(wallMs / 1000).toFixed(2)} s\n`);
    const document = jsonDocument({
      trace: { commits: trace.length, jobs, start: first.at, end: last.at, source },
      figures: run.figures,
      aims: run.aims,
      cpu_ms: Math.round(cpuMs),
      wall_ms: Math.round(wallMs),
    });
    const jsonPath = text("json");
    if (jsonPath !== undefined) writeFileSync(resolve(io.cwd, jsonPath), document);
    const chartPath = text("chart");
    if (chartPath !== undefined) {
      writeFileSync(
        resolve(io.cwd, chartPath),
        chartSvg(run.figures, `npm run simulate: ${trace.length} commits, ${jobs} jobs, ${source}`),
      );
    }
    if (router !== null) io.stdout.write(await publish(router.url, router.token, document));
    const placed = run.aims.find((a) => a.aim.startsWith("zero failed placements"));
    return placed?.met === false ? 1 : 0;
  } catch (error) {
    if (error instanceof PublishError) {
      io.stderr.write(`${error.message}\n`);
      return 3;
    }
    if (
      error instanceof UsageError ||
      error instanceof TraceError ||
      error instanceof SettingsError ||
      error instanceof RoutingConfigError ||
      error instanceof SyntaxError ||
      (error as NodeJS.ErrnoException).code === "ENOENT"
    ) {
      io.stderr.write(`${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

/** The scenarios `--scenario` runs instead of a trace. */
const SCENARIOS = ["burst"] as const;

/** The policies `--scenario burst` compares: the tree, with the load, and with fair shares too. */
const BURST_POLICIES: readonly PolicyName[] = ["tree", "tree+load", FAIR_POLICY];

/** The scenario asked for, checked against the options it replaces; undefined without `--scenario`. */
function scenarioOf(
  scenario: string | undefined,
  trace: string | undefined,
  generate: string | undefined,
): (typeof SCENARIOS)[number] | undefined {
  if (scenario === undefined) return undefined;
  if (!(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new UsageError(`--scenario must be one of: ${SCENARIOS.join(", ")}`);
  }
  if (trace !== undefined || generate !== undefined) {
    throw new UsageError("--scenario is a trace of its own: leave out --trace and --generate");
  }
  return scenario as (typeof SCENARIOS)[number];
}

/** The router `--publish` names and the token to send it, checked before the run; null without `--publish`. */
function publishTarget(
  url: string | undefined,
  token: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { url: URL; token: string } | null {
  if (url === undefined) {
    if (token !== undefined) throw new UsageError("--token only counts with --publish");
    return null;
  }
  const parsed = parseRouterUrl(url, "--publish");
  if ("error" in parsed) throw new UsageError(parsed.error);
  const key = token ?? env[SECRET_NAMES.apiToken];
  if (key === undefined || key === "") {
    throw new UsageError(`--publish needs the router's API token: pass --token TOKEN or set ${SECRET_NAMES.apiToken}`);
  }
  return { url: parsed.url, token: key };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.env.INIT_CWD ?? process.cwd(),
  });
}

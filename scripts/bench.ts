/**
 * `npm run bench [-- --only routing|paths|webhook|throughput|size]`: five sections, each against a
 * floor measured in the same run, each aim reported met or NOT met, and after the last section a
 * summary of every aim. The bench reports; it exits 0 whatever the figures, unless something fails.
 *
 * routing — how fast the router decides a large change, against the plain way.
 * 3,000 changed files against 200 rules (see bench-data.ts), chosen so the decision has to
 * look at everything. The router is `decide()` with its policy compiled once, as the Worker
 * keeps it; the baseline is every file against every precompiled picomatch matcher. Both must
 * reach the same answer before anything is timed. Figures are the median of 7 batches of ~1 s
 * each (router and baseline taking turns) after a warm-up. Aim: the router at least 20x faster.
 *
 * paths — deep paths against flat paths of the same bytes (runPathsBench below). Aim: deep within
 * 1.5x of flat.
 *
 * webhook — the Worker in workerd against a bare Worker in its own workerd that only checks the
 * HMAC-SHA256 and JSON.parses the same bytes, per kind of delivery (push, pull_request opened,
 * workflow_job queued and completed, workflow_run completed, a 1 MiB push): wall time a delivery,
 * and CPU time a delivery read from each workerd process (see bench-webhook.ts). Aims: the 1 MiB
 * push within 1.5x of the floor in wall and CPU time, every typical kind within 2x in CPU time.
 * Then the first delivery on a fresh isolate against the third, on new state and on the state a
 * router left: aim within 2 ms.
 *
 * throughput — signed deliveries per second through the local Worker, against a node:http peer
 * in this process that verifies and parses with @octokit/webhooks and records each delivery once
 * in a node:sqlite transaction (see bench-throughput.ts). Aim: the Worker at least as fast.
 *
 * size — the bundle's minified and gzipped size, by origin, against a 64 KiB aim (see bench-size.ts).
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseRoutingConfig } from "../worker/src/core/config.ts";
import { compilePolicy, decide } from "../worker/src/core/decide.ts";
import type { RoutingPolicy } from "../worker/src/core/types.ts";
import { type Aim, median, metOrNot, ms, summary } from "./bench-aims.ts";
import {
  baselineDecide,
  benchData,
  benchInput,
  compileBaseline,
  DEFAULT_SEED,
  disagreement,
  LAST_FILE,
  patternShape,
} from "./bench-data.ts";
import { runSizeBench } from "./bench-size.ts";
import { runThroughputBench } from "./bench-throughput.ts";
import { runWebhookBench } from "./bench-webhook.ts";

const TARGET_RATIO = 20;
const COMPILE_RUNS = 50;
const BATCHES = 7;

interface Timing {
  /** Median over the batches of the mean time per call, in milliseconds. */
  medianMs: number;
  batches: number;
  callsPerBatch: number;
}

/** Keeps the results alive so the timed calls cannot be optimised away. */
let sink = 0;

/**
 * Warms each subject up for `warmupMs`, then times `batches` rounds in which each subject runs
 * a batch of about `batchMs`. The subjects take turns, so a change in machine load during the
 * run weighs on all of them alike.
 */
function measure(subjects: (() => unknown)[], { warmupMs = 500, batchMs = 1000, batches = BATCHES } = {}): Timing[] {
  const callsPerBatch = subjects.map((fn) => {
    let calls = 0;
    const start = performance.now();
    while (performance.now() - start < warmupMs || calls < 2) {
      sink ^= fn() === null ? 1 : 0;
      calls++;
    }
    return Math.max(3, Math.round(batchMs / ((performance.now() - start) / calls)));
  });
  const means = subjects.map((): number[] => []);
  for (let b = 0; b < batches; b++) {
    subjects.forEach((fn, j) => {
      const calls = callsPerBatch[j] ?? 3;
      const start = performance.now();
      for (let i = 0; i < calls; i++) sink ^= fn() === null ? 1 : 0;
      means[j]?.push((performance.now() - start) / calls);
    });
  }
  return means.map((m, j) => ({ medianMs: median(m), batches, callsPerBatch: callsPerBatch[j] ?? 3 }));
}

/**
 * Medians of `n` timed runs of each of `fns`, in milliseconds, for one-off costs like compiling.
 * The runs are interleaved (and warmed up first) so that JIT and GC weigh on each alike.
 */
function mediansOf(n: number, fns: (() => unknown)[]): number[] {
  const times = fns.map((): number[] => []);
  for (let i = -5; i < n; i++) {
    fns.forEach((fn, j) => {
      const start = performance.now();
      sink ^= fn() === null ? 1 : 0;
      if (i >= 0) times[j]?.push(performance.now() - start);
    });
  }
  return times.map(median);
}

const count = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: value < 100 ? 1 : 0 });

export function runBench(): { routerMs: number; baselineMs: number; ratio: number; aims: Aim[] } {
  const data = benchData(DEFAULT_SEED);
  const policy = parseRoutingConfig({ rules: data.rules }).defaults;
  const input = benchInput(data.files);
  const patterns = data.rules.flatMap((rule) => rule.patterns);
  const byRequirement = (req: string) =>
    data.rules.filter((r) => r.requirement === req).reduce((n, r) => n + r.patterns.length, 0);
  const shapes = new Map<string, number>();
  for (const pattern of patterns) shapes.set(patternShape(pattern), (shapes.get(patternShape(pattern)) ?? 0) + 1);

  // The first call compiles the policy (cached per policy object), as the Worker's first request does.
  const coldStart = performance.now();
  const decision = decide(input, policy);
  const firstDecideMs = performance.now() - coldStart;
  const baseline = compileBaseline(data.rules);
  const verdict = baselineDecide(data.files, baseline);
  const difference = disagreement(decision, verdict);
  if (difference !== null) throw new Error(`router and baseline disagree: ${difference}`);
  if (verdict.requirement !== "default" || verdict.file !== LAST_FILE) {
    throw new Error(`the data no longer makes the decision scan every file (got ${JSON.stringify(verdict)})`);
  }

  const fresh = (): RoutingPolicy => ({ ...policy });
  const [routerCompileMs = 0, baselineCompileMs = 0] = mediansOf(COMPILE_RUNS, [
    () => compilePolicy(fresh()),
    () => compileBaseline(data.rules),
  ]);

  const [router, plain] = measure([() => decide(input, policy), () => baselineDecide(data.files, baseline)]);
  if (router === undefined || plain === undefined) throw new Error("nothing measured");
  const ratio = plain.medianMs / router.medianMs;

  const line = (name: string, t: Timing) =>
    `${name.padEnd(10)}${count(1000 / t.medianMs).padStart(10)}${ms(t.medianMs).padStart(16)}` +
    `${`${t.batches} × ${t.callsPerBatch}`.padStart(14)}`;
  const out = [
    `routing benchmark: ${data.files.length.toLocaleString("en-US")} changed files × ${data.rules.length} rules ` +
      `(${patterns.length} patterns: gpu ${byRequirement("gpu")}, docker ${byRequirement("docker")}, ` +
      `lightweight ${byRequirement("lightweight")}; seed ${DEFAULT_SEED})`,
    `pattern shapes: ${[...shapes].map(([shape, n]) => `${shape} ${n}`).join(", ")}`,
    `answer (both agree): ${decision.requirement} → ${decision.runner}; ${decision.reasons.join("; ")}`,
    `node ${process.version}, ${process.arch}`,
    "",
    `compile, median of ${COMPILE_RUNS}:  router ${ms(routerCompileMs)} (compilePolicy)   baseline ${ms(baselineCompileMs)} (${patterns.length} × picomatch())`,
    `first decide() in this process (compile + decide, cold JIT): ${ms(firstDecideMs)}`,
    "",
    `${"".padEnd(10)}${"ops/s".padStart(10)}${"mean/decision".padStart(16)}${"batches".padStart(14)}`,
    line("router", router),
    line("baseline", plain),
    "",
    `ratio (baseline time / router time): ${ratio.toFixed(1)}x — ${TARGET_RATIO}x aim ${metOrNot(ratio >= TARGET_RATIO)}`,
  ];
  console.log(out.join("\n"));
  if (sink === 0.5) console.log(""); // never true; reads the sink
  const aim = {
    section: "routing",
    aim: `router ≥ ${TARGET_RATIO}x faster than the baseline`,
    figure: `${ratio.toFixed(1)}x (${ms(router.medianMs)} vs ${ms(plain.medianMs)})`,
    met: ratio >= TARGET_RATIO,
  };
  return { routerMs: router.medianMs, baselineMs: plain.medianMs, ratio, aims: [aim] };
}

/**
 * Deep paths against flat ones of the same bytes: 300 paths 150 directories deep, and 300 paths
 * with the same characters in one base name, each list routed by `decide()` under the default
 * rules. The router splits a path once and walks its segments once, so the two cost about the
 * same; the aim is deep within 1.5x of flat.
 */
export function runPathsBench(): { deepMs: number; flatMs: number; ratio: number; aims: Aim[] } {
  const policy = parseRoutingConfig({}).defaults;
  const deepPath = (i: number) => `${Array.from({ length: 150 }, (_, d) => `d${(d + i) % 10}`).join("/")}/file-${i}.go`;
  const deep = Array.from({ length: 300 }, (_, i) => deepPath(i));
  const flat = deep.map((path) => path.replace(/\//g, "-"));
  const bytes = (list: string[]) => list.reduce((n, p) => n + p.length, 0);
  if (bytes(deep) !== bytes(flat)) throw new Error("deep and flat paths differ in size");
  const deepInput = benchInput(deep);
  const flatInput = benchInput(flat);
  const a = decide(deepInput, policy);
  const b = decide(flatInput, policy);
  if (a.requirement !== "default" || b.requirement !== "default")
    throw new Error("the path lists no longer route alike");
  const [deepTime, flatTime] = measure([() => decide(deepInput, policy), () => decide(flatInput, policy)]);
  if (deepTime === undefined || flatTime === undefined) throw new Error("nothing measured");
  const ratio = deepTime.medianMs / flatTime.medianMs;
  console.log(
    [
      `paths benchmark: 300 paths 150 directories deep against 300 flat paths of the same ${bytes(deep).toLocaleString("en-US")} bytes, default rules`,
      `  deep  ${ms(deepTime.medianMs)} a decision`,
      `  flat  ${ms(flatTime.medianMs)} a decision`,
      `  ratio (deep / flat) ${ratio.toFixed(2)}x — ${PATHS_TARGET}x aim ${metOrNot(ratio <= PATHS_TARGET)}`,
    ].join("\n"),
  );
  const aim = {
    section: "paths",
    aim: `deep paths ≤ ${PATHS_TARGET}x flat`,
    figure: `${ratio.toFixed(2)}x (${ms(deepTime.medianMs)} vs ${ms(flatTime.medianMs)})`,
    met: ratio <= PATHS_TARGET,
  };
  return { deepMs: deepTime.medianMs, flatMs: flatTime.medianMs, ratio, aims: [aim] };
}

const PATHS_TARGET = 1.5;

export const SECTIONS = ["routing", "paths", "webhook", "throughput", "size"] as const;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let only: string | undefined;
  try {
    only = parseArgs({ options: { only: { type: "string" } } }).values.only;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    only = "";
  }
  if (only !== undefined && !(SECTIONS as readonly string[]).includes(only)) {
    console.error(`usage: npm run bench [-- --only ${SECTIONS.join("|")}]`);
    process.exit(2);
  }
  const sections = SECTIONS.filter((section) => only === undefined || only === section);
  const aims: Aim[] = [];
  for (const [i, section] of sections.entries()) {
    if (i > 0) console.log("");
    if (section === "routing") aims.push(...runBench().aims);
    else if (section === "paths") aims.push(...runPathsBench().aims);
    else if (section === "webhook") aims.push(...(await runWebhookBench()).aims);
    else if (section === "throughput") aims.push(...(await runThroughputBench()).aims);
    else aims.push(...(await runSizeBench()).aims);
  }
  console.log("");
  console.log(summary(aims));
}

/**
 * `npm run load`: proof under load. Sends 10,000 signed deliveries built from GitHub's own example
 * payloads (push, pull_request opened/synchronize, workflow_run, workflow_job; each its own
 * repository and commit), 100 in flight, a fifth of them redeliveries of earlier ones (some right
 * behind their original, so both are in flight together, some later). Then checks that every
 * answer was 2xx, that each delivery was taken as new exactly once, that the Ledger's counters
 * grew by exactly the distinct deliveries and the redeliveries, and that the builds answered are
 * distinct and can be looked up. Prints throughput and latency percentiles.
 *
 * By default it serves the bundled Worker itself (Miniflare, throwaway state in a temporary directory, a free port) and
 * stops it at the end. `--url` targets a running `npm start` instead (loopback only), signing
 * with WEBHOOK_SECRET and reading /metrics with API_TOKEN from the environment, or the local
 * defaults. Counters are compared before and after, so a server with history is fine, as long
 * as nothing else sends it deliveries meanwhile. Exit 0: every check passed; 1: one failed;
 * 2: bad options or a refused URL.
 */
import { availableParallelism, loadavg } from "node:os";
import definitions from "@octokit/webhooks-examples" with { type: "json" };
import examplesPackage from "@octokit/webhooks-examples/package.json" with { type: "json" };
import { SECRET_NAMES } from "../worker/src/bindings.ts";
import { METRICS } from "../worker/src/core/metrics.ts";
import { drive, getWithToken, postDelivery } from "./load-client.ts";
import {
  type Answer,
  analyzeAnswers,
  countsDelta,
  deletesRef,
  type LatencySummary,
  type LedgerCounts,
  LOAD_EVENTS,
  LOAD_USAGE,
  ledgerCounts,
  NEAR_WINDOW,
  PULL_REQUEST_ACTIONS,
  parseLoadOptions,
  payloadFor,
  planDeliveries,
  ratesBySlice,
  sampleOf,
  selectExamples,
  signature,
  summarize,
} from "./load-plan.ts";
import { LOCAL_DEFAULTS, type LocalWorker, startLocalWorker } from "./local-worker.ts";

const parsed = parseLoadOptions(process.argv.slice(2), Math.floor(Math.random() * 2 ** 32));
if (!parsed.ok) {
  console.error(parsed.message);
  console.error(LOAD_USAGE);
  process.exit(2);
}
const options = parsed.value;

const n = (value: number) => value.toLocaleString("en-US");
const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "—");

// The whole run is bounded: every request carries this signal, and a last-resort timer ends the
// process should something not honour it.
const deadline = new AbortController();
const timer = setTimeout(() => deadline.abort(new Error("timeout")), options.timeoutSeconds * 1000);
const lastResort = setTimeout(
  () => {
    console.error(`load: still running ${options.timeoutSeconds + 30} s after start; giving up`);
    process.exit(1);
  },
  (options.timeoutSeconds + 30) * 1000,
);
lastResort.unref();

const examples = selectExamples(definitions);
const plan = planDeliveries({
  count: options.count,
  redeliver: options.redeliver,
  seed: options.seed,
  examples: {
    push: examples.push.length,
    pull_request: examples.pull_request.length,
    workflow_run: examples.workflow_run.length,
    workflow_job: examples.workflow_job.length,
  },
});

let worker: LocalWorker | null = null;
let secret: string = LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret];
let token: string = LOCAL_DEFAULTS[SECRET_NAMES.apiToken];
let base: string;
let targetNote: string;
/** The local Worker's log lines, by level; warnings and errors are kept to be shown. */
const workerLogs = new Map<string, number>();
const workerProblems: string[] = [];
if (options.url === null) {
  worker = await startLocalWorker({
    bindings: { ...LOCAL_DEFAULTS },
    onLog: ({ level, message }) => {
      workerLogs.set(level, (workerLogs.get(level) ?? 0) + 1);
      if (level === "warn" || level === "error") workerProblems.push(message);
    },
  });
  base = worker.url;
  targetNote = `a local Worker started for this run (Miniflare, throwaway state, bundle ${n(worker.bundleBytes)} bytes)`;
} else {
  base = options.url;
  secret = process.env[SECRET_NAMES.webhookSecret] || secret;
  token = process.env[SECRET_NAMES.apiToken] || token;
  const from = (name: string) => (process.env[name] ? "from the environment" : "local default");
  targetNote = `a running server (${SECRET_NAMES.webhookSecret} ${from(SECRET_NAMES.webhookSecret)}, ${SECRET_NAMES.apiToken} ${from(SECRET_NAMES.apiToken)})`;
}

const checks: { ok: boolean; text: string }[] = [];
const check = (ok: boolean, text: string) => checks.push({ ok, text });

try {
  await run();
} catch (error) {
  const why = error instanceof Error ? error.message : String(error);
  const timedOut = deadline.signal.aborted
    ? ` (the run did not finish within --timeout-seconds ${options.timeoutSeconds})`
    : "";
  console.error(`load: FAILED: ${why}${timedOut}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await worker?.stop();
}

async function readCounts(): Promise<LedgerCounts> {
  const res = await getWithToken(`${base}/metrics`, token, deadline.signal);
  if (res.status !== 200) {
    throw new Error(
      `GET /metrics answered ${res.status}${res.status === 401 ? ` (is ${SECRET_NAMES.apiToken} the server's?)` : ""}: ${res.text.slice(0, 200)}`,
    );
  }
  return ledgerCounts(res.text);
}

async function run(): Promise<void> {
  // Preflight: the server answers, and the token works, before anything is sent.
  const health = await fetch(`${base}/health`, { signal: deadline.signal }).then(
    async (res) => ({ status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> }),
    (error: unknown) => {
      throw new Error(`${base}/health did not answer (${error instanceof Error ? error.message : String(error)})`);
    },
  );
  if (health.status !== 200) throw new Error(`GET /health answered ${health.status}: ${JSON.stringify(health.body)}`);
  const before = await readCounts();

  const { sends, unique, redeliveries } = plan;
  const near = sends.filter((s) => s.redelivery && s.near).length;
  const perEvent = LOAD_EVENTS.map((event) => {
    const of = unique.filter((spec) => spec.event === event);
    const deleting = event === "push" ? of.filter((spec) => deletesRef(examples.push[spec.example] ?? {})).length : 0;
    return `${event} ${n(of.length)}${deleting > 0 ? ` (${n(deleting)} deleting a ref)` : ""}`;
  });
  console.log(
    `load: ${n(sends.length)} deliveries (${n(unique.length)} distinct + ${n(redeliveries)} redeliveries: ` +
      `${n(near)} within ${NEAR_WINDOW} originals of theirs, ${n(redeliveries - near)} later), ` +
      `${n(options.concurrency)} in flight, seed ${options.seed} (--seed ${options.seed} repeats this plan)`,
  );
  console.log(`target: ${base}, ${targetNote}; mode ${health.body.mode}, version ${health.body.version}`);
  console.log(
    `payloads: @octokit/webhooks-examples ${examplesPackage.version} (push ${examples.push.length}, ` +
      `pull_request ${PULL_REQUEST_ACTIONS.join("/")} ${examples.pull_request.length}, workflow_run ` +
      `${examples.workflow_run.length}, workflow_job ${examples.workflow_job.length} examples), each its own repository and commit`,
  );
  console.log(`mix: ${perEvent.join(", ")}`);
  console.log(
    `client: node ${process.version}, ${availableParallelism()} CPUs shared with the server; load average ${loadavg()[0]?.toFixed(2)}`,
  );
  if (health.body.github_api === true) {
    console.log("note: the server has GITHUB_TOKEN set, so each pull_request asks GitHub for its files (slower)");
  }

  const answers: (Answer | undefined)[] = new Array(sends.length);
  /** When each answer came back, in ms from the first send, in the order they came. */
  const doneAt: number[] = [];
  const started = performance.now();
  await drive(
    sends.length,
    options.concurrency,
    async (i) => {
      const send = sends[i];
      if (send === undefined) return;
      const body = payloadFor(send.spec, examples);
      answers[i] = await postDelivery(
        base,
        { id: send.spec.id, event: send.spec.event, body, signature: await signature(secret, body) },
        deadline.signal,
      );
      doneAt.push(performance.now() - started);
    },
    deadline.signal,
  );
  const seconds = (performance.now() - started) / 1000;
  const loadAfter = loadavg()[0]?.toFixed(2);
  const answered = answers.filter((a) => a !== undefined && a.status !== 0).length;
  if (deadline.signal.aborted) {
    throw new Error(`timed out: ${n(answered)} of ${n(sends.length)} deliveries answered`);
  }

  const after = await readCounts();
  const delta = countsDelta(before, after);
  const facts = analyzeAnswers(sends, answers);

  // Look a sample of the builds up.
  const sample = sampleOf(facts.builds, options.sample, options.seed ^ 0x5eed);
  const missing: string[] = [];
  await drive(
    sample.length,
    10,
    async (i) => {
      const entry = sample[i];
      if (entry === undefined) return;
      const res = await getWithToken(
        `${base}/status?build_id=${encodeURIComponent(entry.buildId)}`,
        token,
        deadline.signal,
      );
      let record: Record<string, unknown> = {};
      try {
        record = JSON.parse(res.text);
      } catch {}
      const same =
        res.status === 200 &&
        record.build_id === entry.buildId &&
        record.repository === entry.spec.repository &&
        String(record.sha).toLowerCase() === entry.spec.sha;
      if (!same) missing.push(`${entry.buildId} (${res.status} ${res.text.slice(0, 120)})`);
    },
    deadline.signal,
  );

  // Figures.
  const lat = (values: number[]) => summarize(values);
  const firsts = lat(sends.flatMap((s, i) => (s.redelivery ? [] : [answers[i]?.ms ?? Number.NaN])));
  const repeats = lat(sends.flatMap((s, i) => (s.redelivery ? [answers[i]?.ms ?? Number.NaN] : [])));
  const all = lat(answers.map((a) => a?.ms ?? Number.NaN));
  const row = (name: string, s: LatencySummary) =>
    `  ${name.padEnd(18)}${n(s.count).padStart(8)}${fixed(s.p50).padStart(9)}${fixed(s.p90).padStart(9)}` +
    `${fixed(s.p99).padStart(9)}${fixed(s.max).padStart(9)}`;
  console.log("");
  console.log(
    `sent in ${fixed(seconds, 2)} s: ${fixed(sends.length / seconds)} deliveries/s ` +
      `(${fixed(unique.length / seconds)} first deliveries/s + ${fixed(redeliveries / seconds)} redeliveries/s)`,
  );
  console.log(
    `  deliveries/s by tenth of the run: ${ratesBySlice(doneAt, 10)
      .map((r) => fixed(r, 0))
      .join(" ")}`,
  );
  console.log(
    `  latency (ms)      ${"count".padStart(8)}${"p50".padStart(9)}${"p90".padStart(9)}${"p99".padStart(9)}${"max".padStart(9)}`,
  );
  console.log(row("first deliveries", firsts));
  console.log(row("redeliveries", repeats));
  console.log(row("all", all));
  console.log(`  load average when the last answer came: ${loadAfter}`);

  // Checks.
  const statuses = [...facts.statuses]
    .sort(([a], [b]) => a - b)
    .map(([s, c]) => `${s === 0 ? "no answer" : s} × ${n(c)}`);
  check(
    facts.failed.length === 0,
    `every answer 2xx: ${n(sends.length - facts.failed.length)} of ${n(sends.length)} (${statuses.join(", ")})`,
  );
  check(
    facts.firstAnswers === unique.length && facts.neverFirst.length === 0,
    `answered as new: ${n(facts.firstAnswers)} = distinct deliveries ${n(unique.length)}` +
      (facts.neverFirst.length > 0 ? `; ${n(facts.neverFirst.length)} never answered as new` : ""),
  );
  check(
    facts.duplicateAnswers === redeliveries,
    `answered "duplicate": ${n(facts.duplicateAnswers)} = redeliveries ${n(redeliveries)}` +
      ` (${n(facts.overtaken)} redeliveries reached the Ledger before their original, which was then the duplicate)`,
  );
  check(
    facts.countedTwice.length === 0,
    `no delivery taken as new twice${facts.countedTwice.length > 0 ? `: ${facts.countedTwice.slice(0, 5).join(", ")}` : ""}`,
  );
  check(
    facts.mismatched.length === 0,
    `every duplicate answer repeats the first answer${facts.mismatched.length > 0 ? `: ${n(facts.mismatched.length)} differ` : ""}`,
  );
  const name = METRICS.deliveries.name;
  check(
    delta.accepted + delta.ignored === unique.length,
    `/metrics ${name}{outcome="accepted"|"ignored"} +${n(delta.accepted + delta.ignored)} ` +
      `(accepted +${n(delta.accepted)}, ignored +${n(delta.ignored)}) = distinct deliveries ${n(unique.length)}`,
  );
  check(
    delta.ignored === facts.ignored,
    `/metrics outcome="ignored" +${n(delta.ignored)} = deliveries answered "ignored" ${n(facts.ignored)}`,
  );
  check(
    delta.duplicate === redeliveries,
    `/metrics ${name}{outcome="duplicate"} +${n(delta.duplicate)} = redeliveries ${n(redeliveries)}`,
  );
  check(
    delta.decisions === facts.routed,
    `/metrics ${METRICS.decisions.name} +${n(delta.decisions)} = routed push/pull_request deliveries ${n(facts.routed)}`,
  );
  check(delta.rejected === 0, `/metrics ${METRICS.rejections.name} +${n(delta.rejected)} = 0`);
  check(
    facts.routedBuildIds.size === facts.routed,
    `push/pull_request: ${n(facts.routedBuildIds.size)} distinct build_ids for ${n(facts.routed)} routed deliveries`,
  );
  check(
    facts.updateBuildIds.size === facts.updates,
    `workflow_run/workflow_job: ${n(facts.updateBuildIds.size)} distinct build_ids for ${n(facts.updates)} deliveries (each its own commit)`,
  );
  check(
    missing.length === 0 && sample.length === Math.min(options.sample, facts.builds.length),
    `GET /status finds ${n(sample.length - missing.length)} of ${n(sample.length)} sampled builds` +
      (missing.length > 0 ? `; not found or different: ${missing.slice(0, 5).join("; ")}` : ""),
  );

  if (worker !== null) {
    const levels = [...workerLogs].map(([level, count]) => `${level} ${n(count)}`).join(", ");
    console.log(`worker log lines: ${levels || "none"}`);
    for (const line of workerProblems.slice(0, 10)) console.log(`  ${line.slice(0, 300)}`);
    if (workerProblems.length > 10) console.log(`  … and ${n(workerProblems.length - 10)} more warnings or errors`);
  }

  console.log("");
  console.log("checks:");
  for (const c of checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.text}`);
  if (facts.failed.length > 0) {
    console.log("");
    console.log("answers that were not 2xx:");
    for (const { send, answer } of facts.failed.slice(0, 20)) {
      const what = answer.error ?? answer.body.slice(0, 200);
      console.log(
        `  #${sends.indexOf(send)} ${send.spec.event} ${send.spec.id}${send.redelivery ? " (redelivery)" : ""}: ` +
          `${answer.status === 0 ? "no answer" : answer.status} ${what}`,
      );
    }
    if (facts.failed.length > 20) console.log(`  … and ${n(facts.failed.length - 20)} more`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  console.log("");
  console.log(
    failed === 0 ? `load: all ${checks.length} checks passed` : `load: ${failed} of ${checks.length} checks FAILED`,
  );
  if (failed > 0) process.exitCode = 1;
}

/**
 * The pure parts of the load run (`npm run load`) and the throughput benchmark: options, the
 * loopback-only target check, the delivery plan (seeded, so a run can be repeated), payloads built
 * from GitHub's own examples, latency percentiles, the reading of /metrics and the checks on the
 * answers. No network, no clock, no randomness but the seeded one.
 */
import { parseArgs } from "node:util";
import { sign } from "@octokit/webhooks-methods";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { METRICS } from "../worker/src/core/metrics.ts";
import { isLoopbackHost, LOOPBACK_HOSTS } from "../worker/src/core/names.ts";
import { mulberry32 } from "./bench-data.ts";

// ---------------------------------------------------------------------------------------------
// Options and target

export interface LoadOptions {
  count: number;
  concurrency: number;
  /** Fraction of `count` that are redeliveries of an earlier delivery, in [0, 1). */
  redeliver: number;
  timeoutSeconds: number;
  seed: number;
  /** A running server's base URL (loopback only), or null to start a local Worker. */
  url: string | null;
  sample: number;
}

export const LOAD_DEFAULTS = {
  count: 10_000,
  concurrency: 100,
  redeliver: 0.2,
  timeoutSeconds: 600,
  sample: 50,
} as const;

export const LOAD_USAGE = `usage: npm run load -- [--url http://127.0.0.1:8787] [--count N] [--concurrency N]
                     [--redeliver FRACTION] [--timeout-seconds N] [--seed N] [--sample N]
  --url               a running server (npm start); only 127.0.0.1, localhost or [::1].
                      Default: start a local Worker with throwaway state on a free port.
                      Signs with WEBHOOK_SECRET and reads /metrics with API_TOKEN (local defaults otherwise).
  --count             deliveries sent, redeliveries included (default ${LOAD_DEFAULTS.count})
  --concurrency       deliveries in flight (default ${LOAD_DEFAULTS.concurrency})
  --redeliver         fraction of them that repeat an earlier delivery (default ${LOAD_DEFAULTS.redeliver})
  --timeout-seconds   bound on the whole run (default ${LOAD_DEFAULTS.timeoutSeconds})
  --seed              the plan's seed (default: a new one, printed); deliveries, commits and ids derive from it
  --sample            builds looked up with GET /status afterwards (default ${LOAD_DEFAULTS.sample})`;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

function integerOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** Reads the command line of `npm run load`. `randomSeed` is used when no --seed is given. */
export function parseLoadOptions(argv: readonly string[], randomSeed: number): Parsed<LoadOptions> {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: "string" },
        count: { type: "string" },
        concurrency: { type: "string" },
        redeliver: { type: "string" },
        "timeout-seconds": { type: "string" },
        seed: { type: "string" },
        sample: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    });
    const redeliverRaw = values.redeliver;
    const redeliver = redeliverRaw === undefined ? LOAD_DEFAULTS.redeliver : Number(redeliverRaw);
    if (redeliverRaw !== undefined && (redeliverRaw.trim() === "" || !(redeliver >= 0 && redeliver < 1))) {
      throw new RangeError(`--redeliver must be a fraction from 0 up to (not including) 1, got "${redeliverRaw}"`);
    }
    let url: string | null = null;
    if (values.url !== undefined) {
      const target = loopbackTarget(values.url);
      if (!target.ok) throw new RangeError(target.message);
      url = target.value;
    }
    return {
      ok: true,
      value: {
        url,
        count: integerOption("count", values.count, LOAD_DEFAULTS.count, 1, 1_000_000),
        concurrency: integerOption("concurrency", values.concurrency, LOAD_DEFAULTS.concurrency, 1, 1000),
        redeliver,
        timeoutSeconds: integerOption(
          "timeout-seconds",
          values["timeout-seconds"],
          LOAD_DEFAULTS.timeoutSeconds,
          1,
          24 * 3600,
        ),
        seed: integerOption("seed", values.seed, randomSeed >>> 0, 0, 2 ** 32 - 1),
        sample: integerOption("sample", values.sample, LOAD_DEFAULTS.sample, 0, 100_000),
      },
    };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

/** The only hosts a load run may target. */
export { LOOPBACK_HOSTS };

/**
 * The base URL (no trailing slash) of a loopback server, or why `raw` is refused: anything but
 * http(s) to 127.0.0.1, localhost or [::1], with no credentials, path, query or fragment.
 * WHATWG URL parsing first, so `http://127.0.0.1@evil.example` or `http://localhost.evil.example`
 * are seen for the remote hosts they are.
 */
export function loopbackTarget(raw: string): Parsed<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: `--url "${raw}" is not a URL (expected e.g. http://127.0.0.1:8787)` };
  }
  const hosts = LOOPBACK_HOSTS.join(", ");
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, message: `--url must be http or https, got ${url.protocol}` };
  }
  if (!isLoopbackHost(url.hostname)) {
    return {
      ok: false,
      message: `refusing --url ${url.origin}: host "${url.hostname}" is not loopback; only ${hosts} may be targeted`,
    };
  }
  if (url.username !== "" || url.password !== "") {
    return { ok: false, message: "--url must not carry credentials" };
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    return { ok: false, message: `--url must be a server's origin only (e.g. ${url.origin}), without a path or query` };
  }
  return { ok: true, value: url.origin };
}

// ---------------------------------------------------------------------------------------------
// Payloads from @octokit/webhooks-examples

export const LOAD_EVENTS = ["push", "pull_request", "workflow_run", "workflow_job"] as const;
export type LoadEvent = (typeof LOAD_EVENTS)[number];

/** How often each event appears in a plan, relative to the others. */
export const EVENT_WEIGHTS: Record<LoadEvent, number> = { push: 3, pull_request: 3, workflow_run: 2, workflow_job: 2 };

/** The pull_request actions used: the ones that start a build. */
export const PULL_REQUEST_ACTIONS = ["opened", "synchronize"] as const;

type Json = Record<string, unknown>;
export type LoadExamples = Record<LoadEvent, readonly Json[]>;

/** Picks the examples a plan draws from, out of @octokit/webhooks-examples' definitions. */
export function selectExamples(definitions: readonly { name: string; examples: readonly unknown[] }[]): LoadExamples {
  const of = (name: LoadEvent) => {
    const found = definitions.find((d) => d.name === name);
    if (found === undefined) throw new Error(`no ${name} examples in @octokit/webhooks-examples`);
    return found.examples as Json[];
  };
  const selected: LoadExamples = {
    push: of("push"),
    pull_request: of("pull_request").filter((e) =>
      (PULL_REQUEST_ACTIONS as readonly unknown[]).includes((e as Json).action),
    ),
    workflow_run: of("workflow_run"),
    workflow_job: of("workflow_job"),
  };
  for (const event of LOAD_EVENTS) {
    if (selected[event].length === 0) throw new Error(`no usable ${event} examples`);
  }
  return selected;
}

/** True for an example push that deletes its ref (the router ignores those). */
export function deletesRef(example: Json): boolean {
  return example.deleted === true || /^0{40}$/.test(String(example.after ?? ""));
}

export interface DeliverySpec {
  /** X-GitHub-Delivery: a UUID, as GitHub sends. */
  id: string;
  event: LoadEvent;
  /** Index of the example (of that event) the payload is built from. */
  example: number;
  /** owner/name. */
  repository: string;
  /** The commit, unique to this delivery. */
  sha: string;
  /** A number unique to this delivery, for pull request numbers and run and job ids. */
  serial: number;
}

/** Sets `value` at `path` when every object on the way exists. */
function setIn(target: unknown, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== "object" || node === null) return;
    node = (node as Json)[key];
  }
  const last = path[path.length - 1];
  if (typeof node === "object" && node !== null && last !== undefined && last in node) (node as Json)[last] = value;
}

/**
 * The body of a delivery: its example with the repository, commit and ids made its own, so every
 * delivery is a distinct build. Deterministic: the same spec always gives the same bytes.
 */
export function payloadFor(spec: DeliverySpec, examples: LoadExamples): string {
  const example = examples[spec.event][spec.example];
  if (example === undefined) throw new RangeError(`no ${spec.event} example ${spec.example}`);
  const payload = structuredClone(example);
  const [owner = "load", name = "app"] = spec.repository.split("/");
  setIn(payload, ["repository", "full_name"], spec.repository);
  setIn(payload, ["repository", "name"], name);
  setIn(payload, ["repository", "owner", "login"], owner);
  switch (spec.event) {
    case "push":
      // A push that deletes its ref keeps its zero `after`: it stays a deletion, and the router ignores it.
      if (deletesRef(payload)) setIn(payload, ["before"], spec.sha);
      else {
        setIn(payload, ["after"], spec.sha);
        setIn(payload, ["head_commit", "id"], spec.sha);
      }
      break;
    case "pull_request":
      setIn(payload, ["number"], spec.serial);
      setIn(payload, ["pull_request", "number"], spec.serial);
      setIn(payload, ["pull_request", "head", "sha"], spec.sha);
      setIn(payload, ["after"], spec.sha);
      break;
    case "workflow_run":
      setIn(payload, ["workflow_run", "id"], spec.serial);
      setIn(payload, ["workflow_run", "head_sha"], spec.sha);
      setIn(payload, ["workflow_run", "head_commit", "id"], spec.sha);
      break;
    case "workflow_job":
      setIn(payload, ["workflow_job", "id"], spec.serial);
      setIn(payload, ["workflow_job", "run_id"], spec.serial);
      setIn(payload, ["workflow_job", "head_sha"], spec.sha);
      break;
  }
  return JSON.stringify(payload);
}

/** X-Hub-Signature-256 for `body`, as GitHub computes it. */
export function signature(secret: string, body: string): Promise<string> {
  return sign(secret, body);
}

// ---------------------------------------------------------------------------------------------
// The plan

export interface PlannedSend {
  spec: DeliverySpec;
  /** False for the first time a delivery is sent (its original), true for every repeat. */
  redelivery: boolean;
  /** For a redelivery: placed right behind its original, so both are usually in flight together. */
  near: boolean;
}

export interface DeliveryPlan {
  seed: number;
  /** In sending order. Every redelivery comes after its original. */
  sends: PlannedSend[];
  /** The distinct deliveries, in the order their originals are sent. */
  unique: DeliverySpec[];
  redeliveries: number;
}

/** Redeliveries placed "near" their original come within this many originals after it. */
export const NEAR_WINDOW = 2;

const hex = (random: () => number, n: number) => {
  let out = "";
  for (let i = 0; i < n; i++) out += Math.floor(random() * 16).toString(16);
  return out;
};

/** A version 4 UUID drawn from `random`. */
export function uuidFrom(random: () => number): string {
  const variant = "89ab"[Math.floor(random() * 4)] ?? "8";
  return `${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-${variant}${hex(random, 3)}-${hex(random, 12)}`;
}

/**
 * `count` sends: `round(count × redeliver)` redeliveries of earlier deliveries (same delivery id,
 * same body), the rest distinct deliveries of the events in EVENT_WEIGHTS. Half the redeliveries
 * follow their original closely (concurrently, under any concurrency above a few), half come any
 * time later; a delivery can be redelivered more than once. Repositories, commits, delivery ids
 * and numbers all come from `seed`: a new seed gives deliveries no server has seen.
 */
export function planDeliveries(options: {
  count: number;
  redeliver: number;
  seed: number;
  examples: Record<LoadEvent, number>;
}): DeliveryPlan {
  const { count, redeliver, seed } = options;
  if (!Number.isInteger(count) || count < 1) throw new RangeError("count must be a positive integer");
  if (!(redeliver >= 0 && redeliver < 1)) throw new RangeError("redeliver must be in [0, 1)");
  const redeliveries = Math.min(count - 1, Math.round(count * redeliver));
  const uniqueCount = count - redeliveries;
  const random = mulberry32(seed);
  const tag = (seed >>> 0).toString(36);
  const serialBase = 1_000_000 + Math.floor(random() * 2 ** 40);
  const totalWeight = LOAD_EVENTS.reduce((sum, e) => sum + EVENT_WEIGHTS[e], 0);
  const pickEvent = (): LoadEvent => {
    let r = random() * totalWeight;
    for (const event of LOAD_EVENTS) {
      r -= EVENT_WEIGHTS[event];
      if (r < 0) return event;
    }
    return LOAD_EVENTS[LOAD_EVENTS.length - 1] as LoadEvent;
  };

  const shas = new Set<string>();
  const ids = new Set<string>();
  const unique: DeliverySpec[] = [];
  for (let i = 0; i < uniqueCount; i++) {
    const event = pickEvent();
    const available = options.examples[event];
    if (!(available > 0)) throw new RangeError(`no ${event} examples to draw from`);
    let sha = hex(random, 40);
    while (shas.has(sha.slice(0, 12))) sha = hex(random, 40);
    shas.add(sha.slice(0, 12));
    let id = uuidFrom(random);
    while (ids.has(id)) id = uuidFrom(random);
    ids.add(id);
    unique.push({
      id,
      event,
      example: Math.floor(random() * available),
      repository: `load-${tag}/app-${Math.floor(random() * 100)}`,
      sha,
      serial: serialBase + i,
    });
  }

  // Place every send on one line: original i at i, a redelivery of i somewhere after it.
  const placed: { key: number; send: PlannedSend }[] = unique.map((spec, i) => ({
    key: i,
    send: { spec, redelivery: false, near: false },
  }));
  for (let r = 0; r < redeliveries; r++) {
    const original = Math.floor(random() * uniqueCount);
    const spec = unique[original] as DeliverySpec;
    const near = random() < 0.5;
    const offset = near ? random() * NEAR_WINDOW : random() * (uniqueCount - original);
    placed.push({ key: original + offset, send: { spec, redelivery: true, near } });
  }
  // Stable: on a tie the original (pushed first) stays ahead of its redelivery.
  placed.sort((a, b) => a.key - b.key || Number(a.send.redelivery) - Number(b.send.redelivery));
  return { seed, sends: placed.map((p) => p.send), unique, redeliveries };
}

/** `n` items of `items` chosen by `seed`, without repeats, in their original order. */
export function sampleOf<T>(items: readonly T[], n: number, seed: number): T[] {
  if (n >= items.length) return [...items];
  const random = mulberry32(seed);
  const chosen = new Set<number>();
  while (chosen.size < n) chosen.add(Math.floor(random() * items.length));
  return [...chosen].sort((a, b) => a - b).map((i) => items[i] as T);
}

// ---------------------------------------------------------------------------------------------
// Latency

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The nearest-rank percentile `p` (0–100) of `sorted` (ascending); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError("p must be in [0, 100]");
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}

/**
 * Answers per second in each of `slices` consecutive equal shares of the answers, from the times
 * (ms since the first send, ascending) they came back: shows whether a run slowed as it went.
 */
export function ratesBySlice(doneAtMs: readonly number[], slices: number): number[] {
  if (doneAtMs.length === 0 || slices < 1) return [];
  const rates: number[] = [];
  let from = 0;
  let start = 0;
  for (let k = 1; k <= slices; k++) {
    const to = Math.round((k * doneAtMs.length) / slices);
    if (to <= from) continue;
    const end = doneAtMs[to - 1] as number;
    rates.push(((to - from) * 1000) / Math.max(end - start, 1e-9));
    from = to;
    start = end;
  }
  return rates;
}

// ---------------------------------------------------------------------------------------------
// /metrics

/** The Ledger's counters a load run checks, summed over every other label. */
export interface LedgerCounts {
  accepted: number;
  ignored: number;
  duplicate: number;
  rejected: number;
  decisions: number;
}

type Families = ReturnType<typeof parsePrometheusTextFormat>;

/** Sum of the samples of counter `name` whose labels include `where`. */
function sumOf(families: Families, name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const sample of families.find((f) => f.name === name)?.metrics ?? []) {
    const labels = sample.labels ?? {};
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) sum += Number(sample.value ?? "0");
  }
  return sum;
}

/** Sum of a counter's samples in a /metrics answer whose labels include `where`. */
export function counterSum(text: string, name: string, where: Record<string, string> = {}): number {
  return sumOf(parsePrometheusTextFormat(text), name, where);
}

/** Reads the Ledger's delivery, rejection and decision counters from a /metrics answer. */
export function ledgerCounts(text: string): LedgerCounts {
  const families = parsePrometheusTextFormat(text);
  if (!families.some((f) => f.name === METRICS.deliveries.name)) {
    throw new Error(`/metrics has no ${METRICS.deliveries.name} family`);
  }
  const deliveries = (outcome: string) => sumOf(families, METRICS.deliveries.name, { outcome });
  return {
    accepted: deliveries("accepted"),
    ignored: deliveries("ignored"),
    duplicate: deliveries("duplicate"),
    rejected: sumOf(families, METRICS.rejections.name),
    decisions: sumOf(families, METRICS.decisions.name),
  };
}

/** How much each counter grew between two readings. */
export function countsDelta(before: LedgerCounts, after: LedgerCounts): LedgerCounts {
  return {
    accepted: after.accepted - before.accepted,
    ignored: after.ignored - before.ignored,
    duplicate: after.duplicate - before.duplicate,
    rejected: after.rejected - before.rejected,
    decisions: after.decisions - before.decisions,
  };
}

// ---------------------------------------------------------------------------------------------
// Answers

/** What one send got back. `status` 0 means no answer (`error` says why). */
export interface Answer {
  status: number;
  body: string;
  ms: number;
  error?: string;
}

export interface AnswerFacts {
  /** Sends answered other than 2xx, or not at all. */
  failed: { send: PlannedSend; answer: Answer }[];
  statuses: Map<number, number>;
  /** Deliveries whose answers were not first-answer once and duplicate otherwise. */
  countedTwice: string[];
  neverFirst: string[];
  /** Duplicate answers that differ from the first answer (besides `"duplicate":true`). */
  mismatched: string[];
  /** Redeliveries the Ledger saw before their original (the original was then the duplicate). */
  overtaken: number;
  firstAnswers: number;
  duplicateAnswers: number;
  ignored: number;
  /** push and pull_request deliveries answered with a build and a decision. */
  routed: number;
  routedBuildIds: Set<string>;
  /** workflow_run and workflow_job deliveries answered with a build. */
  updates: number;
  updateBuildIds: Set<string>;
  /** Every build id answered, with the delivery that first got it. */
  builds: { buildId: string; spec: DeliverySpec }[];
}

function parseJson(text: string): Json | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

/**
 * What the answers say, for the checks of a load run: each delivery must be answered as new
 * exactly once (by whichever of its sends reached the Ledger first) and as a duplicate, repeating
 * that answer, every other time.
 */
export function analyzeAnswers(sends: readonly PlannedSend[], answers: readonly (Answer | undefined)[]): AnswerFacts {
  const facts: AnswerFacts = {
    failed: [],
    statuses: new Map(),
    countedTwice: [],
    neverFirst: [],
    mismatched: [],
    overtaken: 0,
    firstAnswers: 0,
    duplicateAnswers: 0,
    ignored: 0,
    routed: 0,
    routedBuildIds: new Set(),
    updates: 0,
    updateBuildIds: new Set(),
    builds: [],
  };
  const byDelivery = new Map<string, { spec: DeliverySpec; first: Json[]; duplicates: Json[] }>();
  sends.forEach((send, i) => {
    const answer = answers[i] ?? { status: 0, body: "", ms: Number.NaN, error: "not sent" };
    facts.statuses.set(answer.status, (facts.statuses.get(answer.status) ?? 0) + 1);
    if (answer.status < 200 || answer.status > 299) {
      facts.failed.push({ send, answer });
      return;
    }
    const entry = byDelivery.get(send.spec.id) ?? { spec: send.spec, first: [], duplicates: [] };
    byDelivery.set(send.spec.id, entry);
    const body = parseJson(answer.body) ?? {};
    if (body.duplicate === true) {
      facts.duplicateAnswers++;
      entry.duplicates.push(body);
    } else {
      facts.firstAnswers++;
      entry.first.push(body);
      if (send.redelivery) facts.overtaken++;
    }
  });
  for (const [id, { spec, first, duplicates }] of byDelivery) {
    if (first.length > 1) facts.countedTwice.push(id);
    const answer = first[0];
    if (answer === undefined) {
      facts.neverFirst.push(id);
      continue;
    }
    const expected = JSON.stringify(answer);
    for (const { duplicate: _flag, ...rest } of duplicates) {
      if (JSON.stringify(rest) !== expected) facts.mismatched.push(id);
    }
    const buildId = typeof answer.build_id === "string" ? answer.build_id : null;
    if (answer.ignored === true) facts.ignored++;
    else if (buildId !== null && (spec.event === "push" || spec.event === "pull_request")) {
      if (typeof answer.decision === "object" && answer.decision !== null) {
        facts.routed++;
        facts.routedBuildIds.add(buildId);
      }
    } else if (buildId !== null) {
      facts.updates++;
      facts.updateBuildIds.add(buildId);
    }
    if (buildId !== null) facts.builds.push({ buildId, spec });
  }
  return facts;
}

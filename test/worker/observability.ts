/**
 * Helpers for the metrics, alert and cost tests: scraping GET /metrics through a real exposition
 * parser, waiting for what is written after an answer, reading the Ledger's alert outbox, and
 * running the Ledger's alarm by hand.
 */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import parsePrometheusTextFormat, { type PrometheusFamily } from "parse-prometheus-text-format";
import { expect } from "vitest";
import { DURATION_BUCKETS, METRICS, type MetricKey } from "../../worker/src/core/metrics.ts";
import { call, type Fetch, ledger, worker, workflowRunPayload } from "./helpers.ts";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** An instant as GitHub writes it in workflow events: whole seconds, UTC. */
export const githubTime = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

/** A job or run id no other test uses (the Ledger keys queue watches and job costs by job id). */
export const newJobId = () => 1_000_000 + Math.floor(Math.random() * 1_000_000_000);

/** A workflow_run `in_progress` event (GitHub's examples have none): the `requested` one, moved on. */
export function runInProgressPayload(fields: { repository: string; sha: string; id: number }) {
  const payload = workflowRunPayload({ ...fields, action: "requested" });
  payload.action = "in_progress";
  payload.workflow_run.status = "in_progress";
  return payload;
}

/**
 * Reads with `read` every 25 ms until `done` holds for what it read, and returns that; fails
 * after `timeoutMs`. For what the Worker writes after answering (`ctx.waitUntil`).
 */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 2_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

// --- GET /metrics ---------------------------------------------------------------------------

const labelKey = (labels: Record<string, string> = {}) =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );

export interface HistogramValue {
  /** Cumulative counts by `le`, as written ("5", …, "7200", "+Inf"). */
  buckets: Record<string, number>;
  sum: number;
  count: number;
}

/** One scrape of GET /metrics, read by parse-prometheus-text-format. */
export class Scrape {
  readonly text: string;
  /** The parser's families, as it returns them. */
  readonly families: PrometheusFamily[];
  /** Every sample line of every family, by `name` and label set, as the parser read it. */
  readonly series: Map<string, number>;

  constructor(text: string) {
    this.text = text;
    this.families = parsePrometheusTextFormat(text);
    // parse-prometheus-text-format 1.1 folds every series of a histogram family into one, losing
    // their labels (yunyu/parse-prometheus-text-format#13). So the text is parsed a second time
    // without the histograms' TYPE lines: each `_bucket`, `_sum` and `_count` sample line is then
    // read by the same parser as an untyped sample, with all its labels.
    const histograms = Object.values(METRICS)
      .filter((f) => f.type === "histogram")
      .map((f) => `# TYPE ${f.name} histogram`);
    const untyped = parsePrometheusTextFormat(
      text
        .split("\n")
        .filter((line) => !histograms.includes(line))
        .join("\n"),
    );
    this.series = new Map();
    for (const family of untyped) {
      for (const sample of family.metrics) {
        const key = `${family.name}${labelKey(sample.labels)}`;
        expect(this.series.has(key), `${key} appears twice`).toBe(false);
        this.series.set(key, Number(sample.value));
      }
    }
  }

  /** A counter's or gauge's value; 0 when the series is absent (nothing was counted yet). */
  value(metric: MetricKey, labels: Record<string, string> = {}): number {
    const family = this.family(metric);
    const sample = family.metrics.find((m) => labelKey(m.labels) === labelKey(labels));
    return sample === undefined ? 0 : Number(sample.value);
  }

  /** Whether a counter or gauge has a series with these labels. */
  has(metric: MetricKey, labels: Record<string, string> = {}): boolean {
    return this.family(metric).metrics.some((m) => labelKey(m.labels) === labelKey(labels));
  }

  /** A histogram series; all zeros when absent. */
  histogram(metric: MetricKey, labels: Record<string, string>): HistogramValue {
    const { name, type } = METRICS[metric];
    expect(type).toBe("histogram");
    const buckets: Record<string, number> = {};
    for (const le of [...DURATION_BUCKETS.map(String), "+Inf"]) {
      buckets[le] = this.series.get(`${name}_bucket${labelKey({ ...labels, le })}`) ?? 0;
    }
    return {
      buckets,
      sum: this.series.get(`${name}_sum${labelKey(labels)}`) ?? 0,
      count: this.series.get(`${name}_count${labelKey(labels)}`) ?? 0,
    };
  }

  private family(metric: MetricKey): PrometheusFamily {
    const { name, type } = METRICS[metric];
    expect(type).not.toBe("histogram");
    const family = this.families.find((f) => f.name === name);
    if (family === undefined) throw new Error(`no family ${name} in /metrics`);
    return family;
  }
}

/** GET /metrics with the API token, parsed. */
export async function scrape(via: Fetch = worker): Promise<Scrape> {
  const res = await call("/metrics", { via });
  expect(res.status, res.text).toBe(200);
  return new Scrape(res.text);
}

/** Each series' change from `before` to `after` (series absent from `before` count from 0). */
export function changes(before: Scrape, after: Scrape, ignore: (key: string) => boolean = () => false) {
  const out: Record<string, number> = {};
  for (const [key, value] of after.series) {
    if (ignore(key)) continue;
    const delta = value - (before.series.get(key) ?? 0);
    if (delta !== 0) out[key] = delta;
  }
  for (const key of before.series.keys()) {
    if (!after.series.has(key) && !ignore(key)) out[key] = -(before.series.get(key) ?? 0);
  }
  return out;
}

/** The series key `changes` uses for a counter or gauge sample. */
export function seriesKey(metric: MetricKey, labels: Record<string, string> = {}): string {
  return `${METRICS[metric].name}${labelKey(labels)}`;
}

/** The month-to-date cost gauges move with the clock (fixed costs are prorated to the second). */
export const isClockGauge = (key: string) => key.startsWith("ci_router_month_");

// --- The alert outbox -------------------------------------------------------------------------

export interface OutboxRow {
  kind: string;
  status: string;
  attempts: number;
  last_error: string | null;
  payload: string;
}

/** The outbox rows of one build, oldest first. */
export async function outbox(buildId: string): Promise<OutboxRow[]> {
  return runInDurableObject(ledger(), (_instance, state) =>
    state.storage.sql
      .exec<Record<string, SqlStorageValue> & OutboxRow>(
        "SELECT kind, status, attempts, last_error, payload FROM outbox WHERE build_id = ? ORDER BY id",
        buildId,
      )
      .toArray()
      .map((row) => ({ ...row })),
  );
}

/** Runs SQL in the Ledger (to age a row, or to simulate a prune). */
/** Runs one statement in the Ledger's SQLite; the rows it returns, as plain objects. */
export async function ledgerSql<T = Record<string, SqlStorageValue>>(
  query: string,
  ...params: SqlStorageValue[]
): Promise<T[]> {
  return runInDurableObject(ledger(), (_instance, state) =>
    state.storage.sql
      .exec(query, ...params)
      .toArray()
      .map((row) => ({ ...row }) as T),
  );
}

// --- The Ledger's alarm, by hand ------------------------------------------------------------

/** How far a scheduled alarm that fired on its own is pushed back while alarms run by hand. */
const PARKED_MS = 60 * 60 * 1000;
const MANUAL = Symbol.for("pmoves-ci-orchestrator.test.manual-alarms");
/** Alarm runs `runAlarm` has allowed and the Ledger has not started yet. */
let allowed = 0;

/**
 * workerd fires Durable Object alarms on their own, in real time, so the alert tests could never
 * see an alert between two sending attempts. This stops that for the one Ledger: an alarm that
 * fires on its own runs none of the Ledger's code and is put back an hour later, so it stays
 * scheduled; only `runAlarm` runs the Ledger's own `alarm()`. What the alarm does is untouched,
 * only when it runs is decided by the test. Idempotent; call it before each test (the Ledger
 * instance may be new).
 */
export async function useManualAlarms(): Promise<void> {
  await runInDurableObject(ledger(), (instance, state) => {
    const target = instance as unknown as { alarm: () => Promise<void>; [MANUAL]?: true };
    if (target[MANUAL]) return;
    const alarm = target.alarm.bind(instance);
    target.alarm = async () => {
      if (allowed > 0) {
        allowed--;
        return alarm();
      }
      await state.storage.setAlarm(Date.now() + PARKED_MS);
    };
    target[MANUAL] = true;
  });
}

/** Runs the Ledger's alarm once, now, if one is scheduled (`runDurableObjectAlarm`). */
export async function runAlarm(): Promise<boolean> {
  allowed = 1;
  try {
    return await runDurableObjectAlarm(ledger());
  } finally {
    allowed = 0;
  }
}

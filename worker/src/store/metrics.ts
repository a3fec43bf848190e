import { bucketOf, type HistogramSeries, labelKey, labelsFromKey, type MetricKey, type Sample } from "../core/index.ts";
import { BUCKET_COLUMNS } from "./schema.ts";
import type { Sql } from "./sql.ts";

/**
 * Counters, gauges and histograms in the Ledger's SQLite. Every update is a single statement
 * inside the Ledger's transaction for the delivery that caused it, so values are exact.
 */
export class MetricsStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Adds `by` to a counter. */
  add(metric: MetricKey, labels: Record<string, string> = {}, by = 1): void {
    this.addAll([{ metric, labels, by }]);
  }

  /** Adds to several counters in one statement. */
  addAll(counters: readonly { metric: MetricKey; labels: Record<string, string>; by: number }[]): void {
    if (counters.length === 0) return;
    this.sql.exec(
      `INSERT INTO metric_values (metric, labels, value) VALUES ${counters.map(() => "(?, ?, ?)").join(", ")}
       ON CONFLICT (metric, labels) DO UPDATE SET value = value + excluded.value`,
      ...counters.flatMap((c) => [c.metric, labelKey(c.labels), c.by]),
    );
  }

  /** Sets a gauge. */
  set(metric: MetricKey, labels: Record<string, string>, value: number): void {
    this.sql.exec(
      `INSERT INTO metric_values (metric, labels, value) VALUES (?, ?, ?)
       ON CONFLICT (metric, labels) DO UPDATE SET value = excluded.value`,
      metric,
      labelKey(labels),
      value,
    );
  }

  /** Records one observation in a histogram of DURATION_BUCKETS: one statement, its bucket's count and the sum. */
  observe(metric: MetricKey, labels: Record<string, string>, seconds: number): void {
    const bucket = BUCKET_COLUMNS[bucketOf(seconds)] as string;
    this.sql.exec(
      `INSERT INTO metric_histograms (metric, labels, sum, ${bucket}) VALUES (?, ?, ?, 1)
       ON CONFLICT (metric, labels) DO UPDATE SET sum = sum + excluded.sum, ${bucket} = ${bucket} + 1`,
      metric,
      labelKey(labels),
      seconds,
    );
  }

  /** One histogram series' counts (per bound plus +Inf), or null when it has none. */
  histogram(metric: MetricKey, labels: Record<string, string>): number[] | null {
    const row = this.sql
      .exec<Record<string, number>>(
        `SELECT ${BUCKET_COLUMNS.join(", ")} FROM metric_histograms WHERE metric = ? AND labels = ?`,
        metric,
        labelKey(labels),
      )
      .toArray()[0];
    return row === undefined ? null : BUCKET_COLUMNS.map((c) => row[c] ?? 0);
  }

  /** A counter or gauge's value, or null when it has none yet. */
  gauge(metric: MetricKey, labels: Record<string, string> = {}): number | null {
    const row = this.sql
      .exec<{ value: number }>(
        "SELECT value FROM metric_values WHERE metric = ? AND labels = ?",
        metric,
        labelKey(labels),
      )
      .toArray()[0];
    return row?.value ?? null;
  }

  samples(): Sample[] {
    return this.sql
      .exec<{ metric: string; labels: string; value: number }>("SELECT metric, labels, value FROM metric_values")
      .toArray()
      .map((r) => ({ metric: r.metric as MetricKey, labels: labelsFromKey(r.labels), value: r.value }));
  }

  histograms(): HistogramSeries[] {
    return this.sql
      .exec<Record<string, number | string>>(
        `SELECT metric, labels, sum, ${BUCKET_COLUMNS.join(", ")} FROM metric_histograms`,
      )
      .toArray()
      .map((r) => ({
        metric: r.metric as MetricKey,
        labels: labelsFromKey(String(r.labels)),
        counts: BUCKET_COLUMNS.map((c) => Number(r[c] ?? 0)),
        sum: Number(r.sum),
      }));
  }
}

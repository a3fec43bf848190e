import {
  bucketOf,
  DURATION_BUCKETS,
  type HistogramSeries,
  labelKey,
  labelsFromKey,
  type MetricKey,
  type Sample,
} from "../core/index.ts";
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
    this.sql.exec(
      `INSERT INTO metric_values (metric, labels, value) VALUES (?, ?, ?)
       ON CONFLICT (metric, labels) DO UPDATE SET value = value + excluded.value`,
      metric,
      labelKey(labels),
      by,
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

  /** Records one observation in a histogram of DURATION_BUCKETS. */
  observe(metric: MetricKey, labels: Record<string, string>, seconds: number): void {
    const key = labelKey(labels);
    const row = this.sql
      .exec<{ counts: string; sum: number }>(
        "SELECT counts, sum FROM metric_histograms WHERE metric = ? AND labels = ?",
        metric,
        key,
      )
      .toArray()[0];
    const counts: number[] = row ? JSON.parse(row.counts) : new Array(DURATION_BUCKETS.length + 1).fill(0);
    const bucket = bucketOf(seconds);
    counts[bucket] = (counts[bucket] ?? 0) + 1;
    this.sql.exec(
      `INSERT INTO metric_histograms (metric, labels, counts, sum) VALUES (?, ?, ?, ?)
       ON CONFLICT (metric, labels) DO UPDATE SET counts = excluded.counts, sum = excluded.sum`,
      metric,
      key,
      JSON.stringify(counts),
      (row?.sum ?? 0) + seconds,
    );
  }

  /** One histogram series' counts (per bound plus +Inf), or null when it has none. */
  histogram(metric: MetricKey, labels: Record<string, string>): number[] | null {
    const row = this.sql
      .exec<{ counts: string }>(
        "SELECT counts FROM metric_histograms WHERE metric = ? AND labels = ?",
        metric,
        labelKey(labels),
      )
      .toArray()[0];
    return row === undefined ? null : (JSON.parse(row.counts) as number[]);
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
      .exec<{ metric: string; labels: string; counts: string; sum: number }>(
        "SELECT metric, labels, counts, sum FROM metric_histograms",
      )
      .toArray()
      .map((r) => ({
        metric: r.metric as MetricKey,
        labels: labelsFromKey(r.labels),
        counts: JSON.parse(r.counts),
        sum: r.sum,
      }));
  }
}

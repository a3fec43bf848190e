/**
 * "No state change" for the bad-input tests, over every store the Worker writes: KV and every
 * table of the Ledger (docs/storage-schema.md), not only the three `expectNoState` reads.
 *
 * One write is allowed by design: a refused webhook delivery is counted in `metric_values`
 * (`rejections`, after the answer, via `waitUntil`). That is observability, not state: no
 * delivery is remembered, no build, no KV key, no cost row, no alert.
 */

import { runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { expectNoState, kvKeys, ledger } from "./helpers.ts";

/**
 * Tables read separately or not at all: the metrics (compared by value), the schema's version,
 * and SQLite's own.
 */
const NOT_ROWS = new Set(["metric_values", "meta", "sqlite_sequence"]);
/**
 * Tables the Ledger's alarm changes by itself, after earlier accepted deliveries: it takes due
 * queue watches and sends alerts (compared apart, below), and takes rescue steps.
 */
const ALARM_TABLES = new Set(["outbox", "queue_watch", "rescues"]);

/** The counter a refused delivery increments. */
const REFUSAL_METRICS = ["rejections"];
/**
 * Counters the Ledger's alarm changes on its own, after an accepted delivery queued an alert.
 * The alarm runs whenever it is due, so a snapshot taken around a later request may see it.
 */
const ALARM_METRICS = ["notifications", "notificationRetries"];

export interface StateSnapshot {
  /** Every KV key name, sorted. */
  kv: string[];
  /** Rows per Ledger table, every table the Ledger has (listed from sqlite_master). */
  rows: Record<string, number>;
  /** metric_values rows as `metric labels → value`, except refusal counters. */
  metrics: Record<string, number>;
  /** Outbox rows as `id → kind`. */
  outbox: Record<number, string>;
  /** Job ids the queue watch holds. */
  watched: number[];
}

/** Everything the Worker has stored, read in one Ledger call. */
export async function stateSnapshot(): Promise<StateSnapshot> {
  const kv = (await kvKeys()).map((k) => k.name).sort();
  const ledgerState = await runInDurableObject(ledger(), (_instance, state) => {
    const sql = state.storage.sql;
    const exists = (table: string) =>
      sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", table).one()
        .n > 0;
    const rows: StateSnapshot["rows"] = {};
    const tables = sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'")
      .toArray()
      .map((r) => r.name)
      .filter((name) => !NOT_ROWS.has(name));
    for (const table of tables) rows[table] = sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
    const metrics: Record<string, number> = {};
    if (exists("metric_values")) {
      const all = sql.exec<{ metric: string; labels: string; value: number }>(
        "SELECT metric, labels, value FROM metric_values",
      );
      for (const row of all) {
        if (!REFUSAL_METRICS.includes(row.metric)) metrics[`${row.metric} ${row.labels}`] = row.value;
      }
    }
    const outbox: Record<number, string> = {};
    if (exists("outbox")) {
      for (const row of sql.exec<{ id: number; kind: string }>("SELECT id, kind FROM outbox"))
        outbox[row.id] = row.kind;
    }
    const watched = exists("queue_watch")
      ? sql
          .exec<{ job_id: number }>("SELECT job_id FROM queue_watch ORDER BY job_id")
          .toArray()
          .map((r) => r.job_id)
      : [];
    return { rows, metrics, outbox, watched };
  });
  return { kv, ...ledgerState };
}

/**
 * Asserts nothing is stored at all, from empty storage: `expectNoState`, plus no row in any other
 * Ledger table and no metric but the refusal counter.
 */
export async function expectNothingStored(): Promise<void> {
  await expectNoState();
  const state = await stateSnapshot();
  expect(state.kv).toEqual([]);
  expect(Object.keys(state.rows).length, "tables listed").toBeGreaterThan(10);
  for (const [table, n] of Object.entries(state.rows)) expect(n, `rows in ${table}`).toBe(0);
  expect(state.metrics, "metrics other than rejections").toEqual({});
}

/**
 * Asserts nothing changed since `before`, apart from what the Ledger's alarm does by itself for
 * earlier accepted deliveries: it takes due queue watches (rows only go), turns them into
 * `queued_too_long` alerts (rows only come, of that kind), and counts the alerts it sends.
 */
export async function expectUnchangedSince(
  before: StateSnapshot,
  context = "",
  allow: { newOrganisations?: number } = {},
): Promise<void> {
  const after = await stateSnapshot();
  expect(after.kv, `${context}KV keys`).toEqual(before.kv);
  expect(Object.keys(after.rows).sort(), `${context}tables`).toEqual(Object.keys(before.rows).sort());
  for (const table of Object.keys(before.rows).filter((t) => !ALARM_TABLES.has(t))) {
    if (table === "organisations" && allow.newOrganisations !== undefined) {
      const added = (after.rows[table] ?? 0) - (before.rows[table] ?? 0);
      expect(added, `${context}organisations listed`).toBeGreaterThanOrEqual(0);
      expect(added, `${context}organisations listed`).toBeLessThanOrEqual(allow.newOrganisations);
      continue;
    }
    expect(after.rows[table], `${context}rows in ${table}`).toBe(before.rows[table]);
  }
  const withoutAlarm = (metrics: Record<string, number>) =>
    Object.fromEntries(Object.entries(metrics).filter(([key]) => !ALARM_METRICS.includes(key.split(" ")[0] ?? "")));
  expect(withoutAlarm(after.metrics), `${context}metrics`).toEqual(withoutAlarm(before.metrics));
  const newAlerts = Object.entries(after.outbox).filter(([id]) => !(Number(id) in before.outbox));
  for (const [, kind] of newAlerts) expect(kind, `${context}new outbox row`).toBe("queued_too_long");
  const watchedBefore = new Set(before.watched);
  expect(
    after.watched.filter((id) => !watchedBefore.has(id)),
    `${context}new queue watches`,
  ).toEqual([]);
}

/**
 * The forecast's arithmetic on hand-made histories: hour-of-week bucketing, the decayed count
 * kept per hour, the weighted average read from it, the answer's shape and `?hours=`. Then the
 * same history through the Ledger's book over node:sqlite, counted only when a job starts.
 */
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import type { Book } from "../../worker/src/book.ts";
import {
  countStart,
  DECAY_PER_WEEK,
  expectedStarts,
  FORECAST_DEFAULT_HOURS,
  FORECAST_MAX_HOURS,
  FORECAST_NOTE,
  forecast,
  type HistoryRow,
  HOUR_MS,
  type HourHistory,
  hourOfWeek,
  parseForecastHours,
  updatePlan,
  WEEK_MS,
  weekOf,
} from "../../worker/src/core/index.ts";
import { parseSettings } from "../../worker/src/settings.ts";
import { ForecastStore } from "../../worker/src/store/forecast.ts";
import { migrate } from "../../worker/src/store/schema.ts";
import { intentOf } from "../support/intent.ts";
import { openBook } from "./open-book.ts";

/** Monday 2026-11-16 00:00 UTC: hour 0 of a week. */
const MONDAY = Date.parse("2026-11-16T00:00:00Z");
const d = DECAY_PER_WEEK;

/** Counts starts at each of `times`, in order, the way the store does (the class's start kept). */
function history(times: readonly number[]): Map<number, HourHistory> {
  const rows = new Map<number, HourHistory>();
  let since: number | null = null;
  for (const at of times) {
    since = Math.min(since ?? at, at);
    const hour = hourOfWeek(at);
    rows.set(hour, countStart(rows.get(hour) ?? null, at, since));
  }
  return rows;
}

describe("hourOfWeek: 0 is Monday 00:00–01:00 UTC, 167 is Sunday 23:00–24:00 UTC", () => {
  it("buckets instants by UTC weekday and hour", () => {
    expect(hourOfWeek(MONDAY)).toBe(0);
    expect(hourOfWeek(MONDAY + HOUR_MS - 1)).toBe(0);
    expect(hourOfWeek(MONDAY + HOUR_MS)).toBe(1);
    expect(hourOfWeek(Date.parse("2026-11-18T14:30:00Z"))).toBe(2 * 24 + 14);
    expect(hourOfWeek(Date.parse("2026-11-22T23:59:59Z"))).toBe(167);
    expect(hourOfWeek(Date.parse("2026-11-23T00:00:00Z"))).toBe(0);
    // UTC, whatever offset the instant was written with.
    expect(hourOfWeek(Date.parse("2026-11-16T01:30:00+02:00"))).toBe(hourOfWeek(Date.parse("2026-11-15T23:30:00Z")));
  });

  it("every hour of the week moves on to its next occurrence exactly one week index later", () => {
    for (let hour = 0; hour < 168; hour += 7) {
      const at = MONDAY + hour * HOUR_MS + 17 * 60_000;
      expect(hourOfWeek(at + WEEK_MS)).toBe(hourOfWeek(at));
      expect(weekOf(at + WEEK_MS)).toBe(weekOf(at) + 1);
    }
  });
});

describe("countStart: one decayed count per hour of the week, O(1) per start", () => {
  const nine = MONDAY + 9 * HOUR_MS;

  it("adds starts within an occurrence, and decays the past by 0.7 a week", () => {
    const first = countStart(null, nine + 60_000, nine + 60_000);
    expect(first).toEqual({ weight: 1, latest: 1, week: weekOf(nine), since: nine + 60_000 });
    const second = countStart(first, nine + 120_000, first.since);
    expect(second).toMatchObject({ weight: 2, latest: 2, week: weekOf(nine) });
    const nextWeek = countStart(second, nine + WEEK_MS, second.since);
    expect(nextWeek).toMatchObject({ latest: 1, week: weekOf(nine) + 1 });
    expect(nextWeek.weight).toBeCloseTo(2 * d + 1, 12);
    // Three weeks without a start at that hour, then one.
    const later = countStart(nextWeek, nine + 4 * WEEK_MS, nextWeek.since);
    expect(later.weight).toBeCloseTo((2 * d + 1) * d ** 3 + 1, 12);
    expect(later.since).toBe(nine + 60_000);
  });

  it("a late event from an earlier week is added with that week's weight", () => {
    const now = countStart(null, nine + 2 * WEEK_MS, nine + 2 * WEEK_MS);
    const late = countStart(now, nine + 5 * 60_000, now.since);
    expect(late).toMatchObject({ latest: 1, week: weekOf(nine) + 2, since: nine + 5 * 60_000 });
    expect(late.weight).toBeCloseTo(1 + d ** 2, 12);
  });
});

describe("expectedStarts: the weighted average of the past occurrences the history covers", () => {
  const slot = MONDAY + 3 * WEEK_MS + 9 * HOUR_MS;
  const at = (weeksBefore: number, minutes = 10) => slot - weeksBefore * WEEK_MS + minutes * 60_000;

  it("one week of history: last week's count", () => {
    const rows = history([at(1), at(1, 20), at(1, 30)]);
    expect(expectedStarts(rows.get(hourOfWeek(slot)) ?? null, at(1), slot)).toBe(3);
  });

  it("two weeks: (last week + 0.7 × the week before) ÷ (1 + 0.7)", () => {
    const rows = history([at(2), at(2, 11), at(2, 12), at(2, 13), at(1)]);
    expect(expectedStarts(rows.get(hourOfWeek(slot)) ?? null, at(2), slot)).toBeCloseTo((1 + 4 * d) / (1 + d), 12);
  });

  it("a steady rate reads as that rate however long the history, and habits that change are followed", () => {
    const steady = Array.from({ length: 20 }, (_, w) => [at(w + 1), at(w + 1, 20)]).flat();
    expect(expectedStarts(history(steady).get(hourOfWeek(slot)) ?? null, at(20), slot)).toBeCloseTo(2, 12);
    // Ten weeks of 4 starts, then three weeks of none: the expectation falls towards 0.
    const old = Array.from({ length: 10 }, (_, w) => [0, 1, 2, 3].map((m) => at(w + 4, m))).flat();
    const row = history(old).get(hourOfWeek(slot)) ?? null;
    const after = expectedStarts(row, at(13), slot) ?? Number.NaN;
    const exposure = (1 - d ** 13) / (1 - d);
    expect(after).toBeCloseTo((4 * d ** 3 * (1 - d ** 10)) / (1 - d) / exposure, 12);
    expect(after).toBeLessThan(4 * d ** 3 + 0.01);
  });

  it("an hour the history covers without a start expects 0; an hour it does not cover, null", () => {
    const rows = history([at(1)]);
    expect(expectedStarts(rows.get(hourOfWeek(slot + HOUR_MS)) ?? null, at(1), slot + HOUR_MS)).toBe(0);
    // History that began after last week's occurrence of the slot ended: nothing to go on.
    expect(expectedStarts(null, slot - WEEK_MS + HOUR_MS, slot)).toBeNull();
    expect(expectedStarts(null, slot - WEEK_MS + HOUR_MS - 1, slot)).toBe(0);
    expect(expectedStarts(null, null, slot)).toBeNull();
  });

  it("starts in the occurrence under way are not part of the hour's own forecast", () => {
    const rows = history([at(1), at(0, 5), at(0, 6)]);
    const row = rows.get(hourOfWeek(slot)) ?? null;
    expect(row).toMatchObject({ latest: 2, week: weekOf(slot) });
    expect(expectedStarts(row, at(1), slot)).toBeCloseTo(1, 12);
  });
});

describe("forecast: per hour from the one now is in, per class", () => {
  const now = MONDAY + 2 * WEEK_MS + 9 * HOUR_MS + 25 * 60_000;
  const rows: HistoryRow[] = [...history([now - WEEK_MS, now - WEEK_MS + 60_000, now - WEEK_MS + HOUR_MS])].map(
    ([hour, row]) => ({ runnerClass: "vps", hour, ...row }),
  );

  it("lists whole hours, each class's expected jobs to hundredths, null for a class without history", () => {
    const answer = forecast(rows, ["vps", "kvm2"], now, 3);
    expect(answer).toEqual({
      generated_at: new Date(now).toISOString(),
      hours: [
        { start: "2026-11-30T09:00:00.000Z", classes: { vps: { expected_jobs: 2 }, kvm2: { expected_jobs: null } } },
        { start: "2026-11-30T10:00:00.000Z", classes: { vps: { expected_jobs: 1 }, kvm2: { expected_jobs: null } } },
        { start: "2026-11-30T11:00:00.000Z", classes: { vps: { expected_jobs: 0 }, kvm2: { expected_jobs: null } } },
      ],
      note: FORECAST_NOTE,
    });
    // 1 start two weeks ago and 3 last week: (3 + 0.7) / 1.7 = 2.176…, rounded.
    const uneven = forecast(
      [...history([now - 2 * WEEK_MS, now - WEEK_MS, now - WEEK_MS + 1, now - WEEK_MS + 2])].map(([hour, row]) => ({
        runnerClass: "vps",
        hour,
        ...row,
      })),
      ["vps"],
      now,
      1,
    );
    expect(uneven.hours[0]?.classes.vps?.expected_jobs).toBe(2.18);
  });

  it("says it is for warm pools, not for scaling down", () => {
    expect(FORECAST_NOTE).toMatch(/warm pool/);
    expect(FORECAST_NOTE).toMatch(/keep a floor/);
    expect(FORECAST_NOTE).toMatch(/never sends a scale-down call/);
  });
});

describe("?hours=", () => {
  it(`defaults to ${FORECAST_DEFAULT_HOURS} and takes 1 to ${FORECAST_MAX_HOURS}`, () => {
    expect(parseForecastHours(null)).toEqual({ ok: true, value: FORECAST_DEFAULT_HOURS });
    expect(parseForecastHours("")).toEqual({ ok: true, value: FORECAST_DEFAULT_HOURS });
    expect(parseForecastHours("1")).toEqual({ ok: true, value: 1 });
    expect(parseForecastHours("48")).toEqual({ ok: true, value: 48 });
  });

  it.each(["0", "49", "-1", "2.5", "1e1", "six", "0x10", "1000"])("refuses %s", (text) => {
    const read = parseForecastHours(text);
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.error).toMatchObject({ code: "invalid_request" });
  });
});

describe("the Ledger's book counts a job start once, in its workflow_job transaction", () => {
  const settings = parseSettings({ WEBHOOK_SECRET: "s", API_TOKEN: "t" });
  const ALL_AT = Date.parse("2026-11-16T09:30:00Z");

  const open = () => openBook();

  /** A workflow_job delivery (GitHub's shape) for a job on vps, through the path a delivery takes. */
  function jobEvent(book: Book, id: number, action: "queued" | "in_progress" | "completed", startedAt: string | null) {
    const payload = {
      action,
      repository: { full_name: "acme/app" },
      workflow_job: {
        id,
        run_id: 7000 + id,
        run_attempt: 1,
        head_sha: "a".repeat(40),
        name: "build",
        status: action,
        conclusion: action === "completed" ? "success" : null,
        labels: ["self-hosted", "vps"],
        runner_name: action === "queued" ? null : "vps-1",
        runner_group_name: null,
        created_at: "2026-11-16T08:55:00Z",
        started_at: startedAt,
        completed_at: action === "completed" ? "2026-11-16T09:20:00Z" : null,
      },
    };
    const intent = intentOf("workflow_job", payload, settings.config);
    if (intent.kind !== "update") throw new Error(`not an update: ${JSON.stringify(intent)}`);
    const delivery = crypto.randomUUID();
    return book.accept(
      delivery,
      "workflow_job",
      updatePlan(intent, delivery, "2026-11-16T09:30:00Z"),
      {
        contentKey: intent.key,
      },
      ALL_AT,
    );
  }

  it("queued counts nothing; in_progress counts at its start time; completed and a redelivery count nothing more", () => {
    const { db, book } = open();
    const rows = () => new ForecastStore(db.sql).rows();
    jobEvent(book, 1, "queued", null);
    expect(rows()).toEqual([]);
    jobEvent(book, 1, "in_progress", "2026-11-16T09:01:00Z");
    expect(jobEvent(book, 1, "in_progress", "2026-11-16T09:01:00Z").duplicate).toBe(true);
    jobEvent(book, 1, "completed", "2026-11-16T09:01:00Z");
    expect(rows()).toEqual([
      {
        runnerClass: "vps",
        hour: 9,
        weight: 1,
        latest: 1,
        week: weekOf(Date.parse("2026-11-16T09:01:00Z")),
        since: Date.parse("2026-11-16T09:01:00Z"),
      },
    ]);
    // A job first seen completed started too, once.
    jobEvent(book, 2, "completed", "2026-11-16T09:05:00Z");
    expect(rows()).toMatchObject([{ hour: 9, weight: 2, latest: 2 }]);
    expect(book.forecast(1, undefined, Date.parse("2026-11-23T09:10:00Z")).hours[0]?.classes.vps).toEqual({
      expected_jobs: 2,
    });
  });

  it("a version 3 database gains the two tables and keeps the rest", () => {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    db.sql.exec("DROP TABLE warm_calls");
    db.sql.exec("DROP TABLE forecast_hours");
    db.sql.exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
    db.sql.exec("INSERT INTO routing_jobs (job_id, repository, at) VALUES (7, 'acme/app', 1)");
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(3);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM warm_calls").one().n).toBe(0);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM forecast_hours").one().n).toBe(0);
    expect(db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM routing_jobs").one().n).toBe(1);
  });
});

/**
 * Expected job starts per runner class for the coming hours, from an hour-of-week history: per
 * class and hour of the week (0 = Monday 00:00–01:00 UTC … 167 = Sunday 23:00–24:00 UTC), a
 * count of job starts in which each week counts {@link DECAY_PER_WEEK} as much as the week after
 * it, so the forecast follows a team whose habits change. Updated in O(1) per job start; bounded
 * by classes × 168 rows. For sizing a warm pool, never for scaling down: see docs/prewarm.md.
 */
import { fail, ok, type Result } from "./result.ts";

export const HOUR_MS = 60 * 60 * 1000;
export const WEEK_MS = 7 * 24 * HOUR_MS;
export const HOURS_PER_WEEK = 168;
/** How much a week's starts count one week later. */
export const DECAY_PER_WEEK = 0.7;
/** A history row not added to for this many weeks counts for less than 0.7^26 ≈ 0.0001: it is dropped. */
export const FORECAST_KEEP_WEEKS = 26;
export const FORECAST_DEFAULT_HOURS = 6;
export const FORECAST_MAX_HOURS = 48;

/** Said with every forecast: what it is for, and what it must not be used for. */
export const FORECAST_NOTE = `A forecast of job starts per runner class, for sizing a warm pool ahead of demand: the hour-of-week history of job starts, each week counting ${DECAY_PER_WEEK} as much as the next (null: no history covers that hour yet). It is not a reason to scale down: keep a floor of runners, since a forecast misses what has not happened before. The router never sends a scale-down call.`;

/** One (class, hour of week) of history. */
export interface HourHistory {
  /** Starts in this hour of the week, each week's weighted DECAY_PER_WEEK^(weeks before `week`). */
  weight: number;
  /** Starts in the occurrence `week` itself, unweighted (the hour may be in progress). */
  latest: number;
  /** The latest occurrence counted, as `weekOf` its time. */
  week: number;
  /** When the class's history began: its first counted job start (epoch ms). */
  since: number;
}

/** The hour of the week `ms` falls in: 0 for Monday 00:00–01:00 UTC, 167 for Sunday 23:00–24:00 UTC. */
export function hourOfWeek(ms: number): number {
  const date = new Date(ms);
  return ((date.getUTCDay() + 6) % 7) * 24 + date.getUTCHours();
}

/**
 * A number that grows by one from one occurrence of an hour of the week to the next (weeks
 * since the epoch, counted from Thursday 00:00 UTC: every hour of the week moves on once a week).
 */
export function weekOf(ms: number): number {
  return Math.floor(ms / WEEK_MS);
}

/**
 * Counts a job start at `at` into its hour's history (`row`, null when the hour has none yet;
 * `since`, the class's history start, for a new row). A start in an earlier occurrence than the
 * row's latest (a late event) is added with its own weight.
 */
export function countStart(row: HourHistory | null, at: number, since: number): HourHistory {
  const week = weekOf(at);
  if (row === null) return { weight: 1, latest: 1, week, since: Math.min(since, at) };
  const first = Math.min(row.since, at);
  if (week > row.week) {
    return { weight: row.weight * DECAY_PER_WEEK ** (week - row.week) + 1, latest: 1, week, since: first };
  }
  if (week === row.week) return { weight: row.weight + 1, latest: row.latest + 1, week, since: first };
  return { ...row, weight: row.weight + DECAY_PER_WEEK ** (row.week - week), since: first };
}

/**
 * Expected job starts in the hour starting at `slot` (a whole hour), from its hour-of-week's
 * `row` (null: no start was ever counted then) and the class's history start `since` (null: no
 * history). The weighted average over the past occurrences of that hour that the history
 * covers, the latest weighted 1: Σ starts × 0.7^age ÷ Σ 0.7^age. The occurrence in progress, if
 * `slot` is the current hour, is not part of it. Null when no past occurrence is covered.
 */
export function expectedStarts(row: HourHistory | null, since: number | null, slot: number): number | null {
  if (since === null) return null;
  // Past occurrences whose hour ended after the history began: the one a week before `slot`, and so on.
  const covered = Math.max(0, Math.ceil((slot + HOUR_MS - since) / WEEK_MS) - 1);
  if (covered === 0) return null;
  const exposure = (1 - DECAY_PER_WEEK ** covered) / (1 - DECAY_PER_WEEK);
  const week = weekOf(slot);
  let past = 0;
  if (row !== null && row.week < week) past = row.weight * DECAY_PER_WEEK ** (week - 1 - row.week);
  else if (row !== null) past = (row.weight - row.latest) / DECAY_PER_WEEK ** (row.week - week + 1);
  return past / exposure;
}

/** One row of history as the Ledger keeps it. */
export interface HistoryRow extends HourHistory {
  runnerClass: string;
  hour: number;
}

/** GET /forecast's answer. */
export interface Forecast {
  generated_at: string;
  hours: { start: string; classes: Record<string, { expected_jobs: number | null }> }[];
  note: string;
}

/**
 * The forecast for `classes` over `hours` whole hours from the one `now` is in, from the history
 * `rows`. Expected jobs are rounded to hundredths.
 */
export function forecast(
  rows: readonly HistoryRow[],
  classes: readonly string[],
  now: number,
  hours: number,
): Forecast {
  const byKey = new Map(rows.map((row) => [`${row.runnerClass}\n${row.hour}`, row]));
  const since = new Map<string, number>();
  for (const row of rows) since.set(row.runnerClass, Math.min(row.since, since.get(row.runnerClass) ?? row.since));
  const first = Math.floor(now / HOUR_MS) * HOUR_MS;
  return {
    generated_at: new Date(now).toISOString(),
    hours: Array.from({ length: hours }, (_, i) => {
      const slot = first + i * HOUR_MS;
      const hour = hourOfWeek(slot);
      const out: Record<string, { expected_jobs: number | null }> = {};
      for (const id of classes) {
        const expected = expectedStarts(byKey.get(`${id}\n${hour}`) ?? null, since.get(id) ?? null, slot);
        out[id] = { expected_jobs: expected === null ? null : Math.round(expected * 100) / 100 };
      }
      return { start: new Date(slot).toISOString(), classes: out };
    }),
    note: FORECAST_NOTE,
  };
}

/** `?hours=`: absent or empty for {@link FORECAST_DEFAULT_HOURS}, else a whole number 1 to {@link FORECAST_MAX_HOURS}. */
export function parseForecastHours(text: string | null): Result<number> {
  const value = (text ?? "").trim();
  if (value === "") return ok(FORECAST_DEFAULT_HOURS);
  const n = /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= FORECAST_MAX_HOURS)) {
    const shown = JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
    return fail("invalid_request", `hours ${shown}: must be a whole number from 1 to ${FORECAST_MAX_HOURS}`);
  }
  return ok(n);
}

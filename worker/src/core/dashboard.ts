import { base64Decode, base64Encode, latin1Bytes, latin1Text } from "./base64.ts";
import { BUILD_STATUSES, type BuildStatus } from "./builds.ts";
import { fnv1a32 } from "./choose.ts";
import { parseInstant } from "./costs.ts";
import { CONCLUSION_LABELS, NO_SUGGESTION } from "./effects.ts";
import type { FleetJob } from "./fleet.ts";
import { INSTALLATION_PAGE, INSTALLATION_STATUSES, type InstallationStatus } from "./installations.ts";
import { dict, isRecord, isRepository, shown } from "./names.ts";
import { fail, ok, type Result } from "./result.ts";
import { REQUIREMENTS, type Requirement } from "./types.ts";

/**
 * The operator dashboard's reads, pure: what the query strings of GET /builds, /queue and
 * /alerts may say (every problem at once, each a sentence), the opaque cursor of the build list,
 * the queue's hourly series and the jobs waiting past their target, the routing accuracy of a
 * period, and the shape of a published simulation.
 */

/** A query string's parameters in order, as `[...url.searchParams]` gives them. */
export type QueryParams = readonly (readonly [string, string])[];

const HOUR_MS = 3_600_000;

/** The hour since the epoch an instant falls in: the unit of the queue's series. */
export const epochHour = (ms: number): number => Math.floor(ms / HOUR_MS);

/** Problems listed in one answer before the rest are summed up (a query or body may hold thousands). */
const MAX_LISTED_PROBLEMS = 10;

/** The answer to a request with `problems`: each named, up to {@link MAX_LISTED_PROBLEMS}, then how many more. */
function refused<T>(problems: readonly string[]): Result<T> {
  const more = problems.length - MAX_LISTED_PROBLEMS;
  const listed = more > 0 ? [...problems.slice(0, MAX_LISTED_PROBLEMS), `and ${more} more`] : problems;
  return fail("invalid_request", ...listed);
}

/**
 * The parameters an endpoint takes, by name; an unknown or repeated name is a problem (a typo
 * must not silently widen a filter). An empty value counts as absent.
 */
function readQuery<K extends string>(params: QueryParams, allowed: readonly K[], problems: string[]) {
  const values = dict<string>();
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (!(allowed as readonly string[]).includes(name)) {
      problems.push(
        `unknown query parameter ${shown(name)}: ${allowed.length === 0 ? "this endpoint takes none" : `this endpoint takes ${allowed.join(", ")}`}`,
      );
    } else if (seen.has(name)) problems.push(`query parameter ${name} is given more than once`);
    else if (value.trim() !== "") values[name] = value.trim();
    seen.add(name);
  }
  return (name: K): string | null => values[name] ?? null;
}

/** A whole number in [min, max] (`fallback` when absent), else a problem. */
function wholeNumber(
  name: string,
  text: string | null,
  range: { min: number; max: number; fallback: number },
  problems: string[],
): number {
  if (text === null) return range.fallback;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (n >= range.min && n <= range.max) return n;
  problems.push(`${name} ${shown(text)}: must be a whole number from ${range.min} to ${range.max}`);
  return range.fallback;
}

/** One of `allowed`, else a problem naming them. */
function oneOf<T extends string>(
  name: string,
  text: string | null,
  allowed: readonly T[],
  problems: string[],
): T | null {
  if (text === null) return null;
  if ((allowed as readonly string[]).includes(text)) return text as T;
  problems.push(`${name} ${shown(text)}: must be one of ${allowed.join(", ")}`);
  return null;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** An ISO 8601 date-time with an offset (`Z` or `±hh:mm`), or a date (its 00:00 UTC); else a problem. */
function instant(name: string, text: string | null, problems: string[]): number | null {
  if (text === null) return null;
  const ms = parseInstant(DATE_ONLY.test(text) ? `${text}T00:00:00Z` : text);
  if (ms === null) {
    problems.push(
      `${name} ${shown(text)}: must be an ISO 8601 date-time with an offset, like 2026-11-20T12:00:00Z, or a date`,
    );
  }
  return ms;
}

// --- GET /builds ---------------------------------------------------------------------------

/** How many builds a page of GET /builds holds: 50 unless asked, at most 100. */
export const BUILD_PAGE = { min: 1, max: 100, fallback: 50 } as const;

/** The longest runner class name a filter may give (a class id is the configuration's choice). */
const MAX_RUNNER_FILTER = 100;

/** What GET /builds narrows the list to; null where it does not. */
export interface BuildFilters {
  /** Lower-cased `owner/name`. */
  repository: string | null;
  /** The class the decision named. */
  runner: string | null;
  requirement: Requirement | null;
  status: BuildStatus | null;
  conclusion: string | null;
  /** created_at ≥ since (epoch ms). */
  since: number | null;
  /** created_at < until (epoch ms). */
  until: number | null;
}

/** Where a page ends: the last build it showed, in the list's order (created_at, then build_id, both descending). */
export interface BuildCursor {
  createdAt: number;
  buildId: string;
}

export interface BuildQuery {
  filters: BuildFilters;
  limit: number;
  /** Builds strictly after this one in the list's order; null for the first page. */
  after: BuildCursor | null;
}

const BUILD_PARAMETERS = [
  "repository",
  "runner",
  "requirement",
  "status",
  "conclusion",
  "since",
  "until",
  "limit",
  "cursor",
] as const;

/** GET /builds' query: every problem at once, as one `invalid_request`. */
export function parseBuildQuery(params: QueryParams): Result<BuildQuery> {
  const problems: string[] = [];
  const get = readQuery(params, BUILD_PARAMETERS, problems);
  const repository = get("repository");
  if (repository !== null && !isRepository(repository)) {
    problems.push(`repository ${shown(repository)}: must be "owner/name"`);
  }
  const runner = get("runner");
  if (runner !== null && runner.length > MAX_RUNNER_FILTER) {
    problems.push(`runner is longer than ${MAX_RUNNER_FILTER} characters`);
  }
  const filters: BuildFilters = {
    repository: repository !== null && isRepository(repository) ? repository.toLowerCase() : null,
    runner,
    requirement: oneOf("requirement", get("requirement"), REQUIREMENTS, problems),
    status: oneOf("status", get("status"), BUILD_STATUSES, problems),
    conclusion: oneOf("conclusion", get("conclusion"), CONCLUSION_LABELS, problems),
    since: instant("since", get("since"), problems),
    until: instant("until", get("until"), problems),
  };
  if (filters.since !== null && filters.until !== null && filters.since >= filters.until) {
    problems.push("since must be before until");
  }
  const limit = wholeNumber("limit", get("limit"), BUILD_PAGE, problems);
  const cursor = get("cursor");
  let after: BuildCursor | null = null;
  if (cursor !== null && problems.length === 0) {
    const read = decodeCursor(cursor, filters);
    if (read.ok) after = read.value;
    else problems.push(...read.error.problems);
  }
  return problems.length > 0 ? refused(problems) : ok({ filters, limit, after });
}

/** The cursor format's version: a cursor of another version is refused, not misread. */
const CURSOR_VERSION = "1";
/** Longer than any cursor this code writes (a 141-character build id and four short fields, in base64url). */
const MAX_CURSOR = 256;
/** What a build id may hold (core/builds.ts `buildId`: 12 characters, a dash, a delivery id). */
const CURSOR_BUILD_ID = /^[A-Za-z0-9._:-]{1,141}$/;

/** FNV-1a (core/choose.ts) as 8 hex digits: a fingerprint, not a secret. */
const fnv1a = (text: string): string => fnv1a32(text).toString(16).padStart(8, "0");

/** The filters a cursor was given under, in a fixed order. */
const filtersPrint = (f: BuildFilters): string =>
  fnv1a(JSON.stringify([f.repository, f.runner, f.requirement, f.status, f.conclusion, f.since, f.until]));

/**
 * The opaque `next_cursor` after `last`, for the same `filters`: base64url (no padding) of
 * `version|created_at|build_id|filters' fingerprint|check`, the check a fingerprint of the rest.
 * It names a position only: anyone who may list builds may list the builds after it, so a check
 * (not a secret key) is enough to refuse a cursor that was cut or altered.
 */
export function encodeCursor(last: BuildCursor, filters: BuildFilters): string {
  const body = [CURSOR_VERSION, String(last.createdAt), last.buildId, filtersPrint(filters)].join("|");
  return toBase64url(`${body}|${fnv1a(body)}`);
}

/**
 * Reads a cursor for `filters`, strictly: canonical base64url of exactly the fields
 * {@link encodeCursor} writes, its check intact, given under the same filters (a cursor is a
 * position in one list; under other filters it means nothing).
 */
export function decodeCursor(text: string, filters: BuildFilters): Result<BuildCursor> {
  const malformed = () =>
    fail<BuildCursor>("invalid_request", "cursor is not one GET /builds gave: start again without it");
  if (text.length > MAX_CURSOR) return malformed();
  const plain = fromBase64url(text);
  if (plain === null) return malformed();
  const parts = plain.split("|");
  if (parts.length !== 5) return malformed();
  const [version, created, buildId, print, check] = parts as [string, string, string, string, string];
  if (version !== CURSOR_VERSION || !/^\d{1,15}$/.test(created) || !CURSOR_BUILD_ID.test(buildId)) return malformed();
  if (fnv1a(parts.slice(0, 4).join("|")) !== check) {
    return fail("invalid_request", "cursor was altered: start again without it");
  }
  if (print !== filtersPrint(filters)) {
    return fail("invalid_request", "cursor was given for other filters: start again without it, or keep the filters");
  }
  return ok({ createdAt: Number(created), buildId });
}

/** base64url without padding of a string of printable ASCII (what a cursor holds). */
const toBase64url = (ascii: string): string => base64Encode(latin1Bytes(ascii), "url");

/** The printable ASCII that `text` is the canonical base64url (no padding) of, or null. */
function fromBase64url(text: string): string | null {
  const bytes = text === "" ? null : base64Decode(text, "url");
  if (bytes === null || bytes.some((b) => b < 0x20 || b > 0x7e)) return null;
  return latin1Text(bytes);
}

// --- GET /queue ----------------------------------------------------------------------------

/** GET /queue's window: the last 24 hours unless asked, at most 48 (the `queue_hours` table keeps 48). */
export const QUEUE_WINDOW = { min: 1, max: 48, fallback: 24 } as const;

/** Jobs GET /queue lists as waiting past their target, the longest waits first. */
export const WAITING_LISTED = 50;

/** GET /queue's query. */
export function parseQueueQuery(params: QueryParams): Result<{ hours: number }> {
  const problems: string[] = [];
  const get = readQuery(params, ["hours"], problems);
  const hours = wholeNumber("hours", get("hours"), QUEUE_WINDOW, problems);
  return problems.length > 0 ? refused(problems) : ok({ hours });
}

/** One class's jobs that left the queue in one hour. */
export interface QueueHourRow {
  runnerClass: string;
  /** {@link epochHour} of when they started. */
  hour: number;
  jobs: number;
  /** Sum of their waits, in seconds. */
  seconds: number;
  maxSeconds: number;
  /** How many waited longer than their class's queue target. */
  overTarget: number;
}

export interface QueuePoint {
  hour: string;
  jobs: number;
  mean_seconds: number | null;
  max_seconds: number | null;
  over_target: number;
}

export interface WaitingJob {
  job_id: number;
  repository: string;
  runner_class: string | null;
  labels: string[];
  queued_at: string;
  waited_seconds: number;
  target_seconds: number;
}

/** GET /queue's answer. */
export interface QueueView {
  hours: number;
  /** The first hour's start. */
  from: string;
  /** The end of the last hour (the one now is in). */
  to: string;
  classes: Record<string, { target_seconds: number; series: QueuePoint[] }>;
  waiting_too_long: WaitingJob[];
}

/**
 * The queue over the last `hours` whole hours, the one `now` is in last: per class of
 * `targets` (every class of the pool, with its queue target), one point per hour, oldest first,
 * zero where no job left the queue; and the queued jobs waiting longer than their own target,
 * the longest first, at most {@link WAITING_LISTED}.
 */
export function queueView(input: {
  rows: readonly QueueHourRow[];
  targets: Readonly<Record<string, number>>;
  queued: readonly (FleetJob & { targetSeconds: number })[];
  hours: number;
  now: number;
}): QueueView {
  const { hours, now } = input;
  const last = epochHour(now);
  const first = last - hours + 1;
  const byKey = new Map(input.rows.map((row) => [`${row.runnerClass}\n${row.hour}`, row]));
  const classes: [string, QueueView["classes"][string]][] = [];
  for (const [id, target] of Object.entries(input.targets)) {
    const series: QueuePoint[] = [];
    for (let hour = first; hour <= last; hour++) {
      const row = byKey.get(`${id}\n${hour}`);
      const jobs = row?.jobs ?? 0;
      series.push({
        hour: new Date(hour * HOUR_MS).toISOString(),
        jobs,
        mean_seconds: row === undefined || jobs === 0 ? null : row.seconds / jobs,
        max_seconds: row === undefined || jobs === 0 ? null : row.maxSeconds,
        over_target: row?.overTarget ?? 0,
      });
    }
    classes.push([id, { target_seconds: target, series }]);
  }
  const waiting = input.queued
    .map((job) => ({ job, waited: Math.floor((now - job.since) / 1000) }))
    .filter(({ job, waited }) => waited > job.targetSeconds)
    .sort((a, b) => b.waited - a.waited || a.job.jobId - b.job.jobId)
    .slice(0, WAITING_LISTED)
    .map(({ job, waited }) => ({
      job_id: job.jobId,
      repository: job.repository,
      runner_class: job.runnerClass,
      labels: job.labels,
      queued_at: new Date(job.since).toISOString(),
      waited_seconds: waited,
      target_seconds: job.targetSeconds,
    }));
  return {
    hours,
    from: new Date(first * HOUR_MS).toISOString(),
    to: new Date((last + 1) * HOUR_MS).toISOString(),
    // Plain objects (keys as own properties all the same): the answer crosses the Ledger's RPC.
    classes: Object.fromEntries(classes),
    waiting_too_long: waiting,
  };
}

// --- GET /alerts ---------------------------------------------------------------------------

/** Where an alert is in the outbox: waiting to be sent (or retried), sent, or given up on. */
export const OUTBOX_STATUSES = ["pending", "sent", "failed"] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** How many alerts GET /alerts lists: 50 unless asked, at most 100. */
export const ALERT_PAGE = { min: 1, max: 100, fallback: 50 } as const;

/** GET /alerts' query. */
export function parseAlertQuery(params: QueryParams): Result<{ status: OutboxStatus | null; limit: number }> {
  const problems: string[] = [];
  const get = readQuery(params, ["status", "limit"], problems);
  const status = oneOf("status", get("status"), OUTBOX_STATUSES, problems);
  const limit = wholeNumber("limit", get("limit"), ALERT_PAGE, problems);
  return problems.length > 0 ? refused(problems) : ok({ status, limit });
}

// --- GET /installations --------------------------------------------------------------------

/** GET /installations' query: `status` (all unless given) and `limit`. */
export function parseInstallationQuery(
  params: QueryParams,
): Result<{ status: InstallationStatus | null; limit: number }> {
  const problems: string[] = [];
  const get = readQuery(params, ["status", "limit"], problems);
  const status = oneOf("status", get("status"), INSTALLATION_STATUSES, problems);
  const limit = wholeNumber("limit", get("limit"), INSTALLATION_PAGE, problems);
  return problems.length > 0 ? refused(problems) : ok({ status, limit });
}

/** A query string an endpoint takes nothing from: any parameter is a problem. */
export function parseNoQuery(params: QueryParams): Result<null> {
  const problems: string[] = [];
  readQuery(params, [], problems);
  return problems.length > 0 ? refused(problems) : ok(null);
}

// --- GET /costs: routing accuracy ------------------------------------------------------------

/** Jobs that finished, by the class the decision named and the class that ran them. */
export interface AccuracyRow {
  suggested: string;
  used: string;
  jobs: number;
}

export interface RoutingAccuracy {
  /** Finished jobs of builds the router named a class for. */
  jobs: number;
  /** Of those, the jobs that ran on the class named. */
  matched: number;
  /** matched / jobs; null without jobs. */
  rate: number | null;
  /** Every finished job, by the class named (`none` for builds nothing was routed for), then the class that ran it. */
  by_suggested: Record<string, Record<string, number>>;
}

/**
 * How often jobs ran where the router said, from the counts behind
 * `ci_router_routing_accuracy_total`: jobs of builds without a decision are listed under
 * `none` and left out of the rate (nothing was suggested for them).
 */
export function routingAccuracy(rows: readonly AccuracyRow[]): RoutingAccuracy {
  const bySuggested = new Map<string, Map<string, number>>();
  let jobs = 0;
  let matched = 0;
  for (const row of rows) {
    let used = bySuggested.get(row.suggested);
    if (used === undefined) bySuggested.set(row.suggested, (used = new Map()));
    used.set(row.used, (used.get(row.used) ?? 0) + row.jobs);
    if (row.suggested === NO_SUGGESTION) continue;
    jobs += row.jobs;
    if (row.suggested === row.used) matched += row.jobs;
  }
  // Plain objects (keys as own properties all the same): the answer crosses the Ledger's RPC.
  const by_suggested = Object.fromEntries([...bySuggested].map(([key, used]) => [key, Object.fromEntries(used)]));
  return { jobs, matched, rate: jobs === 0 ? null : matched / jobs, by_suggested };
}

// --- GET and PUT /simulation ----------------------------------------------------------------

/** A published simulation is kept whole, up to 256 KiB of JSON; of its figures, at most 32 policies. */
export const SIMULATION_LIMITS = { bytes: 256 * 1024, figures: 32 } as const;

/** What the dashboard reads of `npm run simulate -- --json`'s document; the rest is kept as it came. */
export interface SimulationDocument {
  trace: Record<string, unknown>;
  figures: ({ policy: string; cost_usd: number; queue_p95_s: number } & Record<string, unknown>)[];
  [field: string]: unknown;
}

/**
 * A document PUT /simulation may publish: an object with a `trace` object and a `figures` array
 * of at most {@link SIMULATION_LIMITS.figures} objects, each with a string `policy` and finite
 * numbers `cost_usd` and `queue_p95_s` (what the dashboard plots). Every problem is named.
 */
export function checkSimulation(value: unknown): Result<SimulationDocument> {
  if (!isRecord(value)) return fail("invalid_request", "the body must be a JSON object: npm run simulate -- --json");
  const problems: string[] = [];
  if (!isRecord(value.trace))
    problems.push("trace must be an object (the simulated trace's commits, jobs, start, end, source)");
  const figures = value.figures;
  if (!Array.isArray(figures)) problems.push("figures must be an array of each policy's figures");
  else {
    if (figures.length > SIMULATION_LIMITS.figures) {
      problems.push(`figures lists ${figures.length} policies: at most ${SIMULATION_LIMITS.figures}`);
    }
    for (const [i, figure] of figures.slice(0, SIMULATION_LIMITS.figures).entries()) {
      if (!isRecord(figure)) {
        problems.push(`figures.${i} must be an object`);
        continue;
      }
      if (typeof figure.policy !== "string") problems.push(`figures.${i}.policy must be a string`);
      for (const field of ["cost_usd", "queue_p95_s"]) {
        const n = figure[field];
        if (typeof n !== "number" || !Number.isFinite(n))
          problems.push(`figures.${i}.${field} must be a finite number`);
      }
    }
  }
  return problems.length > 0 ? refused(problems) : ok(value as SimulationDocument);
}

/**
 * `npm run soak [-- --days 365 --jobs-per-day 2000 --seed 7 --json OUT.json]`: a year of a busy
 * organisation's CI, compressed into minutes with an explicit clock, through the Ledger's own
 * code (the Book in worker/src/book.ts, over node:sqlite, as the Durable Object runs it over its
 * SQLite): every delivery planned as the Worker plans it, the alarm's maintenance every hour, the
 * Cron Trigger's job checks every five minutes against a GitHub that knows the truth.
 *
 * The organisation: 20 repositories, `--jobs-per-day` jobs (default 2,000) in builds of 1 to 8
 * jobs, on weekdays more than at weekends; most jobs on ephemeral runners (a new runner name for
 * every job), the rest on GitHub-hosted runners, a GPU box and a deploy host. 1% of `completed`
 * job events are lost (never delivered), 0.5% of deliveries come twice under a new delivery id (a
 * repository subscribed twice), 3% of builds are re-run, and production deploys wait hours for
 * an approval. The year starts on 2027-01-01, so it crosses every month boundary.
 *
 * It prints, per simulated month: the Ledger's state (bytes of values per table, and the database
 * file), CPU and wall time per delivery, the size of GET /fleet's answer, slots held by jobs that
 * ended long before, and builds and jobs counted twice; then checks the aims and exits 1 if one
 * is missed:
 * - every table whose retention is shorter than the soak is flat after its window: from month 2
 *   on, at most 5% larger than the month before (the 400-day cost totals grow by about the same
 *   amount each month instead, and are reported with their bound);
 * - CPU per delivery in the last month within 1.2x of the first (after a warm-up day not counted);
 * - no slot held by a job that ended more than 6 hours before (the longest a lost completion may
 *   wait for its check);
 * - nothing counted twice: builds, jobs and billed jobs equal what really happened.
 */
import { existsSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type AcceptOptions, Book } from "../worker/src/book.ts";
import {
  changesFromPush,
  type Intent,
  interpretEvent,
  ok,
  type Plan,
  routePlan,
  updatePlan,
} from "../worker/src/core/index.ts";
import { gaussian, mulberry32 } from "../worker/src/core/random.ts";
import type { JobLookup } from "../worker/src/github.ts";
import { parseSettings } from "../worker/src/settings.ts";
import { openSqlite } from "./sqlite.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const START = Date.UTC(2027, 0, 1);

/** The organisation's runner pool: ephemeral vps runners, a GPU box, a deploy host, GitHub's. */
const CONFIG = {
  runners: {
    vps: { capacity: 40 },
    "ai-lab": { machines: { "lab-1": { capacity: 2 } } },
    kvm4: { machines: { "kvm4-1": { capacity: 2 } } },
  },
};
const REPOSITORIES = Array.from({ length: 20 }, (_, i) => `acme/service-${String(i + 1).padStart(2, "0")}`);

/** What kind of work a job is, its labels, the runner it takes and its files. */
const KINDS = [
  { share: 0.55, labels: ["self-hosted", "vps"], runner: "ephemeral", files: ["services/api/Dockerfile"] },
  { share: 0.3, labels: ["ubuntu-latest"], runner: "hosted", files: ["docs/guide.md"] },
  { share: 0.1, labels: ["self-hosted", "vps"], runner: "ephemeral", files: ["src/main.go"] },
  { share: 0.03, labels: ["self-hosted", "ai-lab", "gpu"], runner: "lab-1", files: ["kernels/matmul.cu"] },
  {
    share: 0.02,
    labels: ["self-hosted", "cloudstartup", "kvm4"],
    runner: "kvm4-1",
    files: ["deploy/app.yaml"],
    approval: true,
  },
] as const;

interface Options {
  days: number;
  jobsPerDay: number;
  seed: number;
}

interface Delivery {
  at: number;
  event: string;
  payload: unknown;
  /** A second delivery of the same event under a new id. */
  copy?: boolean;
}

interface JobTruth {
  id: number;
  repository: string;
  startedAt: number;
  completedAt: number;
  /** The job as GitHub's jobs API gives it, in the state it is in at a time. */
  at: (now: number) => unknown;
}

interface MonthFigures {
  month: string;
  /** Ran to the month's end (the soak's last month may not). */
  complete: boolean;
  deliveries: number;
  /**
   * CPU per delivery of the same probe deliveries (a few builds' worth, rolled back after) on
   * this month's database against the first month's copy, interleaved at the month's end: the
   * growth of the Ledger's per-delivery cost, free of the machine's noise between months.
   */
  probe: { micros: number; baselineMicros: number; ratio: number };
  /** Per delivery: the median over the month's days of each day's mean (a noisy day weighs one day). */
  cpuMicros: number;
  wallMicros: number;
  /** Bytes of values per table, the mean over the month's Wednesdays (sampled at the day's end). */
  tableBytes: Record<string, number>;
  fileBytes: number;
  fleetBytes: number;
  heldPastReconciliation: number;
  countedTwice: { builds: number; jobs: number; billed: number };
  checks: Record<string, number>;
}

export async function runSoak(options: Options): Promise<{ months: MonthFigures[]; failures: string[] }> {
  const random = mulberry32(options.seed);
  const settings = parseSettings({ WEBHOOK_SECRET: "s", API_TOKEN: "t", ROUTING_CONFIG: JSON.stringify(CONFIG) });
  const db = openSqlite();
  const book = new Book({ sql: db.sql, transaction: db.transaction, settings: () => settings, wake: () => {} });

  let nextId = 1_000_000;
  let deliveryNumber = 0;
  /** Jobs not known to have ended yet, by id: what GitHub would answer about them. */
  const live = new Map<number, JobTruth>();
  const truth = { buildsCompleted: 0, jobsCompleted: 0 };
  const months: MonthFigures[] = [];

  const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const lognormal = (median: number, sigma: number) => median * Math.exp(sigma * gaussian(random));

  /** What a delivery of the organisation's reads as; it is never malformed. */
  function intentOf(event: string, payload: unknown): Intent {
    const read = interpretEvent(event, payload, settings.config);
    if (!read.ok) throw new Error(`soak ${event}: ${read.error.message}`);
    return read.value;
  }

  /** A delivery planned as the Worker plans it: what it hands the Ledger. */
  function plan(d: Delivery): [string, string, Plan, AcceptOptions] {
    const id = `soak-${++deliveryNumber}`;
    if (d.event === "push") {
      const intent = intentOf("push", d.payload);
      if (intent.kind !== "route" || intent.push === null) throw new Error("soak push did not route");
      const plan = routePlan(intent, changesFromPush(intent.push.commits), id, iso(d.at));
      return [id, "push", plan, { contentKey: intent.key }];
    }
    const intent = intentOf(d.event, d.payload);
    if (intent.kind !== "update") throw new Error(`soak ${d.event} did not update`);
    return [id, d.event, updatePlan(intent, id, iso(d.at)), { contentKey: intent.key }];
  }

  /** One build: its push, its run (re-run sometimes), its jobs; pushed onto `out`. */
  function build(at: number, out: Delivery[]): number {
    const repository = pick(REPOSITORIES);
    const sha = (nextId++).toString(16).padStart(40, "0");
    const kind = weighted(random, KINDS);
    const jobs = 1 + Math.floor(random() * 8);
    out.push({
      at,
      event: "push",
      payload: {
        ref: "approval" in kind ? "refs/heads/production" : "refs/heads/main",
        before: "1".repeat(40),
        after: sha,
        repository: { full_name: repository },
        commits: [{ added: [...kind.files], removed: [], modified: [] }],
      },
    });
    const attempts = random() < 0.03 ? 2 : 1;
    let clock = at + 5_000;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const runId = nextId++;
      const run = (action: string, when: number, conclusion: string | null = null) =>
        out.push({
          at: when,
          event: "workflow_run",
          payload: {
            action,
            repository: { full_name: repository },
            workflow_run: {
              id: runId,
              head_sha: sha,
              name: "ci",
              event: "push",
              status: action === "requested" ? "queued" : action,
              conclusion,
              run_attempt: attempt,
              run_started_at: iso(when),
              updated_at: iso(when),
            },
          },
        });
      run("requested", clock);
      run("in_progress", clock + 2_000);
      let end = clock;
      for (let j = 0; j < jobs; j++) {
        const id = nextId++;
        const created = clock + 3_000;
        const approved = "approval" in kind ? created + lognormal(2 * HOUR, 0.8) : created;
        const started = approved + lognormal(20_000, 1.2);
        const completed = started + lognormal(5 * MINUTE, 0.9);
        end = Math.max(end, completed);
        const runnerName =
          kind.runner === "ephemeral"
            ? `ephemeral-${id}`
            : kind.runner === "hosted"
              ? `GitHub Actions ${id % 50}`
              : kind.runner;
        const job = (action: string) => ({
          action,
          repository: { full_name: repository },
          workflow_job: {
            id,
            run_id: runId,
            run_attempt: attempt,
            head_sha: sha,
            name: `job-${j}`,
            status: action,
            conclusion: action === "completed" ? "success" : null,
            labels: [...kind.labels],
            runner_name: action === "in_progress" || action === "completed" ? runnerName : null,
            runner_group_name: null,
            created_at: iso(created),
            started_at: action === "in_progress" || action === "completed" ? iso(started) : null,
            completed_at: action === "completed" ? iso(completed) : null,
          },
        });
        if ("approval" in kind) out.push({ at: created, event: "workflow_job", payload: job("waiting") });
        out.push({ at: approved, event: "workflow_job", payload: job("queued") });
        out.push({ at: started, event: "workflow_job", payload: job("in_progress") });
        // 1% of completions are lost: GitHub never delivers them; a check finds them.
        if (random() >= 0.01) out.push({ at: completed, event: "workflow_job", payload: job("completed") });
        live.set(id, {
          id,
          repository,
          startedAt: started,
          completedAt: completed,
          at: (now) => job(now >= completed ? "completed" : now >= started ? "in_progress" : "queued").workflow_job,
        });
        truth.jobsCompleted++;
      }
      run("completed", end + 3_000, "success");
      truth.buildsCompleted++;
      clock = end + 10 * MINUTE;
    }
    return clock;
  }

  /** What GitHub's jobs API says at `now` about a job the fleet holds. */
  function lookup(jobId: number, now: number): JobLookup {
    const job = live.get(jobId);
    return job === undefined ? ok({ kind: "not_found" }) : ok({ kind: "job", job: job.at(now) });
  }

  const day = (n: number) => START + n * DAY;
  let baseline: ReturnType<typeof copyOf> | null = null;
  let probes = 0;
  let days: { cpu: number; wall: number; tables: Record<string, number> | null }[] = [];

  /** Bytes of the values each table holds. */
  function tableBytes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { name } of db.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .toArray()) {
      const columns = db.sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${name}')`).toArray();
      const sum = columns.map((c) => `COALESCE(LENGTH("${c.name}"), 0)`).join(" + ");
      out[name] = db.sql.exec<{ n: number | null }>(`SELECT SUM(${sum}) AS n FROM ${name}`).one().n ?? 0;
    }
    return out;
  }
  const warmup = 1;
  let pending: Delivery[] = [];
  let month: MonthFigures | null = null;
  for (let d = -warmup; d < options.days; d++) {
    const dayStart = day(d);
    const weekday = new Date(dayStart).getUTCDay();
    const jobsToday = Math.round(options.jobsPerDay * (weekday === 0 || weekday === 6 ? 0.4 : 1.24));
    const today: Delivery[] = [];
    let jobsMade = 0;
    while (jobsMade < jobsToday) {
      const before = truth.jobsCompleted;
      // Arrivals by hour of day: most during working hours.
      const hour = random() < 0.8 ? 8 + random() * 10 : random() * 24;
      build(dayStart + hour * HOUR, today);
      jobsMade += truth.jobsCompleted - before;
    }
    for (const delivery of [...today]) {
      if (random() < 0.005) today.push({ ...delivery, copy: true });
    }
    pending = [...pending, ...today].sort((a, b) => a.at - b.at);
    const dayEnd = dayStart + DAY;
    const todays = pending.filter((x) => x.at < dayEnd);
    pending = pending.filter((x) => x.at >= dayEnd);
    let next = 0;
    const today$ = { cpu: 0, wall: 0, deliveries: 0 };
    for (let tick = dayStart; tick < dayEnd; tick += 5 * MINUTE) {
      const until = tick + 5 * MINUTE;
      const planned: [number, ReturnType<typeof plan>][] = [];
      for (; next < todays.length && (todays[next] as Delivery).at < until; next++) {
        const d = todays[next] as Delivery;
        planned.push([d.at, plan(d)]);
      }
      // What the Ledger does per delivery, timed apart from planning it (the Worker's part).
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      for (const [at, [id, event, p, options]] of planned) book.accept(id, event, p, options, at);
      const used = process.cpuUsage(cpuBefore);
      today$.cpu += used.user + used.system;
      today$.wall += (performance.now() - wallBefore) * 1000;
      today$.deliveries += planned.length;
      // The Cron Trigger: ask GitHub about jobs held longer than usual.
      for (const job of book.dueChecks(until, 20)) {
        const result = book.applyCheck(job, lookup(job.jobId, until), until);
        if (month !== null) month.checks[result] = (month.checks[result] ?? 0) + 1;
      }
      if ((until - START) % HOUR === 0) book.maintain(until);
    }
    for (const [id, job] of live) if (job.completedAt < dayEnd - 7 * DAY) live.delete(id);
    if (month !== null) {
      month.deliveries += today$.deliveries;
      // State sampled on Wednesdays, the same day of every week (it follows the week's rhythm).
      days.push({
        cpu: today$.cpu / today$.deliveries,
        wall: today$.wall / today$.deliveries,
        tables: weekday === 3 || d === options.days - 1 ? tableBytes() : null,
      });
    }

    const endsMonth = d >= 0 && new Date(dayEnd).getUTCDate() === 1;
    if (d === -1 || endsMonth || d === options.days - 1) {
      if (month !== null) {
        month.complete = endsMonth;
        month.cpuMicros = median(days.map((x) => x.cpu));
        month.wallMicros = median(days.map((x) => x.wall));
        const sampled = days.flatMap((x) => (x.tables === null ? [] : [x.tables]));
        for (const table of Object.keys(sampled.at(-1) ?? {})) {
          month.tableBytes[table] = Math.round(sampled.reduce((n, x) => n + (x[table] ?? 0), 0) / sampled.length);
        }
        measure(month, dayEnd);
        if (baseline === null) baseline = copyOf(dayEnd, "baseline");
        const current = copyOf(dayEnd, "current");
        month.probe = compare(baseline, current);
        current.db.close();
        rmSync(current.path, { force: true });
        months.push(month);
        report(month, months.length === 1);
      }
      days = [];
      if (d < options.days - 1) {
        month = {
          month: new Date(dayEnd).toISOString().slice(0, 7),
          complete: false,
          deliveries: 0,
          probe: { micros: 0, baselineMicros: 0, ratio: 1 },
          cpuMicros: 0,
          wallMicros: 0,
          tableBytes: {},
          fileBytes: 0,
          fleetBytes: 0,
          heldPastReconciliation: 0,
          countedTwice: { builds: 0, jobs: 0, billed: 0 },
          checks: {},
        };
      }
    }
  }

  /**
   * A copy of the database as it is now, with a Book over it: the first month's, kept to compare
   * with, and each month's own, compared with it and dropped. Both sides are fresh copies, laid
   * out alike, so that the ratio is what the state's size and shape cost, not where the live
   * file's pages happen to sit.
   */
  function copyOf(
    now: number,
    name: string,
  ): { book: Book; db: ReturnType<typeof openSqlite>; now: number; path: string } {
    // In memory like the database it copies (tmpfs where there is one), without a journal on disk.
    const path = join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), `soak-${name}-${process.pid}.db`);
    rmSync(path, { force: true });
    db.db.exec(`VACUUM INTO '${path}'`);
    const copy = openSqlite(path);
    copy.db.exec("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000");
    const copyBook = new Book({
      sql: copy.sql,
      transaction: copy.transaction,
      settings: () => settings,
      wake: () => {},
    });
    return { book: copyBook, db: copy, now, path };
  }

  /** The same probe deliveries on the current database and on the baseline, alternately; CPU µs per delivery of each. */
  function compare(base: NonNullable<typeof baseline>, current: ReturnType<typeof copyOf>): MonthFigures["probe"] {
    // A warm-up round not counted, then rounds in which the two take turns going first; the
    // median of the rounds' ratios, so that a noisy moment weighs one round. Each half starts
    // from a collected heap (so neither pays for the other's garbage) and is timed on this
    // thread's CPU clock (SQLite runs here; the collector's helper threads and the rest of the
    // process are left out, as they are no delivery's work).
    const rounds = 24;
    const cpu = { current: 0, baseline: 0 };
    const ratios: number[] = [];
    let count = 0;
    for (let round = 0; round < rounds; round++) {
      const spent = { current: 0, baseline: 0 };
      const deliveries: Delivery[] = [];
      const saved = { nextId, ...truth };
      nextId = PROBE_IDS + ++probes * 100_000;
      for (let b = 0; b < 20; b++) build(b * 60_000, deliveries);
      // The probes' builds are no organisation's: not in the truth, and rolled back.
      ({ nextId, buildsCompleted: truth.buildsCompleted, jobsCompleted: truth.jobsCompleted } = saved);
      for (const id of live.keys()) if (id >= PROBE_IDS) live.delete(id);
      deliveries.sort((x, y) => x.at - y.at);
      const planned = deliveries.map((d) => plan(d));
      const pair = [
        [current.book, current.db, current.now],
        [base.book, base.db, base.now],
      ] as const;
      for (const [target, into, at] of round % 2 === 0 ? pair : [pair[1], pair[0]]) {
        collect();
        const before = process.threadCpuUsage();
        try {
          into.transaction(() => {
            for (const [i, [id, event, p, options]] of planned.entries()) {
              target.accept(id, event, p, options, at + (deliveries[i] as Delivery).at);
            }
            throw ROLLBACK;
          });
        } catch (error) {
          if (error !== ROLLBACK) throw error;
        }
        const used = process.threadCpuUsage(before);
        spent[target === current.book ? "current" : "baseline"] = used.user + used.system;
      }
      if (round === 0) continue;
      cpu.current += spent.current;
      cpu.baseline += spent.baseline;
      ratios.push(spent.current / spent.baseline);
      count += planned.length;
    }
    return { micros: cpu.current / count, baselineMicros: cpu.baseline / count, ratio: median(ratios) };
  }

  function measure(figures: MonthFigures, now: number): void {
    figures.fileBytes = db.size();
    figures.fleetBytes = JSON.stringify(book.fleetView(null)).length;
    // A slot held by a job that ended more than 6 hours ago: nothing reconciled it.
    let held = 0;
    for (const row of db.sql.exec<{ job_id: number }>("SELECT job_id FROM fleet_jobs WHERE state = 'busy'").toArray()) {
      const job = live.get(row.job_id);
      if (job !== undefined && job.completedAt < now - 6 * HOUR) held++;
    }
    figures.heldPastReconciliation = held;
    const counter = (metric: string) =>
      db.sql.exec<{ n: number | null }>("SELECT SUM(value) AS n FROM metric_values WHERE metric = ?", metric).one().n ??
      0;
    // What finished by now: jobs and builds whose end has passed (others are still running).
    const finished = countFinished(now);
    figures.countedTwice = {
      builds: Math.max(0, counter("builds") - finished.builds),
      jobs: Math.max(0, counter("jobs") - finished.jobs),
      billed: Math.max(
        0,
        (db.sql.exec<{ n: number | null }>("SELECT SUM(jobs) AS n FROM cost_months").one().n ?? 0) - finished.jobs,
      ),
    };
  }

  /** Builds and jobs that really finished before `now` (everything generated, less what is still to come). */
  function countFinished(now: number) {
    let builds = truth.buildsCompleted;
    let jobs = truth.jobsCompleted;
    for (const d of pending) {
      const p = d.payload as { action?: string };
      if (d.copy) continue;
      if (d.event === "workflow_run" && p.action === "completed") builds--;
    }
    for (const job of live.values()) if (job.completedAt >= now) jobs--;
    return { builds, jobs };
  }

  if (baseline !== null) {
    baseline.db.close();
    rmSync(baseline.path, { force: true });
  }
  return { months, failures: aims(months) };
}

function aims(months: MonthFigures[]): string[] {
  const failures: string[] = [];
  const first = months[0];
  const last = months.at(-1);
  if (first === undefined || last === undefined) return ["no month was simulated"];
  const growing = new Set(["cost_days", "cost_months"]);
  for (let m = 2; m < months.length; m++) {
    const before = months[m - 1] as MonthFigures;
    const now = months[m] as MonthFigures;
    if (!now.complete) continue;
    for (const [table, bytes] of Object.entries(now.tableBytes)) {
      if (growing.has(table)) continue;
      const was = before.tableBytes[table] ?? 0;
      if (bytes > was * 1.05 && bytes - was > 4096) {
        failures.push(`${now.month}: ${table} grew ${pct(bytes / Math.max(1, was) - 1)} (${was} → ${bytes} bytes)`);
      }
    }
  }
  const ratio = last.probe.ratio;
  if (ratio > 1.2) {
    failures.push(`CPU per delivery in ${last.month} is ${ratio.toFixed(2)}x ${first.month}'s (aim ≤ 1.2x)`);
  }
  for (const m of months) {
    if (m.heldPastReconciliation > 0)
      failures.push(`${m.month}: ${m.heldPastReconciliation} slots held past reconciliation`);
    const twice = m.countedTwice;
    if (twice.builds + twice.jobs + twice.billed > 0)
      failures.push(`${m.month}: counted twice ${JSON.stringify(twice)}`);
  }
  return failures;
}

/** Ids the probes use, far above the organisation's. */
const PROBE_IDS = 9_000_000_000;

/** Thrown to roll back a probe's transaction. */
const ROLLBACK = new Error("probe rolled back");

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const kb = (n: number) => `${(n / 1024).toFixed(0)}`;

const SHOWN = [
  "deliveries",
  "builds",
  "commits",
  "fleet_jobs",
  "machines",
  "cost_jobs",
  "cost_days",
  "outbox",
  "metric_values",
];

function report(m: MonthFigures, header: boolean): void {
  if (header) {
    console.log(
      `${"month".padEnd(8)}${"deliveries".padStart(11)}${"cpu µs".padStart(8)}${"wall µs".padStart(9)}${"probe µs".padStart(9)}${"vs 1st".padStart(7)}${"/fleet B".padStart(9)}${"held".padStart(5)}${"twice".padStart(6)}  state KiB: ${SHOWN.join(" ")} | file`,
    );
  }
  const twice = m.countedTwice.builds + m.countedTwice.jobs + m.countedTwice.billed;
  console.log(
    `${m.month.padEnd(8)}${String(m.deliveries).padStart(11)}${m.cpuMicros.toFixed(1).padStart(8)}${m.wallMicros.toFixed(1).padStart(9)}${m.probe.micros.toFixed(1).padStart(9)}${`${m.probe.ratio.toFixed(2)}x`.padStart(7)}${String(m.fleetBytes).padStart(9)}${String(m.heldPastReconciliation).padStart(5)}${String(twice).padStart(6)}  ${SHOWN.map((t) => kb(m.tableBytes[t] ?? 0)).join(" ")} | ${kb(m.fileBytes)}`,
  );
}

/** A full collection when the script runs with `--expose-gc` (as `npm run soak` does); nothing otherwise. */
function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function weighted<T extends { share: number }>(random: () => number, items: readonly T[]): T {
  let r = random();
  for (const item of items) {
    r -= item.share;
    if (r <= 0) return item;
  }
  return items.at(-1) as T;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      days: { type: "string", default: "365" },
      "jobs-per-day": { type: "string", default: "2000" },
      seed: { type: "string", default: "7" },
      json: { type: "string" },
    },
  });
  const options = { days: Number(values.days), jobsPerDay: Number(values["jobs-per-day"]), seed: Number(values.seed) };
  if (![options.days, options.jobsPerDay, options.seed].every((n) => Number.isInteger(n) && n > 0)) {
    console.error("usage: npm run soak [-- --days N --jobs-per-day N --seed N --json OUT.json]");
    process.exit(2);
  }
  const started = performance.now();
  console.log(
    `soak: ${options.days} days, ${options.jobsPerDay} jobs a day (weekdays more), ephemeral runners, 1% of completions lost, 0.5% of deliveries twice, 3% re-runs, approvals; seed ${options.seed}`,
  );
  const { months, failures } = await runSoak(options);
  console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (values.json) await writeFile(values.json, JSON.stringify({ options, months, failures }, null, 2));
  const first = months[0];
  const last = months.at(-1);
  if (first && last) {
    console.log(
      `CPU per delivery, ${last.month}'s database against ${first.month}'s, the same probe deliveries interleaved: ${last.probe.micros.toFixed(1)} µs against ${last.probe.baselineMicros.toFixed(1)} µs, ${last.probe.ratio.toFixed(2)}x (aim ≤ 1.2x)`,
    );
  }
  if (failures.length > 0) {
    console.log(`aims NOT met:\n  ${failures.join("\n  ")}`);
    process.exit(1);
  }
  console.log(
    "aims met: state flat after its retention windows, per-delivery CPU flat, no slot held past reconciliation, nothing counted twice",
  );
}

/**
 * What one whole build costs against the free plan's daily quotas: KV writes (1,000 a day),
 * Durable Object requests, the Durable Object's SQLite rows (100,000 written and 5 million read
 * a day), and subrequests to GitHub. Counted on the Worker's source under bindings that count
 * every call made through them, and in the Ledger by the counts workerd bills rows by.
 */

import {
  createExecutionContext,
  createScheduledController,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../../worker/src/app.ts";
import { scheduled } from "../../worker/src/scheduled.ts";
import { KV_WRITE_INTERVAL_MS } from "../../worker/src/store/builds.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import {
  deliver,
  expectRouted,
  type Fetch,
  ledger,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { runInProgressPayload, sleep } from "./observability.ts";

interface Counts {
  /** KV calls by method. */
  kv: Record<string, number>;
  /** Ledger (Durable Object) calls by method. */
  ledger: Record<string, number>;
  /** Outbound fetches by origin. */
  fetch: Record<string, number>;
}

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** `target` with every method call counted in `counts` by method name. */
function counted<T extends object>(target: T, counts: Record<string, number>): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        bump(counts, property);
        return Reflect.apply(value, object, args);
      };
    },
  });
}

let counts: Counts;
let via: Fetch;

/**
 * SQLite rows as Cloudflare bills a SQLite-backed Durable Object: each statement's cursor counts
 * the rows it read and wrote (index entries included), and each `setAlarm()` is one row written.
 */
interface Rows {
  read: number;
  written: number;
}

const ROWS = Symbol.for("pmoves-ci-orchestrator.test.rows");
type Tally = { cursors: { rowsRead: number; rowsWritten: number }[]; alarms: number };

/**
 * Counts every statement and alarm of every Ledger in this isolate from now on (the Ledgers run
 * in the tests' isolate, so patching the storage prototypes reaches them); `take()` returns the
 * rows since the last `take()`.
 */
async function countRows(): Promise<{ take: () => Rows }> {
  const tally = await runInDurableObject(ledger(), (_instance, state) => {
    const sql = Object.getPrototypeOf(state.storage.sql) as { exec: (...args: unknown[]) => unknown; [ROWS]?: Tally };
    const storage = Object.getPrototypeOf(state.storage) as { setAlarm: (...args: unknown[]) => Promise<void> };
    if (sql[ROWS] === undefined) {
      const counted: Tally = { cursors: [], alarms: 0 };
      const exec = sql.exec;
      sql.exec = function (this: unknown, ...args: unknown[]) {
        const cursor = Reflect.apply(exec, this, args) as Tally["cursors"][number];
        counted.cursors.push(cursor);
        return cursor;
      };
      const setAlarm = storage.setAlarm;
      storage.setAlarm = function (this: unknown, ...args: unknown[]) {
        counted.alarms += 1;
        return Reflect.apply(setAlarm, this, args) as Promise<void>;
      };
      sql[ROWS] = counted;
    }
    return sql[ROWS];
  });
  const take = (): Rows => {
    // A cursor's counts are final once its statement has run to the end, as every one has by now.
    const rows = {
      read: tally.cursors.reduce((sum, cursor) => sum + cursor.rowsRead, 0),
      written: tally.cursors.reduce((sum, cursor) => sum + cursor.rowsWritten, 0) + tally.alarms,
    };
    tally.cursors.length = 0;
    tally.alarms = 0;
    return rows;
  };
  take();
  return { take };
}

beforeEach(() => {
  counts = { kv: {}, ledger: {}, fetch: {} };
  const ledgers = {
    idFromName: (name: string) => env.LEDGER.idFromName(name),
    get: (id: DurableObjectId) => counted(env.LEDGER.get(id), counts.ledger),
  } as unknown as Cloudflare.Env["LEDGER"];
  const bindings: Cloudflare.Env = { ...env, CI_STATE: counted(env.CI_STATE, counts.kv), LEDGER: ledgers };
  via = async (request) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(request, bindings, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  const fetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    bump(counts.fetch, new URL(input instanceof Request ? input.url : String(input)).origin);
    return fetch(input, init);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Everything GitHub sends for a build after the event that routed it: its workflow run
 * requested, in progress and completed, and its jobs (two unless told) each queued, in progress
 * and completed. Nine deliveries for two jobs; answers checked.
 */
async function runBuild(repository: string, sha: string, buildId: string, jobCount = 2): Promise<void> {
  const runId = 10_000_000 + Math.floor(Math.random() * 1_000_000_000);
  const jobs = Array.from({ length: jobCount }, (_, i) => runId + 1 + i);
  const steps: [string, unknown][] = [
    ["workflow_run", workflowRunPayload({ repository, sha, action: "requested", id: runId })],
    ["workflow_run", runInProgressPayload({ repository, sha, id: runId })],
    ...jobs.flatMap((id) =>
      (["queued", "in_progress"] as const).map((action): [string, unknown] => [
        "workflow_job",
        workflowJobPayload({ repository, sha, action, id, runId }),
      ]),
    ),
    ...jobs.map((id): [string, unknown] => [
      "workflow_job",
      workflowJobPayload({ repository, sha, action: "completed", id, runId }),
    ]),
    ["workflow_run", workflowRunPayload({ repository, sha, action: "completed", id: runId, conclusion: "success" })],
  ];
  for (const [i, [event, payload]] of steps.entries()) {
    // A build takes minutes, not milliseconds: its record is not copied to KV twice within a second.
    if (i === steps.length - 1) await sleep(KV_WRITE_INTERVAL_MS);
    const answer = await deliver(event, payload, { via });
    expect(answer.status, answer.text).toBe(202);
    expect(answer.body).toEqual({ build_id: buildId });
  }
  const build = await env.CI_STATE.get<{ status: string; conclusion: string }>(`build:${buildId}`, "json");
  expect(build).toMatchObject({ status: "completed", conclusion: "success" });
}

describe("one whole build on the free plan", () => {
  it("a pushed build (10 deliveries) writes KV 2 times, reads it 0 times, calls the Ledger 10 times and GitHub 0 times", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha }), { via }));
    await runBuild(repository, sha, build_id);

    // KV: the build when routed, and once more when it completed.
    expect(counts.kv).toEqual({ put: 2 });
    // The Ledger: one call per delivery, which records it, counts it and answers it.
    expect(counts.ledger).toEqual({ accept: 10 });
    // The push listed its files: GitHub is never asked.
    expect(counts.fetch[FAKE_GITHUB_URL]).toBeUndefined();
  });

  it("a pull request's build (10 deliveries) writes KV 2 times, calls the Ledger 10 times and GitHub 1 time", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(
      await deliver("pull_request", pullRequestPayload({ repository, sha, number: 12 }), { via }),
    );
    await runBuild(repository, sha, build_id);

    expect(counts.kv).toEqual({ put: 2 });
    expect(counts.ledger).toEqual({ accept: 10 });
    // One page of the pull request's files (two files).
    expect(counts.fetch[FAKE_GITHUB_URL]).toBe(1);
  });

  it("a refused delivery writes no KV and makes 1 Ledger call, to count it", async () => {
    const answer = await deliver("push", pushPayload(), { via, secret: "not-the-secret" });
    expect(answer.status).toBe(401);
    expect(counts.kv).toEqual({});
    expect(counts.ledger).toEqual({ reject: 1 });
    expect(counts.fetch).toEqual({});
  });
});

/**
 * Rows a build writes and reads in the Ledger's SQLite, in steady state (the repository and
 * organisation already known, the day's and hour's counters already there), with room for an
 * hour or a day turning over during the build (a new counter row instead of an update).
 * Measured 127 written and 103 read for a build of two jobs, 43 and 38 for each more. The
 * README's budget quotes the figures.
 */
const ROWS_PER_BUILD = { written: 135, read: 115 };
const ROWS_PER_JOB = { written: 45, read: 42 };
/** The same for a build a pull request routed: measured 137 written and 216 read. */
const PULL_REQUEST_ROWS = { written: 145, read: 240 };
/**
 * Rows the alarm's prune writes when it deletes what a build left behind with a week's
 * retention or less (its deliveries, build record and commit, fleet rows, billed jobs): a
 * deleted row counts as written. Measured 17 for a build of two jobs and 5 for each more.
 */
const PRUNE_ROWS = { perBuild: 22, perJob: 6 };

/**
 * Whole builds of one new repository, each a new commit, routed by a push (or by a pull request
 * opened, each its own number): `build(jobs)` runs one of `jobs` jobs.
 */
function routedBuilds(event: "push" | "pull_request" = "push") {
  const repository = randomRepository();
  let number = 0;
  return async (jobs: number): Promise<void> => {
    const sha = randomSha();
    const payload =
      event === "push" ? pushPayload({ repository, sha }) : pullRequestPayload({ repository, sha, number: ++number });
    const { build_id } = expectRouted(await deliver(event, payload, { via }));
    await runBuild(repository, sha, build_id, jobs);
  };
}

describe("one whole build in the Ledger's storage (rows, as Cloudflare bills them)", () => {
  it(`a pushed build of two jobs writes at most ${ROWS_PER_BUILD.written} rows and reads at most ${ROWS_PER_BUILD.read}; each more job at most ${ROWS_PER_JOB.written} and ${ROWS_PER_JOB.read}`, async () => {
    const rows = await countRows();
    const build = routedBuilds();
    const measured = async (jobs: number) => {
      await build(jobs);
      return rows.take();
    };
    // The repository's first build also records it as served and creates its counters.
    await measured(2);
    const two = await measured(2);
    const six = await measured(6);
    const perJob = { written: (six.written - two.written) / 4, read: (six.read - two.read) / 4 };

    expect(two.written).toBeGreaterThan(0);
    expect(two.written).toBeLessThanOrEqual(ROWS_PER_BUILD.written);
    expect(two.read).toBeLessThanOrEqual(ROWS_PER_BUILD.read);
    expect(perJob.written).toBeGreaterThan(0);
    expect(perJob.written).toBeLessThanOrEqual(ROWS_PER_JOB.written);
    expect(perJob.read).toBeLessThanOrEqual(ROWS_PER_JOB.read);
  });

  it(`a pull request's build of two jobs writes at most ${PULL_REQUEST_ROWS.written} rows and reads at most ${PULL_REQUEST_ROWS.read}`, async () => {
    const rows = await countRows();
    const build = routedBuilds("pull_request");
    await build(2);
    rows.take();
    await build(2);
    const two = rows.take();
    expect(two.written).toBeGreaterThan(0);
    expect(two.written).toBeLessThanOrEqual(PULL_REQUEST_ROWS.written);
    expect(two.read).toBeLessThanOrEqual(PULL_REQUEST_ROWS.read);
  });

  it("a Cron Trigger run with no job to check (runner reconciliation off) writes nothing", async () => {
    const rows = await countRows();
    await routedBuilds()(2);
    rows.take();
    const ctx = createExecutionContext();
    await scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(rows.take().written).toBe(0);
  });

  it(`a week later, the prune deletes a two-job build's short-lived rows for at most ${PRUNE_ROWS.perBuild} rows written, and each more job's for ${PRUNE_ROWS.perJob}`, async () => {
    const rows = await countRows();
    const build = routedBuilds();
    /** The alarm's maintenance a week and a day from now, run until it has nothing more to prune; the rows it wrote. */
    const pruneAWeekLater = async (): Promise<Rows> => {
      rows.take();
      await runInDurableObject(ledger(), (instance) => {
        const { book } = instance as unknown as { book: { maintain: (now: number) => boolean } };
        const later = Date.now() + 8 * 86_400_000;
        for (let run = 0; run < 100 && book.maintain(later); run++);
      });
      return rows.take();
    };
    await build(2);
    // Whatever this Ledger held before is pruned here, so the next prunes see one build each.
    await pruneAWeekLater();
    await build(2);
    const two = await pruneAWeekLater();
    await build(6);
    const six = await pruneAWeekLater();

    expect(two.written).toBeGreaterThan(0);
    expect(two.written).toBeLessThanOrEqual(PRUNE_ROWS.perBuild);
    expect((six.written - two.written) / 4).toBeLessThanOrEqual(PRUNE_ROWS.perJob);
  });

  it("a refused delivery writes at most its counter's row and the alarm", async () => {
    const rows = await countRows();
    expect((await deliver("push", pushPayload(), { via, secret: "not-the-secret" })).status).toBe(401);
    expect(rows.take().written).toBeLessThanOrEqual(2);
  });
});

/**
 * The dashboard's reads in the core: what GET /builds, /queue and /alerts take (every problem
 * named, unknown parameters refused), the build list's cursor (strict: cut, altered or moved to
 * other filters, it is refused), the queue's hourly series, the jobs waiting past their target,
 * routing accuracy, and the shape a published simulation must have.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BUILD_PAGE,
  type BuildFilters,
  checkSimulation,
  decodeCursor,
  encodeCursor,
  epochHour,
  type FleetJob,
  parseAlertQuery,
  parseBuildQuery,
  parseNoQuery,
  parseQueueQuery,
  type QueueHourRow,
  queueView,
  type Result,
  routingAccuracy,
  WAITING_LISTED,
} from "../../worker/src/core/index.ts";

/** The parameters of a query string, as the Worker hands them to the core. */
const params = (query: string) => [...new URLSearchParams(query)];

/** The problems of a failed parse (the test fails if it did not fail). */
function problems<T>(result: Result<T>): string[] {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  expect(result.error.code).toBe("invalid_request");
  return result.error.problems;
}

function value<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`expected a value: ${result.error.message}`);
  return result.value;
}

const NO_FILTERS: BuildFilters = {
  repository: null,
  runner: null,
  requirement: null,
  status: null,
  conclusion: null,
  since: null,
  until: null,
};

describe("parseBuildQuery", () => {
  it("nothing asked: no filter, 50 a page, the first page", () => {
    expect(value(parseBuildQuery(params("")))).toEqual({ filters: NO_FILTERS, limit: 50, after: null });
    expect(BUILD_PAGE).toMatchObject({ min: 1, max: 100, fallback: 50 });
  });

  it("reads every filter: the repository lower-cased, dates as instants, [since, until)", () => {
    const query = value(
      parseBuildQuery(
        params(
          "repository=Acme/App&runner=vps&requirement=docker&status=completed&conclusion=failure&since=2026-11-01&until=2026-11-20T12:00:00%2B02:00&limit=100",
        ),
      ),
    );
    expect(query).toEqual({
      filters: {
        repository: "acme/app",
        runner: "vps",
        requirement: "docker",
        status: "completed",
        conclusion: "failure",
        since: Date.parse("2026-11-01T00:00:00Z"),
        until: Date.parse("2026-11-20T10:00:00Z"),
      },
      limit: 100,
      after: null,
    });
  });

  it("an empty value is no filter", () => {
    expect(value(parseBuildQuery(params("repository=&status=")))).toMatchObject({ filters: NO_FILTERS });
  });

  it.each([
    ["repos=acme/app", /unknown query parameter "repos"/],
    ["repository=acme", /repository "acme": must be "owner\/name"/],
    ["repository=acme/app/x", /must be "owner\/name"/],
    ["repository=../x", /must be "owner\/name"/],
    ["status=done", /status "done": must be one of routed, queued, in_progress, completed/],
    ["conclusion=ok", /conclusion "ok": must be one of success, failure/],
    ["requirement=cuda", /requirement "cuda": must be one of gpu, docker, deploy, lightweight, default/],
    ["since=yesterday", /since "yesterday": must be an ISO 8601 date-time/],
    ["until=2026-02-30", /until "2026-02-30"/],
    ["since=2026-11-20T12:00:00", /since .*with an offset/],
    ["since=2026-11-20&until=2026-11-20", /since must be before until/],
    ["since=2026-11-21&until=2026-11-20", /since must be before until/],
    ["limit=0", /limit "0": must be a whole number from 1 to 100/],
    ["limit=101", /limit "101"/],
    ["limit=1.5", /limit "1.5"/],
    ["limit=-1", /limit "-1"/],
    ["status=queued&status=completed", /status is given more than once/],
    [`runner=${"r".repeat(101)}`, /runner is longer than 100 characters/],
  ])("400 for %s", (query, problem) => {
    expect(problems(parseBuildQuery(params(query))).join("\n")).toMatch(problem);
  });

  it("names every problem at once, up to ten, then how many more", () => {
    expect(problems(parseBuildQuery(params("status=x&limit=0&foo=1")))).toHaveLength(3);
    const many = problems(parseBuildQuery(params(Array.from({ length: 500 }, (_, i) => `p${i}=1`).join("&"))));
    expect(many).toHaveLength(11);
    expect(many.at(-1)).toBe("and 490 more");
  });
});

describe("the build list's cursor", () => {
  const filters: BuildFilters = { ...NO_FILTERS, repository: "acme/app", status: "completed" };
  const last = { createdAt: 1_795_000_000_123, buildId: "6113728f27ae-72d3162e-cc78-11e3-81ab-4c9367dc0958" };

  it("is base64url without padding, and reads back as the position it was made at", () => {
    const cursor = encodeCursor(last, filters);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(value(decodeCursor(cursor, filters))).toEqual(last);
  });

  it("reads back any position, for any build id a delivery can make", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8_640_000_000_000 }),
        fc.stringMatching(/^[A-Za-z0-9._:-]{1,141}$/),
        (createdAt, buildId) => {
          const cursor = encodeCursor({ createdAt, buildId }, filters);
          expect(value(decodeCursor(cursor, filters))).toEqual({ createdAt, buildId });
        },
      ),
    );
  });

  it("is refused when any one character of it is changed, removed or added", () => {
    const cursor = encodeCursor(last, filters);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    fc.assert(
      fc.property(fc.nat(cursor.length - 1), fc.constantFrom(...alphabet), fc.nat(2), (at, char, how) => {
        const edited =
          how === 0
            ? `${cursor.slice(0, at)}${char}${cursor.slice(at + 1)}`
            : how === 1
              ? `${cursor.slice(0, at)}${cursor.slice(at + 1)}`
              : `${cursor.slice(0, at)}${char}${cursor.slice(at)}`;
        fc.pre(edited !== cursor);
        expect(decodeCursor(edited, filters).ok).toBe(false);
      }),
    );
  });

  it("says what is wrong: malformed, altered, or given for other filters", () => {
    expect(problems(decodeCursor("not a cursor!", filters))[0]).toMatch(/is not one GET \/builds gave/);
    expect(problems(decodeCursor("", filters))[0]).toMatch(/is not one/);
    expect(problems(decodeCursor("x".repeat(300), filters))[0]).toMatch(/is not one/);
    // A well-formed cursor whose time was moved, its check left as it was.
    const plain = Buffer.from(encodeCursor(last, filters), "base64url").toString("latin1");
    const moved = Buffer.from(plain.replace(String(last.createdAt), String(last.createdAt + 1))).toString("base64url");
    expect(problems(decodeCursor(moved, filters))[0]).toMatch(/was altered/);
    const other = { ...filters, status: "queued" as const };
    expect(problems(decodeCursor(encodeCursor(last, filters), other))[0]).toMatch(/other filters/);
  });

  it("is checked by parseBuildQuery under the query's own filters", () => {
    const cursor = encodeCursor(last, filters);
    expect(value(parseBuildQuery(params(`repository=acme/app&status=completed&cursor=${cursor}`))).after).toEqual(last);
    expect(problems(parseBuildQuery(params(`repository=acme/app&cursor=${cursor}`)))[0]).toMatch(/other filters/);
    expect(problems(parseBuildQuery(params("cursor=AAAA")))[0]).toMatch(/is not one/);
  });
});

describe("parseQueueQuery, parseAlertQuery, parseNoQuery", () => {
  it("hours: 24 unless asked, 1 to 48", () => {
    expect(value(parseQueueQuery(params("")))).toEqual({ hours: 24 });
    expect(value(parseQueueQuery(params("hours=1")))).toEqual({ hours: 1 });
    expect(value(parseQueueQuery(params("hours=48")))).toEqual({ hours: 48 });
    for (const bad of ["0", "49", "x", "2.5"]) {
      expect(problems(parseQueueQuery(params(`hours=${bad}`)))[0]).toMatch(
        /hours .*: must be a whole number from 1 to 48/,
      );
    }
    expect(problems(parseQueueQuery(params("hour=3")))[0]).toMatch(/unknown query parameter "hour"/);
  });

  it("alerts: any status unless asked, 50 unless asked, 1 to 100", () => {
    expect(value(parseAlertQuery(params("")))).toEqual({ status: null, limit: 50 });
    expect(value(parseAlertQuery(params("status=failed&limit=5")))).toEqual({ status: "failed", limit: 5 });
    expect(problems(parseAlertQuery(params("status=lost")))[0]).toMatch(/must be one of pending, sent, failed/);
    expect(problems(parseAlertQuery(params("limit=500")))[0]).toMatch(/1 to 100/);
    expect(problems(parseAlertQuery(params("kind=gpu_build")))[0]).toMatch(/unknown query parameter "kind"/);
  });

  it("an endpoint that takes nothing refuses any parameter", () => {
    expect(value(parseNoQuery(params("")))).toBeNull();
    expect(problems(parseNoQuery(params("x=1")))[0]).toMatch(/takes none/);
  });
});

const HOUR = 3_600_000;
const NOW = Date.parse("2026-11-20T12:34:56Z");

function queued(over: Partial<FleetJob> & { targetSeconds: number }): FleetJob & { targetSeconds: number } {
  return {
    jobId: 1,
    state: "queued",
    repository: "acme/app",
    runId: 9,
    runAttempt: 1,
    runnerClass: "vps",
    machine: null,
    labels: ["self-hosted", "vps"],
    since: NOW - 60_000,
    checkAt: null,
    checks: 0,
    expectedSeconds: null,
    ...over,
  };
}

describe("queueView", () => {
  const row = (over: Partial<QueueHourRow>): QueueHourRow => ({
    runnerClass: "vps",
    hour: epochHour(NOW),
    jobs: 2,
    seconds: 90,
    maxSeconds: 60,
    overTarget: 0,
    ...over,
  });

  it("one point per hour, oldest first, the hour now is in last, zero-filled, for every class", () => {
    const view = queueView({
      rows: [row({}), row({ hour: epochHour(NOW) - 2, jobs: 1, seconds: 700, maxSeconds: 700, overTarget: 1 })],
      targets: { vps: 600, "ai-lab": 900 },
      queued: [],
      hours: 3,
      now: NOW,
    });
    expect(view).toMatchObject({ hours: 3, from: "2026-11-20T10:00:00.000Z", to: "2026-11-20T13:00:00.000Z" });
    expect(Object.keys(view.classes).sort()).toEqual(["ai-lab", "vps"]);
    expect(view.classes.vps).toEqual({
      target_seconds: 600,
      series: [
        { hour: "2026-11-20T10:00:00.000Z", jobs: 1, mean_seconds: 700, max_seconds: 700, over_target: 1 },
        { hour: "2026-11-20T11:00:00.000Z", jobs: 0, mean_seconds: null, max_seconds: null, over_target: 0 },
        { hour: "2026-11-20T12:00:00.000Z", jobs: 2, mean_seconds: 45, max_seconds: 60, over_target: 0 },
      ],
    });
    expect(view.classes["ai-lab"]?.series.map((p) => p.jobs)).toEqual([0, 0, 0]);
  });

  it("leaves out rows outside the window and classes outside the pool", () => {
    const view = queueView({
      rows: [row({ hour: epochHour(NOW) - 5 }), row({ runnerClass: "gone" })],
      targets: { vps: 600 },
      queued: [],
      hours: 2,
      now: NOW,
    });
    expect(Object.keys(view.classes)).toEqual(["vps"]);
    expect(view.classes.vps?.series.every((p) => p.jobs === 0)).toBe(true);
  });

  it("lists queued jobs waiting longer than their own target, longest first, at most 50", () => {
    const jobs = [
      queued({ jobId: 1, since: NOW - 601_000, targetSeconds: 600 }),
      queued({ jobId: 2, since: NOW - 600_000, targetSeconds: 600 }),
      queued({ jobId: 3, since: NOW - 3 * HOUR, targetSeconds: 7200, runnerClass: null, labels: ["weird"] }),
      queued({ jobId: 4, since: NOW - 200_000, targetSeconds: 120 }),
    ];
    const view = queueView({ rows: [], targets: {}, queued: jobs, hours: 1, now: NOW });
    expect(view.waiting_too_long).toEqual([
      {
        job_id: 3,
        repository: "acme/app",
        runner_class: null,
        labels: ["weird"],
        queued_at: new Date(NOW - 3 * HOUR).toISOString(),
        waited_seconds: 10_800,
        target_seconds: 7200,
      },
      expect.objectContaining({ job_id: 1, waited_seconds: 601, target_seconds: 600 }),
      expect.objectContaining({ job_id: 4, waited_seconds: 200, target_seconds: 120 }),
    ]);
    const many = Array.from({ length: 80 }, (_, i) =>
      queued({ jobId: i + 1, since: NOW - (1000 + i) * 1000, targetSeconds: 600 }),
    );
    const listed = queueView({ rows: [], targets: {}, queued: many, hours: 1, now: NOW }).waiting_too_long;
    expect(listed).toHaveLength(WAITING_LISTED);
    expect(listed[0]?.job_id).toBe(80);
  });
});

describe("routingAccuracy", () => {
  it("counts jobs that ran where the decision said; jobs of builds without a decision are listed, not rated", () => {
    const accuracy = routingAccuracy([
      { suggested: "vps", used: "vps", jobs: 6 },
      { suggested: "vps", used: "kvm2", jobs: 2 },
      { suggested: "ai-lab", used: "ai-lab", jobs: 2 },
      { suggested: "none", used: "github-hosted", jobs: 5 },
    ]);
    expect(accuracy).toEqual({
      jobs: 10,
      matched: 8,
      rate: 0.8,
      by_suggested: {
        vps: { vps: 6, kvm2: 2 },
        "ai-lab": { "ai-lab": 2 },
        none: { "github-hosted": 5 },
      },
    });
  });

  it("no jobs: a rate of null", () => {
    expect(routingAccuracy([])).toEqual({ jobs: 0, matched: 0, rate: null, by_suggested: {} });
  });

  it("class names are keys like any other", () => {
    const accuracy = routingAccuracy([{ suggested: "__proto__", used: "constructor", jobs: 1 }]);
    expect(Object.hasOwn(accuracy.by_suggested, "__proto__")).toBe(true);
    expect(Object.entries(accuracy.by_suggested)).toEqual([["__proto__", { constructor: 1 }]]);
  });
});

describe("checkSimulation", () => {
  const figure = { policy: "router", cost_usd: 12.5, queue_p95_s: 30, ttg_p50_s: 100 };
  const document = { trace: { commits: 3, jobs: 9, start: "s", end: "e", source: "synthetic" }, figures: [figure] };

  it("takes the simulator's document, keeping every field", () => {
    const extra = { ...document, aims: [{ name: "x" }], cpu_ms: 10, wall_ms: 20 };
    expect(value(checkSimulation(extra))).toEqual(extra);
  });

  it.each([
    [null, /must be a JSON object/],
    [[], /must be a JSON object/],
    [{ figures: [figure] }, /trace must be an object/],
    [{ ...document, trace: "t" }, /trace must be an object/],
    [{ trace: {} }, /figures must be an array/],
    [{ ...document, figures: [3] }, /figures.0 must be an object/],
    [{ ...document, figures: [{ ...figure, policy: 1 }] }, /figures.0.policy must be a string/],
    [{ ...document, figures: [{ ...figure, cost_usd: "1" }] }, /figures.0.cost_usd must be a finite number/],
    [{ ...document, figures: [{ ...figure, queue_p95_s: Number.POSITIVE_INFINITY }] }, /queue_p95_s must be a finite/],
    [{ ...document, figures: [figure, { ...figure, cost_usd: null }] }, /figures.1.cost_usd/],
    [{ ...document, figures: Array.from({ length: 33 }, () => figure) }, /figures lists 33 policies: at most 32/],
  ])("refuses %j", (body, problem) => {
    expect(problems(checkSimulation(body)).join("\n")).toMatch(problem);
  });

  it("32 policies is the most", () => {
    expect(checkSimulation({ ...document, figures: Array.from({ length: 32 }, () => figure) }).ok).toBe(true);
  });

  it("lists at most ten problems, then says how many more", () => {
    const bad = { trace: {}, figures: Array.from({ length: 20 }, () => ({})) };
    const listed = problems(checkSimulation(bad));
    expect(listed).toHaveLength(11);
    expect(listed.at(-1)).toMatch(/^and \d+ more$/);
  });
});

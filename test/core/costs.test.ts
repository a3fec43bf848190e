import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AVERAGE_MONTH_DAYS,
  type CostJob,
  costLineOf,
  costReport,
  DEFAULT_RUNNERS,
  fail,
  jobMinutes,
  ok,
  parsePeriod,
  parseRoutingConfig,
  type Requirement,
  type Runner,
  splitCents,
} from "../../worker/src/core/index.ts";

const DAY_MS = 86_400_000;
const START = "2024-01-01T00:00:00.000Z";
/** One average month (30.4375 days) after START: a monthly price is charged exactly once. */
const MONTH_END = new Date(Date.parse(START) + AVERAGE_MONTH_DAYS * DAY_MS).toISOString();
const MONTH = { start: START, end: MONTH_END };

/**
 * The report for finished jobs, each a billed line of one job. Which jobs fall in a period, and
 * billing each attempt once, is the cost ledger's part (test/core/book.test.ts).
 */
function reportOf(
  list: readonly CostJob[],
  runners: Record<string, Runner>,
  ...rest: [Parameters<typeof costReport>[2], Parameters<typeof costReport>[3]?]
) {
  return costReport(
    list.map((j) => costLineOf(j, runners)),
    runners,
    ...rest,
  );
}

let nextId = 1;

/** A job that ran `seconds` and completed at `completedAt`. */
function job(
  runner: string,
  seconds: number,
  over: Partial<CostJob> & { completedAt?: string; requirement?: Requirement | null } = {},
): CostJob {
  const { completedAt = "2024-01-10T12:00:00.000Z", ...rest } = over;
  const end = Date.parse(completedAt);
  return {
    job_id: nextId++,
    run_attempt: 1,
    repository: "pmoves/app",
    requirement: "default",
    runner,
    suggested: runner,
    started_at: new Date(end - seconds * 1000).toISOString(),
    completed_at: completedAt,
    arm: null,
    ...rest,
  };
}

/** `n` jobs of `seconds` each, completing an hour apart from `firstHour` hours into January. */
function jobs(n: number, runner: string, seconds: number, requirement: Requirement, firstHour: number): CostJob[] {
  return Array.from({ length: n }, (_, i) =>
    job(runner, seconds, {
      requirement,
      completedAt: new Date(Date.parse(START) + (firstHour + i) * 3_600_000).toISOString(),
    }),
  );
}

describe("jobMinutes: GitHub bills each job rounded up to the whole minute", () => {
  const at = (started_at: string, completed_at: string) => ({ started_at, completed_at });
  it.each([
    ["0 s", at("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"), 0],
    ["1 s", at("2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"), 1],
    ["60 s", at("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"), 1],
    ["61 s", at("2024-01-01T00:00:00Z", "2024-01-01T00:01:01Z"), 2],
    ["60.001 s", at("2024-01-01T00:00:00.000Z", "2024-01-01T00:01:00.001Z"), 2],
    ["2 min 30 s", at("2024-01-01T00:00:00Z", "2024-01-01T00:02:30Z"), 3],
    ["1 h", at("2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"), 60],
    ["offsets", at("2024-01-01T02:00:00+02:00", "2024-01-01T00:05:00Z"), 5],
    ["across midnight", at("2023-12-31T23:59:30Z", "2024-01-01T00:00:45Z"), 2],
    ["completed before started", at("2024-01-01T00:05:00Z", "2024-01-01T00:00:00Z"), 0],
    ["unparseable start", at("soon", "2024-01-01T00:00:00Z"), 0],
    ["unparseable end", at("2024-01-01T00:00:00Z", ""), 0],
    ["no offset (local time is ambiguous)", at("2024-01-01T00:00:00", "2024-01-01T00:10:00"), 0],
    ["impossible date", at("2024-02-30T00:00:00Z", "2024-03-01T00:10:00Z"), 0],
    ["leap day", at("2024-02-29T23:59:00Z", "2024-03-01T00:01:00Z"), 2],
    ["impossible hour", at("2024-03-01T24:00:00Z", "2024-03-01T24:10:00Z"), 0],
  ])("%s → %i", (_, times, minutes) => {
    expect(jobMinutes(times)).toBe(minutes);
  });
});

/**
 * The pool with the $0.04 a minute GitHub-hosted rate the product's first cost tables used
 * (examples/seed-month.json): the 500-build month below is priced with it, as it was written.
 */
const SEED_RUNNERS: Record<string, Runner> = parseRoutingConfig(
  JSON.parse(readFileSync(new URL("../../examples/seed-month.json", import.meta.url), "utf8")),
).defaults.runners;

describe("costReport: a 500-build month", () => {
  // 450 builds on the self-hosted VPSes, 7,375 minutes in all...
  const selfHosted = [
    ...jobs(300, "vps", 17 * 60, "docker", 0), // 5,100 min
    ...jobs(100, "kvm2", 15 * 60, "default", 300), // 1,500 min
    ...jobs(25, "kvm4", 15 * 60, "deploy", 400), // 375 min
    ...jobs(25, "kvm4", 15 * 60 + 30, "deploy", 425), // 15 min 30 s bills 16: 400 min
  ];
  // ...and 50 on GitHub-hosted runners, 2.5 billable minutes on average: 125 minutes.
  const hosted = [
    ...jobs(25, "github-hosted", 120, "lightweight", 450), // 2 min each
    ...jobs(25, "github-hosted", 150, "lightweight", 475), // 2 min 30 s bills 3 each
  ];
  const report = reportOf([...selfHosted, ...hosted], SEED_RUNNERS, MONTH);

  it("costs $30 fixed + $5 hosted = $35, against $300 on GitHub-hosted alone: $265 saved, 88.3%", () => {
    expect(report.period).toEqual({ start: START, end: "2024-01-31T10:30:00.000Z", days: 30.4375 });
    expect(report.totals).toEqual({
      jobs: 500,
      minutes: 7500,
      cost_usd: 35,
      per_minute_usd: 5,
      fixed_usd: 30,
      unallocated_usd: 0,
      unpriced: { jobs: 0, minutes: 0 },
    });
    expect(report.baseline).toEqual({
      runner: "github-hosted",
      per_minute_usd: 0.04,
      jobs: 500,
      minutes: 7500,
      cost_usd: 300,
      not_possible: { jobs: 0, minutes: 0 },
    });
    expect(report.savings).toEqual({ usd: 265, percent: 88.3 });
  });

  it("at GitHub's own $0.006 a minute (the default pool) the same month is $30.75 against a $45 baseline", () => {
    const atGitHubPrices = reportOf([...selfHosted, ...hosted], DEFAULT_RUNNERS, MONTH);
    expect(atGitHubPrices.totals.cost_usd).toBe(30.75);
    expect(atGitHubPrices.baseline.cost_usd).toBe(45);
    expect(atGitHubPrices.savings).toEqual({ usd: 14.25, percent: 31.7 });
  });

  it("breaks the month down by runner, requirement and repository", () => {
    expect(report.by_runner).toEqual({
      "ai-lab": { minutes: 0, jobs: 0, cost_usd: 0, model: "monthly" },
      vps: { minutes: 5100, jobs: 300, cost_usd: 10, model: "monthly" },
      kvm4: { minutes: 775, jobs: 50, cost_usd: 10, model: "monthly" },
      "github-hosted": { minutes: 125, jobs: 50, cost_usd: 5, model: "per_minute" },
      kvm2: { minutes: 1500, jobs: 100, cost_usd: 10, model: "monthly" },
    });
    expect(report.by_requirement).toEqual({
      docker: { minutes: 5100, jobs: 300, cost_usd: 10 },
      default: { minutes: 1500, jobs: 100, cost_usd: 10 },
      deploy: { minutes: 775, jobs: 50, cost_usd: 10 },
      lightweight: { minutes: 125, jobs: 50, cost_usd: 5 },
    });
    expect(report.by_repository).toEqual({ "pmoves/app": { minutes: 7500, jobs: 500, cost_usd: 35 } });
  });
});

describe("costReport", () => {
  it("keeps GPU builds out of the baseline's dollars: GitHub-hosted cannot run them", () => {
    const report = reportOf(
      [
        job("ai-lab", 10 * 60, { requirement: "gpu" }),
        // Ran on a runner labelled gpu, whatever its requirement says.
        job("ai-lab", 4 * 60, { requirement: null }),
        job("github-hosted", 5 * 60, { requirement: "lightweight" }),
      ],
      SEED_RUNNERS,
      MONTH,
    );
    expect(report.baseline).toEqual({
      runner: "github-hosted",
      per_minute_usd: 0.04,
      jobs: 1,
      minutes: 5,
      cost_usd: 0.2,
      not_possible: { jobs: 2, minutes: 14 },
    });
    expect(report.totals.minutes).toBe(19);
    // $30 of VPSes nobody used this month, plus 5 hosted minutes.
    expect(report.totals.cost_usd).toBe(30.2);
    expect(report.savings).toEqual({ usd: -30, percent: -15000 });
  });

  it("a gpu requirement is not possible on GitHub-hosted even when the job ran elsewhere", () => {
    const report = reportOf([job("vps", 60, { requirement: "gpu" })], SEED_RUNNERS, MONTH);
    expect(report.baseline.not_possible).toEqual({ jobs: 1, minutes: 1 });
    expect(report.baseline.cost_usd).toBe(0);
    expect(report.savings).toEqual({ usd: -30, percent: null });
  });

  it("bills minutes rounded up: a 61 s job costs 2 minutes", () => {
    const report = reportOf([job("github-hosted", 61, { requirement: "lightweight" })], SEED_RUNNERS, MONTH);
    expect(report.by_runner["github-hosted"]).toEqual({ minutes: 2, jobs: 1, cost_usd: 0.08, model: "per_minute" });
    expect(report.baseline.minutes).toBe(2);
  });

  it("allocates a fixed cost to repositories and requirements in proportion to their minutes", () => {
    const runners: Record<string, Runner> = {
      vps: { ...(SEED_RUNNERS.vps as Runner), cost: { monthlyUsd: 12 } },
      "github-hosted": SEED_RUNNERS["github-hosted"] as Runner,
    };
    const report = reportOf(
      [
        job("vps", 30 * 60, { repository: "pmoves/a", requirement: "docker" }),
        job("vps", 10 * 60, { repository: "pmoves/b", requirement: "default" }),
        job("github-hosted", 10 * 60, { repository: "pmoves/b", requirement: "lightweight" }),
      ],
      runners,
      MONTH,
    );
    expect(report.by_repository).toEqual({
      "pmoves/a": { minutes: 30, jobs: 1, cost_usd: 9 },
      "pmoves/b": { minutes: 20, jobs: 2, cost_usd: 3.4 },
    });
    expect(report.by_requirement).toEqual({
      docker: { minutes: 30, jobs: 1, cost_usd: 9 },
      default: { minutes: 10, jobs: 1, cost_usd: 3 },
      lightweight: { minutes: 10, jobs: 1, cost_usd: 0.4 },
    });
    expect(report.totals.cost_usd).toBe(12.4);
    expect(report.totals.unallocated_usd).toBe(0);
  });

  it("reports per-arm minutes, jobs and cost for A/B-routed jobs, leaving jobs without an arm out", () => {
    const runners: Record<string, Runner> = {
      vps: { ...(SEED_RUNNERS.vps as Runner), cost: { monthlyUsd: 12 } },
      "github-hosted": SEED_RUNNERS["github-hosted"] as Runner,
    };
    const report = reportOf(
      [
        job("vps", 30 * 60, { arm: "control" }),
        job("vps", 10 * 60, { arm: "control" }),
        job("github-hosted", 10 * 60, { arm: "candidate" }),
        job("vps", 20 * 60, { arm: null }),
        job("github-hosted", 5 * 60),
      ],
      runners,
      MONTH,
    );
    // vps's $12 is shared by minutes: 40 of its 60 minutes ran under the control arm.
    expect(report.by_arm).toEqual({
      control: { minutes: 40, jobs: 2, cost_usd: 8 },
      candidate: { minutes: 10, jobs: 1, cost_usd: 0.4 },
    });
    expect(reportOf([job("vps", 60)], runners, MONTH).by_arm).toEqual({});
  });

  it("reports the fixed cost of a runner with no jobs as unallocated", () => {
    const report = reportOf([job("vps", 60)], SEED_RUNNERS, MONTH);
    expect(report.by_runner.kvm2).toEqual({ minutes: 0, jobs: 0, cost_usd: 10, model: "monthly" });
    expect(report.by_runner.kvm4).toEqual({ minutes: 0, jobs: 0, cost_usd: 10, model: "monthly" });
    expect(report.totals).toMatchObject({ cost_usd: 30, fixed_usd: 30, unallocated_usd: 20 });
    expect(report.by_repository).toEqual({ "pmoves/app": { minutes: 1, jobs: 1, cost_usd: 10 } });
  });

  it("a runner whose jobs billed no minutes leaves its fixed cost unallocated", () => {
    const report = reportOf([job("vps", 0)], SEED_RUNNERS, MONTH);
    expect(report.by_runner.vps).toEqual({ minutes: 0, jobs: 1, cost_usd: 10, model: "monthly" });
    expect(report.totals.unallocated_usd).toBe(30);
    expect(report.by_repository).toEqual({ "pmoves/app": { minutes: 0, jobs: 1, cost_usd: 0 } });
  });

  it("prorates monthly costs by the period's length (February 2024: 29 days)", () => {
    const february = parsePeriod("2024-02", new Date("2024-03-15T00:00:00Z"));
    if (!february.ok) throw new Error(february.error.message);
    const report = reportOf([], SEED_RUNNERS, february.value);
    expect(report.period.days).toBe(29);
    // 10 × 29 / 30.4375 = 9.5277…
    expect(report.by_runner.vps?.cost_usd).toBe(9.53);
    // 30 × 29 / 30.4375 = 28.5831…: rounded once, not as the sum of rounded parts.
    expect(report.totals).toMatchObject({ cost_usd: 28.58, fixed_usd: 28.58, unallocated_usd: 28.58 });
    expect(report.baseline.cost_usd).toBe(0);
    expect(report.savings).toEqual({ usd: -28.58, percent: null });
  });

  it("rounds money to the cent half away from zero, after computing in full precision", () => {
    const runners: Record<string, Runner> = {
      odd: {
        id: "odd",
        kind: "github-hosted",
        runsOn: ["odd"],
        fallback: null,
        capacity: 1,
        cost: { perMinuteUsd: 1.005 },
      },
    };
    const report = reportOf([job("odd", 60)], runners, MONTH);
    expect(report.totals.cost_usd).toBe(1.01);
    const thirds = reportOf(
      [
        job("vps", 60, { repository: "r/1" }),
        job("vps", 60, { repository: "r/2" }),
        job("vps", 60, { repository: "r/3" }),
      ],
      { vps: SEED_RUNNERS.vps as Runner },
      MONTH,
    );
    expect(Object.values(thirds.by_repository).map((l) => l.cost_usd)).toEqual([3.33, 3.33, 3.33]);
    expect(thirds.totals.cost_usd).toBe(10);
  });

  it("counts jobs on runners the pool does not define, without pricing them", () => {
    const report = reportOf([job("gone", 90, { requirement: null })], SEED_RUNNERS, MONTH);
    expect(report.by_runner.gone).toEqual({ minutes: 2, jobs: 1, cost_usd: 0, model: "unknown" });
    expect(report.by_requirement).toEqual({ unknown: { minutes: 2, jobs: 1, cost_usd: 0 } });
    expect(report.totals.unpriced).toEqual({ jobs: 1, minutes: 2 });
    expect(report.baseline).toMatchObject({ minutes: 2, cost_usd: 0.08 });
  });

  it("prices the baseline with the preferred GitHub-hosted runner, else github-hosted, else the first", () => {
    const large: Runner = {
      id: "large",
      kind: "github-hosted",
      runsOn: ["ubuntu-latest-16-cores"],
      fallback: null,
      capacity: 5,
      cost: { perMinuteUsd: 0.064 },
    };
    const runners: Record<string, Runner> = { large, ...SEED_RUNNERS };
    const jobsIn = [job("vps", 60 * 60)];
    expect(reportOf(jobsIn, runners, MONTH).baseline).toMatchObject({ runner: "github-hosted", cost_usd: 2.4 });
    expect(reportOf(jobsIn, runners, MONTH, { baselineRunner: "large" }).baseline).toMatchObject({
      runner: "large",
      cost_usd: 3.84,
    });
    // Not GitHub-hosted: ignored.
    expect(reportOf(jobsIn, runners, MONTH, { baselineRunner: "vps" }).baseline.runner).toBe("github-hosted");
    const { "github-hosted": _, ...withoutDefault } = runners;
    expect(reportOf(jobsIn, withoutDefault, MONTH).baseline.runner).toBe("large");
  });

  it("has no baseline, and no savings, without a GitHub-hosted runner", () => {
    const { "github-hosted": _, ...selfHostedOnly } = SEED_RUNNERS;
    const report = reportOf([job("vps", 60)], selfHostedOnly, MONTH);
    expect(report.baseline).toEqual({
      runner: null,
      per_minute_usd: null,
      jobs: 1,
      minutes: 1,
      cost_usd: 0,
      not_possible: { jobs: 0, minutes: 0 },
    });
    expect(report.savings).toEqual({ usd: null, percent: null });
  });

  it("rejects a period it cannot read or that ends before it starts", () => {
    expect(() => reportOf([], SEED_RUNNERS, { start: "2024-01", end: MONTH_END })).toThrow(RangeError);
    expect(() => reportOf([], SEED_RUNNERS, { start: MONTH_END, end: START })).toThrow(
      "cost period ends (2024-01-01T00:00:00.000Z) before it starts (2024-01-31T10:30:00.000Z)",
    );
    expect(reportOf([], SEED_RUNNERS, { start: START, end: START }).totals.cost_usd).toBe(0);
  });
});

describe("parsePeriod", () => {
  const NOW = new Date("2024-03-15T12:00:00.000Z");
  it.each([
    [null, "2024-03-01T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "2024-03 to date"],
    ["", "2024-03-01T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "2024-03 to date"],
    ["   ", "2024-03-01T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "2024-03 to date"],
    ["2024-02", "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z", "2024-02"],
    ["2023-02", "2023-02-01T00:00:00.000Z", "2023-03-01T00:00:00.000Z", "2023-02"],
    ["2023-12", "2023-12-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "2023-12"],
    ["2024-01", "2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-01"],
    ["2024-03", "2024-03-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z", "2024-03"],
    ["1970-01", "1970-01-01T00:00:00.000Z", "1970-02-01T00:00:00.000Z", "1970-01"],
    [" 2024-02 ", "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z", "2024-02"],
    // Whole UTC days: today to now, and the N - 1 days before it.
    ["7d", "2024-03-09T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "last 7 days"],
    ["1d", "2024-03-15T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "last 1 day"],
    ["30D", "2024-02-15T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "last 30 days"],
    ["400d", "2023-02-10T00:00:00.000Z", "2024-03-15T12:00:00.000Z", "last 400 days"],
  ])("%j → [%s, %s) %s", (text, start, end, label) => {
    expect(parsePeriod(text, NOW)).toEqual(ok({ start, end, label }));
  });

  it("leap Februaries have 29 days, others 28", () => {
    const days = (text: string) => {
      const p = parsePeriod(text, NOW);
      if (!p.ok) throw new Error(p.error.message);
      return (Date.parse(p.value.end) - Date.parse(p.value.start)) / 86_400_000;
    };
    expect([days("2024-02"), days("2023-02"), days("2000-02"), days("1970-02")]).toEqual([29, 28, 29, 28]);
  });

  it("at the first instant of a month, month-to-date is empty", () => {
    const now = new Date("2024-03-01T00:00:00.000Z");
    expect(parsePeriod(null, now)).toEqual(
      ok({
        start: now.toISOString(),
        end: now.toISOString(),
        label: "2024-03 to date",
      }),
    );
  });

  it.each([
    ["2024-13", 'period "2024-13": the month must be 01 to 12'],
    ["2024-00", 'period "2024-00": the month must be 01 to 12'],
    ["1969-12", 'period "1969-12": the year must be 1970 or later'],
    ["2024-04", 'period "2024-04" has not started yet'],
    ["0d", 'period "0d": the number of days must be 1 to 400'],
    ["401d", 'period "401d": the number of days must be 1 to 400'],
    ["99999999999999999999d", 'period "99999999999999999999d": the number of days must be 1 to 400'],
  ])("%j → %s", (text, message) => {
    expect(parsePeriod(text, NOW)).toEqual(fail("invalid_request", message));
  });

  it.each(["2024-3", "2024-02-01", "last month", "30", "-5d", "1.5d", "d", "24-02", "2024/02", "7 d"])(
    "%j is not understood",
    (text) => {
      expect(parsePeriod(text, NOW)).toEqual(
        fail(
          "invalid_request",
          `period ${JSON.stringify(text)} is not understood: use "YYYY-MM" for a calendar month (UTC), "Nd" for the last N days (1 to 400), or nothing for this month to date`,
        ),
      );
    },
  );

  it("quotes at most 40 characters of what it could not read", () => {
    const result = parsePeriod("x".repeat(1000), NOW);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message.startsWith(`period "${"x".repeat(40)}…" is not understood`)).toBe(true);
  });

  it("refuses an invalid clock", () => {
    expect(parsePeriod("7d", new Date(Number.NaN))).toEqual(
      fail("invalid_request", "the current time is not a valid date"),
    );
  });
});

describe("costReport: by_day, from the same computation as the totals", () => {
  const cents = (usd: number) => Math.round(usd * 100);
  const sumCents = (days: Record<string, { cost_usd: number }>, field: "cost_usd" | "baseline_usd") =>
    Object.values(days).reduce((n, d) => n + cents((d as Record<string, number>)[field] ?? 0), 0);

  it("a whole month's days add up to its totals: jobs, minutes, dollars and baseline, to the cent", () => {
    const list = [
      ...jobs(300, "vps", 17 * 60, "docker", 0),
      ...jobs(40, "github-hosted", 150, "lightweight", 300),
      ...jobs(12, "ai-lab", 30 * 60, "gpu", 350),
    ];
    const period = { start: "2024-01-01T00:00:00.000Z", end: "2024-02-01T00:00:00.000Z" };
    const report = reportOf(list, DEFAULT_RUNNERS, period);
    const days = Object.keys(report.by_day);
    expect(days).toHaveLength(31);
    expect(days[0]).toBe("2024-01-01");
    expect(days.at(-1)).toBe("2024-01-31");
    const lines = Object.values(report.by_day);
    expect(lines.reduce((n, d) => n + d.jobs, 0)).toBe(report.totals.jobs);
    expect(lines.reduce((n, d) => n + d.minutes, 0)).toBe(report.totals.minutes);
    expect(sumCents(report.by_day, "cost_usd")).toBe(cents(report.totals.cost_usd));
    expect(sumCents(report.by_day, "baseline_usd")).toBe(cents(report.baseline.cost_usd));
  });

  it("each day bears each fixed runner's monthly price / AVERAGE_MONTH_DAYS, and its own per-minute charges", () => {
    const runners: Record<string, Runner> = {
      fixed: {
        id: "fixed",
        kind: "self-hosted",
        runsOn: ["self-hosted"],
        fallback: null,
        capacity: 1,
        cost: { monthlyUsd: 304.375 },
      },
      "github-hosted": DEFAULT_RUNNERS["github-hosted"] as Runner,
    };
    const period = { start: "2024-01-01T00:00:00.000Z", end: "2024-01-04T00:00:00.000Z" };
    // 100 hosted minutes on the 2nd; nothing on the 1st and 3rd.
    const report = reportOf(
      [job("github-hosted", 100 * 60, { completedAt: "2024-01-02T12:00:00.000Z" })],
      runners,
      period,
    );
    // $304.375 a month is $10 a day.
    expect(304.375 / AVERAGE_MONTH_DAYS).toBeCloseTo(10, 10);
    expect(report.by_day).toEqual({
      "2024-01-01": { jobs: 0, minutes: 0, cost_usd: 10, baseline_usd: 0 },
      "2024-01-02": { jobs: 1, minutes: 100, cost_usd: 10.6, baseline_usd: 0.6 },
      "2024-01-03": { jobs: 0, minutes: 0, cost_usd: 10, baseline_usd: 0 },
    });
    expect(report.totals.cost_usd).toBe(30.6);
  });

  it("a period to date bears only the part of today it covers, so the days still add up", () => {
    const runners: Record<string, Runner> = {
      fixed: {
        id: "fixed",
        kind: "self-hosted",
        runsOn: ["self-hosted"],
        fallback: null,
        capacity: 1,
        cost: { monthlyUsd: 304.375 },
      },
    };
    const report = reportOf([], runners, { start: "2024-01-01T00:00:00.000Z", end: "2024-01-02T06:00:00.000Z" });
    expect(report.by_day).toEqual({
      "2024-01-01": { jobs: 0, minutes: 0, cost_usd: 10, baseline_usd: 0 },
      "2024-01-02": { jobs: 0, minutes: 0, cost_usd: 2.5, baseline_usd: 0 },
    });
    expect(report.totals.cost_usd).toBe(12.5);
  });

  it("days whose cents do not split evenly still add up to the rounded total", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ seconds: fc.integer({ min: 1, max: 3 * 3600 }), day: fc.integer({ min: 0, max: 6 }) }), {
          maxLength: 60,
        }),
        fc.double({ min: 0, max: 500, noNaN: true }),
        (made, monthly) => {
          const runners: Record<string, Runner> = {
            ...DEFAULT_RUNNERS,
            vps: { ...(DEFAULT_RUNNERS.vps as Runner), cost: { monthlyUsd: monthly } },
          };
          const list = made.map(({ seconds, day }, i) =>
            job(i % 2 === 0 ? "github-hosted" : "vps", seconds, {
              completedAt: new Date(Date.parse("2024-03-01T00:00:00Z") + day * DAY_MS + 3_600_000 * 12).toISOString(),
            }),
          );
          const report = reportOf(list, runners, {
            start: "2024-03-01T00:00:00.000Z",
            end: "2024-03-07T13:00:00.000Z",
          });
          expect(Object.keys(report.by_day)).toHaveLength(7);
          expect(sumCents(report.by_day, "cost_usd")).toBe(cents(report.totals.cost_usd));
          expect(sumCents(report.by_day, "baseline_usd")).toBe(cents(report.baseline.cost_usd));
          expect(Object.values(report.by_day).reduce((n, d) => n + d.minutes, 0)).toBe(report.totals.minutes);
        },
      ),
    );
  });

  it("splitCents gives the leftover cents to the largest remainders", () => {
    expect(splitCents([1 / 3, 1 / 3, 1 / 3], 1)).toEqual([0.34, 0.33, 0.33]);
    expect(splitCents([0.005, 0.005], 0.01)).toEqual([0.01, 0]);
    expect(splitCents([], 0)).toEqual([]);
  });
});

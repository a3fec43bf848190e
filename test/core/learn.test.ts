/**
 * The learned router's core: its estimates against known distributions, its bounded store, its
 * backoff priors, its feasibility (the decision tree's restrictions are never left), and its
 * determinism.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ClassLoad,
  changesFromList,
  createStats,
  DEFAULT_LEARN_LIMITS,
  decide,
  estimateJob,
  exportStats,
  type FleetSnapshot,
  feasibleClasses,
  gaussian,
  importStats,
  type LearnedStats,
  type LearnKey,
  learnedChoice,
  MAX_AHEAD_LISTED,
  mulberry32,
  observe,
  observeBuild,
  parseRoutingConfig,
  type Requirement,
  type RoutingInput,
  route,
  runQuantile,
} from "../../worker/src/core/index.ts";
import { fleetOf } from "../support/snapshots.ts";

const POLICY = parseRoutingConfig({}).defaults;
const CLASSES = Object.keys(POLICY.runners);

const key = (over: Partial<LearnKey> = {}): LearnKey => ({
  repository: "acme/api",
  workflow: "CI",
  job: "build",
  requirement: "default",
  ...over,
});

const input = (files: string[], over: Partial<RoutingInput> = {}): RoutingInput => ({
  repository: "acme/api",
  event: "pull_request",
  ref: "refs/heads/feature",
  sha: "a".repeat(40),
  changes: changesFromList(files, 3000, "test"),
  ...over,
});

/** `n` runs of a job on a class, minutes from `minutes(i)`. */
function feed(stats: LearnedStats, k: LearnKey, runner: string, n: number, minutes: (i: number) => number) {
  for (let i = 0; i < n; i++) observe(stats, k, runner, { minutes: minutes(i), queueSeconds: 30, failed: false });
}

describe("estimates: streaming quantiles and EWMA", () => {
  it("reads p50 and p90 of log-normal run times within 10%", () => {
    const random = mulberry32(42);
    for (const [median, sigma] of [
      [6, 0.5],
      [1.4, 0.3],
      [40, 0.8],
    ] as const) {
      const stats = createStats();
      feed(stats, key(), "vps", 5000, () => median * Math.exp(sigma * gaussian(random)));
      const estimate = estimateJob(stats, key(), "vps", ["vps"]);
      expect(estimate).not.toBeNull();
      const p90 = median * Math.exp(1.2816 * sigma);
      expect(Math.abs((estimate?.p50Minutes ?? 0) / median - 1)).toBeLessThan(0.1);
      expect(Math.abs((estimate?.p90Minutes ?? 0) / p90 - 1)).toBeLessThan(0.1);
    }
  });

  it("EWMA converges to a constant, and follows a step within 50 runs", () => {
    const stats = createStats();
    feed(stats, key(), "vps", 100, () => 10);
    expect(estimateJob(stats, key(), "vps", ["vps"])?.meanMinutes).toBeCloseTo(10, 9);
    feed(stats, key(), "vps", 50, () => 20);
    expect(Math.abs((estimateJob(stats, key(), "vps", ["vps"])?.meanMinutes ?? 0) - 20)).toBeLessThan(0.2);
  });

  it("bills the expected minutes rounded up per run, as GitHub does", () => {
    const stats = createStats();
    feed(stats, key(), "github-hosted", 200, () => 1.4);
    const estimate = estimateJob(stats, key(), "github-hosted", ["github-hosted"]);
    expect(estimate?.billedMinutes).toBeCloseTo(2, 6);
    expect(estimate?.p50Minutes).toBeGreaterThan(1.33);
    expect(estimate?.p50Minutes).toBeLessThan(1.78);
  });

  it("ignores a sample that is not finite and ≥ 0", () => {
    const stats = createStats();
    expect(observe(stats, key(), "vps", { minutes: Number.NaN, queueSeconds: 1, failed: false })).toBe(false);
    expect(observe(stats, key(), "vps", { minutes: -1, queueSeconds: 1, failed: false })).toBe(false);
    expect(stats.entries.size).toBe(0);
  });
});

describe("the store is bounded whatever the number of keys", () => {
  it(`keeps at most ${DEFAULT_LEARN_LIMITS.maxEntries} entries and ${DEFAULT_LEARN_LIMITS.maxRosters} rosters of ${DEFAULT_LEARN_LIMITS.rosterJobs} jobs, about 300 bytes an entry`, () => {
    const stats = createStats();
    for (let i = 0; i < 20_000; i++) {
      const k = key({ repository: `acme/r${i}`, job: `job-${i}`, workflow: `wf-${i % 7}` });
      observe(stats, k, CLASSES[i % CLASSES.length] ?? "vps", {
        minutes: 1 + (i % 50),
        queueSeconds: i % 600,
        failed: i % 9 === 0,
      });
      observeBuild(stats, { repository: k.repository, requirement: "default" }, [{ workflow: k.workflow, job: k.job }]);
    }
    // One roster with more distinct jobs than it may list.
    for (let i = 0; i < 100; i++) {
      observeBuild(stats, { repository: "acme/big", requirement: "docker" }, [{ workflow: "CI", job: `j${i}` }]);
    }
    expect(stats.entries.size).toBeLessThanOrEqual(DEFAULT_LEARN_LIMITS.maxEntries);
    expect(stats.rosters.size).toBeLessThanOrEqual(DEFAULT_LEARN_LIMITS.maxRosters);
    for (const roster of stats.rosters.values()) {
      expect(roster.jobs.length).toBeLessThanOrEqual(DEFAULT_LEARN_LIMITS.rosterJobs);
    }
    const dump = exportStats(stats);
    const perEntry = JSON.stringify(dump.entries).length / dump.entries.length;
    expect(perEntry).toBeLessThan(400);
    // A long name is cut in the key: no key grows with what a stranger names a job.
    observe(stats, key({ job: "x".repeat(10_000), workflow: "y".repeat(10_000) }), "vps", {
      minutes: 1,
      queueSeconds: 1,
      failed: false,
    });
    expect(Math.max(...[...stats.entries.keys()].map((k) => k.length))).toBeLessThan(420);
  });

  it("drops the least recently updated first, and survives an export and import", () => {
    // A job's run updates five entries (job, workflow, repository, organisation, class).
    const stats = createStats({ maxEntries: 6 });
    feed(stats, key({ job: "old" }), "vps", 1, () => 1);
    feed(stats, key({ job: "new-0" }), "vps", 1, () => 2);
    expect([...stats.entries.keys()].some((k) => k.includes("old"))).toBe(true);
    feed(stats, key({ job: "new-1" }), "vps", 1, () => 2);
    expect(stats.entries.size).toBe(6);
    expect([...stats.entries.keys()].some((k) => k.includes("old"))).toBe(false);
    const again = importStats(exportStats(stats), { maxEntries: 6 });
    expect(exportStats(again)).toEqual(exportStats(stats));
  });
});

describe("backoff priors: job → workflow → repository → organisation → the paths rule", () => {
  const stats = createStats();
  feed(stats, key({ job: "build" }), "vps", 10, () => 6);
  feed(stats, key({ repository: "acme/web", workflow: "Web", job: "bundle" }), "vps", 10, () => 20);

  it.each([
    ["the job's own runs", key({ job: "build" }), "job", 6],
    ["a new job of a known workflow: the workflow's", key({ job: "lint" }), "workflow", 6],
    [
      "a new workflow of a known repository: the repository's",
      key({ workflow: "Nightly", job: "e2e" }),
      "repository",
      6,
    ],
  ] as const)("%s", (_, k, level, minutes) => {
    const estimate = estimateJob(stats, k, "vps", ["vps"]);
    expect(estimate?.level).toBe(level);
    expect(estimate?.p50Minutes).toBeGreaterThan(minutes * 0.85);
    expect(estimate?.p50Minutes).toBeLessThan(minutes * 1.15);
  });

  it("a new repository: the organisation's, all repositories pooled", () => {
    const estimate = estimateJob(stats, key({ repository: "acme/new" }), "vps", ["vps"]);
    expect(estimate?.level).toBe("organisation");
    expect(estimate?.runs).toBe(20);
  });

  it("nothing known for the kind of change: the paths rule decides, with the load", () => {
    const fresh = createStats();
    const choice = learnedChoice(input(["services/api/Dockerfile"]), POLICY, null, fresh);
    expect(choice.learned).toBe(false);
    expect(choice.decision).toEqual({
      ...route(input(["services/api/Dockerfile"]), POLICY, null),
      reasons: [
        ...route(input(["services/api/Dockerfile"]), POLICY, null).reasons,
        expect.stringContaining("paths rule"),
      ],
    });
    expect(choice.probability).toBe(1);
  });

  it("a class a job never ran on is predicted from its own class × the organisation's speed ratio", () => {
    const s = createStats();
    const random = mulberry32(3);
    const around = (median: number) => () => median * Math.exp(0.3 * gaussian(random));
    // The organisation: github-hosted takes twice as long as vps on default work.
    feed(s, key({ repository: "acme/other", job: "t" }), "vps", 400, around(10));
    feed(s, key({ repository: "acme/other", job: "t" }), "github-hosted", 400, around(20));
    // This job ran only on vps, at about 10 minutes.
    feed(s, key({ job: "build" }), "vps", 200, around(10));
    const estimate = estimateJob(s, key({ job: "build" }), "github-hosted", ["vps", "github-hosted"]);
    expect(estimate?.level).toBe("job");
    expect(estimate?.from).toBe("vps");
    expect(estimate?.scale).toBeGreaterThan(1.8);
    expect(estimate?.scale).toBeLessThan(2.2);
    expect(estimate?.p50Minutes).toBeGreaterThan(18);
    expect(estimate?.p50Minutes).toBeLessThan(22);
  });
});

/** A fleet snapshot with every class of the policy empty, busy on `busy` classes. */
const snapshot = (busy: Record<string, { busy: number; queued?: number }> = {}): FleetSnapshot => fleetOf(POLICY, busy);

/**
 * acme/api's default builds: `build` (6 minutes on vps) and `test` (9), each in `share` of the
 * builds (with 0.5, half the builds run build alone and half test alone); kvm2 1.2× slower,
 * github-hosted 8 and 12; `runs` builds, each job's queue 45 s (30 s on github-hosted).
 */
function trained(runs = 30, share = 1): LearnedStats {
  const s = createStats();
  for (let i = 0; i < runs; i++) {
    for (const [job, vps, hosted] of [
      ["build", 6, 8],
      ["test", 9, 12],
    ] as const) {
      observe(s, key({ job }), "vps", { minutes: vps, queueSeconds: 45, failed: false });
      observe(s, key({ job }), "github-hosted", { minutes: hosted, queueSeconds: 30, failed: false });
      observe(s, key({ job }), "kvm2", { minutes: vps * 1.2, queueSeconds: 45, failed: false });
    }
    const build = { workflow: "CI", job: "build" };
    const test = { workflow: "CI", job: "test" };
    observeBuild(
      s,
      { repository: "acme/api", requirement: "default" },
      share === 1 ? [build, test] : [i % 2 === 0 ? build : test],
    );
  }
  return s;
}

describe("learnedChoice", () => {
  const source = input(["src/api/handlers.py"]);

  it("keeps a build on the free monthly class: nothing at the margin, no queue", () => {
    const choice = learnedChoice(source, POLICY, snapshot(), trained(), { exploreShare: 0 });
    expect(choice.decision.runner).toBe("vps");
    expect(choice.decision.runs_on).toEqual(["self-hosted", "vps"]);
    expect(choice.probability).toBe(1);
    expect(choice.decision.reasons).toContainEqual(
      expect.stringMatching(
        /^learned: build, test \(2 jobs\) usually (8|9)\.\d min on vps \(p90 (9|10)(\.\d)?, 30 runs\) → default$/,
      ),
    );
    expect(choice.decision.reasons.at(-1)).toBe("vps has room (0/2 busy)");
  });

  it("moves it to github-hosted when the queue on vps would cost more than the minutes", () => {
    const busy = snapshot({ vps: { busy: 2, queued: 6 }, kvm2: { busy: 1, queued: 4 } });
    const choice = learnedChoice(source, POLICY, busy, trained(), { exploreShare: 0, waitUsdPerMinute: 0.05 });
    expect(choice.decision.runner).toBe("github-hosted");
    const hosted = choice.predicted.find((p) => p.runner === "github-hosted");
    // About 8 + 12 minutes billed at the pool's rate (the histogram's buckets blur a constant a little).
    const cost = POLICY.runners["github-hosted"]?.cost;
    const rate = cost !== undefined && "perMinuteUsd" in cost ? cost.perMinuteUsd : Number.NaN;
    expect(hosted?.billedMinutes).toBeGreaterThan(19);
    expect(hosted?.billedMinutes).toBeLessThan(22.5);
    expect(hosted?.costUsd).toBeCloseTo((hosted?.billedMinutes ?? 0) * rate, 9);
  });

  it("calls a build lightweight once its history says it is short, whatever its paths say", () => {
    const s = createStats();
    for (let i = 0; i < 20; i++) {
      observe(s, key({ job: "build" }), "vps", { minutes: 1.2, queueSeconds: 45, failed: false });
      observeBuild(s, { repository: "acme/api", requirement: "default" }, [{ workflow: "CI", job: "build" }]);
    }
    const choice = learnedChoice(source, POLICY, snapshot(), s, { exploreShare: 0 });
    expect(choice.decision.requirement).toBe("lightweight");
    expect(choice.requirement).toBe("default");
    // A truncated list is never lightweight.
    const truncated = { ...source, changes: { ...source.changes, truncated: true, notes: ["cut"] } };
    expect(learnedChoice(truncated, POLICY, snapshot(), s, { exploreShare: 0 }).decision.requirement).toBe("default");
  });

  it("is deterministic: the same commit and stats give the same choice and probability", () => {
    const a = learnedChoice(source, POLICY, snapshot({ vps: { busy: 2 } }), trained(), { exploreShare: 1 });
    const b = learnedChoice(source, POLICY, snapshot({ vps: { busy: 2 } }), trained(), { exploreShare: 1 });
    expect(a).toEqual(b);
  });

  it("explores on at most its share of commits, and says so", () => {
    // Three runs each: vps queued behind its capacity and github-hosted's minutes cost about the same.
    const s = createStats();
    for (let i = 0; i < 3; i++) {
      observe(s, key(), "vps", { minutes: 8 + i, queueSeconds: 45, failed: false });
      observe(s, key(), "github-hosted", { minutes: 10 + i, queueSeconds: 30, failed: false });
      observeBuild(s, { repository: "acme/api", requirement: "default" }, [{ workflow: "CI", job: "build" }]);
    }
    const load = snapshot({ vps: { busy: 2, queued: 2 }, kvm2: { busy: 1, queued: 3 } });
    let explored = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      const sha = i.toString(16).padStart(40, "0");
      const choice = learnedChoice({ ...source, sha }, POLICY, load, s, {
        exploreShare: 0.1,
        waitUsdPerMinute: 0.0055,
      });
      expect(choice.probability).toBeGreaterThan(0);
      expect(choice.probability).toBeLessThanOrEqual(1);
      if (choice.explored) {
        explored++;
        // Only a Thompson draw picks an explored class: its probability is at most the share.
        expect(choice.probability).toBeLessThanOrEqual(0.1);
        expect(choice.decision.reasons.some((r) => r.includes("exploring"))).toBe(true);
      }
    }
    expect(explored).toBeGreaterThan(0);
    expect(explored).toBeLessThanOrEqual(n * 0.15);
  });
});

describe("placements: each job the build is known to run, on a class of its own", () => {
  const source = input(["src/api/handlers.py"]);

  it("leaves them with the build when its class has room for all: the decision names no placements", () => {
    const choice = learnedChoice(source, POLICY, snapshot(), trained(40), { exploreShare: 0 });
    expect(choice.decision.runner).toBe("vps");
    expect(choice.placements.map((p) => [p.job, p.runner])).toEqual([
      ["build", "vps"],
      ["test", "vps"],
    ]);
    expect(choice.decision.placements).toBeUndefined();
    expect(choice.decision.reasons.some((r) => r.startsWith("learned: per job"))).toBe(false);
  });

  it("puts the second job on the next free class when the first takes the build class's last slot", () => {
    const choice = learnedChoice(source, POLICY, snapshot({ vps: { busy: 1 } }), trained(40), { exploreShare: 0 });
    expect(choice.decision.placements).toEqual([
      {
        workflow: "CI",
        job: "build",
        runner: "vps",
        runs_on: choice.decision.runner === "vps" ? choice.decision.runs_on : ["self-hosted", "vps"],
      },
      { workflow: "CI", job: "test", runner: "kvm2", runs_on: POLICY.runners.kvm2?.runsOn },
    ]);
    expect(choice.decision.reasons).toContainEqual(
      expect.stringMatching(
        /^learned: per job: build → vps \(~6\.\d min, queue ~[\d.]+ min\); test → kvm2 \(~1\d min, queue ~[\d.]+ min\)$/,
      ),
    );
    // route() hands the same placements to every caller.
    const routed = route(
      source,
      { ...POLICY, learning: { enabled: true, exploreShare: 0 } },
      snapshot({ vps: { busy: 1 } }),
      {
        history: trained(40),
      },
    );
    expect(routed.placements).toEqual(choice.decision.placements);
  });

  it("counts a job placed by the share of builds that run it: a half-time job holds its slot for half its run", () => {
    // vps has one free slot and kvm2 none, their other jobs running for hours. The second job
    // waits on vps for the first (6 minutes when every build runs it, 3 when half do) or pays
    // 12 minutes on github-hosted.
    const fleet = snapshot({ vps: { busy: 1 }, kvm2: { busy: 1 } });
    const long = { running: [4 * 3600], queued: [] };
    const loads = {
      ...fleet,
      vps: { ...(fleet.vps as ClassLoad), ahead: long },
      kvm2: { ...(fleet.kvm2 as ClassLoad), ahead: long },
    };
    const options = { exploreShare: 0, waitUsdPerMinute: 0.016 };
    const half = learnedChoice(source, POLICY, loads, trained(40, 0.5), options);
    expect(half.placements.map((p) => p.runner)).toEqual(["vps", "vps"]);
    const whole = learnedChoice(source, POLICY, loads, trained(40, 1), options);
    expect(whole.placements.map((p) => p.runner)).toEqual(["vps", "github-hosted"]);
    expect(whole.decision.reasons).toContainEqual(expect.stringMatching(/test → github-hosted/));
  });

  it("places nothing apart on an explored commit: the whole build tries the drawn class", () => {
    // Three runs each, and a load on which the draws disagree (as in the exploration test above).
    const s = createStats();
    for (let i = 0; i < 3; i++) {
      for (const job of ["build", "test"]) {
        observe(s, key({ job }), "vps", { minutes: 8 + i, queueSeconds: 45, failed: false });
        observe(s, key({ job }), "github-hosted", { minutes: 10 + i, queueSeconds: 30, failed: false });
      }
      observeBuild(s, { repository: "acme/api", requirement: "default" }, [
        { workflow: "CI", job: "build" },
        { workflow: "CI", job: "test" },
      ]);
    }
    const load = snapshot({ vps: { busy: 2, queued: 2 }, kvm2: { busy: 1, queued: 3 } });
    let seen = 0;
    for (let i = 0; i < 400 && seen < 3; i++) {
      const sha = i.toString(16).padStart(40, "0");
      const choice = learnedChoice({ ...source, sha }, POLICY, load, s, { exploreShare: 1, waitUsdPerMinute: 0.0055 });
      if (!choice.explored) continue;
      seen++;
      expect(choice.placements).toEqual([]);
      expect(choice.decision.placements).toBeUndefined();
    }
    expect(seen).toBeGreaterThan(0);
  });

  it("reads a class's pickup from its quick starts, so a class once congested is chosen again when free", () => {
    // kvm2 queued 15 minutes for most of its past jobs (220 of 300), and started in 45 s when it had room.
    const s = trained(40);
    for (let i = 0; i < 220; i++)
      observe(s, key({ job: "build" }), "kvm2", { minutes: 7.2, queueSeconds: 900, failed: false });
    const choice = learnedChoice(source, POLICY, snapshot({ vps: { busy: 2, queued: 4 } }), s, { exploreShare: 0 });
    expect(choice.predicted.find((p) => p.runner === "kvm2")?.overTarget).toBe(false);
    // The first job takes kvm2's one slot; the second would wait there for the whole of it.
    expect(choice.placements.map((p) => p.runner)).toEqual(["kvm2", "github-hosted"]);
  });
});

describe("the backlog: the jobs ahead on a class at their expected runs", () => {
  const source = input(["src/api/handlers.py"]);
  const choose = (fleet: FleetSnapshot) => learnedChoice(source, POLICY, fleet, trained(40), { exploreShare: 0 });
  const queueOn = (fleet: FleetSnapshot, runner: string) =>
    choose(fleet).predicted.find((p) => p.runner === runner)?.queueSeconds ?? Number.NaN;
  /** The snapshot with `runner`'s load changed by `over`. */
  const loaded = (
    runner: string,
    over: Partial<ClassLoad>,
    busy: Record<string, { busy: number; queued?: number }> = {},
  ) => {
    const fleet = snapshot(busy);
    return { ...fleet, [runner]: { ...(fleet[runner] as ClassLoad), ...over } };
  };
  /** The wait of a job that finds a slot free: the class's pickup. */
  const pickup = (runner: string) => queueOn(snapshot(), runner);

  it("a running job holds its slot for half its expected run", () => {
    // Both vps slots busy: the build's two jobs each wait for one of them.
    const short = loaded("vps", { ahead: { running: [120, 120], queued: [] } }, { vps: { busy: 2 } });
    expect(queueOn(short, "vps")).toBeCloseTo(pickup("vps") + 60, 6);
    const long = loaded("vps", { ahead: { running: [7200, 7200], queued: [] } }, { vps: { busy: 2 } });
    expect(queueOn(long, "vps")).toBeCloseTo(pickup("vps") + 3600, 6);
    expect(choose(long).predicted.find((p) => p.runner === "vps")?.overTarget).toBe(true);
    expect(choose(long).decision.runner).not.toBe("vps");
    expect(choose(short).decision.runner).toBe("vps");
  });

  it("a long job queued on a one-slot class is waited for in full, however short the class's typical run", () => {
    // kvm2 is idle but for one queued job of an hour: the build's first job starts after it.
    const fleet = loaded("kvm2", { queued: 1, ahead: { running: [], queued: [3600] } });
    expect(queueOn(fleet, "kvm2")).toBeGreaterThanOrEqual(pickup("kvm2") + 3600);
    const quick = loaded("kvm2", { queued: 1, ahead: { running: [], queued: [60] } });
    expect(queueOn(quick, "kvm2")).toBeLessThan(queueOn(fleet, "kvm2") - 3000);
  });

  it("a job with no estimate counts at the class's typical run: the same as a snapshot that lists none", () => {
    const counted = loaded("kvm2", { busy: 1, free: 0, queued: 2 });
    const unknown = loaded("kvm2", { busy: 1, free: 0, queued: 2, ahead: { running: [null], queued: [null, null] } });
    expect(queueOn(unknown, "kvm2")).toBeCloseTo(queueOn(counted, "kvm2"), 9);
    expect(queueOn(counted, "kvm2")).toBeGreaterThan(pickup("kvm2"));
  });

  it("a queue longer than the listed bound is counted whole, each job at the class's typical run", () => {
    // One slot, nothing running: each queued job adds one typical run to the wait.
    const one = queueOn(loaded("kvm2", { queued: 1 }), "kvm2") - pickup("kvm2");
    expect(one).toBeGreaterThan(0);
    for (const queued of [MAX_AHEAD_LISTED, 5 * MAX_AHEAD_LISTED, 10_000]) {
      const wait = queueOn(loaded("kvm2", { queued }), "kvm2") - pickup("kvm2");
      expect(wait).toBeCloseTo(queued * one, 3);
    }
  });

  it("jobs routed to a class and not queued yet take its slots too", () => {
    const routed = loaded("kvm2", { routed: 2 });
    const queued = loaded("kvm2", { queued: 2 });
    expect(queueOn(routed, "kvm2")).toBeCloseTo(queueOn(queued, "kvm2"), 9);
    expect(queueOn(routed, "kvm2")).toBeGreaterThan(pickup("kvm2"));
  });

  it("a class of thousands of slots: jobs ahead that find a free slot delay no one; all busy, the first frees at half a run", () => {
    const some = loaded("vps", { capacity: 5000, busy: 4000, free: 1000, queued: 100 });
    expect(queueOn(some, "vps")).toBeCloseTo(pickup("vps"), 9);
    const half = queueOn(loaded("vps", { capacity: 2, busy: 2, free: 0 }), "vps");
    const all = loaded("vps", { capacity: 5000, busy: 5000, free: 0, queued: 0 });
    expect(queueOn(all, "vps")).toBeCloseTo(half, 9);
    expect(half).toBeGreaterThan(pickup("vps"));
  });

  it("a class whose machines are all offline never frees a slot", () => {
    expect(queueOn(loaded("kvm2", { offline: true }), "kvm2")).toBe(Number.POSITIVE_INFINITY);
  });
});

const PATHS = [
  "kernels/matmul.cu",
  "deploy/app.yaml",
  "services/api/Dockerfile",
  "docs/guide.md",
  "README.md",
  "src/app.py",
  "tests/test_app.py",
  "models/ollama/Modelfile",
];

describe("the queue target: a price on the time past it, not a wall", () => {
  const source = input(["src/api/handlers.py"]);
  const TARGET = 600;
  /**
   * vps with both slots running jobs of `seconds` expected (each of the build's two jobs waits
   * about half of one), kvm2's one slot running a job of two hours.
   */
  const vpsRunning = (seconds: number): FleetSnapshot => {
    const fleet = snapshot({ vps: { busy: 2 }, kvm2: { busy: 1 } });
    return {
      ...fleet,
      vps: { ...(fleet.vps as ClassLoad), ahead: { running: [seconds, seconds], queued: [] } },
      kvm2: { ...(fleet.kvm2 as ClassLoad), ahead: { running: [7200], queued: [] } },
    };
  };
  const choose = (fleet: FleetSnapshot, overTargetUsdPerMinute: number) =>
    learnedChoice(source, POLICY, fleet, trained(40), {
      exploreShare: 0,
      waitUsdPerMinute: 0.001,
      overTargetUsdPerMinute,
      queueTargetSeconds: { vps: TARGET, kvm2: TARGET },
    });
  const vpsOf = (choice: ReturnType<typeof choose>) => {
    const p = choice.predicted.find((x) => x.runner === "vps");
    if (p === undefined) throw new Error("no vps prediction");
    return p;
  };

  it("adds the price of each job's minutes past the target to the class's objective, and nothing under it", () => {
    const past = vpsRunning(1300);
    const free = vpsOf(choose(past, 0));
    expect(free.queueSeconds).toBeGreaterThan(TARGET);
    for (const price of [0.15, 10]) {
      const priced = vpsOf(choose(past, price));
      expect(priced.overTarget).toBe(true);
      expect(priced.objective - free.objective).toBeCloseTo((price * (free.queueSeconds - TARGET) * free.jobs) / 60, 9);
    }
    const under = vpsRunning(600);
    expect(vpsOf(choose(under, 0)).queueSeconds).toBeLessThan(TARGET);
    expect(vpsOf(choose(under, 10)).overTarget).toBe(false);
    expect(vpsOf(choose(under, 10)).objective).toBe(vpsOf(choose(under, 0)).objective);
  });

  it("keeps a build on a class a little past its target when that still costs less, and moves it when the price says so", () => {
    const past = vpsRunning(1300);
    const cheap = choose(past, 0.001);
    expect(cheap.greedy).toBe("vps");
    expect(cheap.decision.reasons).toContainEqual(
      expect.stringMatching(/vps \$0\.000 \+ queue ~\d+ min \(over its target\)/),
    );
    const dear = choose(past, 10);
    expect(dear.greedy).toBe("github-hosted");
    // Under its target, no price moves it.
    expect(choose(vpsRunning(600), 10).greedy).toBe("vps");
  });
});

describe("feasibility is never violated (property)", () => {
  const gpuClasses = new Set(
    Object.values(POLICY.runners)
      .filter((r) => r.runsOn.includes("gpu"))
      .map((r) => r.id),
  );
  /** Stats that make every class look fast and free, the GPU and deploy classes fastest: a temptation. */
  function tempting(random: () => number): LearnedStats {
    const s = createStats();
    for (const requirement of ["gpu", "docker", "deploy", "lightweight", "default"] as Requirement[]) {
      for (const runner of CLASSES) {
        const minutes = runner === "ai-lab" || runner === "kvm4" ? 0.5 : 5 + 20 * random();
        for (let i = 0; i < 5; i++) {
          observe(s, key({ requirement, job: "j" }), runner, { minutes, queueSeconds: 10, failed: false });
        }
      }
      observeBuild(s, { repository: "acme/api", requirement }, [{ workflow: "CI", job: "j" }]);
    }
    return s;
  }

  it("GPU work only on a GPU class, deploy only on the deploy class, never off the tree's allowed classes", () => {
    fc.assert(
      fc.property(
        fc.subarray(PATHS, { minLength: 0, maxLength: 4 }),
        fc.constantFrom("push", "pull_request"),
        fc.constantFrom("refs/heads/main", "refs/heads/feature", "refs/tags/v1.0.0"),
        fc.constantFrom("hybrid", "self-hosted-only", "cloudflare-only"),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.record({ vps: fc.nat(3), kvm2: fc.nat(2), "ai-lab": fc.nat(2), kvm4: fc.nat(2) }),
        (files, event, ref, mode, seed, busy) => {
          const policy = parseRoutingConfig({ mode }).defaults;
          const random = mulberry32(seed);
          const commit = input(files, { event, ref, sha: seed.toString(16).padStart(40, "0") });
          const tree = decide(commit, policy);
          const load = snapshot(Object.fromEntries(Object.entries(busy).map(([k, v]) => [k, { busy: v, queued: v }])));
          const choice = learnedChoice(commit, policy, load, tempting(random), { exploreShare: 1 });
          const runner = choice.decision.runner;
          expect(feasibleClasses(tree, policy)).toContain(runner);
          if (tree.requirement === "gpu" && mode !== "cloudflare-only") expect(gpuClasses.has(runner)).toBe(true);
          if (tree.requirement === "deploy" && mode !== "cloudflare-only") expect(runner).toBe(policy.assign.deploy);
          if (tree.requirement !== "gpu") expect(gpuClasses.has(runner)).toBe(false);
          if (tree.requirement !== "deploy") expect(runner).not.toBe(policy.assign.deploy);
          if (mode === "self-hosted-only") expect(policy.runners[runner]?.kind).toBe("self-hosted");
          if (mode === "cloudflare-only") expect(runner).toBe(tree.runner);
          expect(choice.decision.satisfiable).toBe(tree.satisfiable);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });

  it("without a snapshot, decides as if every class had room", () => {
    const s = createStats();
    feed(s, key({ job: "build" }), "vps", 5, () => 3);
    observeBuild(s, { repository: "acme/api", requirement: "default" }, [{ workflow: "CI", job: "build" }]);
    const none = learnedChoice(input(["src/app.py"]), POLICY, null, s, { exploreShare: 0 });
    const empty = learnedChoice(input(["src/app.py"]), POLICY, snapshot(), s, { exploreShare: 0 });
    expect(none.decision.runner).toBe("vps");
    expect(none.predicted.map((p) => [p.runner, p.queueSeconds])).toEqual(
      empty.predicted.map((p) => [p.runner, p.queueSeconds]),
    );
  });
});

describe("runQuantile", () => {
  it("is 0 for an empty histogram and monotone in q", () => {
    const s = createStats();
    feed(s, key(), "vps", 100, (i) => 1 + i / 10);
    const entry = [...s.entries.values()][0];
    if (entry === undefined) throw new Error("no entry");
    const qs = [0.1, 0.5, 0.9, 0.99].map((q) => runQuantile(entry, q));
    expect([...qs].sort((a, b) => a - b)).toEqual(qs);
  });
});

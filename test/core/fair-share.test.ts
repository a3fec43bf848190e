/**
 * Fair shares of a contended self-hosted class (worker/src/core/fair-share.ts) as `route()`
 * applies them through `chooseRunner`, the `fairShare` configuration's checks, and the
 * simulator's fairness figures on the burst scenario.
 */
import { describe, expect, it } from "vitest";
import { BURST_REPOSITORY, burstConfig, burstTrace } from "../../scripts/simulate/burst.ts";
import { jainIndex } from "../../scripts/simulate/fairness.ts";
import { FAIR_POLICY } from "../../scripts/simulate/policies.ts";
import { simulate } from "../../scripts/simulate/run.ts";
import { parseSettings } from "../../scripts/simulate/settings.ts";
import { parseTrace } from "../../scripts/simulate/trace.ts";
import {
  type ClassLoad,
  changesFromList,
  expectedWaitSeconds,
  type FleetSnapshot,
  parseRoutingConfig,
  RoutingConfigError,
  type RoutingInput,
  type RoutingPolicy,
  route,
  shareOf,
  weightOf,
} from "../../worker/src/core/index.ts";

/** vps: 8 slots, falling back to kvm2. acme/big weighs 3, acme/small 1: with both active, big's vps share is 6 of 8. */
const FAIR = {
  enabled: true,
  weights: { "acme/big": 3, "acme/*": 1 },
  caps: { vps: { "acme/capped": 3 } },
};
const CONFIG = {
  runners: { vps: { capacity: 8 } },
  deploy: { refs: [{ ref: "refs/heads/production", environment: "production" }], paths: ["deploy/**"] },
  fairShare: FAIR,
};
const policy = parseRoutingConfig(CONFIG).defaults;

/** A class's load: saturated and idle-queue by default, overridden field by field. */
function load(fields: Partial<ClassLoad>): ClassLoad {
  const capacity = fields.capacity ?? 8;
  const busy = fields.busy ?? capacity;
  const free = Math.max(0, capacity - busy);
  return {
    capacity,
    busy,
    free,
    queued: 0,
    waiting: 0,
    hasMachines: false,
    saturated: free === 0,
    offline: false,
    machines: [],
    ...fields,
  };
}

/** vps with 6 of 8 busy and 4 queued (contended, one slot promised to the queue); kvm2 and ai-lab idle. */
const CONTENDED: FleetSnapshot = {
  vps: load({ busy: 6, queued: 4, repositories: { "acme/big": 6, "acme/small": 4 } }),
  kvm2: load({ capacity: 1, busy: 0 }),
  "ai-lab": load({ capacity: 1, busy: 0 }),
};

function input(fields: Partial<RoutingInput> = {}): RoutingInput {
  return {
    repository: "acme/big",
    event: "push",
    ref: "refs/heads/feature",
    sha: null,
    changes: changesFromList(["src/app.ts"], 3000, "test"),
    ...fields,
  };
}

interface Case {
  name: string;
  input?: Partial<RoutingInput>;
  fleet?: FleetSnapshot;
  policy?: RoutingPolicy;
  runner: string;
  /** The fair-share reason, exactly; null: none. */
  reason: string | null;
}

const withVps = (fields: Partial<ClassLoad>): FleetSnapshot => ({
  ...CONTENDED,
  vps: { ...(CONTENDED.vps as ClassLoad), ...fields },
});

const CASES: Case[] = [
  {
    name: "a repository at its share (a tie counts as over) of a contended class goes to the fallback",
    runner: "kvm2",
    reason: "acme/big over its vps share (6/8 slots) → kvm2",
  },
  {
    name: "one below its share stays",
    fleet: withVps({ repositories: { "acme/big": 5, "acme/small": 4 } }),
    runner: "vps",
    reason: null,
  },
  {
    name: "weights: the small repository's share is 2 of 8, and it holds 1",
    input: { repository: "acme/small" },
    fleet: withVps({ repositories: { "acme/big": 6, "acme/small": 1 } }),
    runner: "vps",
    reason: null,
  },
  {
    name: "equal weights when none are configured: 4 of 8 each",
    policy: parseRoutingConfig({ ...CONFIG, fairShare: { enabled: true } }).defaults,
    runner: "kvm2",
    reason: "acme/big over its vps share (4/8 slots) → kvm2",
  },
  {
    name: "an uncontended class (a free slot, nothing queued) takes any share",
    fleet: withVps({ queued: 0 }),
    runner: "vps",
    reason: null,
  },
  {
    name: "a cap holds on an uncontended class too",
    input: { repository: "acme/capped" },
    fleet: withVps({ queued: 0, repositories: { "acme/capped": 3 } }),
    runner: "kvm2",
    reason: "acme/capped at its vps cap (3) → kvm2",
  },
  {
    name: "a deploy ref has priority",
    input: { ref: "refs/heads/production" },
    runner: "vps",
    reason: "acme/big over its vps share (6/8 slots); deploy ref refs/heads/production has priority: stays",
  },
  {
    name: "a push to the default branch the payload names has priority",
    input: { ref: "refs/heads/trunk", defaultBranch: "trunk" },
    runner: "vps",
    reason: "acme/big over its vps share (6/8 slots); push to the default branch trunk has priority: stays",
  },
  {
    name: "without the payload's default branch, refs/heads/main is taken for it",
    input: { ref: "refs/heads/main" },
    runner: "vps",
    reason: "acme/big over its vps share (6/8 slots); push to the default branch main has priority: stays",
  },
  {
    name: "a pull request from a branch named main has no priority",
    input: { event: "pull_request", ref: "refs/heads/main" },
    runner: "kvm2",
    reason: "acme/big over its vps share (6/8 slots) → kvm2",
  },
  {
    name: "priority off: the default branch is moved like any other",
    input: { ref: "refs/heads/main" },
    policy: parseRoutingConfig({ ...CONFIG, fairShare: { ...FAIR, priority: { defaultBranch: false } } }).defaults,
    runner: "kvm2",
    reason: "acme/big over its vps share (6/8 slots) → kvm2",
  },
  {
    name: "a slot expected within maxWaitSeconds: stays (⌈(4 + 1 − 2) / 8⌉ × 40 s)",
    fleet: withVps({ runSeconds: 40 }),
    runner: "vps",
    reason: "acme/big over its vps share (6/8 slots), expected wait 40 s ≤ 120 s: stays",
  },
  {
    name: "a slot expected later than maxWaitSeconds: goes",
    fleet: withVps({ runSeconds: 600 }),
    runner: "kvm2",
    reason: "acme/big over its vps share (6/8 slots), expected wait 600 s > 120 s → kvm2",
  },
  {
    name: "fair shares not enabled: nothing changes",
    policy: parseRoutingConfig({ ...CONFIG, fairShare: { ...FAIR, enabled: false } }).defaults,
    runner: "vps",
    reason: null,
  },
];

describe("fair shares in route()", () => {
  it.each(CASES)("$name", (c) => {
    const decision = route(input(c.input), c.policy ?? policy, c.fleet ?? CONTENDED);
    expect(decision.runner).toBe(c.runner);
    const shared = decision.reasons.filter((r) => / (share|cap) \(/.test(r));
    expect(shared).toEqual(c.reason === null ? [] : [c.reason]);
  });

  it("the vps without fair shares configured at all decides as before", () => {
    const plain = parseRoutingConfig({ runners: { vps: { capacity: 8 } } }).defaults;
    expect(plain.fairShare).toBeUndefined();
    expect(route(input(), plain, CONTENDED)).toMatchObject({ runner: "vps" });
  });

  it("a saturated class: failover and fair shares both say so, and the build waits where it was moved", () => {
    const shOnly = parseRoutingConfig({ ...CONFIG, mode: "self-hosted-only" }).defaults;
    const fleet: FleetSnapshot = {
      vps: load({ queued: 4, repositories: { "acme/big": 8, "acme/small": 4 } }),
      kvm2: load({ capacity: 1 }),
    };
    const big = route(input(), shOnly, fleet);
    expect(big.runner).toBe("kvm2");
    expect(big.reasons).toContain("vps saturated (8/8 busy); acme/big over its vps share (6/8 slots) → kvm2");
    expect(big.reasons).toContain(
      "kvm2 saturated (1/1 busy); self-hosted-only: no fallback to github-hosted, default waits on kvm2",
    );
    // Within its share, the small repository waits on its own class, as without fair shares.
    const small = route(input({ repository: "acme/small" }), shOnly, {
      ...fleet,
      vps: load({ queued: 4, repositories: { "acme/big": 8, "acme/small": 1 } }),
    });
    expect(small.runner).toBe("vps");
  });

  describe("GPU work is never moved to a class that cannot run it", () => {
    const gpu = input({ changes: changesFromList(["kernels/matmul.cu"], 3000, "test") });
    const fleet: FleetSnapshot = {
      ...CONTENDED,
      "ai-lab": load({ capacity: 1, busy: 0, queued: 2, repositories: { "acme/big": 2 } }),
    };

    it("with the default failover (gpu waits), fair shares say nothing", () => {
      const decision = route(gpu, policy, fleet);
      expect(decision).toMatchObject({ runner: "ai-lab", requirement: "gpu" });
      expect(decision.reasons.some((r) => r.includes("share"))).toBe(false);
    });

    it("with gpu allowed to fail over to kvm2 (no GPU), it stays and says why", () => {
      const movable = parseRoutingConfig({
        ...CONFIG,
        runners: { ...CONFIG.runners, "ai-lab": { fallback: "kvm2" } },
        failover: { requirements: ["gpu", "docker", "default", "lightweight"] },
      }).defaults;
      const decision = route(gpu, movable, fleet);
      expect(decision.runner).toBe("ai-lab");
      expect(decision.reasons).toContain("acme/big over its ai-lab share (1/1 slots); kvm2 cannot run gpu work: stays");
    });
  });
});

describe("the share, the weights and the expected wait", () => {
  const fair = policy.fairShare;
  if (fair === undefined) throw new Error("the policy has fair shares");

  it("weights: a repository's own key over its owner's, any case; 1 when neither is listed", () => {
    expect(weightOf(fair, "Acme/Big")).toBe(3);
    expect(weightOf(fair, "acme/other")).toBe(1);
    const owner = parseRoutingConfig({ fairShare: { weights: { "acme/*": 2 } } }).defaults.fairShare;
    expect(owner && weightOf(owner, "ACME/x")).toBe(2);
    expect(owner && weightOf(owner, "other/x")).toBe(1);
  });

  it("a share counts the repositories active now, itself included", () => {
    const vps = CONTENDED.vps as ClassLoad;
    expect(shareOf(fair, vps, "acme/big")).toBe(6);
    expect(shareOf(fair, vps, "acme/small")).toBe(2);
    // A repository with nothing active yet counts itself: 8 × 1 / (3 + 1 + 1).
    expect(shareOf(fair, vps, "acme/new")).toBeCloseTo(1.6);
    expect(shareOf(fair, load({ repositories: {} }), "acme/big")).toBe(8);
  });

  it.each([
    ["a slot left after the queue", { free: 3, queued: 2 }, 0],
    ["no typical run time known", { free: 0, queued: 2 }, null],
    ["one wave: ⌈(2 + 1) / 8⌉ × 300 s", { free: 0, queued: 2, runSeconds: 300 }, 300],
    ["three waves: ⌈(16 + 1 − 0) / 8⌉ × 100 s", { free: 0, queued: 16, runSeconds: 100 }, 300],
    ["no slot at all", { capacity: 0, free: 0, queued: 1, runSeconds: 60 }, null],
  ])("expected wait: %s", (_, fields, seconds) => {
    expect(expectedWaitSeconds(load(fields as Partial<ClassLoad>))).toBe(seconds);
  });
});

describe("the fairShare configuration", () => {
  const problemsOf = (config: unknown): readonly string[] => {
    try {
      parseRoutingConfig(config);
    } catch (error) {
      if (error instanceof RoutingConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it("defaults: off, equal weights, no caps, both priorities, 120 s", () => {
    expect(parseRoutingConfig({ fairShare: {} }).defaults.fairShare).toEqual({
      enabled: false,
      weights: {},
      caps: {},
      priority: { deployRefs: true, defaultBranch: true },
      maxWaitSeconds: 120,
    });
  });

  it("is the same in every repository's policy, keys lower-cased", () => {
    const config = parseRoutingConfig({
      fairShare: { enabled: true, weights: { "Acme/Big": 2 } },
      repositories: { "acme/app": { mode: "self-hosted-only" } },
    });
    expect(config.repositories["acme/app"]?.fairShare).toBe(config.defaults.fairShare);
    expect(Object.keys(config.defaults.fairShare?.weights ?? {})).toEqual(["acme/big"]);
  });

  it("reports every problem at once, each with its path", () => {
    expect(
      problemsOf({
        fairShare: {
          enabled: true,
          weights: { nope: 1, "acme/x": -1, "Acme/Y": 1, "acme/y": 2 },
          caps: { "gpu-3": { "acme/big": 6 }, "github-hosted": { "acme/a": 1 }, vps: { "acme/b": 1.5 } },
          maxWaitSeconds: -3,
          extra: true,
        },
        repositories: { "acme/r": { fairShare: {} } },
      }),
    ).toEqual([
      'repositories["acme/r"]: Unrecognized key: "fairShare"',
      'fairShare.weights["acme/x"]: must be more than 0',
      'fairShare.caps.vps["acme/b"]: Invalid input: expected int, received number',
      "fairShare.maxWaitSeconds: must be between 0 and 86400 (seconds)",
      'fairShare: Unrecognized key: "extra"',
      'fairShare.caps["gpu-3"]: unknown runner "gpu-3"',
      'fairShare.caps["github-hosted"]: a github-hosted class is not shared: it takes no cap',
      'fairShare.weights.nope: must be "owner/name", or "owner/*" for every repository of an owner',
      'fairShare.weights["acme/y"]: the same repository as fairShare.weights["Acme/Y"] (names are case-insensitive)',
    ]);
  });

  it.each([
    [{ maxWaitSeconds: 1.5 }, "fairShare.maxWaitSeconds: Invalid input: expected int, received number"],
    [{ maxWaitSeconds: "120" }, "fairShare.maxWaitSeconds: Invalid input: expected number, received string"],
    [{ weights: { "acme/a": 0 } }, 'fairShare.weights["acme/a"]: must be more than 0'],
    [
      { caps: { vps: { owner: 1 } } },
      'fairShare.caps.vps.owner: must be "owner/name", or "owner/*" for every repository of an owner',
    ],
  ])("refuses %j", (fairShare, problem) => {
    expect(problemsOf({ fairShare })).toEqual([problem]);
  });
});

describe("fairness figures", () => {
  it.each([
    [[], 1],
    [[0, 0, 0], 1],
    [[5, 5, 5], 1],
    [[1, 0, 0, 0], 0.25],
    [[2, 4], 0.9],
  ])("Jain's index of %j is %d", (values, index) => {
    expect(jainIndex(values)).toBeCloseTo(index, 12);
  });

  it("the burst scenario: fair shares cut the small repositories' p95 queue, the large one absorbing its burst", () => {
    const trace = parseTrace(burstTrace(7));
    const run = simulate(trace, burstConfig(), parseSettings({}), ["tree+load", FAIR_POLICY], BURST_REPOSITORY);
    const [load, fair] = run.figures.map((f) => f.fairness);
    if (!load || !fair) throw new Error("both policies have fairness figures");
    expect(load.largest).toBe(BURST_REPOSITORY);
    expect(fair.small_queue_p95_s).toBeLessThan(load.small_queue_p95_s * 0.8);
    expect(fair.mean_queue_s[BURST_REPOSITORY]).toBeGreaterThan(load.mean_queue_s[BURST_REPOSITORY] ?? 0);
    expect(run.figures.every((f) => f.failed_placements === 0)).toBe(true);
  });
});

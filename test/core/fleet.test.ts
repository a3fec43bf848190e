import { describe, expect, it } from "vitest";
import {
  abBucket,
  applyJobEvent,
  chooseRunner,
  type Decision,
  emptyFleet,
  type FleetState,
  fleetFromPolicy,
  fleetSnapshot,
  fnv1a32,
  type JobState,
  markOffline,
  markSeen,
  parseRoutingConfig,
  type Requirement,
  type RoutingPolicy,
  rescueAction,
} from "../../worker/src/core/index.ts";

/** A controllable clock: minute `m` after a fixed start. */
const at = (minutes: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, 0) + minutes * 60_000).toISOString();

const VPS = ["self-hosted", "vps"];
const KVM2 = ["self-hosted", "kvm2"];

/** vps has two machines of one slot each; kvm2 one; ai-lab one. */
const policy: RoutingPolicy = parseRoutingConfig({
  runners: {
    vps: { machines: { "vps-1": {}, "vps-2": { labels: ["arm64"] } } },
    kvm2: { machines: { "kvm2-1": {} } },
    "ai-lab": { machines: { "gpu-1": {} } },
    kvm4: { machines: { "kvm4-1": {} } },
  },
}).defaults;

function job(id: number, status: string, runner_name: string | null = null, labels = VPS): JobState {
  return {
    id,
    run_id: 1000 + id,
    name: `job ${id}`,
    status,
    conclusion: status === "completed" ? "success" : null,
    labels,
    runner_name,
    runner_group_name: null,
    runner: null,
    created_at: at(0),
    started_at: null,
    completed_at: null,
  };
}

type Step = [JobState, string];
const apply = (steps: Step[], state: FleetState = fleetFromPolicy(policy)) =>
  steps.reduce((s, [j, now]) => applyJobEvent(s, j, now, policy), state);

/** Class → [capacity, busy, free, queued]. */
function loads(state: FleetState) {
  const snap = fleetSnapshot(state, policy);
  return Object.fromEntries(Object.entries(snap).map(([id, l]) => [id, [l.capacity, l.busy, l.free, l.queued]]));
}

function decision(runner: string, requirement: Requirement, runs_on: string[] = VPS): Decision {
  return {
    runner,
    runs_on,
    requirement,
    mode: "hybrid",
    reasons: ["tree"],
    truncated: false,
    files_known: true,
    files_count: 1,
    satisfiable: true,
    environment: null,
    rule: null,
    arm: null,
  };
}

const SHA = "0123456789abcdef0123456789abcdef01234567";
const choose = (d: Decision, state: FleetState, p = policy, labels?: string[]) =>
  chooseRunner(d, p, fleetSnapshot(state, p), { repository: "acme/app", sha: SHA, labels });

describe("applyJobEvent: filling up and draining", () => {
  it("queued, in_progress and completed move exact counts", () => {
    const steps: [Step, Record<string, number[]>][] = [
      [[job(1, "queued"), at(0)], { vps: [2, 0, 2, 1] }],
      [[job(2, "queued"), at(0)], { vps: [2, 0, 2, 2] }],
      [[job(1, "in_progress", "vps-1"), at(1)], { vps: [2, 1, 1, 1] }],
      [[job(2, "in_progress", "vps-2"), at(1)], { vps: [2, 2, 0, 0] }],
      [[job(3, "queued"), at(2)], { vps: [2, 2, 0, 1] }],
      [[job(1, "completed", "vps-1"), at(5)], { vps: [2, 1, 1, 1] }],
      [[job(3, "in_progress", "vps-1"), at(5)], { vps: [2, 2, 0, 0] }],
      [[job(2, "completed", "vps-2"), at(7)], { vps: [2, 1, 1, 0] }],
      [[job(3, "completed", "vps-1"), at(9)], { vps: [2, 0, 2, 0] }],
    ];
    let state = fleetFromPolicy(policy);
    for (const [[j, now], expected] of steps) {
      state = applyJobEvent(state, j, now, policy);
      expect(loads(state)).toMatchObject(expected);
    }
    expect(state.machines["vps-1"]).toEqual({
      name: "vps-1",
      runnerClass: "vps",
      capacity: 1,
      busy: [],
      lastSeen: at(9),
      offlineSince: null,
      online: true,
    });
    expect(state.queued).toEqual({});
    expect(Object.keys(state.settled).sort()).toEqual(["1", "2", "3"]);
  });

  it("a queued job records its run, labels, time and class", () => {
    const state = apply([[{ ...job(7, "queued", null, KVM2), created_at: at(-3) }, at(0)]]);
    expect(state.queued).toEqual({
      "7": { jobId: 7, runId: 1007, labels: KVM2, queuedAt: at(-3), runnerClass: "kvm2" },
    });
  });

  it("an unknown machine is added with capacity 1 under the class its labels map to", () => {
    const state = apply([[job(1, "in_progress", "kvm2-spare", KVM2), at(1)]]);
    expect(state.machines["kvm2-spare"]).toEqual({
      name: "kvm2-spare",
      runnerClass: "kvm2",
      capacity: 1,
      busy: [1],
      lastSeen: at(1),
      offlineSince: null,
      online: true,
    });
    expect(loads(state).kvm2).toEqual([2, 1, 1, 0]);
  });

  it("a class without machines counts its busy jobs against its capacity", () => {
    const bare = parseRoutingConfig({}).defaults;
    let state = emptyFleet();
    for (const [id, name] of [
      [1, "vps-a"],
      [2, "vps-b"],
    ] as const) {
      state = applyJobEvent(state, job(id, "in_progress", name), at(1), bare);
    }
    const vps = fleetSnapshot(state, bare).vps;
    expect(vps).toMatchObject({ capacity: 2, busy: 2, free: 0, saturated: true, hasMachines: false, offline: false });
    expect(vps?.machines.map((m) => [m.name, m.busy])).toEqual([
      ["vps-a", 1],
      ["vps-b", 1],
    ]);
  });

  it("github-hosted never saturates", () => {
    const bare = parseRoutingConfig({ runners: { "github-hosted": { capacity: 1 } } }).defaults;
    let state = emptyFleet();
    for (const id of [1, 2, 3]) {
      state = applyJobEvent(state, job(id, "in_progress", `GitHub Actions ${id}`, ["ubuntu-latest"]), at(1), bare);
    }
    expect(fleetSnapshot(state, bare)["github-hosted"]).toMatchObject({ busy: 3, free: 0, saturated: false });
  });
});

describe("applyJobEvent: idempotent and order-tolerant", () => {
  const events: Step[] = [
    [job(1, "queued"), at(0)],
    [job(2, "queued"), at(0)],
    [job(3, "queued", null, KVM2), at(0)],
    [job(1, "in_progress", "vps-1"), at(1)],
    [job(2, "in_progress", "vps-2"), at(2)],
    [job(3, "in_progress", "kvm2-1", KVM2), at(2)],
    [job(1, "completed", "vps-1"), at(4)],
    [job(4, "queued"), at(5)],
  ];
  const reference = apply(events);

  /** Deterministic shuffles (a small LCG), so a failure names its seed. */
  function shuffled<T>(xs: T[], seed: number): T[] {
    const out = [...xs];
    let s = seed;
    for (let i = out.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const j = s % (i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  it("the reference state has exact counts", () => {
    expect(loads(reference)).toMatchObject({ vps: [2, 1, 1, 1], kvm2: [1, 1, 0, 0] });
    expect(reference.machines["vps-2"]?.busy).toEqual([2]);
    expect(Object.keys(reference.queued)).toEqual(["4"]);
  });

  it("the same event twice changes nothing", () => {
    for (const [j, now] of events) {
      const once = applyJobEvent(reference, j, now, policy);
      expect(applyJobEvent(once, j, now, policy)).toEqual(once);
    }
    expect(apply(events.flatMap((e) => [e, e]))).toEqual(reference);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])(
    "shuffle seed %i, every event delivered twice → the same state",
    (seed) => {
      const state = apply(shuffled([...events, ...events], seed));
      expect(state).toEqual(reference);
    },
  );

  it("completed before in_progress leaves the machine free, and a late queued never re-queues", () => {
    const state = apply([
      [job(9, "completed", "vps-1"), at(3)],
      [job(9, "in_progress", "vps-1"), at(2)],
      [job(9, "queued"), at(0)],
    ]);
    expect(state.machines["vps-1"]?.busy).toEqual([]);
    expect(state.machines["vps-1"]?.lastSeen).toBe(at(3));
    expect(state.queued).toEqual({});
    expect(loads(state).vps).toEqual([2, 0, 2, 0]);
  });

  it("settled jobs are forgotten a day after they were noted", () => {
    const state = apply([
      [job(1, "completed", "vps-1"), at(0)],
      [job(2, "queued"), at(24 * 60 + 1)],
    ]);
    expect(Object.keys(state.settled)).toEqual([]);
  });
});

describe("markOffline / markSeen", () => {
  it("a runner going offline then back", () => {
    let state = apply([[job(1, "in_progress", "vps-1"), at(1)]]);
    state = markOffline(state, ["vps-2"], at(2));
    expect(fleetSnapshot(state, policy).vps).toMatchObject({ capacity: 1, busy: 1, free: 0, saturated: true });
    expect(choose(decision("vps", "default"), state)).toMatchObject({
      runner: "kvm2",
      runs_on: [...KVM2, "kvm2-1"],
      reasons: ["tree", "vps saturated (1/1 busy) → kvm2", "kvm2-1 is the least-loaded kvm2 machine (0/1 busy)"],
    });
    state = markOffline(state, ["vps-1"], at(3));
    expect(fleetSnapshot(state, policy).vps).toMatchObject({ capacity: 0, busy: 0, offline: true });
    expect(choose(decision("vps", "default"), state).reasons.at(1)).toBe(
      "vps offline (all 2 machines are offline) → kvm2",
    );
    // A sighting older than the offline report changes nothing; a later one brings it back.
    state = markSeen(state, ["vps-2"], at(2));
    expect(state.machines["vps-2"]?.online).toBe(false);
    state = markSeen(state, ["vps-2"], at(4));
    expect(state.machines["vps-2"]).toMatchObject({ online: true, lastSeen: at(4), offlineSince: at(2) });
    expect(choose(decision("vps", "default"), state)).toMatchObject({ runner: "vps", runs_on: [...VPS, "vps-2"] });
    // An offline report older than the last sighting changes nothing either.
    expect(markOffline(state, ["vps-2"], at(3)).machines["vps-2"]?.online).toBe(true);
    // A job starting on an offline machine is a sighting.
    state = apply([[job(5, "in_progress", "vps-1"), at(6)]], state);
    expect(state.machines["vps-1"]?.online).toBe(true);
  });

  it("unknown names are ignored", () => {
    const state = fleetFromPolicy(policy);
    expect(markOffline(state, ["ghost"], at(1))).toEqual(state);
    expect(markSeen(state, ["ghost"], at(1))).toEqual(state);
  });
});

describe("chooseRunner", () => {
  const full = (...names: string[]) =>
    apply(
      names.map((name, i): Step => [job(100 + i, "in_progress", name, name.startsWith("kvm2") ? KVM2 : VPS), at(1)]),
    );

  it.each<[string, string[], Requirement, string, string[], string[]]>([
    [
      "an idle class → the first machine by name",
      [],
      "default",
      "vps",
      [...VPS, "vps-1"],
      ["vps-1 is the least-loaded vps machine (0/1 busy)"],
    ],
    [
      "one busy → the other",
      ["vps-1"],
      "docker",
      "vps",
      [...VPS, "vps-2"],
      ["vps-2 is the least-loaded vps machine (0/1 busy)"],
    ],
    [
      "vps saturated → kvm2",
      ["vps-1", "vps-2"],
      "default",
      "kvm2",
      [...KVM2, "kvm2-1"],
      ["vps saturated (2/2 busy) → kvm2", "kvm2-1 is the least-loaded kvm2 machine (0/1 busy)"],
    ],
    [
      "vps and kvm2 saturated → github-hosted",
      ["vps-1", "vps-2", "kvm2-1"],
      "docker",
      "github-hosted",
      ["ubuntu-latest"],
      ["vps saturated (2/2 busy) → kvm2", "kvm2 saturated (1/1 busy) → github-hosted"],
    ],
  ])("%s", (_, busy, requirement, runner, runs_on, reasons) => {
    const d = choose(decision("vps", requirement), full(...busy));
    expect([d.runner, d.runs_on, d.reasons, d.arm]).toEqual([runner, runs_on, ["tree", ...reasons], null]);
  });

  it("gpu and deploy wait on a saturated class", () => {
    const state = apply([
      [job(1, "in_progress", "gpu-1", ["self-hosted", "ai-lab", "gpu"]), at(1)],
      [job(2, "in_progress", "kvm4-1", ["self-hosted", "cloudstartup", "kvm4"]), at(1)],
    ]);
    const gpu = choose(decision("ai-lab", "gpu", ["self-hosted", "ai-lab", "gpu"]), state);
    expect([gpu.runner, gpu.runs_on, gpu.reasons]).toEqual([
      "ai-lab",
      ["self-hosted", "ai-lab", "gpu"],
      ["tree", "ai-lab saturated (1/1 busy); gpu waits"],
    ]);
    const deploy = choose(decision("kvm4", "deploy", ["self-hosted", "cloudstartup", "kvm4"]), state);
    expect(deploy.reasons.at(-1)).toBe("kvm4 saturated (1/1 busy); deploy waits");
  });

  it("a requirement not in failover.requirements waits, even docker", () => {
    const strict = parseRoutingConfig({
      runners: { vps: { machines: { "vps-1": {} } } },
      failover: { requirements: ["lightweight"] },
    }).defaults;
    const state = applyJobEvent(emptyFleet(), job(1, "in_progress", "vps-1"), at(1), strict);
    const d = chooseRunner(decision("vps", "docker"), strict, fleetSnapshot(state, strict), {
      repository: "a/b",
      sha: SHA,
    });
    expect([d.runner, d.runs_on, d.reasons]).toEqual(["vps", VPS, ["tree", "vps saturated (1/1 busy); docker waits"]]);
  });

  it("self-hosted-only never falls back to github-hosted; the chain's end waits on the primary", () => {
    const selfOnly = { ...policy, mode: "self-hosted-only" as const };
    const d = choose(decision("vps", "default"), full("vps-1", "vps-2", "kvm2-1"), selfOnly);
    expect([d.runner, d.runs_on, d.reasons.slice(1)]).toEqual([
      "vps",
      VPS,
      [
        "vps saturated (2/2 busy) → kvm2",
        "kvm2 saturated (1/1 busy); self-hosted-only: no fallback to github-hosted, default waits on vps",
      ],
    ]);
    const noFallback = parseRoutingConfig({
      runners: { vps: { fallback: null, machines: { "vps-1": {} } } },
    }).defaults;
    const state = applyJobEvent(emptyFleet(), job(1, "in_progress", "vps-1"), at(1), noFallback);
    const waits = chooseRunner(decision("vps", "default"), noFallback, fleetSnapshot(state, noFallback), {
      repository: "a/b",
      sha: SHA,
    });
    expect(waits.reasons.at(-1)).toBe("vps saturated (1/1 busy), no fallback left; default waits on vps");
  });

  it("least-loaded by busy/capacity, ties by name, only machines with every needed label", () => {
    const big = parseRoutingConfig({
      runners: { vps: { machines: { b: { capacity: 4 }, a: { capacity: 2 }, c: { capacity: 2, labels: ["arm64"] } } } },
    }).defaults;
    let state = fleetFromPolicy(big);
    const d = () =>
      chooseRunner(decision("vps", "default"), big, fleetSnapshot(state, big), { repository: "a/b", sha: SHA });
    expect(d().runs_on).toEqual([...VPS, "a"]);
    state = applyJobEvent(state, job(1, "in_progress", "a"), at(1), big); // a 1/2, b 0/4, c 0/2
    expect(d().runs_on).toEqual([...VPS, "b"]);
    state = applyJobEvent(state, job(2, "in_progress", "b"), at(1), big); // a 1/2, b 1/4, c 0/2
    expect(d().runs_on).toEqual([...VPS, "c"]);
    state = applyJobEvent(state, job(3, "in_progress", "c"), at(1), big); // a 1/2, b 1/4, c 1/2
    expect(d().runs_on).toEqual([...VPS, "b"]);
    state = applyJobEvent(state, job(4, "in_progress", "b"), at(1), big); // a 1/2, b 2/4, c 1/2 → tie, by name
    expect(d().runs_on).toEqual([...VPS, "a"]);
    const arm = chooseRunner(decision("vps", "default"), big, fleetSnapshot(state, big), {
      repository: "a/b",
      sha: SHA,
      labels: ["arm64"],
    });
    expect(arm.runs_on).toEqual([...VPS, "c"]);
  });

  it("no free machine with the needed labels falls back, saying so", () => {
    const state = full("vps-2");
    const d = choose(decision("vps", "default"), state, policy, ["arm64"]);
    expect(d.reasons.slice(1)).toEqual([
      "vps has no free machine with labels arm64 → kvm2",
      "kvm2 has no free machine with labels arm64 → github-hosted",
    ]);
    expect(d.runner).toBe("github-hosted");
  });

  it("a class without machines with room keeps its labels and says so", () => {
    const bare = parseRoutingConfig({}).defaults;
    const d = chooseRunner(decision("vps", "default"), bare, fleetSnapshot(emptyFleet(), bare), {
      repository: "a/b",
      sha: SHA,
    });
    expect([d.runner, d.runs_on, d.reasons]).toEqual(["vps", VPS, ["tree", "vps has room (0/2 busy)"]]);
  });
});

describe("A/B", () => {
  it("fnv1a32 matches the published FNV-1a test vectors", () => {
    expect([fnv1a32(""), fnv1a32("a"), fnv1a32("foobar")]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
  });

  const ab = parseRoutingConfig({
    runners: { "vps-next": { kind: "self-hosted", runsOn: ["self-hosted", "vps-next"], fallback: "kvm2" } },
    ab: { vps: { candidate: "vps-next", share: 0.25 } },
  }).defaults;

  /** 40 hex digits from a seeded generator. */
  function sha(i: number): string {
    let s = i + 1;
    let out = "";
    while (out.length < 40) {
      s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6b43a9b5) >>> 0;
      out += s.toString(16).padStart(8, "0");
    }
    return out.slice(0, 40);
  }

  it.each([0.1, 0.25, 0.5, 0.9])("share %f: within ±3%% over 10,000 commits, stable per commit", (share) => {
    const policy = { ...ab, ab: { vps: { candidate: "vps-next", share } } };
    const snap = fleetSnapshot(emptyFleet(), policy);
    let candidates = 0;
    for (let i = 0; i < 10_000; i++) {
      const options = { repository: "acme/app", sha: sha(i) };
      const d = chooseRunner(decision("vps", "default"), policy, snap, options);
      if (d.arm === "candidate") candidates++;
      if (i % 500 === 0) {
        // The same commit, asked again (any case), lands on the same arm and runner.
        const again = chooseRunner(decision("vps", "default"), policy, snap, { ...options, repository: "ACME/App" });
        expect([again.arm, again.runner]).toEqual([d.arm, d.runner]);
        expect(d.runner).toBe(d.arm === "candidate" ? "vps-next" : "vps");
      }
    }
    expect(Math.abs(candidates / 10_000 - share)).toBeLessThanOrEqual(0.03);
  });

  it("the reason names the bucket and the arm; other classes get no arm", () => {
    const snap = fleetSnapshot(emptyFleet(), ab);
    const bucket = abBucket("acme/app", SHA);
    const d = chooseRunner(decision("vps", "default"), ab, snap, { repository: "acme/app", sha: SHA });
    const arm = bucket < 0.25 ? "candidate vps-next" : "control vps";
    expect(d.reasons[1]).toBe(
      `A/B vps vs vps-next: commit bucket ${bucket.toFixed(4)} ${bucket < 0.25 ? "<" : "≥"} share 0.25 → ${arm}`,
    );
    const light = chooseRunner(decision("github-hosted", "lightweight", ["ubuntu-latest"]), ab, snap, {
      repository: "acme/app",
      sha: SHA,
    });
    expect([light.arm, light.reasons]).toEqual([null, ["tree"]]);
    const noSha = chooseRunner(decision("vps", "default"), ab, snap, { repository: "acme/app", sha: null });
    expect([noSha.arm, noSha.runner, noSha.reasons[1]]).toEqual([
      "control",
      "vps",
      "A/B vps vs vps-next: no commit to hash → control",
    ]);
  });

  it("shares 0 and 1 are all control and all candidate", () => {
    for (const [share, arm] of [
      [0, "control"],
      [1, "candidate"],
    ] as const) {
      const policy = { ...ab, ab: { vps: { candidate: "vps-next", share } } };
      const snap = fleetSnapshot(emptyFleet(), policy);
      for (let i = 0; i < 200; i++) {
        expect(chooseRunner(decision("vps", "default"), policy, snap, { repository: "a/b", sha: sha(i) }).arm).toBe(
          arm,
        );
      }
    }
  });
});

describe("rescueAction", () => {
  const saturated = full();
  function full() {
    return apply([
      [job(1, "in_progress", "vps-1"), at(0)],
      [job(2, "in_progress", "vps-2"), at(0)],
      [job(3, "in_progress", "gpu-1", ["self-hosted", "ai-lab", "gpu"]), at(0)],
      [job(4, "queued"), at(0)],
    ]);
  }
  const base = {
    queuedAt: at(0),
    now: at(11),
    runnerClass: "vps",
    requirement: "default" as Requirement,
    attempts: 0,
    tokenAvailable: true,
  };
  const act = (over: Partial<typeof base>, p = policy, state = saturated) =>
    rescueAction({ ...base, ...over }, p, fleetSnapshot(state, p));

  it.each<[string, Partial<typeof base>, string, string]>([
    ["within the target", { now: at(10) }, "wait", "queued 600 s of vps's 600 s target"],
    ["past it, with a token", {}, "rescue", "queued 660 s, past vps's 600 s target; cancel and re-run → kvm2"],
    [
      "without a token",
      { tokenAvailable: false },
      "alert",
      "queued 660 s, past vps's 600 s target; no token to cancel and re-run",
    ],
    [
      "bound reached",
      { attempts: 2 },
      "give_up",
      "queued 660 s, past vps's 600 s target; 2 of 2 rescues done for the run",
    ],
    [
      "gpu never",
      { runnerClass: "ai-lab", requirement: "gpu" },
      "wait",
      "queued 660 s, past ai-lab's 600 s target; gpu waits for ai-lab (not in failover.requirements)",
    ],
  ])("%s → %s", (_, over, action, reason) => {
    expect(act(over)).toMatchObject({ action, reason });
  });

  it("a class with room waits: re-routing would choose it again", () => {
    expect(act({}, policy, fleetFromPolicy(policy)).action).toBe("wait");
  });

  it("per-class target, rescue disabled, gpu allowed when configured", () => {
    const custom = parseRoutingConfig({
      runners: {
        vps: { queueTargetSeconds: 120, machines: { "vps-1": {}, "vps-2": {} } },
        "ai-lab": { fallback: "vps", machines: { "gpu-1": {} } },
      },
      failover: { requirements: ["gpu", "default"], rescue: { enabled: false } },
    }).defaults;
    const state = apply([
      [job(1, "in_progress", "vps-1"), at(0)],
      [job(3, "in_progress", "gpu-1", ["self-hosted", "ai-lab", "gpu"]), at(0)],
    ]);
    expect(act({ now: at(3) }, custom, state)).toMatchObject({ action: "wait" }); // vps has room
    expect(act({ now: at(3), runnerClass: "ai-lab", requirement: "gpu" }, custom, state)).toMatchObject({
      action: "wait",
      reason: "queued 180 s of ai-lab's 600 s target",
    });
    expect(act({ now: at(11), runnerClass: "ai-lab", requirement: "gpu" }, custom, state)).toEqual({
      action: "alert",
      reason: "queued 660 s, past ai-lab's 600 s target; rescue is disabled",
      fallback: "vps",
    });
  });

  it("scenario: a stuck job is rescued exactly once with maxPerRun 1, and a gpu job never", () => {
    const once = parseRoutingConfig({
      runners: { vps: { machines: { "vps-1": {}, "vps-2": {} } }, kvm2: { machines: { "kvm2-1": {} } } },
      failover: { rescue: { maxPerRun: 1 } },
    }).defaults;
    let attempts = 0;
    const actions: string[] = [];
    const gpuActions = new Set<string>();
    for (let minute = 0; minute <= 30; minute++) {
      const snap = fleetSnapshot(saturated, once);
      const r = rescueAction({ ...base, now: at(minute), attempts }, once, snap);
      actions.push(r.action);
      if (r.action === "rescue") attempts++;
      gpuActions.add(
        rescueAction({ ...base, now: at(minute), runnerClass: "ai-lab", requirement: "gpu", attempts: 0 }, once, snap)
          .action,
      );
    }
    expect(actions.filter((a) => a === "rescue")).toHaveLength(1);
    expect(actions.indexOf("rescue")).toBe(11);
    expect(actions.slice(12).every((a) => a === "give_up")).toBe(true);
    expect([...gpuActions]).toEqual(["wait"]);
  });

  it("no fallback with room → wait", () => {
    const state = apply([[job(9, "in_progress", "kvm2-1", KVM2), at(0)]], saturated);
    const selfOnly = { ...policy, mode: "self-hosted-only" as const };
    expect(act({}, selfOnly, state)).toMatchObject({
      action: "wait",
      reason: "queued 660 s, past vps's 600 s target, and no fallback of vps has room",
    });
  });
});

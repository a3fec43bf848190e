import { describe, expect, it } from "vitest";
import {
  abBucket,
  afterCancel,
  CANCEL_CONFIRM_MS,
  chooseRunner,
  type Decision,
  type FleetJobState,
  fleetSnapshot,
  fnv1a32,
  isOnline,
  type JobState,
  MAX_AGE_MS,
  NO_COUNTS,
  parseRoutingConfig,
  type Requirement,
  type RoutingPolicy,
  rescueAction,
  stepJob,
} from "../../worker/src/core/index.ts";
import { FleetRig, type Step } from "./fleet-rig.ts";

/** A controllable clock: minute `m` after a fixed start. */
const at = (minutes: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, 0) + minutes * 60_000).toISOString();
const ms = (minutes: number) => Date.parse(at(minutes));

const VPS = ["self-hosted", "vps"];
const KVM2 = ["self-hosted", "kvm2"];

/** vps has two machines of one slot each; kvm2 one; ai-lab one. */
const CONFIG = {
  runners: {
    vps: { machines: { "vps-1": {}, "vps-2": { labels: ["arm64"] } } },
    kvm2: { machines: { "kvm2-1": {} } },
    "ai-lab": { machines: { "gpu-1": {} } },
    kvm4: { machines: { "kvm4-1": {} } },
  },
};
const policy: RoutingPolicy = parseRoutingConfig(CONFIG).defaults;

function job(id: number, status: string, runner_name: string | null = null, labels = VPS): JobState {
  return {
    id,
    run_id: 1000 + id,
    run_attempt: 1,
    name: `job ${id}`,
    status,
    conclusion: status === "completed" ? "success" : null,
    labels,
    runner_name,
    runner_group_name: null,
    runner: null,
    created_at: at(0),
    queued_at: at(0),
    started_at: null,
    completed_at: null,
  };
}

/** The fleet under CONFIG (or `base`'s configuration) after `steps`. */
const apply = (steps: Step[], base: FleetRig = new FleetRig(CONFIG)) => base.with(steps);

/** Class → [capacity, busy, free, queued]. */
function loads(state: FleetRig, p = policy) {
  const snap = fleetSnapshot(state.counts(), p);
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
const choose = (d: Decision, state: FleetRig, p = policy, labels?: string[]) =>
  chooseRunner(d, p, fleetSnapshot(state.counts(), p), { repository: "acme/app", sha: SHA, labels });

describe("stepJob: what one event does to a job's row", () => {
  const row = (status: string, runner: string | null = null, now = 0) =>
    stepJob(null, { job: job(1, status, runner), repository: "acme/app", runAttempt: 1, runnerClass: "vps" }, ms(now));

  it("waiting, queued, busy and done; only forward", () => {
    const waiting = row("waiting");
    expect(waiting).toMatchObject({ state: "waiting", since: ms(0), machine: null });
    const queued = stepJob(
      waiting,
      { job: job(1, "queued"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" },
      ms(30),
    );
    // It waited for an approval: its time in the queue starts when it queues, not when it was created.
    expect(queued).toMatchObject({ state: "queued", since: ms(30) });
    const busy = stepJob(
      queued,
      { job: job(1, "in_progress", "vps-1"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" },
      ms(31),
    );
    expect(busy).toMatchObject({ state: "busy", machine: "vps-1", since: ms(31) });
    // Older news changes nothing.
    expect(
      stepJob(busy, { job: job(1, "queued"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" }, ms(32)),
    ).toBeNull();
    expect(
      stepJob(busy, { job: job(1, "waiting"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" }, ms(32)),
    ).toBeNull();
    const done = stepJob(
      busy,
      { job: job(1, "completed", "vps-1"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" },
      ms(40),
    );
    expect(done).toMatchObject({ state: "done", machine: null, since: ms(40) });
    expect(
      stepJob(
        done,
        { job: job(1, "in_progress", "vps-1"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" },
        ms(41),
      ),
    ).toBeNull();
  });

  it("a queued job that never waited is in the queue since it was created; a busy one moves machines", () => {
    expect(row("queued", null, 5)).toMatchObject({ state: "queued", since: ms(0) });
    const busy = row("in_progress", "vps-1", 5);
    expect(
      stepJob(
        busy,
        { job: job(1, "in_progress", "vps-2"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" },
        ms(6),
      ),
    ).toMatchObject({
      machine: "vps-2",
    });
    expect(
      stepJob(
        busy,
        { job: job(1, "in_progress", "vps-1"), repository: "acme/app", runAttempt: 1, runnerClass: "vps" },
        ms(6),
      ),
    ).toBeNull();
  });

  it("statuses the fleet does not follow change nothing", () => {
    expect(row("something_new")).toBeNull();
  });
});

describe("the fleet's rows: filling up and draining", () => {
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
    let state = new FleetRig(CONFIG);
    for (const [step, expected] of steps) {
      state = state.with([step]);
      expect(loads(state)).toMatchObject(expected);
    }
    expect(state.machine("vps-1")).toEqual({ name: "vps-1", runnerClass: "vps", lastSeen: ms(9), offlineSince: null });
    expect(state.rows().jobs.map((j) => [j.job_id, j.state])).toEqual([
      [1, "done"],
      [2, "done"],
      [3, "done"],
    ]);
  });

  it("a queued job records its run, labels, time and class", () => {
    const state = apply([[{ ...job(7, "queued", null, KVM2), created_at: at(-3) }, at(0)]]);
    expect(state.job(7)).toMatchObject({
      state: "queued",
      runId: 1007,
      labels: KVM2,
      since: ms(-3),
      runnerClass: "kvm2",
    });
  });

  it("a machine the configuration does not list is known while it runs a job, under the class its labels map to", () => {
    const state = apply([[job(1, "in_progress", "kvm2-spare", KVM2), at(1)]]);
    expect(state.machine("kvm2-spare")).toEqual({
      name: "kvm2-spare",
      runnerClass: "kvm2",
      lastSeen: ms(1),
      offlineSince: null,
    });
    expect(loads(state).kvm2).toEqual([2, 1, 1, 0]);
    // An ephemeral runner runs one job: when it ends, the runner is forgotten.
    const done = state.with([[job(1, "completed", "kvm2-spare", KVM2), at(3)]]);
    expect(done.machine("kvm2-spare")).toBeNull();
    expect(loads(done).kvm2).toEqual([1, 0, 1, 0]);
  });

  it("1,000 ephemeral runners leave no machine behind, and a delivery reads only the fleet's live rows", () => {
    const steps: Step[] = [];
    for (let i = 0; i < 1000; i++) {
      steps.push(
        [job(i + 1, "in_progress", `ephemeral-${i}`), at(i)],
        [job(i + 1, "completed", `ephemeral-${i}`), at(i + 1)],
      );
    }
    const state = apply(steps);
    expect(state.rows().machines.map((m) => m.name)).toEqual([]);
    expect(state.counts().machines).toEqual([]);
  });

  it("a runner name reused by another class takes the class of the job it runs now", () => {
    const state = apply([
      [job(1, "in_progress", "shared-1", VPS), at(1)],
      [job(2, "in_progress", "shared-1", KVM2), at(2)],
    ]);
    expect(state.machine("shared-1")?.runnerClass).toBe("kvm2");
  });

  it("a class without machines counts its busy jobs against its capacity", () => {
    const bare = parseRoutingConfig({}).defaults;
    const state = apply(
      [
        [job(1, "in_progress", "vps-a"), at(1)],
        [job(2, "in_progress", "vps-b"), at(1)],
      ],
      new FleetRig({}),
    );
    const vps = fleetSnapshot(state.counts(), bare).vps;
    expect(vps).toMatchObject({ capacity: 2, busy: 2, free: 0, saturated: true, hasMachines: false, offline: false });
    expect(vps?.machines.map((m) => [m.name, m.busy])).toEqual([
      ["vps-a", 1],
      ["vps-b", 1],
    ]);
  });

  it("github-hosted never saturates", () => {
    const config = { runners: { "github-hosted": { capacity: 1 } } };
    const bare = parseRoutingConfig(config).defaults;
    const state = apply(
      [1, 2, 3].map((id): Step => [job(id, "in_progress", `GitHub Actions ${id}`, ["ubuntu-latest"]), at(1)]),
      new FleetRig(config),
    );
    expect(fleetSnapshot(state.counts(), bare)["github-hosted"]).toMatchObject({ busy: 3, free: 0, saturated: false });
  });

  it("waiting jobs (an approval, a wait timer) are no demand: counted apart, never queued", () => {
    const state = apply([
      [job(1, "waiting", null, ["self-hosted", "cloudstartup", "kvm4"]), at(0)],
      [job(2, "waiting"), at(0)],
    ]);
    const snap = fleetSnapshot(state.counts(), policy);
    expect(snap.kvm4).toMatchObject({ queued: 0, waiting: 1 });
    expect(snap.vps).toMatchObject({ queued: 0, waiting: 1 });
    const released = state.with([[job(2, "queued"), at(90)]]);
    expect(fleetSnapshot(released.counts(), policy).vps).toMatchObject({ queued: 1, waiting: 0 });
    expect(released.job(2)?.since).toBe(ms(90));
  });
});

describe("the fleet's rows: active jobs per class and repository, for fair shares", () => {
  /** A fleet row of `repository` in `state` on `runnerClass`, put by key as the Ledger does. */
  const put = (rig: FleetRig, jobId: number, state: FleetJobState, repository: string, runnerClass: string | null) =>
    rig.book.fleet.putJob({
      jobId,
      state,
      repository,
      runId: jobId,
      runAttempt: 1,
      runnerClass,
      machine: null,
      labels: VPS,
      since: ms(0),
      checkAt: null,
      checks: 0,
      expectedSeconds: null,
    });

  it("counts queued and busy rows per class and lower-cased repository; waiting, done and classless rows are not demand", () => {
    const rig = new FleetRig(CONFIG);
    put(rig, 1, "queued", "Acme/Big", "vps");
    put(rig, 2, "busy", "acme/big", "vps");
    put(rig, 3, "busy", "acme/small", "vps");
    put(rig, 4, "queued", "acme/small", "kvm2");
    put(rig, 5, "waiting", "acme/small", "vps");
    put(rig, 6, "done", "acme/small", "vps");
    put(rig, 7, "queued", "acme/other", null);
    const active = rig.counts().activeByClass;
    expect([...active.keys()].sort()).toEqual(["kvm2", "vps"]);
    expect(Object.fromEntries(active.get("vps") ?? [])).toEqual({ "acme/big": 2, "acme/small": 1 });
    expect(Object.fromEntries(active.get("kvm2") ?? [])).toEqual({ "acme/small": 1 });
    const snapshot = fleetSnapshot(rig.counts(), policy);
    expect(snapshot.vps?.repositories).toEqual({ "acme/big": 2, "acme/small": 1 });
    expect(snapshot["ai-lab"]?.repositories).toBeUndefined();
  });

  it("reads only active rows: finished rows, however many, are never grouped", () => {
    const rig = new FleetRig(CONFIG);
    for (let id = 1; id <= 200; id++) put(rig, id, "done", `acme/r${id}`, "vps");
    put(rig, 201, "busy", "acme/live", "vps");
    expect(Object.fromEntries(rig.counts().activeByClass.get("vps") ?? [])).toEqual({ "acme/live": 1 });
    const plan = rig.book.sql
      .exec<{ detail: string }>(
        "EXPLAIN QUERY PLAN SELECT runner_class, repository, COUNT(*) AS n FROM fleet_jobs WHERE state IN ('queued', 'busy') AND runner_class IS NOT NULL GROUP BY runner_class, repository",
      )
      .toArray()
      .map((r) => r.detail)
      .join("\n");
    expect(plan).toMatch(/USING INDEX fleet_jobs_state/);
  });
});

describe("names that are also Object.prototype's", () => {
  it("a class named constructor with machines toString and hasOwnProperty is counted and chosen like any other", () => {
    const config = {
      runners: {
        constructor: {
          kind: "self-hosted",
          runsOn: ["self-hosted", "odd"],
          machines: { toString: {}, hasOwnProperty: {} },
        },
      },
      assign: { docker: "constructor" },
    };
    const odd = parseRoutingConfig(config).defaults;
    const rig = apply([[job(1, "in_progress", "hasOwnProperty", ["self-hosted", "odd"]), at(1)]], new FleetRig(config));
    expect(fleetSnapshot(rig.counts(), odd).constructor).toMatchObject({ capacity: 2, busy: 1, free: 1 });
    const d = chooseRunner(
      decision("constructor", "docker", ["self-hosted", "odd"]),
      odd,
      fleetSnapshot(rig.counts(), odd),
      {
        repository: "acme/app",
        sha: SHA,
      },
    );
    expect(d.runs_on).toEqual(["self-hosted", "odd", "toString"]);
    // Machines named after Object.prototype's own members, seen running jobs.
    const names = apply(
      ["__proto__", "constructor", "valueOf"].map((name, i): Step => [job(10 + i, "in_progress", name), at(2)]),
    );
    expect(names.counts().busyByMachine).toEqual(
      new Map([
        ["__proto__", 1],
        ["constructor", 1],
        ["valueOf", 1],
      ]),
    );
    expect(fleetSnapshot(names.counts(), policy).vps?.machines.map((m) => m.name)).toEqual(
      expect.arrayContaining(["__proto__", "constructor", "valueOf"]),
    );
  });
});

describe("the fleet's rows: idempotent and order-tolerant", () => {
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
    expect(reference.job(2)).toMatchObject({ state: "busy", machine: "vps-2" });
    expect(
      reference
        .rows()
        .jobs.filter((j) => j.state === "queued")
        .map((j) => j.job_id),
    ).toEqual([4]);
  });

  it("the same event twice changes nothing", () => {
    expect(apply(events.flatMap((e) => [e, e])).rows()).toEqual(reference.rows());
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])(
    "shuffle seed %i, every event delivered twice → the same loads and states",
    (seed) => {
      const state = apply(shuffled([...events, ...events], seed));
      expect(loads(state)).toEqual(loads(reference));
      const states = (s: FleetRig) => s.rows().jobs.map((j) => [j.job_id, j.state, j.machine]);
      expect(states(state)).toEqual(states(reference));
    },
  );

  it("completed before in_progress leaves the machine free, and a late queued never re-queues", () => {
    const state = apply([
      [job(9, "completed", "vps-1"), at(3)],
      [job(9, "in_progress", "vps-1"), at(2)],
      [job(9, "queued"), at(0)],
    ]);
    expect(state.counts().busyByMachine.get("vps-1")).toBeUndefined();
    expect(state.machine("vps-1")?.lastSeen).toBe(ms(3));
    expect(loads(state).vps).toEqual([2, 0, 2, 0]);
  });
});

describe("the fleet's rows: every state has a maximum age", () => {
  it.each([
    ["queued", job(1, "queued"), 24 * 60],
    ["busy", job(1, "in_progress", "vps-1"), 5 * 24 * 60],
    ["waiting", job(1, "waiting"), 30 * 24 * 60],
  ] as const)(
    "a job %s past its maximum age is let go (done), counted, and its slot freed",
    (state, event, limitMinutes) => {
      const rig = apply([[event, at(0)]]);
      expect(MAX_AGE_MS[state]).toBe((limitMinutes + 60) * 60_000);
      rig.maintain(at(limitMinutes + 59));
      expect(rig.job(1)?.state).toBe(state);
      rig.maintain(at(limitMinutes + 61));
      expect(rig.job(1)?.state).toBe("done");
      expect(rig.book.metrics.gauge("jobsExpired", { state })).toBe(1);
      expect(loads(rig).vps).toEqual([2, 0, 2, 0]);
      // A finished job is remembered a day (a late event cannot bring it back), then forgotten.
      rig.maintain(at(limitMinutes + 61 + 24 * 60 + 1));
      expect(rig.job(1)).toBeNull();
    },
  );
});

describe("the fleet's rows: GitHub's list of runners", () => {
  it("a runner going offline then back", () => {
    const state = apply([[job(1, "in_progress", "vps-1"), at(1)]]);
    state.reconcile([{ name: "vps-2", status: "offline", busy: false }], at(2));
    expect(fleetSnapshot(state.counts(), policy).vps).toMatchObject({ capacity: 1, busy: 1, free: 0, saturated: true });
    expect(choose(decision("vps", "default"), state)).toMatchObject({
      runner: "kvm2",
      runs_on: [...KVM2, "kvm2-1"],
      reasons: ["tree", "vps saturated (1/1 busy) → kvm2", "kvm2-1 is the least-loaded kvm2 machine (0/1 busy)"],
    });
    state.reconcile([{ name: "vps-1", status: "offline", busy: true }], at(3));
    expect(fleetSnapshot(state.counts(), policy).vps).toMatchObject({ capacity: 0, busy: 0, offline: true });
    expect(choose(decision("vps", "default"), state).reasons.at(1)).toBe(
      "vps offline (all 2 machines are offline) → kvm2",
    );
    // A sighting no later than the offline report changes nothing; a later one brings it back.
    state.reconcile([{ name: "vps-2", status: "online", busy: false }], at(2));
    expect(isOnline(state.machine("vps-2") ?? { lastSeen: null, offlineSince: null })).toBe(false);
    state.reconcile([{ name: "vps-2", status: "online", busy: false }], at(4));
    expect(state.machine("vps-2")).toMatchObject({ lastSeen: ms(4), offlineSince: ms(2) });
    expect(choose(decision("vps", "default"), state)).toMatchObject({ runner: "vps", runs_on: [...VPS, "vps-2"] });
    // An offline report older than the last sighting changes nothing either.
    state.reconcile([{ name: "vps-2", status: "offline", busy: false }], at(3));
    expect(isOnline(state.machine("vps-2") ?? { lastSeen: null, offlineSince: null })).toBe(true);
  });

  it("runners the fleet does not know are left out", () => {
    const state = new FleetRig(CONFIG);
    state.reconcile([{ name: "ghost", status: "online", busy: false }], at(1));
    expect(state.machine("ghost")).toBeNull();
  });

  it("a job held on a runner GitHub lists idle is checked at once; a fresh one only after a grace", () => {
    const state = apply([
      [{ ...job(1, "in_progress", "vps-1"), started_at: at(0) }, at(0)],
      [{ ...job(2, "in_progress", "vps-2"), started_at: at(9) }, at(9)],
    ]);
    state.reconcile(
      [
        { name: "vps-1", status: "online", busy: false },
        { name: "vps-2", status: "online", busy: false },
      ],
      at(10),
    );
    expect(state.job(1)?.checkAt).toBe(ms(10));
    expect(state.job(2)?.checkAt).not.toBe(ms(10));
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
    const strictConfig = {
      runners: { vps: { machines: { "vps-1": {} } } },
      failover: { requirements: ["lightweight"] },
    };
    const strict = parseRoutingConfig(strictConfig).defaults;
    const state = apply([[job(1, "in_progress", "vps-1"), at(1)]], new FleetRig(strictConfig));
    const d = chooseRunner(decision("vps", "docker"), strict, fleetSnapshot(state.counts(), strict), {
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
    const noFallbackConfig = { runners: { vps: { fallback: null, machines: { "vps-1": {} } } } };
    const noFallback = parseRoutingConfig(noFallbackConfig).defaults;
    const state = apply([[job(1, "in_progress", "vps-1"), at(1)]], new FleetRig(noFallbackConfig));
    const waits = chooseRunner(decision("vps", "default"), noFallback, fleetSnapshot(state.counts(), noFallback), {
      repository: "a/b",
      sha: SHA,
    });
    expect(waits.reasons.at(-1)).toBe("vps saturated (1/1 busy), no fallback left; default waits on vps");
  });

  it("least-loaded by busy/capacity, ties by name, only machines with every needed label", () => {
    const bigConfig = {
      runners: { vps: { machines: { b: { capacity: 4 }, a: { capacity: 2 }, c: { capacity: 2, labels: ["arm64"] } } } },
    };
    const big = parseRoutingConfig(bigConfig).defaults;
    let state = new FleetRig(bigConfig);
    const d = () =>
      chooseRunner(decision("vps", "default"), big, fleetSnapshot(state.counts(), big), {
        repository: "a/b",
        sha: SHA,
      });
    expect(d().runs_on).toEqual([...VPS, "a"]);
    state = state.with([[job(1, "in_progress", "a"), at(1)]]); // a 1/2, b 0/4, c 0/2
    expect(d().runs_on).toEqual([...VPS, "b"]);
    state = state.with([[job(2, "in_progress", "b"), at(1)]]); // a 1/2, b 1/4, c 0/2
    expect(d().runs_on).toEqual([...VPS, "c"]);
    state = state.with([[job(3, "in_progress", "c"), at(1)]]); // a 1/2, b 1/4, c 1/2
    expect(d().runs_on).toEqual([...VPS, "b"]);
    state = state.with([[job(4, "in_progress", "b"), at(1)]]); // a 1/2, b 2/4, c 1/2 → tie, by name
    expect(d().runs_on).toEqual([...VPS, "a"]);
    const arm = chooseRunner(decision("vps", "default"), big, fleetSnapshot(state.counts(), big), {
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
    const d = chooseRunner(decision("vps", "default"), bare, fleetSnapshot(NO_COUNTS, bare), {
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
    const snap = fleetSnapshot(NO_COUNTS, policy);
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
    const snap = fleetSnapshot(NO_COUNTS, ab);
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
      const snap = fleetSnapshot(NO_COUNTS, policy);
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
    rescueAction({ ...base, ...over }, p, fleetSnapshot(state.counts(), p));

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
    expect(act({}, policy, new FleetRig(CONFIG)).action).toBe("wait");
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
      const snap = fleetSnapshot(saturated.counts(), once);
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

describe("afterCancel: a run cancelled for a rescue", () => {
  const cancelledAt = Date.parse("2026-11-20T12:00:00Z");
  const rescue = { runAttempt: 1, cancelledAt };
  const run = (status: string, conclusion: string | null, attempt = 1) => ({ status, conclusion, attempt });
  it.each<[string, ReturnType<typeof run> | undefined, number, boolean, string]>([
    ["not seen yet", undefined, 1_000, true, "wait"],
    ["still in progress", run("in_progress", null), 1_000, true, "wait"],
    ["never seen completed within the hour", run("in_progress", null), CANCEL_CONFIRM_MS + 1, true, "give_up"],
    ["an earlier attempt completed", run("completed", "cancelled", 0), 1_000, true, "wait"],
    ["ended cancelled", run("completed", "cancelled"), 1_000, true, "rerun"],
    ["ended cancelled, no token", run("completed", "cancelled"), 1_000, false, "not_rerun"],
    ["ended otherwise (someone finished it)", run("completed", "success"), 1_000, true, "not_rerun"],
  ])("%s → %s", (_, state, after, token, expected) => {
    expect(afterCancel(state, rescue, cancelledAt + after, token)).toBe(expected);
  });
});

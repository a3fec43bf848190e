/**
 * The discrete-event simulation: one policy over one trace, on an explicit clock (milliseconds
 * of the trace's own time; nothing reads the wall clock).
 *
 * A commit arrives and the policy decides its class (per commit, as the router decides at push
 * time; the oracle decides per job). Its jobs are queued `queueDelaySeconds` later (a delay drawn
 * per commit from the settings' seed, the same for every policy). Each class is a FIFO queue in
 * front of its slots: the sum of its machines' capacities, or its `capacity`. A job takes the
 * first free slot, preferring a warm one; a slot that is not warm boots first (the class's cold
 * start, counted as queue time, as GitHub counts queued → in_progress). The job then runs its
 * `minutes` on that class, and the slot goes cold again (ephemeral runners: a new machine per
 * job). Warm slots come from the fixed warm pool (`fixed-warm-pool`) or from warming ahead
 * (`learned+prewarm`); a warm slot's idle minutes are billed on a per-minute class.
 *
 * The fleet's load the router sees is built as the Worker builds it: `fleetSnapshot` over
 * counts of busy jobs (running) and queued jobs (waiting for a slot or booting on one), those
 * counts per repository (fair shares), and each class's typical run time, the median of the
 * run times it has seen in the Ledger's histogram buckets.
 */
import {
  type AheadRuns,
  addActive,
  bucketOf,
  type Decision,
  DURATION_BUCKETS,
  type FleetCounts,
  type FleetMachine,
  type FleetSnapshot,
  fleetSnapshot,
  MAX_AHEAD_LISTED,
  policyFor,
  type Requirement,
  RoutedDemand,
  type RoutingConfig,
  type Runner,
  typicalRunSeconds,
  withRouted,
} from "../../worker/src/core/index.ts";
import { classSettings, type SimSettings } from "./settings.ts";
import type { TraceCommit, TraceJob } from "./trace.ts";

const MINUTE = 60_000;

/** What a policy decided for a commit at push time. */
export interface CommitChoice {
  /** The class every job of the commit is queued on. */
  runner: string;
  /** The router's decision, when a router made one. */
  decision: Decision | null;
  /** The learner explored instead of taking its greedy choice. */
  explored?: boolean;
  /** The probability the policy gave its choice. */
  probability?: number;
  /** Machines to warm ahead now, per class (the commit's expected jobs on each). */
  prewarm?: Readonly<Record<string, number>>;
  /** The commit's expected jobs per class (the decision's `learned.expected_jobs`): demand until its first job queues. */
  expected?: Readonly<Record<string, number>>;
  /** Jobs placed on a class of their own (the decision's `placements`); every other job goes on `runner`. */
  placements?: readonly { workflow: string; job: string; runner: string }[];
}

/** The key a job placed apart is found by: its workflow's and its own name. */
const placementKey = (workflow: string, job: string): string => `${workflow}\u001f${job}`;

/** A routing policy under simulation. */
export interface SimPolicy {
  readonly name: string;
  /** A routing policy (held to zero failed placements), not a baseline. */
  readonly router: boolean;
  /** The class for all the commit's jobs, at push time; null to place each job when it queues. */
  decide(commit: TraceCommit, sim: Simulation): CommitChoice | null;
  /** A job's class when it queues (for a policy whose `decide` returns null). */
  placeJob?(commit: TraceCommit, job: TraceJob, sim: Simulation): string;
  /**
   * The expected run seconds of a job queued on `runner`, as the policy estimates it when the job
   * queues (null: unknown), as the Ledger keeps it on the job's fleet row: the learner's backlog.
   */
  expectedRun?(commit: TraceCommit, job: TraceJob, runner: string, sim: Simulation): number | null;
  jobDone?(run: JobRun, commit: TraceCommit, sim: Simulation): void;
  commitDone?(run: CommitRun, commit: TraceCommit, sim: Simulation): void;
  /** Machines of a class kept warm all along. */
  warmPool?(runner: string): number;
}

/** One job as it went. Times in trace milliseconds. */
export interface JobRun {
  commit: number;
  index: number;
  name: string;
  workflow: string;
  /** The class it was placed on (null: none). */
  runner: string | null;
  queuedAt: number;
  startedAt: number | null;
  doneAt: number | null;
  runMs: number;
  /** Placed on a class that cannot run it: it never runs. */
  failedPlacement: boolean;
  failed: boolean;
  /** Started on a warm (or warming) machine: no full cold start. */
  warm: boolean;
  /** Its run as the policy expected it when it queued (`SimPolicy.expectedRun`), seconds; null: unknown. */
  expectedSeconds: number | null;
}

/** One commit as it went. */
export interface CommitRun {
  index: number;
  at: number;
  runner: string | null;
  decision: Decision | null;
  explored: boolean;
  probability: number | null;
  /** The classes of the jobs placed apart, by `placementKey(workflow, job)`. */
  placed: Map<string, string> | null;
  jobsLeft: number;
  failedPlacement: boolean;
  /** When its last job finished (null: a job was never placed, or the simulation has not got there). */
  doneAt: number | null;
}

type SlotState = "cold" | "warming" | "warm" | "starting" | "busy";

interface Slot {
  machine: string | null;
  state: SlotState;
  readyAt: number;
  warmSince: number;
  endAt: number;
  /** Bumped whenever a pending warm or expiry event no longer applies. */
  epoch: number;
  prewarmed: boolean;
  /** The job starting or running on it, for fair shares' counts and the learner's backlog. */
  job: JobRun | null;
}

interface Pending {
  run: JobRun;
}

/** A runner class's queue and slots. */
export interface ClassState {
  id: string;
  runner: Runner;
  coldMs: number;
  /** Per-minute price, or null for a monthly-priced class. */
  perMinuteUsd: number | null;
  slots: Slot[];
  queue: Pending[];
  /** Run seconds of the jobs it ran, per `DURATION_BUCKETS` bound (+Inf last), as the Ledger's histogram counts them. */
  runHistogram: number[];
}

type Event =
  | { at: number; seq: number; kind: "commit" | "queue"; commit: number }
  | { at: number; seq: number; kind: "begin" | "done"; run: JobRun; slot: Slot; cls: ClassState }
  | { at: number; seq: number; kind: "warm" | "expire"; slot: Slot; cls: ClassState; epoch: number };

type EventInput = Event extends infer E ? (E extends Event ? Omit<E, "seq"> : never) : never;

/** A binary min-heap of events by time, then by insertion. */
class Events {
  private heap: Event[] = [];
  private seq = 0;
  get size(): number {
    return this.heap.length;
  }
  push(event: EventInput): void {
    const e = { ...event, seq: this.seq++ } as Event;
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as Event, h[parent] as Event)) break;
      [h[i], h[parent]] = [h[parent] as Event, h[i] as Event];
      i = parent;
    }
  }
  pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l] as Event, h[m] as Event)) m = l;
        if (r < h.length && before(h[r] as Event, h[m] as Event)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Event, h[i] as Event];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Event, b: Event) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** What warming machines cost and achieved. */
export interface WarmFigures {
  /** Machines warmed ahead (prewarm) or by the pool. */
  warmed: number;
  /** Warm machines a job took. */
  used: number;
  /** Warmed ahead and let go unused. */
  wasted: number;
  /** Idle warm minutes per class (billed on per-minute classes). */
  idleMinutes: Record<string, number>;
  /** Idle warm minutes billed, USD. */
  idleUsd: number;
}

/**
 * One step of a run as the simulation took it, in the order it took them (ties in time keep
 * that order): a commit decided, or one of its jobs queued (its `queued` event), started on a
 * machine (`in_progress`: after its class's cold start unless the machine was warm) or done
 * (`completed`). What a Worker would be sent, delivery by delivery, to see the same fleet and
 * learn the same history (`test/core/simulate-learned-worker.test.ts` replays it).
 */
export type TimelineStep =
  | { at: number; kind: "commit"; commit: number }
  | { at: number; kind: "queued" | "started" | "completed"; job: JobRun };

export interface SimOptions {
  /** Record the run's {@link TimelineStep}s in its result (off by default: a year's run would hold millions). */
  timeline?: boolean;
  /**
   * How long a routed build counts as demand at most (default core/routed.ts `ROUTED_TTL_MS`).
   * A replay through a Worker whose clock is the wall clock, not the trace's, passes Infinity so
   * that both sides end the demand by the same events alone.
   */
  routedTtlMs?: number;
}

export interface SimResult {
  policy: string;
  router: boolean;
  jobs: JobRun[];
  commits: CommitRun[];
  warm: WarmFigures;
  /** [start, end] of the trace: its first and last commit. */
  period: { start: number; end: number };
  /** Every step in order, when {@link SimOptions.timeline} asked for it. */
  timeline?: TimelineStep[];
}

/** Every class any policy of `config` names, with its slots (machines expanded by capacity). */
function classStates(config: RoutingConfig, settings: SimSettings): Map<string, ClassState> {
  const classes = new Map<string, ClassState>();
  for (const policy of [config.defaults, ...Object.values(config.repositories)]) {
    for (const runner of Object.values(policy.runners)) {
      if (classes.has(runner.id)) continue;
      const own = classSettings(settings, runner.id, runner.kind);
      const machines = Object.entries(runner.machines ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const names =
        machines.length > 0
          ? machines.flatMap(([name, m]) => Array.from({ length: m.capacity }, () => name))
          : Array.from({ length: runner.capacity }, () => null);
      classes.set(runner.id, {
        id: runner.id,
        runner,
        coldMs: own.coldStartSeconds * 1000,
        perMinuteUsd: "perMinuteUsd" in runner.cost ? runner.cost.perMinuteUsd : null,
        slots: names.map((machine) => ({
          machine,
          state: "cold",
          readyAt: 0,
          warmSince: 0,
          endAt: 0,
          epoch: 0,
          prewarmed: false,
          job: null,
        })),
        queue: [],
        runHistogram: Array.from({ length: DURATION_BUCKETS.length + 1 }, () => 0),
      });
    }
  }
  return classes;
}

/** The queue delay of every commit, in milliseconds: one draw per commit from the settings' seed. */
export function queueDelays(count: number, settings: SimSettings, random: () => number): number[] {
  const { min, max } = settings.queueDelaySeconds;
  return Array.from({ length: count }, () => Math.round((min + random() * (max - min)) * 1000));
}

export class Simulation {
  readonly classes: Map<string, ClassState>;
  readonly trace: readonly TraceCommit[];
  readonly config: RoutingConfig;
  readonly settings: SimSettings;
  /** The decision tree's requirement for each commit (what the paths say), shared by every policy. */
  readonly requirements: readonly Requirement[];
  now = 0;
  private readonly delays: readonly number[];
  private readonly policy: SimPolicy;
  private readonly events = new Events();
  private readonly jobs: JobRun[] = [];
  /** Builds routed whose jobs have not queued, as the Ledger counts them for the learner (core/routed.ts). */
  private readonly routed: RoutedDemand;
  private readonly commits: CommitRun[];
  private readonly warm: WarmFigures = { warmed: 0, used: 0, wasted: 0, idleMinutes: {}, idleUsd: 0 };
  private version = 0;
  private counts: { version: number; counts: FleetCounts } | null = null;
  private readonly timeline: TimelineStep[] | null;

  constructor(
    trace: readonly TraceCommit[],
    config: RoutingConfig,
    settings: SimSettings,
    requirements: readonly Requirement[],
    delays: readonly number[],
    policy: SimPolicy,
    options: SimOptions = {},
  ) {
    this.timeline = options.timeline === true ? [] : null;
    this.routed = new RoutedDemand(options.routedTtlMs === undefined ? {} : { ttlMs: options.routedTtlMs });
    this.delays = delays;
    this.policy = policy;
    this.trace = trace;
    this.config = config;
    this.settings = settings;
    this.requirements = requirements;
    this.classes = classStates(config, settings);
    this.commits = trace.map((c, index) => ({
      index,
      at: c.atMs,
      runner: null,
      decision: null,
      explored: false,
      probability: null,
      placed: null,
      jobsLeft: c.jobs.length,
      failedPlacement: false,
      doneAt: null,
    }));
  }

  /** Runs the whole trace. */
  run(): SimResult {
    const start = this.trace[0]?.atMs ?? 0;
    const end = this.trace.at(-1)?.atMs ?? start;
    this.now = start;
    for (const cls of this.classes.values()) {
      const pool = Math.min(this.policy.warmPool?.(cls.id) ?? 0, cls.slots.length);
      if (cls.coldMs === 0 || cls.runner.kind === "github-hosted") continue;
      for (const slot of cls.slots.slice(0, pool)) {
        slot.state = "warm";
        slot.warmSince = start;
        this.warm.warmed++;
      }
    }
    for (const [i, c] of this.trace.entries()) this.events.push({ at: c.atMs, kind: "commit", commit: i });
    for (let e = this.events.pop(); e !== undefined; e = this.events.pop()) {
      this.now = e.at;
      this.handle(e);
    }
    // The pool's machines still warm at the end idled until then.
    for (const cls of this.classes.values()) {
      for (const slot of cls.slots) {
        if (slot.state === "warm" && !slot.prewarmed) this.idle(cls, Math.max(0, end - slot.warmSince));
      }
    }
    return {
      policy: this.policy.name,
      router: this.policy.router,
      jobs: this.jobs,
      commits: this.commits,
      warm: this.warm,
      period: { start, end },
      ...(this.timeline === null ? {} : { timeline: this.timeline }),
    };
  }

  private handle(e: Event): void {
    switch (e.kind) {
      case "commit":
        this.arrive(e.commit);
        return;
      case "queue":
        this.enqueue(e.commit);
        return;
      case "begin":
        e.slot.state = "busy";
        this.version++;
        this.timeline?.push({ at: this.now, kind: "started", job: e.run });
        return;
      case "done":
        this.finish(e.run, e.slot, e.cls);
        return;
      case "warm":
        if (e.slot.epoch !== e.epoch || e.slot.state !== "warming") return;
        e.slot.state = "warm";
        e.slot.warmSince = this.now;
        if (e.slot.prewarmed) {
          this.events.push({
            at: this.now + this.settings.prewarmIdleMinutes * MINUTE,
            kind: "expire",
            slot: e.slot,
            cls: e.cls,
            epoch: e.slot.epoch,
          });
        }
        return;
      case "expire":
        if (e.slot.epoch !== e.epoch || e.slot.state !== "warm" || !e.slot.prewarmed) return;
        this.idle(e.cls, this.now - e.slot.warmSince);
        e.slot.state = "cold";
        e.slot.prewarmed = false;
        e.slot.epoch++;
        this.warm.wasted++;
        return;
    }
  }

  private arrive(i: number): void {
    const commit = this.trace[i] as TraceCommit;
    const run = this.commits[i] as CommitRun;
    const choice = this.policy.decide(commit, this);
    this.timeline?.push({ at: this.now, kind: "commit", commit: i });
    if (choice !== null) {
      run.runner = choice.runner;
      run.decision = choice.decision;
      run.explored = choice.explored ?? false;
      run.probability = choice.probability ?? null;
      if (choice.expected !== undefined) this.routed.routed(String(i), choice.expected, this.now);
      if (choice.placements !== undefined && choice.placements.length > 0) {
        run.placed = new Map(choice.placements.map((p) => [placementKey(p.workflow, p.job), p.runner]));
      }
      for (const [runner, count] of Object.entries(choice.prewarm ?? {})) if (count > 0) this.prewarm(runner, count);
    }
    this.events.push({ at: this.now + (this.delays[i] ?? 0), kind: "queue", commit: i });
  }

  private enqueue(i: number): void {
    const commit = this.trace[i] as TraceCommit;
    const run = this.commits[i] as CommitRun;
    const touched = new Set<ClassState>();
    for (const [index, job] of commit.jobs.entries()) {
      const runner =
        run.placed?.get(placementKey(job.workflow, job.name)) ??
        run.runner ??
        this.policy.placeJob?.(commit, job, this) ??
        null;
      const minutes = runner === null || !Object.hasOwn(job.minutes, runner) ? undefined : job.minutes[runner];
      const cls = runner === null ? undefined : this.classes.get(runner);
      const jobRun: JobRun = {
        commit: i,
        index,
        name: job.name,
        workflow: job.workflow,
        runner,
        queuedAt: this.now,
        startedAt: null,
        doneAt: null,
        runMs: minutes === undefined ? 0 : Math.round(minutes * MINUTE),
        failedPlacement: minutes === undefined || cls === undefined,
        failed: job.fails,
        warm: false,
        expectedSeconds: runner === null ? null : (this.policy.expectedRun?.(commit, job, runner, this) ?? null),
      };
      this.jobs.push(jobRun);
      if (jobRun.failedPlacement || cls === undefined) {
        run.failedPlacement = true;
        run.jobsLeft--;
        continue;
      }
      this.routed.queued(String(i), runner);
      cls.queue.push({ run: jobRun });
      this.timeline?.push({ at: this.now, kind: "queued", job: jobRun });
      this.version++;
      touched.add(cls);
    }
    for (const cls of touched) this.tryStart(cls);
  }

  /** Starts queued jobs of a class while it has a free slot. */
  private tryStart(cls: ClassState): void {
    for (;;) {
      const pending = cls.queue[0];
      if (pending === undefined) return;
      const slot = pickSlot(cls);
      if (slot === null) return;
      cls.queue.shift();
      const run = pending.run;
      let start: number;
      if (slot.state === "warm") {
        start = this.now;
        this.idle(cls, this.now - slot.warmSince);
        run.warm = true;
        this.warm.used++;
      } else if (slot.state === "warming") {
        start = Math.max(this.now, slot.readyAt);
        run.warm = true;
        this.warm.used++;
      } else start = this.now + cls.coldMs;
      slot.epoch++;
      slot.prewarmed = false;
      slot.job = run;
      slot.state = start > this.now ? "starting" : "busy";
      slot.endAt = start + run.runMs;
      run.startedAt = start;
      this.version++;
      if (start > this.now) this.events.push({ at: start, kind: "begin", run, slot, cls });
      else this.timeline?.push({ at: this.now, kind: "started", job: run });
      this.events.push({ at: start + run.runMs, kind: "done", run, slot, cls });
    }
  }

  private finish(run: JobRun, slot: Slot, cls: ClassState): void {
    run.doneAt = this.now;
    this.timeline?.push({ at: this.now, kind: "completed", job: run });
    slot.state = "cold";
    slot.epoch++;
    slot.job = null;
    const bucket = cls.runHistogram;
    const i = bucketOf(run.runMs / 1000);
    bucket[i] = (bucket[i] ?? 0) + 1;
    this.version++;
    const commit = this.commits[run.commit] as CommitRun;
    const trace = this.trace[run.commit] as TraceCommit;
    this.policy.jobDone?.(run, trace, this);
    commit.jobsLeft--;
    if (commit.jobsLeft === 0 && !commit.failedPlacement) {
      commit.doneAt = this.now;
      this.policy.commitDone?.(commit, trace, this);
    }
    this.tryStart(cls);
    this.replenish(cls);
  }

  /** Keeps the fixed warm pool at its size: cold slots start warming. */
  private replenish(cls: ClassState): void {
    const pool = this.policy.warmPool?.(cls.id) ?? 0;
    if (pool === 0 || cls.coldMs === 0 || cls.runner.kind === "github-hosted") return;
    let warmish = cls.slots.filter((s) => s.state === "warm" || s.state === "warming").length;
    for (const slot of cls.slots) {
      if (warmish >= pool) break;
      if (slot.state !== "cold") continue;
      this.startWarming(cls, slot, false);
      warmish++;
    }
  }

  /** Warms up to `count` cold machines of a class now (a self-hosted class with a cold start). */
  private prewarm(runner: string, count: number): void {
    const cls = this.classes.get(runner);
    if (cls === undefined || cls.coldMs === 0 || cls.runner.kind === "github-hosted") return;
    let left = count;
    for (const slot of cls.slots) {
      if (left <= 0) break;
      if (slot.state !== "cold") continue;
      this.startWarming(cls, slot, true);
      left--;
    }
  }

  private startWarming(cls: ClassState, slot: Slot, prewarmed: boolean): void {
    slot.state = "warming";
    slot.readyAt = this.now + cls.coldMs;
    slot.prewarmed = prewarmed;
    slot.epoch++;
    this.warm.warmed++;
    this.events.push({ at: slot.readyAt, kind: "warm", slot, cls, epoch: slot.epoch });
  }

  /** Idle warm time on a class: billed, rounded up to the minute, when the class is priced per minute. */
  private idle(cls: ClassState, ms: number): void {
    if (ms <= 0) return;
    const minutes = ms / MINUTE;
    this.warm.idleMinutes[cls.id] = (this.warm.idleMinutes[cls.id] ?? 0) + minutes;
    if (cls.perMinuteUsd !== null) this.warm.idleUsd += Math.ceil(minutes) * cls.perMinuteUsd;
  }

  /** The fleet's counts as the Worker keeps them: running jobs busy, the rest queued. */
  private fleetCounts(): FleetCounts {
    if (this.counts !== null && this.counts.version === this.version) return this.counts.counts;
    const machines: FleetMachine[] = [];
    const busyByMachine = new Map<string, number>();
    const busyByClass = new Map<string, number>();
    const queuedByClass = new Map<string, number>();
    const activeByClass = new Map<string, Map<string, number>>();
    const runSecondsByClass = new Map<string, number>();
    const aheadByClass = new Map<string, AheadRuns>();
    for (const cls of this.classes.values()) {
      let busy = 0;
      let starting = 0;
      for (const pending of cls.queue) addActive(activeByClass, cls.id, this.repositoryOf(pending.run), 1);
      const seen = new Set<string>();
      for (const slot of cls.slots) {
        if (slot.machine !== null && !seen.has(slot.machine)) {
          seen.add(slot.machine);
          machines.push({ name: slot.machine, runnerClass: cls.id, lastSeen: null, offlineSince: null });
        }
        if (slot.state === "busy") {
          busy++;
          if (slot.machine !== null) busyByMachine.set(slot.machine, (busyByMachine.get(slot.machine) ?? 0) + 1);
        }
        if (slot.state === "starting") starting++;
        if ((slot.state === "busy" || slot.state === "starting") && slot.job !== null) {
          addActive(activeByClass, cls.id, this.repositoryOf(slot.job), 1);
        }
      }
      busyByClass.set(cls.id, busy);
      queuedByClass.set(cls.id, cls.queue.length + starting);
      aheadByClass.set(cls.id, aheadOf(cls));
      const runSeconds = typicalRunSeconds(cls.runHistogram);
      if (runSeconds !== undefined) runSecondsByClass.set(cls.id, runSeconds);
    }
    const counts: FleetCounts = {
      machines,
      busyByMachine,
      busyByClass,
      queuedByClass,
      waitingByClass: new Map<string, number>(),
      activeByClass,
      runSecondsByClass,
      aheadByClass,
    };
    this.counts = { version: this.version, counts };
    return counts;
  }

  /** The repository of a job's commit. */
  private repositoryOf(run: JobRun): string {
    return (this.trace[run.commit] as TraceCommit).repository;
  }

  /** The fleet snapshot a webhook for `repository` would be decided with now. */
  snapshot(repository: string): FleetSnapshot {
    return withRouted(
      fleetSnapshot(this.fleetCounts(), policyFor(this.config, repository)),
      this.routed.byClass(this.now),
    );
  }

  /**
   * When a job queued now on `runner` would start: the class's queue is FIFO and every duration
   * is known, so later arrivals cannot change it. Null for a class the simulation does not have.
   */
  projectStart(runner: string): number | null {
    return this.projectStarts(runner, [0])?.[0] ?? null;
  }

  /** When jobs of these run times, queued now on `runner` in this order, would start (as `projectStart`). */
  projectStarts(runner: string, runs: readonly number[]): number[] | null {
    const cls = this.classes.get(runner);
    if (cls === undefined) return null;
    const now = this.now;
    const slots = cls.slots.map((s) =>
      s.state === "busy" || s.state === "starting"
        ? { t: s.endAt, state: "cold" as SlotState, readyAt: 0 }
        : { t: now, state: s.state, readyAt: s.readyAt },
    );
    const ahead = cls.queue.map((p) => ({ runMs: p.run.runMs, mine: false }));
    const starts: number[] = [];
    for (const { runMs, mine } of [...ahead, ...runs.map((runMs) => ({ runMs, mine: true }))]) {
      const t = Math.max(now, Math.min(...slots.map((s) => s.t)));
      const free = slots.filter((s) => s.t <= t);
      const slot =
        free.find((s) => s.state === "warm") ??
        free.filter((s) => s.state === "warming").sort((a, b) => a.readyAt - b.readyAt)[0] ??
        free[0];
      if (slot === undefined) return null;
      const start = slot.state === "warm" ? t : slot.state === "warming" ? Math.max(t, slot.readyAt) : t + cls.coldMs;
      if (mine) starts.push(start);
      slot.t = start + runMs;
      slot.state = "cold";
    }
    return starts;
  }

  /** The class's per-minute price, or null when it is priced by the month. */
  perMinuteUsd(runner: string): number | null {
    return this.classes.get(runner)?.perMinuteUsd ?? null;
  }
}

/**
 * The expected runs of a class's jobs as the Ledger lists them: the running ones, then the
 * queued ones oldest first, a job still starting (booting on its machine) among the queued, as
 * GitHub reports it queued until it runs.
 */
function aheadOf(cls: ClassState): AheadRuns {
  const running: (number | null)[] = [];
  const starting: JobRun[] = [];
  for (const slot of cls.slots) {
    if (slot.job === null) continue;
    if (slot.state === "busy") running.push(slot.job.expectedSeconds);
    else if (slot.state === "starting") starting.push(slot.job);
  }
  starting.sort((a, b) => a.queuedAt - b.queuedAt);
  const queued = [...starting, ...cls.queue.map((p) => p.run)].map((run) => run.expectedSeconds);
  return { running: running.slice(0, MAX_AHEAD_LISTED), queued: queued.slice(0, MAX_AHEAD_LISTED) };
}

/** A free slot: warm first, then the one warming soonest ready, then a cold one; null when all are taken. */
function pickSlot(cls: ClassState): Slot | null {
  let warming: Slot | null = null;
  let cold: Slot | null = null;
  for (const slot of cls.slots) {
    if (slot.state === "warm") return slot;
    if (slot.state === "warming" && (warming === null || slot.readyAt < warming.readyAt)) warming = slot;
    if (slot.state === "cold" && cold === null) cold = slot;
  }
  return warming ?? cold;
}

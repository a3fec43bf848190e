import { CheckRunDesk } from "./check-run-desk.ts";
import {
  type AlertEvent,
  alertsFor,
  allPolicies,
  applyUpdate,
  type BuildQuery,
  type BuildRecord,
  bounded,
  type Change,
  type CostReport,
  configuredClass,
  costReport,
  type Decision,
  discordMessage,
  EVENT_LABELS,
  type ExpectedWork,
  effectsOf,
  epochHour,
  expectedRunSeconds,
  expectedWork,
  type FleetCounts,
  type FleetJob,
  type FleetSnapshot,
  FORECAST_KEEP_WEEKS,
  type Forecast,
  fail,
  fleetSnapshot,
  forecast,
  histogramQuantile,
  interpretEvent,
  isGpuWork,
  JOB_STATUS_OF,
  type JobState,
  jobClass,
  type LearnLimits,
  learnKeyOf,
  learnOptionsOf,
  MODES,
  monthStart,
  NO_SUGGESTION,
  newBuild,
  nextCheck,
  type OutboxStatus,
  ok,
  type PinnedId,
  type Plan,
  parseInstant,
  policyFor,
  type QueueView,
  queueTarget,
  queueView,
  REQUIREMENTS,
  type Result,
  RoutedDemand,
  type RoutingAccuracy,
  type RoutingConfig,
  type RoutingInput,
  type RoutingPolicy,
  renderExposition,
  route,
  routingAccuracy,
  type SimulationDocument,
  type StatsDump,
  stepJob,
  typicalRunSeconds,
  UNKNOWN_RUNNER,
  updatePlan,
  utcDay,
  wakeUpsOf,
  watchSeconds,
  weekOf,
  withRouted,
} from "./core/index.ts";
import { type BuildGraph, DispatchDesk } from "./dispatch-desk.ts";
import type { JobLookup } from "./github.ts";
import { RescueDesk } from "./rescue-desk.ts";
import { type RoutingSource, routingOf, type Settings } from "./settings.ts";
import { AccessStore, PIN_RETENTION_MS, ROUTING_JOB_RETENTION_MS } from "./store/access.ts";
import { AccuracyStore } from "./store/accuracy.ts";
import { BUILD_LIST_RETENTION_DAYS, type BuildPage, BuildStore, KV_WRITE_INTERVAL_MS } from "./store/builds.ts";
import { COST_DAY_RETENTION_DAYS, COST_JOB_RETENTION_MS, CostStore } from "./store/costs.ts";
import { DeliveryStore } from "./store/deliveries.ts";
import { FleetStore } from "./store/fleet.ts";
import { ForecastStore } from "./store/forecast.ts";
import { INSTALLATION_RETENTION_MS, type InstallationNote, InstallationStore } from "./store/installations.ts";
import { LearnStore } from "./store/learn.ts";
import { MetricsStore } from "./store/metrics.ts";
import { type AlertView, Outbox } from "./store/outbox.ts";
import { QUEUE_HOURS_KEPT, QueueHoursStore } from "./store/queue-hours.ts";
import { QueueWatch } from "./store/queue-watch.ts";
import { migrate } from "./store/schema.ts";
import { type PublishedSimulation, SimulationStore } from "./store/simulations.ts";
import type { Sql, Transaction } from "./store/sql.ts";
import { WarmCalls } from "./store/warm.ts";

/** GitHub lets a delivery be redelivered for 3 days; remember each one a day longer. */
export const DELIVERY_RETENTION_MS = 4 * 24 * 60 * 60 * 1000;
/** Build records live as long here as in KV. */
export const BUILD_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Rows deleted per table per maintenance run; more wait for the next run, which then comes soon. */
export const PRUNE_BATCH = 2_000;
/** Jobs let go per state per maintenance run. */
const EXPIRE_BATCH = 500;
/** A job GitHub lists on an idle runner is checked only once it has been busy this long (events may still be on their way). */
const IDLE_RUNNER_GRACE_MS = 2 * 60 * 1000;
/** Usual queue and run times change slowly: they are read again after this long. */
const USUAL_CACHE_MS = 10 * 60 * 1000;
/** Without history, a job counts as busy longer than usual after this long. */
const DEFAULT_RUN_MS = 60 * 60 * 1000;

/** GET /fleet's answer: per runner class, its load and machines (each with its running job ids). */
export interface FleetView {
  classes: Record<
    string,
    Omit<FleetSnapshot[string], "machines"> & {
      machines: (FleetSnapshot[string]["machines"][number] & { jobs: number[] })[];
    }
  >;
}

/** What the Worker saw while planning, for the gauges. */
export interface Observations {
  rateLimitRemaining?: number | null;
}

export interface AcceptOptions {
  /** The event's identity whatever delivery carries it (core/events.ts `contentKey`). */
  contentKey?: string | null;
  seen?: Observations;
  /** Found by a job check, not delivered by GitHub. */
  checked?: boolean;
  /**
   * The configuration the Worker read (its bindings' text), for a routed delivery: the Ledger
   * decides with it, so a decision never mixes two versions of the configuration.
   */
  routing?: RoutingSource;
  /**
   * The GitHub App installation the delivery came from (its `installation.id`) and the
   * repository it is about: App mode's state (served repositories, check runs) is kept by it.
   */
  installation?: { repository: string; id: number };
}

export interface Outcome {
  duplicate: boolean;
  status: number;
  /** The JSON answer, exactly as first given. */
  body: string;
  /** The build to copy to KV now (created, or just completed, and no copy written in the last second). */
  persist: BuildRecord | null;
  /**
   * What the delivery said of its GitHub App installation, for the isolate's memory of which
   * installation answers for an account (github-app.ts): absent for a repeat, or when it said nothing.
   */
  installation?: InstallationNote;
}

/** What applying a delivery's plan answers, and the change it made (for its effects). */
type Applied = Omit<Outcome, "duplicate"> & { change: Change };

/** A commit's build before a workflow event (null: not recorded yet) and after it. */
interface Build {
  known: BuildRecord | null;
  next: BuildRecord;
}

/** What a route request asks of the Ledger besides the build and the load. */
export interface RouteAsk {
  /** Ids the caller's token must match, pinned when new (core/access.ts `grantRoute`). */
  pins?: readonly PinnedId[];
  /** The calling job, recorded as a routing job: the router's own overhead, not a build's job. */
  routingJob?: number | null;
}

/** The Ledger's side of a route request. */
export interface RouteContext {
  /** The build recorded for the commit, when one was asked for and there is one. */
  build: BuildRecord | null;
  snapshot: FleetSnapshot;
  /** The job recorded as a routing job, or null. */
  routingJob: number | null;
}

/** One self-hosted runner as GitHub lists it. */
export interface ListedRunner {
  name: string;
  status: "online" | "offline";
  busy: boolean;
}

/** What GitHub said of a job the fleet holds longer than usual. */

export type CheckResult = "repaired" | "unchanged" | "not_found" | "failed";

export interface BookDeps {
  sql: Sql;
  transaction: Transaction;
  /** The Worker's settings, or null while they are wrong (work that needs them waits). */
  settings: () => Settings | null;
  /** Asks for the Ledger's alarm at `at` or sooner. */
  wake: (at: number) => void;
  /** The learned history's bounds (default the learner's: 4,096 estimates, 1,024 rosters). */
  learnLimits?: Partial<LearnLimits>;
}

/** GET /learned's answer: the learned history a decision for a repository may read, as the learner's rows. */
export interface LearnedRows extends StatsDump {
  repository: string;
  /** Whether the repository's policy decides with it. */
  enabled: boolean;
}

/** GET /builds' answer: a page of build summaries, and how far back the list goes. */
export interface BuildListView extends BuildPage {
  retention_days: number;
}

/** GET /costs' answer before its period's label: the cost report, and how often jobs ran where the router said. */
export interface CostView extends CostReport {
  accuracy: RoutingAccuracy;
}

/**
 * The Ledger's state and every transaction on it, free of the platform: the Durable Object
 * (ledger.ts) runs it over its SQLite storage, the soak and the Node tests over node:sqlite.
 * Every delivery is applied in one synchronous transaction, so a delivery is accepted at most
 * once, concurrent workflow events never lose an update, and its build record, fleet rows,
 * metrics, cost totals and alerts are written together. Tables: store/schema.ts and
 * docs/storage-schema.md.
 */
export class Book {
  readonly sql: Sql;
  readonly transaction: Transaction;
  readonly metrics: MetricsStore;
  readonly outbox: Outbox;
  readonly warm: WarmCalls;
  readonly builds: BuildStore;
  readonly fleet: FleetStore;
  readonly rescueDesk: RescueDesk;
  /** Cross-repository builds: the dispatches dependencies owe, and the commit statuses that follow. */
  readonly dispatchDesk: DispatchDesk;
  /** GitHub App mode's check runs on routed commits. */
  readonly checkRunDesk: CheckRunDesk;
  private readonly deliveries: DeliveryStore;
  private readonly costs: CostStore;
  private readonly watch: QueueWatch;
  private readonly access: AccessStore;
  private readonly history: ForecastStore;
  private readonly learned: LearnStore;
  private readonly queueHours: QueueHoursStore;
  private readonly accuracy: AccuracyStore;
  private readonly simulations: SimulationStore;
  /** The GitHub App's installations and the repositories each serves. */
  readonly installations: InstallationStore;
  private readonly deps: BookDeps;
  /** How long jobs usually stay queued or busy, per class: read from the histograms at most every {@link USUAL_CACHE_MS}. */
  private readonly usual = new Map<string, { ms: number; until: number }>();
  /**
   * Builds the learned router routed whose jobs have not queued yet, the demand the fleet does
   * not show (core/routed.ts): in memory, a hint for minutes that a restart may forget.
   */
  private readonly routed = new RoutedDemand();

  constructor(deps: BookDeps) {
    this.deps = deps;
    this.sql = deps.sql;
    this.transaction = deps.transaction;
    deps.transaction(() => migrate(deps.sql, { runners: deps.settings()?.config.defaults.runners ?? null }));
    this.metrics = new MetricsStore(this.sql);
    this.outbox = new Outbox(this.sql);
    this.warm = new WarmCalls(this.sql);
    this.builds = new BuildStore(this.sql, () => this.config()?.defaults.runners ?? {});
    this.fleet = new FleetStore(this.sql);
    this.deliveries = new DeliveryStore(this.sql);
    this.costs = new CostStore(this.sql);
    this.watch = new QueueWatch(this.sql);
    this.access = new AccessStore(this.sql);
    this.history = new ForecastStore(this.sql);
    this.learned = new LearnStore(this.sql, deps.learnLimits);
    this.queueHours = new QueueHoursStore(this.sql);
    this.accuracy = new AccuracyStore(this.sql);
    this.simulations = new SimulationStore(this.sql);
    this.installations = new InstallationStore(this.sql);
    this.rescueDesk = new RescueDesk({
      sql: this.sql,
      wake: deps.wake,
      metrics: this.metrics,
      watch: this.watch,
      settings: deps.settings,
      buildById: (id) => this.builds.byId(id),
      queueAlerts: (event, now) => this.queueAlerts(event, now),
    });
    this.checkRunDesk = new CheckRunDesk({
      sql: this.sql,
      transaction: this.transaction,
      wake: deps.wake,
      settings: deps.settings,
      runners: () => this.config()?.defaults.runners ?? {},
      metrics: this.metrics,
    });
    this.dispatchDesk = new DispatchDesk({
      sql: this.sql,
      transaction: this.transaction,
      wake: deps.wake,
      builds: this.builds,
      settings: deps.settings,
      metrics: this.metrics,
    });
  }

  /**
   * Applies `plan` for `delivery` unless that delivery, or another delivery of the same event,
   * was seen; either way, answers as the first time.
   */
  accept(delivery: string, event: string, plan: Plan, options: AcceptOptions = {}, now = Date.now()): Outcome {
    const contentKey = options.contentKey ?? null;
    return this.transaction((): Outcome => {
      const rate = options.seen?.rateLimitRemaining;
      if (typeof rate === "number") this.metrics.set("rateLimit", {}, rate);
      const first = this.deliveries.seen(delivery, contentKey);
      if (first !== undefined) {
        if (!options.checked)
          this.metrics.add("deliveries", { event: bounded(event, EVENT_LABELS), outcome: "duplicate" });
        return { duplicate: true, status: first.status, body: first.body, persist: null };
      }
      const served = this.servedCheck(plan, event, options, now);
      const { change, ...result } = served.refused ?? this.apply(plan, event, now, options);
      this.record(change, now);
      this.deliveries.record(delivery, contentKey, event, result, now);
      const note = served.note ?? result.installation;
      return { duplicate: false, ...result, ...(note === undefined ? {} : { installation: note }) };
    });
  }

  /** Counts a refused webhook delivery. Nothing else is written. */
  reject(reason: string): void {
    this.metrics.add("rejections", { reason });
  }

  /** The live record of a build, or null. */
  build(buildId: string): BuildRecord | null {
    return this.builds.byId(buildId);
  }

  /**
   * A route request, in one transaction: the token's ids checked against the pins (a conflict
   * changes nothing and is `forbidden`), new ones pinned, the calling job recorded as a routing
   * job (it leaves the fleet and its queue watch), then the build recorded for `sha` (when given)
   * and the fleet's load under the repository's policy.
   */
  routeContext(repository: string, sha: string | null, ask: RouteAsk = {}, now = Date.now()): Result<RouteContext> {
    return this.transaction((): Result<RouteContext> => {
      const pins = ask.pins ?? [];
      const conflict = this.access.conflict(pins);
      if (conflict !== undefined) {
        return fail(
          "forbidden",
          `${conflict.key} was first served to another ${conflict.key.endsWith("/*") ? "owner" : "repository"} id: a renamed or re-created repository does not inherit its access (an operator can pin the new id with repositories[name].id)`,
        );
      }
      this.access.pin(pins, now);
      const routingJob = ask.routingJob ?? null;
      if (routingJob !== null && this.access.addRoutingJob(routingJob, repository, now)) {
        const row = this.fleet.job(routingJob);
        if (row !== null && row.state !== "done") this.release(row, now, this.config());
        this.watch.remove(routingJob);
      }
      const build = sha === null ? null : this.builds.forCommit(repository, sha);
      return ok({ build, snapshot: this.snapshotFor(repository), routingJob });
    });
  }

  /**
   * The decision for a change described to `/route`, made here as a push's is (the fleet's load
   * now and, for a repository that learns, its history read by key), with the configuration of
   * the Worker's bindings' text. Nothing is written.
   */
  decision(input: RoutingInput, routing: RoutingSource | undefined, now = Date.now()): Decision {
    return this.decide(input, routing, now).decision;
  }

  /** For GET /learned: the learned rows a decision for `repository` may read, on any class of its policy. */
  learnedFor(repository: string, routing: RoutingSource | undefined): LearnedRows {
    const config = this.configFrom(routing);
    const policy = config === null ? null : policyFor(config, repository);
    const classes = policy === null ? [] : Object.keys(policy.runners);
    return { repository, enabled: policy?.learning?.enabled === true, ...this.learned.dumpFor(repository, classes) };
  }

  /**
   * Per class of the repository's policy (of every configured class when null): capacity, busy,
   * free, queued, machines; with each repository's active jobs when fair shares read them, or
   * for GET /fleet (`view`).
   */
  snapshotFor(repository: string | null, view = false): FleetSnapshot {
    const config = this.config();
    if (config === null) return {};
    const policy = repository === null ? everyClass(config) : policyFor(config, repository);
    return fleetSnapshot(this.decisionCounts(policy, view), policy);
  }

  /** For GET /fleet: the snapshot, each machine with the ids of the jobs running on it. */
  fleetView(repository: string | null): FleetView {
    const snapshot = this.snapshotFor(repository, true);
    const jobs = this.fleet.jobsByMachine();
    const classes: FleetView["classes"] = {};
    for (const [id, load] of Object.entries(snapshot)) {
      classes[id] = { ...load, machines: load.machines.map((m) => ({ ...m, jobs: jobs.get(m.name) ?? [] })) };
    }
    return { classes };
  }

  /**
   * Applies GitHub's list of self-hosted runners at `now`, in one transaction: machines the fleet
   * knows (configured, or running a job) are seen online or reported offline; a runner listed
   * idle or offline while the fleet holds jobs on it has those jobs checked at once. Runners the
   * fleet does not know are left out: an idle unconfigured runner is nothing to route to.
   */
  reconcile(runners: readonly ListedRunner[], now: number): void {
    const config = this.config();
    this.transaction(() => {
      for (const runner of runners) {
        const stored = this.fleet.machine(runner.name);
        const configured = config === null ? null : this.configuredClass(config, runner.name);
        if (stored === null && configured === null) continue;
        const runnerClass = configured ?? stored?.runnerClass ?? null;
        if (runner.status === "online") this.fleet.sighted(runner.name, runnerClass, now);
        else this.fleet.reportedOffline(runner.name, runnerClass, now);
        if (runner.busy && runner.status === "online") continue;
        for (const job of this.fleet.busySince(runner.name, now - IDLE_RUNNER_GRACE_MS)) {
          this.fleet.scheduleCheck(job.jobId, now, job.checks);
        }
      }
    });
  }

  /** Every metric in Prometheus text exposition format 0.0.4; the month's cost gauges from the month's totals. */
  exposition(now = Date.now()): string {
    const today = new Date(now);
    const start = monthStart(today.getUTCFullYear(), today.getUTCMonth()).toISOString();
    const month = this.costReportOf(this.costs.month(start.slice(0, 7)), start, new Date(now).toISOString());
    this.metrics.set("monthCost", {}, month.totals.cost_usd);
    this.metrics.set("monthBaseline", {}, month.baseline.cost_usd);
    if (month.savings.usd !== null) this.metrics.set("monthSavings", {}, month.savings.usd);
    return renderExposition(this.metrics.samples(), this.metrics.histograms());
  }

  /**
   * The cost report for [start, end): whole UTC days from `start`'s, to `end` (ISO 8601), with
   * the routing accuracy of the same days.
   */
  costsFor(start: string, end: string): CostView {
    const endMs = Date.parse(end);
    const firstDay = start.slice(0, 10);
    const lastDay = new Date(endMs % 86_400_000 === 0 ? endMs - 1 : endMs).toISOString().slice(0, 10);
    const report = this.costReportOf(this.costs.days(firstDay, lastDay), start, end);
    return { ...report, accuracy: routingAccuracy(this.accuracy.days(firstDay, lastDay)) };
  }

  /** For GET /builds: a page of build summaries, newest first, as the query filters and pages them. */
  listBuilds(query: BuildQuery): BuildListView {
    return { ...this.builds.list(query), retention_days: BUILD_LIST_RETENTION_DAYS };
  }

  /**
   * For GET /queue: per class of `routing`'s pool (every class, as GET /forecast lists them),
   * the last `hours` hours of queue waits, and the jobs queued now past their class's target
   * under their repository's policy (`queueTarget`, the rescue's rule).
   */
  queueView(hours: number, routing: RoutingSource | undefined, now = Date.now()): QueueView {
    const config = this.configFrom(routing);
    const pool = config === null ? {} : everyClass(config).runners;
    const targets = Object.fromEntries(Object.values(pool).map((runner) => [runner.id, queueTarget(runner)]));
    // Jobs queued for less than the shortest target of any policy's class wait within theirs: not read.
    const policies = config === null ? [] : allPolicies(config);
    const shortest = Math.min(
      queueTarget(undefined),
      ...policies.flatMap((policy) => Object.values(policy.runners).map((runner) => queueTarget(runner))),
    );
    const queued = this.fleet.queuedBefore(now - shortest * 1000).map((job) => {
      const policy = config === null ? null : policyFor(config, job.repository);
      const runner = policy === null || job.runnerClass === null ? undefined : policy.runners[job.runnerClass];
      return { ...job, targetSeconds: queueTarget(runner) };
    });
    const rows = this.queueHours.since(epochHour(now) - hours + 1);
    return queueView({ rows, targets, queued, hours, now });
  }

  /**
   * For GET /builds/<id>/graph: the build (its live record, else `copy`, its KV copy), the build
   * that dispatched it and the dispatches it owes; null when neither is there.
   */
  graph(buildId: string, copy: BuildRecord | null = null): BuildGraph | null {
    const build = this.builds.byId(buildId) ?? copy;
    return build === null || build.build_id !== buildId ? null : this.dispatchDesk.graph(build);
  }

  /** For GET /alerts: the latest alerts of the outbox, newest first, without their payloads. */
  alerts(status: OutboxStatus | null, limit: number): AlertView[] {
    return this.outbox.list(status, limit);
  }

  /** Keeps a checked simulation document as the last one published (PUT /simulation). */
  publishSimulation(document: SimulationDocument, now = Date.now()): PublishedSimulation {
    this.transaction(() => this.simulations.publish(document, now));
    return { published_at: new Date(now).toISOString(), simulation: document };
  }

  /** The last simulation published, or null (GET /simulation). */
  simulation(): PublishedSimulation | null {
    return this.simulations.last();
  }

  /**
   * Expected job starts per runner class (every class of `routing`'s configuration, else the
   * Ledger's own) for `hours` whole hours from the one `now` is in, from the hour-of-week history.
   */
  forecast(hours: number, routing: RoutingSource | undefined, now = Date.now()): Forecast {
    const config = this.configFrom(routing);
    const classes = config === null ? [] : Object.keys(everyClass(config).runners);
    return forecast(this.history.rows(), classes, now, hours);
  }

  /**
   * The alarm's transaction at `now`: lets go of jobs past their maximum age (counted), forgets
   * machines no longer configured that run nothing, decides about queue watches that fell due
   * (rescue, alert, wait), and prunes every table past its retention, in batches. True when a
   * batch was full, so another run should follow soon.
   */
  maintain(now: number): boolean {
    return this.transaction(() => {
      let more = false;
      const config = this.config();
      for (const job of this.fleet.expired(now, EXPIRE_BATCH)) {
        if (job.state !== "done") this.metrics.add("jobsExpired", { state: job.state });
        this.release(job, now, config);
      }
      if (config !== null) {
        const keep = this.configuredNames(config);
        for (const name of this.fleet.idleMachines(keep, EXPIRE_BATCH)) this.fleet.forgetIfIdle(name);
      }
      for (const stuck of this.watch.due(now)) {
        const build = this.builds.byId(stuck.build_id);
        const job = build?.jobs[String(stuck.job_id)];
        if (build && job && job.status === "queued") {
          const counts = this.fleet.counts();
          this.rescueDesk.onStuck(build, job, stuck.waitedSeconds, (policy) => fleetSnapshot(counts, policy), now);
        }
      }
      this.rescueDesk.prune(now - DELIVERY_RETENTION_MS);
      this.outbox.prune(now - DELIVERY_RETENTION_MS);
      this.dispatchDesk.maintain(now);
      more = this.dispatchDesk.prune(now - DELIVERY_RETENTION_MS, PRUNE_BATCH) || more;
      more = this.checkRunDesk.prune(now, PRUNE_BATCH) || more;
      more = this.warm.prune(now - DELIVERY_RETENTION_MS, PRUNE_BATCH) || more;
      more = this.history.prune(weekOf(now) - FORECAST_KEEP_WEEKS, PRUNE_BATCH) || more;
      more = this.deliveries.prune(now - DELIVERY_RETENTION_MS, PRUNE_BATCH) || more;
      more = this.builds.prune(now - BUILD_RETENTION_MS, PRUNE_BATCH) || more;
      more = this.builds.pruneList(now - BUILD_LIST_RETENTION_DAYS * 86_400_000, PRUNE_BATCH) || more;
      more = this.queueHours.prune(epochHour(now) - QUEUE_HOURS_KEPT, PRUNE_BATCH) || more;
      const dayBefore = new Date(now - COST_DAY_RETENTION_DAYS * 86_400_000).toISOString().slice(0, 10);
      more = this.costs.prune(now - COST_JOB_RETENTION_MS, dayBefore, PRUNE_BATCH) || more;
      more = this.accuracy.prune(dayBefore, PRUNE_BATCH) || more;
      more = this.access.prune(now - ROUTING_JOB_RETENTION_MS, now - PIN_RETENTION_MS, PRUNE_BATCH) || more;
      more = this.installations.prune(now - INSTALLATION_RETENTION_MS, PRUNE_BATCH) || more;
      return more;
    });
  }

  /** When the alarm should next run: the earliest alert, wake-up, watch, dispatch, check run, owed KV copy, job check or rescue poll; null for none. */
  nextDue(now: number, checksPossible: boolean): number | null {
    const times = [
      this.outbox.nextDue(),
      this.warm.nextDue(),
      this.dispatchDesk.nextDue(),
      this.checkRunDesk.nextDue(now),
      this.watch.nextDue(),
      this.builds.nextKvDue(),
      this.rescueDesk.nextPoll(now),
      checksPossible ? this.fleet.nextCheck() : null,
    ].filter((t): t is number => t !== null);
    return times.length === 0 ? null : Math.min(...times);
  }

  /** Jobs due a check at `now`. */
  dueChecks(now: number, limit: number): FleetJob[] {
    return this.fleet.dueChecks(now, limit);
  }

  /**
   * Applies what GitHub said of a job the fleet held longer than usual: its current state goes
   * through the same path as a `workflow_job` delivery (keyed like the event it stands for, so a
   * late real delivery of that event changes nothing, nor the reverse), and is counted.
   */
  applyCheck(held: FleetJob, lookup: JobLookup, now: number): CheckResult {
    const settings = this.deps.settings();
    let result: CheckResult = "failed";
    const found = lookup.ok ? lookup.value : null;
    if (found?.kind === "not_found") result = "not_found";
    else if (found?.kind === "job" && settings !== null) {
      const job = found.job as { status?: unknown; run_attempt?: unknown } | null;
      const payload = {
        action: typeof job?.status === "string" ? job.status : "unknown",
        repository: { full_name: held.repository },
        workflow_job: job,
      };
      const read = interpretEvent("workflow_job", payload, settings.config);
      const intent = read.ok ? read.value : null;
      if (intent?.kind === "update" && intent.update.kind === "job") {
        const { job: state } = intent.update;
        const delivery = `check-${state.id}-${payload.action}-${state.run_attempt}`;
        const plan = updatePlan(intent, delivery, new Date(now).toISOString());
        this.accept(delivery, "workflow_job", plan, { contentKey: intent.key, checked: true }, now);
        const after = this.fleet.job(held.jobId);
        result = after !== null && after.state !== held.state ? "repaired" : "unchanged";
      }
    }
    this.transaction(() => {
      this.metrics.add("jobChecks", { result });
      const row = this.fleet.job(held.jobId);
      // Still as it was: ask again later, less and less often.
      if (row !== null && row.state === held.state) {
        const checks = row.checks + 1;
        this.fleet.scheduleCheck(row.jobId, nextCheck({ ...row, checks }, this.usualMs(row, now), now), checks);
      }
    });
    return result;
  }

  /** Builds whose owed KV copy is due at `now` (marked written). */
  takeKvDue(now: number, limit: number): BuildRecord[] {
    return this.transaction(() => this.builds.takeKvDue(now, limit));
  }

  /**
   * For a delivery from a GitHub App installation that would record a build or a job: whether
   * the installation still serves its repository (core/installations.ts). When it does not, the
   * answer (202 ignored, with why), which records nothing but the delivery and its count.
   */
  private servedCheck(
    plan: Plan,
    event: string,
    options: AcceptOptions,
    now: number,
  ): { refused: Applied | null; note?: InstallationNote } {
    const from = options.installation;
    if (from === undefined || (plan.kind !== "create" && plan.kind !== "update")) return { refused: null };
    const served = this.installations.check(from.repository, from.id, now);
    if (served.served) return { refused: null, note: served.note };
    return {
      refused: {
        status: 202,
        body: JSON.stringify({ ignored: true, reason: served.reason }),
        persist: null,
        change: { kind: "answered", event, ignored: true },
      },
      ...(served.note === null ? {} : { note: served.note }),
    };
  }

  private apply(plan: Plan, event: string, now: number, options: AcceptOptions): Applied {
    const checked = options.checked === true;
    const routing = options.routing;
    switch (plan.kind) {
      case "respond":
        return {
          status: plan.status,
          body: plan.body,
          persist: null,
          change: { kind: "answered", event, ignored: plan.status === 202 },
        };
      case "installation": {
        const { id, account } = plan.installation;
        const applied = this.installations.apply(plan.installation, now);
        const body = JSON.stringify({
          installation: id,
          account: account.toLowerCase(),
          status: applied.status,
          repositories: { served: applied.served, removed: applied.removed },
        });
        return {
          status: 202,
          body,
          persist: null,
          change: { kind: "answered", event, ignored: false },
          installation: { account: account.toLowerCase(), id, active: applied.status === "active" },
        };
      }
      case "create": {
        const early = plan.build.sha === null ? null : this.builds.forCommit(plan.build.repository, plan.build.sha);
        const { decision, policy } = this.decide(plan.input, routing, now);
        const build = this.withEarlyEvents(newBuild({ ...plan.build, decision }), early);
        if (early !== null && early.decision === null) this.builds.remove(early.build_id);
        this.builds.insert(build, now);
        this.countRouted(build, early, now);
        this.queueWakeUp(build, policy, now);
        const config = this.configFrom(routing);
        this.dispatchDesk.onRouted(build, plan.input.changes, config?.dependencies, now);
        this.checkRunDesk.onRouted(build, options.installation, config, now);
        const body = JSON.stringify({ build_id: build.build_id, decision: build.decision });
        // A new build is copied to KV at once (insert notes the write).
        return { status: 202, body, persist: build, change: { kind: "created", event, build } };
      }
      case "update": {
        const known = this.builds.forCommit(plan.repository, plan.sha);
        const base = known ?? plan.fallback;
        const updated = applyUpdate(base, plan.update, plan.at);
        const next = this.dispatchDesk.onWorkflow(updated, plan.update, this.config()?.dependencies, now);
        if (known === null) this.builds.insert(next, now);
        else this.builds.update(next, now);
        // The router's own route job is not demand for the fleet.
        const routing = plan.update.kind === "job" && this.access.isRoutingJob(plan.update.job.id);
        const fleetBefore =
          plan.update.kind === "job" && !routing
            ? this.applyToFleet(plan.repository, plan.update.job, { known, next }, now)
            : undefined;
        const unlisted =
          plan.update.kind === "job" && next.jobs[String(plan.update.job.id)] === undefined
            ? { before: fleetBefore }
            : undefined;
        const completedNow = next.status === "completed" && base.status !== "completed";
        this.checkRunDesk.onWorkflow(base, next, plan.update, now);
        return {
          status: 202,
          body: JSON.stringify({ build_id: next.build_id }),
          persist: known === null ? next : completedNow ? this.kvCopy(next, now) : null,
          change: {
            kind: "updated",
            event,
            before: known,
            after: next,
            update: plan.update,
            checked,
            routing,
            ...(unlisted === undefined ? {} : { unlisted }),
          },
        };
      }
    }
  }

  /** The build to copy to KV now, or null when its copy was written less than a second ago (then it is owed). */
  private kvCopy(build: BuildRecord, now: number): BuildRecord | null {
    const claim = this.builds.claimKvWrite(build.build_id, now);
    if (claim.now) return build;
    this.deps.wake(Math.max(claim.due, now + KV_WRITE_INTERVAL_MS / 10));
    return null;
  }

  /**
   * One `workflow_job` event on the fleet's rows: the job's state, its machine's, and when to
   * check it; a job the fleet did not know yet takes one job off its build's routed demand on
   * its class. Returns the job's status before the event as the fleet had it (undefined when it
   * had no row), in the build record's words.
   */
  private applyToFleet(repository: string, job: JobState, build: Build, now: number): string | undefined {
    const config = this.config();
    const policy = config === null ? null : policyFor(config, repository);
    const runnerClass = jobClass(policy, job);
    const row = this.fleet.job(job.id);
    if (row === null && build.known !== null) this.routed.queued(build.known.build_id, runnerClass);
    const before = row === null ? undefined : JOB_STATUS_OF[row.state];
    const estimate = (runner: string) => this.expectedRun(build.next, job, runner, policy);
    const next = stepJob(row, { job, repository, runAttempt: job.run_attempt, runnerClass, estimate }, now);
    if (next === null) return before;
    const classOf = (name: string) => (config === null ? null : this.configuredClass(config, name));
    if (next.state === "busy" && next.machine !== null) {
      // The class of the job it runs now: a runner name reused by another class moves with it.
      this.fleet.sighted(next.machine, classOf(next.machine) ?? next.runnerClass, now);
    }
    this.fleet.putJob({ ...next, checkAt: nextCheck(next, this.usualMs(next, now), now) });
    const left = row?.state === "busy" && row.machine !== null && row.machine !== next.machine ? row.machine : null;
    if (left !== null) this.leftMachine(left, classOf(left), now);
    else if (next.state === "done" && job.runner_name !== null) {
      // Finished on a machine it was never seen busy on: a sighting, for a machine worth knowing.
      const configured = classOf(job.runner_name);
      if (configured !== null) this.fleet.sighted(job.runner_name, configured, now);
    }
    return before;
  }

  /**
   * A job's expected run on `runnerClass` for the learned router's backlog: for a job of a build
   * the learner decided, in a repository that learns, from its history (the same key its run is
   * learned under); else null. At most four rows read by key (job, workflow, repository, organisation).
   */
  private expectedRun(build: BuildRecord, job: JobState, runnerClass: string, policy: RoutingPolicy | null) {
    const key = learnKeyOf(build, job);
    if (key === null || !policy?.learning?.enabled) return null;
    const { minRuns } = learnOptionsOf(policy.learning);
    return expectedRunSeconds(this.learned.view().stats, key, runnerClass, minRuns);
  }

  /** A job left a machine: a configured machine was seen, any other is forgotten once it runs nothing. */
  private leftMachine(name: string, configured: string | null, now: number): void {
    if (configured !== null) this.fleet.sighted(name, configured, now);
    else this.fleet.forgetIfIdle(name);
  }

  /** Lets a job go: done for a day (so a late event does not bring it back), then gone. */
  private release(job: FleetJob, now: number, config: RoutingConfig | null): void {
    if (job.state === "done") {
      this.fleet.deleteJob(job.jobId);
      return;
    }
    this.fleet.putJob({ ...job, state: "done", machine: null, since: now, checkAt: null, checks: 0 });
    if (job.machine !== null) {
      this.leftMachine(job.machine, config === null ? null : this.configuredClass(config, job.machine), now);
    }
  }

  /** How long a job usually stays in its state, for its class: the 90th percentile seen, or a default. */
  private usualMs(job: FleetJob, now: number): number {
    if (job.state !== "queued" && job.state !== "busy") return 0;
    const runner = job.runnerClass ?? "unknown";
    const key = `${job.state}\n${runner}`;
    const cached = this.usual.get(key);
    if (cached !== undefined && now < cached.until) return cached.ms;
    const counts = this.metrics.histogram(job.state === "queued" ? "queueSeconds" : "runSeconds", { runner });
    const seen = counts === null ? null : histogramQuantile(counts, 0.9);
    const config = this.config();
    const target = queueTarget(config?.defaults.runners[runner]);
    const ms = seen !== null ? seen * 1000 : job.state === "busy" ? DEFAULT_RUN_MS : target * 1000;
    this.usual.set(key, { ms, until: now + USUAL_CACHE_MS });
    return ms;
  }

  /** Applies a change's effects: counters, histograms, cost totals, queue watch, alerts. */
  private record(change: Change, now: number): void {
    const effects = effectsOf(change);
    this.metrics.addAll(effects.counters);
    for (const { metric, labels, seconds } of effects.observations) this.metrics.observe(metric, labels, seconds);
    const settings = this.deps.settings();
    if (effects.costJob) {
      const runners = settings?.config.defaults.runners ?? {};
      const runner = Object.hasOwn(runners, effects.costJob.runner) ? runners[effects.costJob.runner] : undefined;
      this.costs.insert(effects.costJob, isGpuWork(effects.costJob.requirement, runner), now);
    }
    if (effects.unwatch !== null) this.watch.remove(effects.unwatch);
    // A job left the queue (effects' `transition.started`): a start for the forecast and the
    // queue's hours, unless it is the router's own.
    if (effects.unwatch !== null && change.kind === "updated" && change.update.kind === "job" && !change.routing) {
      const { runner, started_at } = change.update.job;
      const at = started_at === null ? Number.NaN : Date.parse(started_at);
      const startedAt = Number.isFinite(at) ? Math.min(at, now) : now;
      if (runner !== null) {
        this.history.countStart(runner, startedAt);
        const waited = effects.observations.find((o) => o.metric === "queueSeconds")?.seconds;
        if (waited !== undefined) {
          const policy = settings === null ? null : policyFor(settings.config, change.after.repository);
          const over = waited > queueTarget(policy?.runners[runner]);
          this.queueHours.observe(runner, epochHour(startedAt), waited, over);
        }
      }
    }
    // A job was judged for ci_router_routing_accuracy_total (route jobs are not): its day's count too.
    const judged = effects.counters.find((c) => c.metric === "accuracy");
    if (judged !== undefined && change.kind === "updated" && change.update.kind === "job") {
      const completed = parseInstant(change.update.job.completed_at ?? "");
      const { suggested = NO_SUGGESTION, used = UNKNOWN_RUNNER } = judged.labels;
      this.accuracy.add(utcDay(completed ?? now), suggested, used);
    }
    if (effects.watch && settings && change.kind !== "answered") {
      const build = change.kind === "created" ? change.build : change.after;
      const policy = policyFor(settings.config, build.repository);
      this.deps.wake(this.watch.add(effects.watch, watchSeconds(policy, build, effects.watch.jobId), now));
    }
    for (const event of effects.alerts) this.queueAlerts(event, now);
    if (effects.learnJob !== null) this.learned.observeJob(effects.learnJob);
    if (effects.learnBuild !== null) {
      // The router's own route jobs are no part of what a build runs; a build that ran none of its own says nothing.
      const jobs = effects.learnBuild.jobs.filter((job) => !this.access.isRoutingJob(job.id));
      if (jobs.length > 0) this.learned.observeBuild(effects.learnBuild.scope, jobs);
    }
  }

  private queueAlerts(event: AlertEvent, now: number): void {
    const settings = this.deps.settings();
    if (settings === null || settings.discordWebhookUrl === null) return;
    const policy = policyFor(settings.config, event.build.repository);
    for (const alert of alertsFor(event, policy)) {
      const payload = discordMessage(alert, event.build, {
        repositoryUrl: `https://github.com/${event.build.repository}`,
      });
      this.outbox.enqueue(alert.kind, alert.build_id, payload, now);
      this.deps.wake(now);
    }
  }

  /**
   * The decision for a change under its repository's policy and the fleet's load now, with that
   * policy; for a repository that learns, with its learned history (each row the learner asks
   * for read by key: the repository's roster, its jobs' rows on the classes the tree allows).
   */
  private decide(
    input: RoutingInput,
    routing: RoutingSource | undefined,
    now: number,
  ): { decision: Decision; policy: RoutingPolicy } {
    const config = this.configFrom(routing);
    if (config === null) throw new Error("the routing configuration cannot be read: nothing is routed");
    const policy = policyFor(config, input.repository);
    const history = policy.learning?.enabled ? this.learned.view().stats : null;
    const counts = this.decisionCounts(policy);
    // The learner also reads the expected runs of the jobs ahead on each class, and counts the
    // jobs of builds routed but not queued yet; the tree reads only the counts.
    const counted = fleetSnapshot(history === null ? counts : { ...counts, aheadByClass: this.fleet.ahead() }, policy);
    const snapshot = history === null ? counted : withRouted(counted, this.routed.byClass(now));
    return { decision: route(input, policy, snapshot, { history }), policy };
  }

  /** A routed build's expected jobs become demand until they queue; the build it replaces leaves none. */
  private countRouted(build: BuildRecord, replaced: BuildRecord | null, now: number): void {
    if (replaced !== null) this.routed.forget(replaced.build_id);
    const expected = build.decision?.learned?.expected_jobs;
    if (expected !== undefined) this.routed.routed(build.build_id, expected, now);
  }

  /**
   * The fleet's counts as a decision under `policy` reads them. With fair shares on, also the
   * active jobs per class and repository and the typical run seconds of each class that has
   * active jobs (fair shares' expected wait), one histogram row read by key per such class;
   * without, neither is read, except the per-repository counts for GET /fleet (`view`).
   */
  private decisionCounts(policy: RoutingPolicy, view = false): FleetCounts {
    const fair = policy.fairShare?.enabled === true;
    const counts = this.fleet.counts(fair || view);
    if (!fair) return counts;
    const runSecondsByClass = new Map<string, number>();
    for (const runner of counts.activeByClass.keys()) {
      const seconds = typicalRunSeconds(this.metrics.histogram("runSeconds", { runner }));
      if (seconds !== undefined) runSecondsByClass.set(runner, seconds);
    }
    return { ...counts, runSecondsByClass };
  }

  /** The configuration of the Worker's bindings' text when given (else the Ledger's own); null when it cannot be read. */
  private configFrom(routing: RoutingSource | undefined): RoutingConfig | null {
    const read = routing === undefined ? null : routingOf(routing);
    return read === null ? this.config() : read.ok ? read.value : null;
  }

  /**
   * Queues the wake-ups of a routed push or pull request: one for each class with a warm hook its
   * decision expects jobs on (`wakeUpClasses`: the learner's per-class expected jobs, else the
   * decision's runner), in the delivery's transaction, at most once per build and class (at most
   * MAX_WAKE_UPS_PER_BUILD), sent by the alarm right away.
   */
  private queueWakeUp(build: BuildRecord, policy: RoutingPolicy, now: number): void {
    let queued = 0;
    for (const { hook, body } of wakeUpsOf(build, policy, (runner, jobs) => this.expectedWork(runner, jobs))) {
      if (this.warm.enqueue(hook, body, now)) queued++;
    }
    if (queued > 0) this.deps.wake(now);
  }

  /**
   * What a build routed to `runnerClass` is expected to take: its jobs' run times and, unless the
   * decision gave `jobs`, the builds routed to it.
   */
  private expectedWork(runnerClass: string, jobs: number | null = null): ExpectedWork {
    const runCounts = this.metrics.histogram("runSeconds", { runner: runnerClass });
    if (jobs !== null) return { jobs, minutes: expectedWork({ runCounts, routedBuilds: 0 }).minutes };
    let routedBuilds = 0;
    for (const requirement of REQUIREMENTS) {
      for (const mode of MODES)
        routedBuilds += this.metrics.gauge("decisions", { runner: runnerClass, requirement, mode }) ?? 0;
    }
    return expectedWork({ runCounts, routedBuilds });
  }

  /**
   * Workflow events can arrive before the delivery that routes their commit; they then started a
   * build without a decision. Its runs and jobs carry over to the routed build, which replaces it.
   */
  private withEarlyEvents(build: BuildRecord, early: BuildRecord | null): BuildRecord {
    if (early === null || early.decision !== null) return build;
    let merged = build;
    for (const run of Object.values(early.runs)) merged = applyUpdate(merged, { kind: "run", run }, build.updated_at);
    for (const job of Object.values(early.jobs)) merged = applyUpdate(merged, { kind: "job", job }, build.updated_at);
    return merged;
  }

  private costReportOf(lines: Parameters<typeof costReport>[0], start: string, end: string): CostReport {
    const runners = this.config()?.defaults.runners ?? {};
    return costReport(lines, runners, { start, end });
  }

  private config(): RoutingConfig | null {
    return this.deps.settings()?.config ?? null;
  }

  private configuredClass(config: RoutingConfig, name: string): string | null {
    return configuredClass(allPolicies(config), name);
  }

  private configuredNames(config: RoutingConfig): Set<string> {
    const names = new Set<string>();
    for (const policy of allPolicies(config)) {
      for (const runner of Object.values(policy.runners))
        for (const name of Object.keys(runner.machines ?? {})) names.add(name);
    }
    return names;
  }
}

/** The default policy with every class a repository adds (a class the defaults define keeps their definition). */
function everyClass(config: RoutingConfig): RoutingPolicy {
  const runners = Object.assign(Object.create(null) as RoutingPolicy["runners"], config.defaults.runners);
  for (const policy of Object.values(config.repositories)) {
    for (const [id, runner] of Object.entries(policy.runners)) runners[id] ??= runner;
  }
  return { ...config.defaults, runners };
}

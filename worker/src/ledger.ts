import { DurableObject } from "cloudflare:workers";
import { LEDGER_INSTANCE } from "./bindings.ts";
import {
  type AlertEvent,
  alertsFor,
  applyJobEvent,
  applyUpdate,
  type BuildRecord,
  type Change,
  type CostReport,
  chooseRunner,
  costReport,
  discordMessage,
  effectsOf,
  type FleetSnapshot,
  type FleetState,
  fleetFromPolicy,
  fleetSnapshot,
  markOffline,
  markSeen,
  policyFor,
  type RoutingConfig,
  type RoutingPolicy,
  renderExposition,
  type WorkflowUpdate,
} from "./core/index.ts";
import { type Env, loadSettings } from "./env.ts";
import { sendDueAlerts } from "./notify.ts";
import { watchSeconds } from "./rescue.ts";
import { RescueDesk } from "./rescue-desk.ts";
import { CostStore } from "./store/costs.ts";
import { FleetStore } from "./store/fleet.ts";
import { MetricsStore } from "./store/metrics.ts";
import { Outbox } from "./store/outbox.ts";
import { QueueWatch } from "./store/queue-watch.ts";

/** The Ledger every request shares. */
export function ledgerOf(env: Env) {
  return env.LEDGER.get(env.LEDGER.idFromName(LEDGER_INSTANCE));
}

/** GitHub lets a delivery be redelivered for 3 days; remember each one a day longer. */
export const DELIVERY_RETENTION_MS = 4 * 24 * 60 * 60 * 1000;
/** Build records live as long here as in KV. */
export const BUILD_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Job costs are kept for reports long after their builds: 400 days. */
export const COST_RETENTION_MS = 400 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** What the Worker decided to do with a delivery; the Ledger applies it at most once. */
export type Plan =
  | { kind: "respond"; status: number; body: string }
  /**
   * A routed delivery: `build.decision` is the decision from what the change needs; the Ledger,
   * holding the fleet, applies load (chooseRunner) before saving it and answers `{build_id, decision}`.
   */
  | { kind: "create"; build: BuildRecord }
  | { kind: "update"; repository: string; sha: string; update: WorkflowUpdate; fallback: BuildRecord; at: string };

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

export interface Outcome {
  duplicate: boolean;
  status: number;
  /** The JSON answer, exactly as first given. */
  body: string;
  /** The build to copy to KV: set when a build was created or just completed. */
  persist: BuildRecord | null;
}

/**
 * The one place where state must be exact: which deliveries were seen (and what they were
 * answered), the live build records that workflow events update, the metrics, the cost ledger
 * and the alert outbox. Every delivery is applied in one synchronous SQLite transaction, so
 * concurrent deliveries can neither both win nor lose an update, and nothing is counted twice.
 * Tables: see docs/storage-schema.md.
 */
export class Ledger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly metrics: MetricsStore;
  private readonly outbox: Outbox;
  private readonly costs: CostStore;
  private readonly watch: QueueWatch;
  private readonly fleetStore: FleetStore;
  private readonly rescueDesk: RescueDesk;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS builds (
        build_id TEXT PRIMARY KEY,
        repository TEXT NOT NULL,
        sha TEXT,
        record TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS commits (
        repository TEXT NOT NULL,
        sha TEXT NOT NULL,
        build_id TEXT NOT NULL,
        PRIMARY KEY (repository, sha)
      );
      CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at);
      CREATE INDEX IF NOT EXISTS builds_created ON builds (created_at);
    `);
    this.metrics = new MetricsStore(this.sql);
    this.outbox = new Outbox(this.sql);
    this.costs = new CostStore(this.sql);
    this.watch = new QueueWatch(this.sql);
    this.fleetStore = new FleetStore(this.sql);
    this.rescueDesk = new RescueDesk({
      sql: this.sql,
      storage: ctx.storage,
      metrics: this.metrics,
      watch: this.watch,
      outbox: this.outbox,
      settings: () => this.settingsOrNull(),
      buildById: (buildId) => this.buildById(buildId),
      queueAlerts: (event, now) => this.queueAlerts(event, now),
    });
  }

  /** Applies `plan` for `delivery` unless that delivery was seen; either way, answers as the first time. */
  async accept(delivery: string, event: string, plan: Plan, seen: Observations = {}): Promise<Outcome> {
    const outcome = this.ctx.storage.transactionSync((): Outcome => {
      const now = Date.now();
      if (typeof seen.rateLimitRemaining === "number") this.metrics.set("rateLimit", {}, seen.rateLimitRemaining);
      const first = this.sql
        .exec<{ status: number; body: string }>("SELECT status, body FROM deliveries WHERE id = ?", delivery)
        .toArray()[0];
      if (first !== undefined) {
        this.metrics.add("deliveries", { event, outcome: "duplicate" });
        return { duplicate: true, status: first.status, body: first.body, persist: null };
      }
      const { change, ...result } = this.apply(plan, event, now);
      this.record(change, now);
      this.sql.exec(
        "INSERT INTO deliveries (id, event, status, body, received_at) VALUES (?, ?, ?, ?, ?)",
        delivery,
        event,
        result.status,
        result.body,
        now,
      );
      return { duplicate: false, ...result };
    });
    await this.scheduleAlarm();
    return outcome;
  }

  /** Counts a refused webhook delivery. Nothing else is written. */
  async reject(reason: string): Promise<void> {
    this.metrics.add("rejections", { reason });
  }

  /** The live record of a build, or null. */
  async build(buildId: string): Promise<BuildRecord | null> {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM builds WHERE build_id = ?", buildId).toArray()[0];
    return row === undefined ? null : JSON.parse(row.record);
  }

  /** The latest build recorded for a commit of a repository, or null. */
  async buildForCommit(repository: string, sha: string): Promise<BuildRecord | null> {
    return this.buildRowForCommit(repository, sha);
  }

  /** The fleet's live state: the stored one, with every configured machine (capacities as configured). */
  async fleetState(): Promise<FleetState> {
    return this.fleet();
  }

  /**
   * Applies a reconciliation at `now` (ms): machines in `seen` were seen online, machines in
   * `offline` were reported offline. One transaction; unknown names are ignored.
   */
  async reconcileFleet(seen: string[], offline: string[], now: number): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      const at = new Date(now).toISOString();
      const state = markOffline(markSeen(this.fleet(), seen, at), offline, at);
      this.fleetStore.save(state, Date.now());
    });
  }

  /** Per class of the repository's policy (of every configured class when null): capacity, busy, free, queued, machines. */
  async fleetLoad(repository: string | null): Promise<FleetSnapshot> {
    return this.snapshotFor(repository);
  }

  /** For GET /fleet: {@link fleetLoad}, each machine with the ids of the jobs running on it. */
  async fleetView(repository: string | null): Promise<FleetView> {
    const state = this.fleet();
    const snapshot = this.snapshotFor(repository, state);
    const classes: FleetView["classes"] = {};
    for (const [id, load] of Object.entries(snapshot)) {
      classes[id] = {
        ...load,
        machines: load.machines.map((m) => ({ ...m, jobs: [...(state.machines[m.name]?.busy ?? [])] })),
      };
    }
    return { classes };
  }

  /** For GET /route, in one request: the build recorded for a commit, and the fleet's load under the repository's policy. */
  async routeContext(repository: string, sha: string): Promise<{ build: BuildRecord | null; snapshot: FleetSnapshot }> {
    return { build: this.buildRowForCommit(repository, sha), snapshot: this.snapshotFor(repository) };
  }

  /** Every metric in Prometheus text exposition format 0.0.4. */
  async exposition(now = Date.now()): Promise<string> {
    const month = this.costReport(monthStart(now), new Date(now).toISOString());
    this.metrics.set("monthCost", {}, month.totals.cost_usd);
    this.metrics.set("monthBaseline", {}, month.baseline.cost_usd);
    if (month.savings.usd !== null) this.metrics.set("monthSavings", {}, month.savings.usd);
    return renderExposition(this.metrics.samples(), this.metrics.histograms());
  }

  /** The cost report for completed jobs in [start, end). */
  async costsFor(start: string, end: string): Promise<CostReport> {
    return this.costReport(start, end);
  }

  /** Sends due alerts, raises alerts for jobs queued too long, and prunes past retention. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const fleet = await this.fleetState();
    this.ctx.storage.transactionSync(() => {
      for (const stuck of this.watch.due(now)) {
        const build = this.buildById(stuck.build_id);
        const job = build?.jobs[String(stuck.job_id)];
        if (build && job && job.status !== "in_progress" && job.status !== "completed") {
          this.rescueDesk.onStuck(build, job, stuck.waitedSeconds, fleet, now);
        }
      }
      this.rescueDesk.prune(now - DELIVERY_RETENTION_MS);
      this.sql.exec("DELETE FROM deliveries WHERE received_at < ?", now - DELIVERY_RETENTION_MS);
      this.sql.exec("DELETE FROM builds WHERE created_at < ?", now - BUILD_RETENTION_MS);
      this.sql.exec("DELETE FROM commits WHERE build_id NOT IN (SELECT build_id FROM builds)");
      this.costs.prune(now - COST_RETENTION_MS);
      this.outbox.prune(now - DELIVERY_RETENTION_MS);
    });
    await sendDueAlerts(this.outbox, this.metrics, this.settingsOrNull()?.discordWebhookUrl ?? null, now);
    await this.rescueDesk.run();
    await this.scheduleAlarm();
    await this.rescueDesk.poll();
  }

  private async scheduleAlarm(): Promise<void> {
    const next = Math.min(
      this.outbox.nextDue() ?? Number.POSITIVE_INFINITY,
      this.watch.nextDue() ?? Number.POSITIVE_INFINITY,
    );
    const current = await this.ctx.storage.getAlarm();
    const wanted = Number.isFinite(next) ? next : Date.now() + PRUNE_EVERY_MS;
    if (current === null || wanted < current) await this.ctx.storage.setAlarm(Math.max(wanted, Date.now()));
  }

  private apply(plan: Plan, event: string, now: number): Omit<Outcome, "duplicate"> & { change: Change } {
    switch (plan.kind) {
      case "respond":
        return {
          status: plan.status,
          body: plan.body,
          persist: null,
          change: { kind: "answered", event, ignored: plan.status === 202 },
        };
      case "create": {
        const build = this.withEarlyEvents(this.withLoad(plan.build));
        this.save(build, now, true);
        const body = JSON.stringify({ build_id: build.build_id, decision: build.decision });
        return { status: 202, body, persist: build, change: { kind: "created", event, build } };
      }
      case "update": {
        const known = this.buildRowForCommit(plan.repository, plan.sha);
        const base = known ?? plan.fallback;
        const next = applyUpdate(base, plan.update, plan.at);
        this.save(next, now, known === null);
        if (plan.update.kind === "job") this.applyToFleet(plan.repository, plan.update.job, plan.at, now);
        const completedNow = next.status === "completed" && base.status !== "completed";
        return {
          status: 202,
          body: JSON.stringify({ build_id: next.build_id }),
          persist: known === null || completedNow ? next : null,
          change: { kind: "updated", event, before: known, after: next, update: plan.update },
        };
      }
    }
  }

  /** The stored fleet with every configured machine of every policy (the policy's capacities win). */
  private fleet(): FleetState {
    let state = this.fleetStore.load();
    const config = this.settingsOrNull()?.config;
    if (config) for (const policy of allPolicies(config)) state = fleetFromPolicy(policy, state);
    return state;
  }

  private applyToFleet(repository: string, job: Parameters<typeof applyJobEvent>[1], at: string, now: number): void {
    const config = this.settingsOrNull()?.config;
    const policy = config ? policyFor(config, repository) : undefined;
    this.fleetStore.save(applyJobEvent(this.fleet(), job, at, policy), now);
  }

  private snapshotFor(repository: string | null, state: FleetState = this.fleet()): FleetSnapshot {
    const config = this.settingsOrNull()?.config;
    if (!config) return {};
    const policy = repository === null ? everyClass(config) : policyFor(config, repository);
    return fleetSnapshot(state, policy);
  }

  /** The build with its decision adjusted to the fleet's load (least-loaded machine, failover, A/B arm). */
  private withLoad(build: BuildRecord): BuildRecord {
    const config = this.settingsOrNull()?.config;
    if (!config || build.decision === null) return build;
    const policy = policyFor(config, build.repository);
    const snapshot = fleetSnapshot(this.fleet(), policy);
    const decision = chooseRunner(build.decision, policy, snapshot, { repository: build.repository, sha: build.sha });
    return { ...build, decision };
  }

  /** Applies a change's effects: counters, histograms, cost row, queue watch, alerts. */
  private record(change: Change, now: number): void {
    const effects = effectsOf(change);
    for (const { metric, labels, by } of effects.counters) this.metrics.add(metric, labels, by);
    for (const { metric, labels, seconds } of effects.observations) this.metrics.observe(metric, labels, seconds);
    if (effects.costJob) this.costs.insert(effects.costJob, now);
    const settings = this.settingsOrNull();
    if (effects.unwatch !== null) this.watch.remove(effects.unwatch);
    if (effects.watch && settings && change.kind !== "answered") {
      const repository = change.kind === "created" ? change.build.repository : change.after.repository;
      const build = change.kind === "created" ? change.build : change.after;
      const policy = policyFor(settings.config, repository);
      this.watch.add(effects.watch, watchSeconds(policy, build, effects.watch.jobId), now);
    }
    for (const event of effects.alerts) this.queueAlerts(event, now);
  }

  private queueAlerts(event: AlertEvent, now: number): void {
    const settings = this.settingsOrNull();
    if (settings === null || settings.discordWebhookUrl === null) return;
    const policy = policyFor(settings.config, event.build.repository).alerts;
    for (const alert of alertsFor(event, policy)) {
      const payload = discordMessage(alert, event.build, {
        repositoryUrl: `https://github.com/${event.build.repository}`,
      });
      this.outbox.enqueue(alert.kind, alert.build_id, payload, now);
    }
  }

  private costReport(start: string, end: string): CostReport {
    const settings = this.settingsOrNull();
    const runners = settings?.config.defaults.runners ?? {};
    return costReport(this.costs.between(start, end), runners, { start, end });
  }

  private settingsOrNull() {
    try {
      return loadSettings(this.env);
    } catch {
      return null;
    }
  }

  /**
   * Workflow events can arrive before the delivery that routes their commit; they then started a
   * build without a decision. Its runs and jobs carry over to the routed build, which replaces it.
   */
  private withEarlyEvents(build: BuildRecord): BuildRecord {
    if (build.sha === null) return build;
    const early = this.buildRowForCommit(build.repository, build.sha);
    if (early === null || early.decision !== null) return build;
    let merged = build;
    for (const run of Object.values(early.runs)) merged = applyUpdate(merged, { kind: "run", run }, build.updated_at);
    for (const job of Object.values(early.jobs)) merged = applyUpdate(merged, { kind: "job", job }, build.updated_at);
    return merged;
  }

  private buildById(buildId: string): BuildRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM builds WHERE build_id = ?", buildId).toArray()[0];
    return row === undefined ? null : JSON.parse(row.record);
  }

  private buildRowForCommit(repository: string, sha: string): BuildRecord | null {
    const row = this.sql
      .exec<{ record: string }>(
        "SELECT b.record FROM commits c JOIN builds b ON b.build_id = c.build_id WHERE c.repository = ? AND c.sha = ?",
        repository.toLowerCase(),
        sha.toLowerCase(),
      )
      .toArray()[0];
    return row === undefined ? null : JSON.parse(row.record);
  }

  private save(build: BuildRecord, now: number, isNew: boolean): void {
    if (isNew) {
      this.sql.exec(
        "INSERT OR REPLACE INTO builds (build_id, repository, sha, record, created_at) VALUES (?, ?, ?, ?, ?)",
        build.build_id,
        build.repository.toLowerCase(),
        build.sha?.toLowerCase() ?? null,
        JSON.stringify(build),
        now,
      );
      if (build.sha !== null) {
        this.sql.exec(
          "INSERT OR REPLACE INTO commits (repository, sha, build_id) VALUES (?, ?, ?)",
          build.repository.toLowerCase(),
          build.sha.toLowerCase(),
          build.build_id,
        );
      }
    } else {
      this.sql.exec("UPDATE builds SET record = ? WHERE build_id = ?", JSON.stringify(build), build.build_id);
    }
  }
}

function allPolicies(config: RoutingConfig): RoutingPolicy[] {
  return [config.defaults, ...Object.values(config.repositories)];
}

/** The default policy with every class a repository adds (a class the defaults define keeps their definition). */
function everyClass(config: RoutingConfig): RoutingPolicy {
  const runners = { ...config.defaults.runners };
  for (const policy of Object.values(config.repositories)) {
    for (const [id, runner] of Object.entries(policy.runners)) runners[id] ??= runner;
  }
  return { ...config.defaults, runners };
}

/** The first instant of `now`'s calendar month, UTC. */
function monthStart(now: number): string {
  const d = new Date(now);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)).toISOString();
}

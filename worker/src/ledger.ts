import { DurableObject } from "cloudflare:workers";
import {
  BUILD_KEY_PREFIX,
  BUILD_TTL_SECONDS,
  type KV_BINDING,
  type LEDGER_BINDING,
  LEDGER_INSTANCE,
} from "./bindings.ts";
import {
  type AcceptOptions,
  Book,
  type BuildListView,
  type CheckResult,
  type CostView,
  type FleetView,
  type LearnedRows,
  type ListedRunner,
  type Outcome,
  type RouteAsk,
  type RouteContext,
} from "./book.ts";
import {
  allPolicies,
  type BuildQuery,
  type BuildRecord,
  type Decision,
  type Forecast,
  fail,
  type InstallationStatus,
  type InstallationView,
  LruMap,
  MAX_CACHED_INSTALLATIONS,
  MAX_ORGANISATIONS,
  ORGANISATIONS_LISTED,
  type OrganisationEntry,
  type OutboxStatus,
  organisationNotFoundMessage,
  type Plan,
  type QueueView,
  type Result,
  type RoutingInput,
  SCHEDULED_ORGANISATIONS,
  type SimulationDocument,
  scheduledSlice,
  WARM_SECRET_NAME,
  type WARM_SECRET_PREFIX,
  warmSecretProblems,
} from "./core/index.ts";
import type { BuildGraph } from "./dispatch-desk.ts";
import { HttpError } from "./errors.ts";
import { GitHubClients, noteInstallation, rememberInstallation } from "./github-app.ts";
import { log } from "./log.ts";
import { sendDueAlerts } from "./notify.ts";
import {
  loadSettings,
  prepareSettings,
  type RoutingSource,
  type Settings,
  SettingsError,
  type SettingsSource,
} from "./settings.ts";
import { OrganisationStore } from "./store/organisations.ts";
import type { AlertView } from "./store/outbox.ts";
import type { PublishedSimulation } from "./store/simulations.ts";
import { sendDueWakeUps } from "./warm.ts";

export type { BuildListView, CostView, FleetView, LearnedRows, Outcome } from "./book.ts";

/**
 * The secrets warm hooks are signed with: bound under the names the routing configuration gives
 * (`runners.<id>.warm.secretEnv`, always `WARM_…`), so they are looked up by name.
 */
export type WarmSecrets = { readonly [K in `${typeof WARM_SECRET_PREFIX}${string}`]?: string | undefined };

/** What the Ledger is bound to: KV for build copies, the strings its settings read, and the warm hooks' secrets. */
export type LedgerEnv = { [K in typeof KV_BINDING]: KVNamespace } & SettingsSource & WarmSecrets;

type LedgerNamespace = { [K in typeof LEDGER_BINDING]: DurableObjectNamespace<Ledger> };
export type LedgerStub = DurableObjectStub<Ledger>;

/** The Ledger instance named `name`. */
export function ledgerNamed(env: LedgerNamespace, name: string): LedgerStub {
  return env.LEDGER.get(env.LEDGER.idFromName(name));
}

/**
 * The directory: the instance every deployment starts with (`ledger`), which lists the Ledger
 * of each organisation (`organisations`) and serves the first one itself. What has no trusted
 * organisation (a refused delivery, a ping that names none) is kept here too.
 */
export function directoryOf(env: LedgerNamespace): LedgerStub {
  return ledgerNamed(env, LEDGER_INSTANCE);
}

/**
 * Organisations whose Ledger this isolate remembers: as many as the directory lists (short
 * strings, about a megabyte at most), so that no steady-state delivery asks the directory again.
 */
const MAX_REMEMBERED_ORGANISATIONS = MAX_ORGANISATIONS;

/**
 * Each organisation's Ledger as the directory gave it, per isolate, the least recently used
 * forgotten past {@link MAX_REMEMBERED_ORGANISATIONS}. The directory never changes an
 * assignment, so an entry needs no expiry: in steady state a request costs no directory call.
 */
let remembered = new LruMap<string, string>(MAX_REMEMBERED_ORGANISATIONS);

/** The Ledger the directory gave, or the 503 a full directory answers (logged). */
function servedOrRefused(organisation: string, given: Result<string>): string {
  if (given.ok) return given.value;
  log("error", "organisation refused: the directory is full", { organisation, limit: MAX_ORGANISATIONS });
  throw new HttpError("organisation_limit", given.error.message);
}

/**
 * The name of the Ledger serving `organisation` (lower-cased): remembered, else asked of the
 * directory, which lists it when `assign` (a delivery or a route request: the organisation is
 * served from now on; 503 `organisation_limit` once the directory is full). Without `assign`
 * (an operator's read) an organisation the directory does not list is null.
 */
export async function ledgerNameFor(
  env: LedgerNamespace,
  organisation: string,
  assign: boolean,
): Promise<string | null> {
  const known = remembered.get(organisation);
  if (known !== undefined) return known;
  const directory = directoryOf(env);
  const name = assign
    ? servedOrRefused(organisation, await directory.assignOrganisation(organisation))
    : await directory.organisationLedger(organisation);
  if (name !== null) remembered.set(organisation, name);
  return name;
}

/**
 * The Ledger serving `organisation`, listed in the directory when new (see
 * {@link ledgerNameFor}); the directory itself for null. Every caller that records or reads an
 * organisation's state finds its Ledger here, or through {@link acceptIn}, which shares the memory.
 */
export async function ledgerFor(env: LedgerNamespace, organisation: string | null): Promise<LedgerStub> {
  if (organisation === null) return directoryOf(env);
  return ledgerNamed(env, (await ledgerNameFor(env, organisation, true)) ?? LEDGER_INSTANCE);
}

/** An operator's read of an organisation the directory does not list: 404. */
export async function listedLedger(
  env: LedgerNamespace,
  organisation: string,
): Promise<{ stub: LedgerStub; name: string }> {
  const name = await ledgerNameFor(env, organisation, false);
  if (name === null) throw new HttpError("organisation_not_found", organisationNotFoundMessage(organisation));
  return { stub: ledgerNamed(env, name), name };
}

/**
 * Applies a delivery in its organisation's Ledger (the directory's for null). When this isolate
 * does not remember the organisation, the directory is asked by the delivery itself: it lists a
 * new organisation and, when it serves it (the first organisation, or one an upgraded Ledger
 * already held), applies the delivery in the same call; only a delivery of another Ledger's
 * organisation makes a second call. So a deployment of one organisation pays nothing for the
 * directory, even in a fresh isolate.
 */
export async function acceptIn(
  env: LedgerNamespace,
  organisation: string | null,
  delivery: string,
  event: string,
  plan: Plan,
  options: AcceptOptions = {},
): Promise<Outcome> {
  if (organisation === null) return directoryOf(env).accept(delivery, event, plan, options);
  const known = remembered.get(organisation);
  if (known !== undefined) return ledgerNamed(env, known).accept(delivery, event, plan, options);
  const answer = await directoryOf(env).accept(delivery, event, plan, { ...options, organisation });
  if (answer.elsewhere === undefined) {
    remembered.set(organisation, LEDGER_INSTANCE);
    return answer;
  }
  const name = servedOrRefused(organisation, answer.elsewhere);
  remembered.set(organisation, name);
  return ledgerNamed(env, name).accept(delivery, event, plan, options);
}

/**
 * Forgets every organisation this isolate remembers, as a new isolate starts: only for a
 * directory whose storage was replaced under it (as the Worker tests that reset storage do).
 */
export function forgetOrganisations(): void {
  remembered = new LruMap<string, string>(MAX_REMEMBERED_ORGANISATIONS);
}

/**
 * {@link Ledger.accept}'s answer. Asked of the directory about an `organisation` another Ledger
 * serves (or one it has no room for), it is `elsewhere`: that Ledger's name (or why there is
 * none), and nothing was applied (the other fields are empty).
 */
export interface LedgerOutcome extends Outcome {
  elsewhere?: Result<string>;
}

/** Which Ledger an operator request that names no organisation reads (see {@link Ledger.defaultOrganisation}). */
export type DefaultOrganisation =
  | { kind: "one"; organisation: string | null; ledger: string }
  | { kind: "several"; total: number; listed: string[] };

/** The alarm runs at least this often, to prune and to let go of jobs past their age. */
const MAINTAIN_EVERY_MS = 60 * 60 * 1000;
/** While jobs are held that a check could repair, the alarm comes back at least this often. */
const CHECK_EVERY_MS = 5 * 60 * 1000;
/** Jobs checked against GitHub per run (a Cron Trigger or an alarm): at most one GitHub call each. */
export const CHECK_BATCH = 20;
/** GitHub calls left in the rate-limit window below which no job is checked. */
export const CHECK_RESERVE = 500;
/** Owed KV copies written per alarm run. */
const KV_BATCH = 50;

/**
 * The Durable Object around the Ledger's {@link Book}: it holds the SQLite storage, runs the
 * book's transactions for the Worker (over RPC), and does what cannot happen inside one: the
 * alarm's calls to warm hooks, Discord, GitHub (rescues, dispatches, commit statuses, job checks) and KV. Tables:
 * docs/storage-schema.md.
 */
export class Ledger extends DurableObject<LedgerEnv> {
  private readonly book: Book;
  /** The directory's list; read and written only in the directory's own instance (`ledger`). */
  private readonly organisations: OrganisationStore;
  /** When the alarm is set for: undefined until read once, null when none is set. */
  private alarmAt: number | null | undefined = undefined;
  /** The earliest time something asked for the alarm since it was last set. */
  private wanted = Number.POSITIVE_INFINITY;
  private checking = false;
  private saidMisconfigured = false;
  /** The warm secrets last said to be missing, so each change is logged once. */
  private saidMissingSecrets = "";

  constructor(ctx: DurableObjectState, env: LedgerEnv) {
    super(ctx, env);
    prepareSettings(env);
    const storage = ctx.storage;
    this.book = new Book({
      sql: storage.sql,
      transaction: (fn) => storage.transactionSync(fn),
      settings: () => this.settings(),
      wake: (at) => {
        this.wanted = Math.min(this.wanted, at);
      },
    });
    this.organisations = new OrganisationStore(storage.sql, LEDGER_INSTANCE);
    // The installations the alarm's GitHub calls answer with outlive the isolate: kept in storage,
    // remembered again here (as many as the isolate keeps, the most recently changed).
    for (const { account, id } of this.book.installations.active(MAX_CACHED_INSTALLATIONS)) {
      noteInstallation(account, id);
    }
  }

  /**
   * Applies `plan` for `delivery` unless it, or another delivery of the same event, was seen.
   * `installation` is the GitHub App installation the delivery came from. What the delivery said
   * of it (serving, suspended, uninstalled) is kept in storage and, once committed, in this
   * isolate's memory of the owner's installation (github-app.ts), for the alarm's calls.
   * `organisation` is given only to the directory, by an isolate that does not know which Ledger
   * serves it ({@link acceptIn}): the delivery is applied here only when this Ledger serves it.
   */
  async accept(
    delivery: string,
    event: string,
    plan: Plan,
    asked: AcceptOptions & { organisation?: string } = {},
  ): Promise<LedgerOutcome> {
    const { organisation, ...options } = asked;
    if (organisation !== undefined) {
      const served = await this.assignOrganisation(organisation);
      if (!served.ok || served.value !== LEDGER_INSTANCE) {
        return { duplicate: false, status: 0, body: "", persist: null, elsewhere: served };
      }
    }
    const outcome = this.book.accept(delivery, event, plan, options);
    rememberInstallation(outcome.installation);
    await this.armAlarm();
    return outcome;
  }

  /**
   * The directory: the Ledger serving `organisation` (lower-cased), listed now when it was not
   * (refused, writing nothing, once the directory is full).
   */
  async assignOrganisation(organisation: string): Promise<Result<string>> {
    return this.book.transaction(() => this.organisations.assign(organisation, Date.now()));
  }

  /** The directory: the Ledger serving `organisation`, or null when it is not listed. */
  async organisationLedger(organisation: string): Promise<string | null> {
    return this.organisations.ledgerOf(organisation);
  }

  /**
   * The directory: the Ledger an operator request that names no organisation reads. The only
   * organisation listed, or this instance while none is; when several are, `hint` (the
   * organisation of a repository the request names) if it is listed, else `several`.
   */
  async defaultOrganisation(hint: string | null): Promise<DefaultOrganisation> {
    // Two rows tell none, one and several apart without counting the table.
    const [first, second] = this.organisations.list(0, 2);
    if (first === undefined) return { kind: "one", organisation: null, ledger: LEDGER_INSTANCE };
    if (second === undefined) return { kind: "one", organisation: first.organisation, ledger: first.ledger };
    const hinted = hint === null ? null : this.organisations.ledgerOf(hint);
    if (hint !== null && hinted !== null) return { kind: "one", organisation: hint, ledger: hinted };
    const listed = this.organisations.list(0, ORGANISATIONS_LISTED).map((entry) => entry.organisation);
    return { kind: "several", total: this.organisations.count(), listed };
  }

  /** The directory: up to `limit` organisations from `offset`, by name, and how many there are. */
  async organisationList(
    offset = 0,
    limit = MAX_ORGANISATIONS,
  ): Promise<{ total: number; organisations: OrganisationEntry[] }> {
    return { total: this.organisations.count(), organisations: this.organisations.list(offset, limit) };
  }

  /** The directory: the organisations the Cron Trigger visits at `minute` (core/organisations.ts `scheduledSlice`). */
  async scheduledOrganisations(minute: number): Promise<OrganisationEntry[]> {
    const { offset, limit } = scheduledSlice(this.organisations.count(), minute, SCHEDULED_ORGANISATIONS);
    return limit === 0 ? [] : this.organisations.list(offset, limit);
  }

  /** Counts a refused webhook delivery. Nothing else is written. */
  async reject(reason: string): Promise<void> {
    this.book.reject(reason);
  }

  /** The live record of a build, or null. */
  async build(buildId: string): Promise<BuildRecord | null> {
    return this.book.build(buildId);
  }

  /** A build, the build that dispatched it and what it dispatched (GET /builds/<id>/graph); null when unknown. */
  async graph(buildId: string, copy: BuildRecord | null = null): Promise<BuildGraph | null> {
    return this.book.graph(buildId, copy);
  }

  /** For a route request: pins checked, the routing job recorded, the build recorded for a commit, the fleet's load. */
  async routeContext(repository: string, sha: string | null, ask: RouteAsk = {}): Promise<Result<RouteContext>> {
    return this.book.routeContext(repository, sha, ask);
  }

  /** The decision for a change a route request describes, with the fleet's load and the repository's learned history. */
  async decide(input: RoutingInput, routing: RoutingSource): Promise<Decision> {
    return this.book.decision(input, routing);
  }

  /** The learned rows a decision for `repository` may read (GET /learned). */
  async learned(repository: string, routing: RoutingSource): Promise<LearnedRows> {
    return this.book.learnedFor(repository, routing);
  }

  async fleetView(repository: string | null): Promise<FleetView> {
    return this.book.fleetView(repository);
  }

  /** Applies GitHub's list of the organization's self-hosted runners at `now` (ms). */
  async reconcileFleet(runners: ListedRunner[], now: number): Promise<void> {
    this.book.reconcile(runners, now);
  }

  /** Asks GitHub about the jobs due a check (the Cron Trigger calls this every minute). */
  async checkJobs(now = Date.now()): Promise<CheckResult[]> {
    const results = await this.runChecks(now);
    await this.armAlarm();
    return results;
  }

  async exposition(now = Date.now()): Promise<string> {
    return this.book.exposition(now);
  }

  /** The cost report for [start, end), with the routing accuracy of its days. */
  async costsFor(start: string, end: string): Promise<CostView> {
    return this.book.costsFor(start, end);
  }

  /** A page of build summaries, newest first (GET /builds). */
  async listBuilds(query: BuildQuery): Promise<BuildListView> {
    return this.book.listBuilds(query);
  }

  /** Queue waits per class and hour for the last `hours`, and the jobs waiting past their target (GET /queue). */
  async queueView(hours: number, routing?: RoutingSource): Promise<QueueView> {
    return this.book.queueView(hours, routing);
  }

  /**
   * The active GitHub App installation of `owner` this Ledger keeps, or null: for work a Worker
   * isolate does that no delivery to it carried (the Cron Trigger's runner lists).
   */
  async installationOf(owner: string): Promise<number | null> {
    return this.book.installations.activeFor(owner.toLowerCase());
  }

  /** The GitHub App installations this Ledger knows, with the repositories each serves (GET /installations). */
  async installations(status: InstallationStatus | null, limit: number): Promise<InstallationView[]> {
    return this.book.installations.list(status, limit);
  }

  /** The latest alerts of the outbox, newest first (GET /alerts). */
  async alerts(status: OutboxStatus | null, limit: number): Promise<AlertView[]> {
    return this.book.alerts(status, limit);
  }

  /** Keeps a checked simulation as the last one published (PUT /simulation). */
  async publishSimulation(document: SimulationDocument): Promise<PublishedSimulation> {
    return this.book.publishSimulation(document);
  }

  /** The last simulation published, or null (GET /simulation). */
  async simulation(): Promise<PublishedSimulation | null> {
    return this.book.simulation();
  }

  /** Expected job starts per class of `routing`'s configuration for the coming `hours`. */
  async forecast(hours: number, routing?: RoutingSource): Promise<Forecast> {
    return this.book.forecast(hours, routing);
  }

  /** Maintenance, then everything owed to the outside: wake-ups, alerts, rescues, dispatches and commit statuses, check runs, KV copies, job checks. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    const more = this.book.maintain(now);
    const settings = this.settings();
    if (settings !== null) this.checkWarmSecrets(settings);
    await sendDueWakeUps(this.book.warm, this.book.metrics, (name) => this.warmSecret(name), now);
    await sendDueAlerts(this.book.outbox, this.book.metrics, settings?.discordWebhookUrl ?? null, now);
    await this.book.rescueDesk.run();
    await this.book.dispatchDesk.run();
    await this.book.checkRunDesk.run();
    await this.writeOwedCopies(now);
    await this.runChecks(now);
    const checks = settings?.github != null;
    const due = this.book.nextDue(Date.now(), checks);
    const floor = more
      ? Date.now() + 1_000
      : Date.now() + (due !== null && checks ? CHECK_EVERY_MS : MAINTAIN_EVERY_MS);
    this.wanted = Math.min(this.wanted, due ?? floor, floor);
    await this.armAlarm();
  }

  /** Sets the alarm when something asked for it sooner than it is set; makes sure one is set. */
  private async armAlarm(): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null) this.wanted = Math.min(this.wanted, Date.now() + MAINTAIN_EVERY_MS);
    const wanted = this.wanted;
    this.wanted = Number.POSITIVE_INFINITY;
    if (!Number.isFinite(wanted) || (this.alarmAt !== null && wanted >= this.alarmAt)) return;
    const at = Math.max(wanted, Date.now());
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }

  /** KV copies owed because a build changed twice within a second. */
  private async writeOwedCopies(now: number): Promise<void> {
    for (const build of this.book.takeKvDue(now, KV_BATCH)) {
      try {
        await this.env.CI_STATE.put(`${BUILD_KEY_PREFIX}${build.build_id}`, JSON.stringify(build), {
          expirationTtl: BUILD_TTL_SECONDS,
        });
      } catch (error) {
        log("error", "kv write failed", { build_id: build.build_id, error: String(error) });
      }
    }
  }

  /**
   * Jobs held queued or busy longer than usual, checked against GitHub (at most
   * {@link CHECK_BATCH}, never below {@link CHECK_RESERVE} calls left): a lost event is applied
   * as if it had arrived. Without a GitHub token nothing is checked, and such jobs are let go
   * at their maximum age.
   */
  private async runChecks(now: number): Promise<CheckResult[]> {
    const github = this.settings()?.github ?? null;
    if (github === null || this.checking) return [];
    this.checking = true;
    const results: CheckResult[] = [];
    try {
      const clients = new GitHubClients(github);
      for (const job of this.book.dueChecks(now, CHECK_BATCH)) {
        const client = job.repository === "" ? null : clients.for(job.repository);
        const remaining = client?.rateLimitRemaining ?? this.book.metrics.gauge("rateLimit");
        if (remaining !== null && remaining < CHECK_RESERVE) break;
        const lookup =
          client === null
            ? fail(
                "upstream",
                job.repository === ""
                  ? "the job's repository is not known"
                  : "no GitHub credential for the job's owner",
              )
            : await client.job(job.repository, job.jobId);
        const result = this.book.applyCheck(job, lookup, Date.now());
        results.push(result);
        if (result === "failed") {
          log("warn", "job check failed", { job_id: job.jobId, why: lookup.ok ? result : lookup.error.message });
          break;
        }
      }
      const last = clients.last?.rateLimitRemaining ?? null;
      if (last !== null) this.book.metrics.set("rateLimit", {}, last);
    } finally {
      this.checking = false;
    }
    return results;
  }

  /** A warm hook's secret by the name the configuration gives, or null when it is not bound (or empty). */
  private warmSecret(name: string): string | null {
    // Only a warm secret's name is read: never another binding (the API token, the webhook secret).
    const value: unknown = WARM_SECRET_NAME.test(name) ? this.env[name as keyof WarmSecrets] : undefined;
    return typeof value === "string" && value.length > 0 ? value : null;
  }

  /**
   * A warm hook whose secret is not bound is a misconfiguration: logged (the secrets' names, never
   * a value) once for each set of missing names; its wake-ups fail unsent.
   */
  private checkWarmSecrets(settings: Settings): void {
    const missing = warmSecretProblems(allPolicies(settings.config), (name) => this.warmSecret(name) !== null);
    const key = missing.map((m) => m.problem).join("\n");
    if (key !== this.saidMissingSecrets && missing.length > 0) {
      log("error", "misconfigured: warm hooks without their secret", {
        settings: [...new Set(missing.map((m) => m.secret))],
        problems: missing.map((m) => m.problem),
      });
    }
    this.saidMissingSecrets = key;
  }

  /** The settings, or null while they are wrong: said once in the log, and the work waits. */
  private settings(): Settings | null {
    try {
      return loadSettings(this.env);
    } catch (error) {
      if (!(error instanceof SettingsError)) throw error;
      if (!this.saidMisconfigured) {
        this.saidMisconfigured = true;
        log("error", "the Ledger's settings are wrong; alerts, rescues and job checks wait", {
          problems: error.problems,
        });
      }
      return null;
    }
  }
}

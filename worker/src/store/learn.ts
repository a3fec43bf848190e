import {
  createStats,
  DEFAULT_LEARN_LIMITS,
  type Estimate,
  exportStats,
  type JobObservation,
  type LearnedStats,
  type LearnKey,
  type LearnLimits,
  observe,
  observeBuild,
  REQUIREMENTS,
  type Requirement,
  type Roster,
  type StatsDump,
} from "../core/index.ts";
import { first, type Sql } from "./sql.ts";

/**
 * The learned router's history (core/learn-stats.ts) in the Ledger's tables: `learn_stats` (one
 * fixed-size estimate per key: a job, workflow, repository or organisation on a runner class,
 * or a class) and `learn_rosters` (which jobs a repository's builds of a kind run), each row the
 * learner's own JSON. Nothing reads a whole table: the learner works on a view whose maps read
 * each key it asks for by primary key, once, and a delivery writes back only the rows it
 * changed, so what a delivery costs does not depend on how much has been learned.
 *
 * Bounds: at most `maxEntries` (4,096) and `maxRosters` (1,024) rows. Each write stamps its row
 * with the table's next sequence number (`touched`, indexed); a write that adds a row past the
 * bound deletes the least recently touched, in the same transaction, as the learner's own store
 * drops its least recently updated key. The row counts are kept in `meta`
 * (`learn_stats_rows`, `learn_rosters_rows`), so no delivery counts a table.
 */
export class LearnStore {
  private readonly stats: Table<Estimate>;
  private readonly rosters: Table<Roster>;
  private readonly limits: LearnLimits;

  constructor(sql: Sql, limits: Partial<LearnLimits> = {}) {
    this.limits = { ...DEFAULT_LEARN_LIMITS, ...limits };
    this.stats = new Table<Estimate>(sql, "learn_stats", this.limits.maxEntries);
    this.rosters = new Table<Roster>(sql, "learn_rosters", this.limits.maxRosters);
  }

  /**
   * The learner's store as the tables hold it, for one decision or one delivery: each key read
   * when first asked for. Its own maps never drop a key (the tables' bounds apply when written).
   */
  view(): LearnView {
    return new LearnView(this.stats, this.rosters, this.limits.rosterJobs);
  }

  /** One finished job: its five rows (job, workflow, repository, organisation, class) read and written by key. */
  observeJob(observation: JobObservation): void {
    const view = this.view();
    if (observe(view.stats, observation.key, observation.runnerClass, observation.sample)) this.save(view);
  }

  /** One finished build's jobs: its repository's roster and the organisation's, read and written by key. */
  observeBuild(
    scope: { repository: string; requirement: Requirement },
    jobs: readonly { workflow: string; job: string }[],
  ): void {
    const view = this.view();
    observeBuild(view.stats, scope, jobs);
    this.save(view);
  }

  /**
   * Every row a decision for `repository` may read, for each requirement, on any of `classes`:
   * its rosters and the organisation's, and the rows of each job they name (and of a job not
   * named, which backs off to the repository and the organisation). Read by key; at most
   * requirements × (roster jobs + 1) × classes × 5 rows.
   */
  dumpFor(repository: string, classes: readonly string[]): StatsDump {
    const view = this.view();
    for (const requirement of REQUIREMENTS) {
      const scope = { repository, requirement };
      // The repository's roster names its jobs; the organisation's says how many a build runs.
      const [own] = rosterKeys(scope).map((key) => view.stats.rosters.get(key));
      const jobs = [{ workflow: "", job: "" }, ...(own?.jobs ?? [])];
      for (const { workflow, job } of jobs) {
        for (const runnerClass of classes) {
          for (const key of entryKeys({ ...scope, workflow, job }, runnerClass)) view.stats.entries.get(key);
        }
      }
    }
    return exportStats(view.stats);
  }

  /** Writes back what the learner changed in `view`. */
  private save(view: LearnView): void {
    this.stats.write(view.entries);
    this.rosters.write(view.rosters);
  }
}

/** The learner's store over the two tables: what the learner reads comes from them, by key. */
export class LearnView {
  readonly stats: LearnedStats;
  readonly entries: RowMap<Estimate>;
  readonly rosters: RowMap<Roster>;

  constructor(entryTable: Table<Estimate>, rosterTable: Table<Roster>, rosterJobs: number) {
    this.entries = new RowMap((key) => entryTable.read(key));
    this.rosters = new RowMap((key) => rosterTable.read(key));
    const unbounded = Number.POSITIVE_INFINITY;
    this.stats = {
      limits: { maxEntries: unbounded, maxRosters: unbounded, rosterJobs },
      entries: this.entries,
      rosters: this.rosters,
    };
  }
}

/**
 * A map that reads a key from its table the first time it is asked for it (a key not there is
 * remembered as absent, and read no more), and remembers which keys were set, for writing back.
 */
class RowMap<T> extends Map<string, T> {
  private readonly read: (key: string) => T | undefined;
  private readonly looked = new Set<string>();
  /** Keys the table did not hold when first asked for. */
  readonly absent = new Set<string>();
  /** Keys set since the map was made, in the order first set. */
  readonly written = new Set<string>();

  constructor(read: (key: string) => T | undefined) {
    super();
    this.read = read;
  }

  override get(key: string): T | undefined {
    if (!this.looked.has(key)) {
      this.looked.add(key);
      const value = this.read(key);
      if (value === undefined) this.absent.add(key);
      else super.set(key, value);
    }
    return super.get(key);
  }

  override has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  override set(key: string, value: T): this {
    // Read first, so that a new row is known to be new.
    this.get(key);
    this.written.add(key);
    return super.set(key, value);
  }
}

/** One of the learner's tables: rows by key, stamped in update order, at most `bound` of them. */
class Table<T> {
  private readonly sql: Sql;
  private readonly name: "learn_stats" | "learn_rosters";
  private readonly bound: number;

  constructor(sql: Sql, name: "learn_stats" | "learn_rosters", bound: number) {
    this.sql = sql;
    this.name = name;
    this.bound = Math.max(1, bound);
  }

  read(key: string): T | undefined {
    const row = first<{ row: string }>(this.sql, `SELECT row FROM ${this.name} WHERE key = ?`, key);
    return row === undefined ? undefined : (JSON.parse(row.row) as T);
  }

  /** Writes the rows `map` set, each stamped with the next sequence number; past the bound, the least recently touched go. */
  write(map: RowMap<T>): void {
    const rows = [...map.written].flatMap((key) => {
      const value = map.get(key);
      return value === undefined ? [] : [{ key, value, added: map.absent.has(key) }];
    });
    if (rows.length === 0) return;
    const added = rows.filter((r) => r.added).length;
    const before = added === 0 ? 0 : this.count();
    let touched = first<{ top: number | null }>(this.sql, `SELECT MAX(touched) AS top FROM ${this.name}`)?.top ?? 0;
    for (const { key, value } of rows) {
      this.sql.exec(
        `INSERT INTO ${this.name} (key, row, touched) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET row = excluded.row, touched = excluded.touched`,
        key,
        JSON.stringify(value),
        ++touched,
      );
    }
    if (added === 0) return;
    let count = before + added;
    for (; count > this.bound; count--) {
      this.sql.exec(`DELETE FROM ${this.name} WHERE touched = (SELECT MIN(touched) FROM ${this.name})`);
    }
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      this.countKey(),
      String(count),
    );
  }

  /** The table's rows: kept in `meta`, counted when it is not there (a table just created). */
  private count(): number {
    const kept = first<{ value: string }>(this.sql, "SELECT value FROM meta WHERE key = ?", this.countKey());
    if (kept !== undefined) return Number(kept.value);
    return first<{ n: number }>(this.sql, `SELECT COUNT(*) AS n FROM ${this.name}`)?.n ?? 0;
  }

  private countKey(): string {
    return `${this.name}_rows`;
  }
}

/** A sample that records nothing but where it would go. */
const PROBE = { minutes: 0, queueSeconds: 0, failed: false };

/**
 * The five keys `observe` updates for a job on a class (and the learner reads for it): found by
 * observing once into an empty store, so that the key format stays the learner's alone.
 */
function entryKeys(key: LearnKey, runnerClass: string): string[] {
  const probe = createStats();
  observe(probe, key, runnerClass, PROBE);
  return [...probe.entries.keys()];
}

/** The two roster keys of a repository's builds of a kind, its own first, then the organisation's: found as {@link entryKeys} are. */
function rosterKeys(scope: { repository: string; requirement: Requirement }): string[] {
  const probe = createStats();
  observeBuild(probe, scope, []);
  return [...probe.rosters.keys()];
}

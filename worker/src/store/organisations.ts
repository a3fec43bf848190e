import {
  directoryFullProblem,
  fail,
  isOwner,
  ledgerForNew,
  MAX_ORGANISATIONS,
  type OrganisationEntry,
  ok,
  organisationOf,
  type Result,
} from "../core/index.ts";
import { first, type Sql } from "./sql.ts";

/**
 * The directory: which Ledger instance serves each organisation (`organisations`). Only the
 * directory's own instance writes here; every other Ledger's table stays empty. A row is never
 * changed or deleted once written, so whatever remembered an assignment can keep it for good.
 * At most {@link MAX_ORGANISATIONS} rows (more only when an upgraded Ledger already held more
 * owners: see {@link organisationsFromRepositories}).
 */
export class OrganisationStore {
  private readonly sql: Sql;
  /** The name of the instance this store is in, and the one a first organisation is given. */
  private readonly directory: string;

  constructor(sql: Sql, directory: string) {
    this.sql = sql;
    this.directory = directory;
  }

  /** The Ledger serving `organisation` (lower-cased), or null when it is not listed. */
  ledgerOf(organisation: string): string | null {
    return (
      first<{ ledger: string }>(this.sql, "SELECT ledger FROM organisations WHERE organisation = ?", organisation)
        ?.ledger ?? null
    );
  }

  /**
   * The Ledger serving `organisation` (lower-cased), listed at `now` when it was not: with the
   * directory's own instance while none has it, else one of its own (core/organisations.ts
   * `ledgerForNew`). Refused, writing nothing, once the directory is full. Run it in a
   * transaction, so two first deliveries of organisations at once are given one each.
   */
  assign(organisation: string, now: number): Result<string> {
    const known = this.ledgerOf(organisation);
    if (known !== null) return ok(known);
    if (this.count() >= MAX_ORGANISATIONS) return fail("upstream", directoryFullProblem(organisation));
    const taken =
      first<{ n: number }>(this.sql, "SELECT 1 AS n FROM organisations WHERE ledger = ? LIMIT 1", this.directory) !==
      undefined;
    const ledger = ledgerForNew(organisation, this.directory, taken);
    this.sql.exec(
      "INSERT INTO organisations (organisation, ledger, first_seen) VALUES (?, ?, ?)",
      organisation,
      ledger,
      now,
    );
    return ok(ledger);
  }

  count(): number {
    return first<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM organisations")?.n ?? 0;
  }

  /** Up to `limit` organisations from `offset`, by name. */
  list(offset = 0, limit = MAX_ORGANISATIONS): OrganisationEntry[] {
    return this.sql
      .exec<{ organisation: string; ledger: string; first_seen: number }>(
        "SELECT organisation, ledger, first_seen FROM organisations ORDER BY organisation LIMIT ? OFFSET ?",
        limit,
        offset,
      )
      .toArray()
      .map((row) => ({
        organisation: row.organisation,
        ledger: row.ledger,
        first_seen: new Date(row.first_seen).toISOString(),
      }));
  }
}

/** The columns of the live tables that name a repository (`owner/name`, or `owner/*` for a pin). */
const REPOSITORY_COLUMNS = [
  ["builds", "repository"],
  ["build_list", "repository"],
  ["commits", "repository"],
  ["fleet_jobs", "repository"],
  ["cost_days", "repository"],
  ["rescues", "repository"],
  ["routing_jobs", "repository"],
  ["repository_pins", "key"],
  ["dispatches", "upstream_repository"],
  ["dispatches", "repository"],
  ["commit_statuses", "repository"],
] as const;

/** The learned history's keys: parts joined by U+001F, the repository third for the kinds that name one. */
const LEARN_TABLES = ["learn_stats", "learn_rosters"] as const;
const LEARN_REPOSITORY_KINDS = new Set(["j", "w", "r", "b"]);

/**
 * Upgrading a Ledger from before the directory (version 8): every owner its live tables name
 * is listed as served by `ledger` (the instance itself), first seen at `now`, so that the
 * state they share stays where it is and is served as theirs. Returns how many were listed.
 * Only owners already in the database are written: the bound holds new organisations, not
 * ones it already held.
 */
export function organisationsFromRepositories(sql: Sql, ledger: string, now: number): number {
  const owners = new Set<string>();
  const add = (owner: string) => {
    if (isOwner(owner)) owners.add(owner.toLowerCase());
  };
  for (const [table, column] of REPOSITORY_COLUMNS) {
    for (const row of sql.exec<{ owner: string }>(
      `SELECT DISTINCT lower(substr(${column}, 1, instr(${column}, '/') - 1)) AS owner FROM ${table} WHERE instr(${column}, '/') > 1`,
    )) {
      add(row.owner);
    }
  }
  for (const table of LEARN_TABLES) {
    for (const row of sql.exec<{ key: string }>(`SELECT key FROM ${table}`)) {
      const parts = row.key.split("\u001f");
      const repository = parts[2] ?? "";
      if (LEARN_REPOSITORY_KINDS.has(parts[0] ?? "") && repository.includes("/")) {
        add(organisationOf(repository));
      }
    }
  }
  for (const owner of [...owners].sort()) {
    sql.exec(
      "INSERT OR IGNORE INTO organisations (organisation, ledger, first_seen) VALUES (?, ?, ?)",
      owner,
      ledger,
      now,
    );
  }
  return owners.size;
}

import {
  type BuildCursor,
  type BuildQuery,
  type BuildRecord,
  type BuildSummary,
  buildSummary,
  encodeCursor,
  type Runner,
} from "../core/index.ts";
import { first, type Sql, type SqlValue } from "./sql.ts";

/** Build records kept in memory, the most recently changed (bounded: a few megabytes at most). */
const RECENT_BUILDS = 256;

const commitKey = (repository: string, sha: string) => `${repository.toLowerCase()}\n${sha.toLowerCase()}`;

/** KV takes one write per key per second: a build's copy is written at most this often. */
export const KV_WRITE_INTERVAL_MS = 1_000;

/** GET /builds lists the builds of the last 31 days: their summaries are kept this long. */
export const BUILD_LIST_RETENTION_DAYS = 31;

/**
 * Writes a build's summary row: the columns GET /builds filters on, and the summary itself.
 * Its `created_at` is the record's (else `seenAt`), set once, so a build keeps its place in the
 * list however often it changes.
 */
export function putBuildSummary(sql: Sql, summary: BuildSummary, seenAt: number): void {
  const created = Date.parse(summary.created_at);
  sql.exec(
    `INSERT INTO build_list (build_id, repository, runner, requirement, status, conclusion, created_at, summary)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (build_id) DO UPDATE SET runner = excluded.runner, requirement = excluded.requirement,
       status = excluded.status, conclusion = excluded.conclusion, summary = excluded.summary`,
    summary.build_id,
    summary.repository.toLowerCase(),
    summary.decision?.runner ?? null,
    summary.decision?.requirement ?? null,
    summary.status,
    summary.conclusion,
    Number.isFinite(created) ? created : seenAt,
    JSON.stringify(summary),
  );
}

/** A page of GET /builds: the summaries, newest first, and the cursor of the next page (null on the last). */
export interface BuildPage {
  builds: BuildSummary[];
  next_cursor: string | null;
}

/**
 * Live build records (24 hours, like their KV copies) and which build each commit belongs to.
 * Also when each build's KV copy was last written, so that copies are written at most once a
 * second per key: a copy asked for sooner is owed, and written by the Ledger's alarm. Every
 * write of a record writes its summary row too (`build_list`, kept
 * {@link BUILD_LIST_RETENTION_DAYS} days), in the same transaction: one derivation from the
 * record, whatever the table holds.
 */
export class BuildStore {
  private readonly sql: Sql;
  /** The runner pool that prices the summaries (the cost report's). */
  private readonly runners: () => Record<string, Runner>;
  /**
   * The records of the builds changed last, by commit: a build's events come close together,
   * and reading one back is the most part of applying one. Every write goes through this store,
   * so the copies are the rows; the records are never changed in place (applyUpdate copies).
   */
  private readonly recent = new Map<string, BuildRecord>();

  constructor(sql: Sql, runners: () => Record<string, Runner>) {
    this.sql = sql;
    this.runners = runners;
  }

  byId(buildId: string): BuildRecord | null {
    const row = first<{ record: string }>(this.sql, "SELECT record FROM builds WHERE build_id = ?", buildId);
    return row === undefined ? null : (JSON.parse(row.record) as BuildRecord);
  }

  /** The latest build recorded for a commit of a repository (any case), or null. */
  forCommit(repository: string, sha: string): BuildRecord | null {
    const key = commitKey(repository, sha);
    const cached = this.recent.get(key);
    if (cached !== undefined) return cached;
    const row = first<{ record: string }>(
      this.sql,
      "SELECT b.record FROM commits c JOIN builds b ON b.build_id = c.build_id WHERE c.repository = ? AND c.sha = ?",
      repository.toLowerCase(),
      sha.toLowerCase(),
    );
    if (row === undefined) return null;
    const build = JSON.parse(row.record) as BuildRecord;
    this.remember(build);
    return build;
  }

  /** Keeps the latest record of a build's commit, the {@link RECENT_BUILDS} most recent. */
  private remember(build: BuildRecord): void {
    if (build.sha === null) return;
    const key = commitKey(build.repository, build.sha);
    this.recent.delete(key);
    this.recent.set(key, build);
    if (this.recent.size > RECENT_BUILDS) this.recent.delete(this.recent.keys().next().value as string);
  }

  /**
   * Records a new build, the latest of its commit, its KV copy noted as written now (the caller
   * writes it). A build id is never reused (it carries its delivery's id), so an existing row is
   * an error, never overwritten.
   */
  insert(build: BuildRecord, now: number): void {
    this.sql.exec(
      "INSERT INTO builds (build_id, repository, sha, record, created_at, kv_at) VALUES (?, ?, ?, ?, ?, ?)",
      build.build_id,
      build.repository.toLowerCase(),
      build.sha?.toLowerCase() ?? null,
      JSON.stringify(build),
      now,
      now,
    );
    putBuildSummary(this.sql, buildSummary(build, this.runners()), now);
    this.remember(build);
    if (build.sha !== null) {
      this.sql.exec(
        "INSERT INTO commits (repository, sha, build_id) VALUES (?, ?, ?) ON CONFLICT (repository, sha) DO UPDATE SET build_id = excluded.build_id",
        build.repository.toLowerCase(),
        build.sha.toLowerCase(),
        build.build_id,
      );
    }
  }

  update(build: BuildRecord, now: number): void {
    this.sql.exec("UPDATE builds SET record = ? WHERE build_id = ?", JSON.stringify(build), build.build_id);
    putBuildSummary(this.sql, buildSummary(build, this.runners()), now);
    // Its commit may point at a later build: keep the copy only where it is the commit's build.
    if (build.sha !== null && this.recent.get(commitKey(build.repository, build.sha))?.build_id === build.build_id) {
      this.remember(build);
    }
  }

  /** Removes a build that another took the place of (its commit points at the new one). */
  remove(buildId: string): void {
    this.sql.exec("DELETE FROM builds WHERE build_id = ?", buildId);
    this.sql.exec("DELETE FROM build_list WHERE build_id = ?", buildId);
  }

  /**
   * A page of build summaries, newest first (created_at, then build_id, both descending), those
   * after the query's cursor that its filters let through: a keyset read over `build_list`'s
   * indexes, at most `limit` + 1 rows, whatever the table holds.
   */
  list(query: BuildQuery): BuildPage {
    const { filters, limit, after } = query;
    const where: string[] = [];
    const args: SqlValue[] = [];
    const equal = (column: string, value: string | null) => {
      if (value === null) return;
      where.push(`${column} = ?`);
      args.push(value);
    };
    equal("repository", filters.repository);
    equal("runner", filters.runner);
    equal("requirement", filters.requirement);
    equal("status", filters.status);
    equal("conclusion", filters.conclusion);
    if (filters.since !== null) {
      where.push("created_at >= ?");
      args.push(filters.since);
    }
    if (filters.until !== null) {
      where.push("created_at < ?");
      args.push(filters.until);
    }
    if (after !== null) {
      // Written so that the index's range on created_at is used: (created_at, build_id) < the cursor's.
      where.push("created_at <= ? AND (created_at < ? OR build_id < ?)");
      args.push(after.createdAt, after.createdAt, after.buildId);
    }
    const rows = this.sql
      .exec<{ build_id: string; created_at: number; summary: string }>(
        `SELECT build_id, created_at, summary FROM build_list ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`}
         ORDER BY created_at DESC, build_id DESC LIMIT ?`,
        ...args,
        limit + 1,
      )
      .toArray();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const cursor: BuildCursor | null =
      rows.length > limit && last !== undefined ? { createdAt: last.created_at, buildId: last.build_id } : null;
    return {
      builds: page.map((row) => JSON.parse(row.summary) as BuildSummary),
      next_cursor: cursor === null ? null : encodeCursor(cursor, filters),
    };
  }

  /**
   * Whether the build's KV copy may be written now: yes when none was written in the last
   * second (the write is then noted), else the write is owed and the time it is due returned.
   */
  claimKvWrite(buildId: string, now: number): { now: true } | { now: false; due: number } {
    const row = first<{ kv_at: number | null; kv_due: number | null }>(
      this.sql,
      "SELECT kv_at, kv_due FROM builds WHERE build_id = ?",
      buildId,
    );
    const last = row?.kv_at ?? null;
    if (row?.kv_due == null && (last === null || now - last >= KV_WRITE_INTERVAL_MS)) {
      this.sql.exec("UPDATE builds SET kv_at = ? WHERE build_id = ?", now, buildId);
      return { now: true };
    }
    const due = row?.kv_due ?? (last ?? now) + KV_WRITE_INTERVAL_MS;
    this.sql.exec("UPDATE builds SET kv_due = ? WHERE build_id = ?", due, buildId);
    return { now: false, due };
  }

  /** Builds whose owed KV copy is due, oldest first; each is marked written at `now`. */
  takeKvDue(now: number, limit: number): BuildRecord[] {
    const rows = this.sql
      .exec<{ build_id: string; record: string }>(
        "SELECT build_id, record FROM builds WHERE kv_due IS NOT NULL AND kv_due <= ? ORDER BY kv_due LIMIT ?",
        now,
        limit,
      )
      .toArray();
    for (const row of rows) {
      this.sql.exec("UPDATE builds SET kv_due = NULL, kv_at = ? WHERE build_id = ?", now, row.build_id);
    }
    return rows.map((row) => JSON.parse(row.record) as BuildRecord);
  }

  /** When the next owed KV copy is due, or null. */
  nextKvDue(): number | null {
    return first<{ due: number | null }>(this.sql, "SELECT MIN(kv_due) AS due FROM builds")?.due ?? null;
  }

  /** Deletes up to `limit` summaries of builds created before `before`; true when some may remain. */
  pruneList(before: number, limit: number): boolean {
    return (
      this.sql.exec(
        "DELETE FROM build_list WHERE build_id IN (SELECT build_id FROM build_list WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        before,
        limit,
      ).rowsWritten >= limit
    );
  }

  /** Deletes up to `limit` builds created before `before`, with their commits; true when some may remain. */
  prune(before: number, limit: number): boolean {
    const oldest = "SELECT build_id FROM builds WHERE created_at < ? ORDER BY created_at, build_id LIMIT ?";
    this.sql.exec(`DELETE FROM commits WHERE build_id IN (${oldest})`, before, limit);
    const full = this.sql.exec(`DELETE FROM builds WHERE build_id IN (${oldest})`, before, limit).rowsWritten >= limit;
    this.recent.clear();
    return full;
  }
}

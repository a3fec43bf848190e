import {
  INSTALLATION_REPOSITORIES_LISTED,
  type InstallationEvent,
  type InstallationStatus,
  type InstallationView,
  organisationOf,
  type RepositorySelection,
  statusAfter,
  unservedReason,
} from "../core/index.ts";
import { first, type Sql, type SqlValue } from "./sql.ts";

/**
 * An uninstalled installation, and a repository an installation no longer serves, are kept this
 * long after it happened: a late or replayed delivery from before is still recognised (GitHub
 * redelivers for 3 days), then the rows go.
 */
export const INSTALLATION_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** A served repository's row is refreshed by a delivery at most this often (its `updated_at`: when it was last named or seen). */
export const SERVED_REFRESH_MS = 24 * 60 * 60 * 1000;

/**
 * What a delivery told of an installation, for the isolate's memory of which installation
 * answers for an account (github-app.ts): `active` to remember it, else to forget it.
 */
export interface InstallationNote {
  /** The account (repository owner), lower-cased. */
  account: string;
  id: number;
  active: boolean;
}

/** Whether an App delivery's installation still serves its repository; why not when it does not. */
export type ServedCheck =
  | { served: true; note: InstallationNote }
  | { served: false; reason: string; note: InstallationNote | null };

/**
 * What an installation event did: the installation's status after it, and how many repositories
 * it listed as served and as no longer served (for an uninstall: those it served until then).
 */
export interface InstallationApplied {
  status: InstallationStatus;
  served: number;
  removed: number;
}

type Row = {
  id: number;
  account: string;
  status: InstallationStatus;
  repository_selection: string | null;
  updated_at: number;
};

/**
 * The GitHub App's installations (`installations`) and which repositories each serves
 * (`installation_repositories`), as its installation events and its deliveries told the Ledger.
 * Written in the transaction of the delivery that told it, so a delivery changes them at most
 * once; a delivery's check reads two rows by key, and writes only what it did not know.
 */
export class InstallationStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /**
   * Applies an installation event at `now`. An uninstalled installation's repositories are all
   * no longer served, whatever a late event lists; a removal by another installation than the
   * one serving a repository leaves the repository with the one serving it.
   */
  apply(event: InstallationEvent, now: number): InstallationApplied {
    const current = first<{ status: InstallationStatus }>(
      this.sql,
      "SELECT status FROM installations WHERE id = ?",
      event.id,
    );
    const status = statusAfter(event.action, current?.status ?? null);
    this.sql.exec(
      `INSERT INTO installations (id, account, status, repository_selection, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET account = excluded.account, status = excluded.status,
         repository_selection = COALESCE(excluded.repository_selection, installations.repository_selection),
         updated_at = excluded.updated_at`,
      event.id,
      event.account.toLowerCase(),
      status,
      event.selection,
      now,
    );
    if (status === "deleted") {
      const removed = this.servedCount(event.id);
      this.sql.exec(
        "UPDATE installation_repositories SET status = 'removed', updated_at = ? WHERE installation_id = ? AND status = 'served'",
        now,
        event.id,
      );
      return { status, served: 0, removed };
    }
    let served = 0;
    for (const repository of new Set(event.served.map((name) => name.toLowerCase()))) {
      this.serve(repository, event.id, now);
      served++;
    }
    let removed = 0;
    for (const repository of new Set(event.removed.map((name) => name.toLowerCase()))) {
      removed++;
      this.sql.exec(
        `INSERT INTO installation_repositories (repository, installation_id, status, updated_at) VALUES (?, ?, 'removed', ?)
         ON CONFLICT (repository) DO UPDATE SET installation_id = excluded.installation_id, status = 'removed',
           updated_at = excluded.updated_at
         WHERE installation_repositories.installation_id = excluded.installation_id OR installation_repositories.status = 'removed'`,
        repository,
        event.id,
        now,
      );
    }
    return { status, served, removed };
  }

  /**
   * Whether `installation` still serves `repository`, for a delivery from it at `now`: not when
   * the installation is suspended or uninstalled, nor when the repository was removed from it.
   * A repository no installation event named is served (GitHub sends an installation's
   * deliveries only for repositories it can see) and recorded as served by it, as is an
   * installation never announced; one removed from another installation is served by this one
   * now. One read of both rows by key; a write only for what changed.
   */
  check(repository: string, installation: number, now: number): ServedCheck {
    const key = repository.toLowerCase();
    const account = organisationOf(repository);
    const row = first<{
      installation: string | null;
      repository: string | null;
      serving: number | null;
      seen: number | null;
    }>(
      this.sql,
      `SELECT (SELECT status FROM installations WHERE id = ?) AS installation,
              r.status AS repository, r.installation_id AS serving, r.updated_at AS seen
       FROM (SELECT 1) LEFT JOIN installation_repositories r ON r.repository = ?`,
      installation,
      key,
    );
    const status = (row?.installation ?? null) as InstallationStatus | null;
    if (status === "suspended" || status === "deleted") {
      return {
        served: false,
        reason: unservedReason(installation, repository, status),
        note: { account, id: installation, active: false },
      };
    }
    const serving = row?.serving ?? null;
    if (row?.repository === "removed" && serving === installation) {
      return { served: false, reason: unservedReason(installation, repository, "removed"), note: null };
    }
    if (status === null) {
      this.sql.exec(
        "INSERT INTO installations (id, account, status, repository_selection, updated_at) VALUES (?, ?, 'active', NULL, ?) ON CONFLICT (id) DO NOTHING",
        installation,
        account,
        now,
      );
    }
    // A served row is refreshed at most once a day, so that one no delivery has named for the
    // retention window (a repository renamed or deleted) is pruned rather than kept for ever.
    const stale = (row?.seen ?? 0) < now - SERVED_REFRESH_MS;
    if (serving !== installation || row?.repository !== "served" || stale) this.serve(key, installation, now);
    return { served: true, note: { account, id: installation, active: true } };
  }

  /** The active installations, the `limit` most recently changed, the most recent last. */
  /** The active installation of `account` (lower-cased) most recently changed, or null. */
  activeFor(account: string): number | null {
    const row = this.sql
      .exec<{ id: number }>(
        "SELECT id FROM installations WHERE account = ? AND status = 'active' ORDER BY updated_at DESC, id DESC LIMIT 1",
        account,
      )
      .toArray()[0];
    return row?.id ?? null;
  }

  active(limit: number): { account: string; id: number }[] {
    return this.sql
      .exec<{ account: string; id: number }>(
        "SELECT account, id FROM installations WHERE status = 'active' ORDER BY updated_at DESC, id DESC LIMIT ?",
        limit,
      )
      .toArray()
      .reverse();
  }

  /**
   * For GET /installations: the installations (all, or those of `status`), by account then id, at
   * most `limit`, each with how many repositories it serves and the first of them, sorted.
   */
  list(status: InstallationStatus | null, limit: number): InstallationView[] {
    const rows =
      status === null
        ? this.sql.exec<Row & Record<string, SqlValue>>(
            "SELECT id, account, status, repository_selection, updated_at FROM installations ORDER BY account, id LIMIT ?",
            limit,
          )
        : this.sql.exec<Row & Record<string, SqlValue>>(
            "SELECT id, account, status, repository_selection, updated_at FROM installations WHERE status = ? ORDER BY account, id LIMIT ?",
            status,
            limit,
          );
    return rows.toArray().map((row) => {
      const count = this.servedCount(row.id);
      const served = this.sql
        .exec<{ repository: string }>(
          "SELECT repository FROM installation_repositories WHERE installation_id = ? AND status = 'served' ORDER BY repository LIMIT ?",
          row.id,
          INSTALLATION_REPOSITORIES_LISTED,
        )
        .toArray()
        .map((r) => r.repository);
      return {
        id: row.id,
        account: row.account,
        status: row.status,
        repository_selection: row.repository_selection as RepositorySelection | null,
        updated_at: new Date(row.updated_at).toISOString(),
        served_count: count,
        served,
      };
    });
  }

  /**
   * Deletes up to `limit` repositories, no longer served or served but neither named by an event
   * nor seen in a delivery, and up to `limit` uninstalled installations, that changed before
   * `before`; true when a batch was full. A served repository pruned for quiet is recorded
   * served again by its next delivery, as any repository no event named.
   */
  prune(before: number, limit: number): boolean {
    const repositories = this.sql.exec(
      "DELETE FROM installation_repositories WHERE repository IN (SELECT repository FROM installation_repositories WHERE status IN ('removed', 'served') AND updated_at < ? LIMIT ?)",
      before,
      limit,
    ).rowsWritten;
    const installations = this.sql.exec(
      "DELETE FROM installations WHERE id IN (SELECT id FROM installations WHERE status = 'deleted' AND updated_at < ? LIMIT ?)",
      before,
      limit,
    ).rowsWritten;
    return repositories >= limit || installations >= limit;
  }

  /** How many repositories `installation` serves (counted on the index, never the table). */
  private servedCount(installation: number): number {
    return this.sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM installation_repositories WHERE installation_id = ? AND status = 'served'",
        installation,
      )
      .one().n;
  }

  /** Records `repository` (lower-cased) as served by `installation`. */
  private serve(repository: string, installation: number, now: number): void {
    this.sql.exec(
      `INSERT INTO installation_repositories (repository, installation_id, status, updated_at) VALUES (?, ?, 'served', ?)
       ON CONFLICT (repository) DO UPDATE SET installation_id = excluded.installation_id, status = 'served',
         updated_at = excluded.updated_at`,
      repository,
      installation,
      now,
    );
  }
}

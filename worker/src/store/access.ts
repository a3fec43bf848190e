import type { PinnedId } from "../core/index.ts";
import { first, type Sql } from "./sql.ts";

/** A routing job is remembered as long as a self-hosted job may run, and a day more. */
export const ROUTING_JOB_RETENTION_MS = 6 * 24 * 60 * 60 * 1000;
/** A repository (or owner) id pin outlives a year without a route request. */
export const PIN_RETENTION_MS = 400 * 24 * 60 * 60 * 1000;

/**
 * What route requests leave behind: the repository ids OIDC tokens were first seen with, per
 * served name (`repository_pins`), and the jobs that asked for a route (`routing_jobs`), which
 * are the router's own overhead rather than builds.
 */
export class AccessStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** The first pin that holds another id than `pins` says, or undefined when every one agrees (or is new). */
  conflict(pins: readonly PinnedId[]): PinnedId | undefined {
    for (const pin of pins) {
      const row = first<{ id: number }>(this.sql, "SELECT id FROM repository_pins WHERE key = ?", pin.key);
      if (row !== undefined && row.id !== pin.id) return pin;
    }
    return undefined;
  }

  /** Pins each name to its id (or notes it seen again at `now`). */
  pin(pins: readonly PinnedId[], now: number): void {
    for (const pin of pins) {
      this.sql.exec(
        "INSERT INTO repository_pins (key, id, seen_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at",
        pin.key,
        pin.id,
        now,
      );
    }
  }

  /** Records `jobId` as a routing job of `repository`; false when it already was one. */
  addRoutingJob(jobId: number, repository: string, now: number): boolean {
    return (
      this.sql.exec(
        "INSERT OR IGNORE INTO routing_jobs (job_id, repository, at) VALUES (?, ?, ?)",
        jobId,
        repository,
        now,
      ).rowsWritten > 0
    );
  }

  isRoutingJob(jobId: number): boolean {
    return first(this.sql, "SELECT 1 AS found FROM routing_jobs WHERE job_id = ?", jobId) !== undefined;
  }

  /** Deletes routing jobs recorded before `routingBefore` and pins unseen since `pinsBefore`, `limit` each; true when a batch was full. */
  prune(routingBefore: number, pinsBefore: number, limit: number): boolean {
    const jobs = this.sql.exec(
      "DELETE FROM routing_jobs WHERE job_id IN (SELECT job_id FROM routing_jobs WHERE at < ? LIMIT ?)",
      routingBefore,
      limit,
    ).rowsWritten;
    const pins = this.sql.exec(
      "DELETE FROM repository_pins WHERE key IN (SELECT key FROM repository_pins WHERE seen_at < ? LIMIT ?)",
      pinsBefore,
      limit,
    ).rowsWritten;
    return jobs >= limit || pins >= limit;
  }
}

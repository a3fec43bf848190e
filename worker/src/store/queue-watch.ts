import type { Sql } from "./sql.ts";
/**
 * Jobs waiting in GitHub's queue, each with the moment it counts as queued too long. The
 * Ledger's alarm takes the due ones once and raises `queued_too_long` for those still waiting.
 */
export class QueueWatch {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Watches a queued job; returns when its watch falls due. */
  add(job: { jobId: number; buildId: string; queuedAt: string | null }, limitSeconds: number, now: number): number {
    const parsed = job.queuedAt === null ? Number.NaN : Date.parse(job.queuedAt);
    const queuedAt = Number.isFinite(parsed) ? parsed : now;
    const due = queuedAt + limitSeconds * 1000;
    this.sql.exec(
      "INSERT OR IGNORE INTO queue_watch (job_id, build_id, queued_at, due_at) VALUES (?, ?, ?, ?)",
      job.jobId,
      job.buildId,
      queuedAt,
      due,
    );
    return due;
  }

  remove(jobId: number): void {
    this.sql.exec("DELETE FROM queue_watch WHERE job_id = ?", jobId);
  }

  /** Takes (and deletes) the watches due at `now`. */
  due(now: number): { job_id: number; build_id: string; waitedSeconds: number }[] {
    const rows = this.sql
      .exec<{ job_id: number; build_id: string; queued_at: number }>(
        "SELECT job_id, build_id, queued_at FROM queue_watch WHERE due_at <= ?",
        now,
      )
      .toArray();
    this.sql.exec("DELETE FROM queue_watch WHERE due_at <= ?", now);
    return rows.map((r) => ({
      job_id: r.job_id,
      build_id: r.build_id,
      waitedSeconds: Math.round((now - r.queued_at) / 1000),
    }));
  }

  nextDue(): number | null {
    return this.sql.exec<{ next: number | null }>("SELECT MIN(due_at) AS next FROM queue_watch").one().next;
  }
}

/**
 * Jobs waiting in GitHub's queue, each with the moment it counts as queued too long. The
 * Ledger's alarm takes the due ones once and raises `queued_too_long` for those still waiting.
 */
export class QueueWatch {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    sql.exec(`
      CREATE TABLE IF NOT EXISTS queue_watch (
        job_id INTEGER PRIMARY KEY,
        build_id TEXT NOT NULL,
        queued_at INTEGER NOT NULL,
        due_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS queue_watch_due ON queue_watch (due_at);
    `);
  }

  add(job: { jobId: number; buildId: string; queuedAt: string | null }, limitSeconds: number, now: number): void {
    const parsed = job.queuedAt === null ? Number.NaN : Date.parse(job.queuedAt);
    const queuedAt = Number.isFinite(parsed) ? parsed : now;
    this.sql.exec(
      "INSERT OR IGNORE INTO queue_watch (job_id, build_id, queued_at, due_at) VALUES (?, ?, ?, ?)",
      job.jobId,
      job.buildId,
      queuedAt,
      queuedAt + limitSeconds * 1000,
    );
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

import { first, type Sql } from "./sql.ts";

/** The first answer to a delivery, returned again (marked duplicate) to a repeat. */
export interface FirstAnswer {
  status: number;
  body: string;
}

/**
 * Every accepted delivery for {@link DELIVERY_RETENTION_MS}, by its `X-GitHub-Delivery` id and by
 * the content key of its event, so the same event is applied once whichever way it comes again.
 */
export class DeliveryStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** The first answer to this delivery id, or to another delivery of the same event (one look-up, both indexes). */
  seen(id: string, contentKey: string | null): FirstAnswer | undefined {
    return contentKey === null
      ? first<FirstAnswer & Record<string, number | string>>(
          this.sql,
          "SELECT status, body FROM deliveries WHERE id = ?",
          id,
        )
      : first<FirstAnswer & Record<string, number | string>>(
          this.sql,
          "SELECT status, body FROM deliveries WHERE id = ? OR content_key = ? LIMIT 1",
          id,
          contentKey,
        );
  }

  record(id: string, contentKey: string | null, event: string, answer: FirstAnswer, now: number): void {
    this.sql.exec(
      "INSERT INTO deliveries (id, content_key, event, status, body, received_at) VALUES (?, ?, ?, ?, ?, ?)",
      id,
      contentKey,
      event,
      answer.status,
      answer.body,
      now,
    );
  }

  /** Deletes up to `limit` deliveries received before `before`; true when some may remain. */
  prune(before: number, limit: number): boolean {
    return (
      this.sql.exec(
        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE received_at < ? ORDER BY received_at LIMIT ?)",
        before,
        limit,
      ).rowsWritten >= limit
    );
  }
}

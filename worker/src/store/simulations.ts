import type { SimulationDocument } from "../core/index.ts";
import { first, type Sql } from "./sql.ts";

/** The one simulation kept: the last one published. */
const LAST = "last";

/** A published simulation, as GET /simulation answers it. */
export interface PublishedSimulation {
  published_at: string;
  simulation: SimulationDocument;
}

/**
 * The last simulation an operator published (PUT /simulation): one row, replaced whole by the
 * next, at most 256 KiB of JSON (core/dashboard.ts `SIMULATION_LIMITS`, checked before it is
 * written).
 */
export class SimulationStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** Keeps `document` as the last simulation, published at `now`. */
  publish(document: SimulationDocument, now: number): void {
    this.sql.exec(
      `INSERT INTO simulations (key, published_at, document) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET published_at = excluded.published_at, document = excluded.document`,
      LAST,
      now,
      JSON.stringify(document),
    );
  }

  /** The last simulation published, or null. */
  last(): PublishedSimulation | null {
    const row = first<{ published_at: number; document: string }>(
      this.sql,
      "SELECT published_at, document FROM simulations WHERE key = ?",
      LAST,
    );
    if (row === undefined) return null;
    return {
      published_at: new Date(row.published_at).toISOString(),
      simulation: JSON.parse(row.document) as SimulationDocument,
    };
  }
}

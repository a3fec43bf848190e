import { emptyFleet, type FleetState } from "../core/index.ts";

/**
 * The fleet's live state (core/fleet.ts `FleetState`: machines with their busy jobs and
 * sightings, queued jobs, recently settled jobs), as one JSON row. The Ledger reads it, applies
 * a `workflow_job` event or a reconciliation, and writes it back inside the same transaction.
 */
export class FleetStore {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    sql.exec(`
      CREATE TABLE IF NOT EXISTS fleet (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `);
  }

  /** The stored state, or an empty fleet when nothing was stored yet. */
  load(): FleetState {
    const row = this.sql.exec<{ state: string }>("SELECT state FROM fleet WHERE id = 1").toArray()[0];
    return row === undefined ? emptyFleet() : (JSON.parse(row.state) as FleetState);
  }

  save(state: FleetState, now: number): void {
    this.sql.exec(
      "INSERT INTO fleet (id, state, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
      JSON.stringify(state),
      now,
    );
  }
}

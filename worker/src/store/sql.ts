/**
 * What the stores need of a SQLite database: the Durable Object's `ctx.storage.sql` has this
 * shape, and so does the Node adapter the soak and the Ledger's Node tests use
 * (scripts/sqlite.ts), so the same store code runs in both.
 */
export type SqlValue = string | number | null | ArrayBuffer;

export interface SqlCursor<T> extends Iterable<T> {
  toArray(): T[];
  one(): T;
  readonly rowsWritten: number;
}

export interface Sql {
  exec<T extends Record<string, SqlValue>>(query: string, ...bindings: SqlValue[]): SqlCursor<T>;
}

/** Runs `fn` in one transaction: all of its writes or none. */
export type Transaction = <T>(fn: () => T) => T;

/** The first row of a query, or undefined. */
export function first<T extends Record<string, SqlValue>>(
  sql: Sql,
  query: string,
  ...bindings: SqlValue[]
): T | undefined {
  for (const row of sql.exec<T>(query, ...bindings)) return row;
  return undefined;
}

/** Every table and index the database holds (sqlite's own excluded), by name. */
export function schemaObjects(sql: Sql): { type: string; name: string; table: string }[] {
  return sql
    .exec<{ type: string; name: string; tbl_name: string }>(
      "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type DESC, name",
    )
    .toArray()
    .map((r) => ({ type: r.type, name: r.name, table: r.tbl_name }));
}

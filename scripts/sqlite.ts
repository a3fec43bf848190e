import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { Sql, SqlCursor, SqlValue, Transaction } from "../worker/src/store/sql.ts";

/**
 * The Ledger's storage interface (worker/src/store/sql.ts) over node:sqlite, so the Ledger's
 * own code runs in Node: for the soak (`npm run soak`) and for the Ledger's Node tests. Like a
 * Durable Object's `sql.exec`, a query without bindings may hold several statements, and a
 * transaction inside a transaction is a savepoint.
 */
export interface NodeSqlite {
  sql: Sql;
  transaction: Transaction;
  /** Bytes the database takes (pages × page size). */
  size(): number;
  close(): void;
  db: DatabaseSync;
}

const WRITES = /^\s*(?:INSERT|UPDATE|DELETE|REPLACE)\b/i;

export function openSqlite(path = ":memory:"): NodeSqlite {
  const db = new DatabaseSync(path);
  const statements = new Map<string, StatementSync>();
  const changes = db.prepare("SELECT changes() AS n");
  const prepared = (query: string) => {
    let statement = statements.get(query);
    if (statement === undefined) statements.set(query, (statement = db.prepare(query)));
    return statement;
  };
  const input = (value: SqlValue): SQLInputValue => (value instanceof ArrayBuffer ? new Uint8Array(value) : value);

  const sql: Sql = {
    exec<T extends Record<string, SqlValue>>(query: string, ...bindings: SqlValue[]): SqlCursor<T> {
      let rows: T[] = [];
      let rowsWritten = 0;
      if (bindings.length === 0 && /;\s*\S/.test(query)) {
        db.exec(query);
      } else {
        rows = prepared(query).all(...bindings.map(input)) as T[];
        if (WRITES.test(query)) rowsWritten = Number((changes.get() as { n: number }).n);
      }
      return {
        toArray: () => rows,
        one: () => {
          const [row] = rows;
          if (row === undefined) throw new Error("the query returned no row");
          return row;
        },
        rowsWritten,
        [Symbol.iterator]: () => rows[Symbol.iterator](),
      };
    },
  };

  let depth = 0;
  const transaction: Transaction = (fn) => {
    const name = `s${depth}`;
    db.exec(depth === 0 ? "BEGIN" : `SAVEPOINT ${name}`);
    depth++;
    try {
      const result = fn();
      depth--;
      db.exec(depth === 0 ? "COMMIT" : `RELEASE ${name}`);
      return result;
    } catch (error) {
      depth--;
      db.exec(depth === 0 ? "ROLLBACK" : `ROLLBACK TO ${name}; RELEASE ${name}`);
      throw error;
    }
  };

  const pragma = (name: string) => Number((db.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[name]);
  return {
    sql,
    transaction,
    size: () => pragma("page_count") * pragma("page_size"),
    close: () => db.close(),
    db,
  };
}

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

class Cursor<T> implements SqlCursor<T> {
  private readonly rows: T[];
  readonly rowsWritten: number;

  constructor(rows: T[], rowsWritten: number) {
    this.rows = rows;
    this.rowsWritten = rowsWritten;
  }

  toArray(): T[] {
    return this.rows;
  }

  one(): T {
    const [row] = this.rows;
    if (row === undefined) throw new Error("the query returned no row");
    return row;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.rows[Symbol.iterator]();
  }
}

export function openSqlite(path = ":memory:"): NodeSqlite {
  const db = new DatabaseSync(path);
  const statements = new Map<string, StatementSync>();
  const prepared = (query: string) => {
    let statement = statements.get(query);
    if (statement === undefined) statements.set(query, (statement = db.prepare(query)));
    return statement;
  };
  const input = (values: SqlValue[]): SQLInputValue[] =>
    values.some((v) => v instanceof ArrayBuffer)
      ? values.map((v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : v))
      : (values as SQLInputValue[]);

  const sql: Sql = {
    exec<T extends Record<string, SqlValue>>(query: string, ...bindings: SqlValue[]): SqlCursor<T> {
      let rows: T[] = [];
      let rowsWritten = 0;
      if (bindings.length === 0 && /;\s*\S/.test(query)) {
        db.exec(query);
      } else if (WRITES.test(query)) {
        rowsWritten = Number(prepared(query).run(...input(bindings)).changes);
      } else {
        rows = prepared(query).all(...input(bindings)) as T[];
      }
      return new Cursor(rows, rowsWritten);
    },
  };

  let depth = 0;
  const control = (statement: string) => prepared(statement).run();
  const transaction: Transaction = (fn) => {
    const name = `s${depth}`;
    control(depth === 0 ? "BEGIN" : `SAVEPOINT ${name}`);
    depth++;
    try {
      const result = fn();
      depth--;
      control(depth === 0 ? "COMMIT" : `RELEASE ${name}`);
      return result;
    } catch (error) {
      depth--;
      if (depth === 0) control("ROLLBACK");
      else db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
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

/**
 * The Ledger's Book over node:sqlite, as the core's tests open it: a fresh in-memory database
 * (or the one given), settings parsed from bindings as the Worker's are, and every time the Book
 * asks for its alarm kept.
 */
import { type NodeSqlite, openSqlite } from "../../scripts/sqlite.ts";
import { Book } from "../../worker/src/book.ts";
import type { LearnLimits } from "../../worker/src/core/index.ts";
import { parseSettings } from "../../worker/src/settings.ts";
import type { Sql, SqlValue } from "../../worker/src/store/sql.ts";

export interface BookOptions {
  /** The routing configuration (`ROUTING_CONFIG`); none: the defaults. */
  routing?: unknown;
  /** More bindings (GitHub, Discord, App credentials), over the webhook secret and API token. */
  bindings?: Record<string, string>;
  /** The database; default a fresh in-memory one. */
  db?: NodeSqlite;
  /** Runs the Book's statements instead of `db.sql` (to count or record them); default `db.sql`. */
  sql?: Sql;
  learnLimits?: Partial<LearnLimits>;
}

export function openBook(options: BookOptions = {}) {
  const db = options.db ?? openSqlite();
  const settings = parseSettings({
    WEBHOOK_SECRET: "s",
    API_TOKEN: "t",
    ...(options.routing === undefined ? {} : { ROUTING_CONFIG: JSON.stringify(options.routing) }),
    ...options.bindings,
  });
  const wakes: number[] = [];
  const book = new Book({
    sql: options.sql ?? db.sql,
    transaction: db.transaction,
    settings: () => settings,
    wake: (at) => wakes.push(at),
    ...(options.learnLimits === undefined ? {} : { learnLimits: options.learnLimits }),
  });
  /** Rows of `table` matching `where`. */
  const count = (table: string, where = "1 = 1", ...args: SqlValue[]) =>
    db.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, ...args).one().n;
  return { db, book, settings, wakes, count };
}

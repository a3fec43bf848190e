import type { NextStep } from "../core/index.ts";
import type { Sql, SqlValue } from "./sql.ts";

/**
 * Where a table of owed work keeps its bookkeeping. Every such table has a state column
 * (`pending` while owed), `attempts`, `next_at`, `last_error` and `created_at`; what differs
 * between them is named here, so that no difference is lost to the sharing.
 */
export interface OwedTable {
  table: string;
  /** The primary key: one row per value. */
  key: string;
  /** The column holding a row's state (`pending` while owed, `sent` and `failed` among the rest). */
  status: string;
  /**
   * How `due` reads rows: the columns, and among rows due at the same time which goes first
   * (`ORDER BY next_at, <tieBreak>`). Absent where the store chooses its due rows its own way.
   */
  due?: { columns: string; tieBreak: string };
  /** The states from which a row may yet be sent (`pending`, and any a call holds it in): never pruned by `pruneFinished`. */
  open: readonly string[];
  /** A column stamped with the time of every write made here, where the table keeps one. */
  touched?: string;
}

const NAME = /^[a-z_]+$/;

/**
 * One definition of owed work: a row the Ledger owes the outside world (an alert, a wake-up, a
 * dispatch, a commit status, a check run), written in the transaction that made it owed and sent
 * later by the alarm, retried until sent or given up, never deleted while still owed. Each store
 * of such rows extends this: the store keeps what its rows hold, their keys and its own states;
 * which rows are due, when the next one is, how an attempt's outcome is written and which rows
 * may go are said here, once. The retry policy itself is core/retry.ts.
 */
export abstract class Owed<T extends Record<string, SqlValue>> {
  protected readonly sql: Sql;
  private readonly owedTable: OwedTable;
  /** `, <touched> = ?` or nothing: appended to every UPDATE's SET. */
  private readonly owedTouch: string;
  private readonly owedOpen: string;

  protected constructor(sql: Sql, table: OwedTable) {
    // Names are written into the SQL: only plain ones, so that a typo fails here and not in a query.
    const names = [table.table, table.key, table.status, ...table.open];
    if (table.due !== undefined) names.push(table.due.tieBreak);
    if (table.touched !== undefined) names.push(table.touched);
    const bad = names.find((name) => !NAME.test(name));
    if (bad !== undefined) throw new Error(`owed work: ${JSON.stringify(bad)} is not a plain name`);
    if (!table.open.includes("pending"))
      throw new Error(`owed work: ${table.table}'s open states must include pending`);
    this.sql = sql;
    this.owedTable = table;
    this.owedTouch = table.touched === undefined ? "" : `, ${table.touched} = ?`;
    this.owedOpen = table.open.map((state) => `'${state}'`).join(", ");
  }

  /** Pending rows due at `now`, the earliest first, at most `limit`. */
  due(now: number, limit: number): T[] {
    const { table, status, due } = this.owedTable;
    if (due === undefined) throw new Error(`owed work: ${table} chooses its due rows itself`);
    return this.sql
      .exec<T>(
        `SELECT ${due.columns} FROM ${table} WHERE ${status} = 'pending' AND next_at <= ? ORDER BY next_at, ${due.tieBreak} LIMIT ?`,
        now,
        limit,
      )
      .toArray();
  }

  /** When the next pending row is due, or null. */
  nextDue(): number | null {
    const { table, status } = this.owedTable;
    return this.sql
      .exec<{ next: number | null }>(`SELECT MIN(next_at) AS next FROM ${table} WHERE ${status} = 'pending'`)
      .one().next;
  }

  /**
   * Records an attempt of a row that had `before` attempts, counted now that it is answered: the
   * store's policy (`stepOf`, given the attempt's number) says what follows, and that is written:
   * `sent` (its last error cleared), due again at `now + delay` with why (still pending), or
   * `failed` with why. Returns the step.
   */
  protected recordAttempt(
    key: SqlValue,
    before: number,
    stepOf: (attempts: number) => NextStep,
    now: number,
  ): NextStep {
    const { status } = this.owedTable;
    const attempts = before + 1;
    const step = stepOf(attempts);
    if (step.kind === "sent")
      this.owedWrite(`${status} = 'sent', attempts = ?, last_error = NULL`, [attempts], key, now);
    else if (step.kind === "retry")
      this.owedWrite("attempts = ?, next_at = ?, last_error = ?", [attempts, now + step.delayMs, step.why], key, now);
    else this.owedWrite(`${status} = 'failed', attempts = ?, last_error = ?`, [attempts, step.why], key, now);
    return step;
  }

  /** Gives a row up with `why`, whatever its state, its attempts as they are. */
  protected giveUp(key: SqlValue, why: string, now?: number): void {
    this.owedWrite(`${this.owedTable.status} = 'failed', last_error = ?`, [why], key, now);
  }

  /**
   * Puts a pending row off to `at`, its attempts as they are (an attempt counted when the row was
   * claimed, or none at all: a wait for a rate limit), with `why` as its last error when given.
   * A row no longer pending is left alone.
   */
  protected putOff(key: SqlValue, at: number, now?: number, why?: string): void {
    const sets = why === undefined ? "next_at = ?" : "next_at = ?, last_error = ?";
    this.owedWrite(sets, why === undefined ? [at] : [at, why], key, now, ` AND ${this.owedTable.status} = 'pending'`);
  }

  /** Deletes up to `limit` rows created before `before` and no longer open; true when the batch was full. */
  protected pruneFinished(before: number, limit: number): boolean {
    return this.deleteBatch(`created_at < ? AND ${this.owedTable.status} NOT IN (${this.owedOpen})`, [before], limit);
  }

  /** Deletes every row created before `before` and no longer open, in one statement. */
  protected pruneAllFinished(before: number): void {
    const { table, status } = this.owedTable;
    this.sql.exec(`DELETE FROM ${table} WHERE ${status} NOT IN (${this.owedOpen}) AND created_at < ?`, before);
  }

  /** Deletes up to `limit` rows matching `where`; true when the batch was full (more may match). */
  protected deleteBatch(where: string, bindings: SqlValue[], limit: number): boolean {
    const { table, key } = this.owedTable;
    const deleted = this.sql.exec(
      `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ?)`,
      ...bindings,
      limit,
    ).rowsWritten;
    return deleted >= limit;
  }

  /** `now` is the time stamped in `touched`: needed only by a table that keeps one. */
  private owedWrite(sets: string, values: SqlValue[], key: SqlValue, now: number | undefined, also = ""): void {
    const { table, key: keyColumn, touched } = this.owedTable;
    if (touched !== undefined && now === undefined)
      throw new Error(`owed work: ${table} stamps ${touched}: a write needs its time`);
    this.sql.exec(
      `UPDATE ${table} SET ${sets}${this.owedTouch} WHERE ${keyColumn} = ?${also}`,
      ...values,
      ...(touched === undefined ? [] : [now as number]),
      key,
    );
  }
}

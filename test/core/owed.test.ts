/**
 * The bookkeeping of owed work (worker/src/store/owed.ts) over node:sqlite: which rows are due
 * and in what order, when the next one is, how an attempt's outcome is written (sent, retried,
 * failed), putting a row off, and pruning in batches. A store of its own stands for the stores
 * of owed work, over a table with the columns they share; then what the Ledger's stores keep
 * their own (a tie-break, a claimed state, pruning in one statement).
 */
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import type { NextStep, WakeUp } from "../../worker/src/core/index.ts";
import { Dispatches } from "../../worker/src/store/dispatches.ts";
import { Outbox } from "../../worker/src/store/outbox.ts";
import { Owed, type OwedTable } from "../../worker/src/store/owed.ts";
import { migrate } from "../../worker/src/store/schema.ts";
import type { Sql, SqlValue } from "../../worker/src/store/sql.ts";
import { WarmCalls } from "../../worker/src/store/warm.ts";

interface WorkRow {
  id: number;
  name: string;
  state: string;
  attempts: number;
  next_at: number;
  last_error: string | null;
  created_at: number;
  updated_at: number | null;
}

type Row = WorkRow & Record<string, SqlValue>;

/** A store of owed work that lets the test call what the stores call. */
class Work extends Owed<Row> {
  constructor(sql: Sql, table: OwedTable) {
    super(sql, table);
  }
  /** Records an attempt after `before` others, answered `step`; returns the attempt number the policy was given. */
  record(key: number, before: number, step: NextStep, now: number): number {
    let asked = 0;
    const returned = this.recordAttempt(
      key,
      before,
      (attempts) => {
        asked = attempts;
        return step;
      },
      now,
    );
    expect(returned).toBe(step);
    return asked;
  }
  fail(key: number, why: string, now?: number): void {
    this.giveUp(key, why, now);
  }
  delay(key: number, at: number, now?: number, why?: string): void {
    this.putOff(key, at, now, why);
  }
  prune(before: number, limit: number): boolean {
    return this.pruneFinished(before, limit);
  }
  pruneAll(before: number): void {
    this.pruneAllFinished(before);
  }
  batch(where: string, bindings: SqlValue[], limit: number): boolean {
    return this.deleteBatch(where, bindings, limit);
  }
}

const T0 = 1_700_000_000_000;

const TABLE: OwedTable = {
  table: "work",
  key: "id",
  status: "state",
  due: { columns: "*", tieBreak: "id" },
  open: ["pending", "sending"],
};

function open(table: Partial<OwedTable> = {}) {
  const db = openSqlite();
  db.sql.exec(`CREATE TABLE work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
  );
  CREATE INDEX work_due ON work (state, next_at);`);
  const owed = new Work(db.sql, { ...TABLE, ...table });
  const add = (name: string, nextAt: number, createdAt = T0, state = "pending"): number => {
    db.sql.exec(
      "INSERT INTO work (name, state, next_at, created_at) VALUES (?, ?, ?, ?)",
      name,
      state,
      nextAt,
      createdAt,
    );
    return db.sql.exec<{ id: number }>("SELECT MAX(id) AS id FROM work").one().id;
  };
  const row = (id: number): WorkRow => db.sql.exec<Row>("SELECT * FROM work WHERE id = ?", id).one();
  const count = (): number => db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM work").one().n;
  return { db, owed, add, row, count };
}

describe("owed work: due rows", () => {
  it("takes pending rows due by now, the earliest first, ties by the tie-break, at most the limit", () => {
    const { owed, add } = open();
    add("late", T0 + 10);
    add("second", T0 + 5);
    add("first", T0 + 1);
    add("tied", T0 + 5);
    add("future", T0 + 1_000);
    add("sent", T0, T0, "sent");
    add("sending", T0, T0, "sending");
    add("failed", T0, T0, "failed");
    expect(owed.due(T0 + 10, 10).map((r) => r.name)).toEqual(["first", "second", "tied", "late"]);
    expect(owed.due(T0 + 10, 2).map((r) => r.name)).toEqual(["first", "second"]);
    // A row due exactly now is due.
    expect(owed.due(T0 + 1, 10).map((r) => r.name)).toEqual(["first"]);
    expect(owed.due(T0, 10)).toEqual([]);
  });

  it("breaks ties by the column the table names, and reads only the columns it names", () => {
    const { owed, add } = open({ due: { columns: "id, name, attempts", tieBreak: "created_at" } });
    add("queued later", T0, T0 + 2);
    add("queued earlier", T0, T0 + 1);
    expect(owed.due(T0, 10)).toEqual([
      { id: 2, name: "queued earlier", attempts: 0 },
      { id: 1, name: "queued later", attempts: 0 },
    ]);
    const byId = open();
    byId.add("queued later", T0, T0 + 2);
    byId.add("queued earlier", T0, T0 + 1);
    expect(byId.owed.due(T0, 10).map((r) => r.name)).toEqual(["queued later", "queued earlier"]);
  });

  it("refuses to choose due rows for a table that orders them itself", () => {
    const { owed } = open({ due: undefined });
    expect(() => owed.due(T0, 1)).toThrow("work chooses its due rows itself");
  });

  it("says when the next pending row is due, whatever the others hold", () => {
    const { owed, add } = open();
    expect(owed.nextDue()).toBeNull();
    add("sent", T0 - 100, T0, "sent");
    add("sending", T0 - 50, T0, "sending");
    expect(owed.nextDue()).toBeNull();
    add("later", T0 + 20);
    add("sooner", T0 + 10);
    expect(owed.nextDue()).toBe(T0 + 10);
  });
});

describe("owed work: an attempt's outcome", () => {
  it("writes sent with the attempt counted and the last error cleared", () => {
    const { owed, add, row, db } = open();
    const id = add("a", T0);
    db.sql.exec("UPDATE work SET last_error = 'earlier' WHERE id = ?", id);
    // The policy is asked about the attempt just made: the row's second.
    expect(owed.record(id, 1, { kind: "sent" }, T0)).toBe(2);
    expect(row(id)).toMatchObject({ state: "sent", attempts: 2, last_error: null, next_at: T0 });
    expect(owed.due(T0 + 1_000, 10)).toEqual([]);
  });

  it("writes a retry: still pending, due after the delay, with why", () => {
    const { owed, add, row } = open();
    const id = add("a", T0);
    expect(owed.record(id, 0, { kind: "retry", delayMs: 2_000, why: "503 server error" }, T0 + 7)).toBe(1);
    expect(row(id)).toMatchObject({
      state: "pending",
      attempts: 1,
      next_at: T0 + 2_007,
      last_error: "503 server error",
    });
    expect(owed.due(T0 + 2_006, 10)).toEqual([]);
    expect(owed.due(T0 + 2_007, 10).map((r) => r.id)).toEqual([id]);
    expect(owed.nextDue()).toBe(T0 + 2_007);
  });

  it("writes failed with the attempt counted and why, and the row is due no more", () => {
    const { owed, add, row } = open();
    const id = add("a", T0);
    expect(owed.record(id, 4, { kind: "failed", why: "500 server error after 5 attempts" }, T0)).toBe(5);
    expect(row(id)).toMatchObject({ state: "failed", attempts: 5, last_error: "500 server error after 5 attempts" });
    expect(owed.nextDue()).toBeNull();
  });

  it("gives a row up without an attempt, whatever its state", () => {
    const { owed, add, row } = open();
    const pending = add("a", T0);
    const sending = add("b", T0, T0, "sending");
    owed.fail(pending, "the secret is not set");
    owed.fail(sending, "interrupted");
    expect(row(pending)).toMatchObject({ state: "failed", attempts: 0, last_error: "the secret is not set" });
    expect(row(sending)).toMatchObject({ state: "failed", last_error: "interrupted" });
  });

  it("touches only the row named", () => {
    const { owed, add, row } = open();
    const a = add("a", T0);
    const b = add("b", T0);
    owed.record(a, 0, { kind: "sent" }, T0);
    owed.fail(a, "x");
    expect(row(b)).toMatchObject({ state: "pending", attempts: 0, last_error: null });
  });
});

describe("owed work: putting a row off", () => {
  it("moves a pending row's due time, its attempts and last error kept when no reason is given", () => {
    const { owed, add, row, db } = open();
    const id = add("a", T0);
    db.sql.exec("UPDATE work SET attempts = 3, last_error = 'earlier' WHERE id = ?", id);
    owed.delay(id, T0 + 60_000);
    expect(row(id)).toMatchObject({ state: "pending", attempts: 3, next_at: T0 + 60_000, last_error: "earlier" });
    owed.delay(id, T0 + 90_000, T0, "403 rate limited");
    expect(row(id)).toMatchObject({ attempts: 3, next_at: T0 + 90_000, last_error: "403 rate limited" });
  });

  it("leaves a row no longer pending alone", () => {
    const { owed, add, row } = open();
    const id = add("a", T0, T0, "sending");
    owed.delay(id, T0 + 60_000, T0, "late");
    expect(row(id)).toMatchObject({ state: "sending", next_at: T0, last_error: null });
  });

  it("stamps every write with its time where the table keeps one, and asks for the time", () => {
    const { owed, add, row } = open({ touched: "updated_at" });
    const a = add("a", T0);
    owed.delay(a, T0 + 10, T0 + 1, "wait");
    expect(row(a).updated_at).toBe(T0 + 1);
    owed.record(a, 0, { kind: "retry", delayMs: 5, why: "again" }, T0 + 2);
    expect(row(a)).toMatchObject({ updated_at: T0 + 2, next_at: T0 + 7 });
    owed.fail(a, "no", T0 + 3);
    expect(row(a)).toMatchObject({ state: "failed", updated_at: T0 + 3 });
    expect(() => owed.fail(a, "no")).toThrow("work stamps updated_at: a write needs its time");
    const plain = open();
    const b = plain.add("b", T0);
    plain.owed.fail(b, "no", T0 + 3);
    expect(plain.row(b).updated_at).toBeNull();
  });
});

describe("owed work: pruning", () => {
  it("deletes finished rows created before the time in batches, never an open one, saying when a batch was full", () => {
    const { owed, add, count, db } = open();
    for (let i = 0; i < 5; i++) add(`sent ${i}`, T0, T0 - 10, "sent");
    add("failed", T0, T0 - 10, "failed");
    add("pending", T0, T0 - 10);
    add("sending", T0, T0 - 10, "sending");
    add("recent", T0, T0, "sent");
    expect(owed.prune(T0, 4)).toBe(true);
    expect(count()).toBe(5);
    expect(owed.prune(T0, 4)).toBe(false);
    const left = db.sql.exec<{ name: string }>("SELECT name FROM work ORDER BY id").toArray();
    expect(left.map((r) => r.name)).toEqual(["pending", "sending", "recent"]);
    expect(owed.prune(T0, 4)).toBe(false);
  });

  it("keeps only the open states the table names", () => {
    const { owed, add, count } = open({ open: ["pending"] });
    add("pending", T0, T0 - 10);
    add("sending", T0, T0 - 10, "sending");
    expect(owed.prune(T0, 10)).toBe(false);
    expect(count()).toBe(1);
  });

  it("deletes every finished old row in one statement where the table prunes so", () => {
    const { owed, add, count } = open();
    for (let i = 0; i < 30; i++) add(`sent ${i}`, T0, T0 - 10, i % 2 === 0 ? "sent" : "failed");
    add("pending", T0, T0 - 10);
    add("recent", T0, T0, "sent");
    owed.pruneAll(T0);
    expect(count()).toBe(2);
  });

  it("deletes a batch of the rows a condition of the store's own names", () => {
    const { owed, add, count } = open();
    for (let i = 0; i < 3; i++) add(`old ${i}`, T0, T0 - 10);
    add("new", T0, T0);
    expect(owed.batch("created_at < ?", [T0], 2)).toBe(true);
    expect(owed.batch("created_at < ?", [T0], 2)).toBe(false);
    expect(count()).toBe(1);
  });
});

describe("owed work: the table's description", () => {
  it("refuses names that are not plain, and open states without pending", () => {
    const { db } = open();
    expect(() => new Work(db.sql, { ...TABLE, table: "work; DROP TABLE work" })).toThrow("is not a plain name");
    expect(() => new Work(db.sql, { ...TABLE, open: ["pending", "it's"] })).toThrow("is not a plain name");
    expect(() => new Work(db.sql, { ...TABLE, due: { columns: "*", tieBreak: "id DESC" } })).toThrow(
      "is not a plain name",
    );
    expect(() => new Work(db.sql, { ...TABLE, open: ["sending"] })).toThrow("open states must include pending");
  });
});

describe("owed work: the stores' own differences", () => {
  function ledger() {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    return db;
  }
  const answer = (status: number) => ({ ok: true as const, value: { status, retryAfterSeconds: null } });

  it("wake-ups due together go in the order they were queued, not by build id", () => {
    const db = ledger();
    const calls = new WarmCalls(db.sql);
    const hook = { url: "https://warm.test/hook", secretEnv: "WARM_X" };
    const wake = (build: string) => ({ build_id: build, class: "kvm4" }) as unknown as WakeUp;
    calls.enqueue(hook, wake("zz-first"), T0);
    calls.enqueue(hook, wake("aa-second"), T0 + 1_000);
    // Both fail once and come due again at the same time.
    const [first, second] = calls.due(T0 + 1_000, 10);
    if (first === undefined || second === undefined) throw new Error("two wake-ups were due");
    calls.record(first, answer(503), T0 + 1_000);
    calls.record(second, answer(503), T0 + 1_000);
    expect(calls.due(T0 + 60_000, 10).map((r) => r.build_id)).toEqual(["zz-first", "aa-second"]);
  });

  it("a dispatch claimed for its call is kept by pruning however old", () => {
    const db = ledger();
    const dispatches = new Dispatches(db.sql);
    const target = { repository: "acme/lib", workflow: "ci.yml", ref: "main" };
    dispatches.queue(
      target,
      { upstreamRepository: "acme/app", upstreamSha: "a".repeat(40), upstreamBuild: "b1", depth: 1 },
      T0,
      T0,
    );
    const [row] = dispatches.due(T0, 1);
    if (row === undefined) throw new Error("the dispatch was due");
    expect(dispatches.claim(row.id, T0)).toBe(true);
    expect(dispatches.prune(T0 + 1_000_000, 10)).toBe(false);
    expect(dispatches.ofUpstream("b1", 10).map((r) => r.state)).toEqual(["sending"]);
  });

  it("alerts are pruned in one statement, however many", () => {
    const db = ledger();
    const outbox = new Outbox(db.sql);
    for (let i = 0; i < 300; i++) outbox.enqueue("failure", `b${i}`, { i }, T0);
    for (const row of outbox.due(T0, 300)) outbox.fail(row, "no webhook");
    outbox.enqueue("failure", "pending", {}, T0);
    outbox.prune(T0 + 1);
    expect(outbox.list(null, 500).map((r) => r.build_id)).toEqual(["pending"]);
  });
});

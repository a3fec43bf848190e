/**
 * docs/storage-schema.md says what the Ledger stores: every table, its columns and its
 * indexes. Compared here with what the Ledger's schema creates, so the two cannot drift.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/bundle.ts";
import { openSqlite } from "../../scripts/sqlite.ts";
import { migrate } from "../../worker/src/store/schema.ts";
import { schemaObjects } from "../../worker/src/store/sql.ts";

const doc = readFileSync(join(ROOT, "docs/storage-schema.md"), "utf8");

/** The Ledger's sections of the document: `### \`table\`: …` up to the next heading. */
function sections(): Map<string, string> {
  const ledger = doc.slice(doc.indexOf("## Durable Object"));
  const out = new Map<string, string>();
  for (const part of ledger.split(/^### /m).slice(1)) {
    const name = /^`([a-z_]+)`/.exec(part)?.[1];
    if (name !== undefined) out.set(name, part);
  }
  return out;
}

/** Column names a section's table lists in its first column (`a`, `b`; `b0` … `b11`). */
function documentedColumns(section: string): Set<string> {
  const names = new Set<string>();
  const lines = section.split("\n");
  const header = lines.findIndex((line) => line.startsWith("| column |"));
  const end = lines.findIndex((line, i) => i > header && !line.startsWith("|"));
  for (const line of lines.slice(header + 2, end === -1 ? undefined : end)) {
    const cell = line.split("|")[1] ?? "";
    const range = /`([a-z]+)(\d+)` … `\1(\d+)`/.exec(cell);
    if (range) {
      for (let i = Number(range[2]); i <= Number(range[3]); i++) names.add(`${range[1]}${i}`);
      continue;
    }
    for (const m of cell.matchAll(/`([a-z_]+)`/g)) names.add(m[1] as string);
  }
  return names;
}

const db = openSqlite();
db.transaction(() => migrate(db.sql, { runners: null }));
const objects = schemaObjects(db.sql);
const tables = objects.filter((o) => o.type === "table").map((o) => o.name);

describe("docs/storage-schema.md describes the Ledger's tables as they are", () => {
  it("a section for every table, and no section for a table that is not there", () => {
    expect([...sections().keys()].sort()).toEqual([...tables].sort());
  });

  it.each(tables)("%s: every column, and only those", (table) => {
    const columns = db.sql
      .exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
      .toArray()
      .map((c) => c.name);
    expect([...documentedColumns(sections().get(table) ?? "")].sort()).toEqual([...columns].sort());
  });

  it("a table stored by its primary key (WITHOUT ROWID) says so in its section, and only such a table", () => {
    const keyed = db.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID'")
      .toArray()
      .map((t) => t.name);
    expect(keyed.length).toBeGreaterThan(0);
    for (const table of tables) {
      const says = /`WITHOUT\s+ROWID`/.test(sections().get(table) ?? "");
      expect(says, `${table}'s section`).toBe(keyed.includes(table));
    }
  });

  it("every index is named in its table's section", () => {
    for (const index of objects.filter((o) => o.type === "index")) {
      expect(sections().get(index.table) ?? "", `${index.name} on ${index.table}`).toContain(`\`${index.name} (`);
    }
  });
});

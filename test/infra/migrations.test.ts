import { describe, expect, it } from "vitest";
import { DURABLE_OBJECT_MIGRATIONS, migrationsToUpload } from "../../infra/migrations.ts";
import { LEDGER_CLASS } from "../../worker/src/bindings.ts";

const LATER = [
  { tag: "v1", newSqliteClasses: ["Ledger"] },
  { tag: "v2", renamedClasses: [{ from: "Ledger", to: "BuildLedger" }] },
];

describe("Durable Object migrations", () => {
  it("create the Ledger SQLite-backed under tag v1", () => {
    expect(DURABLE_OBJECT_MIGRATIONS[0]).toEqual({ tag: "v1", newSqliteClasses: [LEDGER_CLASS] });
  });

  it.each([
    ["a new script", null, { newTag: "v1", newSqliteClasses: ["Ledger"] }],
    ["a script that never ran a migration", "", { newTag: "v1", newSqliteClasses: ["Ledger"] }],
    ["a script already at v1 (every later `pulumi up`)", "v1", undefined],
  ])("upload to %s: %j", (_name, deployed, expected) => {
    expect(migrationsToUpload(deployed)).toEqual(expected);
  });

  it("upload only what follows the deployed tag, checked against it", () => {
    expect(migrationsToUpload("v1", LATER)).toEqual({
      oldTag: "v1",
      newTag: "v2",
      renamedClasses: [{ from: "Ledger", to: "BuildLedger" }],
    });
    expect(migrationsToUpload("v2", LATER)).toBeUndefined();
  });

  it("send several pending migrations as ordered steps", () => {
    expect(migrationsToUpload(null, LATER)).toEqual({
      newTag: "v2",
      steps: [{ newSqliteClasses: ["Ledger"] }, { renamedClasses: [{ from: "Ledger", to: "BuildLedger" }] }],
    });
  });

  it("refuse a deployed tag the list does not know, instead of guessing", () => {
    expect(() => migrationsToUpload("v7")).toThrowError(
      /migration tag is "v7", which infra\/migrations.ts does not list/,
    );
  });
});

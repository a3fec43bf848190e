import { LEDGER_CLASS } from "../worker/src/bindings.ts";

/**
 * Durable Object migrations, in order. Cloudflare records the tag of the last migration applied
 * to a script and rejects an upload whose migration does not start from it ("Migration tag
 * precondition failed"), so re-sending `v1` on every update would fail the second `pulumi up`.
 * The program therefore does what `wrangler deploy` does: it reads the deployed script's tag and
 * uploads only the migrations after it (none once the script is up to date).
 *
 * Adding a migration later: append an entry with the next tag — never edit, reorder or remove
 * one that has been deployed. For example, renaming the class:
 *   { tag: "v2", renamedClasses: [{ from: "Ledger", to: "BuildLedger" }] }
 * and point the binding at the new class name in worker/src/bindings.ts.
 */
export const DURABLE_OBJECT_MIGRATIONS: readonly DurableObjectMigration[] = [
  // The Ledger is SQLite-backed from its first deploy: a class cannot be switched to SQLite later.
  { tag: "v1", newSqliteClasses: [LEDGER_CLASS] },
];

export interface MigrationStep {
  newSqliteClasses?: string[];
  newClasses?: string[];
  deletedClasses?: string[];
  renamedClasses?: { from: string; to: string }[];
}

export interface DurableObjectMigration extends MigrationStep {
  tag: string;
}

/** The `migrations` input of a WorkersScript (single-step, or stepped when several are pending). */
export interface ScriptMigrations extends MigrationStep {
  oldTag?: string;
  newTag: string;
  steps?: MigrationStep[];
}

/**
 * The migrations to upload to a script whose last applied tag is `deployedTag` (null when the
 * script does not exist yet or has never run a migration); undefined when it is up to date.
 */
export function migrationsToUpload(
  deployedTag: string | null | undefined,
  migrations: readonly DurableObjectMigration[] = DURABLE_OBJECT_MIGRATIONS,
): ScriptMigrations | undefined {
  let pending: readonly DurableObjectMigration[] = migrations;
  const oldTag = deployedTag ? deployedTag : undefined;
  if (oldTag !== undefined) {
    const applied = migrations.findIndex((m) => m.tag === oldTag);
    if (applied === -1) {
      throw new Error(
        `the deployed Worker's Durable Object migration tag is "${oldTag}", which infra/migrations.ts does not list ` +
          `(known: ${migrations.map((m) => m.tag).join(", ")}); add the missing migrations before deploying`,
      );
    }
    pending = migrations.slice(applied + 1);
  }
  const last = pending.at(-1);
  if (last === undefined) return undefined;
  const base = { ...(oldTag === undefined ? {} : { oldTag }), newTag: last.tag };
  const [only] = pending;
  if (pending.length === 1 && only !== undefined) return { ...base, ...stepOf(only) };
  return { ...base, steps: pending.map(stepOf) };
}

function stepOf({ tag: _tag, ...step }: DurableObjectMigration): MigrationStep {
  return step;
}

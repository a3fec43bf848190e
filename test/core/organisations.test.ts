/**
 * Several organisations in one deployment: the rule that names a repository's organisation,
 * the directory's assignment of Ledgers (over node:sqlite, as the Ledger's own store), its bound,
 * and the upgrade that lists every owner an older Ledger already holds as served by it.
 */
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import {
  MAX_ORGANISATIONS,
  ORGANISATIONS_LISTED,
  organisationOf,
  organisationOfPayload,
  organisationRequiredMessage,
  parseOrganisationParam,
  parseRoutingConfig,
  RoutingConfigError,
  SCHEDULED_ORGANISATIONS,
  scheduledSlice,
} from "../../worker/src/core/index.ts";
import { OrganisationStore } from "../../worker/src/store/organisations.ts";
import { migrate, SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import { schemaObjects } from "../../worker/src/store/sql.ts";
import { V1, writeVersion1 } from "../support/schema-v1.ts";

const T0 = Date.parse("2026-11-20T12:00:00Z");

function directory() {
  const db = openSqlite();
  db.transaction(() => migrate(db.sql, { runners: null }));
  const store = new OrganisationStore(db.sql, "ledger");
  const rows = () => db.sql.exec("SELECT * FROM organisations ORDER BY organisation").toArray();
  return { db, store, rows, assign: (org: string, now = T0) => db.transaction(() => store.assign(org, now)) };
}

describe("an organisation is its repositories' owner, lower-cased", () => {
  it.each([
    ["acme/app", "acme"],
    ["Acme/App", "acme"],
    ["ACME-Corp/site.io", "acme-corp"],
    ["GloBex", "globex"],
  ])("%s → %s", (repository, organisation) => {
    expect(organisationOf(repository)).toBe(organisation);
  });

  it("a delivery's: its repository's owner, else the installation's account, else the hook's organisation", () => {
    expect(
      organisationOfPayload({ repository: { full_name: "Acme/App" }, installation: { account: { login: "x" } } }),
    ).toBe("acme");
    expect(organisationOfPayload({ installation: { id: 1, account: { login: "GloBex" } } })).toBe("globex");
    expect(organisationOfPayload({ organization: { login: "Initech" }, hook: {} })).toBe("initech");
    // Names that are none are no organisation: the delivery goes to the directory.
    expect(organisationOfPayload({ repository: { full_name: "not a repo" } })).toBeNull();
    expect(organisationOfPayload({ installation: { account: { login: "-bad" } } })).toBeNull();
    expect(organisationOfPayload({ zen: "hi" })).toBeNull();
    expect(organisationOfPayload(null)).toBeNull();
    expect(organisationOfPayload("acme/app")).toBeNull();
  });
});

describe("the directory's assignment", () => {
  it("the first organisation gets the directory's own Ledger, every later one its own, for good", () => {
    const { assign, rows } = directory();
    expect(assign("acme")).toEqual({ ok: true, value: "ledger" });
    expect(assign("globex", T0 + 1)).toEqual({ ok: true, value: "org:globex" });
    expect(assign("initech", T0 + 2)).toEqual({ ok: true, value: "org:initech" });
    // Asked again, later: the same Ledgers, and nothing is written.
    expect(assign("globex", T0 + 99)).toEqual({ ok: true, value: "org:globex" });
    expect(assign("acme", T0 + 99)).toEqual({ ok: true, value: "ledger" });
    expect(rows()).toEqual([
      { organisation: "acme", ledger: "ledger", first_seen: T0 },
      { organisation: "globex", ledger: "org:globex", first_seen: T0 + 1 },
      { organisation: "initech", ledger: "org:initech", first_seen: T0 + 2 },
    ]);
  });

  it("looks up without listing, and lists by name", () => {
    const { store, assign } = directory();
    expect(store.ledgerOf("acme")).toBeNull();
    assign("zeta");
    assign("acme");
    expect(store.ledgerOf("acme")).toBe("org:acme");
    expect(store.count()).toBe(2);
    expect(store.list().map((e) => e.organisation)).toEqual(["acme", "zeta"]);
    expect(store.list(1, 1)).toEqual([
      { organisation: "zeta", ledger: "ledger", first_seen: new Date(T0).toISOString() },
    ]);
  });

  it(`past ${MAX_ORGANISATIONS.toLocaleString("en-US")} organisations a new one is refused and nothing is written; a listed one is still served`, () => {
    const { db, store, assign } = directory();
    db.transaction(() => {
      for (let i = 0; i < MAX_ORGANISATIONS; i++) {
        db.sql.exec(
          "INSERT INTO organisations (organisation, ledger, first_seen) VALUES (?, ?, ?)",
          `o${i}`,
          `org:o${i}`,
          T0,
        );
      }
    });
    const refused = assign("latecomer");
    expect(refused.ok).toBe(false);
    if (!refused.ok)
      expect(refused.error.message).toMatch(/serves 10,000 organisations, its most: latecomer is not served/);
    expect(store.ledgerOf("latecomer")).toBeNull();
    expect(store.count()).toBe(MAX_ORGANISATIONS);
    expect(assign("o42")).toEqual({ ok: true, value: "org:o42" });
  });
});

describe("?organisation=", () => {
  it("absent or blank is the default; a login is lower-cased", () => {
    expect(parseOrganisationParam([])).toEqual({ ok: true, value: null });
    expect(parseOrganisationParam(["  "])).toEqual({ ok: true, value: null });
    expect(parseOrganisationParam(["GloBex"])).toEqual({ ok: true, value: "globex" });
  });

  it.each([
    [["acme", "globex"], /more than once/],
    [["acme/app"], /must be an organisation's login/],
    [["-acme"], /must be an organisation's login/],
    [["a".repeat(40)], /must be an organisation's login/],
  ])("%j is invalid_request", (values, message) => {
    const read = parseOrganisationParam(values);
    expect(read.ok).toBe(false);
    if (!read.ok) {
      expect(read.error.code).toBe("invalid_request");
      expect(read.error.message).toMatch(message);
    }
  });

  it(`organisation_required names the first ${ORGANISATIONS_LISTED}, then how many more`, () => {
    expect(organisationRequiredMessage(["acme", "globex"], 2)).toBe(
      "this router serves 2 organisations: say which with ?organisation= (acme, globex; GET /organisations lists them)",
    );
    const many = Array.from({ length: 25 }, (_, i) => `o${String(i).padStart(2, "0")}`);
    const message = organisationRequiredMessage(many, 1_234);
    expect(message).toContain("o19 and 1,214 more;");
    expect(message).not.toContain("o20");
  });
});

describe("the Cron Trigger's turns", () => {
  it("visit every organisation once per ceil(total / perMinute) minutes", () => {
    const total = 23;
    const seen: number[] = [];
    for (let minute = 1_000; minute < 1_003; minute++) {
      const { offset, limit } = scheduledSlice(total, minute, SCHEDULED_ORGANISATIONS);
      for (let i = offset; i < Math.min(offset + limit, total); i++) seen.push(i);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(scheduledSlice(0, 5, SCHEDULED_ORGANISATIONS)).toEqual({ offset: 0, limit: 0 });
    expect(scheduledSlice(4, 7, SCHEDULED_ORGANISATIONS)).toEqual({ offset: 0, limit: SCHEDULED_ORGANISATIONS });
  });
});

describe("dependencies link repositories of one organisation", () => {
  it("a target of another organisation is refused, naming it", () => {
    const entry = {
      from: "acme/lib",
      refs: ["refs/heads/main"],
      to: [
        { repository: "ACME/app", workflow: "ci.yml", ref: "main" },
        { repository: "globex/site", workflow: "ci.yml", ref: "main" },
      ],
    };
    let problems: readonly string[] = [];
    try {
      parseRoutingConfig({ dependencies: [entry] });
    } catch (error) {
      if (!(error instanceof RoutingConfigError)) throw error;
      problems = error.problems;
    }
    expect(problems).toEqual([
      'dependencies[0].to[1].repository: "globex/site" is of another organisation than "acme/lib": a dependency links repositories of one organisation',
    ]);
    // The same owner in another case is the same organisation.
    expect(
      parseRoutingConfig({ dependencies: [{ ...entry, to: [entry.to[0]] }] }).dependencies?.dependencies,
    ).toHaveLength(1);
  });
});

describe("the schema: version 7 → 8 lists the owners an older Ledger holds", () => {
  /** A version 7 database: today's tables but the directory's, with rows naming repositories. */
  function version7() {
    const db = openSqlite();
    db.transaction(() => migrate(db.sql, { runners: null }));
    const before = schemaObjects(db.sql);
    db.sql.exec("DROP TABLE organisations");
    db.sql.exec("UPDATE meta SET value = '7' WHERE key = 'schema_version'");
    const sep = "\u001f";
    db.sql.exec(
      "INSERT INTO builds (build_id, repository, sha, record, created_at) VALUES ('b1', 'Acme/App', 'aa', '{}', 1)",
    );
    db.sql.exec(
      "INSERT INTO cost_days (day, repository, runner, requirement, arm, gpu, jobs, minutes) VALUES ('2026-11-01', 'globex/site', 'vps', '', '', 0, 1, 3)",
    );
    db.sql.exec(
      "INSERT INTO fleet_jobs (job_id, state, repository, run_id, run_attempt, labels, since) VALUES (1, 'busy', '', 1, 1, '[]', 1)",
    );
    db.sql.exec("INSERT INTO repository_pins (key, id, seen_at) VALUES ('initech/*', 5, 1)");
    db.sql.exec(
      "INSERT INTO learn_stats (key, row, touched) VALUES (?, '{}', 1)",
      ["r", "default", "hooli/api", "vps"].join(sep),
    );
    db.sql.exec("INSERT INTO learn_stats (key, row, touched) VALUES (?, '{}', 2)", ["o", "default", "vps"].join(sep));
    db.sql.exec("INSERT INTO learn_rosters (key, row, touched) VALUES (?, '{}', 1)", ["b", "default", "*"].join(sep));
    db.sql.exec(
      `INSERT INTO dispatches (upstream_repository, repository, workflow, ref, upstream_sha, upstream_build, depth, next_at, created_at)
       VALUES ('piedpiper/lib', 'piedpiper/app', 'ci.yml', 'main', 'aa', 'b1', 1, 1, 1)`,
    );
    return { db, before };
  }

  it("every owner its live tables name, lower-cased, served by `ledger`, first seen at the upgrade", () => {
    const { db, before } = version7();
    expect(db.transaction(() => migrate(db.sql, { runners: null, now: T0 }))).toBe(7);
    expect(SCHEMA_VERSION).toBe(11);
    expect(schemaObjects(db.sql)).toEqual(before);
    expect(db.sql.exec("SELECT * FROM organisations ORDER BY organisation").toArray()).toEqual(
      ["acme", "globex", "hooli", "initech", "piedpiper"].map((organisation) => ({
        organisation,
        ledger: "ledger",
        first_seen: T0,
      })),
    );
    // Served as before; the next organisation gets its own Ledger.
    const store = new OrganisationStore(db.sql, "ledger");
    expect(db.transaction(() => store.assign("globex", T0 + 1))).toEqual({ ok: true, value: "ledger" });
    expect(db.transaction(() => store.assign("newco", T0 + 1))).toEqual({ ok: true, value: "org:newco" });
  });

  it("a version 1 database lists the owner of its builds", () => {
    const db = openSqlite();
    db.transaction(() => writeVersion1(db.sql));
    expect(db.transaction(() => migrate(db.sql, { runners: null, now: T0 }))).toBe(1);
    expect(db.sql.exec("SELECT organisation, ledger FROM organisations").toArray()).toEqual([
      { organisation: organisationOf(V1.repository), ledger: "ledger" },
    ]);
  });

  it("a new database lists none, and a database at version 8 is not filled again", () => {
    const { db } = directory();
    expect(db.sql.exec("SELECT COUNT(*) AS n FROM organisations").one()).toEqual({ n: 0 });
    db.sql.exec(
      "INSERT INTO builds (build_id, repository, sha, record, created_at) VALUES ('b1', 'acme/app', 'aa', '{}', 1)",
    );
    db.sql.exec("UPDATE meta SET value = '8' WHERE key = 'schema_version'");
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(8);
    expect(db.sql.exec("SELECT COUNT(*) AS n FROM organisations").one()).toEqual({ n: 0 });
  });
});

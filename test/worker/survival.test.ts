/**
 * What a real organisation sends, through the bundled Worker in workerd: ephemeral runners, lost
 * completions, environment approvals, names that are also Object.prototype's, made-up events,
 * deep paths, pathological globs, oversized identifiers, re-runs within milliseconds. One block
 * per way the router used to break; each would fail if that way came back.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { Ledger } from "../../worker/src/ledger.ts";
import { SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { FLEET_REPOSITORY, POOL_LABELS } from "../support/fleet-config.ts";
import { V1, writeVersion1 } from "../support/schema-v1.ts";
import { fleet, pool, poolJob, resetFleet } from "./fleet-helpers.ts";
import {
  call,
  deliver,
  expectError,
  expectRouted,
  kvKeys,
  ledger,
  pushPayload,
  randomRepository,
  randomSha,
  withBindings,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { changes, eventually, isClockGauge, ledgerSql, newJobId, scrape, seriesKey, sleep } from "./observability.ts";

const VPS = ["self-hosted", "vps"];

/** Sends `n` deliveries at a time. */
async function inBatches<T>(items: T[], n: number, send: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(send));
}

describe("1. the fleet stays bounded whatever runner names it sees", () => {
  beforeEach(resetFleet);

  it("200 jobs, each on a new ephemeral runner: no machine left behind, /fleet as small as before", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const before = (await call("/fleet")).text.length;
    const ids = Array.from({ length: 200 }, () => newJobId());
    await inBatches(ids, 20, async (id) => {
      const runnerName = `ephemeral-${id}`;
      for (const action of ["in_progress", "completed"] as const) {
        const res = await deliver(
          "workflow_job",
          workflowJobPayload({ repository, sha, action, id, runnerName, labels: VPS }),
        );
        expect(res.status).toBe(202);
      }
    });
    const machines = await ledgerSql("SELECT name FROM machines WHERE name LIKE 'ephemeral-%'");
    expect(machines).toEqual([]);
    expect((await call("/fleet")).text.length).toBe(before);
    // Each job is remembered a day as done (so a late event cannot bring it back), then forgotten.
    const [done] = await ledgerSql<{ n: number }>("SELECT COUNT(*) AS n FROM fleet_jobs WHERE state = 'done'");
    expect(done?.n).toBe(200);
  });
});

describe("2. a lost completed event does not hold a slot", () => {
  beforeEach(resetFleet);

  it("two jobs whose completions GitHub never sent: checked against GitHub, freed, and routing returns to the pool", async () => {
    const sha = randomSha();
    const ids = [newJobId(), newJobId()];
    for (const [i, id] of ids.entries()) {
      await poolJob({ action: "in_progress", id, sha, runnerName: `pool-${i + 1}` });
      const done = workflowJobPayload({
        repository: FLEET_REPOSITORY,
        sha,
        action: "completed",
        id,
        runId: id,
        labels: POOL_LABELS,
        runnerName: `pool-${i + 1}`,
      });
      await fetch(`${FAKE_GITHUB_URL}/__jobs/${id}`, { method: "PUT", body: JSON.stringify(done.workflow_job) });
    }
    expect(await pool()).toMatchObject({ busy: 2, saturated: true });
    const saturated = await call<{ decision: { runner: string } }>(
      `/route?repository=${FLEET_REPOSITORY}&sha=${randomSha()}`,
    );
    expect(saturated.body.decision.runner).not.toBe("pool");

    const before = await scrape();
    // An hour and more later (no run-time history yet: an hour is the usual time), the Cron run's check.
    const results = await ledger().checkJobs(Date.now() + 2 * 60 * 60_000);
    expect(results.filter((r) => r === "repaired")).toHaveLength(2);
    expect(await pool()).toMatchObject({ busy: 0, saturated: false });
    const after = await scrape();
    expect(after.value("jobChecks", { result: "repaired" }) - before.value("jobChecks", { result: "repaired" })).toBe(
      2,
    );
    expect(
      after.value("jobs", { runner: "pool", conclusion: "success" }) -
        before.value("jobs", { runner: "pool", conclusion: "success" }),
    ).toBe(2);
  });
});

describe("3. a job waiting for an environment's approval is not queued for a runner", () => {
  beforeEach(resetFleet);

  it("counted as waiting, never watched or rescued; it queues when GitHub says so", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const id = newJobId();
    const deploy = ["self-hosted", "cloudstartup", "kvm4"];
    const waiting = workflowJobPayload({ repository, sha, action: "waiting", id, labels: deploy });
    waiting.workflow_job.created_at = new Date(Date.now() - 3 * 60 * 60_000).toISOString();
    expect((await deliver("workflow_job", waiting)).status).toBe(202);
    const classes = await fleet(null);
    expect(classes.kvm4).toMatchObject({ queued: 0, waiting: 1 });
    expect(await ledgerSql("SELECT job_id FROM queue_watch WHERE job_id = ?", id)).toEqual([]);

    const queued = workflowJobPayload({ repository, sha, action: "queued", id, labels: deploy });
    queued.workflow_job.created_at = waiting.workflow_job.created_at;
    expect((await deliver("workflow_job", queued)).status).toBe(202);
    expect((await fleet(null)).kvm4).toMatchObject({ queued: 1, waiting: 0 });
    // Watched from when it queued, not from when it was created hours before.
    const [watch] = await ledgerSql<{ queued_at: number }>("SELECT queued_at FROM queue_watch WHERE job_id = ?", id);
    expect(Date.now() - (watch?.queued_at ?? 0)).toBeLessThan(60_000);
  });
});

describe("5. build ids never collide", () => {
  it("two deliveries whose ids share their first characters are two builds, neither overwritten", async () => {
    const sha = randomSha();
    const repository = randomRepository();
    const a = "5b1d8a3e-0000-4000-8000-000000000001";
    const b = "5b1d8a3e-0000-4000-8000-000000000002";
    const first = expectRouted(
      await deliver("push", pushPayload({ repository, sha, ref: "refs/heads/a" }), { delivery: a }),
    );
    const second = expectRouted(
      await deliver("push", pushPayload({ repository, sha, ref: "refs/heads/b" }), { delivery: b }),
    );
    expect(first.build_id).not.toBe(second.build_id);
    for (const { build_id } of [first, second]) {
      expect((await call(`/status?build_id=${build_id}`)).status).toBe(200);
      expect(await kvKeys(`build:${build_id}`)).toHaveLength(1);
    }
  });
});

describe("6. deep paths cost what flat paths of the same size cost", () => {
  it("a 3.9 MB push of 3,000 paths 300 directories deep is routed, the gpu file at its very end found", async () => {
    const deep = (i: number, name: string) =>
      `${Array.from({ length: 300 }, (_, d) => `d${(d + i) % 10}`).join("/")}/${name}`;
    const files = Array.from({ length: 2999 }, (_, i) => deep(i, `file-${i}.ts`));
    files.push(deep(7, "kernel.cu"));
    const payload = pushPayload({ files });
    expect(JSON.stringify(payload).length).toBeGreaterThan(3_500_000);
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision.requirement).toBe("gpu");
    expect(decision.reasons.join("\n")).toContain("kernel.cu");
  });
});

describe("7. glob cost is bounded when the rules are parsed", () => {
  it("a pattern a backtracking matcher takes seconds on is matched in linear time", async () => {
    const via = withBindings({
      ROUTING_CONFIG: JSON.stringify({
        rules: [{ id: "odd", requirement: "docker", patterns: ["**/*a*a*a*a*a*a*b"] }],
      }),
    });
    const res = await deliver("push", pushPayload({ files: [`src/${"a".repeat(100)}`] }), { via });
    expect(expectRouted(res).decision.requirement).toBe("default");
    const hit = await deliver("push", pushPayload({ files: [`src/${"a".repeat(100)}b`] }), { via });
    expect(expectRouted(hit).decision.requirement).toBe("docker");
  });

  it("a pattern over the cost bound is refused with its rule named, in the one list of problems", async () => {
    const braces = "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}";
    const via = withBindings({
      ROUTING_CONFIG: JSON.stringify({
        rules: [{ id: "costly", requirement: "docker", patterns: [`${"x".repeat(60)}${braces}`] }],
      }),
    });
    const health = await call<{ problems: string[] }>("/health", { via });
    expect(health.status).toBe(503);
    expect(health.body.problems.join("\n")).toMatch(/rules\[0\]\.patterns\[0\]: .* would cost \d+ steps per character/);
  });
});

describe("8. names that are also Object.prototype's are names like any other", () => {
  beforeEach(resetFleet);

  it.each(["acme/constructor", "acme/__proto__", "acme/toString"])(
    "repository %s is routed and found again",
    async (repository) => {
      const sha = randomSha();
      expectRouted(await deliver("push", pushPayload({ repository, sha })));
      const found = await call<{ recorded: boolean }>(`/route?repository=${repository}&sha=${sha}`);
      expect(found.body.recorded).toBe(true);
    },
  );

  it("a repository that is not owner/name (constructor, __proto__) is refused, 422", async () => {
    for (const name of ["constructor", "__proto__"]) {
      const payload = pushPayload();
      payload.repository.full_name = name;
      expectError(await deliver("push", payload), 422, "invalid_payload");
    }
  });

  it("runners named __proto__, constructor and hasOwnProperty run jobs and are counted", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const names = ["__proto__", "constructor", "hasOwnProperty"];
    const ids = names.map(() => newJobId());
    for (const [i, runnerName] of names.entries()) {
      const res = await deliver(
        "workflow_job",
        workflowJobPayload({ repository, sha, action: "in_progress", id: ids[i], runnerName, labels: VPS }),
      );
      expect(res.status, res.text).toBe(202);
    }
    const vps = (await fleet(null)).vps;
    expect(vps?.machines.map((m) => m.name).sort()).toEqual([...names].sort());
    expect(vps?.busy).toBe(3);
  });

  it("runner classes and machines named constructor, toString and hasOwnProperty are configuration like any other", async () => {
    const via = withBindings({
      ROUTING_CONFIG: JSON.stringify({
        runners: {
          constructor: {
            kind: "self-hosted",
            runsOn: ["self-hosted", "odd"],
            machines: { toString: {}, hasOwnProperty: {} },
          },
        },
        assign: { docker: "constructor" },
      }),
    });
    const res = await call<{ decision: { runner: string; runs_on: string[] } }>("/route", {
      via,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository: "acme/x", files: ["Dockerfile"] }),
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.decision.runner).toBe("constructor");
    expect(res.body.decision.runs_on.slice(0, 2)).toEqual(["self-hosted", "odd"]);
  });

  it("a routing config naming __proto__ is refused by name", async () => {
    const via = withBindings({
      ROUTING_CONFIG: '{"runners": {"__proto__": {"kind": "self-hosted", "runsOn": ["x"]}}}',
    });
    const health = await call<{ problems: string[] }>("/health", { via });
    expect(health.status).toBe(503);
    expect(health.body.problems).toContain('ROUTING_CONFIG runners.__proto__: "__proto__" is not a usable name');
  });

  it("a build id or ref longer than any there can be is a 400, not a 500", async () => {
    expectError(await call(`/status?build_id=${"x".repeat(600)}`), 400, "invalid_request");
    expectError(
      await call(`/route?repository=acme/x&sha=${randomSha()}&ref=refs/${"x".repeat(2000)}`),
      400,
      "invalid_request",
    );
    expectError(await call(`/route?repository=acme/${"x".repeat(300)}&sha=${randomSha()}`), 400, "invalid_request");
  });
});

describe("9. metric series are bounded whatever events and conclusions arrive", () => {
  it("200 made-up event names and a made-up conclusion add one series each, `other`", async () => {
    const before = await scrape();
    const names = Array.from({ length: 200 }, (_, i) => `made_up_${i}_${newJobId()}`);
    await inBatches(names, 20, async (name) => {
      expect((await deliver(name, { repository: { full_name: "acme/x" } })).status).toBe(202);
    });
    const repository = randomRepository();
    const sha = randomSha();
    const id = newJobId();
    await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "in_progress", id, labels: VPS }));
    await deliver(
      "workflow_job",
      workflowJobPayload({ repository, sha, action: "completed", id, labels: VPS, conclusion: "made_up_conclusion" }),
    );
    const after = await scrape();
    const added = changes(before, after, (key) => isClockGauge(key) || key.startsWith("ci_router_notification"));
    expect(added[seriesKey("deliveries", { event: "other", outcome: "ignored" })]).toBe(200);
    expect(added[seriesKey("jobs", { runner: "vps", conclusion: "other" })]).toBe(1);
    expect(after.text).not.toContain("made_up");
  });
});

describe("11. caps, pacing and instants", () => {
  it("a body nested deeper than 64 levels is refused, 400, before it is parsed", async () => {
    const body = `{"ref":"refs/heads/x","repository":{"full_name":"acme/x"},"deep":${"[".repeat(10_000)}${"]".repeat(10_000)}}`;
    expectError(await deliver("push", null, { body }), 400, "invalid_body");
    const route = await call("/route", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"repository":"acme/x","files":[],"x":${'{"a":'.repeat(100)}1${"}".repeat(100)}}`,
    });
    expectError(route, 400, "invalid_body");
  });

  it("a build completed, re-run and completed again within milliseconds gets one KV copy now and the last one a second later", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    await sleep(1_100);
    const runId = newJobId();
    const completed = (attempt: number, conclusion: string) => {
      const run = workflowRunPayload({ repository, sha, action: "completed", id: runId, conclusion });
      run.workflow_run.run_attempt = attempt;
      return run;
    };
    const requested = workflowRunPayload({ repository, sha, action: "requested", id: runId });
    requested.workflow_run.run_attempt = 2;
    for (const payload of [completed(1, "failure"), requested, completed(2, "success")]) {
      expect((await deliver("workflow_run", payload)).status).toBe(202);
    }
    const kv = () =>
      env.CI_STATE.get<{ conclusion: string | null; runs: Record<string, { attempt: number }> }>(
        `build:${build_id}`,
        "json",
      );
    // The first completion's copy was written at once; the last one is owed, and written when due.
    expect((await kv())?.conclusion).toBe("failure");
    const last = await eventually(kv, (b) => b?.runs[String(runId)]?.attempt === 2, 5_000);
    expect(last?.conclusion).toBe("success");
  });

  it("a job completing at 23:30 at UTC-2 on the last day of a month is billed to the next month", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const id = newJobId();
    const job = workflowJobPayload({ repository, sha, action: "completed", id, labels: VPS, runnerName: "vps-x" });
    job.workflow_job.started_at = "2026-11-30T23:00:00-02:00";
    job.workflow_job.completed_at = "2026-11-30T23:30:00-02:00";
    const repoJobs = async (period: string) =>
      (await call<{ by_repository: Record<string, { jobs: number }> }>(`/costs?period=${period}`)).body.by_repository[
        repository
      ]?.jobs ?? 0;
    expect((await deliver("workflow_job", job)).status).toBe(202);
    expect(await repoJobs("2026-11")).toBe(0);
    expect(await repoJobs("2026-12")).toBe(1);
  });
});

describe("12. /metrics reads the month's cost gauges from totals kept as jobs complete", () => {
  it("with every per-job and per-day cost row deleted, the month's gauges are unchanged", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const id = newJobId();
    await deliver(
      "workflow_job",
      workflowJobPayload({ repository, sha, action: "completed", id, labels: VPS, runnerName: "vps-y" }),
    );
    const gauges = async () => (await scrape()).text.split("\n").filter((l) => l.startsWith("ci_router_month_"));
    const before = await gauges();
    expect(before.length).toBe(3);
    await ledgerSql("DELETE FROM cost_jobs");
    await ledgerSql("DELETE FROM cost_days");
    expect(await gauges()).toEqual(before);
  });
});

describe("an old Ledger database is upgraded when the Ledger opens it", () => {
  it("a version 1 database, opened by this Worker's Ledger, holds its data in the current version's tables", async () => {
    const stub = env.LEDGER.get(env.LEDGER.idFromName("ledger-v1-upgrade"));
    const found = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      // Back to version 1, as a Worker deployed before would have left it.
      for (const { name } of sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'",
        )
        .toArray()) {
        sql.exec(`DROP TABLE ${name}`);
      }
      writeVersion1(sql);
      // The Ledger as it starts after a deploy: it upgrades the database in its constructor.
      new Ledger(state, env);
      const tables = sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name",
        )
        .toArray()
        .map((r) => r.name);
      const version = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value;
      const busy = sql
        .exec<{ machine: string }>("SELECT machine FROM fleet_jobs WHERE job_id = ?", V1.jobs.busy)
        .one().machine;
      const days = sql.exec<{ n: number }>("SELECT SUM(jobs) AS n FROM cost_days").one().n;
      const keyed = sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID' ORDER BY name",
        )
        .toArray()
        .map((r) => r.name);
      return { tables, version, busy, days, keyed };
    });
    expect(found.version).toBe(String(SCHEMA_VERSION));
    expect(found.tables).toEqual(expect.arrayContaining(["routing_jobs", "repository_pins"]));
    expect(found.tables).not.toContain("fleet");
    expect(found.tables).toContain("fleet_jobs");
    expect(found.busy).toBe("vps-1");
    expect(found.days).toBe(V1.costs.length);
    // Version 11's tables stored by their key, rebuilt from version 1's in workerd's SQLite.
    expect(found.keyed).toEqual(["commits", "cost_jobs", "deliveries", "machines"]);
    // A redelivery of a delivery version 1 recorded is still answered as a duplicate.
    const again = await stub.accept(V1.delivery, "push", { kind: "respond", status: 202, body: "{}" });
    expect(again.duplicate).toBe(true);
  });
});

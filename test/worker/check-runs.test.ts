/**
 * Check runs in GitHub App mode, through the Worker and the Ledger's alarm: a push from an App
 * installation gets one check run (queued, its summary naming the runner class and the rule),
 * created with that installation's token from the fake GitHub (test/support/fake-github.ts),
 * moved to in_progress when its first job starts and completed, neutral, with its minutes and
 * cost when the build completes; repeated alarms send nothing more; a 403 secondary rate limit
 * waits its retry-after, then is sent once. With GITHUB_TOKEN only, or `checkRun: false`, no
 * check-run call is made at all.
 *
 * The bundled Ledger reads its own bindings, which hold GITHUB_TOKEN and no App. So App mode is
 * tested on the Ledger's source class over the same storage, given the App's secrets: deliveries
 * reach it through a Ledger namespace that runs it, and its alarm is run by hand.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { SECRET_NAMES, VAR_NAMES } from "../../worker/src/bindings.ts";
import { Ledger } from "../../worker/src/ledger.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { TEST_ROUTING_CONFIG } from "../support/fleet-config.ts";
import {
  deliver,
  expectRouted,
  type Fetch,
  ledger,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  withBindings,
  workflowJobPayload,
} from "./helpers.ts";
import { changes, ledgerSql, newJobId, runAlarm, scrape, seriesKey, sleep, useManualAlarms } from "./observability.ts";

/** A new App id per rig, so that no two tests share the fake's counts or the Worker's cached tokens. */
let nextApp = 800_000 + Math.floor(Math.random() * 100_000);
const INSTALLATION = 9_001;

interface CheckRunCall {
  method: string;
  path: string;
  body: {
    name?: string;
    head_sha?: string;
    external_id?: string;
    status?: string;
    conclusion?: string;
    output?: { title: string; summary: string };
  } | null;
  token: string;
  status: number;
}

/** Every check-run call the fake GitHub answered for `repository`, oldest first. */
async function checkRunCalls(repository: string): Promise<CheckRunCall[]> {
  return (await fetch(`${FAKE_GITHUB_URL}/__check-runs/${repository}`)).json();
}

/** Makes the next `times` check-run writes on `repository` answer `status`. */
async function failNext(repository: string, status: 403 | 500, times: number): Promise<void> {
  const res = await fetch(`${FAKE_GITHUB_URL}/__check-runs/${repository}/fail`, {
    method: "POST",
    body: JSON.stringify({ status, times }),
  });
  expect(res.status).toBe(204);
}

interface Rig {
  app: string;
  /** The Worker's source with the App's secrets, recording in the Ledger's source class under them. */
  via: Fetch;
  /** Runs the Ledger's alarm once, in App mode. */
  alarm: () => Promise<void>;
}

/** An App registered with the fake GitHub; the Worker and the Ledger given its secrets (GITHUB_TOKEN stays). */
async function newRig(extra: Record<string, string> = {}): Promise<Rig> {
  const app = String(nextApp++);
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const registered = await fetch(`${FAKE_GITHUB_URL}/__apps/${app}`, {
    method: "PUT",
    body: JSON.stringify({ publicKey: await exportSPKI(publicKey) }),
  });
  expect(registered.status).toBe(204);
  const secrets = {
    [SECRET_NAMES.githubAppId]: app,
    [SECRET_NAMES.githubAppPrivateKey]: await exportPKCS8(privateKey),
    ...extra,
  };
  const appEnv = { ...env, ...secrets } as Cloudflare.Env;
  // One Ledger object per rig, so that what its desk keeps in memory lasts from one alarm to the next.
  let instance: Ledger | undefined;
  const inLedger = <T>(fn: (ledger: Ledger) => Promise<T>) =>
    runInDurableObject(ledger(), (_instance, state) => fn((instance ??= new Ledger(state, appEnv))));
  const namespace = {
    idFromName: (name: string) => env.LEDGER.idFromName(name),
    get: () => ({
      accept: (...args: Parameters<Ledger["accept"]>) => inLedger((l) => l.accept(...args)),
    }),
  };
  const via = withBindings({ ...secrets, LEDGER: namespace as unknown as Cloudflare.Env["LEDGER"] });
  return { app, via, alarm: () => inLedger((l) => l.alarm()) };
}

/** A push of a Dockerfile (docker work: the vps class, rule `docker`) from the App's installation. */
function appPush(repository: string, sha: string) {
  const payload = pushPayload({ repository, sha, files: ["services/api/Dockerfile"] });
  payload.installation = { id: INSTALLATION };
  return payload;
}

/** A workflow_job of the commit's build from the installation. */
function appJob(fields: Parameters<typeof workflowJobPayload>[0]) {
  const payload = workflowJobPayload(fields);
  payload.installation = { id: INSTALLATION };
  return payload;
}

describe("check runs in App mode", () => {
  beforeEach(async () => {
    await useManualAlarms();
  });

  it("one create with the installation's token, one update, one completion; repeated alarms send nothing more", async () => {
    const rig = await newRig();
    const before = await scrape();
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id, decision } = expectRouted(await deliver("push", appPush(repository, sha), { via: rig.via }));
    expect([decision.runner, decision.rule]).toEqual(["vps", "docker"]);
    // Queued in the delivery's transaction; nothing sent on the webhook's path.
    expect(await checkRunCalls(repository)).toEqual([]);

    await rig.alarm();
    await rig.alarm();
    const created = await checkRunCalls(repository);
    expect(created).toHaveLength(1);
    const [create] = created;
    expect(create).toMatchObject({
      method: "POST",
      path: `/repos/${repository}/check-runs`,
      token: `ghs_${rig.app}_${INSTALLATION}_1`,
      status: 201,
      body: {
        name: "ci-router",
        head_sha: sha,
        external_id: build_id,
        status: "queued",
        output: { title: "Routed to vps (docker)" },
      },
    });
    expect(create?.body).not.toHaveProperty("details_url");
    const summary = create?.body?.output?.summary ?? "";
    expect(summary).toContain("- Runner class: `vps`\n");
    expect(summary).toContain("- runs-on: `self-hosted`, `vps`\n");
    expect(summary).toContain("- Rule: `docker`\n");
    for (const reason of decision.reasons) expect(summary).toContain(reason);

    const jobId = newJobId();
    const job = (action: "queued" | "in_progress" | "completed") =>
      deliver("workflow_job", appJob({ repository, sha, action, id: jobId, runnerName: "vps-1" }), { via: rig.via });
    expect((await job("queued")).status).toBe(202);
    expect((await job("in_progress")).status).toBe(202);
    await rig.alarm();
    await rig.alarm();
    const [{ check_run_id: id } = { check_run_id: 0 }] = await ledgerSql<{ check_run_id: number }>(
      "SELECT check_run_id FROM check_runs WHERE head_sha = ?",
      sha,
    );
    expect(id).toBeGreaterThan(0);
    const updates = (await checkRunCalls(repository)).slice(1);
    expect(updates).toMatchObject([
      { method: "PATCH", path: `/repos/${repository}/check-runs/${id}`, body: { status: "in_progress" } },
    ]);
    expect(updates[0]?.body?.output?.summary).toContain("- Runners: `vps-1`\n");

    expect((await job("completed")).status).toBe(202);
    await rig.alarm();
    await rig.alarm();
    const completions = (await checkRunCalls(repository)).slice(2);
    expect(completions).toMatchObject([
      {
        method: "PATCH",
        body: { status: "completed", conclusion: "neutral", output: { title: "Finished success on vps (docker)" } },
      },
    ]);
    // The job ran 4 minutes on vps (priced by the month); GitHub-hosted would have billed them.
    const done = completions[0]?.body?.output?.summary ?? "";
    expect(done).toContain("The build finished: `success`.");
    expect(done).toContain("- Billable minutes: 4\n");
    expect(done).toContain("- Cost at the configured prices: $0.00\n");
    expect(done).toMatch(/- On GitHub-hosted runners: \$0\.0\d+ \(saved \$0\.0\d+\)\n/);

    await rig.alarm();
    expect(await checkRunCalls(repository)).toHaveLength(3);
    expect(await ledgerSql("SELECT status, sent FROM check_runs WHERE repository = ?", repository)).toEqual([
      { status: "done", sent: "completed" },
    ]);
    // Each call counted once, when it ended.
    expect(changes(before, await scrape(), (key) => !key.startsWith("ci_router_check_runs_total"))).toEqual({
      [seriesKey("checkRuns", { action: "create", outcome: "sent" })]: 1,
      [seriesKey("checkRuns", { action: "update", outcome: "sent" })]: 1,
      [seriesKey("checkRuns", { action: "complete", outcome: "sent" })]: 1,
    });
  });

  it("a push and a pull request of the same head commit, and a redelivery, create it once", async () => {
    const rig = await newRig();
    const repository = randomRepository();
    const sha = randomSha();
    const push = appPush(repository, sha);
    expectRouted(await deliver("push", push, { via: rig.via }));
    expect((await deliver("push", push, { via: rig.via })).body).toMatchObject({ duplicate: true });
    const pr = pullRequestPayload({ repository, sha, number: 12 });
    pr.installation = { id: INSTALLATION };
    expectRouted(await deliver("pull_request", pr, { via: rig.via }));
    await rig.alarm();
    await rig.alarm();
    expect((await checkRunCalls(repository)).map((c) => c.method)).toEqual(["POST"]);
    expect(await ledgerSql("SELECT COUNT(*) AS n FROM check_runs WHERE head_sha = ?", sha)).toEqual([{ n: 1 }]);
  });

  it("a 403 with retry-after: not sent again before it, sent once after it, never twice", async () => {
    const rig = await newRig();
    const before = await scrape();
    const lines: string[] = [];
    const spies = (["log", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.join(" "))),
    );
    try {
      const repository = randomRepository();
      const sha = randomSha();
      expectRouted(await deliver("push", appPush(repository, sha), { via: rig.via }));
      await failNext(repository, 403, 1);
      await rig.alarm();
      expect((await checkRunCalls(repository)).map((c) => [c.method, c.status])).toEqual([["POST", 403]]);
      // Within the second GitHub asked for: nothing.
      await rig.alarm();
      expect(await checkRunCalls(repository)).toHaveLength(1);
      const [row] = await ledgerSql<{ status: string; attempts: number; last_error: string }>(
        "SELECT status, attempts, last_error FROM check_runs WHERE head_sha = ?",
        sha,
      );
      expect(row).toMatchObject({ status: "pending", attempts: 1 });
      expect(row?.last_error).toMatch(/^429 rate limited: You have exceeded a secondary rate limit/);
      await sleep(1_100);
      await rig.alarm();
      await rig.alarm();
      // Looked up first (the refused create took nothing), then created once.
      expect((await checkRunCalls(repository)).map((c) => [c.method, c.status])).toEqual([
        ["POST", 403],
        ["GET", 200],
        ["POST", 201],
      ]);
      expect(changes(before, await scrape(), (key) => !key.startsWith("ci_router_check_runs_total"))).toEqual({
        [seriesKey("checkRuns", { action: "create", outcome: "retried" })]: 1,
        [seriesKey("checkRuns", { action: "create", outcome: "sent" })]: 1,
      });
      for (const line of lines) expect(line).not.toContain("ghs_");
      const kept = await ledgerSql<{ last_error: string | null }>(
        "SELECT last_error FROM check_runs WHERE head_sha = ?",
        sha,
      );
      expect(JSON.stringify(kept)).not.toContain("ghs_");
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it("a 500 is retried after its backoff", async () => {
    const rig = await newRig();
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", appPush(repository, sha), { via: rig.via }));
    await failNext(repository, 500, 1);
    await rig.alarm();
    await rig.alarm();
    expect((await checkRunCalls(repository)).map((c) => c.status)).toEqual([500]);
    await sleep(2_100);
    await rig.alarm();
    expect((await checkRunCalls(repository)).map((c) => [c.method, c.status])).toEqual([
      ["POST", 500],
      ["GET", 200],
      ["POST", 201],
    ]);
  });

  it("with checkRun false, none is queued or sent", async () => {
    const config = JSON.stringify({ ...TEST_ROUTING_CONFIG, checkRun: false });
    const rig = await newRig({ [VAR_NAMES.routingConfig]: config });
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", appPush(repository, sha), { via: rig.via }));
    await rig.alarm();
    expect(await checkRunCalls(repository)).toEqual([]);
    expect(await ledgerSql("SELECT COUNT(*) AS n FROM check_runs WHERE head_sha = ?", sha)).toEqual([{ n: 0 }]);
  });
});

describe("without an App", () => {
  beforeEach(async () => {
    await useManualAlarms();
  });

  it("GITHUB_TOKEN only: a delivery naming an installation gets no check run, and GitHub is never asked for one", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", appPush(repository, sha)));
    const jobId = newJobId();
    for (const action of ["in_progress", "completed"] as const) {
      await deliver("workflow_job", appJob({ repository, sha, action, id: jobId }));
    }
    await runAlarm();
    expect(await checkRunCalls(repository)).toEqual([]);
    expect(await ledgerSql("SELECT COUNT(*) AS n FROM check_runs WHERE head_sha = ?", sha)).toEqual([{ n: 0 }]);
  });
});

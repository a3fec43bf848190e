/**
 * Pre-warm: which warm hooks the configuration takes, the wake-up's body and its signature
 * (checked against @octokit/webhooks-methods and node:crypto, as a receiver would), which
 * classes a routed build wakes, what the history expects, and when a wake-up is tried again or
 * given up; over node:sqlite, the wake-ups a build queues (one per build and class, in the
 * Book's delivery transaction) and a version 8 database's wake-ups kept under their new ids.
 */
import { createHmac } from "node:crypto";
import { verify } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { openSqlite } from "../../scripts/sqlite.ts";
import {
  allPolicies,
  type BuildRecord,
  type Decision,
  type ExpectedWork,
  expectedWork,
  fail,
  labelKey,
  MAX_ATTEMPTS,
  MAX_PLACEMENTS,
  MAX_WAKE_UPS_PER_BUILD,
  MIN_ROUTED_BUILDS,
  newBuild,
  ok,
  type Plan,
  parseRoutingConfig,
  policyFor,
  ROUTED_TTL_MS,
  RoutingConfigError,
  type RoutingPolicy,
  retryAfterSeconds,
  updatePlan,
  WARM_MAX_AGE_MS,
  wakeUp,
  wakeUpClasses,
  wakeUpsOf,
  warmExpired,
  warmSecretProblems,
  warmStep,
  warmUrlProblem,
} from "../../worker/src/core/index.ts";
import { migrate, SCHEMA_VERSION } from "../../worker/src/store/schema.ts";
import { schemaObjects } from "../../worker/src/store/sql.ts";
import { WarmCalls } from "../../worker/src/store/warm.ts";
import { signBody } from "../../worker/src/warm.ts";
import { acceptPush, intentOf } from "../support/intent.ts";
import { openBook } from "./open-book.ts";

const HOOK = { url: "https://runners.example/warm", secretEnv: "WARM_SECRET_VPS" };

function problemsOf(input: unknown): readonly string[] {
  try {
    parseRoutingConfig(input);
  } catch (error) {
    if (error instanceof RoutingConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("warm hook URLs: https, plain http only on the machine itself, nothing secret in them", () => {
  it.each([
    "https://runners.example/warm",
    "https://runners.example:8443/hooks/vps",
    "http://127.0.0.1:9000/warm",
    "http://localhost/warm",
    "http://[::1]:9000/",
  ])("%s is taken", (url) => {
    expect(warmUrlProblem(url)).toBeNull();
  });

  it.each([
    "http://runners.example/warm",
    "http://127.0.0.2/warm",
    "https://user:secret@runners.example/warm",
    "https://runners.example/warm?token=abc",
    "https://runners.example/warm#x",
    "ftp://runners.example/warm",
    "runners.example/warm",
    "https:///warm",
    "https://runners example/warm",
  ])("%s is refused", (url) => {
    expect(warmUrlProblem(url)).toMatch(/must be an https URL/);
  });

  it("a URL over 2,048 characters is refused", () => {
    expect(warmUrlProblem(`https://runners.example/${"a".repeat(2048)}`)).toMatch(/longer than 2048/);
  });
});

describe("runners.<id>.warm in the routing configuration", () => {
  it("is resolved onto its class, inherited by repositories, and removed by null", () => {
    const config = parseRoutingConfig({
      runners: { vps: { warm: HOOK } },
      repositories: { "acme/app": {}, "acme/cold": { runners: { vps: { warm: null } } } },
    });
    expect(config.defaults.runners.vps?.warm).toEqual(HOOK);
    expect(config.repositories["acme/app"]?.runners.vps?.warm).toEqual(HOOK);
    expect(config.repositories["acme/cold"]?.runners.vps).not.toHaveProperty("warm");
    expect(config.defaults.runners.kvm2).not.toHaveProperty("warm");
  });

  it("reports every problem at once, an inherited one once", () => {
    const problems = problemsOf({
      runners: {
        "github-hosted": { warm: HOOK },
        vps: { warm: { url: "http://runners.example/warm", secretEnv: "WARM_VPS" } },
        kvm2: { warm: { url: HOOK.url, secretEnv: "API_TOKEN" } },
        kvm4: { warm: { url: HOOK.url, secretEnv: "warm_lower" } },
        "ai-lab": { warm: { url: HOOK.url } },
      },
      repositories: { "acme/app": {} },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        "runners.github-hosted.warm: a github-hosted class has no runners of ours to wake; only self-hosted classes take a warm hook",
        "runners.vps.warm.url: must be an https URL (http only for 127.0.0.1, localhost or [::1]) without user info, query or fragment",
        "runners.kvm2.warm.secretEnv: must be the name of a Worker secret: WARM_ and 1 to 64 of A-Z, 0-9, _",
        "runners.kvm4.warm.secretEnv: must be the name of a Worker secret: WARM_ and 1 to 64 of A-Z, 0-9, _",
      ]),
    );
    expect(problems.some((p) => p.startsWith('runners["ai-lab"].warm.secretEnv'))).toBe(true);
    expect(problems.filter((p) => p.includes("runners.vps.warm.url"))).toHaveLength(1);
  });

  it("a repository that makes a warm class GitHub-hosted is told so under its own name", () => {
    expect(
      problemsOf({
        runners: { vps: { warm: HOOK } },
        repositories: { "acme/app": { runners: { vps: { kind: "github-hosted", runsOn: ["ubuntu-latest"] } } } },
      }),
    ).toContain(
      'repositories["acme/app"].runners.vps.warm: a github-hosted class has no runners of ours to wake; only self-hosted classes take a warm hook',
    );
  });
});

describe("warmSecretProblems: a hook whose secret is not bound", () => {
  it("names the secret and where it is named, once per class, never a value", () => {
    const config = parseRoutingConfig({
      runners: { vps: { warm: HOOK }, kvm2: { warm: { ...HOOK, secretEnv: "WARM_SECRET_KVM2" } } },
      repositories: { "acme/app": {} },
    });
    const bound = new Map([["WARM_SECRET_KVM2", "s3cr3t-value"]]);
    const problems = warmSecretProblems(allPolicies(config), (name) => bound.has(name));
    expect(problems).toEqual([
      { secret: "WARM_SECRET_VPS", problem: "WARM_SECRET_VPS is not set (runners.vps.warm.secretEnv names it)" },
    ]);
    expect(JSON.stringify(warmSecretProblems(allPolicies(config), () => false))).not.toContain("s3cr3t");
  });
});

const BUILD: BuildRecord = newBuild({
  build_id: "2222222222222-5b1d8a3e",
  repository: "acme/api",
  event: "push",
  ref: "refs/heads/main",
  sha: "2222222222222222222222222222222222222222",
  delivery: "5b1d8a3e",
  decision: null,
  at: "2026-11-20T10:00:00.000Z",
});

describe("the wake-up's body and signature", () => {
  it("says, version 1, which class, which build and what it is expected to take", () => {
    expect(wakeUp(BUILD, "vps", { jobs: 3, minutes: 5 })).toEqual({
      version: 1,
      class: "vps",
      repository: "acme/api",
      sha: "2222222222222222222222222222222222222222",
      ref: "refs/heads/main",
      event: "push",
      build_id: "2222222222222-5b1d8a3e",
      expected: { jobs: 3, minutes: 5 },
      at: "2026-11-20T10:00:00.000Z",
    });
  });

  it("is signed as GitHub signs webhooks: @octokit/webhooks-methods verifies it, node:crypto agrees", async () => {
    const body = JSON.stringify(wakeUp({ ...BUILD, repository: "acme/ünïcode" }, "vps", { jobs: null, minutes: null }));
    const signature = await signBody("warm-secret", body);
    expect(signature).toBe(`sha256=${createHmac("sha256", "warm-secret").update(body, "utf8").digest("hex")}`);
    expect(await verify("warm-secret", body, signature)).toBe(true);
    expect(await verify("another-secret", body, signature)).toBe(false);
    expect(await verify("warm-secret", `${body} `, signature)).toBe(false);
  });
});

describe("expectedWork: the class's history", () => {
  /** Run-time counts per DURATION_BUCKETS bound (5 s … 7,200 s) and +Inf. */
  const runs = (bucket: number, n: number) => Array.from({ length: 12 }, (_, i) => (i === bucket ? n : 0));

  it("the median job's bucket in whole minutes, and jobs per routed build", () => {
    // 30 jobs of 2 to 5 minutes (bucket ≤ 300 s) over 10 builds.
    expect(expectedWork({ runCounts: runs(5, 30), routedBuilds: 10 })).toEqual({ jobs: 3, minutes: 5 });
    // Under a minute rounds up to 1; fewer jobs than builds still expects one.
    expect(expectedWork({ runCounts: runs(2, 20), routedBuilds: 80 })).toEqual({ jobs: 1, minutes: 1 });
  });

  it("null for what the history cannot say yet", () => {
    expect(expectedWork({ runCounts: null, routedBuilds: 0 })).toEqual({ jobs: null, minutes: null });
    // Fewer than 20 timed jobs: no median; fewer than MIN_ROUTED_BUILDS builds: no average.
    expect(expectedWork({ runCounts: runs(5, 19), routedBuilds: MIN_ROUTED_BUILDS - 1 })).toEqual({
      jobs: null,
      minutes: null,
    });
    expect(expectedWork({ runCounts: runs(5, 19), routedBuilds: MIN_ROUTED_BUILDS })).toEqual({
      jobs: 4,
      minutes: null,
    });
    expect(expectedWork({ runCounts: null, routedBuilds: 50 })).toEqual({ jobs: null, minutes: null });
  });
});

describe("sending: sent, tried again, or given up", () => {
  const routed = Date.parse("2026-11-20T10:00:00Z");
  const status = (n: number, retryAfterSeconds: number | null = null) => ok({ status: n, retryAfterSeconds });

  it("2xx is sent; other 4xx and 3xx fail at once", () => {
    expect(warmStep(status(202), 1, routed, routed)).toEqual({ kind: "sent" });
    expect(warmStep(status(400), 1, routed, routed)).toEqual({ kind: "failed", why: "400 refused" });
    expect(warmStep(status(302), 1, routed, routed)).toEqual({ kind: "failed", why: "302 refused" });
  });

  it("5xx and timeouts back off exponentially; 429 waits what Retry-After says", () => {
    expect(warmStep(status(503), 1, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 2_000,
      why: "503 server error",
    });
    expect(warmStep(status(500), 3, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 8_000,
      why: "500 server error",
    });
    expect(warmStep(fail("upstream", "timed out"), 2, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 4_000,
      why: "timed out",
    });
    expect(warmStep(status(429, 30), 1, routed, routed)).toEqual({
      kind: "retry",
      delayMs: 30_000,
      why: "429 rate limited",
    });
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts, or when a retry would come too late to help`, () => {
    expect(warmStep(status(500), MAX_ATTEMPTS, routed, routed)).toMatchObject({ kind: "failed" });
    const late = warmStep(status(429, 16 * 60), 1, routed, routed);
    expect(late).toMatchObject({
      kind: "failed",
      why: expect.stringMatching(/^429 rate limited; a retry would come too late/),
    });
    expect(warmStep(status(500), 1, routed, routed + WARM_MAX_AGE_MS - 1_000)).toMatchObject({ kind: "failed" });
    expect(warmExpired(routed, routed + WARM_MAX_AGE_MS)).toBeNull();
    expect(warmExpired(routed, routed + WARM_MAX_AGE_MS + 1)).toMatch(/not sent within 15 minutes/);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-20T10:00:00Z");
    expect(retryAfterSeconds("120", now)).toBe(120);
    expect(retryAfterSeconds(" 0 ", now)).toBe(0);
    expect(retryAfterSeconds("Fri, 20 Nov 2026 10:01:30 GMT", now)).toBe(90);
    expect(retryAfterSeconds("Fri, 20 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds("soon", now)).toBeNull();
    expect(retryAfterSeconds("-5", now)).toBeNull();
    expect(retryAfterSeconds(null, now)).toBeNull();
  });
});

/** A hook per class, each signed by a secret of its own. */
const hookOf = (runner: string) => ({
  url: `https://warm.test/${runner}`,
  secretEnv: `WARM_${runner.toUpperCase().replace(/-/g, "_")}`,
});

/** vps and kvm2 have warm hooks; ai-lab and the GitHub-hosted class have none. */
const WARM_POLICY = policyFor(
  parseRoutingConfig({ runners: { vps: { warm: hookOf("vps") }, kvm2: { warm: hookOf("kvm2") } } }),
  "acme/api",
);

/** A decision naming `runner`, with the learner's expected jobs per class when given. */
function decisionOf(runner: string, expectedJobs?: Record<string, number>): Decision {
  return {
    runner,
    runs_on: ["self-hosted", runner],
    requirement: "default",
    mode: "hybrid",
    reasons: [],
    truncated: false,
    files_known: true,
    files_count: 1,
    satisfiable: true,
    environment: null,
    rule: null,
    arm: null,
    ...(expectedJobs === undefined
      ? {}
      : {
          learned: {
            probability: 1,
            explored: false,
            greedy: runner,
            requirement: "default",
            history: Object.keys(expectedJobs).length > 0,
            expected_jobs: expectedJobs,
          },
        }),
  };
}

describe("wakeUpClasses: one wake-up per class the build is expected on", () => {
  it("a learned decision wakes each hooked class it expects half a job or more on, its jobs rounded up", () => {
    const decision = decisionOf("vps", { vps: 1, kvm2: 2.6, "ai-lab": 1, "github-hosted": 3 });
    expect(wakeUpClasses(decision, WARM_POLICY)).toEqual([
      { runner: "kvm2", jobs: 3 },
      { runner: "vps", jobs: 1 },
    ]);
    // A class with less than half a job is left asleep, even the decision's own.
    expect(wakeUpClasses(decisionOf("vps", { vps: 0.4, kvm2: 0.5 }), WARM_POLICY)).toEqual([
      { runner: "kvm2", jobs: 1 },
    ]);
  });

  it("wakes a placed class even when the decision's runner has no hook", () => {
    expect(wakeUpClasses(decisionOf("github-hosted", { "github-hosted": 1, kvm2: 1 }), WARM_POLICY)).toEqual([
      { runner: "kvm2", jobs: 1 },
    ]);
    expect(wakeUpClasses(decisionOf("github-hosted", { "github-hosted": 2 }), WARM_POLICY)).toEqual([]);
  });

  it("without expected jobs (the tree, the paths rule, an older decision): the decision's runner, as its history says", () => {
    for (const decision of [decisionOf("vps"), decisionOf("vps", {}), decisionOf("vps", { kvm2: 0.2 })]) {
      expect(wakeUpClasses(decision, WARM_POLICY)).toEqual([{ runner: "vps", jobs: null }]);
    }
    expect(wakeUpClasses(decisionOf("ai-lab"), WARM_POLICY)).toEqual([]);
    expect(wakeUpClasses(null, WARM_POLICY)).toEqual([]);
  });

  it("reads no class the policy does not configure, nor a count that is not a number", () => {
    const odd = decisionOf("vps", {
      ...JSON.parse('{"__proto__": 2, "constructor": 4, "toString": 1}'),
      unknown: 5,
      kvm2: Number.NaN,
      vps: Number.POSITIVE_INFINITY,
    });
    expect(wakeUpClasses(odd, WARM_POLICY)).toEqual([]);
  });

  it(`queues at most ${MAX_WAKE_UPS_PER_BUILD} however many classes have hooks`, () => {
    const runners = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [
        `c${i}`,
        { kind: "self-hosted", runsOn: ["self-hosted", `c${i}`], warm: hookOf(`c${i}`) },
      ]),
    );
    const policy = policyFor(parseRoutingConfig({ runners }), "acme/api");
    const expected = Object.fromEntries(Object.keys(runners).map((c, i) => [c, i + 1]));
    const woken = wakeUpClasses(decisionOf("c0", expected), policy);
    // The decision's class and one per placed job: never fewer than the learner can place.
    expect(MAX_WAKE_UPS_PER_BUILD).toBe(MAX_PLACEMENTS + 1);
    expect(woken).toHaveLength(MAX_WAKE_UPS_PER_BUILD);
    // The classes with the most jobs are the ones kept.
    expect(woken[0]).toEqual({ runner: "c39", jobs: 40 });
    expect(woken.at(-1)).toEqual({ runner: `c${40 - MAX_WAKE_UPS_PER_BUILD}`, jobs: 41 - MAX_WAKE_UPS_PER_BUILD });
  });
});

const T0 = Date.parse("2026-11-20T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

function ledgerDb() {
  const db = openSqlite();
  db.transaction(() => migrate(db.sql, { runners: null }));
  return db;
}

type StoredWakeUp = {
  id: string;
  build_id: string;
  runner_class: string;
  url: string;
  secret_env: string;
  status: string;
  body: string;
};

const storedWakeUps = (db: ReturnType<typeof openSqlite>) =>
  db.sql
    .exec<StoredWakeUp>("SELECT id, build_id, runner_class, url, secret_env, status, body FROM warm_calls ORDER BY id")
    .toArray()
    .map((row) => ({ ...row }));

describe("WarmCalls: the wake-ups a routed build queues, one per build and class", () => {
  const build = (decision: Decision | null, event = "push") => ({ ...BUILD, build_id: "b", event, decision });
  /** Queues a build's wake-ups (core/warm.ts `wakeUpsOf`) as the Book does; how many were new. */
  const enqueueBuild = (
    calls: WarmCalls,
    routed: BuildRecord,
    policy: RoutingPolicy,
    expected: (runner: string, jobs: number | null) => ExpectedWork,
    now: number,
  ) => wakeUpsOf(routed, policy, expected).filter(({ hook, body }) => calls.enqueue(hook, body, now)).length;
  /** What the history says: two minutes a job, and jobs only when the decision gives none. */
  const history = (_runner: string, jobs: number | null) => ({ jobs: jobs ?? 4, minutes: 2 });

  it("two hooked classes of a learned decision, one without a hook: two rows, b:vps and b:kvm2, their jobs rounded up", () => {
    const db = ledgerDb();
    const calls = new WarmCalls(db.sql);
    const decision = decisionOf("vps", { vps: 1.2, kvm2: 2.6, "ai-lab": 1 });
    expect(enqueueBuild(calls, build(decision), WARM_POLICY, history, T0)).toBe(2);
    const rows = storedWakeUps(db);
    expect(rows.map(({ body: _, ...row }) => row)).toEqual([
      { id: "b:kvm2", build_id: "b", runner_class: "kvm2", ...pick(hookOf("kvm2")), status: "pending" },
      { id: "b:vps", build_id: "b", runner_class: "vps", ...pick(hookOf("vps")), status: "pending" },
    ]);
    expect(rows.map((row) => JSON.parse(row.body))).toEqual([
      { ...wakeUp(build(decision), "kvm2", { jobs: 3, minutes: 2 }) },
      { ...wakeUp(build(decision), "vps", { jobs: 2, minutes: 2 }) },
    ]);
    // Both due at once, each under its own id.
    expect(calls.due(T0, 10).map((row) => row.id)).toEqual(expect.arrayContaining(["b:vps", "b:kvm2"]));
  });

  it("without expected jobs, the decision's runner alone, its jobs as the history says", () => {
    const db = ledgerDb();
    const calls = new WarmCalls(db.sql);
    expect(enqueueBuild(calls, build(decisionOf("vps", {})), WARM_POLICY, history, T0)).toBe(1);
    expect(storedWakeUps(db).map((row) => [row.id, JSON.parse(row.body).expected])).toEqual([
      ["b:vps", { jobs: 4, minutes: 2 }],
    ]);
  });

  it("never twice for a build and class; another class of the same build still is", () => {
    const db = ledgerDb();
    const calls = new WarmCalls(db.sql);
    expect(enqueueBuild(calls, build(decisionOf("vps")), WARM_POLICY, history, T0)).toBe(1);
    expect(enqueueBuild(calls, build(decisionOf("vps", { vps: 3 })), WARM_POLICY, history, T0 + 1)).toBe(0);
    expect(enqueueBuild(calls, build(decisionOf("vps", { vps: 1, kvm2: 1 })), WARM_POLICY, history, T0 + 2)).toBe(1);
    expect(storedWakeUps(db).map((row) => [row.id, JSON.parse(row.body).expected.jobs])).toEqual([
      ["b:kvm2", 1],
      ["b:vps", 4],
    ]);
    // Sent, then queued again: still nothing new.
    const [first] = calls.due(T0 + 2, 1);
    if (first === undefined) throw new Error("a wake-up was due");
    calls.record(first, ok({ status: 202, retryAfterSeconds: null }), T0 + 3);
    expect(enqueueBuild(calls, build(decisionOf("vps", { vps: 1, kvm2: 1 })), WARM_POLICY, history, T0 + 4)).toBe(0);
    expect(storedWakeUps(db)).toHaveLength(2);
  });

  it("nothing for an event other than a push or pull request, nor for a build without a decision", () => {
    const db = ledgerDb();
    const calls = new WarmCalls(db.sql);
    expect(
      enqueueBuild(calls, build(decisionOf("vps", { vps: 1 }), "workflow_dispatch"), WARM_POLICY, history, T0),
    ).toBe(0);
    expect(enqueueBuild(calls, build(null), WARM_POLICY, history, T0)).toBe(0);
    expect(enqueueBuild(calls, build(decisionOf("vps"), "pull_request"), WARM_POLICY, history, T0)).toBe(1);
    expect(storedWakeUps(db).map((row) => row.id)).toEqual(["b:vps"]);
  });
});

function pick(hook: { url: string; secretEnv: string }) {
  return { url: hook.url, secret_env: hook.secretEnv };
}

describe("the Book: a learned build wakes every class its jobs are expected on, in its delivery's transaction", () => {
  /** vps with one slot, so the learner's second job goes to kvm2; both have hooks, ai-lab none. */
  // The history's builds ran their jobs on classes other than the ones they were routed to, so
  // their routed demand lingers: the commits under test come once it has lapsed.
  const AFTER_HISTORY = T0 + ROUTED_TTL_MS;
  const CONFIG = {
    learning: { enabled: true, exploreShare: 0 },
    runners: { vps: { capacity: 1, warm: hookOf("vps") }, kvm2: { warm: hookOf("kvm2") } },
  };

  function open(config: unknown = CONFIG) {
    const { db, book, wakes } = openBook({ routing: config, db: ledgerDb() });
    let deliveries = 0;
    const accept = (name: string, payload: unknown) => {
      const intent = intentOf(name, payload, parseRoutingConfig(config));
      if (intent.kind !== "update") throw new Error(`${name}: ${JSON.stringify(intent)}`);
      const delivery = `d-${++deliveries}`;
      const plan: Plan = updatePlan(intent, delivery, iso(T0));
      book.accept(delivery, name, plan, { contentKey: intent.key }, T0);
    };
    const push = (sha: string, delivery = `d-${++deliveries}`, now = T0) => {
      const outcome = acceptPush(book, { delivery, repository: "acme/app", sha, files: ["src/index.ts"], now });
      const answer = JSON.parse(outcome.body) as { build_id: string; decision: Decision };
      return { ...answer, duplicate: outcome.duplicate };
    };
    /** A whole build: its push, its run, its jobs `build` and `test` on `runner` (5 minutes each), the run completed. */
    const build = (n: number, runner: string) => {
      const sha = n.toString(16).padStart(40, "0");
      const routed = push(sha);
      const run = (action: "requested" | "completed") => ({
        action,
        repository: { full_name: "acme/app" },
        workflow_run: {
          id: 1_000 + n,
          head_sha: sha,
          name: "CI",
          event: "push",
          status: action === "requested" ? "queued" : "completed",
          conclusion: action === "completed" ? "success" : null,
          run_attempt: 1,
          run_started_at: iso(T0 - 300_000),
          updated_at: iso(T0),
        },
      });
      accept("workflow_run", run("requested"));
      for (const [i, name] of ["build", "test"].entries()) {
        accept("workflow_job", {
          action: "completed",
          repository: { full_name: "acme/app" },
          workflow_job: {
            id: 10_000 + n * 10 + i,
            run_id: 1_000 + n,
            run_attempt: 1,
            head_sha: sha,
            name,
            status: "completed",
            conclusion: "success",
            labels: ["self-hosted", runner],
            runner_name: `${runner}-1`,
            runner_group_name: "Default",
            created_at: iso(T0 - 330_000),
            started_at: iso(T0 - 300_000),
            completed_at: iso(T0),
          },
        });
      }
      accept("workflow_run", run("completed"));
      return routed;
    };
    return { db, book, wakes, push, build };
  }

  it("each push queues the wake-ups its decision names, a class placed apart from the runner included, and wakes the alarm once", () => {
    const { db, wakes, push, build } = open();
    // History on both classes, so the learner places the build's two jobs.
    for (let n = 1; n <= 4; n++) build(n, n % 2 === 0 ? "kvm2" : "vps");
    // 20 timed kvm2 jobs of up to 5 minutes: the minutes its wake-ups carry.
    db.sql.exec(
      "INSERT INTO metric_histograms (metric, labels, sum, b5) VALUES ('runSeconds', ?, 4000, 20) ON CONFLICT (metric, labels) DO UPDATE SET b5 = b5 + 20",
      labelKey({ runner: "kvm2" }),
    );
    const policy = policyFor(parseRoutingConfig(CONFIG), "acme/app");
    let apart = 0;
    for (const sha of ["a", "b", "c", "d"]) {
      const rowsBefore = storedWakeUps(db).length;
      const wakesBefore = wakes.length;
      const { build_id, decision } = push(sha.repeat(40), undefined, AFTER_HISTORY);
      const rows = storedWakeUps(db).filter((row) => row.build_id === build_id);
      const named = wakeUpClasses(decision, policy);
      expect(rows.map((row) => row.id).sort()).toEqual(named.map((w) => `${build_id}:${w.runner}`).sort());
      expect(storedWakeUps(db)).toHaveLength(rowsBefore + named.length);
      expect(wakes.length - wakesBefore).toBe(named.length > 0 ? 1 : 0);
      for (const { runner, jobs } of named) {
        const body = JSON.parse(rows.find((row) => row.runner_class === runner)?.body ?? "{}");
        expect(body).toMatchObject({ class: runner, build_id });
        expect(body.expected.jobs).toBe(jobs ?? body.expected.jobs);
        if (runner === "kvm2") expect(body.expected.minutes).toBe(5);
      }
      if (named.length > 1 || named.some((w) => w.runner !== decision.runner)) apart++;
    }
    // The learner did place jobs apart, and their classes were woken.
    expect(apart).toBeGreaterThan(0);
  });

  it("a redelivery of a push whose build woke two classes queues nothing more", () => {
    const { db, wakes, push, build } = open();
    for (let n = 1; n <= 4; n++) build(n, n % 2 === 0 ? "kvm2" : "vps");
    const policy = policyFor(parseRoutingConfig(CONFIG), "acme/app");
    // The first of these commits whose build is expected on two hooked classes.
    const sha = ["a", "b", "c", "d", "e", "f"].map((c) => c.repeat(40));
    for (const commit of sha) {
      const delivery = `again-${commit.slice(0, 1)}`;
      const { build_id, decision } = push(commit, delivery, AFTER_HISTORY);
      if (wakeUpClasses(decision, policy).length < 2) continue;
      const rows = storedWakeUps(db);
      const wakesBefore = wakes.length;
      expect(push(commit, delivery, AFTER_HISTORY)).toMatchObject({ build_id, duplicate: true });
      expect(storedWakeUps(db)).toEqual(rows);
      expect(wakes.length).toBe(wakesBefore);
      return;
    }
    throw new Error("no build was expected on two hooked classes");
  });

  it("without learning: one wake-up, for the decision's runner, as before", () => {
    const { db, wakes, push } = open({ runners: { vps: { warm: hookOf("vps") }, kvm2: { warm: hookOf("kvm2") } } });
    const { build_id, decision } = push("e".repeat(40));
    expect(decision.runner).toBe("vps");
    expect(storedWakeUps(db).map((row) => [row.id, JSON.parse(row.body).expected])).toEqual([
      [`${build_id}:vps`, { jobs: null, minutes: null }],
    ]);
    expect(wakes).toEqual([T0]);
  });
});

/** The table as version 8 created it: one wake-up per build. */
const WARM_CALLS_V8 = `
  CREATE TABLE warm_calls (
    build_id TEXT PRIMARY KEY,
    runner_class TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_env TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX warm_calls_due ON warm_calls (status, next_at);
  CREATE INDEX warm_calls_created ON warm_calls (created_at);
`;

describe("the schema: version 8 → 9", () => {
  const tableSql = (db: ReturnType<typeof openSqlite>) =>
    db.sql
      .exec<{ name: string; sql: string }>(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'warm_calls' AND sql IS NOT NULL ORDER BY name",
      )
      .toArray()
      .map((row) => ({ ...row }));

  it("keys warm_calls by build and class, every pending and sent row kept under its new id", () => {
    const fresh = ledgerDb();
    const db = ledgerDb();
    db.sql.exec("DROP TABLE warm_calls");
    db.sql.exec(WARM_CALLS_V8);
    db.sql.exec("UPDATE meta SET value = '8' WHERE key = 'schema_version'");
    const v8 = [
      ["b1", "vps", "pending", 0, T0 + 1_000, null, T0],
      ["b2", "kvm2", "sent", 1, T0, null, T0 - 1_000],
      ["b3", "vps", "pending", 2, T0 + 4_000, "503 server error", T0 - 2_000],
      ["b4", "kvm4", "failed", 1, T0, "400 refused", T0 - 3_000],
    ] as const;
    for (const [build, runner, status, attempts, next, error, created] of v8) {
      db.sql.exec(
        "INSERT INTO warm_calls (build_id, runner_class, url, secret_env, body, status, attempts, next_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        build,
        runner,
        hookOf(runner).url,
        hookOf(runner).secretEnv,
        `{"build_id":"${build}"}`,
        status,
        attempts,
        next,
        error,
        created,
      );
    }

    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(8);
    expect(db.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(
      String(SCHEMA_VERSION),
    );
    // The same table and indexes as a new database's, nothing left of the old one.
    expect(schemaObjects(db.sql)).toEqual(schemaObjects(fresh.sql));
    expect(tableSql(db)).toEqual(tableSql(fresh));
    expect(
      db.sql
        .exec("SELECT * FROM warm_calls ORDER BY id")
        .toArray()
        .map((row) => ({ ...row })),
    ).toEqual(
      v8.map(([build, runner, status, attempts, next, error, created]) => ({
        id: `${build}:${runner}`,
        build_id: build,
        runner_class: runner,
        url: hookOf(runner).url,
        secret_env: hookOf(runner).secretEnv,
        body: `{"build_id":"${build}"}`,
        status,
        attempts,
        next_at: next,
        last_error: error,
        created_at: created,
      })),
    );

    // Sent and retried under the new id; the kept rows still stop a second wake-up of their class.
    const calls = new WarmCalls(db.sql);
    expect(calls.due(T0 + 5_000, 10).map((row) => row.id)).toEqual(["b1:vps", "b3:vps"]);
    const row = calls.due(T0 + 5_000, 10).find((r) => r.id === "b3:vps");
    if (row === undefined) throw new Error("b3's wake-up was due");
    calls.record(row, ok({ status: 202, retryAfterSeconds: null }), T0 + 5_000);
    expect(
      db.sql
        .exec<{ status: string; attempts: number }>("SELECT status, attempts FROM warm_calls WHERE id = 'b3:vps'")
        .one(),
    ).toEqual({ status: "sent", attempts: 3 });
    const again = (build: string, runner: string) =>
      calls.enqueue(
        hookOf(runner),
        { ...wakeUp({ ...BUILD, build_id: build }, runner, { jobs: null, minutes: null }) },
        T0,
      );
    expect(again("b2", "kvm2")).toBe(false);
    expect(again("b2", "vps")).toBe(true);
    // Opening it again changes nothing.
    const before = db.sql
      .exec("SELECT * FROM warm_calls ORDER BY id")
      .toArray()
      .map((r) => ({ ...r }));
    expect(db.transaction(() => migrate(db.sql, { runners: null }))).toBe(SCHEMA_VERSION);
    expect(
      db.sql
        .exec("SELECT * FROM warm_calls ORDER BY id")
        .toArray()
        .map((r) => ({ ...r })),
    ).toEqual(before);
  });
});

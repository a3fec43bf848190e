/**
 * Pre-warm: a push or pull request routed to a class with a warm hook queues one wake-up in its
 * delivery's transaction, its id `<build_id>:<class>`; the Ledger's alarm sends it to the hook (test/support/fake-warm.ts),
 * signed with the class's secret, and retries it as alerts are retried.
 *
 * The routing configuration with the hook is given as the Worker's ROUTING_CONFIG through
 * `withBindings`; the Ledger routes with the text the Worker hands it. The hook's secret is bound
 * for the Worker the same way, and for the Ledger on its own bindings: under the test bindings
 * the Ledger is the bundled Durable Object with bindings of its own, where a deployed Ledger
 * shares the Worker's.
 */
import { runInDurableObject } from "cloudflare:test";
import { verify } from "@octokit/webhooks-methods";
import { beforeEach, describe, expect, it } from "vitest";
import { VAR_NAMES } from "../../worker/src/bindings.ts";
import { labelKey, MAX_ATTEMPTS } from "../../worker/src/core/index.ts";
import { FAKE_WARM_URL, type ReceivedWakeUp, SLOW_HOOK_MS } from "../support/fake-warm.ts";
import { TEST_ROUTING_CONFIG } from "../support/fleet-config.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  type Answer,
  call,
  deliver,
  ledger,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  withBindings,
} from "./helpers.ts";
import { ledgerSql, runAlarm, type Scrape, scrape, sleep, useManualAlarms } from "./observability.ts";

/** A self-hosted class of its own, so that no other test's history or wake-ups meet these. */
const CLASS = "warmbox";
const SECRET_NAME = "WARM_SECRET_TEST";
const SECRET = "test-warm-secret";

const CONFIG = {
  ...TEST_ROUTING_CONFIG,
  runners: {
    [CLASS]: {
      kind: "self-hosted",
      runsOn: ["self-hosted", CLASS],
      warm: { url: FAKE_WARM_URL, secretEnv: SECRET_NAME },
    },
  },
  assign: { default: CLASS, docker: CLASS },
};

const via = withBindings({ [VAR_NAMES.routingConfig]: JSON.stringify(CONFIG), [SECRET_NAME]: SECRET });

/** Binds (or, with undefined, unbinds) the hook's secret on the Ledger's own bindings. */
async function bindLedgerSecret(value: string | undefined): Promise<void> {
  await runInDurableObject(ledger(), (instance) => {
    const bindings = (instance as unknown as { env: Record<string, unknown> }).env;
    if (value === undefined) delete bindings[SECRET_NAME];
    else bindings[SECRET_NAME] = value;
  });
}

interface WakeUpRow {
  runner_class: string;
  url: string;
  secret_env: string;
  status: string;
  attempts: number;
  last_error: string | null;
  body: string;
}

/** The wake-ups queued for a build. */
async function wakeUps(buildId: string): Promise<WakeUpRow[]> {
  return ledgerSql<WakeUpRow>(
    "SELECT runner_class, url, secret_env, status, attempts, last_error, body FROM warm_calls WHERE build_id = ?",
    buildId,
  );
}

/** A build's wake-up id for the class: `X-Ci-Router-Delivery`. */
const idOf = (buildId: string) => `${buildId}:${CLASS}`;

/** What the fake warm hook was sent for a wake-up id. */
async function received(delivery: string): Promise<ReceivedWakeUp[]> {
  const res = await fetch(`${new URL(FAKE_WARM_URL).origin}/__received?delivery=${encodeURIComponent(delivery)}`);
  return (await res.json()) as ReceivedWakeUp[];
}

/** The build id of a delivery the router accepted and routed to the warm class. */
function routedToClass(res: Answer): string {
  expect(res.status, res.text).toBe(202);
  expect(res.body.decision).toMatchObject({ runner: CLASS, runs_on: ["self-hosted", CLASS] });
  return res.body.build_id as string;
}

const warmCalls = (s: Scrape, outcome: "sent" | "failed") => s.value("warmCalls", { runner: CLASS, outcome });

async function push(repository = randomRepository(), options: { delivery?: string; sha?: string } = {}) {
  const payload = pushPayload({ repository, ...(options.sha === undefined ? {} : { sha: options.sha }) });
  return deliver("push", payload, { via, ...(options.delivery === undefined ? {} : { delivery: options.delivery }) });
}

beforeEach(async () => {
  await useManualAlarms();
  // Each test sends only its own wake-ups, and the class starts without history.
  await ledgerSql("DELETE FROM warm_calls");
  await ledgerSql("DELETE FROM metric_histograms WHERE labels = ?", labelKey({ runner: CLASS }));
  await ledgerSql("DELETE FROM metric_values WHERE metric = 'decisions' AND labels LIKE ?", `%"${CLASS}"%`);
  await bindLedgerSecret(SECRET);
});

describe("a push routed to a class with a warm hook wakes it once", () => {
  it("queues one wake-up in the delivery's transaction; the alarm sends it signed, with its id and a versioned body", async () => {
    const before = await scrape();
    const repository = randomRepository();
    const sha = randomSha();
    const buildId = routedToClass(await push(repository, { sha }));
    expect(await wakeUps(buildId)).toMatchObject([
      { runner_class: CLASS, url: FAKE_WARM_URL, secret_env: SECRET_NAME, status: "pending", attempts: 0 },
    ]);
    expect(await received(idOf(buildId))).toEqual([]);

    expect(await runAlarm()).toBe(true);
    const [row] = await wakeUps(buildId);
    expect(row).toMatchObject({ status: "sent", attempts: 1, last_error: null });
    // The wake-up's id is its build's and its class's, not the build's alone.
    expect(await received(buildId)).toEqual([]);
    const requests = await received(idOf(buildId));
    expect(requests).toHaveLength(1);
    const [request] = requests as [ReceivedWakeUp];
    expect(request.headers["x-ci-router-delivery"]).toBe(`${buildId}:${CLASS}`);
    expect(request.headers["content-type"]).toBe("application/json");
    const signature = request.headers["x-ci-router-signature-256"] ?? "";
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(await verify(SECRET, request.body, signature)).toBe(true);
    expect(await verify(TEST_SECRETS.webhook, request.body, signature)).toBe(false);
    // The bytes signed are the bytes stored, and the body is the documented one.
    expect(request.body).toBe(row?.body);
    expect(JSON.parse(request.body)).toEqual({
      version: 1,
      class: CLASS,
      repository,
      sha,
      ref: "refs/heads/feature",
      event: "push",
      build_id: buildId,
      expected: { jobs: null, minutes: null },
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(warmCalls(await scrape(), "sent") - warmCalls(before, "sent")).toBe(1);

    // Another alarm run sends nothing again.
    await runAlarm();
    expect(await received(idOf(buildId))).toHaveLength(1);
    expect(warmCalls(await scrape(), "sent") - warmCalls(before, "sent")).toBe(1);
  });

  it("the webhook answer does not wait for the hook: a slow hook's wake-up is still pending, unsent, when it comes", async () => {
    const started = Date.now();
    const buildId = routedToClass(await push("acme/warm-slow"));
    expect(Date.now() - started).toBeLessThan(SLOW_HOOK_MS);
    expect(await wakeUps(buildId)).toMatchObject([{ status: "pending", attempts: 0 }]);
    expect(await received(idOf(buildId))).toEqual([]);
    // The alarm is set to send it.
    expect(await runInDurableObject(ledger(), (_instance, state) => state.storage.getAlarm())).not.toBeNull();

    expect(await runAlarm()).toBe(true);
    expect(await wakeUps(buildId)).toMatchObject([{ status: "sent", attempts: 1 }]);
    expect(await received(idOf(buildId))).toHaveLength(1);
  });

  it("a redelivered push, or the same push under another delivery id, queues nothing more", async () => {
    const delivery = crypto.randomUUID();
    const repository = randomRepository();
    const sha = randomSha();
    const payload = pushPayload({ repository, sha });
    const first = await deliver("push", payload, { via, delivery });
    const buildId = routedToClass(first);
    const again = await Promise.all([
      ...Array.from({ length: 3 }, () => deliver("push", payload, { via, delivery })),
      deliver("push", payload, { via }),
    ]);
    for (const answer of again) expect(answer.body).toMatchObject({ build_id: buildId, duplicate: true });
    expect(await ledgerSql("SELECT id, build_id FROM warm_calls")).toEqual([{ id: idOf(buildId), build_id: buildId }]);
    await runAlarm();
    expect(await received(idOf(buildId))).toHaveLength(1);
  });

  it("a pull request routed to the class wakes it too; a build routed to a class without a hook queues nothing", async () => {
    // The fake GitHub lists documentation files for the pull request: lightweight work, sent to the class too.
    const everything = { ...CONFIG, assign: { ...CONFIG.assign, lightweight: CLASS } };
    const opened = await deliver("pull_request", pullRequestPayload({ repository: randomRepository() }), {
      via: withBindings({ [VAR_NAMES.routingConfig]: JSON.stringify(everything), [SECRET_NAME]: SECRET }),
    });
    const buildId = routedToClass(opened);
    expect(await wakeUps(buildId)).toMatchObject([{ status: "pending" }]);
    expect(JSON.parse((await wakeUps(buildId))[0]?.body ?? "{}")).toMatchObject({ event: "pull_request" });

    // A CUDA source: GPU work, on ai-lab, which has no hook.
    const gpu = await deliver("push", pushPayload({ files: ["kernels/x.cu"] }), { via });
    expect(gpu.body.decision).toMatchObject({ runner: "ai-lab" });
    expect(await wakeUps(gpu.body.build_id as string)).toEqual([]);
  });

  it("says what the class's history expects: the median run time and jobs per routed build", async () => {
    // 30 jobs that ran 60 to 120 s (bucket b4), over 10 builds routed to the class.
    await ledgerSql(
      "INSERT INTO metric_histograms (metric, labels, sum, b4) VALUES ('runSeconds', ?, 2700, 30)",
      labelKey({ runner: CLASS }),
    );
    await ledgerSql(
      "INSERT INTO metric_values (metric, labels, value) VALUES ('decisions', ?, 10)",
      labelKey({ runner: CLASS, requirement: "default", mode: "hybrid" }),
    );
    const buildId = routedToClass(await push());
    expect(JSON.parse((await wakeUps(buildId))[0]?.body ?? "{}").expected).toEqual({ jobs: 3, minutes: 2 });
  });
});

describe("sending retries what can succeed and counts what failed", () => {
  it("500, then 200: tried again with the same id, body and signature, and sent", async () => {
    const before = await scrape();
    const buildId = routedToClass(await push("acme/warm-500-once"));
    await runAlarm();
    expect(await wakeUps(buildId)).toMatchObject([{ status: "pending", attempts: 1, last_error: "500 server error" }]);
    expect(warmCalls(await scrape(), "sent") - warmCalls(before, "sent")).toBe(0);
    // The backoff is seconds long: make the retry due now.
    await ledgerSql("UPDATE warm_calls SET next_at = 0 WHERE build_id = ?", buildId);
    await runAlarm();
    expect(await wakeUps(buildId)).toMatchObject([{ status: "sent", attempts: 2, last_error: null }]);
    const [first, second] = (await received(idOf(buildId))) as [ReceivedWakeUp, ReceivedWakeUp];
    expect(second.body).toBe(first.body);
    expect(first.headers["x-ci-router-delivery"]).toBe(idOf(buildId));
    expect(second.headers["x-ci-router-delivery"]).toBe(idOf(buildId));
    expect(second.headers["x-ci-router-signature-256"]).toBe(first.headers["x-ci-router-signature-256"]);
    const after = await scrape();
    expect(warmCalls(after, "sent") - warmCalls(before, "sent")).toBe(1);
    expect(warmCalls(after, "failed") - warmCalls(before, "failed")).toBe(0);
  });

  it("429 with Retry-After: 0: tried again after it, and sent", async () => {
    const buildId = routedToClass(await push("acme/warm-429-once"));
    await runAlarm();
    expect(await wakeUps(buildId)).toMatchObject([{ status: "pending", attempts: 1, last_error: "429 rate limited" }]);
    await sleep(20);
    await runAlarm();
    expect(await wakeUps(buildId)).toMatchObject([{ status: "sent", attempts: 2 }]);
  });

  it(`400: failed at once, never tried again, counted failed (at most ${MAX_ATTEMPTS} attempts otherwise)`, async () => {
    const before = await scrape();
    const buildId = routedToClass(await push("acme/warm-400"));
    await runAlarm();
    expect(await wakeUps(buildId)).toMatchObject([{ status: "failed", attempts: 1, last_error: "400 refused" }]);
    await runAlarm();
    expect(await received(idOf(buildId))).toHaveLength(1);
    const after = await scrape();
    expect(warmCalls(after, "failed") - warmCalls(before, "failed")).toBe(1);
    expect(warmCalls(after, "sent") - warmCalls(before, "sent")).toBe(0);
  });

  it("a secret that is not bound: failed unsent, the error naming the secret, counted failed", async () => {
    await bindLedgerSecret(undefined);
    const before = await scrape();
    const buildId = routedToClass(await push());
    await runAlarm();
    expect(await wakeUps(buildId)).toMatchObject([
      { status: "failed", attempts: 0, last_error: `${SECRET_NAME} is not set` },
    ]);
    expect(await received(idOf(buildId))).toEqual([]);
    expect(warmCalls(await scrape(), "failed") - warmCalls(before, "failed")).toBe(1);
  });
});

describe("a warm hook the configuration cannot take is a problem of ROUTING_CONFIG", () => {
  it("on a GitHub-hosted class, over plain http to another host, or signed by a secret not named WARM_…", async () => {
    const config = {
      runners: {
        "github-hosted": { warm: { url: FAKE_WARM_URL, secretEnv: SECRET_NAME } },
        vps: { warm: { url: "http://warm.example/hook", secretEnv: "WARM_VPS" } },
        kvm2: { warm: { url: FAKE_WARM_URL, secretEnv: "API_TOKEN" } },
      },
    };
    const res = await call<{ status: string; problems: string[] }>("/health", {
      via: withBindings({ [VAR_NAMES.routingConfig]: JSON.stringify(config) }),
    });
    expect(res.status).toBe(503);
    expect(res.body.status).toBe("misconfigured");
    expect(res.body.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining("ROUTING_CONFIG runners.github-hosted.warm: a github-hosted class"),
        expect.stringContaining("ROUTING_CONFIG runners.vps.warm.url: must be an https URL"),
        expect.stringContaining("ROUTING_CONFIG runners.kvm2.warm.secretEnv: must be the name of a Worker secret"),
      ]),
    );
  });
});

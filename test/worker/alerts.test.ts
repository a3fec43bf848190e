import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_ATTEMPTS } from "../../worker/src/core/retry.ts";
import { Ledger } from "../../worker/src/ledger.ts";
import {
  call,
  deliver,
  expectRouted,
  ledger,
  pushPayload,
  randomRepository,
  randomSha,
  withBindings,
  workflowJobPayload,
} from "./helpers.ts";
import {
  githubTime,
  ledgerSql,
  newJobId,
  outbox,
  runAlarm,
  type Scrape,
  scrape,
  sleep,
  useManualAlarms,
} from "./observability.ts";

const sent = (s: Scrape, kind: string) => s.value("notifications", { kind, outcome: "sent" });
const failed = (s: Scrape, kind: string) => s.value("notifications", { kind, outcome: "failed" });
const retries = (s: Scrape) => s.value("notificationRetries");

/** A routed push of a CUDA source: a `gpu_build` alert. */
async function gpuPush(repository = randomRepository()) {
  return expectRouted(await deliver("push", pushPayload({ repository, files: ["kernels/x.cu"] })));
}

beforeEach(async () => {
  await useManualAlarms();
  // Each test counts what its own alerts do: none left by an earlier test is sent in its runs.
  await ledgerSql("DELETE FROM outbox");
  await ledgerSql("DELETE FROM queue_watch");
});

describe("Discord alerts go through the Ledger's outbox", () => {
  it("a GPU push queues a gpu_build alert; the alarm sends it, once", async () => {
    const before = await scrape();
    const { build_id, decision } = await gpuPush();
    expect(decision.requirement).toBe("gpu");
    expect(await outbox(build_id)).toMatchObject([
      { kind: "gpu_build", status: "pending", attempts: 0, last_error: null },
    ]);

    expect(await runAlarm()).toBe(true);
    const [row] = await outbox(build_id);
    expect(row).toMatchObject({ kind: "gpu_build", status: "sent", attempts: 1, last_error: null });
    const payload = JSON.parse(row?.payload ?? "{}");
    expect(payload.embeds[0].title).toMatch(/^GPU build: /);
    expect(payload.allowed_mentions).toEqual({ parse: [] });
    const after = await scrape();
    expect(sent(after, "gpu_build") - sent(before, "gpu_build")).toBe(1);

    // Another alarm run sends nothing again.
    await runAlarm();
    expect(await outbox(build_id)).toMatchObject([{ status: "sent", attempts: 1 }]);
    expect(sent(await scrape(), "gpu_build") - sent(before, "gpu_build")).toBe(1);
  });

  it("the webhook answer never waits for Discord: it comes while the alert is pending and unsent", async () => {
    // Discord always fails for this repository: an inline send would have to wait for it.
    const { build_id } = await gpuPush("acme/discord-500");
    expect(await outbox(build_id)).toMatchObject([{ kind: "gpu_build", status: "pending", attempts: 0 }]);
    // The sending is left to the alarm, which is scheduled.
    const alarm = await runInDurableObject(ledger(), (_instance, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
  });

  it("a lightweight docs push queues nothing", async () => {
    const before = await scrape();
    const { build_id, decision } = expectRouted(await deliver("push", pushPayload({ files: ["docs/guide.md"] })));
    expect(decision.requirement).toBe("lightweight");
    expect(await outbox(build_id)).toEqual([]);
    await runAlarm();
    expect(await outbox(build_id)).toEqual([]);
    const after = await scrape();
    expect(after.families.find((f) => f.name === "ci_router_notifications_total")?.metrics).toEqual(
      before.families.find((f) => f.name === "ci_router_notifications_total")?.metrics,
    );
  });

  it("a push of tag v1.0.0 queues a production_deploy alert", async () => {
    const { build_id, decision } = expectRouted(
      await deliver("push", pushPayload({ ref: "refs/tags/v1.0.0", files: ["src/index.ts"] })),
    );
    expect(decision).toMatchObject({ requirement: "deploy", environment: "production" });
    expect(await outbox(build_id)).toMatchObject([{ kind: "production_deploy", status: "pending", attempts: 0 }]);
    await runAlarm();
    expect(await outbox(build_id)).toMatchObject([{ kind: "production_deploy", status: "sent", attempts: 1 }]);
  });

  it("a redelivered GPU push does not queue a second alert", async () => {
    const delivery = crypto.randomUUID();
    const payload = pushPayload({ files: ["kernels/x.cu"] });
    const first = expectRouted(await deliver("push", payload, { delivery }));
    const again = await Promise.all(Array.from({ length: 5 }, () => deliver("push", payload, { delivery })));
    for (const answer of again) expect(answer.body).toMatchObject({ build_id: first.build_id, duplicate: true });
    expect(await outbox(first.build_id)).toMatchObject([{ kind: "gpu_build" }]);
  });
});

describe("sending retries what can succeed and keeps what failed", () => {
  it("429 with retry_after 0.05 s: still pending after the first run, sent on the next after the wait", async () => {
    const before = await scrape();
    const { build_id } = await gpuPush("acme/discord-429-once");

    await runAlarm();
    expect(await outbox(build_id)).toMatchObject([
      { kind: "gpu_build", status: "pending", attempts: 1, last_error: "429 rate limited" },
    ]);
    const between = await scrape();
    expect(retries(between) - retries(before)).toBe(1);
    expect(sent(between, "gpu_build") - sent(before, "gpu_build")).toBe(0);

    await sleep(100);
    await runAlarm();
    expect(await outbox(build_id)).toMatchObject([{ status: "sent", attempts: 2, last_error: null }]);
    const after = await scrape();
    expect(retries(after) - retries(before)).toBe(1);
    expect(sent(after, "gpu_build") - sent(before, "gpu_build")).toBe(1);
    expect(failed(after, "gpu_build") - failed(before, "gpu_build")).toBe(0);
  });

  it(`500 every time: failed after ${MAX_ATTEMPTS} attempts, its last error kept, counted failed, never deleted`, async () => {
    const before = await scrape();
    const { build_id } = await gpuPush("acme/discord-500");
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      expect(await runAlarm()).toBe(true);
      expect(await outbox(build_id)).toMatchObject([
        { status: "pending", attempts: attempt, last_error: "500 server error" },
      ]);
      // The backoff is seconds long: make the retry due now.
      await ledgerSql("UPDATE outbox SET next_at = 0 WHERE build_id = ? AND status = 'pending'", build_id);
    }
    await runAlarm();
    const [row] = await outbox(build_id);
    expect(row).toMatchObject({ kind: "gpu_build", status: "failed", attempts: MAX_ATTEMPTS });
    expect(row?.last_error).toMatch(/^500 server error/);

    const after = await scrape();
    expect(failed(after, "gpu_build") - failed(before, "gpu_build")).toBe(1);
    expect(sent(after, "gpu_build") - sent(before, "gpu_build")).toBe(0);
    expect(retries(after) - retries(before)).toBe(MAX_ATTEMPTS - 1);

    // Later runs neither retry it nor delete it.
    await ledgerSql("UPDATE outbox SET next_at = 0 WHERE build_id = ?", build_id);
    await runAlarm();
    expect(await outbox(build_id)).toEqual([row]);
    expect(failed(await scrape(), "gpu_build") - failed(before, "gpu_build")).toBe(1);
  });

  it("400: failed at once, not retried", async () => {
    const before = await scrape();
    const { build_id } = await gpuPush("acme/discord-400");
    await runAlarm();
    expect(await outbox(build_id)).toMatchObject([
      { kind: "gpu_build", status: "failed", attempts: 1, last_error: "400 refused" },
    ]);
    const after = await scrape();
    expect(failed(after, "gpu_build") - failed(before, "gpu_build")).toBe(1);
    expect(retries(after) - retries(before)).toBe(0);
  });
});

describe("without DISCORD_WEBHOOK_URL", () => {
  const unset = { DISCORD_WEBHOOK_URL: undefined };

  it("/health says discord: false", async () => {
    expect((await call("/health", { via: withBindings(unset) })).body).toMatchObject({ discord: false });
    expect((await call("/health")).body).toMatchObject({ discord: true });
  });

  // The bundled Ledger reads its own bindings, which always name the fake Discord. So its
  // Discord-less behaviour is tested on the Ledger's source class over the same storage, given
  // bindings without the URL. (No core test covers it: the check is in the Ledger itself.)
  const noDiscord = { ...env, ...unset } as Cloudflare.Env;

  it("the Ledger queues no alert", async () => {
    const stub = ledger();
    const namespace = {
      idFromName: (name: string) => env.LEDGER.idFromName(name),
      get: () => ({
        accept: (...args: Parameters<Ledger["accept"]>) =>
          runInDurableObject(stub, (_instance, state) => new Ledger(state, noDiscord).accept(...args)),
      }),
    };
    const via = withBindings({ ...unset, LEDGER: namespace as unknown as Cloudflare.Env["LEDGER"] });
    const { build_id, decision } = expectRouted(
      await deliver("push", pushPayload({ files: ["kernels/x.cu"] }), { via }),
    );
    expect(decision.requirement).toBe("gpu");
    expect(await outbox(build_id)).toEqual([]);
  });

  it("an alert already queued fails at its turn instead of waiting forever", async () => {
    const before = await scrape();
    const { build_id } = await gpuPush();
    await runInDurableObject(ledger(), (_instance, state) => new Ledger(state, noDiscord).alarm());
    expect(await outbox(build_id)).toMatchObject([
      { kind: "gpu_build", status: "failed", attempts: 0, last_error: "DISCORD_WEBHOOK_URL is not set" },
    ]);
    expect(failed(await scrape(), "gpu_build") - failed(before, "gpu_build")).toBe(1);
  });
});

describe("job alerts", () => {
  it("a job queued 20 minutes ago: the alarm raises queued_too_long and sends it", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const queued = workflowJobPayload({ repository, sha, action: "queued", id: newJobId() });
    queued.workflow_job.created_at = githubTime(Date.now() - 20 * 60_000);
    queued.workflow_job.started_at = queued.workflow_job.created_at;
    expect((await deliver("workflow_job", queued)).status).toBe(202);
    expect(await outbox(build_id)).toEqual([]);

    // One run raises it (in its transaction) and then sends what is due, this alert included.
    expect(await runAlarm()).toBe(true);
    const rows = await outbox(build_id);
    expect(rows).toMatchObject([{ kind: "queued_too_long", status: "sent", attempts: 1 }]);
    expect(JSON.parse(rows[0]?.payload ?? "{}").embeds[0].title).toMatch(/queued for 20 minutes/);

    // The watch is taken once: no second alert.
    await runAlarm();
    expect(await outbox(build_id)).toHaveLength(1);
  });

  it("a job that started in time raises none", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const id = newJobId();
    const created = Date.now() - 20 * 60_000;
    const queued = workflowJobPayload({ repository, sha, action: "queued", id });
    queued.workflow_job.created_at = githubTime(created);
    const started = workflowJobPayload({ repository, sha, action: "in_progress", id });
    started.workflow_job.created_at = githubTime(created);
    started.workflow_job.started_at = githubTime(created + 60_000);
    await deliver("workflow_job", queued);
    await deliver("workflow_job", started);

    await runAlarm();
    expect(await outbox(build_id)).toEqual([]);
    const watched = await runInDurableObject(ledger(), (_instance, state) =>
      state.storage.sql.exec("SELECT job_id FROM queue_watch WHERE job_id = ?", id).toArray(),
    );
    expect(watched).toEqual([]);
  });

  it("a job of a build routed to vps that ran on kvm2 raises fell_back when it finishes", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id, decision } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    expect(decision.runner).toBe("vps");
    const on = (action: "in_progress" | "completed", id: number) =>
      workflowJobPayload({ repository, sha, action, id, labels: ["self-hosted", "kvm2"], runnerName: "kvm2-runner-1" });
    const id = newJobId();
    expect((await deliver("workflow_job", on("in_progress", id))).status).toBe(202);
    // Judged when it finishes: until then it could be the router's own route job.
    expect(await outbox(build_id)).toEqual([]);
    expect((await deliver("workflow_job", on("completed", id))).status).toBe(202);
    const [row] = await outbox(build_id);
    expect(row).toMatchObject({ kind: "fell_back", status: "pending" });
    expect(JSON.parse(row?.payload ?? "{}").embeds[0].title).toMatch(/ran on kvm2, not vps/);
    await runAlarm();
    expect(await outbox(build_id)).toMatchObject([{ kind: "fell_back", status: "sent", attempts: 1 }]);
  });

  it("a job that starts where it was routed raises none", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { build_id } = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "in_progress", id: newJobId() }));
    await runAlarm();
    expect(await outbox(build_id)).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import {
  type Answer,
  call,
  deliver,
  examplesOf,
  expectIgnored,
  expectRouted,
  kvKeys,
  ledgerCount,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { changes, isClockGauge, outbox, scrape, seriesKey } from "./observability.ts";

/** Splits answers into the one first answer and the duplicates. */
function split(answers: Answer[]) {
  const first = answers.filter((a) => !("duplicate" in a.body));
  const duplicates = answers.filter((a) => "duplicate" in a.body);
  return { first, duplicates };
}

describe("the same event under another X-GitHub-Delivery (a repository subscribed twice, a replayed capture)", () => {
  /** Delivers `payload` twice under two delivery ids; the second is answered as the first, marked duplicate. */
  async function twice(event: string, payload: unknown): Promise<{ first: Answer; second: Answer }> {
    const first = await deliver(event, payload);
    expect(first.status, first.text).toBe(202);
    const before = await scrape();
    const second = await deliver(event, structuredClone(payload));
    expect(second.status, second.text).toBe(200);
    expect(second.body).toEqual({ ...first.body, duplicate: true });
    // Nothing counted but the duplicate itself.
    const after = await scrape();
    // (The alarm may send an earlier test's alert meanwhile: that is not this delivery's doing.)
    const notThis = (key: string) => isClockGauge(key) || key.startsWith("ci_router_notification");
    expect(changes(before, after, notThis)).toEqual({
      [seriesKey("deliveries", { event, outcome: "duplicate" })]: 1,
    });
    return { first, second };
  }

  it("push: same repository, ref, before and after", async () => {
    const repository = randomRepository();
    const payload = pushPayload({ repository, files: ["kernels/k.cu"] });
    const { first } = await twice("push", payload);
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(1);
    // A GPU build alerts once, not once per hook.
    const alerts = await outbox(String(first.body.build_id));
    expect(alerts.filter((a) => a.kind === "gpu_build")).toHaveLength(1);
  });

  it("pull_request: same number, action and head commit", async () => {
    const repository = randomRepository();
    await twice("pull_request", pullRequestPayload({ repository, number: 31 }));
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(1);
  });

  it("workflow_job: same job, action and run attempt", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const id = 700_000_000 + Math.floor(Math.random() * 1_000_000);
    await twice("workflow_job", workflowJobPayload({ repository, sha, action: "queued", id }));
    await twice("workflow_job", workflowJobPayload({ repository, sha, action: "in_progress", id }));
  });

  it("workflow_run: same run, action and attempt; a re-run's attempt is a new event", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const id = 800_000_000 + Math.floor(Math.random() * 1_000_000);
    await twice("workflow_run", workflowRunPayload({ repository, sha, action: "requested", id }));
    const rerun = workflowRunPayload({ repository, sha, action: "requested", id });
    rerun.workflow_run.run_attempt = 2;
    expect((await deliver("workflow_run", rerun)).status).toBe(202);
  });

  it("a pull request's new head commit is a new event", async () => {
    const repository = randomRepository();
    expectRouted(await deliver("pull_request", pullRequestPayload({ repository, number: 32, action: "synchronize" })));
    expectRouted(await deliver("pull_request", pullRequestPayload({ repository, number: 32, action: "synchronize" })));
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(2);
  });
});

describe("the same X-GitHub-Delivery", () => {
  it("20 concurrent copies: one first answer, 19 duplicates, one build, one KV key", async () => {
    const delivery = crypto.randomUUID();
    const repository = randomRepository();
    const payload = pushPayload({ repository, files: ["kernels/x.cu"] });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        deliver("push", payload, { delivery, contentType: i % 2 === 0 ? "json" : "form" }),
      ),
    );
    const { first, duplicates } = split(answers);
    expect(first).toHaveLength(1);
    expect(duplicates).toHaveLength(19);

    const original = expectRouted(first[0] as Answer);
    for (const dup of duplicates) {
      expect(dup.status).toBe(200);
      expect(dup.body).toEqual({ build_id: original.build_id, decision: original.decision, duplicate: true });
    }
    expect(original.decision.runner).toBe("ai-lab");

    expect(await ledgerCount("deliveries", "id = ?", delivery)).toBe(1);
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(1);
    expect(await ledgerCount("builds", "build_id = ?", original.build_id)).toBe(1);
    expect((await kvKeys(`build:${original.build_id}`)).map((k) => k.name)).toEqual([`build:${original.build_id}`]);
    expect(await kvKeys(`build:${payload.after.slice(0, 12)}`)).toHaveLength(1);
  });

  it("a redelivery after the fact gets the first answer, marked duplicate", async () => {
    const delivery = crypto.randomUUID();
    const payload = pushPayload({ files: ["docs/a.md"] });
    const first = expectRouted(await deliver("push", payload, { delivery }));
    for (const contentType of ["json", "form"] as const) {
      const again = await deliver("push", payload, { delivery, contentType });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first, duplicate: true });
    }
    expect(await ledgerCount("deliveries", "id = ?", delivery)).toBe(1);
    expect(await ledgerCount("builds", "build_id = ?", first.build_id)).toBe(1);
  });

  it("a redelivery is answered as first, even if the payload changed since (the delivery id decides)", async () => {
    const delivery = crypto.randomUUID();
    const first = expectRouted(await deliver("push", pushPayload({ files: ["docs/a.md"] }), { delivery }));
    const again = await deliver("push", pushPayload({ files: ["kernels/x.cu"] }), { delivery });
    expect(again.body).toEqual({ ...first, duplicate: true });
  });

  it("the record is the first one: a redelivery does not overwrite the build", async () => {
    const delivery = crypto.randomUUID();
    const first = expectRouted(await deliver("push", pushPayload({ files: ["docs/a.md"] }), { delivery }));
    const before = await call(`/status?build_id=${first.build_id}`);
    await deliver("push", pushPayload({ files: ["kernels/x.cu"] }), { delivery });
    const after = await call(`/status?build_id=${first.build_id}`);
    expect(after.body).toEqual(before.body);
  });

  it("ping: the duplicate carries {ok: true, duplicate: true}", async () => {
    const delivery = crypto.randomUUID();
    const payload = examplesOf("ping")[0];
    const first = await deliver("ping", payload, { delivery });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ ok: true });
    const again = await deliver("ping", payload, { delivery });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ok: true, duplicate: true });
  });

  it("ignored events: the duplicate repeats the reason", async () => {
    const delivery = crypto.randomUUID();
    const payload = examplesOf("star")[0];
    const reason = expectIgnored(await deliver("star", payload, { delivery }));
    const again = await deliver("star", payload, { delivery });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ignored: true, reason, duplicate: true });
  });

  it("20 concurrent copies of a workflow_job apply once", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const push = expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const delivery = crypto.randomUUID();
    const job = workflowJobPayload({ repository, sha, action: "in_progress", id: 777 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver("workflow_job", job, { delivery })));
    const { first, duplicates } = split(answers);
    expect(first).toHaveLength(1);
    expect(first[0]?.status).toBe(202);
    expect(first[0]?.body).toEqual({ build_id: push.build_id });
    expect(duplicates).toHaveLength(19);
    for (const dup of duplicates) expect(dup.body).toEqual({ build_id: push.build_id, duplicate: true });
    expect(await ledgerCount("deliveries", "id = ?", delivery)).toBe(1);
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(1);
  });

  it("20 concurrent copies of a workflow_job for an unseen commit create one build", async () => {
    const repository = randomRepository();
    const delivery = crypto.randomUUID();
    const job = workflowJobPayload({ repository, sha: randomSha(), action: "queued", id: 778 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver("workflow_job", job, { delivery })));
    expect(split(answers).first).toHaveLength(1);
    const ids = new Set(answers.map((a) => a.body.build_id));
    expect(ids.size).toBe(1);
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(1);
    expect(await kvKeys(`build:${[...ids][0]}`)).toHaveLength(1);
  });

  it("pushes of the same commit to two refs are two events, and two builds", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const a = expectRouted(await deliver("push", pushPayload({ repository, sha, ref: "refs/heads/a" })));
    const b = expectRouted(await deliver("push", pushPayload({ repository, sha, ref: "refs/heads/b" })));
    expect(a.build_id).not.toBe(b.build_id);
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(2);
  });

  it("a refused delivery is not remembered: the same id is processed once it is sent correctly", async () => {
    const delivery = crypto.randomUUID();
    const payload = pushPayload();
    const bad = await deliver("push", payload, { delivery, secret: "wrong" });
    expect(bad.status).toBe(401);
    expect(await ledgerCount("deliveries", "id = ?", delivery)).toBe(0);
    const good = await deliver("push", payload, { delivery });
    expectRouted(good);
  });
});

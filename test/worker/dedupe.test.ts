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
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
} from "./helpers.ts";

/** Splits answers into the one first answer and the duplicates. */
function split(answers: Answer[]) {
  const first = answers.filter((a) => !("duplicate" in a.body));
  const duplicates = answers.filter((a) => "duplicate" in a.body);
  return { first, duplicates };
}

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

  it("different deliveries of the same push are different builds", async () => {
    const repository = randomRepository();
    const payload = pushPayload({ repository });
    const a = expectRouted(await deliver("push", payload));
    const b = expectRouted(await deliver("push", payload));
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

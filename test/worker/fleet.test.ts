import { beforeEach, describe, expect, it } from "vitest";
import { FLEET_MACHINES, POOL_LABELS } from "../support/fleet-config.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { fleet, pool, poolJob, resetFleet } from "./fleet-helpers.ts";
import { call, expectError } from "./helpers.ts";
import { newJobId } from "./observability.ts";

beforeEach(resetFleet);

describe("GET /fleet: auth and methods", () => {
  it("401 without a token or with a wrong one", async () => {
    expectError(await call("/fleet", { token: null }), 401, "unauthorized");
    for (const token of ["wrong", `${TEST_SECRETS.api}x`, TEST_SECRETS.webhook]) {
      expectError(await call("/fleet", { token }), 401, "unauthorized");
    }
  });

  it("405 with Allow: GET for other methods", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await call("/fleet", { method });
      expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe("GET");
    }
  });

  it("400 for a repository that is not owner/name", async () => {
    expectError(await call("/fleet?repository=nope"), 400, "invalid_request");
  });
});

describe("GET /fleet: per class capacity, busy, free, queued and machines", () => {
  it("lists the configured machines, idle and online, before any event", async () => {
    const classes = await fleet();
    expect(classes.pool).toEqual({
      capacity: 2,
      busy: 0,
      free: 2,
      queued: 0,
      waiting: 0,
      hasMachines: true,
      saturated: false,
      offline: false,
      machines: FLEET_MACHINES.map((name) => ({
        name,
        capacity: 1,
        busy: 0,
        free: 1,
        online: true,
        lastSeen: null,
        labels: [...POOL_LABELS, name],
        jobs: [],
      })),
    });
    // A class without machines is one pool of slots.
    expect(classes.vps).toMatchObject({ hasMachines: false, machines: [], saturated: false });
  });

  it("without a repository, answers every class any policy configures", async () => {
    const classes = await fleet(null);
    expect(Object.keys(classes)).toEqual(expect.arrayContaining(["vps", "kvm2", "github-hosted", "pool", "canary"]));
    expect(classes.pool?.capacity).toBe(2);
  });

  it("follows a job from the queue to a machine and off it", async () => {
    const id = newJobId();
    await poolJob({ action: "queued", id });
    expect(await pool()).toMatchObject({ queued: 1, busy: 0, free: 2 });

    await poolJob({ action: "in_progress", id, runnerName: "pool-1" });
    const running = await pool();
    expect(running).toMatchObject({ queued: 0, busy: 1, free: 1, saturated: false });
    expect(running.machines[0]).toMatchObject({ name: "pool-1", busy: 1, free: 0, jobs: [id] });
    expect(running.machines[0]?.lastSeen).toEqual(expect.any(String));

    await poolJob({ action: "completed", id, runnerName: "pool-1" });
    const done = await pool();
    expect(done).toMatchObject({ queued: 0, busy: 0, free: 2 });
    expect(done.machines[0]).toMatchObject({ name: "pool-1", busy: 0, jobs: [] });
  });

  it("redelivered and repeated job events leave the counts exact", async () => {
    const a = newJobId();
    const b = newJobId();
    const delivery = crypto.randomUUID();
    await poolJob({ action: "in_progress", id: a, runnerName: "pool-1", delivery });
    // The same delivery again (GitHub's redelivery), and the same event under new delivery ids.
    expect((await poolJob({ action: "in_progress", id: a, runnerName: "pool-1", delivery })).status).toBe(200);
    await poolJob({ action: "in_progress", id: a, runnerName: "pool-1" });
    await poolJob({ action: "in_progress", id: b, runnerName: "pool-2" });
    await poolJob({ action: "in_progress", id: b, runnerName: "pool-2" });
    expect(await pool()).toMatchObject({ busy: 2, free: 0, saturated: true });

    const completed = crypto.randomUUID();
    await poolJob({ action: "completed", id: a, runnerName: "pool-1", delivery: completed });
    await poolJob({ action: "completed", id: a, runnerName: "pool-1", delivery: completed });
    await poolJob({ action: "completed", id: a, runnerName: "pool-1" });
    // A late in_progress for a finished job never makes it busy again.
    await poolJob({ action: "in_progress", id: a, runnerName: "pool-1" });
    const after = await pool();
    expect(after).toMatchObject({ busy: 1, free: 1, saturated: false });
    expect(after.machines.map((m) => m.jobs)).toEqual([[], [b]]);
  });

  it("20 concurrent in_progress events for distinct jobs on one machine count exactly 20", async () => {
    const ids = Array.from({ length: 20 }, () => newJobId());
    await Promise.all(ids.map((id) => poolJob({ action: "in_progress", id, runnerName: "pool-1" })));
    const load = await pool();
    const machine = load.machines.find((m) => m.name === "pool-1");
    expect(machine).toMatchObject({ busy: 20, free: 0 });
    expect(machine?.jobs).toEqual([...ids].sort((x, y) => x - y));
    expect(load.busy).toBe(20);

    await Promise.all(ids.map((id) => poolJob({ action: "completed", id, runnerName: "pool-1" })));
    expect(await pool()).toMatchObject({ busy: 0, free: 2 });
  });
});

/**
 * Routed demand: builds routed whose jobs have not queued yet, counted per class until their jobs
 * queue, their time to live passes or the bound drops them; and the learner reading it.
 */
import { describe, expect, it } from "vitest";
import {
  changesFromList,
  createStats,
  type FleetSnapshot,
  learnedChoice,
  observe,
  observeBuild,
  parseRoutingConfig,
  ROUTED_LIMIT,
  ROUTED_TTL_MS,
  RoutedDemand,
  withRouted,
} from "../../worker/src/core/index.ts";
import { classLoad, fleetOf } from "../support/snapshots.ts";

const T0 = Date.parse("2026-11-20T12:00:00Z");

describe("RoutedDemand", () => {
  it("counts a build's expected jobs per class until they queue, one job at a time", () => {
    const demand = new RoutedDemand();
    demand.routed("b1", { vps: 2, kvm2: 0.6 }, T0);
    demand.routed("b2", { vps: 1 }, T0);
    expect(demand.byClass(T0)).toEqual({ vps: 3, kvm2: 0.6 });
    demand.queued("b1", "vps");
    expect(demand.byClass(T0)).toEqual({ vps: 2, kvm2: 0.6 });
    demand.queued("b1", "kvm2");
    // b1 has one job left on vps.
    expect(demand.byClass(T0)).toEqual({ vps: 2 });
    demand.queued("b1", "vps");
    expect(demand.byClass(T0)).toEqual({ vps: 1 });
    expect(demand.size).toBe(1);
  });

  it("ends an entry once less than half a job is left on every class", () => {
    const demand = new RoutedDemand();
    demand.routed("b", { vps: 1.4, kvm2: 0.3 }, T0);
    demand.queued("b", "vps");
    expect(demand.size).toBe(0);
    expect(demand.byClass(T0)).toEqual({});
  });

  it("takes nothing for a job on a class the build was not expected on (a route job), nor for an unknown build", () => {
    const demand = new RoutedDemand();
    demand.routed("b", { vps: 2 }, T0);
    demand.queued("b", "github-hosted");
    demand.queued("b", null);
    demand.queued("other", "vps");
    expect(demand.byClass(T0)).toEqual({ vps: 2 });
  });

  it("drops a build its time to live after it was routed, and one forgotten or routed again", () => {
    const demand = new RoutedDemand();
    demand.routed("old", { vps: 1 }, T0);
    demand.routed("new", { vps: 1 }, T0 + 60_000);
    expect(demand.byClass(T0 + ROUTED_TTL_MS - 1)).toEqual({ vps: 2 });
    expect(demand.byClass(T0 + ROUTED_TTL_MS)).toEqual({ vps: 1 });
    expect(demand.size).toBe(1);
    demand.routed("new", { kvm2: 2 }, T0 + 60_000);
    expect(demand.byClass(T0 + ROUTED_TTL_MS)).toEqual({ kvm2: 2 });
    demand.forget("new");
    expect(demand.size).toBe(0);
    // Nothing expected: nothing kept.
    demand.routed("none", { vps: 0, kvm2: Number.NaN }, T0);
    expect(demand.size).toBe(0);
  });

  it(`keeps at most ${ROUTED_LIMIT} builds, the oldest dropped first, whatever the traffic`, () => {
    const demand = new RoutedDemand();
    for (let i = 0; i < ROUTED_LIMIT * 3; i++) demand.routed(`b${i}`, { vps: 1 }, T0);
    expect(demand.size).toBe(ROUTED_LIMIT);
    expect(demand.byClass(T0)).toEqual({ vps: ROUTED_LIMIT });
    // The first ones are gone, the last ones kept.
    demand.queued(`b${ROUTED_LIMIT * 3 - 1}`, "vps");
    demand.queued("b0", "vps");
    expect(demand.byClass(T0)).toEqual({ vps: ROUTED_LIMIT - 1 });
  });

  it("withRouted adds `routed` to the classes it names and leaves the snapshot it was given as it was", () => {
    const load = classLoad(2);
    const snapshot: FleetSnapshot = { vps: load, kvm2: { ...load } };
    const out = withRouted(snapshot, { vps: 3, gone: 1 });
    expect(out.vps?.routed).toBe(3);
    expect(out.kvm2).toBe(snapshot.kvm2);
    expect(Object.keys(out)).toEqual(["vps", "kvm2"]);
    expect(snapshot.vps?.routed).toBeUndefined();
  });
});

describe("the learned router reads routed demand", () => {
  const POLICY = parseRoutingConfig({}).defaults;
  const source = {
    repository: "acme/api",
    event: "push",
    ref: "refs/heads/feature",
    sha: "a".repeat(40),
    changes: changesFromList(["src/api/handlers.py"], 3000, "test"),
  };
  /** `build` runs 6 minutes on vps and kvm2 alike (so only the queue tells them apart), 8 on github-hosted. */
  function trained() {
    const s = createStats();
    for (let i = 0; i < 30; i++) {
      const key = { repository: "acme/api", workflow: "CI", job: "build", requirement: "default" as const };
      observe(s, key, "vps", { minutes: 6, queueSeconds: 45, failed: false });
      observe(s, key, "kvm2", { minutes: 6, queueSeconds: 45, failed: false });
      observe(s, key, "github-hosted", { minutes: 8, queueSeconds: 30, failed: false });
      observeBuild(s, { repository: "acme/api", requirement: "default" }, [{ workflow: "CI", job: "build" }]);
    }
    return s;
  }
  const idle = (): FleetSnapshot => fleetOf(POLICY);

  it("expects each build's jobs on the classes it placed them, and counts routed jobs as queued ahead", () => {
    const stats = trained();
    const first = learnedChoice(source, POLICY, idle(), stats, { exploreShare: 0 });
    expect(first.decision.runner).toBe("vps");
    expect(first.expected).toEqual({ vps: 1 });
    // Two more builds already routed to vps (its 2 slots) and not queued: the next one goes elsewhere.
    const busy = withRouted(idle(), { vps: 2 });
    const next = learnedChoice({ ...source, sha: "b".repeat(40) }, POLICY, busy, stats, { exploreShare: 0 });
    expect(next.decision.runner).not.toBe("vps");
    expect(next.expected).toEqual({ [next.decision.runner]: 1 });
    const vps = next.predicted.find((p) => p.runner === "vps");
    expect(vps?.queueSeconds).toBeGreaterThan(60);
  });

  it("expects nothing when the paths rule decided", () => {
    const choice = learnedChoice(source, POLICY, idle(), createStats(), { exploreShare: 0 });
    expect(choice.learned).toBe(false);
    expect(choice.expected).toEqual({});
  });
});

/**
 * The ROUTING_CONFIG the Worker tests run under. It leaves every repository on the defaults
 * except {@link FLEET_REPOSITORY}, whose docker work goes to `pool`, a class of two registered
 * machines (capacity 1 each) that falls back to kvm2, and half of whose commits (by the A/B
 * hash) go to the candidate class `canary` instead.
 */
export const FLEET_REPOSITORY = "acme/fleet";
export const FLEET_MACHINES = ["pool-1", "pool-2"] as const;
export const POOL_LABELS = ["self-hosted", "pool"];
export const CANARY_LABELS = ["self-hosted", "canary"];
export const AB_SHARE = 0.5;

export const TEST_ROUTING_CONFIG = {
  repositories: {
    [FLEET_REPOSITORY]: {
      runners: {
        pool: {
          kind: "self-hosted",
          runsOn: POOL_LABELS,
          fallback: "kvm2",
          capacity: 2,
          cost: { monthlyUsd: 20 },
          machines: Object.fromEntries(FLEET_MACHINES.map((name) => [name, {}])),
        },
        canary: {
          kind: "self-hosted",
          runsOn: CANARY_LABELS,
          fallback: "kvm2",
          capacity: 4,
          cost: { perMinuteUsd: 0.002 },
        },
      },
      assign: { docker: "pool" },
      ab: { pool: { candidate: "canary", share: AB_SHARE } },
    },
  },
};

/**
 * The ROUTING_CONFIG the Worker tests run under. It leaves every repository on the defaults
 * except {@link FLEET_REPOSITORY}, whose docker work goes to `pool`, a class of two registered
 * machines (capacity 1 each) that falls back to kvm2, and half of whose commits (by the A/B
 * hash) go to the candidate class `canary` instead; and {@link SKIPS_REPOSITORY}, whose policy
 * declares per-job path filters (routing it as the defaults do).
 */
export const FLEET_REPOSITORY = "acme/fleet";
export const FLEET_MACHINES = ["pool-1", "pool-2"] as const;
export const POOL_LABELS = ["self-hosted", "pool"];
export const CANARY_LABELS = ["self-hosted", "canary"];
export const AB_SHARE = 0.5;

/** Served to OIDC tokens: one repository by name, one pinned to an id, and every repository of an owner. */
export const OIDC_SERVED = "acme/served";
export const OIDC_PINNED = { repository: "acme/pinned", id: 777 } as const;
export const OIDC_OWNER = "oidc-org";

/** A repository on the defaults but for per-job path filters (test/worker/skip-jobs.test.ts). */
export const SKIPS_REPOSITORY = "acme/skips";
export const SKIPS_JOBS = {
  docs: { paths: ["docs/**", "*.md"] },
  api: { paths: ["services/api/**", "!services/api/**/*.md"] },
};

/**
 * Cross-repository builds (test/worker/dependencies.test.ts): a push to main of
 * {@link UPSTREAM_REPOSITORY} dispatches `ci.yml` of {@link DOWNSTREAM_REPOSITORY} at once (no
 * debounce); no other test uses either repository.
 */
export const UPSTREAM_REPOSITORY = "acme/lib-up";
export const DOWNSTREAM_REPOSITORY = "acme/app-down";
export const DOWNSTREAM_WORKFLOW = "ci.yml";

export const TEST_ROUTING_CONFIG = {
  dependencies: [
    {
      from: UPSTREAM_REPOSITORY,
      refs: ["refs/heads/main"],
      paths: ["src/**"],
      debounceSeconds: 0,
      to: [{ repository: DOWNSTREAM_REPOSITORY, workflow: DOWNSTREAM_WORKFLOW, ref: "main" }],
    },
  ],
  repositories: {
    [OIDC_SERVED]: {},
    [OIDC_PINNED.repository]: { id: OIDC_PINNED.id },
    [`${OIDC_OWNER}/*`]: {},
    [SKIPS_REPOSITORY]: { jobs: SKIPS_JOBS },
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

import { describe, expect, it } from "vitest";
import {
  type DeclaredResource,
  identities,
  key,
  ofType,
  type ProgramRun,
  repoIdOf,
  runStack,
  succeeded,
  TYPES,
} from "./harness.ts";

const NEW_REPOSITORY = "acme/new-service";

function withRepository(fullName: string, override: Record<string, unknown> = {}) {
  return (config: Record<string, unknown>) => {
    config[key("repositories")] = { ...(config[key("repositories")] as object), [fullName]: override };
  };
}

const byIdentity = (run: ProgramRun) => new Map(run.resources.map((r) => [`${r.type}::${r.name}`, r]));

/** What changes between two runs: identities added and removed, and resources whose inputs differ. */
function diff(before: ProgramRun, after: ProgramRun) {
  const [a, b] = [byIdentity(before), byIdentity(after)];
  const changed: DeclaredResource[] = [];
  for (const [identity, resource] of b) {
    const old = a.get(identity);
    if (old !== undefined && JSON.stringify(old.inputs) !== JSON.stringify(resource.inputs)) changed.push(resource);
  }
  return {
    added: identities(after).filter((id) => !a.has(id)),
    removed: identities(before).filter((id) => !b.has(id)),
    changed: changed.map((r) => `${r.type}::${r.name}`).sort(),
  };
}

/** What onboarding adds for a repository: its webhook and CI_ROUTER_URL (with OIDC no secret). */
const PER_REPOSITORY = [`${TYPES.variable}::router-url-acme-new-service`, `${TYPES.webhook}::webhook-acme-new-service`];
/** Without OIDC, also the CI_ROUTER_TOKEN secret. */
const PER_REPOSITORY_WITH_TOKEN = [`${TYPES.secret}::router-token-acme-new-service`, ...PER_REPOSITORY];
const RUNNER_GROUPS = ["ai-lab", "kvm2", "kvm4", "vps"].map((id) => `${TYPES.runnerGroup}::runner-group-${id}`);
/** The Worker changes too: its built-in routing configuration lists the repository, to serve its OIDC tokens. */
const WORKER = `${TYPES.script}::worker`;
const withoutOidc = (config: Record<string, unknown>) => {
  config[key("oidc")] = false;
};

describe("onboarding", () => {
  it("adding one repository adds exactly its webhook and variable, lists it in the Worker's routing configuration, and gives it runner-group access", async () => {
    const before = await runStack("staging");
    const after = await runStack("staging", withRepository(NEW_REPOSITORY));
    succeeded(after);
    expect(diff(before, after)).toEqual({ added: PER_REPOSITORY, removed: [], changed: [WORKER, ...RUNNER_GROUPS] });
    for (const group of ofType(after, TYPES.runnerGroup)) {
      expect(group.inputs.selectedRepositoryIds).toContain(repoIdOf(NEW_REPOSITORY));
    }
    const [script] = ofType(after, TYPES.script);
    expect(script?.inputs.content).toContain(`"${NEW_REPOSITORY}":{}`);
  });

  it("without OIDC, adding one repository also adds its CI_ROUTER_TOKEN secret", async () => {
    const before = await runStack("staging", withoutOidc);
    const after = await runStack("staging", (config) => {
      withoutOidc(config);
      withRepository(NEW_REPOSITORY)(config);
    });
    expect(diff(before, after)).toEqual({
      added: PER_REPOSITORY_WITH_TOKEN,
      removed: [],
      changed: [WORKER, ...RUNNER_GROUPS],
    });
  });

  it("removing it removes exactly those, and nothing else changes", async () => {
    const onboarded = await runStack("staging", withRepository(NEW_REPOSITORY));
    const removed = await runStack("staging");
    expect(diff(onboarded, removed)).toEqual({
      added: [],
      removed: PER_REPOSITORY,
      changed: [WORKER, ...RUNNER_GROUPS],
    });
    for (const group of ofType(removed, TYPES.runnerGroup)) {
      expect(group.inputs.selectedRepositoryIds).not.toContain(repoIdOf(NEW_REPOSITORY));
    }
  });

  it("a repository's routing overrides also reach the Worker's ROUTING_CONFIG, and only that changes there", async () => {
    const before = await runStack("staging");
    const after = await runStack("staging", withRepository(NEW_REPOSITORY, { mode: "cloudflare-only" }));
    const changes = diff(before, after);
    expect(changes.added).toEqual(PER_REPOSITORY);
    // A cloudflare-only repository runs nothing on self-hosted runners: no runner group changes.
    expect(changes.changed).toEqual([WORKER]);
    // The override travels inside the bundle, where the Worker reads it.
    const [script] = ofType(after, TYPES.script);
    expect(script?.inputs.content).toContain('"mode":"cloudflare-only"');
  });

  it("per-repository resources keep their names whatever the order or case of the list", async () => {
    const a = await runStack("staging", withRepository(NEW_REPOSITORY));
    const b = await runStack("staging", (config) => {
      config[key("repositories")] = {
        "ACME/New-Service": {},
        ...(config[key("repositories")] as object),
      };
    });
    expect(identities(b)).toEqual(identities(a));
  });
});

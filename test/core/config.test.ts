import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_ASSIGN,
  DEFAULT_DEPLOY,
  DEFAULT_POLICY,
  DEFAULT_RULES,
  DEFAULT_RUNNERS,
  hostedRunner,
  parseRoutingConfig,
  policyFor,
  RoutingConfigError,
  repositoryEntry,
  repositoryKey,
  weightOf,
} from "../../worker/src/core/index.ts";

/** The error `parseRoutingConfig` throws for `input`; fails the test when it does not throw. */
function configError(input: unknown): RoutingConfigError {
  try {
    parseRoutingConfig(input);
  } catch (error) {
    if (error instanceof RoutingConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("parseRoutingConfig: defaults", () => {
  it.each([
    ["{}", {}],
    ["undefined", undefined],
    ["null", null],
  ])("%s → the defaults", (_, input) => {
    const config = parseRoutingConfig(input);
    expect(config.defaults).toEqual(DEFAULT_POLICY);
    expect(config.repositories).toEqual({});
  });

  it("no argument → the defaults", () => {
    expect(parseRoutingConfig().defaults).toEqual(DEFAULT_POLICY);
  });

  it("the defaults match the runner pool the README documents", () => {
    const { defaults } = parseRoutingConfig({});
    expect(defaults.mode).toBe("hybrid");
    expect(
      Object.fromEntries(Object.values(defaults.runners).map((r) => [r.id, [r.kind, r.runsOn, r.fallback]])),
    ).toEqual({
      "ai-lab": ["self-hosted", ["self-hosted", "ai-lab", "gpu"], null],
      vps: ["self-hosted", ["self-hosted", "vps"], "kvm2"],
      kvm4: ["self-hosted", ["self-hosted", "cloudstartup", "kvm4"], null],
      "github-hosted": ["github-hosted", ["ubuntu-latest"], null],
      kvm2: ["self-hosted", ["self-hosted", "kvm2"], "github-hosted"],
    });
    expect(defaults.assign).toEqual({
      gpu: "ai-lab",
      docker: "vps",
      deploy: "kvm4",
      lightweight: "github-hosted",
      default: "vps",
    });
    expect(defaults.deploy).toEqual({
      refs: [
        { ref: "refs/heads/main", environment: "staging" },
        { ref: "refs/heads/production", environment: "production" },
        { ref: "refs/tags/v*", environment: "production" },
      ],
      paths: ["deploy/**"],
    });
    expect(defaults.rules.map((r) => [r.id, r.requirement, r.patterns.length])).toEqual([
      ["gpu", "gpu", 5],
      ["docker", "docker", 5],
      ["lightweight", "lightweight", 12],
    ]);
  });

  it("the default rules themselves pass validation when given explicitly", () => {
    const config = parseRoutingConfig({ rules: DEFAULT_RULES, deploy: DEFAULT_DEPLOY, assign: DEFAULT_ASSIGN });
    expect(config.defaults.rules).toEqual(DEFAULT_RULES);
  });
});

describe("parseRoutingConfig: overrides merge over the defaults", () => {
  it("a partial runner override keeps the runner's other fields", () => {
    const { defaults } = parseRoutingConfig({ runners: { vps: { capacity: 4 } } });
    expect(defaults.runners.vps).toEqual({ ...DEFAULT_RUNNERS.vps, capacity: 4 });
    expect(defaults.runners.kvm4).toEqual(DEFAULT_RUNNERS.kvm4);
  });

  it("a fallback can be cleared with null, and cost replaced", () => {
    const { defaults } = parseRoutingConfig({ runners: { vps: { fallback: null, cost: { perMinuteUsd: 0.01 } } } });
    expect(defaults.runners.vps).toEqual({
      id: "vps",
      kind: "self-hosted",
      runsOn: ["self-hosted", "vps"],
      fallback: null,
      capacity: 2,
      cost: { perMinuteUsd: 0.01 },
    });
  });

  it("a new runner with kind and runsOn gets default capacity, cost and fallback", () => {
    const { defaults } = parseRoutingConfig({
      runners: { arm: { kind: "self-hosted", runsOn: ["self-hosted", "arm64"] } },
      assign: { default: "arm" },
    });
    expect(defaults.runners.arm).toEqual({
      id: "arm",
      kind: "self-hosted",
      runsOn: ["self-hosted", "arm64"],
      fallback: null,
      capacity: 1,
      cost: { monthlyUsd: 0 },
    });
    expect(defaults.assign).toEqual({ ...DEFAULT_ASSIGN, default: "arm" });
  });

  it.each([
    [{ kind: "self-hosted" }, 'runners.arm: a new runner needs "kind" and "runsOn"'],
    [{ runsOn: ["arm"] }, 'runners.arm: a new runner needs "kind" and "runsOn"'],
  ])("a new runner without kind or runsOn is rejected: %j", (arm, problem) => {
    expect(configError({ runners: { arm } }).problems).toEqual([problem]);
  });

  it("rules replace the default rules as a whole; mode and deploy override", () => {
    const rules = [{ id: "notebooks", requirement: "gpu", patterns: ["**/*.ipynb"] }];
    const deploy = { refs: [{ ref: "refs/heads/release", environment: "prod" }], paths: ["k8s/**"] };
    const { defaults } = parseRoutingConfig({ mode: "self-hosted-only", rules, deploy });
    expect(defaults.mode).toBe("self-hosted-only");
    expect(defaults.rules).toEqual(rules);
    expect(defaults.deploy).toEqual(deploy);
    expect(defaults.runners).toEqual(DEFAULT_RUNNERS);
  });

  it("repositories apply over the top level, keyed case-insensitively", () => {
    const config = parseRoutingConfig({
      runners: { vps: { capacity: 3 } },
      repositories: { "Acme/ML": { mode: "cloudflare-only", assign: { docker: "kvm2" } } },
    });
    expect(Object.keys(config.repositories)).toEqual(["acme/ml"]);
    const ml = policyFor(config, "ACME/ml");
    expect(ml).toBe(policyFor(config, "acme/ML"));
    expect(ml.mode).toBe("cloudflare-only");
    expect(ml.assign).toEqual({ ...DEFAULT_ASSIGN, docker: "kvm2" });
    // Inherits the top-level runner override, not only the built-in defaults.
    expect(ml.runners.vps?.capacity).toBe(3);
    expect(policyFor(config, "acme/other")).toBe(config.defaults);
    expect(config.defaults.mode).toBe("hybrid");
  });

  it("hostedRunner prefers the runner assigned to lightweight, else any github-hosted one", () => {
    expect(hostedRunner(DEFAULT_POLICY)?.id).toBe("github-hosted");
    const { defaults } = parseRoutingConfig({
      runners: { big: { kind: "github-hosted", runsOn: ["ubuntu-24.04-16core"], cost: { perMinuteUsd: 0.042 } } },
      assign: { lightweight: "big" },
    });
    expect(hostedRunner(defaults)?.id).toBe("big");
    const { defaults: selfHosted } = parseRoutingConfig({ assign: { lightweight: "kvm2" } });
    expect(hostedRunner(selfHosted)?.id).toBe("github-hosted");
  });
});

describe("GitHub-hosted prices", () => {
  it("the default pool's GitHub-hosted class costs GitHub's ubuntu-latest rate, $0.006 a minute", () => {
    expect(DEFAULT_POLICY.runners["github-hosted"]?.cost).toEqual({ perMinuteUsd: 0.006 });
  });

  it("a GitHub-hosted class without a cost is priced by its labels; a given cost wins", () => {
    const { defaults } = parseRoutingConfig({
      runners: {
        win: { kind: "github-hosted", runsOn: ["windows-latest"] },
        mac: { kind: "github-hosted", runsOn: ["macos-15"] },
        arm: { kind: "github-hosted", runsOn: ["ubuntu-24.04-arm"] },
        "github-hosted": { runsOn: ["ubuntu-slim"] },
        priced: { kind: "github-hosted", runsOn: ["ubuntu-latest"], cost: { perMinuteUsd: 0.04 } },
      },
    });
    expect(defaults.runners.win?.cost).toEqual({ perMinuteUsd: 0.01 });
    expect(defaults.runners.mac?.cost).toEqual({ perMinuteUsd: 0.062 });
    expect(defaults.runners.arm?.cost).toEqual({ perMinuteUsd: 0.005 });
    expect(defaults.runners["github-hosted"]?.cost).toEqual({ perMinuteUsd: 0.002 });
    expect(defaults.runners.priced?.cost).toEqual({ perMinuteUsd: 0.04 });
  });

  it("a GitHub-hosted class on labels GitHub does not price (a larger runner) must state its cost", () => {
    expect(() =>
      parseRoutingConfig({ runners: { big: { kind: "github-hosted", runsOn: ["ubuntu-24.04-16core"] } } }),
    ).toThrow(/runners\.big\.cost: GitHub's price for \["ubuntu-24\.04-16core"\] is not known/);
  });

  it("examples/seed-month.json keeps the $0.04 a minute the first cost tables used", () => {
    const seed = JSON.parse(readFileSync(new URL("../../examples/seed-month.json", import.meta.url), "utf8"));
    expect(parseRoutingConfig(seed).defaults.runners["github-hosted"]?.cost).toEqual({ perMinuteUsd: 0.04 });
  });
});

describe("parseRoutingConfig: validation", () => {
  const broken = {
    modes: "hybrid",
    runners: {
      vps: { fallback: "kvm9" },
      kvm2: { cost: { perMinuteUsd: -0.5 } },
      "ci-1": { kind: "self-hosted", runsOn: ["self-hosted", "ci-1"], fallback: "ci-2" },
      "ci-2": { kind: "self-hosted", runsOn: ["self-hosted", "ci-2"], fallback: "ci-1" },
    },
    rules: [
      { id: "gpu", requirement: "gpu", patterns: [] },
      { id: "docker", requirement: "docker", patterns: ["/services/**"] },
      { id: "docker", requirement: "docker", patterns: ["docker\\**"] },
    ],
    assign: { gpu: "gpu-box" },
    repositories: {
      "not a repo": {},
      "acme/fast": { mode: "fast" },
      "acme/solo": { mode: "self-hosted-only", assign: { default: "github-hosted" } },
    },
  };

  const expected = [
    ["unknown key typo", '(root): Unrecognized key: "modes"'],
    [
      "bad mode",
      'repositories["acme/fast"].mode: Invalid option: expected one of "hybrid"|"self-hosted-only"|"cloudflare-only"',
    ],
    ["empty patterns list", "rules[0].patterns: must list at least one pattern"],
    [
      "pattern with a leading '/'",
      `rules[1].patterns[0]: "/services/**" must be relative to the repository root (no leading '/')`,
    ],
    ["pattern with '\\'", `rules[2].patterns[0]: "docker\\**" must use '/' as separator (no '\\')`],
    ["duplicate rule id", 'rules[2].id: "docker" is used by an earlier rule'],
    ["assign to an unknown runner", 'assign.gpu: unknown runner "gpu-box"'],
    ["fallback to an unknown runner", 'runners.vps.fallback: unknown runner "kvm9"'],
    ["fallback cycle", "runners.ci-1.fallback: cycle ci-1 → ci-2 → ci-1"],
    [
      "bad repository key",
      'repositories["not a repo"]: must be "owner/name", or "owner/*" for every repository of an owner',
    ],
    ["negative cost", "runners.kvm2.cost.perMinuteUsd: must be 0 or more"],
    [
      "self-hosted-only with a github-hosted default runner",
      'repositories["acme/solo"].mode: "self-hosted-only" needs assign.default to be a self-hosted runner',
    ],
  ] as const;

  const error = configError(broken);

  it("throws one RoutingConfigError naming every problem, each once", () => {
    expect(error).toBeInstanceOf(RoutingConfigError);
    expect(error.name).toBe("RoutingConfigError");
    expect([...error.problems].sort()).toEqual(expected.map(([, problem]) => problem).sort());
    expect(error.message.split("\n")[0]).toBe("invalid routing config (12 problems):");
  });

  it.each(expected)("reports the %s in problems and in the message", (_, problem) => {
    expect(error.problems).toContain(problem);
    expect(error.message).toContain(`\n  - ${problem}`);
  });

  it("pins the whole message of a two-problem config", () => {
    expect(() =>
      parseRoutingConfig({
        mode: "turbo",
        rules: [{ id: "docs", requirement: "lightweight", patterns: ["/docs/**"] }],
      }),
    ).toThrowErrorMatchingInlineSnapshot(`
      [RoutingConfigError: invalid routing config (2 problems):
        - mode: Invalid option: expected one of "hybrid"|"self-hosted-only"|"cloudflare-only"
        - rules[0].patterns[0]: "/docs/**" must be relative to the repository root (no leading '/')]
    `);
  });

  it("says '1 problem' for one", () => {
    expect(configError({ assign: { default: "nope" } }).message).toBe(
      'invalid routing config (1 problem):\n  - assign.default: unknown runner "nope"',
    );
  });

  it.each<[string, unknown, string[]]>([
    ["not an object", "nonsense", ["(root): Invalid input: expected object, received string"]],
    ["an array", [], ["(root): Invalid input: expected object, received array"]],
    ["unknown requirement", { assign: { fast: "vps" } }, ['assign: Unrecognized key: "fast"']],
    [
      "rule requirement deploy",
      { rules: [{ id: "d", requirement: "deploy", patterns: ["x"] }] },
      ['rules[0].requirement: Invalid option: expected one of "gpu"|"docker"|"lightweight"'],
    ],
    ["zero capacity", { runners: { vps: { capacity: 0 } } }, ["runners.vps.capacity: must be at least 1"]],
    ["empty runsOn", { runners: { vps: { runsOn: [] } } }, ["runners.vps.runsOn: must name at least one label"]],
    ["empty rule id", { rules: [{ id: "", requirement: "gpu", patterns: ["x"] }] }, ["rules[0].id: must not be empty"]],
    [
      "both cost models",
      { runners: { vps: { cost: { monthlyUsd: 1, perMinuteUsd: 1 } } } },
      ["runners.vps.cost: Invalid input"],
    ],
    [
      "deploy ref not a full ref",
      { deploy: { refs: [{ ref: "main", environment: "staging" }], paths: ["deploy/**"] } },
      ['deploy.refs[0].ref: "main" must be a full ref starting with "refs/"'],
    ],
    [
      "bad deploy path",
      { deploy: { refs: [], paths: ["./deploy/**"] } },
      [`deploy.paths[0]: "./deploy/**" must not start with './'`],
    ],
    [
      "negated pattern",
      { rules: [{ id: "x", requirement: "gpu", patterns: ["!docs/**"] }] },
      [`rules[0].patterns[0]: "!docs/**" negation ('!') is not supported; list what matches instead`],
    ],
    [
      "cloudflare-only without a github-hosted runner",
      { mode: "cloudflare-only", runners: { "github-hosted": { kind: "self-hosted" } } },
      ['mode: "cloudflare-only" needs a runner of kind "github-hosted"'],
    ],
    [
      "a cycle entered from outside is reported once",
      { runners: { vps: { fallback: "kvm2" }, kvm2: { fallback: "kvm4" }, kvm4: { fallback: "kvm2" } } },
      ["runners.kvm2.fallback: cycle kvm2 → kvm4 → kvm2"],
    ],
    [
      "repository key differing only in case",
      { repositories: { "Acme/App": {}, "acme/app": { mode: "self-hosted-only" } } },
      ['repositories["acme/app"]: the same repository as repositories["Acme/App"] (names are case-insensitive)'],
    ],
    [
      "unknown key inside a repository",
      { repositories: { "acme/app": { mod: "hybrid" } } },
      ['repositories["acme/app"]: Unrecognized key: "mod"'],
    ],
    [
      "a repository's own bad rules and runners",
      {
        repositories: {
          "acme/app": {
            rules: [{ id: "x", requirement: "gpu", patterns: ["a\\b"] }],
            runners: { vps: { fallback: "ghost" } },
          },
        },
      },
      [
        `repositories["acme/app"].rules[0].patterns[0]: "a\\b" must use '/' as separator (no '\\')`,
        'repositories["acme/app"].runners.vps.fallback: unknown runner "ghost"',
      ],
    ],
  ])("%s", (_, input, problems) => {
    expect(configError(input).problems).toEqual(problems);
  });

  it("a problem inherited by a repository is reported once, at the top level", () => {
    const error = configError({
      assign: { gpu: "gpu-box" },
      repositories: { "acme/a": {}, "acme/b": { mode: "self-hosted-only" } },
    });
    expect(error.problems).toEqual(['assign.gpu: unknown runner "gpu-box"']);
  });

  it("a runner falling back to itself is a cycle", () => {
    expect(configError({ runners: { vps: { fallback: "vps" } } }).problems).toEqual([
      "runners.vps.fallback: cycle vps → vps",
    ]);
  });
});

describe("parseRoutingConfig: load-aware keys", () => {
  it("defaults: failover for docker, default and lightweight, two rescues a run, no A/B, no machines", () => {
    const { defaults } = parseRoutingConfig({});
    expect(defaults.failover).toEqual({
      requirements: ["docker", "default", "lightweight"],
      rescue: { enabled: true, maxPerRun: 2 },
    });
    expect(defaults.ab).toEqual({});
    expect(defaults.runners.vps?.machines).toBeUndefined();
    expect(defaults.runners.vps?.queueTargetSeconds).toBeUndefined();
  });

  it("machines, queue targets, failover and A/B resolve, and repositories override them", () => {
    const config = parseRoutingConfig({
      runners: {
        vps: { queueTargetSeconds: 300, machines: { "vps-1": {}, "vps-2": { capacity: 2, labels: ["arm64"] } } },
      },
      failover: { requirements: ["lightweight", "gpu"], rescue: { maxPerRun: 0 } },
      ab: { vps: { candidate: "kvm2", share: 0.1 } },
      repositories: {
        "acme/ml": { runners: { vps: { machines: { "vps-9": {} } } }, failover: { rescue: { enabled: false } } },
      },
    });
    expect(config.defaults.runners.vps).toEqual({
      ...DEFAULT_RUNNERS.vps,
      queueTargetSeconds: 300,
      machines: { "vps-1": { capacity: 1, labels: [] }, "vps-2": { capacity: 2, labels: ["arm64"] } },
    });
    expect(config.defaults.failover).toEqual({
      requirements: ["gpu", "lightweight"],
      rescue: { enabled: true, maxPerRun: 0 },
    });
    expect(config.defaults.ab).toEqual({ vps: { candidate: "kvm2", share: 0.1 } });
    const ml = policyFor(config, "acme/ml");
    expect(ml.runners.vps?.machines).toEqual({ "vps-9": { capacity: 1, labels: [] } });
    expect(ml.runners.vps?.queueTargetSeconds).toBe(300);
    expect(ml.failover).toEqual({ requirements: ["gpu", "lightweight"], rescue: { enabled: false, maxPerRun: 0 } });
    expect(ml.ab).toEqual(config.defaults.ab);
  });

  it("reports every problem of the new keys together with the others", () => {
    const error = configError({
      mode: "turbo",
      runners: {
        vps: { queueTargetSeconds: 30, machines: { "m-1": { capacity: 0 } } },
        kvm2: { machines: { shared: {} } },
        kvm4: { machines: { shared: {} } },
        "github-hosted": { machines: { gh: {} } },
      },
      failover: { requirements: ["fast"], rescue: { maxPerRun: 11 } },
      ab: {
        vps: { candidate: "vps", share: 0.5 },
        kvm2: { candidate: "kvm9", share: 0.5 },
        ghost: { candidate: "vps", share: 0.5 },
        kvm4: { candidate: "vps", share: 1.5 },
      },
    });
    expect([...error.problems].sort()).toEqual(
      [
        'mode: Invalid option: expected one of "hybrid"|"self-hosted-only"|"cloudflare-only"',
        "runners.vps.queueTargetSeconds: must be at least 60 (seconds)",
        'runners.vps.machines["m-1"].capacity: must be at least 1',
        'failover.requirements[0]: Invalid option: expected one of "gpu"|"docker"|"deploy"|"lightweight"|"default"',
        "failover.rescue.maxPerRun: must be between 0 and 10",
        "ab.kvm4.share: must be between 0 and 1",
        "ab.vps.candidate: must differ from the class it is tested against",
        'ab.kvm2.candidate: unknown runner "kvm9"',
        'ab.ghost: unknown runner "ghost"',
        "runners.kvm2.machines.shared: already listed under runners.kvm4",
        "runners.github-hosted.machines: a github-hosted runner has no machines of ours to list",
      ].sort(),
    );
  });
});

describe("parseRoutingConfig: jobs", () => {
  const docs = { paths: ["docs/**", "*.md"] };
  const api = { paths: ["services/api/**", "!services/api/**/*.md"] };

  it("is left out of a policy that declares none, and of one whose map is empty", () => {
    expect(Object.hasOwn(parseRoutingConfig({}).defaults, "jobs")).toBe(false);
    expect(Object.hasOwn(parseRoutingConfig({ jobs: {} }).defaults, "jobs")).toBe(false);
  });

  it("merges a repository's jobs over the top level's by name, as ab and assign do", () => {
    const config = parseRoutingConfig({
      jobs: { docs, api },
      repositories: {
        "acme/app": { jobs: { api: { paths: ["api/**"] }, web: { paths: ["web/**"] } } },
        "acme/plain": {},
        "acme/empty": { jobs: {} },
      },
    });
    expect(config.defaults.jobs).toEqual({ docs, api });
    expect(policyFor(config, "acme/app").jobs).toEqual({
      docs,
      api: { paths: ["api/**"] },
      web: { paths: ["web/**"] },
    });
    expect(policyFor(config, "acme/plain").jobs).toBe(config.defaults.jobs);
    expect(policyFor(config, "acme/empty").jobs).toBe(config.defaults.jobs);
    expect(Object.getPrototypeOf(policyFor(config, "acme/app").jobs)).toBeNull();
  });

  it("takes any name of 1 to 64 of A-Za-z0-9_-, and 64 jobs of 64 patterns", () => {
    const many = Object.fromEntries(
      Array.from({ length: 64 }, (_, i) => [`job_${i}-X`, { paths: Array.from({ length: 64 }, (_, j) => `d${j}/**`) }]),
    );
    expect(Object.keys(parseRoutingConfig({ jobs: many }).defaults.jobs ?? {})).toHaveLength(64);
    expect(parseRoutingConfig({ jobs: { ["a".repeat(64)]: docs, constructor: docs } }).defaults.jobs).toBeDefined();
  });

  it.each<[string, unknown, string[]]>([
    [
      "a bad name",
      { jobs: { "run docs": docs, ["a".repeat(65)]: docs, "": docs } },
      [
        'jobs["run docs"]: a job name is 1 to 64 of A-Z, a-z, 0-9, _ and - (it names the output run-<job>)',
        `jobs.${"a".repeat(65)}: a job name is 1 to 64 of A-Z, a-z, 0-9, _ and - (it names the output run-<job>)`,
        'jobs[""]: a job name is 1 to 64 of A-Z, a-z, 0-9, _ and - (it names the output run-<job>)',
      ],
    ],
    [
      "too many jobs",
      { jobs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`j${i}`, docs])) },
      ["jobs: declares 65 jobs, at most 64"],
    ],
    ["empty paths", { jobs: { docs: { paths: [] } } }, ["jobs.docs.paths: must list at least one pattern"]],
    [
      "too many patterns",
      { jobs: { docs: { paths: Array.from({ length: 65 }, (_, i) => `d${i}/**`) } } },
      ["jobs.docs.paths: must list at most 64 patterns"],
    ],
    ["no paths at all", { jobs: { docs: {} } }, ["jobs.docs.paths: Invalid input: expected array, received undefined"]],
    ["an unknown key", { jobs: { docs: { ...docs, path: [] } } }, ['jobs.docs: Unrecognized key: "path"']],
    [
      "an over-cost pattern",
      { jobs: { docs: { paths: ["docs/**", "*.md", `${"{a,b}".repeat(6)}${"x".repeat(26)}`] } } },
      [
        `jobs.docs.paths[2]: "${"{a,b}".repeat(6)}${"x".repeat(26)}" would cost 2112 steps per character of a path, more than 2048`,
      ],
    ],
    [
      "patterns over the other cost bounds, after a '!' too",
      { jobs: { docs: { paths: ["docs/**", `!${"{a,b}".repeat(7)}/**`, "*a".repeat(300)] } } },
      [
        `jobs.docs.paths[1]: "!${"{a,b}".repeat(7)}/**" has, after its '!', a glob that expands to 128 alternatives, more than 64`,
        `jobs.docs.paths[2]: "${"*a".repeat(300)}" is longer than 512 characters`,
      ],
    ],
    [
      "a broken exclusion",
      { jobs: { api: { paths: ["services/**", "!/services/api/**", "!"] } } },
      [
        `jobs.api.paths[1]: "!/services/api/**" has, after its '!', a glob that must be relative to the repository root (no leading '/')`,
        `jobs.api.paths[2]: "!" has, after its '!', a glob that is empty`,
      ],
    ],
    [
      "only exclusions",
      { jobs: { api: { paths: ["!services/api/**/*.md"] } } },
      ["jobs.api.paths: every pattern starts with '!': with nothing included, no file ever counts"],
    ],
    [
      "jobs in a repository entry",
      {
        jobs: { docs },
        repositories: { "acme/app": { jobs: { "my-api": { paths: ["services/api/**", "a**"] }, web: { paths: [] } } } },
      },
      [
        'repositories["acme/app"].jobs.web.paths: must list at least one pattern',
        `repositories["acme/app"].jobs["my-api"].paths[1]: "a**" has '**' inside a segment; '**' must be a whole segment (**/*.md: .md files at any depth, *.md: at the top)`,
      ],
    ],
  ])("%s is reported with its path", (_, input, problems) => {
    expect([...configError(input).problems].sort()).toEqual([...problems].sort());
  });

  it("reports a bad name, a bad pattern and the other problems of the configuration at once", () => {
    const error = configError({
      assign: { gpu: "gpu-box" },
      jobs: { "bad name": { paths: ["/docs/**"] }, docs: { paths: [] } },
    });
    expect([...error.problems].sort()).toEqual(
      [
        'assign.gpu: unknown runner "gpu-box"',
        'jobs["bad name"]: a job name is 1 to 64 of A-Z, a-z, 0-9, _ and - (it names the output run-<job>)',
        `jobs["bad name"].paths[0]: "/docs/**" must be relative to the repository root (no leading '/')`,
        "jobs.docs.paths: must list at least one pattern",
      ].sort(),
    );
  });

  it("reports a top-level job's problem once, at the top level, not again for each repository", () => {
    const error = configError({
      jobs: { docs: { paths: ["/docs/**"] } },
      repositories: { "acme/a": {}, "acme/b": { jobs: { web: { paths: ["web/**"] } } } },
    });
    expect(error.problems).toEqual([
      `jobs.docs.paths[0]: "/docs/**" must be relative to the repository root (no leading '/')`,
    ]);
  });
});

describe("repositoryKey: the one rule naming a repository in a per-repository map", () => {
  const map = { "acme/api": 1, "acme/*": 2, "other/web": 3 };
  it("is the repository's own key, in any case, else its owner's wildcard, else nothing", () => {
    expect(repositoryKey(map, "Acme/API")).toBe("acme/api");
    expect(repositoryKey(map, "acme/web")).toBe("acme/*");
    expect(repositoryKey(map, "other/api")).toBeUndefined();
    // Never an inherited name.
    expect(repositoryKey(map, "constructor/x")).toBeUndefined();
    expect(repositoryKey({}, "__proto__/x")).toBeUndefined();
  });

  it("decides the policy, fair shares' weights and the access rules alike", () => {
    const config = parseRoutingConfig({
      repositories: { "acme/*": { mode: "self-hosted-only" } },
      fairShare: { weights: { "acme/*": 3 } },
    });
    expect(repositoryEntry(config, "ACME/tool")).toBe("acme/*");
    expect(policyFor(config, "ACME/tool").mode).toBe("self-hosted-only");
    const fair = config.defaults.fairShare;
    if (fair === undefined) throw new Error("fairShare was not read");
    expect(weightOf(fair, "ACME/tool")).toBe(3);
    expect(weightOf(fair, "other/tool")).toBe(1);
  });
});

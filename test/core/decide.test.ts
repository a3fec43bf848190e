import { describe, expect, it } from "vitest";
import {
  type ChangeSet,
  changesFromList,
  changesFromPush,
  DEFAULT_POLICY,
  DEFAULT_RULES,
  type Decision,
  decide,
  GlobSet,
  type Mode,
  parseRoutingConfig,
  pathView,
  policyFor,
  type Requirement,
  type RoutingInput,
  type RoutingPolicy,
  unknownChanges,
} from "../../worker/src/core/index.ts";

const REPO = "acme/app";
const config = parseRoutingConfig({});
const hybrid = policyFor(config, REPO);

const RUNS_ON = {
  "ai-lab": ["self-hosted", "ai-lab", "gpu"],
  vps: ["self-hosted", "vps"],
  kvm4: ["self-hosted", "cloudstartup", "kvm4"],
  "github-hosted": ["ubuntu-latest"],
  kvm2: ["self-hosted", "kvm2"],
} as const;

const LIGHTWEIGHT = new GlobSet(
  DEFAULT_RULES.filter((r) => r.requirement === "lightweight").flatMap((r) =>
    r.patterns.map((pattern) => ({ pattern, tag: r.id })),
  ),
);

function known(files: string[]): ChangeSet {
  return changesFromList(files, 3000, "pull request files");
}

function input(files: string[] | ChangeSet, over: Partial<RoutingInput> = {}): RoutingInput {
  return {
    repository: REPO,
    event: "pull_request",
    ref: "refs/heads/feature",
    sha: "0123456789abcdef0123456789abcdef01234567",
    changes: Array.isArray(files) ? known(files) : files,
    ...over,
  };
}

function push(ref: string, files: string[] | ChangeSet): RoutingInput {
  return input(files, { event: "push", ref });
}

/** The fields of a decision most tests pin exactly. */
function summary(d: Decision) {
  return { requirement: d.requirement, runner: d.runner, runs_on: d.runs_on, rule: d.rule, environment: d.environment };
}

describe("decision tree over the default policy", () => {
  it.each<[string, string, string]>([
    ["src/kernels/matmul.cu", "**/*.cu", "gpu"],
    ["include/matmul.cuh", "**/*.cuh", "gpu"],
    ["images/Dockerfile.gpu", "**/Dockerfile.gpu", "gpu"],
    ["Dockerfile.gpu", "**/Dockerfile.gpu", "gpu"],
    ["models/llama-gpu/config.json", "**/*-gpu/**", "gpu"],
    ["infra/ollama/Modelfile", "**/ollama/**", "gpu"],
    ["ollama/Modelfile", "**/ollama/**", "gpu"],
  ])("gpu: %s matches %s → ai-lab", (file, pattern, rule) => {
    const d = decide(input([file]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "gpu",
      runner: "ai-lab",
      runs_on: RUNS_ON["ai-lab"],
      rule,
      environment: null,
    });
    expect(d.reasons).toEqual([`${file} matches "${pattern}" (rule gpu) → gpu`]);
    expect(d).toMatchObject({ mode: "hybrid", truncated: false, files_known: true, files_count: 1, satisfiable: true });
  });

  it.each<[string, string]>([
    ["services/api/main.go", "services/**"],
    ["Dockerfile", "**/Dockerfile"],
    ["web/Dockerfile", "**/Dockerfile"],
    ["web/Dockerfile.dev", "**/Dockerfile.*"],
    ["docker-compose.yml", "**/docker-compose*.yml"],
    ["ops/docker-compose.prod.yml", "**/docker-compose*.yml"],
    ["ops/docker-compose.yaml", "**/docker-compose*.yaml"],
  ])("docker: %s matches %s → vps", (file, pattern) => {
    const d = decide(input([file]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "docker",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: "docker",
      environment: null,
    });
    expect(d.reasons).toEqual([`${file} matches "${pattern}" (rule docker) → docker`]);
    expect(d.satisfiable).toBe(true);
  });

  it.each<[string, string]>([
    ["README.md", "**/*.md"],
    ["docs/architecture/overview.png", "docs/**"],
    ["notes/todo.txt", "**/*.txt"],
    ["LICENSE", "LICENSE*"],
    ["LICENSE-APACHE", "LICENSE*"],
    [".editorconfig", ".editorconfig"],
    ["web/.eslintrc.json", "**/.eslintrc*"],
    [".prettierrc", "**/.prettierrc*"],
    ["packages/ui/biome.json", "**/biome.json"],
    ["src/router.test.ts", "**/*.test.*"],
    ["pkg/router_test.go", "**/*_test.*"],
    ["test/fixtures/push.json", "test/**"],
    ["tests/e2e/run.sh", "tests/**"],
    [".github/README.md", "**/*.md"],
    [".github/ISSUE_TEMPLATE/bug.md", "**/*.md"],
  ])("lightweight: %s matches %s → github-hosted", (file, pattern) => {
    const d = decide(input([file]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "lightweight",
      runner: "github-hosted",
      runs_on: RUNS_ON["github-hosted"],
      rule: "lightweight",
      environment: null,
    });
    expect(d.reasons).toEqual([`${file} matches "${pattern}" (rule lightweight), the only changed file → lightweight`]);
    expect(LIGHTWEIGHT.firstMatch(pathView(file))?.pattern).toBe(pattern);
  });

  it("lightweight: an all-docs change of many files counts them", () => {
    const files = ["README.md", "docs/a.md", "docs/img/b.png", "CHANGELOG.md", ".github/CONTRIBUTING.md"];
    const d = decide(input(files), hybrid);
    expect(summary(d)).toEqual({
      requirement: "lightweight",
      runner: "github-hosted",
      runs_on: ["ubuntu-latest"],
      rule: "lightweight",
      environment: null,
    });
    expect(d.files_count).toBe(5);
    expect(d.reasons).toEqual([
      'all 5 changed files match lightweight rules: 4 × "**/*.md" (rule lightweight, e.g. README.md), ' +
        '1 × "docs/**" (rule lightweight, e.g. docs/img/b.png) → lightweight',
    ]);
  });

  it("lightweight: names at most five patterns and counts the rest", () => {
    const files = ["README.md", "docs/x.png", "a.txt", "LICENSE", ".editorconfig", "x/.eslintrc.js", "test/a.js"];
    const d = decide(input(files), hybrid);
    expect(d.requirement).toBe("lightweight");
    expect(d.reasons).toEqual([
      "all 7 changed files match lightweight rules: " +
        '1 × "**/*.md" (rule lightweight, e.g. README.md), 1 × "docs/**" (rule lightweight, e.g. docs/x.png), ' +
        '1 × "**/*.txt" (rule lightweight, e.g. a.txt), 1 × "LICENSE*" (rule lightweight, e.g. LICENSE), ' +
        '1 × ".editorconfig" (rule lightweight, e.g. .editorconfig), 2 more patterns → lightweight',
    ]);
  });

  it("default: one non-lightweight file among docs → vps, naming that file", () => {
    const d = decide(input(["README.md", "docs/a.md", "src/index.ts", "CHANGELOG.md"]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "default",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: null,
      environment: null,
    });
    expect(d.reasons).toEqual(["src/index.ts matches no lightweight rule → default"]);
    expect(d.files_known).toBe(true);
  });

  it.each([
    [".github/workflows/ci.yml"],
    ["package.json"],
    ["docs.ts"],
    ["src/docs/guide.html"],
    ["Dockerfile-old"],
    ["LICENSES/MIT.txt.sig"],
  ])("default: %s alone → vps", (file) => {
    const d = decide(input([file]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "default",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: null,
      environment: null,
    });
    expect(d.reasons).toEqual([`${file} matches no lightweight rule → default`]);
  });

  it("default: an empty known file list is not evidence of a lightweight build", () => {
    const d = decide(input([]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "default",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: null,
      environment: null,
    });
    expect(d).toMatchObject({ files_known: true, files_count: 0, truncated: false });
    expect(d.reasons).toEqual(["no changed files listed: nothing shows the build is lightweight → default"]);
  });

  it("default: unknown files → vps with files_known false and a reason saying why", () => {
    const changes = unknownChanges("pull request", "no GITHUB_TOKEN to list the pull request's files");
    const d = decide(input(changes), hybrid);
    expect(summary(d)).toEqual({
      requirement: "default",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: null,
      environment: null,
    });
    expect(d).toMatchObject({ files_known: false, files_count: 0, truncated: false, satisfiable: true });
    expect(d.reasons).toEqual([
      "changed files unknown (no GITHUB_TOKEN to list the pull request's files)",
      "no gpu or docker file among those listed → default",
    ]);
  });

  it("a truncated list of only docs is never lightweight: default, truncated, and the reason says so", () => {
    const files = Array.from({ length: 3000 }, (_, i) => `docs/page-${i}.md`);
    const changes = changesFromList(files, 3000, "pull request files");
    expect(changes.truncated).toBe(true);
    const d = decide(input(changes), hybrid);
    expect(summary(d)).toEqual({
      requirement: "default",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: null,
      environment: null,
    });
    expect(d).toMatchObject({ truncated: true, files_known: true, files_count: 3000 });
    expect(d.reasons).toEqual([
      "file list truncated by GitHub (pull request files returned 3,000 files, its cap is 3,000): never routed as lightweight",
      "no gpu or docker file among those listed → default",
    ]);
  });

  it("a truncated list still finds gpu and docker files among those listed", () => {
    const files = [...Array.from({ length: 2999 }, (_, i) => `docs/${i}.md`), "svc/Dockerfile"];
    const d = decide(input(changesFromList(files, 3000, "pull request files")), hybrid);
    expect(summary(d)).toMatchObject({ requirement: "docker", runner: "vps", rule: "docker" });
    expect(d.truncated).toBe(true);
    expect(d.reasons.at(-1)).toBe('svc/Dockerfile matches "**/Dockerfile" (rule docker) → docker');
  });
});

describe("precedence: gpu > docker > deploy > lightweight > default", () => {
  it.each<[string, RoutingInput, Requirement, string, string | null, string]>([
    [
      "a .cu file plus a Dockerfile → gpu",
      input(["Dockerfile", "src/kernel.cu"]),
      "gpu",
      "ai-lab",
      null,
      'src/kernel.cu matches "**/*.cu" (rule gpu) → gpu',
    ],
    [
      "Dockerfile.gpu is gpu, not docker's Dockerfile.*",
      input(["images/Dockerfile.gpu"]),
      "gpu",
      "ai-lab",
      null,
      'images/Dockerfile.gpu matches "**/Dockerfile.gpu" (rule gpu) → gpu',
    ],
    [
      "gpu file plus deploy/ on main → gpu",
      push("refs/heads/main", ["deploy/app.yaml", "ml/ollama/Modelfile"]),
      "gpu",
      "ai-lab",
      null,
      'ml/ollama/Modelfile matches "**/ollama/**" (rule gpu) → gpu',
    ],
    [
      "Dockerfile plus deploy/ on main → docker",
      push("refs/heads/main", ["deploy/app.yaml", "Dockerfile"]),
      "docker",
      "vps",
      null,
      'Dockerfile matches "**/Dockerfile" (rule docker) → docker',
    ],
    [
      "a deploy tag with a docker-compose change → docker",
      push("refs/tags/v2.0.0", ["docker-compose.yml"]),
      "docker",
      "vps",
      null,
      'docker-compose.yml matches "**/docker-compose*.yml" (rule docker) → docker',
    ],
    [
      "deploy/ plus docs on main → deploy to staging",
      push("refs/heads/main", ["README.md", "deploy/app.yaml"]),
      "deploy",
      "kvm4",
      "staging",
      'refs/heads/main is a deploy ref ("refs/heads/main", staging) and deploy/app.yaml matches "deploy/**" → deploy',
    ],
    [
      "deploy/README.md on main → deploy, though it is also a lightweight file",
      push("refs/heads/main", ["deploy/README.md"]),
      "deploy",
      "kvm4",
      "staging",
      'refs/heads/main is a deploy ref ("refs/heads/main", staging) and deploy/README.md matches "deploy/**" → deploy',
    ],
    [
      "deploy/README.md on a feature branch → lightweight",
      push("refs/heads/feature", ["deploy/README.md"]),
      "lightweight",
      "github-hosted",
      null,
      'deploy/README.md matches "**/*.md" (rule lightweight), the only changed file → lightweight',
    ],
    [
      "docs only on main → lightweight",
      push("refs/heads/main", ["docs/index.md"]),
      "lightweight",
      "github-hosted",
      null,
      "refs/heads/main is a deploy ref but no changed file matches the deploy paths",
    ],
  ])("%s", (_, routing, requirement, runner, environment, reason) => {
    const d = decide(routing, hybrid);
    expect([d.requirement, d.runner, d.environment]).toEqual([requirement, runner, environment]);
    expect(d.runs_on).toEqual(RUNS_ON[runner as keyof typeof RUNS_ON]);
    expect(d.reasons).toContain(reason);
  });
});

describe("deploy", () => {
  it.each<[string, string]>([
    ["refs/heads/main", "staging"],
    ["refs/heads/production", "production"],
  ])("a push to %s touching deploy/x → deploy to %s on kvm4", (ref, environment) => {
    const d = decide(push(ref, ["deploy/x"]), hybrid);
    expect(summary(d)).toEqual({
      requirement: "deploy",
      runner: "kvm4",
      runs_on: RUNS_ON.kvm4,
      rule: null,
      environment,
    });
    expect(d.reasons).toEqual([
      `${ref} is a deploy ref ("${ref}", ${environment}) and deploy/x matches "deploy/**" → deploy`,
    ]);
  });

  it("a tag push refs/tags/v1.2.3 deploys to production even with no files", () => {
    const d = decide(push("refs/tags/v1.2.3", changesFromPush([])), hybrid);
    expect(summary(d)).toEqual({
      requirement: "deploy",
      runner: "kvm4",
      runs_on: RUNS_ON.kvm4,
      rule: null,
      environment: "production",
    });
    expect(d).toMatchObject({ files_known: true, files_count: 0, truncated: false, satisfiable: true });
    expect(d.reasons).toEqual(['tag refs/tags/v1.2.3 matches deploy ref "refs/tags/v*" → deploy to production']);
  });

  it.each<[string, RoutingInput, string]>([
    [
      "a pull_request touching deploy/ (head on main)",
      input(["deploy/app.yaml"], { event: "pull_request", ref: "refs/heads/main" }),
      "deploy/app.yaml matches no lightweight rule → default",
    ],
    [
      "a push to a feature branch touching deploy/",
      push("refs/heads/feature", ["deploy/app.yaml"]),
      "deploy/app.yaml matches no lightweight rule → default",
    ],
    [
      "a push of a tag not matching refs/tags/v*",
      push("refs/tags/simple-tag", changesFromPush([])),
      "no changed files listed: nothing shows the build is lightweight → default",
    ],
    [
      "a push to refs/heads/mainline (not refs/heads/main)",
      push("refs/heads/mainline", ["deploy/app.yaml"]),
      "deploy/app.yaml matches no lightweight rule → default",
    ],
    [
      "a push to main touching deployment/, not deploy/",
      push("refs/heads/main", ["deployment/app.yaml"]),
      "deployment/app.yaml matches no lightweight rule → default",
    ],
    [
      "a push with no ref",
      input(["deploy/app.yaml"], { event: "push", ref: null }),
      "deploy/app.yaml matches no lightweight rule → default",
    ],
  ])("not deploy: %s → default", (_, routing, reason) => {
    const d = decide(routing, hybrid);
    expect(summary(d)).toEqual({
      requirement: "default",
      runner: "vps",
      runs_on: RUNS_ON.vps,
      rule: null,
      environment: null,
    });
    expect(d.reasons).toContain(reason);
  });

  it("a push to main whose files miss the deploy paths says so", () => {
    const d = decide(push("refs/heads/main", ["src/app.ts"]), hybrid);
    expect(d.requirement).toBe("default");
    expect(d.reasons).toEqual([
      "refs/heads/main is a deploy ref but no changed file matches the deploy paths",
      "src/app.ts matches no lightweight rule → default",
    ]);
  });

  it("workflow_dispatch naming an environment → deploy to it, files unknown", () => {
    const d = decide(
      input(unknownChanges("workflow_dispatch", "a dispatch lists no files"), {
        event: "workflow_dispatch",
        ref: "refs/heads/feature",
        sha: null,
        environment: "qa",
      }),
      hybrid,
    );
    expect(summary(d)).toEqual({
      requirement: "deploy",
      runner: "kvm4",
      runs_on: RUNS_ON.kvm4,
      rule: null,
      environment: "qa",
    });
    expect(d.files_known).toBe(false);
    expect(d.reasons).toEqual([
      "changed files unknown (a dispatch lists no files)",
      'workflow_dispatch names environment "qa" → deploy',
    ]);
  });

  it.each<[string | null | undefined, Requirement]>([
    [null, "default"],
    [undefined, "default"],
    ["", "default"],
    ["production", "deploy"],
  ])("workflow_dispatch on a feature branch with environment %j → %s", (environment, requirement) => {
    const d = decide(
      input(unknownChanges("workflow_dispatch", "a dispatch lists no files"), {
        event: "workflow_dispatch",
        ref: "refs/heads/feature",
        environment,
      }),
      hybrid,
    );
    expect(d.requirement).toBe(requirement);
    expect(d.environment).toBe(requirement === "deploy" ? environment : null);
  });

  it("an environment on a non-dispatch event does not deploy", () => {
    const d = decide(input(["src/a.ts"], { event: "push", environment: "production" }), hybrid);
    expect(d.requirement).toBe("default");
    expect(d.environment).toBeNull();
  });

  it("workflow_dispatch on a deploy tag deploys to that ref's environment", () => {
    const d = decide(
      input(unknownChanges("workflow_dispatch", "a dispatch lists no files"), {
        event: "workflow_dispatch",
        ref: "refs/tags/v3.0.0",
      }),
      hybrid,
    );
    expect([d.requirement, d.runner, d.environment]).toEqual(["deploy", "kvm4", "production"]);
  });
});

describe("modes", () => {
  const selfHostedOnly = policyFor(parseRoutingConfig({ mode: "self-hosted-only" }), REPO);
  const cloudflareOnly = policyFor(parseRoutingConfig({ mode: "cloudflare-only" }), REPO);
  const policies: Record<Mode, RoutingPolicy> = {
    hybrid,
    "self-hosted-only": selfHostedOnly,
    "cloudflare-only": cloudflareOnly,
  };

  const cases: Record<Requirement, RoutingInput> = {
    gpu: input(["kernels/a.cu"]),
    docker: input(["services/api/Dockerfile"]),
    deploy: push("refs/heads/production", ["deploy/app.yaml"]),
    lightweight: input(["README.md"]),
    default: input(["src/main.ts"]),
  };

  // [mode, requirement, runner, satisfiable, the reason the mode added (or null)]
  it.each<[Mode, Requirement, string, boolean, string | null]>([
    ["hybrid", "gpu", "ai-lab", true, null],
    ["hybrid", "docker", "vps", true, null],
    ["hybrid", "deploy", "kvm4", true, null],
    ["hybrid", "lightweight", "github-hosted", true, null],
    ["hybrid", "default", "vps", true, null],
    ["self-hosted-only", "gpu", "ai-lab", true, null],
    ["self-hosted-only", "docker", "vps", true, null],
    ["self-hosted-only", "deploy", "kvm4", true, null],
    ["self-hosted-only", "lightweight", "vps", true, "self-hosted-only: lightweight moved from github-hosted to vps"],
    ["self-hosted-only", "default", "vps", true, null],
    [
      "cloudflare-only",
      "gpu",
      "github-hosted",
      false,
      "cloudflare-only: gpu cannot be met on github-hosted; routed there and flagged unsatisfiable",
    ],
    ["cloudflare-only", "docker", "github-hosted", true, "cloudflare-only: docker moved from vps to github-hosted"],
    [
      "cloudflare-only",
      "deploy",
      "github-hosted",
      false,
      "cloudflare-only: deploy cannot be met on github-hosted; routed there and flagged unsatisfiable",
    ],
    ["cloudflare-only", "lightweight", "github-hosted", true, null],
    ["cloudflare-only", "default", "github-hosted", true, "cloudflare-only: default moved from vps to github-hosted"],
  ])("%s: %s → %s (satisfiable %s)", (mode, requirement, runner, satisfiable, modeReason) => {
    const d = decide(cases[requirement], policies[mode]);
    const inHybrid = decide(cases[requirement], hybrid);
    expect(d.mode).toBe(mode);
    // The mode keeps the requirement (and a deploy's environment); it only moves the runner.
    expect(d.requirement).toBe(requirement);
    expect(d.environment).toBe(requirement === "deploy" ? "production" : null);
    expect(d.runner).toBe(runner);
    expect(d.runs_on).toEqual(RUNS_ON[runner as keyof typeof RUNS_ON]);
    expect(d.satisfiable).toBe(satisfiable);
    expect(d.reasons).toEqual(modeReason === null ? inHybrid.reasons : [...inHybrid.reasons, modeReason]);
  });
});

describe("per-repository overrides", () => {
  const overrides = parseRoutingConfig({
    repositories: {
      "Acme/ML": {
        rules: [
          { id: "notebooks", requirement: "gpu", patterns: ["**/*.ipynb"] },
          { id: "containers", requirement: "docker", patterns: ["**/Containerfile"] },
          { id: "docs", requirement: "lightweight", patterns: ["**/*.md"] },
        ],
        assign: { docker: "kvm2" },
      },
      "acme/site": { mode: "cloudflare-only" },
      "acme/infra": {
        mode: "self-hosted-only",
        deploy: { refs: [{ ref: "refs/heads/release/*", environment: "prod" }], paths: ["k8s/**"] },
      },
    },
  });

  it("a repository's own rules and assign give decisions the defaults would not", () => {
    const ml = policyFor(overrides, "acme/ml");
    const notebook = input(["analysis/train.ipynb"], { repository: "acme/ml" });
    expect(summary(decide(notebook, ml))).toEqual({
      requirement: "gpu",
      runner: "ai-lab",
      runs_on: RUNS_ON["ai-lab"],
      rule: "notebooks",
      environment: null,
    });
    expect(decide(notebook, ml).reasons).toEqual(['analysis/train.ipynb matches "**/*.ipynb" (rule notebooks) → gpu']);
    expect(decide(notebook, overrides.defaults).requirement).toBe("default");

    const container = input(["svc/Containerfile"], { repository: "acme/ml" });
    expect(summary(decide(container, ml))).toEqual({
      requirement: "docker",
      runner: "kvm2",
      runs_on: RUNS_ON.kvm2,
      rule: "containers",
      environment: null,
    });
    // The default docker rule is replaced, so a Dockerfile is nothing special there.
    expect(decide(input(["Dockerfile"]), ml).requirement).toBe("default");
    expect(decide(input(["Dockerfile"]), overrides.defaults).requirement).toBe("docker");
  });

  it("repository names are case-insensitive", () => {
    const files = input(["analysis/train.ipynb"]);
    for (const name of ["acme/ml", "ACME/ML", "Acme/Ml"]) {
      expect(decide(files, policyFor(overrides, name)).rule).toBe("notebooks");
    }
    expect(policyFor(overrides, "ACME/SITE").mode).toBe("cloudflare-only");
  });

  it("a repository's mode applies to it alone", () => {
    const docs = input(["README.md"]);
    expect(decide(docs, policyFor(overrides, "acme/site"))).toMatchObject({
      runner: "github-hosted",
      mode: "cloudflare-only",
    });
    const gpu = decide(input(["a.cu"]), policyFor(overrides, "acme/site"));
    expect([gpu.runner, gpu.satisfiable]).toEqual(["github-hosted", false]);
    expect(decide(input(["a.cu"]), policyFor(overrides, "acme/other"))).toMatchObject({
      runner: "ai-lab",
      mode: "hybrid",
      satisfiable: true,
    });
    expect(decide(docs, policyFor(overrides, "acme/infra"))).toMatchObject({ runner: "vps", mode: "self-hosted-only" });
  });

  it("a repository's deploy refs and paths", () => {
    const infra = policyFor(overrides, "acme/infra");
    expect(decide(push("refs/heads/release/2024-06", ["k8s/app.yaml"]), infra)).toMatchObject({
      requirement: "deploy",
      runner: "kvm4",
      environment: "prod",
    });
    expect(decide(push("refs/heads/main", ["deploy/app.yaml"]), infra).requirement).toBe("default");
    expect(decide(push("refs/heads/main", ["deploy/app.yaml"]), overrides.defaults)).toMatchObject({
      requirement: "deploy",
      environment: "staging",
    });
  });
});

describe("purity", () => {
  const inputs: RoutingInput[] = [
    input(["src/a.cu", "Dockerfile"]),
    push("refs/heads/main", ["deploy/x", "README.md"]),
    push("refs/tags/v1.2.3", changesFromPush([])),
    input(["README.md", "docs/a.md"]),
    input(unknownChanges("pull request", "no token")),
  ];

  it.each(inputs.map((i) => [i.changes.files.join(",") || "(no files)", i] as const))(
    "same input → deep-equal decision (%s)",
    (_, routing) => {
      const first = decide(routing, hybrid);
      const again = decide(structuredClone(routing), hybrid);
      const fromFreshPolicy = decide(structuredClone(routing), policyFor(parseRoutingConfig({}), REPO));
      expect(again).toEqual(first);
      expect(fromFreshPolicy).toEqual(first);
    },
  );

  it("does not mutate its input or the policy, and returns a fresh runs_on", () => {
    const routing = push("refs/heads/main", ["deploy/x"]);
    const before = structuredClone(routing);
    const policyBefore = structuredClone(DEFAULT_POLICY);
    const d = decide(routing, DEFAULT_POLICY);
    d.runs_on.push("mutated");
    expect(routing).toEqual(before);
    expect(DEFAULT_POLICY).toEqual(policyBefore);
    expect(decide(routing, DEFAULT_POLICY).runs_on).toEqual(RUNS_ON.kvm4);
  });

  it("a hand-built policy assigning an unknown runner fails loudly", () => {
    const broken: RoutingPolicy = { ...DEFAULT_POLICY, assign: { ...DEFAULT_POLICY.assign, default: "ghost" } };
    expect(() => decide(input(["src/a.ts"]), broken)).toThrow('routing policy assigns unknown runner "ghost"');
  });
});

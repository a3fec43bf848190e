/**
 * Cross-repository builds, the pure part: the `dependencies` configuration's checks (every
 * problem at once, with its path), which pushes match which targets, the debounce, the depth
 * limit, the commit status a downstream repository owes, and matching a run to its dispatch.
 */
import { describe, expect, it } from "vitest";
import {
  changesFromList,
  DEFAULT_DEBOUNCE_SECONDS,
  DEFAULT_DEPENDENCY_DEPTH,
  DEPENDENCY_LIMITS,
  debounceDue,
  dispatchBody,
  downstreamState,
  fail,
  matchingTargets,
  mayDispatch,
  ok,
  parseRoutingConfig,
  RoutingConfigError,
  runMatchesDispatch,
  unknownChanges,
  upstreamOfInputs,
  writeStep,
} from "../../worker/src/core/index.ts";

const target = (repository = "acme/app", workflow: string | number = "ci.yml", ref = "main") => ({
  repository,
  workflow,
  ref,
});
const entry = (fields: Record<string, unknown> = {}) => ({
  from: "acme/lib",
  refs: ["refs/heads/main"],
  paths: ["src/**"],
  to: [target()],
  ...fields,
});

/** The problems a configuration is refused with (the test fails if it is accepted). */
function problemsOf(config: unknown): readonly string[] {
  try {
    parseRoutingConfig(config);
  } catch (error) {
    if (error instanceof RoutingConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the configuration to be refused");
}

describe("dependencies in the routing configuration", () => {
  it("resolves an entry with its defaults: every file, a 60 s debounce, depth 3, names lower-cased", () => {
    const config = parseRoutingConfig({
      dependencies: [{ from: "Acme/Lib", refs: ["refs/heads/main"], to: [target("Acme/App")] }],
    });
    expect(config.dependencies).toEqual({
      maxDepth: DEFAULT_DEPENDENCY_DEPTH,
      dependencies: [
        {
          from: "acme/lib",
          refs: ["refs/heads/main"],
          paths: ["**"],
          debounceSeconds: DEFAULT_DEBOUNCE_SECONDS,
          to: [{ repository: "acme/app", workflow: "ci.yml", ref: "main" }],
        },
      ],
    });
    expect(parseRoutingConfig({}).dependencies).toBeUndefined();
  });

  it("takes a numeric workflow id, a .yaml file, a tag, debounce 0 and 3600, depth 1 and 5", () => {
    const config = parseRoutingConfig({
      dependencyDepth: 5,
      dependencies: [
        entry({ debounceSeconds: 0, to: [target("acme/app", 161335), target("acme/web", "build.yaml", "v1.2.0")] }),
        entry({ from: "acme/web", debounceSeconds: 3600, to: [target("acme/site")] }),
      ],
    });
    expect(config.dependencies?.maxDepth).toBe(5);
    expect(config.dependencies?.dependencies[0]?.to.map((t) => t.workflow)).toEqual(["161335", "build.yaml"]);
    expect(parseRoutingConfig({ dependencyDepth: 1, dependencies: [] }).dependencies?.maxDepth).toBe(1);
  });

  it("refuses a self-loop, naming where it is written", () => {
    expect(problemsOf({ dependencies: [entry({ to: [target("ACME/lib")] })] })).toEqual([
      'dependencies[0].to[0].repository: "ACME/lib" is the entry\'s own "from": a self-loop',
    ]);
  });

  it("refuses a cycle across entries, naming it once", () => {
    const problems = problemsOf({
      dependencies: [
        entry({ to: [target("acme/app")] }),
        entry({ from: "acme/app", to: [target("acme/lib"), target("acme/other")] }),
        entry({ from: "acme/x", to: [target("acme/y")] }),
        entry({ from: "acme/y", to: [target("acme/z")] }),
        entry({ from: "acme/z", to: [target("acme/x")] }),
      ],
    });
    expect(problems).toEqual([
      "dependencies[1].to[0]: cycle acme/lib → acme/app → acme/lib",
      "dependencies[4].to[0]: cycle acme/x → acme/y → acme/z → acme/x",
    ]);
  });

  it("refuses bad names, workflows, refs, paths and numbers, every problem at once with its path", () => {
    const problems = problemsOf({
      dependencyDepth: 9,
      dependencies: [
        entry({
          from: "not a repo",
          refs: ["main", "refs/heads/{a}"],
          paths: ["src/**", "!src/x"],
          debounceSeconds: 3601,
        }),
        entry({
          to: [
            target("acme/app", ".github/workflows/ci.yml"),
            target("acme/app", "ci.json"),
            target("acme/app", "ci.yml", "refs/heads/main"),
            target("acme/app", "ci.yml", "bad..ref"),
            target("acme", "ci.yml"),
          ],
        }),
        entry({ to: [] }),
        "nope",
      ],
    });
    expect(problems).toEqual([
      "dependencyDepth: must be between 1 and 5",
      "dependencies[0].debounceSeconds: must be between 0 and 3600",
      "dependencies[2].to: must name at least one target",
      "dependencies[3]: Invalid input: expected object, received string",
      'dependencies[0].from: "not a repo" must be "owner/name"',
      'dependencies[0].refs[0]: "main" must be a full ref starting with "refs/"',
      'dependencies[0].refs[1]: "refs/heads/{a}" has a brace with one alternative; braces need at least two ({a,b})',
      "dependencies[0].paths[1]: \"!src/x\" negation ('!') is not supported; list what matches instead",
      'dependencies[1].to[0].workflow: ".github/workflows/ci.yml" must be a workflow file name ending in .yml or .yaml, or a numeric workflow id',
      'dependencies[1].to[1].workflow: "ci.json" must be a workflow file name ending in .yml or .yaml, or a numeric workflow id',
      'dependencies[1].to[2].ref: "refs/heads/main" must be a branch or tag name ("main", "v1.2"), not a full ref',
      'dependencies[1].to[3].ref: "bad..ref" must not hold "..", "@{" or "//"',
      'dependencies[1].to[4].repository: "acme" must be "owner/name"',
    ]);
  });

  it("refuses more than 64 dependencies and more than 16 targets, and a path glob over the cost bound", () => {
    const many = Array.from({ length: DEPENDENCY_LIMITS.dependencies + 1 }, (_, i) => entry({ from: `acme/lib-${i}` }));
    expect(problemsOf({ dependencies: many })).toEqual(["dependencies: lists 65 dependencies, at most 64"]);
    const targets = Array.from({ length: DEPENDENCY_LIMITS.targets + 1 }, (_, i) => target(`acme/app-${i}`));
    expect(problemsOf({ dependencies: [entry({ to: targets })] })).toEqual([
      "dependencies[0].to: must name at most 16 targets",
    ]);
    const costly = `${"{a,b}".repeat(7)}/**`;
    expect(problemsOf({ dependencies: [entry({ paths: [costly] })] })[0]).toMatch(
      /^dependencies\[0\]\.paths\[0\]: ".*" expands to 128 alternatives, more than 64$/,
    );
  });

  it("reports dependency problems together with the configuration's others", () => {
    const problems = problemsOf({ mode: "nope", dependencies: [entry({ to: [target("acme/lib")] })] });
    expect(problems).toHaveLength(2);
    expect(problems[1]).toMatch(/self-loop/);
  });
});

describe("which pushes start which targets", () => {
  const graph = parseRoutingConfig({
    dependencies: [
      entry({ refs: ["refs/heads/main", "refs/heads/release/*"], paths: ["src/**", "package.json"] }),
      entry({ paths: undefined, refs: ["refs/tags/v*"], to: [target("acme/site", "deploy.yml")] }),
      entry({ debounceSeconds: 5, to: [target("acme/app")] }),
    ],
  }).dependencies;
  const push = (ref: string, files: string[], repository = "acme/lib") => ({
    repository,
    refs: [ref],
    changes: changesFromList(files, 3000, "test"),
  });
  const names = (found: ReturnType<typeof matchingTargets>) => found.map((t) => t.target.repository);

  it("matches by repository (any case), ref glob and path glob", () => {
    expect(names(matchingTargets(graph, push("refs/heads/main", ["src/a.ts"])))).toEqual(["acme/app"]);
    expect(names(matchingTargets(graph, push("refs/heads/release/2", ["package.json"], "ACME/Lib")))).toEqual([
      "acme/app",
    ]);
    expect(matchingTargets(graph, push("refs/heads/feature", ["src/a.ts"]))).toEqual([]);
    expect(matchingTargets(graph, push("refs/heads/main", ["docs/a.md"]))).toEqual([]);
    expect(matchingTargets(graph, push("refs/heads/main", ["src/a.ts"], "acme/other"))).toEqual([]);
    expect(names(matchingTargets(graph, push("refs/tags/v1.0", ["docs/a.md"])))).toEqual(["acme/site"]);
  });

  it("a target two entries name is dispatched once, with the shorter debounce", () => {
    expect(matchingTargets(graph, push("refs/heads/main", ["src/a.ts"]))).toEqual([
      { target: { repository: "acme/app", workflow: "ci.yml", ref: "main" }, debounceSeconds: 5 },
    ]);
  });

  it("a file list cut short or unknown counts as matching", () => {
    const truncated = { ...changesFromList(["docs/a.md"], 3000, "test"), truncated: true };
    const change = { repository: "acme/lib", refs: ["refs/heads/main"] };
    expect(names(matchingTargets(graph, { ...change, changes: truncated }))).toEqual(["acme/app"]);
    const unknown = unknownChanges("compare API", "timed out");
    expect(names(matchingTargets(graph, { ...change, changes: unknown }))).toEqual(["acme/app"]);
    expect(matchingTargets(undefined, { ...change, changes: unknown })).toEqual([]);
  });
});

describe("debounce, depth and what a dispatch says", () => {
  it("a window's due time is its first push plus the debounce; a later push keeps it", () => {
    const first = debounceDue(null, 1_000, 60);
    expect(first).toBe(61_000);
    expect(debounceDue({ dueAt: first }, 30_000, 60)).toBe(61_000);
    expect(debounceDue(null, 1_000, 0)).toBe(1_000);
  });

  it("a build at the depth limit dispatches nothing further", () => {
    expect(mayDispatch(0, 1)).toBe(true);
    expect(mayDispatch(1, 1)).toBe(false);
    expect(mayDispatch(2, 3)).toBe(true);
    expect(mayDispatch(3, 3)).toBe(false);
  });

  it("sends string inputs, and reads them back from a workflow_dispatch's inputs", () => {
    const origin = { upstreamRepository: "acme/lib", upstreamSha: "a".repeat(40), upstreamBuild: "aaa-d1", depth: 1 };
    const body = dispatchBody("main", origin);
    expect(body).toEqual({
      ref: "main",
      inputs: { upstream_repository: "acme/lib", upstream_sha: "a".repeat(40), upstream_build: "aaa-d1", depth: "1" },
    });
    expect(upstreamOfInputs(body.inputs)).toEqual({
      repository: "acme/lib",
      sha: "a".repeat(40),
      build_id: "aaa-d1",
      depth: 1,
    });
    expect(upstreamOfInputs({ ...body.inputs, depth: "9" })).toBeNull();
    expect(upstreamOfInputs({ environment: "prod" })).toBeNull();
    expect(upstreamOfInputs(null)).toBeNull();
  });

  it("a refusal is failed with GitHub's message; 5xx, 429 and network errors are retried", () => {
    const answer = (status: number, message: string | null = null) =>
      ok({ status, retryAfterSeconds: status === 429 ? 30 : null, message });
    expect(writeStep(answer(204), 1)).toEqual({ kind: "sent" });
    expect(writeStep(answer(422, "Workflow does not have 'workflow_dispatch' trigger"), 1)).toEqual({
      kind: "failed",
      why: "422 Workflow does not have 'workflow_dispatch' trigger",
    });
    expect(writeStep(answer(500, "boom"), 1)).toMatchObject({ kind: "retry", why: "500 server error" });
    expect(writeStep(answer(429), 2)).toEqual({ kind: "retry", delayMs: 30_000, why: "429 rate limited" });
    expect(writeStep(fail("upstream", "timed out"), 1)).toMatchObject({ kind: "retry" });
    expect(writeStep(answer(500), 5)).toMatchObject({ kind: "failed", why: "500 server error after 5 attempts" });
  });
});

describe("the commit status a downstream repository owes", () => {
  const d = (
    state: "pending" | "dispatched" | "running" | "completed" | "failed",
    conclusion: string | null = null,
  ) => ({
    state,
    conclusion,
  });

  it("none before a dispatch is sent, pending while any is on its way, then the worst end", () => {
    expect(downstreamState([d("pending")])).toBeNull();
    expect(downstreamState([d("dispatched")])).toBe("pending");
    expect(downstreamState([d("completed", "success"), d("running")])).toBe("pending");
    expect(downstreamState([d("completed", "success"), d("completed", "skipped")])).toBe("success");
    expect(downstreamState([d("completed", "success"), d("completed", "failure")])).toBe("failure");
    expect(downstreamState([d("completed", "cancelled")])).toBe("error");
    expect(downstreamState([d("failed")])).toBe("error");
    expect(downstreamState([d("failed"), d("completed", "timed_out")])).toBe("failure");
  });
});

describe("matching a dispatched run to its dispatch", () => {
  const dispatch = { workflow: "ci.yml", ref: "main", dispatchedAt: 1_000_000 };
  const run = { path: ".github/workflows/ci.yml", workflowId: 7, headBranch: "main", createdAt: 1_005_000 };

  it("by workflow file (or id), ref and time", () => {
    expect(runMatchesDispatch(dispatch, run)).toBe(true);
    expect(runMatchesDispatch({ ...dispatch, workflow: "7" }, run)).toBe(true);
    expect(runMatchesDispatch({ ...dispatch, workflow: "8" }, run)).toBe(false);
    expect(runMatchesDispatch(dispatch, { ...run, path: ".github/workflows/other.yml" })).toBe(false);
    expect(runMatchesDispatch(dispatch, { ...run, headBranch: "dev" })).toBe(false);
    expect(runMatchesDispatch(dispatch, { ...run, createdAt: 1_000_000 - 61_000 })).toBe(false);
    expect(runMatchesDispatch(dispatch, { ...run, createdAt: 1_000_000 + 3_600_001 })).toBe(false);
  });
});

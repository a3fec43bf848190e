/**
 * Per-job path filters (core/jobs.ts): which declared jobs a change's files touch, read as
 * GitHub reads a workflow's `paths:`, and that every decision `route()` makes carries them:
 * the tree's, the load-aware step's, an A/B arm's and the learned router's.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/bundle.ts";
import {
  abBucket,
  type ChangeSet,
  changesFromList,
  changesFromPush,
  compileGlob,
  createStats,
  dict,
  type FleetSnapshot,
  isExclusion,
  type JobFilter,
  jobVerdicts,
  MAX_REASON_TEXT,
  matchGlob,
  observe,
  observeBuild,
  parseRoutingConfig,
  policyFor,
  type RoutingInput,
  type RoutingPolicy,
  route,
  unknownChanges,
} from "../../worker/src/core/index.ts";

const REPO = "acme/app";

const JOBS: Record<string, JobFilter> = {
  docs: { paths: ["docs/**", "*.md"] },
  api: { paths: ["services/api/**", "!services/api/**/*.md"] },
};

function input(changes: string[] | ChangeSet, over: Partial<RoutingInput> = {}): RoutingInput {
  return {
    repository: REPO,
    event: "pull_request",
    ref: "refs/heads/feature",
    sha: "0123456789abcdef0123456789abcdef01234567",
    changes: Array.isArray(changes) ? changesFromList(changes, 3000, "pull request files") : changes,
    ...over,
  };
}

/** Each job's `run`, by name. */
const runs = (verdicts: Record<string, { run: boolean }>) =>
  Object.fromEntries(Object.entries(verdicts).map(([name, v]) => [name, v.run]));

describe("jobVerdicts: the filter", () => {
  it.each<[string, string[], Record<string, boolean>]>([
    ["a docs change runs docs only", ["docs/guide.md"], { docs: true, api: false }],
    ["a top-level Markdown file counts for *.md", ["CHANGELOG.md"], { docs: true, api: false }],
    ["*.md is the top level only, as * never crosses a slash", ["src/notes.md"], { docs: false, api: false }],
    ["an API source file runs api", ["services/api/main.py"], { docs: false, api: true }],
    ["an API Markdown file is excluded by the later '!'", ["services/api/docs/x.md"], { docs: false, api: false }],
    ["an unrelated change runs neither", ["src/index.ts"], { docs: false, api: false }],
    ["both inputs changed, both run", ["docs/a.md", "services/api/main.py"], { docs: true, api: true }],
    ["a complete but empty list skips every job", [], { docs: false, api: false }],
    ["case counts: Docs/ is not docs/", ["Docs/guide.md"], { docs: false, api: false }],
    ["case counts: README.MD is not *.md", ["README.MD"], { docs: false, api: false }],
  ])("%s", (_, files, expected) => {
    expect(runs(jobVerdicts(input(files), JOBS))).toEqual(expected);
  });

  it("names the first file that counts and the pattern it matched, or the job's patterns", () => {
    const verdicts = jobVerdicts(input(["src/a.ts", "services/api/README.md", "services/api/main.py", "docs/x"]), JOBS);
    expect(verdicts).toEqual({
      docs: { run: true, reasons: ["docs/x matches docs/**"] },
      api: { run: true, reasons: ["services/api/main.py matches services/api/**"] },
    });
    expect(jobVerdicts(input(["src/a.ts"]), JOBS)).toEqual({
      docs: { run: false, reasons: ["no changed file matches docs/**, *.md"] },
      api: { run: false, reasons: ["no changed file matches services/api/**, !services/api/**/*.md"] },
    });
  });

  it.each<[string, string[], string, boolean]>([
    ["the last matching pattern decides: excluded", ["src/**", "!src/gen/**"], "src/gen/a.ts", false],
    [
      "the last matching pattern decides: re-included",
      ["src/**", "!src/gen/**", "src/gen/keep.ts"],
      "src/gen/keep.ts",
      true,
    ],
    [
      "an exclusion first excludes nothing that a later pattern includes",
      ["!src/gen/**", "src/**"],
      "src/gen/a.ts",
      true,
    ],
    ["a file no pattern matches never counts", ["src/**", "!src/gen/**"], "lib/a.ts", false],
  ])("negation order: %s", (_, paths, file, run) => {
    expect(jobVerdicts(input([file]), { job: { paths } }).job?.run).toBe(run);
  });

  it("runs every job, saying why, when the list is truncated, unknown, or the event lists none", () => {
    const truncated = changesFromPush(Array.from({ length: 2048 }, () => ({ added: ["src/a.ts"] })));
    expect(truncated.truncated).toBe(true);
    const cases: [RoutingInput, string][] = [
      [input(truncated, { event: "push" }), "file list truncated (more files changed than listed): runs"],
      [
        input(changesFromList(["src/a.ts"], 1, "compare")),
        "file list truncated (more files changed than listed): runs",
      ],
      [input(unknownChanges("pull request", "no token")), "changed files unknown: runs"],
      [input(["src/a.ts"], { event: "workflow_dispatch" }), "workflow_dispatch lists no changed files: runs"],
      [
        input(unknownChanges("workflow_dispatch", "workflow_dispatch carries no file list"), {
          event: "workflow_dispatch",
        }),
        "workflow_dispatch lists no changed files: runs",
      ],
    ];
    for (const [change, reason] of cases) {
      expect(jobVerdicts(change, JOBS)).toEqual({
        docs: { run: true, reasons: [reason] },
        api: { run: true, reasons: [reason] },
      });
    }
  });

  it("keeps reasons bounded: a long file and a long pattern list are cut", () => {
    const long = `docs/${"a".repeat(3000)}.md`;
    const many = Array.from({ length: 64 }, (_, i) => `packages/package-${i}/src/**`);
    const verdicts = jobVerdicts(input([long]), { docs: JOBS.docs as JobFilter, many: { paths: many } });
    const [ran] = verdicts.docs?.reasons ?? [];
    const [skipped] = verdicts.many?.reasons ?? [];
    expect(ran?.startsWith("docs/aaa")).toBe(true);
    expect(ran?.length).toBeLessThanOrEqual(2 * MAX_REASON_TEXT + " matches ".length);
    expect(ran).toContain("… matches docs/**");
    expect(skipped?.length).toBeLessThanOrEqual("no changed file matches ".length + MAX_REASON_TEXT);
    expect(skipped?.endsWith("…")).toBe(true);
  });

  it("gives every job name as an own key, whatever the name, in a map that survives JSON and structured clone", () => {
    const jobs = dict<JobFilter>([
      ["constructor", { paths: ["x"] }],
      ["toString", { paths: ["y"] }],
      ["__proto__", { paths: ["x"] }],
    ]);
    const verdicts = jobVerdicts(input(["x"]), jobs);
    expect(Object.keys(verdicts)).toEqual(["constructor", "toString", "__proto__"]);
    expect(Object.hasOwn(verdicts, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(verdicts)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(verdicts))).toEqual({
      constructor: { run: true, reasons: ["x matches x"] },
      toString: { run: false, reasons: ["no changed file matches y"] },
      ["__proto__"]: { run: true, reasons: ["x matches x"] },
    });
    expect(Object.keys(structuredClone(verdicts))).toEqual(["constructor", "toString", "__proto__"]);
  });

  it("agrees with the patterns read one by one, in order, by the glob engine (property)", () => {
    const segment = fc.constantFrom("a", "b", "gen", "x.md", "y.ts");
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/"));
    const glob = fc.constantFrom("**", "a/**", "**/*.md", "*", "a/*", "b/**", "**/gen/**", "a/gen/*.ts", "{a,b}/x.md");
    const pattern = fc.tuple(fc.boolean(), glob).map(([not, g]) => (not ? `!${g}` : g));
    const filter = fc.array(pattern, { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        fc.array(filter, { minLength: 1, maxLength: 4 }),
        fc.array(path, { maxLength: 6 }),
        (filters, files) => {
          const jobs = Object.fromEntries(filters.map((paths, i) => [`job${i}`, { paths }]));
          const counts = (paths: string[], file: string) =>
            paths.reduce(
              (last, p) => (matchGlob(compileGlob(isExclusion(p) ? p.slice(1) : p), file) ? !isExclusion(p) : last),
              false,
            );
          const expected = Object.fromEntries(
            filters.map((paths, i) => [`job${i}`, files.some((file) => counts(paths, file))]),
          );
          expect(runs(jobVerdicts(input(files), jobs))).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Every class of `policy` free, none with machines; `busy` fills some. */
function snapshot(policy: RoutingPolicy, busy: Record<string, number> = {}): FleetSnapshot {
  const out: FleetSnapshot = {};
  for (const runner of Object.values(policy.runners)) {
    const used = Math.min(runner.capacity, busy[runner.id] ?? 0);
    out[runner.id] = {
      capacity: runner.capacity,
      busy: used,
      free: runner.capacity - used,
      queued: 0,
      waiting: 0,
      hasMachines: false,
      saturated: runner.kind !== "github-hosted" && used >= runner.capacity,
      offline: false,
      machines: [],
    };
  }
  return out;
}

/** A commit whose A/B bucket for REPO is under `share` (candidate) or not (control). */
function shaOnArm(candidate: boolean, share: number): string {
  for (let i = 0; ; i++) {
    const sha = i.toString(16).padStart(40, "0");
    if (abBucket(REPO, sha) < share === candidate) return sha;
  }
}

describe("route(): every decision carries the jobs", () => {
  const config = parseRoutingConfig({
    repositories: {
      [REPO]: { jobs: JOBS, ab: { vps: { candidate: "kvm2", share: 0.5 } } },
      "acme/learns": { jobs: JOBS, learning: { enabled: true, exploreShare: 0 } },
    },
  });
  const policy = policyFor(config, REPO);
  const files = ["services/api/main.py"];
  const expected = {
    docs: { run: false, reasons: ["no changed file matches docs/**, *.md"] },
    api: { run: true, reasons: ["services/api/main.py matches services/api/**"] },
  };

  it("the tree's, with no fleet", () => {
    const decision = route(input(files), policy, null);
    expect(decision.requirement).toBe("docker");
    expect(decision.jobs).toEqual(expected);
  });

  it("the load-aware step's, failing over from a saturated class", () => {
    const sha = shaOnArm(false, 0.5);
    const decision = route(input(files, { sha }), policy, snapshot(policy, { vps: 99 }));
    expect(decision.runner).toBe("kvm2");
    expect(decision.reasons).toContainEqual(expect.stringMatching(/^vps saturated/));
    expect(decision.jobs).toEqual(expected);
  });

  it("an A/B arm's, on either arm", () => {
    for (const candidate of [true, false]) {
      const decision = route(input(files, { sha: shaOnArm(candidate, 0.5) }), policy, snapshot(policy));
      expect(decision.arm).toBe(candidate ? "candidate" : "control");
      expect(decision.jobs).toEqual(expected);
    }
  });

  it("the learned router's, with history and without", () => {
    const learns = policyFor(config, "acme/learns");
    const change = input(files, { repository: "acme/learns" });
    const fresh = route(change, learns, snapshot(learns), { history: createStats() });
    expect(fresh.learned?.history).toBe(false);
    expect(fresh.jobs).toEqual(expected);

    const stats = createStats();
    for (let i = 0; i < 10; i++) {
      const key = { repository: "acme/learns", workflow: "CI", job: "build", requirement: "docker" } as const;
      observe(stats, key, "vps", { minutes: 5, queueSeconds: 20, failed: false });
      observeBuild(stats, { repository: "acme/learns", requirement: "docker" }, [{ workflow: "CI", job: "build" }]);
    }
    const learned = route(change, learns, snapshot(learns), { history: stats });
    expect(learned.learned?.history).toBe(true);
    expect(learned.jobs).toEqual(expected);
  });

  it("and a policy without jobs gives a decision without the key, exactly as before", () => {
    const plain = policyFor(config, "acme/other");
    const decision = route(input(files, { repository: "acme/other" }), plain, null);
    expect(Object.hasOwn(decision, "jobs")).toBe(false);
    expect(JSON.stringify(decision)).not.toContain('"jobs"');
  });
});

describe('README.md "### Skip jobs whose inputs did not change"', () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("### Skip jobs whose inputs did not change");
  const section = readme.slice(start, readme.indexOf("\n### ", start + 1));
  const blocks = [...section.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => JSON.parse(m[1] ?? "null"));

  it("shows a configuration the parser takes, and the jobs its decision gives for a push of services/api/main.py", () => {
    expect(start).toBeGreaterThan(-1);
    const [config, decision] = blocks;
    const policy = policyFor(parseRoutingConfig(config), "acme/app");
    const change = input(["services/api/main.py"], { event: "push" });
    expect(route(change, policy, null).jobs).toEqual(decision.jobs);
  });
});

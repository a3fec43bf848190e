import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { sign } from "@octokit/webhooks-methods";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/bundle.ts";
import {
  explain,
  type FleetSource,
  type HistorySource,
  NO_HISTORY,
  NO_LEARNED_ROUTE,
  NO_SNAPSHOT,
  OPTIONS,
  rangeEnd,
  rangeRevisions,
  snapshotFromFleet,
  USAGE,
} from "../../scripts/explain.ts";
import { type LocalWorker, startLocalWorker } from "../../scripts/local-worker.ts";
import {
  abBucket,
  changesFromList,
  createStats,
  exportStats,
  importStats,
  observe,
  observeBuild,
  parseRoutingConfig,
  policyFor,
  route,
  type StatsDump,
} from "../../worker/src/core/index.ts";
import type { Decision } from "../../worker/src/core/types.ts";
import { classLoad } from "../support/snapshots.ts";

/** What `--json` prints: the decision, where its fleet snapshot came from, and (for a repository that learns) its history. */
type Explained = Decision & { fleet: FleetSource; history?: HistorySource };

/** Runs the command in-process; `env` replaces process.env for INIT_CWD, ROUTING_CONFIG, etc. */
async function run(argv: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  let stdout = "";
  let stderr = "";
  const code = await explain(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env ?? {},
    cwd: options.cwd ?? repo,
  });
  return { code, stdout, stderr };
}

async function runJson(argv: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const result = await run([...argv, "--json"], options);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Explained;
}

let repo = "";
let scratch = "";

/** A git repository with a fixed history: c1 → rename → docs → gpu (HEAD, on main). */
function makeRepository(dir: string): void {
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: join(dir, "..", "gitconfig"),
    GIT_AUTHOR_NAME: "Explain Test",
    GIT_AUTHOR_EMAIL: "explain@example.test",
    GIT_COMMITTER_NAME: "Explain Test",
    GIT_COMMITTER_EMAIL: "explain@example.test",
  };
  writeFileSync(env.GIT_CONFIG_GLOBAL, "");
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, env, stdio: "pipe" });
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  const commit = (message: string, tag: string) => {
    git("add", "-A");
    git("commit", "-q", "-m", message);
    git("tag", tag);
  };
  git("init", "-q", "-b", "main");
  write("README.md", "# lab\n");
  write("docs/guide.md", "# Guide\n");
  write("kernels/legacy.cu", "__global__ void legacy() {}\n".repeat(20));
  commit("initial", "c1");
  git("mv", "kernels/legacy.cu", "docs/legacy-kernel.md");
  commit("move the old kernel into the docs", "renamed");
  write("docs/guide.md", "# Guide\n\nMore words.\n");
  write("docs/faq.md", "# FAQ\n");
  commit("docs only", "docs");
  write("src/attention.cu", "__global__ void attention() {}\n");
  commit("gpu kernel", "gpu");
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "explain-test-"));
  repo = join(scratch, "repo");
  mkdirSync(repo);
  makeRepository(repo);
}, 60_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// These run git; the timeout is generous so that a loaded machine cannot fail them.
describe("explain --range", { timeout: 30_000 }, () => {
  it("names ai-lab for the commit that adds a .cu file, with the file in the reasons", async () => {
    const { code, stdout, stderr } = await run(["--range", "HEAD~1..HEAD"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^runner: +ai-lab$/m);
    expect(stdout).toMatch(/^runs_on: +\["self-hosted","ai-lab","gpu"\]$/m);
    expect(stdout).toMatch(/^requirement: +gpu$/m);
    expect(stdout).toMatch(/^rule: +gpu$/m);
    expect(stdout).toContain('  - src/attention.cu matches "**/*.cu" (rule gpu) → gpu');
    expect(stdout).toMatch(/^1 file \(git diff HEAD~1\.\.HEAD\)$/m);
  });

  it("routes the docs-only commit to github-hosted, on the current branch's ref", async () => {
    const decision = await runJson(["--range", "renamed..docs"]);
    expect(decision).toMatchObject({ runner: "github-hosted", requirement: "lightweight", files_count: 2 });
    // The default ref is the checked-out branch, refs/heads/main: a deploy ref.
    expect(decision.reasons[0]).toBe("refs/heads/main is a deploy ref but no changed file matches the deploy paths");
  });

  it("counts a renamed file under its old path as well as its new one", async () => {
    // kernels/legacy.cu → docs/legacy-kernel.md: the new path alone would be lightweight.
    const decision = await runJson(["--range", "c1..renamed"]);
    expect(decision.files_count).toBe(2);
    expect(decision.requirement).toBe("gpu");
    expect(decision.reasons[0]).toBe('kernels/legacy.cu matches "**/*.cu" (rule gpu) → gpu');
  });

  it("diffs from the merge base with A...B", async () => {
    const decision = await runJson(["--range", "docs...gpu"]);
    expect(decision).toMatchObject({ requirement: "gpu", files_count: 1 });
  });

  it("runs git where npm was started (INIT_CWD), and in --cwd", async () => {
    const elsewhere = scratch; // not a repository
    const viaInitCwd = await runJson(["--range", "HEAD~1..HEAD"], { cwd: elsewhere, env: { INIT_CWD: repo } });
    expect(viaInitCwd.runner).toBe("ai-lab");
    const viaOption = await runJson(["--range", "HEAD~1..HEAD", "--cwd", "repo"], { cwd: elsewhere });
    expect(viaOption.runner).toBe("ai-lab");
    const outside = await run(["--range", "HEAD~1..HEAD"], { cwd: elsewhere });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(/git diff failed/);
  });

  it("takes --ref and --event over the defaults", async () => {
    const decision = await runJson(["--range", "renamed..docs", "--ref", "refs/heads/feature", "--event", "push"]);
    expect(decision.reasons).toEqual([
      'all 2 changed files match lightweight rules: 2 × "**/*.md" (rule lightweight, e.g. docs/faq.md) → lightweight',
    ]);
  });

  it("rejects a range git cannot resolve, or that is not a range", async () => {
    const unknown = await run(["--range", "no-such-rev..HEAD"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe("");
    expect(unknown.stderr).toMatch(/no-such-rev/);
    const notARange = await run(["--range", "HEAD"]);
    expect(notARange.code).toBe(2);
    expect(notARange.stderr).toMatch(/expected A\.\.B/);
  });

  it("reads A..B the way git does", () => {
    expect(rangeRevisions("HEAD~1..HEAD")).toEqual(["HEAD~1", "HEAD"]);
    expect(rangeRevisions("main..")).toEqual(["main", "HEAD"]);
    expect(rangeRevisions("main...topic")).toEqual(["main...topic"]);
    expect(() => rangeRevisions("--output=x..HEAD")).toThrow(/not a revision/);
    expect(() => rangeRevisions("a..b..c")).toThrow();
    expect(rangeEnd("HEAD~1..HEAD")).toBe("HEAD");
    expect(rangeEnd("main..")).toBe("HEAD");
    expect(rangeEnd("docs...gpu")).toBe("gpu");
  });
});

describe("explain --files", () => {
  it("routes documentation to github-hosted", async () => {
    const { code, stdout } = await run(["--files", "README.md,docs/a.md"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^runner: +github-hosted$/m);
    expect(stdout).toMatch(/^requirement: +lightweight$/m);
    expect(stdout).toMatch(/^mode: +hybrid$/m);
    expect(stdout).toMatch(/^truncated: +no$/m);
    expect(stdout).toMatch(/^files known: +yes$/m);
    expect(stdout).toContain(
      '  - all 2 changed files match lightweight rules: 2 × "**/*.md" (rule lightweight, e.g. README.md) → lightweight',
    );
    expect(stdout).toMatch(/^2 files \(--files\)$/m);
  });

  it("flags a gpu change as unsatisfiable in cloudflare-only mode", async () => {
    const decision = await runJson(["--files", "src/attention.cu,README.md", "--mode", "cloudflare-only"]);
    expect(decision).toMatchObject({
      runner: "github-hosted",
      requirement: "gpu",
      mode: "cloudflare-only",
      satisfiable: false,
      rule: "gpu",
    });
  });

  it("moves lightweight work to the default runner in self-hosted-only mode, also from RUNNER_DISPATCH_MODE", async () => {
    const byOption = await runJson(["--files", "README.md", "--mode", "self-hosted-only"]);
    expect(byOption).toMatchObject({ runner: "vps", requirement: "lightweight", mode: "self-hosted-only" });
    const byEnv = await runJson(["--files", "README.md"], { env: { RUNNER_DISPATCH_MODE: "self-hosted-only" } });
    expect(byEnv).toEqual(byOption);
  });

  it("explains a deploy from a dispatch that names an environment", async () => {
    const decision = await runJson(["--files", "", "--event", "workflow_dispatch", "--environment", "production"]);
    expect(decision).toMatchObject({ runner: "kvm4", requirement: "deploy", environment: "production" });
  });
});

describe("explain with a routing config", () => {
  const custom = {
    rules: [{ id: "markdown-in-docker", requirement: "docker", patterns: ["**/*.md"] }],
    repositories: { "Acme/Lab": { mode: "cloudflare-only" } },
  };

  it("reads --config and ROUTING_CONFIG, and picks the repository's overrides", async () => {
    const file = join(scratch, "routing.json");
    writeFileSync(file, JSON.stringify(custom));
    const fromFile = await runJson(["--files", "README.md", "--config", file]);
    expect(fromFile).toMatchObject({
      runner: "vps",
      requirement: "docker",
      rule: "markdown-in-docker",
      mode: "hybrid",
    });
    const fromEnv = await runJson(["--files", "README.md"], { env: { ROUTING_CONFIG: JSON.stringify(custom) } });
    expect(fromEnv).toEqual(fromFile);
    const forRepo = await runJson(["--files", "README.md", "--config", file, "--repository", "acme/lab"]);
    expect(forRepo).toMatchObject({ runner: "github-hosted", requirement: "docker", mode: "cloudflare-only" });
    const human = await run(["--files", "README.md", "--config", file, "--repository", "acme/lab"]);
    expect(human.stdout).toMatch(/^policy: +repositories\["acme\/lab"\] from .*routing\.json$/m);
  });

  it("exits 2 listing every problem of a bad config", async () => {
    const file = join(scratch, "bad.json");
    writeFileSync(
      file,
      JSON.stringify({
        rules: [
          { id: "gpu", requirement: "gpu", patterns: ["/abs/**", "!docs/**"] },
          { id: "gpu", requirement: "docker", patterns: ["services/**"] },
        ],
        assign: { gpu: "no-such-runner" },
      }),
    );
    const { code, stdout, stderr } = await run(["--files", "README.md", "--config", file]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("invalid routing config (4 problems):");
    expect(stderr).toContain(`rules[0].patterns[0]: "/abs/**" must be relative to the repository root`);
    expect(stderr).toContain(`rules[0].patterns[1]: "!docs/**" negation ('!') is not supported`);
    expect(stderr).toContain(`rules[1].id: "gpu" is used by an earlier rule`);
    expect(stderr).toContain(`assign.gpu: unknown runner "no-such-runner"`);
  });

  it("exits 2 on a config that is not JSON, not an object, or not there", async () => {
    for (const env of [{ ROUTING_CONFIG: "{nope" }, { ROUTING_CONFIG: "[]" }]) {
      const { code, stderr } = await run(["--files", "README.md"], { env });
      expect(code).toBe(2);
      expect(stderr).toMatch(/^explain: ROUTING_CONFIG (is not valid JSON|must be a JSON object)/);
    }
    const missing = await run(["--files", "README.md", "--config", "no-such-file.json"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--config no-such-file\.json: cannot read it \(ENOENT\)/);
  });
});

describe("explain usage errors", () => {
  it.each([
    [["--files", "a.md", "--bogus"], /Unknown option '--bogus'/],
    [["--files", "a.md", "stray"], /positional argument/i],
    [[], /--range A\.\.B or --files/],
    [["--range", "HEAD~1..HEAD", "--files", "a.md"], /either --range or --files/],
    [["--files", "a.md", "--event", "release"], /--event must be one of push, pull_request, workflow_dispatch/],
    [["--files", "a.md", "--mode", "fast"], /--mode must be one of hybrid, self-hosted-only, cloudflare-only/],
    [["--files", "a.md", "--repository", "not-a-repo"], /--repository must be "owner\/name"/],
    [["--files", "a.md", "--ref", "main"], /--ref must be a full ref/],
    [["--files", "a.md", "--cwd", "no-such-dir"], /no such directory/],
  ])("%j exits 2", async (argv, message) => {
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
  });

  it("prints help on --help", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: npm run explain/);
  });

  it("lists every option it takes in --help", async () => {
    const { stdout } = await run(["-h"]);
    expect(stdout).toBe(USAGE);
    for (const [name, option] of Object.entries(OPTIONS)) {
      expect(stdout, `--${name}`).toMatch(
        new RegExp(`^ {2}(-${"short" in option ? option.short : ""}, )?--${name}\\b`, "m"),
      );
    }
    // …and nothing it does not take.
    const listed = [...stdout.matchAll(/^ {2}(?:-\w, )?--([a-z]+)/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.keys(OPTIONS).sort());
  });

  it.each([
    [["--files", "a.md", "--sha", "not-hex"], /--sha must be a hex commit id/],
    [["--files", "a.md", "--url", "not a url", "--token", "t"], /--url must be the router's base URL/],
    [["--files", "a.md", "--url", "ftp://127.0.0.1/", "--token", "t"], /--url must be an http\(s\) URL/],
    // Refused before any request: the token would cross the network in the clear.
    [["--files", "a.md", "--url", "http://router.example", "--token", "t"], /not sent over plain http/],
    [["--files", "a.md", "--url", "http://127.0.0.1:1/?x=1", "--token", "t"], /without credentials, query/],
    [["--files", "a.md", "--url", "http://127.0.0.1:1"], /--url needs the router's API token/],
  ])("%j exits 2", async (argv, message) => {
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
  });
});

describe("explain's assumptions without --url", () => {
  it("says that no fleet snapshot was taken, in the output and the JSON", async () => {
    const human = await run(["--files", "Dockerfile"]);
    expect(human.stdout).toContain(`\nfleet:       ${NO_SNAPSHOT}\n`);
    expect(NO_SNAPSHOT).toBe(
      "no fleet snapshot: the load-aware step is left out (pass --url to take one from a running router)",
    );
    const decision = await runJson(["--files", "Dockerfile"]);
    expect(decision.fleet).toEqual({ from: null, note: NO_SNAPSHOT });
    expect(decision).toMatchObject({ runner: "vps", runs_on: ["self-hosted", "vps"], arm: null });
  });
});

describe("explain and A/B rollouts", { timeout: 30_000 }, () => {
  const split = {
    runners: { "gpu-b": { kind: "self-hosted", runsOn: ["self-hosted", "gpu-b"] } },
    ab: { "ai-lab": { candidate: "gpu-b", share: 0.5 } },
  };
  const head = () => execFileSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" }).trim();
  const armOf = (repository: string, sha: string) => (abBucket(repository, sha) < 0.5 ? "candidate" : "control");

  it("hashes B's commit of --range, as the Worker hashes the pushed commit, and shows the arm", async () => {
    const file = join(scratch, "split.json");
    writeFileSync(file, JSON.stringify(split));
    const sha = head();
    const argv = ["--range", "HEAD~1..HEAD", "--config", file, "--repository", "acme/lab"];
    const decision = await runJson(argv);
    const arm = armOf("acme/lab", sha);
    expect(decision.arm).toBe(arm);
    expect(decision.runner).toBe(arm === "candidate" ? "gpu-b" : "ai-lab");
    expect(decision.reasons.some((r) => r.startsWith("A/B ai-lab vs gpu-b: commit bucket"))).toBe(true);
    const human = await run(argv);
    expect(human.stdout).toMatch(new RegExp(`^arm: +${arm}$`, "m"));
    expect(human.stdout).toMatch(new RegExp(`^commit: +${sha}$`, "m"));
  });

  it("takes --sha, and keeps the control without a commit", async () => {
    const file = join(scratch, "split.json");
    writeFileSync(file, JSON.stringify(split));
    for (const arm of ["candidate", "control"] as const) {
      const sha = shaOnArm("acme/lab", 0.5, arm);
      const decision = await runJson(["--files", "k.cu", "--config", file, "--repository", "acme/lab", "--sha", sha]);
      expect(decision).toMatchObject({ arm, runner: arm === "candidate" ? "gpu-b" : "ai-lab" });
    }
    const none = await runJson(["--files", "k.cu", "--config", file, "--repository", "acme/lab"]);
    expect(none).toMatchObject({ arm: "control", runner: "ai-lab" });
    expect(none.reasons).toContain("A/B ai-lab vs gpu-b: no commit to hash → control");
    const human = await run(["--files", "README.md"]);
    expect(human.stdout).toMatch(/^arm: +\(no A\/B rollout\)$/m);
  });

  it("notes that the arm needs the repository to match the Worker's", async () => {
    const file = join(scratch, "split.json");
    writeFileSync(file, JSON.stringify(split));
    const { code, stderr } = await run(["--files", "k.cu", "--config", file, "--sha", "a".repeat(40)]);
    expect(code).toBe(0);
    expect(stderr).toContain("note: without --repository the A/B arm is hashed from an empty repository name");
  });
});

describe("explain --cwd", { timeout: 30_000 }, () => {
  it("reads --config relative to --cwd, and the checkout there", async () => {
    const other = join(scratch, "other");
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, "routing.json"), JSON.stringify({ assign: { gpu: "kvm4" } }));
    const decision = await runJson(["--files", "k.cu", "--cwd", "other", "--config", "routing.json"], {
      cwd: scratch,
    });
    expect(decision).toMatchObject({ runner: "kvm4", requirement: "gpu" });
    // From where npm was run (INIT_CWD) too, then --cwd relative to it.
    const viaInit = await runJson(["--files", "k.cu", "--cwd", "other", "--config", "routing.json"], {
      cwd: "/",
      env: { INIT_CWD: scratch },
    });
    expect(viaInit).toEqual(decision);
    const missing = await run(["--files", "k.cu", "--cwd", "repo", "--config", "routing.json"], { cwd: scratch });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--config routing\.json: cannot read it \(ENOENT\)/);
    const range = await runJson(["--range", "HEAD~1..HEAD", "--cwd", "repo"], { cwd: scratch });
    expect(range.runner).toBe("ai-lab");
  });
});

describe("examples/routing.json", () => {
  const example = join(ROOT, "examples", "routing.json");

  it("is a routing config the core accepts", () => {
    const config = parseRoutingConfig(JSON.parse(readFileSync(example, "utf8")));
    expect(config.defaults.runners.hetzner).toMatchObject({ kind: "self-hosted", fallback: "kvm2" });
    expect(Object.keys(config.defaults.runners.vps?.machines ?? {})).toEqual(["vps-1"]);
    expect(config.defaults.ab.vps).toEqual({ candidate: "hetzner", share: 0.25 });
    expect(config.repositories["acme/website"]?.mode).toBe("cloudflare-only");
  });

  it("runs the README's example as written, from the project's root", async () => {
    const argv = ["--files", "a.cu", "--config", "examples/routing.json", "--repository", "acme/app"];
    const { code, stdout, stderr } = await run(argv, { cwd: ROOT });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^runner: +ai-lab$/m);
    expect(stdout).toMatch(/^policy: +defaults from examples\/routing\.json$/m);
    const site = await runJson(
      ["--files", "src/app.ts", "--config", "examples/routing.json", "--repository", "acme/website"],
      {
        cwd: ROOT,
      },
    );
    expect(site).toMatchObject({ runner: "github-hosted", mode: "cloudflare-only" });
  });
});

describe("npm run -s explain -- --json", { timeout: 60_000 }, () => {
  const npm = (args: string[]) => {
    // As a user runs it: npm sets INIT_CWD to where it is run, here the project's root.
    const { INIT_CWD: _initCwd, ...env } = process.env;
    return promisify(execFile)("npm", args, { cwd: ROOT, env, encoding: "utf8" });
  };

  it("prints the JSON alone on stdout, so it pipes", async () => {
    const { stdout } = await npm(["run", "-s", "explain", "--", "--json", "--files", "services/api/Dockerfile"]);
    const decision = JSON.parse(stdout) as Explained;
    expect(decision).toMatchObject({ runner: "vps", requirement: "docker", fleet: { from: null, note: NO_SNAPSHOT } });
  });

  it("is npm's banner that breaks it without -s", async () => {
    const { stdout } = await npm(["run", "explain", "--", "--json", "--files", "README.md"]);
    expect(stdout).toMatch(/^\s*> pmoves-ci-orchestrator@[^\n]+ explain\n/);
    expect(() => JSON.parse(stdout)).toThrow();
    expect(JSON.parse(stdout.slice(stdout.indexOf("{")))).toMatchObject({ runner: "github-hosted" });
  });
});

describe("GET /fleet's answer as a snapshot", () => {
  const machine = {
    name: "vps-1",
    capacity: 1,
    busy: 1,
    free: 0,
    online: true,
    lastSeen: null,
    labels: ["self-hosted", "vps", "vps-1"],
    jobs: [17],
  };
  const load = {
    capacity: 1,
    busy: 1,
    free: 0,
    queued: 2,
    waiting: 0,
    hasMachines: true,
    saturated: true,
    offline: false,
    machines: [machine],
  };

  it("is the core's FleetSnapshot: the classes, each machine without its job ids", () => {
    const { jobs: _jobs, ...bare } = machine;
    expect(snapshotFromFleet({ classes: { vps: load } })).toEqual({ vps: { ...load, machines: [bare] } });
  });

  it.each([
    [{}, /classes is missing/],
    [{ classes: { vps: { ...load, busy: "1" } } }, /classes\.vps\.busy is not a count/],
    [{ classes: { vps: { ...load, saturated: undefined } } }, /classes\.vps\.saturated is not true or false/],
    [
      { classes: { vps: { ...load, machines: [{ ...machine, labels: "vps" }] } } },
      /machines\[0\]\.labels is not a list/,
    ],
  ])("refuses %j", (body, message) => {
    expect(() => snapshotFromFleet(body)).toThrow(message);
  });
});

/** A commit of `repository` whose A/B bucket puts it on `arm` of a rollout of `share`. */
function shaOnArm(repository: string, share: number, arm: "control" | "candidate"): string {
  for (let i = 0; ; i++) {
    const sha = i.toString(16).padStart(40, "0");
    if (abBucket(repository, sha) < share === (arm === "candidate")) return sha;
  }
}

describe("explain --url against the local Worker", { timeout: 60_000 }, () => {
  const token = "explain-test-api-token";
  const secret = "explain-test-webhook-secret";
  const example = join(ROOT, "examples", "routing.json");
  const repository = "acme/app";
  let router: LocalWorker;

  beforeAll(async () => {
    router = await startLocalWorker({
      bindings: { WEBHOOK_SECRET: secret, API_TOKEN: token, ROUTING_CONFIG: readFileSync(example, "utf8") },
      onLog: () => {},
    });
    // A job running on vps-1, the vps class's one machine: the class is saturated.
    const body = JSON.stringify({
      action: "in_progress",
      repository: { full_name: repository },
      workflow_job: {
        id: 4242,
        run_id: 4243,
        head_sha: "3".repeat(40),
        name: "build",
        status: "in_progress",
        labels: ["self-hosted", "vps"],
        runner_name: "vps-1",
        runner_group_name: "Default",
        created_at: new Date(Date.now() - 60_000).toISOString(),
        started_at: new Date().toISOString(),
      },
    });
    const res = await fetch(`${router.url}/webhook/github`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "x-github-event": "workflow_job",
        "x-github-delivery": crypto.randomUUID(),
        "x-hub-signature-256": await sign(secret, body),
      },
    });
    expect(res.status, await res.text()).toBe(202);
  }, 90_000);

  afterAll(async () => {
    await router?.stop();
  });

  const docker = (sha: string, ...more: string[]) => [
    "--files",
    "services/api/Dockerfile",
    "--config",
    example,
    "--repository",
    repository,
    "--sha",
    sha,
    ...more,
  ];

  it("fails a saturated class over, where the decision without a snapshot does not", async () => {
    const sha = shaOnArm(repository, 0.25, "control");
    const without = await runJson(docker(sha));
    expect(without).toMatchObject({ runner: "vps", runs_on: ["self-hosted", "vps"], arm: "control" });
    expect(without.fleet).toEqual({ from: null, note: NO_SNAPSHOT });

    const withFleet = await runJson(docker(sha, "--url", router.url, "--token", token));
    expect(withFleet).toMatchObject({ runner: "kvm2", runs_on: ["self-hosted", "kvm2"], arm: "control" });
    expect(withFleet.reasons).toContain("vps saturated (1/1 busy) → kvm2");
    expect(withFleet.fleet).toEqual({ from: `${router.url}/fleet?repository=acme%2Fapp`, note: null });

    // The same decision the Worker itself gives for the change, with its load.
    const res = await fetch(`${router.url}/route`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ repository, sha, files: ["services/api/Dockerfile"] }),
    });
    const { decision } = (await res.json()) as { decision: Decision };
    const { fleet: _fleet, ...explained } = withFleet;
    expect(explained).toEqual(decision);
  });

  it("shows the arm and where the snapshot came from, taking the token from API_TOKEN", async () => {
    const sha = shaOnArm(repository, 0.25, "candidate");
    const { code, stdout, stderr } = await run(docker(sha, "--url", `${router.url}/`), { env: { API_TOKEN: token } });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^runner: +hetzner$/m);
    expect(stdout).toMatch(/^arm: +candidate$/m);
    expect(stdout).toMatch(new RegExp(`^fleet: +GET ${router.url}/fleet\\?repository=acme%2Fapp$`, "m"));
    expect(stdout).toContain("  - hetzner has room (0/2 busy)");
  });

  it("exits 2 on a wrong token, naming the answer and never the token", async () => {
    const { code, stdout, stderr } = await run(docker("a".repeat(40), "--url", router.url, "--token", "wrong-token"));
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/answered 401 unauthorized/);
    expect(stderr).toContain("--token or API_TOKEN");
    expect(stderr).not.toContain("wrong-token");
  });

  it("notes classes of its config the router does not have", async () => {
    const file = join(scratch, "extra-class.json");
    writeFileSync(
      file,
      JSON.stringify({ runners: { "gpu-b": { kind: "self-hosted", runsOn: ["self-hosted", "gpu-b"] } } }),
    );
    const { code, stderr } = await run(["--files", "k.cu", "--config", file, "--url", router.url, "--token", token]);
    expect(code).toBe(0);
    expect(stderr).toContain("note: the router's fleet has no class gpu-b; taken as free");
  });

  it("exits 2 when nothing answers at --url", async () => {
    const { code, stderr } = await run(["--files", "k.cu", "--url", "http://127.0.0.1:9", "--token", token]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/cannot take a fleet snapshot from http:\/\/127\.0\.0\.1:9\/fleet/);
  });
});

describe("explain for a repository that learns", { timeout: 30_000 }, () => {
  const repository = "acme/app";
  const sha = "1".repeat(40);
  // The self-hosted classes priced by the minute, so that the learner's choice shows.
  const config = {
    repositories: {
      [repository]: {
        learning: { enabled: true, exploreShare: 0 },
        runners: { vps: { cost: { perMinuteUsd: 0.05 } }, kvm2: { cost: { perMinuteUsd: 0.05 } } },
      },
    },
  };
  const env = { ROUTING_CONFIG: JSON.stringify(config) };
  const argv = ["--files", "src/index.ts", "--repository", repository, "--sha", sha];
  const policy = policyFor(parseRoutingConfig(config), repository);

  /** What the router learns from three builds of one job, a minute each on GitHub-hosted after 20 s in the queue. */
  function threeBuilds(): StatsDump {
    const stats = createStats();
    for (let i = 0; i < 3; i++) {
      const key = { repository, workflow: "CI", job: "test", requirement: "default" as const };
      observe(stats, key, "github-hosted", { minutes: 1, queueSeconds: 20, failed: false });
      observeBuild(stats, { repository, requirement: "default" }, [{ workflow: "CI", job: "test" }]);
    }
    return exportStats(stats);
  }

  /** GET /fleet as the router answers it: every class of the policy, free. */
  const fleet = {
    classes: Object.fromEntries(Object.values(policy.runners).map((r) => [r.id, classLoad(r.capacity)])),
  };

  /** A router that answers GET /fleet, and GET /learned with `learned` (status and body). */
  let server: Server;
  let url = "";
  let learned: { status: number; body: unknown } = { status: 200, body: {} };
  const asked: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      asked.push(`${req.url} ${req.headers.authorization}`);
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      const [status, body] =
        path === "/fleet" ? [200, fleet] : path === "/learned" ? [learned.status, learned.body] : [404, {}];
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it("decides without history without --url, as the router does a repository it has not seen, and says so", async () => {
    const decision = await runJson(argv, { env });
    expect(decision.history).toEqual({ from: null, note: NO_HISTORY });
    expect(decision.learned).toMatchObject({ history: false, greedy: "vps", requirement: "default" });
    expect(decision.reasons.at(-1)).toMatch(/^learned: no history for default builds of acme\/app/);
    const human = await run(argv, { env });
    expect(human.stdout).toContain(`\nhistory:     ${NO_HISTORY}\n`);
  });

  it("reads the router's history from GET /learned with --url, and decides with it as the router does", async () => {
    const dump = threeBuilds();
    learned = { status: 200, body: { repository, enabled: true, ...dump } };
    const decision = await runJson([...argv, "--url", url, "--token", "t0ken"], { env });
    expect(asked).toContain("/learned?repository=acme%2Fapp Bearer t0ken");
    expect(decision.history).toEqual({ from: `${url}/learned?repository=acme%2Fapp`, note: null });
    expect(decision).toMatchObject({ runner: "github-hosted", requirement: "lightweight" });
    expect(decision.reasons).toContainEqual(expect.stringMatching(/^learned: test usually 1\.\d min on github-hosted/));
    // The core's one call over the same rows and load, as the Ledger makes it.
    const input = {
      repository,
      event: "push",
      ref: null,
      sha,
      changes: changesFromList(["src/index.ts"], Number.POSITIVE_INFINITY, "--files"),
      environment: null,
    };
    const { fleet: _fleet, history: _history, ...explained } = decision;
    expect(explained).toEqual(route(input, policy, snapshotFromFleet(fleet), { history: importStats(dump) }));
    const human = await run([...argv, "--url", url, "--token", "t0ken"], { env });
    expect(human.stdout).toMatch(/^history: +GET http:\/\/127\.0\.0\.1:\d+\/learned\?repository=acme%2Fapp$/m);
  });

  it("decides without history when the router answers no GET /learned, and says so", async () => {
    learned = { status: 404, body: { error: { code: "not_found", message: "no route for GET /learned" } } };
    const decision = await runJson([...argv, "--url", url, "--token", "t0ken"], { env });
    expect(decision.history).toEqual({ from: null, note: NO_LEARNED_ROUTE });
    expect(decision.learned).toMatchObject({ history: false });
  });

  it("exits 2 on a GET /learned answer of another shape, or an error", async () => {
    learned = { status: 200, body: { entries: [["k", { n: "three" }]], rosters: [] } };
    const bad = await run([...argv, "--url", url, "--token", "t0ken"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("GET /learned answered an unexpected shape: entries[0][1].n is not a number");
    learned = { status: 503, body: { error: { code: "unavailable", message: "try again" } } };
    const down = await run([...argv, "--url", url, "--token", "t0ken"], { env });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/answered 503 unavailable: try again/);
  });

  it("leaves a repository that does not learn as it was: no history line, no history in the JSON", async () => {
    const other = ["--files", "src/index.ts", "--repository", "acme/other", "--sha", sha];
    const decision = await runJson(other, { env });
    expect(Object.keys(decision)).not.toContain("history");
    expect(Object.keys(decision)).not.toContain("learned");
    expect((await run(other, { env })).stdout).not.toContain("history:");
  });
});

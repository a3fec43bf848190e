import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { explain, rangeRevisions } from "../../scripts/explain.ts";
import type { Decision } from "../../worker/src/core/types.ts";

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
  return JSON.parse(result.stdout) as Decision;
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
});

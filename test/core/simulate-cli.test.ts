/**
 * `npm run simulate` as a user runs it: the table, the aims, `--json`, `--chart`, `--generate`,
 * the settings' validation and the exit codes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSettings, SettingsError } from "../../scripts/simulate/settings.ts";
import { main } from "../../scripts/simulate.ts";

const dir = mkdtempSync(join(tmpdir(), "simulate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    cwd: dir,
    env,
  });
  return { code, stdout, stderr };
}

/** The output without the line of CPU and wall time, which differ between runs. */
const stable = (out: string) => out.replace(/^CPU .*$/m, "");

describe("npm run simulate", () => {
  const trace = join(dir, "short.jsonl");
  let generated: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    generated = await run(["--generate", trace, "--days", "3", "--seed", "9"]);
  });

  it("writes a generated trace and says what it holds", async () => {
    expect(generated.code).toBe(0);
    expect(generated.stdout).toMatch(/^wrote .*short\.jsonl: \d+ commits, \d+ jobs over 3 days \(seed 9\)$/m);
  });

  it("prints a row per policy, the aims, and the run's CPU and wall time; writes --json and --chart", async () => {
    const out = await run(["--trace", "short.jsonl", "--json", "out.json", "--chart", "out.svg"]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    for (const policy of ["all-hosted", "static-self-hosted", "tree", "tree+load", "learned", "learned+prewarm"]) {
      expect(out.stdout).toMatch(new RegExp(`^${policy.replace("+", "\\+")} +\\$`, "m"));
    }
    expect(out.stdout).toMatch(/^(met|NOT met) +learned cost within 10% of the oracle's/m);
    expect(out.stdout).toMatch(/^(met|NOT met) +learned ≥ 15% cheaper than tree/m);
    expect(out.stdout).toMatch(/^met +zero failed placements for every router: none$/m);
    expect(out.stdout).toMatch(/^CPU \d+\.\d\d s, wall \d+\.\d\d s$/m);
    const json = JSON.parse(readFileSync(join(dir, "out.json"), "utf8")) as {
      figures: { policy: string; cost_usd: number; queue_p95_s: number; ttg_p95_s: number; regret: unknown }[];
      aims: { aim: string; met: boolean }[];
      cpu_ms: number;
    };
    expect(json.figures.map((f) => f.policy)).toContain("oracle");
    for (const f of json.figures) {
      expect(typeof f.cost_usd).toBe("number");
      expect(f.regret).not.toBeNull();
    }
    const svg = readFileSync(join(dir, "out.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("cost against p95 queue, per policy");
    expect(svg).toContain("regret against the oracle over time");
    expect(svg.match(/<(circle|path) [^>]*><title>/g)?.length).toBe(json.figures.length);
  });

  it("prints the same figures for the same trace and settings", async () => {
    const a = await run(["--trace", "short.jsonl"]);
    const b = await run(["--trace", "short.jsonl"]);
    expect(stable(a.stdout)).toBe(stable(b.stdout));
  });

  it("runs on a generated trace when given none", async () => {
    const out = await run(["--days", "2"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("generated (2 days, seed 7, 500 builds per 30 days)");
  });

  it("docs/simulate.svg is the chart of the default generated trace (npm run simulate -- --chart docs/simulate.svg)", async () => {
    const out = await run(["--chart", "default.svg"]);
    expect(out.code).toBe(0);
    const committed = readFileSync(new URL("../../docs/simulate.svg", import.meta.url), "utf8");
    expect(readFileSync(join(dir, "default.svg"), "utf8")).toBe(committed);
  });

  it("--scenario burst compares tree, tree+load and tree+load+fair, with each one's fairness, also in --json", async () => {
    const out = await run(["--scenario", "burst", "--json", "burst.json"]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("(scenario burst, seed 7)");
    expect(out.stdout).toMatch(/^fairness \(Jain's index .*small: every repository but acme\/monorepo\):$/m);
    for (const policy of ["tree", "tree\\+load", "tree\\+load\\+fair"]) {
      expect(out.stdout).toMatch(new RegExp(`^${policy} +Jain \\d\\.\\d{3}  small p95 queue \\d+ s`, "m"));
    }
    const json = JSON.parse(readFileSync(join(dir, "burst.json"), "utf8")) as {
      figures: { policy: string; fairness: { jain_index: number; small_queue_p95_s: number; largest: string } }[];
    };
    expect(json.figures.map((f) => f.policy)).toEqual(["tree", "tree+load", "tree+load+fair"]);
    const [, load, fair] = json.figures.map((f) => f.fairness);
    expect(fair?.largest).toBe("acme/monorepo");
    expect(fair?.small_queue_p95_s).toBeLessThan(load?.small_queue_p95_s ?? 0);
    expect(fair?.jain_index).toBeGreaterThan(0);
  });

  it("refuses an unknown scenario, and a scenario with a trace", async () => {
    expect(await run(["--scenario", "storm"])).toMatchObject({ code: 2, stderr: "--scenario must be one of: burst\n" });
    expect((await run(["--scenario", "burst", "--trace", "short.jsonl"])).code).toBe(2);
  });

  it("exits 1 when a router misplaces a job", async () => {
    writeFileSync(
      join(dir, "misplaced.jsonl"),
      `${JSON.stringify({
        at: "2026-11-02T09:00:00Z",
        repository: "acme/docs",
        event: "push",
        ref: "refs/heads/feature",
        files: ["docs/a.md"],
        jobs: [{ name: "docs", minutes: { vps: 1 } }],
      })}\n`,
    );
    const out = await run(["--trace", "misplaced.jsonl"]);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^NOT met +zero failed placements for every router: tree: 1/m);
  });

  it.each([
    [["--trace", "missing.jsonl"], /ENOENT/],
    [["--trace", "bad.jsonl"], /^trace line 2: event must be "push" or "pull_request"$/m],
    [["--trace", "short.jsonl", "--settings", "bad-settings.json"], /waitUsdPerMinute: must be a number from 0 to 100/],
    [["--days", "0"], /--days must be a positive integer/],
    [["--frobnicate"], /Unknown option/],
  ])("exits 2 for %j", async (argv, message) => {
    writeFileSync(
      join(dir, "bad.jsonl"),
      `${readFileSync(trace, "utf8").split("\n")[0]}\n{"at":"2026-11-02T09:00:00Z","repository":"a/b","event":"release","ref":"refs/heads/x","files":[],"jobs":[]}\n`,
    );
    writeFileSync(join(dir, "bad-settings.json"), JSON.stringify({ waitUsdPerMinute: -1 }));
    const out = await run(argv);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(message);
  });
});

describe("npm run simulate -- --publish", () => {
  /** A router's PUT /simulation on 127.0.0.1: records what it is sent, answers as it is told. */
  async function fakeRouter(answer: { status: number; body: unknown }) {
    const seen: { method?: string; url?: string; authorization?: string; type?: string; body: string }[] = [];
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        seen.push({
          method: request.method,
          url: request.url,
          authorization: request.headers.authorization,
          type: request.headers["content-type"],
          body,
        });
        response.writeHead(answer.status, { "content-type": "application/json" });
        response.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((done) => server.close(done)) };
  }

  it("sends the --json document to PUT /simulation under the router's path, with the token", async () => {
    const router = await fakeRouter({ status: 200, body: { published_at: "2026-12-01T10:00:00.000Z" } });
    try {
      const out = await run(["--days", "2", "--json", "published.json", "--publish", `${router.url}/ci/`], {
        API_TOKEN: "from-env",
      });
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(out.stdout).toContain(`published to ${router.url}/ci/simulation at 2026-12-01T10:00:00.000Z`);
      expect(router.seen).toHaveLength(1);
      expect(router.seen[0]).toMatchObject({
        method: "PUT",
        url: "/ci/simulation",
        authorization: "Bearer from-env",
        type: "application/json",
      });
      expect(router.seen[0]?.body).toBe(readFileSync(join(dir, "published.json"), "utf8"));
    } finally {
      await router.close();
    }
  });

  it("exits 3 with the router's error when it refuses", async () => {
    const router = await fakeRouter({ status: 401, body: { error: { code: "unauthorized", message: "no" } } });
    try {
      const out = await run(["--days", "1", "--publish", router.url, "--token", "wrong"]);
      expect(out.code).toBe(3);
      expect(out.stderr).toMatch(/answered 401 \(unauthorized: no\)/);
      expect(router.seen[0]?.authorization).toBe("Bearer wrong");
    } finally {
      await router.close();
    }
  });

  it.each([
    [["--publish", "http://router.example"], /not sent over plain http except to/],
    [["--publish", "https://router.example/?x=1"], /without credentials, query or fragment/],
    [["--publish", "https://router.example"], /--publish needs the router's API token/],
    [["--token", "t"], /--token only counts with --publish/],
  ])("refuses %j before running anything (exit 2)", async (argv, message) => {
    const out = await run(argv);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(message);
    expect(out.stdout).toBe("");
  });
});

describe("simulation settings", () => {
  it("fill in the defaults and list every problem at once", async () => {
    expect(parseSettings({}).queueDelaySeconds).toEqual({ min: 30, max: 120 });
    expect(parseSettings({ classes: { vps: { warmPool: 2 } } }).classes.vps).toEqual({ warmPool: 2 });
    let error: unknown;
    try {
      parseSettings({
        queueDelaySeconds: { min: 100, max: 10 },
        githubHosted: { warmPool: 1 },
        classes: { vps: { coldStartSeconds: -5 } },
        learner: { exploreShare: 2, overTargetUsdPerMinute: -1 },
        extra: true,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).problems).toEqual([
      "extra: not a setting",
      "queueDelaySeconds: max (10) is under min (100)",
      "githubHosted.warmPool: must be 0 (GitHub starts its own machines; none can be kept warm)",
      "classes.vps.coldStartSeconds: must be a number from 0 to 3600",
      "learner.exploreShare: must be a number from 0 to 1",
      "learner.overTargetUsdPerMinute: must be a number from 0 to 100",
    ]);
    expect(parseSettings({ learner: { overTargetUsdPerMinute: 2 } }).learner).toEqual({
      ...parseSettings({}).learner,
      overTargetUsdPerMinute: 2,
    });
  });

  it("examples/sim-settings.json is the defaults, written out", async () => {
    const text = readFileSync(new URL("../../examples/sim-settings.json", import.meta.url), "utf8");
    expect(parseSettings(JSON.parse(text))).toEqual(parseSettings({}));
  });
});

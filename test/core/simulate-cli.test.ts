/**
 * `npm run simulate` as a user runs it: the table, the aims, `--json`, `--chart`, `--generate`,
 * the settings' validation and the exit codes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSettings, SettingsError } from "../../scripts/simulate/settings.ts";
import { main } from "../../scripts/simulate.ts";

const dir = mkdtempSync(join(tmpdir(), "simulate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = main(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    cwd: dir,
  });
  return { code, stdout, stderr };
}

/** The output without the line of CPU and wall time, which differ between runs. */
const stable = (out: string) => out.replace(/^CPU .*$/m, "");

describe("npm run simulate", () => {
  const trace = join(dir, "short.jsonl");
  const generated = run(["--generate", trace, "--days", "3", "--seed", "9"]);

  it("writes a generated trace and says what it holds", () => {
    expect(generated.code).toBe(0);
    expect(generated.stdout).toMatch(/^wrote .*short\.jsonl: \d+ commits, \d+ jobs over 3 days \(seed 9\)$/m);
  });

  it("prints a row per policy, the aims, and the run's CPU and wall time; writes --json and --chart", () => {
    const out = run(["--trace", "short.jsonl", "--json", "out.json", "--chart", "out.svg"]);
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

  it("prints the same figures for the same trace and settings", () => {
    const a = run(["--trace", "short.jsonl"]);
    const b = run(["--trace", "short.jsonl"]);
    expect(stable(a.stdout)).toBe(stable(b.stdout));
  });

  it("runs on a generated trace when given none", () => {
    const out = run(["--days", "2"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("generated (2 days, seed 7, 500 builds per 30 days)");
  });

  it("docs/simulate.svg is the chart of the default generated trace (npm run simulate -- --chart docs/simulate.svg)", () => {
    const out = run(["--chart", "default.svg"]);
    expect(out.code).toBe(0);
    const committed = readFileSync(new URL("../../docs/simulate.svg", import.meta.url), "utf8");
    expect(readFileSync(join(dir, "default.svg"), "utf8")).toBe(committed);
  });

  it("exits 1 when a router misplaces a job", () => {
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
    const out = run(["--trace", "misplaced.jsonl"]);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^NOT met +zero failed placements for every router: tree: 1/m);
  });

  it.each([
    [["--trace", "missing.jsonl"], /ENOENT/],
    [["--trace", "bad.jsonl"], /^trace line 2: event must be "push" or "pull_request"$/m],
    [["--trace", "short.jsonl", "--settings", "bad-settings.json"], /waitUsdPerMinute: must be a number from 0 to 100/],
    [["--days", "0"], /--days must be a positive integer/],
    [["--frobnicate"], /Unknown option/],
  ])("exits 2 for %j", (argv, message) => {
    writeFileSync(
      join(dir, "bad.jsonl"),
      `${readFileSync(trace, "utf8").split("\n")[0]}\n{"at":"2026-11-02T09:00:00Z","repository":"a/b","event":"release","ref":"refs/heads/x","files":[],"jobs":[]}\n`,
    );
    writeFileSync(join(dir, "bad-settings.json"), JSON.stringify({ waitUsdPerMinute: -1 }));
    const out = run(argv);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(message);
  });
});

describe("simulation settings", () => {
  it("fill in the defaults and list every problem at once", () => {
    expect(parseSettings({}).queueDelaySeconds).toEqual({ min: 30, max: 120 });
    expect(parseSettings({ classes: { vps: { warmPool: 2 } } }).classes.vps).toEqual({ warmPool: 2 });
    let error: unknown;
    try {
      parseSettings({
        queueDelaySeconds: { min: 100, max: 10 },
        githubHosted: { warmPool: 1 },
        classes: { vps: { coldStartSeconds: -5 } },
        learner: { exploreShare: 2 },
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
    ]);
  });

  it("examples/sim-settings.json is the defaults, written out", () => {
    const text = readFileSync(new URL("../../examples/sim-settings.json", import.meta.url), "utf8");
    expect(parseSettings(JSON.parse(text))).toEqual(parseSettings({}));
  });
});

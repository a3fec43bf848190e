/**
 * The `--scenario burst` trace and configuration: one large repository's burst next to steady
 * small repositories on a shared self-hosted pool, where fair shares are what decides who waits.
 *
 * - The pool (`BURST_CONFIG`): `self-hosted-only`, so nothing escapes to GitHub-hosted
 *   runners; `vps` (6 slots) falls back to `kvm2` (3 slots). Fair shares are configured but off
 *   (`tree+load` decides as today); `tree+load+fair` runs the same configuration with them on.
 *   Weights: the large repository 1, every other `acme/*` repository 2.
 * - The burst: `acme/monorepo` pushes a 40-job matrix as 5 pushes of 8 test shards (median 8
 *   minutes each), 150 s apart, from 10:00 UTC; to feature branches, so no push has priority.
 * - The steady work, 09:00 to 12:00 UTC: `acme/api`, `acme/web` and `acme/docs`, each a
 *   commit every 12 minutes on average (exponential gaps), of two short jobs (1 to 5 minutes).
 * - Durations log-normal (σ 0.3) around each job's median on the reference class, `kvm2`
 *   1.15× as long (the generator's speed factors); seeded, so a seed gives the same trace.
 */
import { parseRoutingConfig, type RoutingConfig } from "../../worker/src/core/index.ts";
import { hex, lognormal, mulberry32, type Random } from "./random.ts";
import { formatCommit, type TraceCommit } from "./trace.ts";

export const BURST_REPOSITORY = "acme/monorepo";

/** The scenario's pool and fair shares (off: `tree+load+fair` turns them on). */
export const BURST_CONFIG_INPUT = {
  mode: "self-hosted-only",
  runners: { vps: { capacity: 6 }, kvm2: { capacity: 3 } },
  fairShare: { enabled: false, weights: { [BURST_REPOSITORY]: 1, "acme/*": 2 }, maxWaitSeconds: 120 },
} as const;

export function burstConfig(): RoutingConfig {
  return parseRoutingConfig(BURST_CONFIG_INPUT);
}

interface SmallRepository {
  name: string;
  files: string[];
  jobs: { name: string; median: number }[];
}

const SMALL: readonly SmallRepository[] = [
  {
    name: "acme/api",
    files: ["src/api/handlers.py"],
    jobs: [
      { name: "lint", median: 1.3 },
      { name: "test", median: 4 },
    ],
  },
  {
    name: "acme/web",
    files: ["src/app/page.tsx"],
    jobs: [
      { name: "lint", median: 1 },
      { name: "build", median: 3 },
    ],
  },
  {
    name: "acme/docs",
    files: ["src/site/build.ts"],
    jobs: [
      { name: "build", median: 2 },
      { name: "links", median: 1 },
    ],
  },
];

const MINUTE = 60_000;
const round1 = (x: number) => Math.max(0.1, Math.round(x * 10) / 10);

/** A job's minutes on the scenario's classes, around `median` on vps. */
function minutesOf(random: Random, median: number): Record<string, number> {
  const vps = lognormal(random, median, 0.3);
  return { vps: round1(vps), kvm2: round1(vps * 1.15) };
}

/** The scenario's commits, in time order. */
export function burstCommits(seed: number): Omit<TraceCommit, "atMs" | "line">[] {
  const random = mulberry32(seed);
  const day = Date.parse("2026-11-03T00:00:00Z");
  const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
  const commits: Omit<TraceCommit, "atMs" | "line">[] = [];
  for (let push = 0; push < 5; push++) {
    const at = day + 10 * 60 * MINUTE + push * 150_000;
    commits.push({
      at: iso(at),
      repository: BURST_REPOSITORY,
      event: "push",
      ref: `refs/heads/matrix-${push + 1}`,
      sha: hex(random, 40),
      files: ["src/core/engine.rs"],
      truncated: false,
      jobs: Array.from({ length: 8 }, (_, shard) => ({
        name: `test (shard ${push * 8 + shard + 1})`,
        workflow: "CI",
        minutes: minutesOf(random, 8),
        fails: false,
      })),
    });
  }
  for (const repository of SMALL) {
    for (let at = day + 9 * 60 * MINUTE; ; ) {
      at += Math.round(-Math.log(1 - random()) * 12 * MINUTE);
      if (at >= day + 12 * 60 * MINUTE) break;
      commits.push({
        at: iso(Math.floor(at / 1000) * 1000),
        repository: repository.name,
        event: "push",
        ref: `refs/heads/change-${commits.length}`,
        sha: hex(random, 40),
        files: repository.files,
        truncated: false,
        jobs: repository.jobs.map((job) => ({
          name: job.name,
          workflow: "CI",
          minutes: minutesOf(random, job.median),
          fails: false,
        })),
      });
    }
  }
  return commits.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** The scenario's trace as JSON Lines. */
export function burstTrace(seed: number): string {
  return `${burstCommits(seed)
    .map((c) => formatCommit(c))
    .join("\n")}\n`;
}

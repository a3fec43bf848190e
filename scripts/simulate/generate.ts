/**
 * A generated trace (`npm run simulate -- --generate FILE [--days 30] [--seed 7]`): an
 * organisation's month of commits, seeded and reproducible.
 *
 * Where the numbers come from:
 * - Volume: about 500 builds a month of about 15 minutes each (7,500 build minutes), the
 *   figures the product's cost ledger was first sized with (README, "Cost ledger": a month of 500
 *   builds). `buildsPerMonth` scales it; the per-job medians below are set so that the mean build
 *   comes out near 15 minutes on the class the decision tree picks.
 * - Arrivals: weekdays carry the work, weekends 15% of a weekday; within a day, 08:00–17:00 UTC
 *   at full rate, a lunch dip, evenings and nights low (an assumption: one team's working day).
 * - Durations: log-normal (σ = 0.45 in log space) around each job's median, plus a 3% tail of
 *   runs 2–4× slower (cold caches, retried tests, slow mirrors): CI durations are right-skewed.
 * - Speed per class (an assumption, stated as such): the self-hosted `vps` (with its Docker
 *   layer cache) is the reference; a 2-core GitHub-hosted runner takes 1.3× as long on general
 *   work and 1.9× on Docker image builds (no layer cache: every layer is rebuilt and base images
 *   pulled); `kvm2`, a smaller box, 1.15×; a class the generator does not know, 1.1× (self-hosted)
 *   or 1.3× (GitHub-hosted). GPU work runs only where a GPU is (classes labelled `gpu`, `ai-lab`
 *   by default); deploys only on the deploy class. Each class adds its own 8% noise.
 * - Prices are not the generator's: the simulator reads them from the routing configuration
 *   (by default GitHub's 2026 per-label table: Linux 2-core $0.006 a minute, 4-core $0.012, GPU
 *   4-core $0.052, each job rounded up to the minute; the VPS boxes at $10 a month).
 * - Failures: 2% of jobs fail wherever they run.
 * - Event mix: 55% pull requests (head branches), 45% pushes (to main half the time); deploys are
 *   pushes to main touching `deploy/**`. 0.5% of source commits come with a list GitHub truncated.
 *
 * Which classes a job can run on is what the decision tree allows for its commit
 * (`feasibleClasses` over the tree's decision), so a router never has a reason to misplace it;
 * the baselines that ignore the tree (all-hosted, static-self-hosted) do, and that is counted.
 */
import {
  decide,
  feasibleClasses,
  policyFor,
  type RoutingConfig,
  type RoutingPolicy,
  type Runner,
} from "../../worker/src/core/index.ts";
import { gaussian, hex, lognormal, mulberry32, poisson, type Random, weighted } from "./random.ts";
import { DEFAULT_WORKFLOW, formatCommit, routingInput, type TraceCommit, type TraceJob } from "./trace.ts";

export interface GenerateOptions {
  days: number;
  seed: number;
  /** Builds in 30 days (default 500). */
  buildsPerMonth?: number;
  /** The first day, UTC midnight (default 2026-11-02, a Monday). */
  start?: string;
}

export const DEFAULT_GENERATE: Required<GenerateOptions> = {
  days: 30,
  seed: 7,
  buildsPerMonth: 500,
  start: "2026-11-02T00:00:00Z",
};

/** What kind of work a job is: how each class runs it. */
type Work = "general" | "docker" | "gpu" | "deploy";

interface JobShape {
  name: string;
  workflow?: string;
  /** Median minutes on the reference class. */
  median: number;
  work: Work;
}

interface Change {
  share: number;
  files: (random: Random) => string[];
  jobs: JobShape[];
  /** Pushed to main only (deploys). */
  mainOnly?: boolean;
}

interface Repository {
  name: string;
  share: number;
  changes: Change[];
}

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const some = (random: Random, paths: readonly string[], max: number) => {
  const n = 1 + Math.floor(random() * Math.min(max, paths.length));
  return [...new Set(Array.from({ length: n }, () => pick(random, paths)))];
};

const DOC_FILES = ["README.md", "docs/guide.md", "docs/api.md", "CHANGELOG.md", "docs/howto/setup.md"];
const docs = (workflow = "Docs"): Change => ({
  share: 1,
  files: (r) => some(r, DOC_FILES, 3),
  jobs: [
    { name: "docs", workflow, median: 1.1, work: "general" },
    { name: "links", workflow, median: 0.7, work: "general" },
  ],
});

/** The organisation: several repositories with different mixes of work. */
export const REPOSITORIES: readonly Repository[] = [
  { name: "acme/handbook", share: 0.1, changes: [docs()] },
  {
    name: "acme/api",
    share: 0.26,
    changes: [
      {
        share: 0.7,
        files: (r) => some(r, ["src/api/handlers.py", "src/api/models.py", "src/api/auth.py", "pyproject.toml"], 3),
        jobs: [
          { name: "lint", median: 1.3, work: "general" },
          { name: "test", median: 10, work: "general" },
          { name: "build", median: 5, work: "general" },
        ],
      },
      {
        // Only tests change: the paths say lightweight, but the whole suite runs.
        share: 0.15,
        files: (r) => some(r, ["tests/test_handlers.py", "tests/test_models.py", "tests/conftest.py"], 2),
        jobs: [
          { name: "lint", median: 1.3, work: "general" },
          { name: "test", median: 10, work: "general" },
        ],
      },
      { ...docs(DEFAULT_WORKFLOW), share: 0.15 },
    ],
  },
  {
    name: "acme/services",
    share: 0.2,
    changes: [
      {
        share: 0.65,
        files: (r) =>
          some(
            r,
            ["services/api/Dockerfile", "services/api/app.py", "services/worker/Dockerfile", "docker-compose.yml"],
            3,
          ),
        jobs: [
          { name: "test", median: 6, work: "general" },
          { name: "image", median: 11, work: "docker" },
        ],
      },
      {
        share: 0.2,
        files: (r) => some(r, ["lib/queue.go", "lib/retry.go", "go.mod"], 2),
        jobs: [
          { name: "lint", median: 1.2, work: "general" },
          { name: "test", median: 6, work: "general" },
        ],
      },
      { ...docs(DEFAULT_WORKFLOW), share: 0.15 },
    ],
  },
  {
    name: "acme/ml",
    share: 0.1,
    changes: [
      {
        share: 0.5,
        files: (r) => some(r, ["kernels/matmul.cu", "kernels/attention.cu", "kernels/common.cuh"], 2),
        jobs: [
          { name: "cuda-test", median: 16, work: "gpu" },
          { name: "lint", median: 1.1, work: "gpu" },
        ],
      },
      {
        share: 0.35,
        files: (r) => some(r, ["train/loop.py", "train/data.py", "requirements.txt"], 2),
        jobs: [
          { name: "lint", median: 1.1, work: "general" },
          { name: "test", median: 7, work: "general" },
        ],
      },
      { ...docs(DEFAULT_WORKFLOW), share: 0.15 },
    ],
  },
  {
    name: "acme/platform",
    share: 0.2,
    changes: [
      {
        share: 0.35,
        mainOnly: true,
        files: (r) => [...some(r, ["deploy/app.yaml", "deploy/values.yaml"], 2), ...some(r, ["cmd/server/main.go"], 1)],
        jobs: [
          { name: "deploy", workflow: "Deploy", median: 4, work: "deploy" },
          { name: "smoke", workflow: "Deploy", median: 2, work: "deploy" },
        ],
      },
      {
        share: 0.45,
        files: (r) => some(r, ["cmd/server/main.go", "internal/store/store.go", "internal/http/routes.go"], 3),
        jobs: [
          { name: "lint", median: 1.2, work: "general" },
          { name: "test", median: 8, work: "general" },
          { name: "build", median: 5, work: "general" },
        ],
      },
      { ...docs(DEFAULT_WORKFLOW), share: 0.2 },
    ],
  },
  {
    name: "acme/web",
    share: 0.14,
    changes: [
      {
        share: 0.8,
        files: (r) => some(r, ["src/app/page.tsx", "src/components/Nav.tsx", "package.json", "src/lib/api.ts"], 3),
        jobs: [
          { name: "lint", median: 1.0, work: "general" },
          { name: "unit", median: 4, work: "general" },
          { name: "build", median: 6, work: "general" },
          { name: "e2e", median: 9, work: "general" },
        ],
      },
      { ...docs(DEFAULT_WORKFLOW), share: 0.2 },
    ],
  },
];

/** Weekday weight (Monday first). */
const DAY_WEIGHT = [1, 1, 1, 1, 1, 0.15, 0.15];
/** Hour-of-day weight, UTC. */
const HOUR_WEIGHT = [
  0.05, 0.05, 0.05, 0.05, 0.05, 0.08, 0.15, 0.4, 1, 1, 1, 1, 0.7, 1, 1, 1, 1, 0.7, 0.35, 0.3, 0.2, 0.15, 0.1, 0.05,
];

const hasLabel = (runner: Runner, label: string) => runner.runsOn.some((l) => l.toLowerCase() === label);

/** How much slower than the reference a class runs a kind of work (see the block above). */
export function speedFactor(runner: Runner, work: Work): number {
  if (runner.kind === "github-hosted") return work === "docker" ? 1.9 : 1.3;
  if (runner.id === "vps" || (work === "gpu" && hasLabel(runner, "gpu")) || work === "deploy") return 1;
  if (runner.id === "kvm2") return 1.15;
  return 1.1;
}

/** The classes a job of this work can run on, among those the tree allows for its commit. */
function runnable(policy: RoutingPolicy, allowed: readonly string[], work: Work): Runner[] {
  const runners = allowed.flatMap((id) => {
    const runner = policy.runners[id];
    if (runner === undefined) return [];
    if (work === "gpu" && !hasLabel(runner, "gpu")) return [];
    return [runner];
  });
  // A mode that sends GPU work where no GPU is (cloudflare-only): the tree's class, flagged unsatisfiable by the router.
  const tree = policy.runners[allowed[0] ?? ""];
  return runners.length > 0 || tree === undefined ? runners : [tree];
}

const round1 = (x: number) => Math.max(0.1, Math.round(x * 10) / 10);

/** Scales every job's median so that the mean build comes out near 15 minutes on the tree's class. */
const MEDIAN_SCALE = 1.1;

/** The trace's commits, in time order. */
export function generateCommits(
  config: RoutingConfig,
  options: Partial<GenerateOptions> = {},
): Omit<TraceCommit, "atMs" | "line">[] {
  const o = { ...DEFAULT_GENERATE, ...options };
  const random = mulberry32(o.seed);
  const start = Date.parse(o.start);
  let weights = 0;
  for (let d = 0; d < o.days; d++) {
    const weekday = (new Date(start + d * 86_400_000).getUTCDay() + 6) % 7;
    for (const h of HOUR_WEIGHT) weights += (DAY_WEIGHT[weekday] ?? 1) * h;
  }
  const perWeight = ((o.buildsPerMonth / 30) * o.days) / weights;
  const commits: Omit<TraceCommit, "atMs" | "line">[] = [];
  let pr = 100;
  for (let d = 0; d < o.days; d++) {
    const weekday = (new Date(start + d * 86_400_000).getUTCDay() + 6) % 7;
    for (const [hour, h] of HOUR_WEIGHT.entries()) {
      const n = poisson(random, perWeight * (DAY_WEIGHT[weekday] ?? 1) * h);
      const times = Array.from({ length: n }, () => Math.floor(random() * 3600)).sort((a, b) => a - b);
      for (const second of times) {
        const at = new Date(start + d * 86_400_000 + hour * 3_600_000 + second * 1000).toISOString();
        commits.push(commitAt(config, random, at.replace(".000Z", "Z"), () => pr++));
      }
    }
  }
  return commits;
}

function commitAt(
  config: RoutingConfig,
  random: Random,
  at: string,
  nextPr: () => number,
): Omit<TraceCommit, "atMs" | "line"> {
  const repository = weighted(random, REPOSITORIES);
  const change = weighted(random, repository.changes);
  const push = change.mainOnly === true || random() < 0.45;
  const ref =
    change.mainOnly === true || (push && random() < 0.5) ? "refs/heads/main" : `refs/heads/feature-${nextPr()}`;
  const files = change.files(random);
  const truncated = change.jobs.some((j) => j.name === "build") && random() < 0.005;
  const sha = hex(random, 40);
  const base = {
    at,
    repository: repository.name,
    event: push ? ("push" as const) : ("pull_request" as const),
    ref,
    sha,
    files,
    truncated,
  };
  const policy = policyFor(config, repository.name);
  const allowed = feasibleClasses(decide(routingInput({ ...base, atMs: 0, line: 0, jobs: [] }), policy), policy);
  const jobs: TraceJob[] = change.jobs.map((shape) => {
    const slow = random() < 0.03 ? 2 + 2 * random() : 1;
    const reference = lognormal(random, shape.median * MEDIAN_SCALE, 0.45) * slow;
    const minutes: Record<string, number> = {};
    for (const runner of runnable(policy, allowed, shape.work)) {
      minutes[runner.id] = round1(reference * speedFactor(runner, shape.work) * Math.exp(0.08 * gaussian(random)));
    }
    return { name: shape.name, workflow: shape.workflow ?? DEFAULT_WORKFLOW, minutes, fails: random() < 0.02 };
  });
  return { ...base, jobs };
}

/** The generated trace as JSON Lines. */
export function generateTrace(config: RoutingConfig, options: Partial<GenerateOptions> = {}): string {
  return `${generateCommits(config, options)
    .map((c) => formatCommit(c))
    .join("\n")}\n`;
}

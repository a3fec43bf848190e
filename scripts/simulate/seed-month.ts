/**
 * The 500-build example month as a hand-made trace (examples/seed-month.jsonl): the 500 builds the cost
 * ledger was first sized with, under examples/seed-month.json (GitHub-hosted at $0.04 a
 * minute, the three VPS boxes at $10 a month). Routed by the decision tree it costs $35 ($30
 * fixed + $5 hosted) against a $300 baseline, as test/core/costs.test.ts prices the same jobs:
 *
 * - 300 docker builds of 17 min (5,100 min) and 100 default builds of 15 min (1,500 min), on vps;
 * - 25 deploys of 15 min and 25 of 15 min 30 s (billed 16: 775 min in all), on kvm4;
 * - 25 lightweight builds of 2 min and 25 of 2 min 30 s (billed 3: 125 min), on GitHub-hosted.
 *
 * One job a build, spread evenly over exactly one average month (30.4375 days, from the first
 * commit to the last), so the fixed prices prorate to exactly one month each and no build waits
 * for another.
 */
import { AVERAGE_MONTH_DAYS } from "../../worker/src/core/index.ts";
import { derivedSha, formatCommit, type TraceCommit } from "./trace.ts";

const START = Date.parse("2024-01-01T00:00:00Z");
const SPAN = AVERAGE_MONTH_DAYS * 86_400_000;

interface Kind {
  count: number;
  minutes: number;
  files: string[];
  event: "push" | "pull_request";
  ref: string;
  name: string;
}

const KINDS: Kind[] = [
  {
    count: 300,
    minutes: 17,
    files: ["services/api/Dockerfile"],
    event: "pull_request",
    ref: "refs/heads/feature",
    name: "image",
  },
  { count: 100, minutes: 15, files: ["src/app.py"], event: "pull_request", ref: "refs/heads/feature", name: "test" },
  { count: 25, minutes: 15, files: ["deploy/app.yaml"], event: "push", ref: "refs/heads/main", name: "deploy" },
  { count: 25, minutes: 15.5, files: ["deploy/app.yaml"], event: "push", ref: "refs/heads/main", name: "deploy" },
  { count: 25, minutes: 2, files: ["docs/guide.md"], event: "pull_request", ref: "refs/heads/feature", name: "docs" },
  { count: 25, minutes: 2.5, files: ["README.md"], event: "pull_request", ref: "refs/heads/feature", name: "docs" },
];

/** The month's commits; every job can run on any class (the tree keeps each on its own). */
export function seedMonthCommits(): Omit<TraceCommit, "atMs" | "line">[] {
  const kinds = KINDS.flatMap((k) => Array.from({ length: k.count }, () => k));
  return kinds.map((k, i) => {
    const at = new Date(i === kinds.length - 1 ? START + SPAN : START + Math.round((i * SPAN) / (kinds.length - 1)));
    const text = at.toISOString();
    const minutes = { vps: k.minutes, kvm2: k.minutes, kvm4: k.minutes, "github-hosted": k.minutes };
    return {
      at: text,
      repository: "pmoves/app",
      event: k.event,
      ref: k.ref,
      sha: derivedSha(i + 1, "pmoves/app", text),
      files: k.files,
      truncated: false,
      jobs: [{ name: k.name, workflow: "CI", minutes, fails: false }],
    };
  });
}

/** examples/seed-month.jsonl's text. */
export function seedMonthTrace(): string {
  return `${seedMonthCommits()
    .map((c) => formatCommit(c))
    .join("\n")}\n`;
}

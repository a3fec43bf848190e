import { DEFAULT_ALERTS } from "./alerts.ts";
import { dict } from "./names.ts";
import { GITHUB_HOSTED_PRICES } from "./prices.ts";
import type { FailoverPolicy, Requirement, RoutingPolicy, Rule, Runner } from "./types.ts";

/** The default runner pool. Costs: the three VPS boxes at $10 a month each, the AI lab at $0, GitHub's price for `ubuntu-latest`. */
export const DEFAULT_RUNNERS: Record<string, Runner> = dict(
  Object.entries({
    "ai-lab": {
      id: "ai-lab",
      kind: "self-hosted",
      runsOn: ["self-hosted", "ai-lab", "gpu"],
      fallback: null,
      capacity: 1,
      cost: { monthlyUsd: 0 },
    },
    vps: {
      id: "vps",
      kind: "self-hosted",
      runsOn: ["self-hosted", "vps"],
      fallback: "kvm2",
      capacity: 2,
      cost: { monthlyUsd: 10 },
    },
    kvm4: {
      id: "kvm4",
      kind: "self-hosted",
      runsOn: ["self-hosted", "cloudstartup", "kvm4"],
      fallback: null,
      capacity: 1,
      cost: { monthlyUsd: 10 },
    },
    "github-hosted": {
      id: "github-hosted",
      kind: "github-hosted",
      runsOn: ["ubuntu-latest"],
      fallback: null,
      capacity: 20,
      cost: { perMinuteUsd: GITHUB_HOSTED_PRICES["ubuntu-latest"] as number },
    },
    kvm2: {
      id: "kvm2",
      kind: "self-hosted",
      runsOn: ["self-hosted", "kvm2"],
      fallback: "github-hosted",
      capacity: 1,
      cost: { monthlyUsd: 10 },
    },
  } satisfies Record<string, Runner>),
);

export const DEFAULT_RULES: Rule[] = [
  {
    id: "gpu",
    requirement: "gpu",
    patterns: ["**/*.cu", "**/*.cuh", "**/Dockerfile.gpu", "**/*-gpu/**", "**/ollama/**"],
  },
  {
    id: "docker",
    requirement: "docker",
    patterns: ["services/**", "**/Dockerfile", "**/Dockerfile.*", "**/docker-compose*.yml", "**/docker-compose*.yaml"],
  },
  {
    id: "lightweight",
    requirement: "lightweight",
    patterns: [
      "**/*.md",
      "docs/**",
      "**/*.txt",
      "LICENSE*",
      ".editorconfig",
      "**/.eslintrc*",
      "**/.prettierrc*",
      "**/biome.json",
      "**/*.test.*",
      "**/*_test.*",
      "test/**",
      "tests/**",
    ],
  },
];

export const DEFAULT_DEPLOY = {
  refs: [
    { ref: "refs/heads/main", environment: "staging" },
    { ref: "refs/heads/production", environment: "production" },
    { ref: "refs/tags/v*", environment: "production" },
  ],
  paths: ["deploy/**"],
};

export const DEFAULT_ASSIGN: Record<Requirement, string> = {
  gpu: "ai-lab",
  docker: "vps",
  deploy: "kvm4",
  lightweight: "github-hosted",
  default: "vps",
};

/** GPU and deploy work waits for its own runners; everything else may fall back. */
export const DEFAULT_FAILOVER: FailoverPolicy = {
  requirements: ["docker", "default", "lightweight"],
  rescue: { enabled: true, maxPerRun: 2 },
};

export const DEFAULT_POLICY: RoutingPolicy = {
  mode: "hybrid",
  rules: DEFAULT_RULES,
  deploy: DEFAULT_DEPLOY,
  runners: DEFAULT_RUNNERS,
  assign: DEFAULT_ASSIGN,
  alerts: DEFAULT_ALERTS,
  failover: DEFAULT_FAILOVER,
  ab: dict(),
};

/**
 * The policies compared on one trace. The routers decide with the router's own core: `route()`
 * (the decision tree, with or without the fleet's load) and `learnedChoice()` (the learner);
 * nothing here re-implements a decision.
 *
 * - `all-hosted`: every job on the GitHub-hosted class (a baseline).
 * - `static-self-hosted`: every job on the policy's default runner (a baseline).
 * - `tree`: the decision tree on the paths, no load: `route(input, policy, null)`.
 * - `tree+load`: the tree with today's load-aware failover: `route(input, policy, snapshot)`.
 * - `tree+load+fair`: `tree+load` with fair shares on (`FAIR_POLICY`, run by `--scenario burst`).
 * - `learned`: `learnedChoice(input, policy, snapshot, stats)`, learning from every job it ran,
 *   with the fleet as the Ledger decides with it: the jobs GitHub has queued or started. A build
 *   routed whose jobs have not queued yet is in no class's queue, for the Ledger does not count
 *   it either (test/core/simulate-learned-worker.test.ts replays a run through the Worker).
 * - `oracle-per-commit` (a reference beside the others): the oracle's hindsight
 *   held to one class per commit, as a router decides; the gap between it and `oracle` is what
 *   deciding per commit costs.
 * - `learned+prewarm`: the learner, and at push time its class's machines warmed for the
 *   commit's expected jobs: a job that finds one starts warm instead of cold.
 * - `fixed-warm-pool`: `tree+load`, with each self-hosted class keeping its settings'
 *   `warmPool` machines booted all along.
 * - `oracle`: hindsight, per job when it queues: among the classes its `minutes` names, the one
 *   minimising per-minute price × its billed minutes + wait price × its exact queue time (every
 *   duration and the queue are known, and the queue is FIFO, so the start is exact). Greedy,
 *   one job at a time: it never holds a slot back for a later job, so it is a lower bound in
 *   practice, not a proven optimum.
 */
import {
  createStats,
  DEFAULT_FAIR_SHARE,
  expectedRunSeconds,
  hostedRunner,
  type LearnedChoice,
  type LearnedStats,
  type LearnOptions,
  learnedChoice,
  observe,
  observeBuild,
  policyFor,
  type Requirement,
  type RoutingPolicy,
  type Runner,
  route,
  wakeUpClasses,
  withLearnedNote,
} from "../../worker/src/core/index.ts";
import type { CommitChoice, SimPolicy, Simulation } from "./engine.ts";
import { classSettings } from "./settings.ts";
import { routingInput, type TraceCommit } from "./trace.ts";

export const POLICY_NAMES = [
  "all-hosted",
  "static-self-hosted",
  "tree",
  "tree+load",
  "learned",
  "learned+prewarm",
  "fixed-warm-pool",
  "oracle",
  "oracle-per-commit",
] as const;

/**
 * `tree+load` with fair shares on (core/fair-share.ts): the same configuration with
 * `fairShare.enabled` true (its weights, caps, priority and wait bound as configured, else the
 * defaults). Compared beside the others where fair shares are what is shown (`--scenario burst`).
 */
export const FAIR_POLICY = "tree+load+fair";

export type PolicyName = (typeof POLICY_NAMES)[number] | typeof FAIR_POLICY;

const policyOf = (sim: Simulation, commit: TraceCommit): RoutingPolicy => policyFor(sim.config, commit.repository);

/** Every job on one class the policy names. */
function fixed(name: PolicyName, classOf: (policy: RoutingPolicy) => string): SimPolicy {
  return {
    name,
    router: false,
    decide: (commit, sim) => ({ runner: classOf(policyOf(sim, commit)), decision: null }),
  };
}

/** The policy with fair shares on: the configured ones, else the defaults, enabled. */
function withFairShare(policy: RoutingPolicy): RoutingPolicy {
  return { ...policy, fairShare: { ...(policy.fairShare ?? DEFAULT_FAIR_SHARE), enabled: true } };
}

/** The decision tree, with the fleet's load or without; with `fair`, with fair shares on. */
function tree(name: PolicyName, withLoad: boolean, warmPool?: (runner: string) => number, fair = false): SimPolicy {
  return {
    name,
    router: true,
    decide(commit, sim): CommitChoice {
      const snapshot = withLoad ? sim.snapshot(commit.repository) : null;
      const policy = fair ? withFairShare(policyOf(sim, commit)) : policyOf(sim, commit);
      const decision = route(routingInput(commit), policy, snapshot);
      return { runner: decision.runner, decision };
    },
    ...(warmPool === undefined ? {} : { warmPool }),
  };
}

/** The learner's options from the settings: the wait price, SLO queue targets, exploration. */
export function learnOptions(sim: Simulation, policy: RoutingPolicy): LearnOptions {
  const targets: Record<string, number> = {};
  for (const runner of Object.values(policy.runners)) {
    targets[runner.id] = classSettings(sim.settings, runner.id, runner.kind).sloQueueSeconds;
  }
  return {
    waitUsdPerMinute: sim.settings.waitUsdPerMinute,
    lightweightMinutes: sim.settings.learner.lightweightMinutes,
    exploreShare: sim.settings.learner.exploreShare,
    minRuns: sim.settings.learner.minRuns,
    overTargetUsdPerMinute: sim.settings.learner.overTargetUsdPerMinute,
    queueTargetSeconds: targets,
  };
}

/** The learner, learning from the jobs it places; with `prewarm`, warming its class ahead. */
function learned(name: PolicyName, prewarm: boolean, stats: LearnedStats = createStats()): SimPolicy {
  /** The tree's requirement of each commit decided: the key its jobs are observed under. */
  const keys = new Map<number, Requirement>();
  return {
    name,
    router: true,
    decide(commit, sim): CommitChoice {
      const policy = policyOf(sim, commit);
      const choice = learnedChoice(
        routingInput(commit),
        policy,
        sim.snapshot(commit.repository),
        stats,
        learnOptions(sim, policy),
      );
      keys.set(commit.line, choice.requirement);
      const { runner, placements = [] } = choice.decision;
      return {
        runner,
        decision: choice.decision,
        explored: choice.explored,
        probability: choice.probability,
        placements,
        expected: choice.expected,
        ...(prewarm ? { prewarm: expectedMachines(choice, policy) } : {}),
      };
    },
    expectedRun(commit, job, runner, sim) {
      const requirement = keys.get(commit.line);
      if (requirement === undefined) return null;
      const key = { repository: commit.repository, workflow: job.workflow, job: job.name, requirement };
      return expectedRunSeconds(stats, key, runner, sim.settings.learner.minRuns);
    },
    jobDone(run, commit) {
      const requirement = keys.get(commit.line);
      if (requirement === undefined || run.runner === null || run.startedAt === null) return;
      observe(
        stats,
        { repository: commit.repository, workflow: run.workflow, job: run.name, requirement },
        run.runner,
        { minutes: run.runMs / 60_000, queueSeconds: (run.startedAt - run.queuedAt) / 1000, failed: run.failed },
      );
    },
    commitDone(_run, commit) {
      const requirement = keys.get(commit.line);
      if (requirement === undefined) return;
      observeBuild(
        stats,
        { repository: commit.repository, requirement },
        commit.jobs.map((j) => ({ workflow: j.workflow, job: j.name })),
      );
      keys.delete(commit.line);
    },
  };
}

/**
 * The machines to warm for a learned choice, as the Ledger wakes its classes (core/warm.ts
 * `wakeUpClasses`, any self-hosted class standing for one with a warm hook): each class the
 * build is expected to use, for its expected jobs rounded up; else the build's class, for the
 * jobs predicted there.
 */
function expectedMachines(choice: LearnedChoice, policy: RoutingPolicy): Record<string, number> {
  const machines: Record<string, number> = {};
  const selfHosted = (r: Runner) => r.kind !== "github-hosted";
  for (const { runner, jobs } of wakeUpClasses(withLearnedNote(choice), policy, selfHosted)) {
    machines[runner] = jobs ?? choice.predicted.find((p) => p.runner === runner)?.jobs ?? 1;
  }
  return machines;
}

/** Hindsight, per job: the class with the least per-minute charge plus priced exact wait. */
function oracle(): SimPolicy {
  return {
    name: "oracle",
    router: true,
    decide: () => null,
    placeJob(_commit, job, sim) {
      let best: { runner: string; score: number; start: number } | null = null;
      for (const [runner, minutes] of Object.entries(job.minutes)) {
        const start = sim.projectStart(runner);
        if (start === null) continue;
        const price = sim.perMinuteUsd(runner) ?? 0;
        const waitMinutes = (start - sim.now) / 60_000;
        const score = price * Math.ceil(minutes) + sim.settings.waitUsdPerMinute * waitMinutes;
        const better =
          best === null ||
          score < best.score - 1e-12 ||
          (Math.abs(score - best.score) <= 1e-12 && start + minutes * 60_000 < best.start);
        if (better) best = { runner, score, start: start + minutes * 60_000 };
      }
      // No class it names exists: placed on its first, and counted as a failed placement.
      return best?.runner ?? Object.keys(job.minutes)[0] ?? "";
    },
  };
}

/**
 * The same hindsight held to one class per commit, as a router decides: when the commit's jobs
 * queue, the class (among those that can run all of them) minimising their per-minute charges
 * plus priced exact waits. What separates it from `oracle` is the granularity alone.
 */
function oraclePerCommit(): SimPolicy {
  const chosen = new Map<number, string>();
  return {
    name: "oracle-per-commit",
    router: true,
    decide: () => null,
    placeJob(commit, _job, sim) {
      const known = chosen.get(commit.line);
      if (known !== undefined) return known;
      const runners = Object.keys(commit.jobs[0]?.minutes ?? {}).filter((r) =>
        commit.jobs.every((j) => Object.hasOwn(j.minutes, r)),
      );
      let best: { runner: string; score: number } | null = null;
      for (const runner of runners) {
        const minutes = commit.jobs.map((j) => j.minutes[runner] ?? 0);
        const starts = sim.projectStarts(
          runner,
          minutes.map((m) => Math.round(m * 60_000)),
        );
        if (starts === null) continue;
        const price = sim.perMinuteUsd(runner) ?? 0;
        const waits = starts.reduce((a, t) => a + (t - sim.now) / 60_000, 0);
        const score = price * minutes.reduce((a, m) => a + Math.ceil(m), 0) + sim.settings.waitUsdPerMinute * waits;
        if (best === null || score < best.score - 1e-12) best = { runner, score };
      }
      const runner = best?.runner ?? Object.keys(commit.jobs[0]?.minutes ?? {})[0] ?? "";
      chosen.set(commit.line, runner);
      return runner;
    },
  };
}

/** A fresh instance of the named policy (each run learns from nothing). */
export function makePolicy(name: PolicyName, sim: { settings: Simulation["settings"] }): SimPolicy {
  switch (name) {
    case "all-hosted":
      return fixed(name, (p) => hostedRunner(p)?.id ?? p.assign.lightweight);
    case "static-self-hosted":
      return fixed(name, (p) => p.assign.default);
    case "tree":
      return tree(name, false);
    case "tree+load":
      return tree(name, true);
    case "learned":
      return learned(name, false);
    case "learned+prewarm":
      return learned(name, true);
    case "fixed-warm-pool":
      return tree(name, true, (runner) => warmPoolOf(sim.settings, runner));
    case "oracle":
      return oracle();
    case "oracle-per-commit":
      return oraclePerCommit();
    case FAIR_POLICY:
      return tree(name, true, undefined, true);
  }
}

/** The settings' warm pool of a class (kind read from its id's settings entry; GitHub-hosted never warm). */
function warmPoolOf(settings: Simulation["settings"], runner: string): number {
  const own = Object.hasOwn(settings.classes, runner) ? settings.classes[runner] : undefined;
  return own?.warmPool ?? settings.selfHosted.warmPool;
}

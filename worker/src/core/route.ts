import { withJobs } from "./jobs.ts";
import { type LearnedChoice, type LearnOptions, learnedChoice } from "./learn.ts";
import type { LearnedStats } from "./learn-stats.ts";
import type { FleetSnapshot } from "./load.ts";
import { treeRoute } from "./tree-route.ts";
import type { Decision, LearningPolicy, RoutingInput, RoutingPolicy } from "./types.ts";

/** What the decision may weigh besides the change, its policy and the fleet's load. */
export interface RouteOptions {
  /**
   * The learned history the learner reads for this decision (core/learn.ts), for a policy with
   * `learning.enabled`; ignored otherwise. The Ledger gives a view of its tables that reads each
   * key the learner asks for by primary key, so a decision reads only its repository's rows.
   */
  history?: LearnedStats | null;
}

/**
 * The decision for a change, the one call everything makes (webhooks in the Ledger, `/route`,
 * `npm run explain`, the simulator): what the change needs by the decision tree and the mode
 * (`decide`), then, given the fleet's load, the class and machine that can take it now
 * (`chooseRunner`: A/B arm, least-loaded machine, failover). With no snapshot the load step is
 * left out and the decision is the tree's alone.
 *
 * For a policy with `learning.enabled`, given the history, the learned router decides instead
 * (`learnedChoice`: the cheapest expected cost and wait within what the tree allows, the paths
 * rule while nothing is known), and the decision carries its `learned` note (the probability of
 * the choice, and the requirement its jobs are learned under).
 *
 * Whoever decided, the decision then carries the policy's per-job verdicts (`jobs`, when the
 * policy declares any: core/jobs.ts), here and nowhere else, so that every decision has them.
 */
export function route(
  input: RoutingInput,
  policy: RoutingPolicy,
  fleet: FleetSnapshot | null,
  options: RouteOptions = {},
): Decision {
  return withJobs(routeRunner(input, policy, fleet, options), input, policy);
}

/** The runner part of the decision: the learner's, for a policy that learns and has its history, else the tree's with the load. */
function routeRunner(
  input: RoutingInput,
  policy: RoutingPolicy,
  fleet: FleetSnapshot | null,
  options: RouteOptions,
): Decision {
  const { history } = options;
  if (policy.learning?.enabled && history !== undefined && history !== null) {
    const choice = learnedChoice(input, policy, fleet, history, learnOptionsOf(policy.learning));
    return withLearnedNote(choice);
  }
  return treeRoute(input, policy, fleet);
}

/** The learner's decision with its `learned` note, as `route()` returns it. */
export function withLearnedNote(choice: LearnedChoice): Decision {
  return {
    ...choice.decision,
    learned: {
      probability: choice.probability,
      explored: choice.explored,
      greedy: choice.greedy,
      requirement: choice.requirement,
      history: choice.learned,
      expected_jobs: choice.expected,
    },
  };
}

/** The learner's options from a policy's `learning`: a setting left out keeps the learner's default. */
export function learnOptionsOf(learning: LearningPolicy): LearnOptions {
  const { waitUsdPerMinute, overTargetUsdPerMinute, lightweightMinutes, exploreShare, minRuns } = learning;
  return { waitUsdPerMinute, overTargetUsdPerMinute, lightweightMinutes, exploreShare, minRuns };
}

import { chooseRunner } from "./choose.ts";
import { decide } from "./decide.ts";
import type { FleetSnapshot } from "./load.ts";
import type { Decision, RoutingInput, RoutingPolicy } from "./types.ts";

/**
 * The decision by the paths rule: what the change needs by the decision tree and the mode
 * (`decide`), then, given the fleet's load, the class and machine that can take it now
 * (`chooseRunner`: A/B arm, least-loaded machine, failover, fair shares). With no snapshot the load step is
 * left out. `route()` calls it, and so does the learner while it knows nothing of a change.
 */
export function treeRoute(input: RoutingInput, policy: RoutingPolicy, fleet: FleetSnapshot | null): Decision {
  const needs = decide(input, policy);
  if (fleet === null) return needs;
  const { repository, sha, event, ref, defaultBranch = null } = input;
  return chooseRunner(needs, policy, fleet, { repository, sha, event, ref, defaultBranch });
}

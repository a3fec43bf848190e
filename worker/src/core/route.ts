import { chooseRunner } from "./choose.ts";
import { decide } from "./decide.ts";
import type { FleetSnapshot } from "./load.ts";
import type { Decision, RoutingInput, RoutingPolicy } from "./types.ts";

/**
 * The decision for a change, the one call everything makes (webhooks in the Ledger, `/route`,
 * `npm run explain`, the simulator): what the change needs by the decision tree and the mode
 * (`decide`), then, given the fleet's load, the class and machine that can take it now
 * (`chooseRunner`: A/B arm, least-loaded machine, failover). With no snapshot the load step is
 * left out and the decision is the tree's alone.
 */
export function route(
  input: RoutingInput,
  policy: RoutingPolicy,
  fleet: FleetSnapshot | null,
  labels?: readonly string[],
): Decision {
  const needs = decide(input, policy);
  if (fleet === null) return needs;
  return chooseRunner(needs, policy, fleet, {
    repository: input.repository,
    sha: input.sha,
    ...(labels === undefined ? {} : { labels }),
  });
}

/**
 * The Worker with the Ledger's storage left out, for `npm run bench`'s webhook section only
 * (bundled there, never deployed): every delivery still travels the whole Worker (headers,
 * body, signature, payload, changed files, plan) and reaches its organisation's Ledger over
 * RPC, which arms its alarm as it always does. There the Book reads and writes no SQLite and
 * asks for no KV copy: a push or pull request is decided as the Book decides it (`route` under
 * its repository's policy, over the fleet as an empty Ledger sees it) and answered with its
 * decision; every other delivery is answered 202 at once. The router's CPU less this variant's
 * is what the Ledger's storage, its bookkeeping around the decision and the KV copy cost a
 * delivery.
 */
import { Book } from "../../worker/src/book.ts";
import { fleetSnapshot, NO_COUNTS, type Plan, policyFor, route } from "../../worker/src/core/index.ts";
import type { Settings } from "../../worker/src/settings.ts";

/** The Book's dependencies, as far as this variant reads them (its `deps` are private to it). */
type WithSettings = { deps: { settings: () => Settings | null } };

Book.prototype.accept = function accept(delivery: string, _event: string, plan: Plan) {
  const build_id = `bench-${delivery}`;
  const config = (this as unknown as WithSettings).deps.settings()?.config;
  if (plan.kind !== "create" || config === undefined) {
    return { duplicate: false, status: 202, body: JSON.stringify({ build_id }), persist: null };
  }
  const policy = policyFor(config, plan.input.repository);
  const decision = route(plan.input, policy, fleetSnapshot(NO_COUNTS, policy), { history: null });
  return { duplicate: false, status: 202, body: JSON.stringify({ build_id, decision }), persist: null };
};

export { default, Ledger } from "../../worker/src/index.ts";

import type { RoutingPolicy, Runner } from "./types.ts";

/** Where a fallback chain ends: at a runner with none, at an unknown id, or back at one on it. */
export type ChainEnd = { kind: "end" } | { kind: "unknown"; id: string } | { kind: "cycle"; id: string };

/**
 * The runners `runner` falls back to, in order (`runner.fallback`, then its fallback, …), and
 * why the chain ends. The one walk of the chain: the configuration check reports its unknown
 * ids and cycles, `chooseRunner` fails over along it and the rescue desk looks along it for room.
 */
export function fallbackChain(policy: RoutingPolicy, runner: Runner): { chain: Runner[]; end: ChainEnd } {
  const chain: Runner[] = [];
  const seen = new Set([runner.id]);
  for (let id = runner.fallback; id !== null; ) {
    if (seen.has(id)) return { chain, end: { kind: "cycle", id } };
    const next = Object.hasOwn(policy.runners, id) ? policy.runners[id] : undefined;
    if (next === undefined) return { chain, end: { kind: "unknown", id } };
    chain.push(next);
    seen.add(id);
    id = next.fallback;
  }
  return { chain, end: { kind: "end" } };
}

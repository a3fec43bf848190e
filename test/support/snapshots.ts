/** Fleet snapshots for the core's tests: a class's load, and a policy's whole fleet with some classes busy. */
import type { ClassLoad, FleetSnapshot, RoutingPolicy } from "../../worker/src/core/index.ts";

/** An empty class of `capacity` slots, with `over` applied. */
export function classLoad(capacity: number, over: Partial<ClassLoad> = {}): ClassLoad {
  return {
    capacity,
    busy: 0,
    free: capacity,
    queued: 0,
    waiting: 0,
    hasMachines: false,
    saturated: false,
    offline: false,
    machines: [],
    ...over,
  };
}

/** Every class of `policy` empty, but `busy` ones: their busy slots (up to the capacity) and queued jobs. */
export function fleetOf(
  policy: RoutingPolicy,
  busy: Record<string, { busy: number; queued?: number }> = {},
): FleetSnapshot {
  const out: FleetSnapshot = {};
  for (const runner of Object.values(policy.runners)) {
    const b = busy[runner.id];
    const used = Math.min(runner.capacity, b?.busy ?? 0);
    out[runner.id] = classLoad(runner.capacity, {
      busy: used,
      free: runner.capacity - used,
      queued: b?.queued ?? 0,
      saturated: runner.kind !== "github-hosted" && used >= runner.capacity,
    });
  }
  return out;
}

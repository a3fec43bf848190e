import { fallbackChain } from "./chain.ts";
import { type FairShareBuild, fairShareVerdict, runsGpu } from "./fair-share.ts";
import type { ClassLoad, FleetSnapshot, MachineLoad } from "./load.ts";
import type { Decision, RoutingPolicy, Runner } from "./types.ts";

/**
 * The load-aware choice of a runner: the A/B arm of a commit, the least-loaded machine of a
 * class, and failover along the fallback chain. Pure: the fleet's load comes in as a snapshot.
 */

/**
 * FNV-1a, 32-bit, over the UTF-8 bytes of `text` (offset basis 0x811c9dc5, prime 0x01000193).
 * The A/B arm of a commit is `fnv1a32(`${repository}@${sha}`) / 2^32 < share`, with the
 * repository and sha lower-cased, so the same commit always lands on the same arm.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const byte = (b: number) => {
    hash = Math.imul(hash ^ b, 0x01000193) >>> 0;
  };
  for (const char of text) {
    const c = char.codePointAt(0) ?? 0;
    if (c < 0x80) byte(c);
    else if (c < 0x800) {
      byte(0xc0 | (c >> 6));
      byte(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 0x3f));
      byte(0x80 | (c & 0x3f));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 0x3f));
      byte(0x80 | ((c >> 6) & 0x3f));
      byte(0x80 | (c & 0x3f));
    }
  }
  return hash;
}

/** Where a commit falls in [0, 1) for A/B splits. */
export function abBucket(repository: string, sha: string): number {
  return fnv1a32(`${repository.toLowerCase()}@${sha.toLowerCase()}`) / 2 ** 32;
}

/** Who the build is for (repository, and for fair shares' priority its event, ref and default branch), its commit, and labels. */
export interface ChooseOptions extends FairShareBuild {
  repository: string;
  sha: string | null;
  /** Labels the job needs besides its class's `runsOn` (e.g. `arm64`): only machines that have them all qualify. */
  labels?: readonly string[];
}

/**
 * The decision with load taken into account:
 * 1. A/B: when `policy.ab` splits the decided class, the commit's bucket picks the arm.
 * 2. Within the class, the least-loaded online machine with a free slot that has every label
 *    (lowest busy/capacity, then name): `runs_on` becomes the class's labels plus its name.
 * 3. A saturated or all-offline class falls back along `fallback` when the requirement is in
 *    `failover.requirements` (never to a github-hosted class in self-hosted-only mode);
 *    otherwise, or when the chain runs out, the job waits on its class.
 * 4. Fair shares (core/fair-share.ts, when `fairShare.enabled`), at each class the build would
 *    land on or wait for: a repository over its share of a contended class, or at its cap,
 *    moves on to the fallback for a requirement that may fail over, and then waits there, not
 *    on its first class, when the chain runs out.
 * Every step that changes or explains the choice appends a reason.
 */
export function chooseRunner(
  decision: Decision,
  policy: RoutingPolicy,
  fleet: FleetSnapshot,
  options: ChooseOptions,
): Decision {
  const reasons = [...decision.reasons];
  let primary = policy.runners[decision.runner];
  if (primary === undefined) return { ...decision, arm: null };
  let arm: Decision["arm"] = null;
  const test = policy.ab[primary.id];
  const candidate = test ? policy.runners[test.candidate] : undefined;
  if (test && candidate) {
    const from = primary.id;
    if (options.sha === null) {
      arm = "control";
      reasons.push(`A/B ${from} vs ${candidate.id}: no commit to hash → control`);
    } else if (policy.mode === "self-hosted-only" && candidate.kind === "github-hosted") {
      arm = "control";
      reasons.push(`A/B ${from} vs ${candidate.id}: self-hosted-only keeps the control`);
    } else {
      const bucket = abBucket(options.repository, options.sha);
      const shown = bucket.toFixed(4);
      if (bucket < test.share) {
        arm = "candidate";
        primary = candidate;
        reasons.push(
          `A/B ${from} vs ${candidate.id}: commit bucket ${shown} < share ${test.share} → candidate ${candidate.id}`,
        );
      } else {
        arm = "control";
        reasons.push(`A/B ${from} vs ${candidate.id}: commit bucket ${shown} ≥ share ${test.share} → control ${from}`);
      }
    }
  }

  const need = options.labels ?? [];
  const mayFallBack = policy.failover.requirements.includes(decision.requirement);
  const candidates = [primary, ...fallbackChain(policy, primary).chain];
  // Where the build waits when no class along the chain has room: its class, or the class fair
  // shares moved it to.
  let home = primary;
  for (const [i, runner] of candidates.entries()) {
    const load = fleet[runner.id];
    const pick = load ? pickMachine(runner, load, need) : null;
    const available =
      load === undefined || runner.kind === "github-hosted" || (!load.hasMachines && !load.saturated) || pick !== null;
    const next = candidates[i + 1];
    const share = mayFallBack ? fairShareVerdict(policy, runner, load, options) : null;
    const blocked = shareBlocked(decision, policy, next);
    if (share?.kind === "move" && next !== undefined && blocked === null) {
      const why = available || load === undefined ? "" : `${unavailable(runner, load, need)}; `;
      reasons.push(`${why}${share.reason} → ${next.id}`);
      home = next;
      continue;
    }
    if (available) {
      if (share?.kind === "stay") reasons.push(share.reason);
      else if (share?.kind === "move") reasons.push(`${share.reason}; ${blocked}: stays`);
      const runs_on = pick ? [...runner.runsOn, pick.name] : [...runner.runsOn];
      if (pick) {
        reasons.push(`${pick.name} is the least-loaded ${runner.id} machine (${pick.busy}/${pick.capacity} busy)`);
      } else if (load !== undefined && runner.kind !== "github-hosted") {
        reasons.push(`${runner.id} has room (${load.busy}/${load.capacity} busy)`);
      }
      return { ...decision, runner: runner.id, runs_on, reasons, arm };
    }
    const why = unavailable(runner, load as ClassLoad, need);
    if (!mayFallBack) {
      reasons.push(`${why}; ${decision.requirement} waits`);
      break;
    }
    if (next === undefined) {
      reasons.push(`${why}, no fallback left; ${decision.requirement} waits on ${home.id}`);
      break;
    }
    if (policy.mode === "self-hosted-only" && next.kind === "github-hosted") {
      reasons.push(`${why}; self-hosted-only: no fallback to ${next.id}, ${decision.requirement} waits on ${home.id}`);
      break;
    }
    reasons.push(`${why} → ${next.id}`);
  }
  return { ...decision, runner: home.id, runs_on: [...home.runsOn], reasons, arm };
}

/**
 * Why fair shares cannot move a build on to `next`, or null when they can: the chain ends, a
 * self-hosted-only policy keeps it off GitHub's runners, or GPU work would go where no GPU is.
 */
function shareBlocked(decision: Decision, policy: RoutingPolicy, next: Runner | undefined): string | null {
  if (next === undefined) return "no fallback left";
  if (policy.mode === "self-hosted-only" && next.kind === "github-hosted") {
    return `self-hosted-only: no fallback to ${next.id}`;
  }
  if (decision.requirement === "gpu" && !runsGpu(next)) return `${next.id} cannot run gpu work`;
  return null;
}

/** The least-loaded online machine with a free slot and every needed label; null when none. */
function pickMachine(runner: Runner, load: ClassLoad, need: readonly string[]): MachineLoad | null {
  if (!load.hasMachines) return null;
  const fits = load.machines.filter(
    (m) => m.online && m.free > 0 && [...runner.runsOn, ...need].every((l) => m.labels.includes(l)),
  );
  // busy/capacity compared by cross-multiplying, exactly; ties by name (the list is sorted by name).
  fits.sort((a, b) => a.busy * b.capacity - b.busy * a.capacity);
  return fits[0] ?? null;
}

/** Why a class cannot take the job now, e.g. "vps saturated (2/2 busy)". */
function unavailable(runner: Runner, load: ClassLoad, need: readonly string[]): string {
  if (load.offline) {
    const n = load.machines.length;
    return `${runner.id} offline (${n === 1 ? "its machine is" : `all ${n} machines are`} offline)`;
  }
  if (load.saturated) return `${runner.id} saturated (${load.busy}/${load.capacity} busy)`;
  return `${runner.id} has no free machine with labels ${need.join(", ")}`;
}

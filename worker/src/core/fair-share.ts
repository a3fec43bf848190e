import { deployRefOf } from "./deploy.ts";
import type { ClassLoad } from "./load.ts";
import { dict, own, repositoryKey } from "./names.ts";
import type { FairSharePolicy, RoutingPolicy, Runner } from "./types.ts";

/**
 * Fair shares of a shared self-hosted class across repositories, so that one repository's burst
 * cannot hold a class every other repository waits on. Pure: the load comes in as the class's
 * snapshot (core/load.ts), with its queued + busy jobs per repository.
 *
 * - A repository's share of a class is capacity × its weight / the sum of the weights of the
 *   repositories active on the class now (queued or busy jobs there), itself included.
 * - It is over its share when its queued + busy jobs there are at least its share, and at its
 *   cap when they are at least its cap for the class (caps hold whether or not the class is
 *   contended).
 * - On a contended class (saturated, or jobs queued for it) a build of a repository over its
 *   share goes to the class's fallback, unless the class expects a free slot within
 *   `maxWaitSeconds` ({@link expectedWaitSeconds}); at its cap it goes whatever the wait.
 * - A build with priority (to a deploy ref, or a push to the repository's default branch) is
 *   never moved.
 *
 * `chooseRunner` asks here for each class it would place the build on, and moves it only where
 * failover may (the requirement in `failover.requirements`, never to GitHub-hosted in
 * self-hosted-only, GPU work only to a GPU class).
 */

/** Fair shares off, equal weights, no caps, priority for deploy refs and the default branch, a 120 s wait. */
export const DEFAULT_FAIR_SHARE: FairSharePolicy = {
  enabled: false,
  weights: dict(),
  caps: dict(),
  priority: { deployRefs: true, defaultBranch: true },
  maxWaitSeconds: 120,
};

/** The branch a push counts as the default branch's when its event does not name the repository's. */
export const ASSUMED_DEFAULT_BRANCH = "main";

/** The build being placed, as fair shares read it. */
export interface FairShareBuild {
  repository: string;
  /** `push`, `pull_request`, `workflow_dispatch`; without it the build has no priority. */
  event?: string;
  ref?: string | null;
  /** The repository's default branch when the event says it (else {@link ASSUMED_DEFAULT_BRANCH}). */
  defaultBranch?: string | null;
}

/** What fair shares say of a build on a class. */
export type FairShareVerdict =
  | { kind: "fits" }
  /** Over its share or at its cap: to the fallback. The reason, without the arrow. */
  | { kind: "move"; reason: string }
  /** Over its share, but kept: it has priority, or a slot is expected soon enough. */
  | { kind: "stay"; reason: string };

const FITS: FairShareVerdict = { kind: "fits" };

/** Float slack when a share is compared: a share of exactly 2 slots is held by 2 jobs. */
const EPSILON = 1e-9;

/** The entry naming `repository` in a fair-share map: its own lower-cased `owner/name`, else its owner's `owner/*`. */
function entryFor<T>(map: Readonly<Record<string, T>>, repository: string): T | undefined {
  const key = repositoryKey(map, repository);
  return key === undefined ? undefined : map[key];
}

/** A repository's weight: its entry's, else 1. */
export function weightOf(fair: FairSharePolicy, repository: string): number {
  return entryFor(fair.weights, repository) ?? 1;
}

/** A repository's cap on a class, or undefined for none. */
function capOf(fair: FairSharePolicy, runnerClass: string, repository: string): number | undefined {
  const caps = own(fair.caps, runnerClass);
  return caps === undefined ? undefined : entryFor(caps, repository);
}

/** The queued + busy jobs `repository` holds on the class. */
function activeOf(load: ClassLoad, repository: string): number {
  return own(load.repositories ?? {}, repository.toLowerCase()) ?? 0;
}

/** Capacity × the repository's weight / the weights of the repositories active on the class, itself included. */
export function shareOf(fair: FairSharePolicy, load: ClassLoad, repository: string): number {
  const self = repository.toLowerCase();
  let total = weightOf(fair, self);
  for (const [key, n] of Object.entries(load.repositories ?? {})) {
    if (key !== self && n > 0) total += weightOf(fair, key);
  }
  return (load.capacity * weightOf(fair, self)) / total;
}

/** Why a build has priority over fair shares, or null: a deploy ref, or a push to the default branch. */
function priorityOf(fair: FairSharePolicy, policy: RoutingPolicy, build: FairShareBuild): string | null {
  const ref = build.ref ?? null;
  if (ref === null) return null;
  if (fair.priority.deployRefs && (build.event === "push" || build.event === "workflow_dispatch")) {
    const target = deployRefOf(policy.deploy, ref);
    if (target !== null) return `deploy ref ${ref}`;
  }
  if (fair.priority.defaultBranch && build.event === "push") {
    const branch = build.defaultBranch ?? ASSUMED_DEFAULT_BRANCH;
    if (ref === `refs/heads/${branch}`) return `push to the default branch ${branch}`;
  }
  return null;
}

/**
 * The seconds until a job queued on the class now is expected to start: 0 when a free slot is
 * left once the jobs queued ahead took theirs; else each slot is taken to free once per typical
 * run time, so ⌈(queued + 1 − free) / capacity⌉ × the class's typical run seconds (counting
 * every busy job as just started: an upper estimate). Null while the class's typical run time
 * is not known, or it has no slot: no slot can then be promised.
 */
export function expectedWaitSeconds(load: ClassLoad): number | null {
  if (load.free > load.queued) return 0;
  if (load.runSeconds === undefined || load.capacity === 0) return null;
  return Math.ceil((load.queued + 1 - load.free) / load.capacity) * load.runSeconds;
}

/** Whether a class is contended: no free slot, or jobs already queued for it. */
export function contended(load: ClassLoad): boolean {
  return load.saturated || load.queued > 0;
}

/** A share in slots, as the reasons print it: whole, or to one decimal. */
const slots = (share: number) =>
  Math.abs(share - Math.round(share)) < EPSILON ? String(Math.round(share)) : share.toFixed(1);

/**
 * What fair shares say of placing `build` on `runner` under `load`: `fits` when fair shares are
 * off, the class is GitHub's, or the repository is within its share (or the class is not
 * contended) and under its cap; else `move`, or `stay` with the reason it is kept.
 */
export function fairShareVerdict(
  policy: RoutingPolicy,
  runner: Runner,
  load: ClassLoad | undefined,
  build: FairShareBuild,
): FairShareVerdict {
  const fair = policy.fairShare;
  if (fair === undefined || !fair.enabled || runner.kind === "github-hosted" || load === undefined) return FITS;
  const name = build.repository;
  const active = activeOf(load, name);
  const cap = capOf(fair, runner.id, name);
  const atCap = cap !== undefined && active >= cap;
  const share = contended(load) ? shareOf(fair, load, name) : null;
  if (!atCap && (share === null || active < share - EPSILON)) return FITS;
  const what = atCap
    ? `${name} at its ${runner.id} cap (${cap})`
    : `${name} over its ${runner.id} share (${slots(share ?? 0)}/${load.capacity} slots)`;
  const priority = priorityOf(fair, policy, build);
  if (priority !== null) return { kind: "stay", reason: `${what}; ${priority} has priority: stays` };
  if (atCap) return { kind: "move", reason: what };
  const wait = expectedWaitSeconds(load);
  if (wait === null) return { kind: "move", reason: what };
  const bound = `expected wait ${Math.round(wait)} s`;
  return wait <= fair.maxWaitSeconds
    ? { kind: "stay", reason: `${what}, ${bound} ≤ ${fair.maxWaitSeconds} s: stays` }
    : { kind: "move", reason: `${what}, ${bound} > ${fair.maxWaitSeconds} s` };
}

/** Whether a class can run GPU work: it carries the `gpu` label, as the tree's GPU classes do. */
export function runsGpu(runner: Runner): boolean {
  return runner.runsOn.some((label) => label.toLowerCase() === "gpu");
}

import { repositoryEntry } from "./config.ts";
import { fail, ok, type Result } from "./result.ts";
import type { RoutingConfig } from "./types.ts";

/**
 * Who a GitHub Actions OIDC token says is calling: the claims the router decides on, read from a
 * token whose signature, issuer, audience and times were already verified.
 */
export interface ActionsIdentity {
  repository: string;
  repositoryId: number;
  owner: string;
  ownerId: number;
  /** The calling job's check run id (github.com tokens carry it; GitHub Enterprise Server's may not). */
  checkRunId: number | null;
}

/** A repository id the router keeps per served name: the configuration's, else the first one a token showed. */
export interface PinnedId {
  /** The pin's key: lower-cased `owner/name`, or `owner/*` for an owner's id. */
  key: string;
  id: number;
}

/** What a route request may do once its token is admitted. */
export interface RouteGrant {
  identity: ActionsIdentity;
  /** The ids to hold the token to: an unpinned one is pinned by this request. */
  pins: PinnedId[];
}

/** A positive safe integer claim, or null. */
function idClaim(value: unknown): number | null {
  const n = typeof value === "string" && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * The identity in a verified token's claims. GitHub writes ids as strings; a token without a
 * repository, its id, an owner or the owner's id is not an Actions job token.
 */
export function identityOf(claims: Record<string, unknown>): Result<ActionsIdentity> {
  const repository = typeof claims.repository === "string" ? claims.repository : null;
  const owner = typeof claims.repository_owner === "string" ? claims.repository_owner : null;
  const repositoryId = idClaim(claims.repository_id);
  const ownerId = idClaim(claims.repository_owner_id);
  if (repository === null || owner === null || repositoryId === null || ownerId === null) {
    return fail("unauthorized", "the token is not a GitHub Actions job token (repository and owner claims required)");
  }
  if (!repository.toLowerCase().startsWith(`${owner.toLowerCase()}/`)) {
    return fail("unauthorized", "the token's repository and repository_owner claims disagree");
  }
  return ok({ repository, repositoryId, owner, ownerId, checkRunId: idClaim(claims.check_run_id) });
}

/**
 * Whether a token of `identity` may ask the router about `asked`, and about job `jobId`:
 * - its repository must be one the configuration serves (listed by name, or its owner's
 *   `owner/*`), else `forbidden`;
 * - it may ask only about its own repository, and, when the token names its job, only as that job;
 * - a name the configuration pins to an id (`repositories[name].id`) serves only that id.
 * The ids to keep it to are returned: the name's (and for an `owner/*` entry, the owner's), for
 * the Ledger to compare with, or pin, the ids it first saw under those names.
 */
export function grantRoute(
  config: RoutingConfig,
  identity: ActionsIdentity,
  asked: string,
  jobId: number | null,
): Result<RouteGrant> {
  const name = identity.repository.toLowerCase();
  const entry = repositoryEntry(config, name);
  if (entry === undefined) {
    return fail("forbidden", `${identity.repository} is not a repository this router serves`);
  }
  if (asked.toLowerCase() !== name) {
    return fail("forbidden", `a token of ${identity.repository} may ask only about ${identity.repository}`);
  }
  if (jobId !== null && identity.checkRunId !== null && jobId !== identity.checkRunId) {
    return fail("forbidden", `a token of job ${identity.checkRunId} may not speak for job ${jobId}`);
  }
  const configured = Object.hasOwn(config.ids, name) ? config.ids[name] : undefined;
  if (configured !== undefined && configured !== identity.repositoryId) {
    return fail("forbidden", `${identity.repository} is pinned to another repository id`);
  }
  const pins: PinnedId[] =
    configured !== undefined
      ? []
      : [
          { key: name, id: identity.repositoryId },
          ...(entry.endsWith("/*") ? [{ key: entry, id: identity.ownerId }] : []),
        ];
  return ok({ identity, pins });
}

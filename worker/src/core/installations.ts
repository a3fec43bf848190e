/**
 * GitHub App installations, the pure parts: what an `installation` or `installation_repositories`
 * event says, the status it leaves an installation in, and why a delivery from an installation
 * that no longer serves its repository is ignored. The rows are kept by
 * worker/src/store/installations.ts; the payloads are read by core/events.ts.
 */

/** The `installation` actions the router applies; any other is ignored, with its name. */
export const INSTALLATION_ACTIONS = ["created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"] as const;

/** The `installation_repositories` actions the router applies. */
export const INSTALLATION_REPOSITORIES_ACTIONS = ["added", "removed"] as const;

/**
 * The most repositories one installation event may list (`repositories`, `repositories_added`,
 * `repositories_removed`), each list on its own. GitHub lists a few thousand at most; a longer
 * list is refused (`invalid_payload`) and changes nothing: the installation's repositories are
 * then recorded as served by their first deliveries, as those of an installation never
 * announced are.
 */
export const MAX_INSTALLATION_REPOSITORIES = 5_000;

/** What the router holds an installation to be: serving, suspended by the account, or uninstalled. */
export const INSTALLATION_STATUSES = ["active", "suspended", "deleted"] as const;
export type InstallationStatus = (typeof INSTALLATION_STATUSES)[number];

/** GitHub's `repository_selection`: every repository of the account, or those chosen. */
export const REPOSITORY_SELECTIONS = ["all", "selected"] as const;
export type RepositorySelection = (typeof REPOSITORY_SELECTIONS)[number];

/** One installation event, as the Ledger applies it. */
export interface InstallationEvent {
  event: "installation" | "installation_repositories";
  /** One of {@link INSTALLATION_ACTIONS} or {@link INSTALLATION_REPOSITORIES_ACTIONS}. */
  action: string;
  /** `installation.id`. */
  id: number;
  /** `installation.account.login`: the owner of the repositories it serves. */
  account: string;
  /** `installation.repository_selection`, or null when the payload does not say. */
  selection: RepositorySelection | null;
  /** Repositories (`owner/name`) served from now on: `created`'s `repositories`, `added`'s `repositories_added`. */
  served: string[];
  /** Repositories no longer served: `removed`'s `repositories_removed`. */
  removed: string[];
}

/**
 * The status an installation has after `action`, from `current` (null when the Ledger has no row
 * for it). An uninstalled installation stays so: GitHub never reuses an id, so an event that
 * arrives after its `deleted` (out of order, or replayed) cannot bring it back.
 */
export function statusAfter(action: string, current: InstallationStatus | null): InstallationStatus {
  if (action === "deleted" || current === "deleted") return "deleted";
  if (action === "suspend") return "suspended";
  if (action === "unsuspend" || action === "created") return "active";
  return current ?? "active";
}

/** Why a delivery from `installation` about `repository` is ignored. */
export function unservedReason(installation: number, repository: string, status: InstallationStatus | "removed") {
  switch (status) {
    case "suspended":
      return `the GitHub App installation ${installation} is suspended: ${repository} is not served until it is unsuspended`;
    case "deleted":
      return `the GitHub App installation ${installation} was uninstalled: it no longer serves ${repository}`;
    default:
      return `the GitHub App installation ${installation} no longer serves ${repository}`;
  }
}

/** One installation as GET /installations lists it. */
export interface InstallationView {
  id: number;
  /** The account's login, lower-cased. */
  account: string;
  status: InstallationStatus;
  repository_selection: RepositorySelection | null;
  /** When an event or a first delivery last changed it (ISO 8601). */
  updated_at: string;
  /** How many repositories it serves, as events and deliveries told the router. */
  served_count: number;
  /** The first {@link INSTALLATION_REPOSITORIES_LISTED} of them, sorted, lower-cased. */
  served: string[];
}

/** Served repositories GET /installations lists per installation. */
export const INSTALLATION_REPOSITORIES_LISTED = 100;

/** Installations GET /installations lists: 100 unless asked, at most 500. */
export const INSTALLATION_PAGE = { min: 1, max: 500, fallback: 100 } as const;

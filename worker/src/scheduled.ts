import { VAR_NAMES } from "./bindings.ts";
import { type Env, loadSettings } from "./env.ts";
import { GitHubClient } from "./github.ts";
import { ledgerOf } from "./ledger.ts";
import { log } from "./log.ts";

/** A GitHub organization login. */
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;

/** Listing every page of runners may take longer than a webhook's file listing: a Cron run has time. */
export const RECONCILE_BUDGET_MS = 15_000;

/** Said once per isolate, not every minute. */
let saidDisabled = false;

export type ReconcileOutcome =
  | { kind: "disabled"; why: string }
  | { kind: "failed"; why: string }
  | { kind: "reconciled"; online: number; offline: number };

/**
 * The Cron Trigger: reconciles the fleet with GitHub's view of the organization's self-hosted
 * runners (`GET /orgs/{org}/actions/runners`), when `GITHUB_TOKEN` and `GITHUB_RUNNERS_OWNER`
 * are set. Online runners count as seen now; offline ones are marked offline until seen again.
 * Without the settings it does nothing, and says so once.
 */
export async function scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  await reconcile(env, controller.scheduledTime);
}

export async function reconcile(env: Env, now: number, fetcher?: typeof fetch): Promise<ReconcileOutcome> {
  let github: { token: string; apiUrl: string } | null = null;
  try {
    github = loadSettings(env).github;
  } catch (error) {
    return disabled(error instanceof Error ? error.message : "the Worker is misconfigured");
  }
  const owner = env[VAR_NAMES.runnersOwner]?.trim() ?? "";
  if (github === null || owner === "") {
    const missing = [github === null ? "GITHUB_TOKEN" : null, owner === "" ? VAR_NAMES.runnersOwner : null];
    return disabled(`${missing.filter((m) => m !== null).join(" and ")} not set`);
  }
  if (!OWNER.test(owner)) return disabled(`${VAR_NAMES.runnersOwner} is not an organization name`);

  const client = new GitHubClient({
    ...github,
    budgetMs: RECONCILE_BUDGET_MS,
    ...(fetcher === undefined ? {} : { fetch: fetcher }),
  });
  const listed = await client.organizationRunners(owner);
  if ("error" in listed) {
    log("warn", "fleet reconciliation failed", { owner, why: listed.error });
    return { kind: "failed", why: listed.error };
  }
  const online = listed.runners.filter((r) => r.status === "online").map((r) => r.name);
  const offline = listed.runners.filter((r) => r.status !== "online").map((r) => r.name);
  await ledgerOf(env).reconcileFleet(online, offline, now);
  return { kind: "reconciled", online: online.length, offline: offline.length };
}

function disabled(why: string): ReconcileOutcome {
  if (!saidDisabled) {
    saidDisabled = true;
    log("info", "fleet reconciliation is off", { why });
  }
  return { kind: "disabled", why };
}

import { VAR_NAMES } from "./bindings.ts";
import { isOwner } from "./core/index.ts";
import type { Env } from "./env.ts";
import { gitHubClientFor } from "./github-app.ts";
import { ledgerOf } from "./ledger.ts";
import { log } from "./log.ts";
import { loadSettings, type Settings, SettingsError } from "./settings.ts";

/** Listing every page of runners may take longer than a webhook's file listing: a Cron run has time. */
export const RECONCILE_BUDGET_MS = 15_000;

/** Said once per isolate, not every minute. */
let saidDisabled = false;

export type ReconcileOutcome =
  | { kind: "disabled"; why: string }
  | { kind: "failed"; why: string }
  | { kind: "reconciled"; online: number; offline: number };

/**
 * The Cron Trigger, every minute: reconciles the fleet with GitHub's view of the organization's
 * self-hosted runners (`GET /orgs/{org}/actions/runners`) when `GITHUB_TOKEN` and
 * `GITHUB_RUNNERS_OWNER` are set (online runners count as seen now, offline ones are marked
 * offline until seen again, and jobs held on a runner GitHub lists idle are checked), then asks
 * the Ledger to check the jobs held longer than usual. Without the settings it does nothing of
 * the first part, and says so once.
 */
export async function scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  await reconcile(env, controller.scheduledTime);
  await ledgerOf(env).checkJobs(controller.scheduledTime);
}

export async function reconcile(env: Env, now: number, fetcher?: typeof fetch): Promise<ReconcileOutcome> {
  let settings: Settings;
  try {
    settings = loadSettings(env);
  } catch (error) {
    return disabled(
      error instanceof SettingsError
        ? `the Worker is misconfigured (${error.settings.join(", ")})`
        : "the Worker is misconfigured",
    );
  }
  const { github } = settings;
  const owner = settings.runnersOwner ?? "";
  if (github === null || owner === "") {
    const missing = [github === null ? "GITHUB_TOKEN" : null, owner === "" ? VAR_NAMES.runnersOwner : null];
    return disabled(`${missing.filter((m) => m !== null).join(" and ")} not set`);
  }
  if (!isOwner(owner)) return disabled(`${VAR_NAMES.runnersOwner} is not an organization name`);

  const client = gitHubClientFor(github, owner, {
    budgetMs: RECONCILE_BUDGET_MS,
    ...(fetcher === undefined ? {} : { fetch: fetcher }),
  });
  if (client === null) {
    return disabled(`no GitHub App installation is known for ${owner} yet and GITHUB_TOKEN is not set`);
  }
  const listed = await client.organizationRunners(owner);
  if (!listed.ok) {
    log("warn", "fleet reconciliation failed", { owner, why: listed.error.message });
    return { kind: "failed", why: listed.error.message };
  }
  const runners = listed.value.map(({ name, status, busy }) => ({ name, status, busy }));
  await ledgerOf(env).reconcileFleet(runners, now);
  const online = runners.filter((r) => r.status === "online").length;
  return { kind: "reconciled", online, offline: runners.length - online };
}

function disabled(why: string): ReconcileOutcome {
  if (!saidDisabled) {
    saidDisabled = true;
    log("info", "fleet reconciliation is off", { why });
  }
  return { kind: "disabled", why };
}

import { LEDGER_INSTANCE, VAR_NAMES } from "./bindings.ts";
import { isOwner, type OrganisationEntry, organisationOf } from "./core/index.ts";
import type { Env } from "./env.ts";
import { gitHubClientFor, lastInstallationOf, noteInstallation } from "./github-app.ts";
import { directoryOf, type LedgerStub, ledgerFor, ledgerNamed } from "./ledger.ts";
import { log } from "./log.ts";
import { type GitHubSettings, loadSettings, type Settings, SettingsError } from "./settings.ts";

/** Listing every page of runners may take longer than a webhook's file listing: a Cron run has time. */
export const RECONCILE_BUDGET_MS = 15_000;

/** Said once per isolate, not every minute. */
let saidDisabled = false;

export type ReconcileOutcome =
  | { kind: "disabled"; why: string }
  | { kind: "failed"; why: string }
  | { kind: "reconciled"; online: number; offline: number }
  /** App mode without GITHUB_RUNNERS_OWNER: each organisation visited, by name. */
  | { kind: "organisations"; results: Record<string, ReconcileOutcome> };

/**
 * The Cron Trigger, every minute: reconciles the fleet with GitHub's view of self-hosted runners
 * (`GET /orgs/{org}/actions/runners`; online runners count as seen now, offline ones are marked
 * offline until seen again, and jobs held on a runner GitHub lists idle are checked), then asks
 * each Ledger visited to check the jobs held longer than usual. With `GITHUB_RUNNERS_OWNER`
 * set, that organisation's runners go into its Ledger; without it, in App mode, each
 * organisation visited has its own runners listed with its installation. A run visits at most
 * 10 organisations (core/organisations.ts `SCHEDULED_ORGANISATIONS`), the next ones in the
 * directory's list each minute; with none listed yet, the directory's own Ledger. Without the
 * settings it does nothing of the first part, and says so once.
 */
export async function scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const now = controller.scheduledTime;
  const visited = await scheduledOrganisations(env, now);
  await reconcile(env, now, undefined, visited);
  // Each Ledger once, however many of the organisations it serves came up.
  const ledgers = new Set(visited.map((entry) => entry.ledger));
  if (ledgers.size === 0) ledgers.add(LEDGER_INSTANCE);
  for (const name of ledgers) await ledgerNamed(env, name).checkJobs(now);
}

/** The organisations the run at `now` visits (core/organisations.ts `scheduledSlice`); none while the directory lists none. */
export async function scheduledOrganisations(env: Env, now: number): Promise<OrganisationEntry[]> {
  return directoryOf(env).scheduledOrganisations(Math.floor(now / 60_000));
}

/**
 * Reconciles the runners of `GITHUB_RUNNERS_OWNER` into its organisation's Ledger; without it,
 * in App mode, those of each organisation of `visited` (the directory's turn at `now` when not
 * given) into theirs.
 */
export async function reconcile(
  env: Env,
  now: number,
  fetcher?: typeof fetch,
  visited?: readonly OrganisationEntry[],
): Promise<ReconcileOutcome> {
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
  if (github?.app != null && owner === "") {
    const results: Record<string, ReconcileOutcome> = {};
    for (const entry of visited ?? (await scheduledOrganisations(env, now))) {
      const ledger = ledgerNamed(env, entry.ledger);
      // The installation is kept in the organisation's Ledger: this isolate may never have seen
      // one of its deliveries.
      if (lastInstallationOf(entry.organisation) === null) {
        const installation = await ledger.installationOf(entry.organisation);
        if (installation !== null) noteInstallation(entry.organisation, installation);
      }
      results[entry.organisation] = await reconcileOwner(github, entry.organisation, now, fetcher, async () => ledger);
    }
    return { kind: "organisations", results };
  }
  if (github === null || owner === "") {
    const missing = [github === null ? "GITHUB_TOKEN" : null, owner === "" ? VAR_NAMES.runnersOwner : null];
    return disabled(`${missing.filter((m) => m !== null).join(" and ")} not set`);
  }
  if (!isOwner(owner)) return disabled(`${VAR_NAMES.runnersOwner} is not an organization name`);
  return reconcileOwner(github, owner, now, fetcher, () => ledgerFor(env, organisationOf(owner)));
}

/** Lists `owner`'s self-hosted runners (every page) and applies them to the Ledger `into` gives. */
async function reconcileOwner(
  github: GitHubSettings,
  owner: string,
  now: number,
  fetcher: typeof fetch | undefined,
  into: () => Promise<LedgerStub>,
): Promise<ReconcileOutcome> {
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
  await (await into()).reconcileFleet(runners, now);
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

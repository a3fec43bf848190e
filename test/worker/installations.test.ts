/**
 * GitHub App webhooks end to end, through POST /webhook/github with signed deliveries and the
 * fake GitHub (test/support/fake-github.ts): installation events record which repositories an
 * installation serves; a push or workflow event from an installation that no longer serves its
 * repository is answered ignored and records nothing; GET /installations lists them; an
 * `installation.id` that cannot be one is refused with nothing recorded; a workflow_dispatch from
 * an installation is routed by the decision tree's dispatch branch; and the installation the
 * alarm's GitHub calls answer with is found again by a Ledger that starts over the same storage
 * after the isolate's memory of it is gone. Each test's account is an organisation of its own,
 * so its rows are in that organisation's Ledger (the directory names it).
 */
import { reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import { SECRET_NAMES } from "../../worker/src/bindings.ts";
import { forgetInstallation, lastInstallationOf } from "../../worker/src/github-app.ts";
import { Ledger } from "../../worker/src/ledger.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  call,
  deliver,
  examplesOf,
  expectError,
  expectIgnored,
  expectNoState,
  expectRouted,
  type Fetch,
  kvKeys,
  ledger,
  pullRequestPayload,
  pushPayload,
  randomSha,
  withBindings,
  workflowJobPayload,
} from "./helpers.ts";
import { newJobId, Scrape } from "./observability.ts";

/** A new App id and installation ids per test, so that no two tests share the fake's counts or the Worker's tokens. */
let nextApp = 800_000 + Math.floor(Math.random() * 100_000);
const newInstallation = () => 50_000_000 + Math.floor(Math.random() * 1_000_000_000);
/** An account no other test uses. */
const newAccount = () => `inst-${crypto.randomUUID().slice(0, 8)}`;

interface App {
  id: string;
  privateKey: string;
  /** The Worker's source with this App's secrets bound (and GITHUB_TOKEN still). */
  via: Fetch;
}

async function newApp(): Promise<App> {
  const id = String(nextApp++);
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const registered = await fetch(`${FAKE_GITHUB_URL}/__apps/${id}`, {
    method: "PUT",
    body: JSON.stringify({ publicKey: await exportSPKI(publicKey) }),
  });
  expect(registered.status).toBe(204);
  const pem = await exportPKCS8(privateKey);
  const via = withBindings({ [SECRET_NAMES.githubAppId]: id, [SECRET_NAMES.githubAppPrivateKey]: pem });
  return { id, privateKey: pem, via };
}

/** Every call the fake saw on `repository`: the token it carried and the status it got. */
async function tokensOn(repository: string): Promise<{ path: string; token: string; status: number }[]> {
  return (await fetch(`${FAKE_GITHUB_URL}/__tokens/${repository}`)).json();
}

const repos = (...names: string[]) =>
  names.map((full_name, i) => ({ id: i + 1, node_id: "x", name: full_name.split("/")[1], full_name, private: true }));

/** GitHub's `installation created` example for `id` on `account`, listing `repositories`. */
function installationCreated(id: number, account: string, repositories: string[]) {
  const payload = examplesOf("installation").find((p) => p.action === "created") ?? {};
  payload.installation.id = id;
  payload.installation.account.login = account;
  payload.repositories = repos(...repositories);
  return payload;
}

function installationAction(action: string, id: number, account: string) {
  const payload = examplesOf("installation").find((p) => p.action === action) ?? {};
  payload.installation.id = id;
  payload.installation.account.login = account;
  return payload;
}

/** GitHub's `installation_repositories` example for `action`, listing `repositories`. */
function repositoriesChanged(action: "added" | "removed", id: number, account: string, repositories: string[]) {
  const payload = examplesOf("installation_repositories").find((p) => p.action === action) ?? {};
  payload.installation.id = id;
  payload.installation.account.login = account;
  payload.repositories_added = action === "added" ? repos(...repositories) : [];
  payload.repositories_removed = action === "removed" ? repos(...repositories) : [];
  return payload;
}

/** A push of `repository` from `installation`. */
function pushFrom(repository: string, installation: number) {
  const payload = pushPayload({ repository });
  payload.installation = { id: installation, node_id: "MDIzOkludGVncmF0aW9u" };
  return payload;
}

/** The Ledger serving `account`'s organisation, as the directory names it. */
async function ledgerOfAccount(account: string) {
  const name = (await ledger().organisationLedger(account.toLowerCase())) ?? "ledger";
  return env.LEDGER.get(env.LEDGER.idFromName(name));
}

/** One statement in the Ledger of `account`'s organisation; its rows as plain objects. */
async function sqlIn<T = Record<string, SqlStorageValue>>(
  account: string,
  query: string,
  ...params: SqlStorageValue[]
): Promise<T[]> {
  return runInDurableObject(await ledgerOfAccount(account), (_instance, state) =>
    state.storage.sql
      .exec(query, ...params)
      .toArray()
      .map((row) => ({ ...row }) as T),
  );
}

async function buildsOf(account: string, repository: string): Promise<number> {
  const [row] = await sqlIn<{ n: number }>(
    account,
    "SELECT COUNT(*) AS n FROM builds WHERE repository = ?",
    repository,
  );
  return row?.n ?? 0;
}

/** GET /metrics of `account`'s organisation, parsed. */
async function scrapeOf(account: string): Promise<Scrape> {
  const res = await call(`/metrics?organisation=${account}`);
  expect(res.status, res.text).toBe(200);
  return new Scrape(res.text);
}

interface Listed {
  id: number;
  account: string;
  status: string;
  repository_selection: string | null;
  updated_at: string;
  served_count: number;
  served: string[];
}

async function listed(query = ""): Promise<Listed[]> {
  const res = await call<{ installations: Listed[] }>(`/installations${query}`);
  expect(res.status, res.text).toBe(200);
  return res.body.installations;
}

// First, while no organisation's Ledger exists yet: "nothing recorded" then means no Ledger but
// the directory, and nothing in it.
describe("an installation.id that cannot be one", () => {
  beforeEach(async () => {
    await reset();
  });

  it.each([0, -5, 1.5, "42", null])(
    "%o on a push is refused, naming installation.id, and nothing is recorded",
    async (id) => {
      const payload = pushPayload();
      payload.installation = { id };
      const message = expectError(await deliver("push", payload), 422, "invalid_payload");
      expect(message).toContain("installation.id");
      await expectNoState();
    },
  );

  it("on an installation event too", async () => {
    const payload = installationCreated(1, newAccount(), ["acme/app"]);
    payload.installation.id = -1;
    expect(expectError(await deliver("installation", payload), 422, "invalid_payload")).toContain("installation.id");
    const hostile = installationCreated(newInstallation(), newAccount(), ["acme/..", "acme/ok"]);
    expect(expectError(await deliver("installation", hostile), 422, "invalid_payload")).toContain(
      "repositories.0.full_name",
    );
    await expectNoState();
  });
});

describe("installation events and the repositories served", () => {
  it("a repository removed from the installation is ignored with the reason, recording nothing; added back, routed", async () => {
    const id = newInstallation();
    const account = newAccount();
    const [app, web] = [`${account}/app`, `${account}/web`];
    const created = await deliver("installation", installationCreated(id, account, [app, web]));
    expect(created.status, created.text).toBe(202);
    expect(created.body).toEqual({
      installation: id,
      account,
      status: "active",
      repositories: { served: 2, removed: 0 },
    });
    expectRouted(await deliver("push", pushFrom(app, id)));

    const removal = repositoriesChanged("removed", id, account, [app]);
    const delivery = crypto.randomUUID();
    expect((await deliver("installation_repositories", removal, { delivery })).body).toMatchObject({
      repositories: { served: 0, removed: 1 },
    });
    // Redelivered: answered as the first time, nothing applied or counted again.
    const again = await deliver("installation_repositories", removal, { delivery });
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);

    const before = await scrapeOf(account);
    const builds = await buildsOf(account, app);
    const keys = (await kvKeys()).length;
    const ignored = await deliver("push", pushFrom(app, id));
    expect(expectIgnored(ignored)).toBe(`the GitHub App installation ${id} no longer serves ${app}`);
    const jobId = newJobId();
    const job = workflowJobPayload({ repository: app, sha: randomSha(), action: "queued", id: jobId });
    job.installation = { id };
    expect(expectIgnored(await deliver("workflow_job", job))).toMatch(`installation ${id} no longer serves ${app}`);
    expect(await buildsOf(account, app)).toBe(builds);
    expect(await sqlIn(account, "SELECT job_id FROM fleet_jobs WHERE job_id = ?", jobId)).toEqual([]);
    expect((await kvKeys()).length).toBe(keys);
    const after = await scrapeOf(account);
    const ignoredCount = (event: string) =>
      after.value("deliveries", { event, outcome: "ignored" }) -
      before.value("deliveries", { event, outcome: "ignored" });
    expect([ignoredCount("push"), ignoredCount("workflow_job")]).toEqual([1, 1]);

    // The other repository is still served; the removed one once it is added back.
    expectRouted(await deliver("push", pushFrom(web, id)));
    await deliver("installation_repositories", repositoriesChanged("added", id, account, [app]));
    expectRouted(await deliver("push", pushFrom(app, id)));
  });

  it("a suspended installation's repositories are ignored until it is unsuspended; uninstalled, for good", async () => {
    const id = newInstallation();
    const account = newAccount();
    const app = `${account}/app`;
    await deliver("installation", installationCreated(id, account, [app]));
    expect((await deliver("installation", installationAction("suspend", id, account))).body).toMatchObject({
      status: "suspended",
    });
    expect(expectIgnored(await deliver("push", pushFrom(app, id)))).toBe(
      `the GitHub App installation ${id} is suspended: ${app} is not served until it is unsuspended`,
    );
    await deliver("installation", installationAction("unsuspend", id, account));
    expectRouted(await deliver("push", pushFrom(app, id)));
    await deliver("installation", installationAction("deleted", id, account));
    expect(expectIgnored(await deliver("push", pushFrom(app, id)))).toBe(
      `the GitHub App installation ${id} was uninstalled: it no longer serves ${app}`,
    );
    expect(await buildsOf(account, app)).toBe(1);
  });

  it("installation events with another action are ignored, naming it", async () => {
    const payload = installationCreated(newInstallation(), newAccount(), []);
    payload.action = "transferred";
    expect(expectIgnored(await deliver("installation", payload))).toContain('"transferred"');
  });
});

describe("GET /installations", () => {
  beforeEach(async () => {
    await reset();
  });

  it("lists the installations with their status, selection and served repositories, sorted", async () => {
    const one = newInstallation();
    const two = one + 1;
    await deliver(
      "installation",
      installationCreated(one, "Acme-One", ["Acme-One/zeta", "Acme-One/alpha", "Acme-One/mid"]),
    );
    await deliver("installation_repositories", repositoriesChanged("removed", one, "Acme-One", ["Acme-One/mid"]));
    // An installation no event announced (the App installed again, its event not delivered): known from its first delivery.
    expectRouted(await deliver("push", pushFrom("acme-one/other", two)));
    const expected = [
      {
        id: one,
        account: "acme-one",
        status: "active",
        repository_selection: "selected",
        updated_at: expect.any(String),
        served_count: 2,
        served: ["acme-one/alpha", "acme-one/zeta"],
      },
      {
        id: two,
        account: "acme-one",
        status: "active",
        repository_selection: null,
        updated_at: expect.any(String),
        served_count: 1,
        served: ["acme-one/other"],
      },
    ];
    // The only organisation served: its Ledger is the default, and also named.
    expect(await listed()).toEqual(expected);
    expect(await listed("?organisation=acme-one")).toEqual(expected);
    await deliver("installation", installationAction("suspend", two, "acme-one"));
    expect((await listed("?status=suspended")).map((i) => i.id)).toEqual([two]);
    expect((await listed("?limit=1")).map((i) => i.id)).toEqual([one]);
  });

  it("refuses unknown or bad parameters (400) and callers without the API token (401)", async () => {
    expectError(await call("/installations?account=acme"), 400, "invalid_request");
    expectError(await call("/installations?status=gone"), 400, "invalid_request");
    expectError(await call("/installations?limit=0"), 400, "invalid_request");
    expectError(await call("/installations", { token: null }), 401, "unauthorized");
    expectError(await call("/installations", { token: "wrong" }), 401, "unauthorized");
  });
});

describe("workflow_dispatch from an App installation", () => {
  it("is routed by the decision tree's dispatch branch, and any GitHub call carries the installation's token", async () => {
    const app = await newApp();
    const id = newInstallation();
    const account = newAccount();
    const repository = `${account}/deploys`;
    const payload = examplesOf("workflow_dispatch")[0] ?? {};
    payload.repository.full_name = repository;
    payload.inputs = { environment: "production" };
    payload.installation = { id };
    const { build_id, decision } = expectRouted(await deliver("workflow_dispatch", payload, { via: app.via }));
    expect(decision).toMatchObject({ requirement: "deploy", environment: "production", rule: null });
    expect(decision.reasons).toContain('workflow_dispatch names environment "production" → deploy');
    const status = await call<{ event: string; repository: string }>(
      `/status?build_id=${build_id}&organisation=${account}`,
    );
    expect(status.body).toMatchObject({ event: "workflow_dispatch", repository });
    // A pull request of the same repository lists its files with the installation's token; nothing used another.
    expectRouted(
      await deliver("pull_request", { ...pullRequestPayload({ repository }), installation: { id } }, { via: app.via }),
    );
    // Check runs, when the Ledger owes any, are another matter: what the Worker asked while routing.
    const calls = (await tokensOn(repository)).filter((c) => !c.path.includes("/check-runs"));
    expect(calls.map((c) => c.path)).toEqual([`/repos/${repository}/pulls/7/files`]);
    for (const c of calls) expect(c.token).toBe(`ghs_${app.id}_${id}_1`);
    // Recorded as served by the installation from its first delivery.
    const known = await sqlIn(
      account,
      "SELECT installation_id, status FROM installation_repositories WHERE repository = ?",
      repository.toLowerCase(),
    );
    expect(known).toEqual([{ installation_id: id, status: "served" }]);
  });
});

describe("installation ids outlive the isolate's memory", () => {
  /** A job of `repository` from `installation`, queued and due a check now. */
  async function jobDue(account: string, repository: string, installation: number): Promise<number> {
    const jobId = newJobId();
    const job = workflowJobPayload({ repository, sha: randomSha(), action: "queued", id: jobId });
    job.installation = { id: installation };
    expect((await deliver("workflow_job", job)).status).toBe(202);
    await sqlIn(account, "UPDATE fleet_jobs SET check_at = 0 WHERE job_id = ?", jobId);
    return jobId;
  }

  /** A Ledger started afresh over the same storage, in App mode, checking the jobs due. */
  async function freshLedgerChecks(app: App, account: string): Promise<number | null> {
    const bindings = {
      ...env,
      [SECRET_NAMES.githubAppId]: app.id,
      [SECRET_NAMES.githubAppPrivateKey]: app.privateKey,
    } as Cloudflare.Env;
    return runInDurableObject(await ledgerOfAccount(account), async (_instance, state) => {
      const fresh = new Ledger(state, bindings);
      const remembered = lastInstallationOf(account);
      await fresh.checkJobs();
      return remembered;
    });
  }

  it("a Ledger started over the same storage finds the owner's installation, and the alarm's job check carries its token", async () => {
    const app = await newApp();
    const id = newInstallation();
    const account = newAccount();
    const repository = `${account}/app`;
    await deliver("installation", installationCreated(id, account, [repository]), { via: app.via });
    const jobId = await jobDue(account, repository, id);
    // The isolate's memory of the installation is gone, as after a restart.
    forgetInstallation(account, lastInstallationOf(account) ?? id);
    expect(lastInstallationOf(account)).toBeNull();

    expect(await freshLedgerChecks(app, account)).toBe(id);
    const lookups = (await tokensOn(repository)).filter((c) => c.path === `/repos/${repository}/actions/jobs/${jobId}`);
    expect(lookups.map((c) => c.token)).toEqual([`ghs_${app.id}_${id}_1`]);
  });

  it("an installation first seen through a delivery is found again the same way", async () => {
    const app = await newApp();
    const id = newInstallation();
    const account = newAccount();
    const repository = `${account}/app`;
    const jobId = await jobDue(account, repository, id);
    forgetInstallation(account, id);
    expect(await freshLedgerChecks(app, account)).toBe(id);
    const lookups = (await tokensOn(repository)).filter((c) => c.path.endsWith(`/actions/jobs/${jobId}`));
    expect(lookups.map((c) => c.token)).toEqual([`ghs_${app.id}_${id}_1`]);
  });

  it("a suspended installation is not: the check falls back to GITHUB_TOKEN", async () => {
    const app = await newApp();
    const id = newInstallation();
    const account = newAccount();
    const repository = `${account}/app`;
    await deliver("installation", installationCreated(id, account, [repository]), { via: app.via });
    const jobId = await jobDue(account, repository, id);
    await deliver("installation", installationAction("suspend", id, account), { via: app.via });
    // The Worker forgot it when the suspension was answered.
    expect(lastInstallationOf(account)).toBeNull();
    expect(await freshLedgerChecks(app, account)).toBeNull();
    const lookups = (await tokensOn(repository)).filter((c) => c.path.endsWith(`/actions/jobs/${jobId}`));
    expect(lookups.map((c) => c.token)).toEqual([TEST_SECRETS.github]);
  });
});

/**
 * GitHub App installations in the Ledger's Book, over node:sqlite: installation events record
 * the installations and the repositories each serves; a push, pull request or workflow event
 * from an installation that no longer serves its repository (removed from it, or the
 * installation suspended or uninstalled) is answered ignored and records nothing else; a
 * repository no event named is served and recorded on its first delivery; a redelivered event
 * changes nothing twice; and the rows are pruned after their time.
 */
import { describe, expect, it } from "vitest";
import { type Book, PRUNE_BATCH } from "../../worker/src/book.ts";
import {
  changesFromList,
  contentKey,
  type Plan,
  type RouteIntent,
  routePlan,
  updatePlan,
} from "../../worker/src/core/index.ts";
import { parseSettings } from "../../worker/src/settings.ts";
import { INSTALLATION_RETENTION_MS } from "../../worker/src/store/installations.ts";
import { intentOf } from "../support/intent.ts";
import { openBook } from "./open-book.ts";

const T0 = Date.parse("2026-11-20T12:00:00Z");
const DAY = 86_400_000;
const APP = "acme/app";
const WEB = "acme/web";

function open() {
  const { db, book, count, settings } = openBook({ routing: {} });
  const repository = (name: string) =>
    db.sql
      .exec<{ installation_id: number; status: string; updated_at: number }>(
        "SELECT installation_id, status, updated_at FROM installation_repositories WHERE repository = ?",
        name.toLowerCase(),
      )
      .toArray()[0] ?? null;
  const installation = (id: number) =>
    db.sql
      .exec<{ account: string; status: string; repository_selection: string | null; updated_at: number }>(
        "SELECT account, status, repository_selection, updated_at FROM installations WHERE id = ?",
        id,
      )
      .toArray()[0] ?? null;
  const delivered = (event: string, outcome: string) => book.metrics.gauge("deliveries", { event, outcome }) ?? 0;
  return { db, book, settings, count, repository, installation, delivered };
}

let next = 0;
const newDelivery = () => `d-${++next}`;
const sha = () => (++next).toString(16).padStart(40, "b");
const repos = (...names: string[]) => names.map((full_name, i) => ({ id: i + 1, full_name }));

/** An installation event, through the path a webhook takes: read, planned, keyed by its content. */
function installationEvent(
  book: Book,
  event: "installation" | "installation_repositories",
  payload: Record<string, unknown>,
  now: number,
  delivery = newDelivery(),
) {
  const intent = intentOf(event, payload, parseSettings({ WEBHOOK_SECRET: "s", API_TOKEN: "t" }).config);
  if (intent.kind !== "installation") throw new Error(`expected an installation intent, got ${intent.kind}`);
  const plan: Plan = { kind: "installation", installation: intent.installation };
  return book.accept(delivery, event, plan, { contentKey: intent.key }, now);
}

const created = (id: number, account: string, repositories: string[], selection = "selected") => ({
  action: "created",
  installation: { id, account: { login: account }, repository_selection: selection },
  repositories: repos(...repositories),
});
const installationAction = (action: string, id: number, account = "acme") => ({
  action,
  installation: { id, account: { login: account }, repository_selection: "selected" },
});
const repositoriesEvent = (action: "added" | "removed", id: number, names: string[], account = "acme") => ({
  action,
  installation: { id, account: { login: account }, repository_selection: "selected" },
  repository_selection: "selected",
  repositories_added: action === "added" ? repos(...names) : [],
  repositories_removed: action === "removed" ? repos(...names) : [],
});

/** A push to `repository` from `installation` (none: a repository's own webhook), as the Worker plans it. */
function push(book: Book, repository: string, installation: number | null, now: number) {
  const delivery = newDelivery();
  const commit = sha();
  const intent: RouteIntent = {
    kind: "route",
    key: contentKey("push", repository, "refs/heads/feature", `${"0".repeat(39)}1`, commit),
    repository,
    event: "push",
    ref: "refs/heads/feature",
    sha: commit,
    pullRequest: null,
    push: null,
    environment: null,
  };
  const plan = routePlan(intent, changesFromList(["src/a.ts"], 3000, "test"), delivery, new Date(now).toISOString());
  const from = installation === null ? {} : { installation: { repository, id: installation } };
  return book.accept(delivery, "push", plan, { contentKey: intent.key, ...from }, now);
}

/** A queued workflow job of `repository` from `installation`. */
function queuedJob(book: Book, repository: string, installation: number, jobId: number, now: number) {
  const config = parseSettings({ WEBHOOK_SECRET: "s", API_TOKEN: "t" }).config;
  const payload = {
    action: "queued",
    repository: { full_name: repository },
    installation: { id: installation },
    workflow_job: {
      id: jobId,
      run_id: 9000 + jobId,
      run_attempt: 1,
      head_sha: sha(),
      status: "queued",
      labels: ["self-hosted", "vps"],
      runner_name: null,
      created_at: new Date(now).toISOString(),
    },
  };
  const intent = intentOf("workflow_job", payload, config);
  if (intent.kind !== "update") throw new Error("expected an update");
  const delivery = newDelivery();
  return book.accept(
    delivery,
    "workflow_job",
    updatePlan(intent, delivery, new Date(now).toISOString()),
    { contentKey: intent.key, installation: { repository, id: installation } },
    now,
  );
}

const routed = (outcome: { status: number; body: string }) => {
  expect(outcome.status).toBe(202);
  expect(Object.keys(JSON.parse(outcome.body)).sort()).toEqual(["build_id", "decision"]);
};
const ignored = (outcome: { status: number; body: string }) => {
  expect(outcome.status).toBe(202);
  const body = JSON.parse(outcome.body) as { ignored: boolean; reason: string };
  expect(body).toEqual({ ignored: true, reason: expect.any(String) });
  return body.reason;
};

describe("installation events", () => {
  it("created records the installation and the repositories it serves, and says so", () => {
    const { book, repository, installation } = open();
    const outcome = installationEvent(book, "installation", created(42, "Acme", [APP, "Acme/Web"]), T0);
    expect(outcome).toEqual({
      duplicate: false,
      status: 202,
      body: JSON.stringify({
        installation: 42,
        account: "acme",
        status: "active",
        repositories: { served: 2, removed: 0 },
      }),
      persist: null,
      installation: { account: "acme", id: 42, active: true },
    });
    expect(installation(42)).toEqual({
      account: "acme",
      status: "active",
      repository_selection: "selected",
      updated_at: T0,
    });
    expect(repository(APP)).toEqual({ installation_id: 42, status: "served", updated_at: T0 });
    expect(repository(WEB)).toEqual({ installation_id: 42, status: "served", updated_at: T0 });
    routed(push(book, APP, 42, T0 + 1));
  });

  it("a repository removed from the installation is ignored, saying why, and records no build, job or fleet row", () => {
    const { book, count, repository, delivered } = open();
    installationEvent(book, "installation", created(42, "acme", [APP, WEB]), T0);
    const removed = installationEvent(
      book,
      "installation_repositories",
      repositoriesEvent("removed", 42, ["Acme/App"]),
      T0 + 1,
    );
    expect(JSON.parse(removed.body)).toMatchObject({ status: "active", repositories: { served: 0, removed: 1 } });
    expect(removed.installation).toEqual({ account: "acme", id: 42, active: true });
    expect(repository(APP)).toMatchObject({ installation_id: 42, status: "removed" });

    const builds = count("builds");
    const before = delivered("push", "ignored");
    const outcome = push(book, APP, 42, T0 + 2);
    expect(ignored(outcome)).toBe("the GitHub App installation 42 no longer serves acme/app");
    expect(outcome.persist).toBeNull();
    // Still serving others: the installation is not forgotten.
    expect(outcome.installation).toBeUndefined();
    expect(ignored(queuedJob(book, APP, 42, 501, T0 + 3))).toMatch(/installation 42 no longer serves acme\/app/);
    expect(count("builds")).toBe(builds);
    expect(count("fleet_jobs")).toBe(0);
    expect(count("queue_watch")).toBe(0);
    expect(delivered("push", "ignored")).toBe(before + 1);
    expect(delivered("workflow_job", "ignored")).toBe(1);
    expect(delivered("push", "accepted")).toBe(0);
    // The other repository is still served.
    routed(push(book, WEB, 42, T0 + 4));
  });

  it("added back, a removed repository is routed again", () => {
    const { book, repository } = open();
    installationEvent(book, "installation", created(42, "acme", [APP]), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 42, [APP]), T0 + 1);
    ignored(push(book, APP, 42, T0 + 2));
    const added = installationEvent(book, "installation_repositories", repositoriesEvent("added", 42, [APP]), T0 + 3);
    expect(JSON.parse(added.body)).toMatchObject({ repositories: { served: 1, removed: 0 } });
    expect(repository(APP)).toEqual({ installation_id: 42, status: "served", updated_at: T0 + 3 });
    routed(push(book, APP, 42, T0 + 4));
  });

  it("a suspended installation's repositories are all ignored, and it is to be forgotten; unsuspended, served", () => {
    const { book, count, installation } = open();
    installationEvent(book, "installation", created(42, "acme", [APP, WEB]), T0);
    const suspended = installationEvent(book, "installation", installationAction("suspend", 42), T0 + 1);
    expect(suspended.installation).toEqual({ account: "acme", id: 42, active: false });
    expect(installation(42)).toMatchObject({ status: "suspended" });
    for (const name of [APP, WEB]) {
      const outcome = push(book, name, 42, T0 + 2);
      expect(ignored(outcome)).toBe(
        `the GitHub App installation 42 is suspended: ${name} is not served until it is unsuspended`,
      );
      expect(outcome.installation).toEqual({ account: "acme", id: 42, active: false });
    }
    // A repository it never named is not served either while it is suspended.
    ignored(push(book, "acme/other", 42, T0 + 3));
    expect(count("installation_repositories", "repository = 'acme/other'")).toBe(0);
    expect(count("builds")).toBe(0);

    const unsuspended = installationEvent(book, "installation", installationAction("unsuspend", 42), T0 + 4);
    expect(unsuspended.installation).toEqual({ account: "acme", id: 42, active: true });
    routed(push(book, APP, 42, T0 + 5));
    routed(push(book, "acme/other", 42, T0 + 6));
  });

  it("an uninstalled installation's repositories are ignored and no longer served; a late event does not bring it back", () => {
    const { book, count, installation, repository } = open();
    installationEvent(book, "installation", created(42, "acme", [APP, WEB]), T0);
    const deleted = installationEvent(book, "installation", installationAction("deleted", 42), T0 + 1);
    expect(JSON.parse(deleted.body)).toEqual({
      installation: 42,
      account: "acme",
      status: "deleted",
      repositories: { served: 0, removed: 2 },
    });
    expect(deleted.installation).toEqual({ account: "acme", id: 42, active: false });
    expect(repository(APP)).toMatchObject({ status: "removed" });
    expect(ignored(push(book, APP, 42, T0 + 2))).toBe(
      "the GitHub App installation 42 was uninstalled: it no longer serves acme/app",
    );
    installationEvent(book, "installation", installationAction("unsuspend", 42), T0 + 3);
    installationEvent(book, "installation_repositories", repositoriesEvent("added", 42, ["acme/late"]), T0 + 4);
    expect(installation(42)).toMatchObject({ status: "deleted" });
    expect(count("installation_repositories", "status = 'served'")).toBe(0);
    expect(count("builds")).toBe(0);
  });

  it("new_permissions_accepted keeps the status, and the selection follows the last event", () => {
    const { book, installation } = open();
    installationEvent(book, "installation", created(42, "acme", [APP], "selected"), T0);
    installationEvent(book, "installation", installationAction("suspend", 42), T0 + 1);
    const accepted = installationAction("new_permissions_accepted", 42);
    accepted.installation.repository_selection = "all";
    installationEvent(book, "installation", accepted, T0 + 2);
    expect(installation(42)).toEqual({
      account: "acme",
      status: "suspended",
      repository_selection: "all",
      updated_at: T0 + 2,
    });
  });

  it("a redelivered installation event is applied and counted once, by delivery id and (created, deleted) by content", () => {
    const { book, delivered, repository } = open();
    const first = installationEvent(book, "installation", created(42, "acme", [APP]), T0, "created-1");
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 42, [APP]), T0 + 1, "removed-1");
    // The same delivery again, and the same creation under another delivery id (a replayed capture).
    const again = installationEvent(book, "installation", created(42, "acme", [APP]), T0 + 2, "created-1");
    const replayed = installationEvent(book, "installation", created(42, "acme", [APP]), T0 + 3, "created-2");
    for (const outcome of [again, replayed]) {
      expect(outcome).toEqual({ duplicate: true, status: 202, body: first.body, persist: null });
    }
    // Neither brought the removed repository back.
    expect(repository(APP)).toEqual({ installation_id: 42, status: "removed", updated_at: T0 + 1 });
    expect(
      installationEvent(book, "installation_repositories", repositoriesEvent("removed", 42, [APP]), T0 + 4, "removed-1")
        .duplicate,
    ).toBe(true);
    expect(delivered("installation", "accepted")).toBe(1);
    expect(delivered("installation", "duplicate")).toBe(2);
    expect(delivered("installation_repositories", "accepted")).toBe(1);
    expect(delivered("installation_repositories", "duplicate")).toBe(1);
  });

  it("a removal by another installation leaves a repository with the installation that serves it", () => {
    const { book, repository } = open();
    installationEvent(book, "installation", created(42, "acme", [APP]), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 77, [APP]), T0 + 1);
    expect(repository(APP)).toEqual({ installation_id: 42, status: "served", updated_at: T0 });
    routed(push(book, APP, 42, T0 + 2));
  });
});

describe("deliveries from installations no event named", () => {
  it("are served, the repository and installation recorded on the first delivery and not written again", () => {
    const { book, installation, repository } = open();
    const first = push(book, "Acme/App", 9, T0);
    routed(first);
    expect(first.installation).toEqual({ account: "acme", id: 9, active: true });
    expect(installation(9)).toEqual({ account: "acme", status: "active", repository_selection: null, updated_at: T0 });
    expect(repository(APP)).toEqual({ installation_id: 9, status: "served", updated_at: T0 });
    routed(push(book, APP, 9, T0 + 5_000));
    // Known: read by key, nothing written.
    expect(installation(9)?.updated_at).toBe(T0);
    expect(repository(APP)?.updated_at).toBe(T0);
  });

  it("a repository removed from one installation and delivered by another is served by that one now", () => {
    const { book, repository } = open();
    installationEvent(book, "installation", created(42, "acme", [APP]), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 42, [APP]), T0 + 1);
    routed(push(book, APP, 43, T0 + 2));
    expect(repository(APP)).toEqual({ installation_id: 43, status: "served", updated_at: T0 + 2 });
  });

  it("a delivery without an installation (a repository's own webhook) reads and writes nothing of them", () => {
    const { book, count } = open();
    installationEvent(book, "installation", created(42, "acme", [APP]), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 42, [APP]), T0 + 1);
    routed(push(book, APP, null, T0 + 2));
    routed(push(book, "acme/own", null, T0 + 3));
    expect(count("installation_repositories")).toBe(1);
  });
});

describe("the active installations, for the isolate's memory", () => {
  it("are the most recently changed, the most recent last; suspended and uninstalled ones left out", () => {
    const { book } = open();
    installationEvent(book, "installation", created(1, "one", []), T0);
    installationEvent(book, "installation", created(2, "two", []), T0 + 1);
    installationEvent(book, "installation", created(3, "three", []), T0 + 2);
    installationEvent(book, "installation", created(4, "four", []), T0 + 3);
    push(book, "five/app", 5, T0 + 4);
    installationEvent(book, "installation", installationAction("suspend", 2, "two"), T0 + 5);
    installationEvent(book, "installation", installationAction("deleted", 3, "three"), T0 + 6);
    expect(book.installations.active(10)).toEqual([
      { account: "one", id: 1 },
      { account: "four", id: 4 },
      { account: "five", id: 5 },
    ]);
    expect(book.installations.active(2)).toEqual([
      { account: "four", id: 4 },
      { account: "five", id: 5 },
    ]);
  });
});

describe("GET /installations' view", () => {
  it("each installation by account, with its served count and first 100 served repositories, sorted", () => {
    const { book } = open();
    const names = Array.from({ length: 120 }, (_, i) => `acme/repo-${String(i).padStart(3, "0")}`).reverse();
    installationEvent(book, "installation", created(42, "acme", names), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 42, ["acme/repo-000"]), T0 + 1);
    installationEvent(book, "installation", created(7, "beta", ["beta/x"], "all"), T0 + 2);
    // An event that does not say the selection keeps the last one said.
    const suspend: Record<string, unknown> = installationAction("suspend", 7, "beta");
    suspend.installation = { id: 7, account: { login: "beta" } };
    installationEvent(book, "installation", suspend, T0 + 3);
    const all = book.installations.list(null, 100);
    expect(all.map((i) => [i.account, i.id, i.status, i.repository_selection, i.served_count])).toEqual([
      ["acme", 42, "active", "selected", 119],
      ["beta", 7, "suspended", "all", 1],
    ]);
    const [acme] = all;
    expect(acme?.updated_at).toBe(new Date(T0 + 1).toISOString());
    expect(acme?.served).toHaveLength(100);
    expect(acme?.served[0]).toBe("acme/repo-001");
    expect(acme?.served.at(-1)).toBe("acme/repo-100");
    expect(book.installations.list("suspended", 100).map((i) => i.id)).toEqual([7]);
    expect(book.installations.list(null, 1).map((i) => i.id)).toEqual([42]);
  });
});

describe("retention", () => {
  it("uninstalled installations and repositories no longer served are pruned after 30 days; the others stay", () => {
    const { book, count } = open();
    installationEvent(book, "installation", created(1, "gone", ["gone/a", "gone/b"]), T0);
    installationEvent(book, "installation", installationAction("deleted", 1, "gone"), T0 + DAY);
    installationEvent(book, "installation", created(2, "acme", [APP, WEB]), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 2, [WEB]), T0 + DAY);
    installationEvent(book, "installation", created(3, "paused", ["paused/a"]), T0);
    installationEvent(book, "installation", installationAction("suspend", 3, "paused"), T0 + DAY);
    // acme/app delivers on: its row is refreshed (the last refresh more than a day before).
    routed(push(book, APP, 2, T0 + 2 * DAY));

    book.maintain(T0 + DAY + INSTALLATION_RETENTION_MS);
    expect(count("installations")).toBe(3);
    // paused/a, named at T0 and quiet since, has gone already; the rest changed a day later.
    expect(count("installation_repositories")).toBe(4);
    expect(count("installation_repositories", "repository = 'paused/a'")).toBe(0);

    book.maintain(T0 + DAY + INSTALLATION_RETENTION_MS + 1);
    expect(count("installations")).toBe(2);
    expect(count("installations", "id = 1")).toBe(0);
    // acme/app (served, seen since) stays; the removed ones go.
    expect(count("installation_repositories")).toBe(1);
    expect(count("installation_repositories", "repository = 'acme/app'")).toBe(1);
  });

  it("a served repository no delivery has named for 30 days (renamed, deleted) is pruned; delivering again, it is served again", () => {
    const { book, count, repository } = open();
    installationEvent(book, "installation", created(2, "acme", [APP, "acme/old-name"]), T0);
    // Deliveries within a day of the last refresh write nothing; a day later, one refresh.
    routed(push(book, APP, 2, T0 + DAY - 1));
    expect(repository(APP)?.updated_at).toBe(T0);
    routed(push(book, APP, 2, T0 + DAY + 1));
    expect(repository(APP)?.updated_at).toBe(T0 + DAY + 1);
    routed(push(book, APP, 2, T0 + DAY + 5_000));
    expect(repository(APP)?.updated_at).toBe(T0 + DAY + 1);

    book.maintain(T0 + INSTALLATION_RETENTION_MS + 1);
    expect(count("installation_repositories", "repository = 'acme/old-name'")).toBe(0);
    expect(repository(APP)?.status).toBe("served");
    book.maintain(T0 + DAY + 1 + INSTALLATION_RETENTION_MS + 1);
    expect(count("installation_repositories")).toBe(0);
    // Quiet is not removal: the next delivery is served and recorded again.
    routed(push(book, APP, 2, T0 + 40 * DAY));
    expect(repository(APP)).toEqual({ installation_id: 2, status: "served", updated_at: T0 + 40 * DAY });
  });

  it("prunes in batches: a run that finds a full batch says more remain", () => {
    const { book, count } = open();
    const names = Array.from({ length: PRUNE_BATCH + 1 }, (_, i) => `acme/r-${i}`);
    installationEvent(book, "installation", created(2, "acme", names), T0);
    installationEvent(book, "installation_repositories", repositoriesEvent("removed", 2, names), T0);
    expect(book.maintain(T0 + INSTALLATION_RETENTION_MS + 1)).toBe(true);
    expect(count("installation_repositories")).toBe(1);
    book.maintain(T0 + INSTALLATION_RETENTION_MS + 2);
    expect(count("installation_repositories")).toBe(0);
  });
});

/**
 * GitHub App installation events as the router reads them: `installation` (created, deleted,
 * suspend, unsuspend, new_permissions_accepted) and `installation_repositories` (added,
 * removed), from GitHub's own examples and from hostile edits of them; and an `installation.id`
 * on any other delivery that cannot be one, refused.
 */
import examples from "@octokit/webhooks-examples" with { type: "json" };
import { describe, expect, it } from "vitest";
import {
  contentKey,
  HANDLED_EVENTS,
  type Intent,
  interpretEvent,
  MAX_INSTALLATION_REPOSITORIES,
  parseInstallationQuery,
  parseRoutingConfig,
  statusAfter,
} from "../../worker/src/core/index.ts";
import { intentOf } from "../support/intent.ts";

const config = parseRoutingConfig({});

// biome-ignore lint/suspicious/noExplicitAny: GitHub JSON that tests edit in place
type Payload = Record<string, any>;

function examplesOf(name: string): Payload[] {
  const entry = examples.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no examples for ${name}`);
  return entry.examples.map((e) => structuredClone(e) as Payload);
}

function example(name: string, action: string): Payload {
  const found = examplesOf(name).find((p) => p.action === action);
  if (found === undefined) throw new Error(`no ${name} ${action} example`);
  return found;
}

/** The problems a delivery is refused with (it must be refused `invalid_payload`). */
function problemsOf(event: string, payload: unknown): string[] {
  const read = interpretEvent(event, payload, config);
  if (read.ok) throw new Error(`expected a refusal, got ${JSON.stringify(read.value)}`);
  expect(read.error.code).toBe("invalid_payload");
  return read.error.problems;
}

const repos = (...names: string[]) =>
  names.map((full_name, i) => ({ id: i + 1, name: full_name.split("/")[1], full_name }));

describe("installation events are handled", () => {
  it("both are in HANDLED_EVENTS", () => {
    expect(HANDLED_EVENTS).toEqual(expect.arrayContaining(["installation", "installation_repositories"]));
  });

  it("installation created: id, account, selection and the repositories it serves, keyed once", () => {
    const intent = intentOf("installation", example("installation", "created"), config);
    expect(intent).toEqual({
      kind: "installation",
      key: contentKey("installation", "Codertocat", 957387, "created"),
      installation: {
        event: "installation",
        action: "created",
        id: 957387,
        account: "Codertocat",
        selection: "selected",
        served: ["Codertocat/Hello-World"],
        removed: [],
      },
    });
  });

  it("installation deleted: keyed once, no repositories read", () => {
    const intent = intentOf("installation", example("installation", "deleted"), config);
    expect(intent).toEqual({
      kind: "installation",
      key: contentKey("installation", "octocat", 2, "deleted"),
      installation: {
        event: "installation",
        action: "deleted",
        id: 2,
        account: "octocat",
        selection: "selected",
        served: [],
        removed: [],
      },
    });
  });

  it.each(["suspend", "unsuspend", "new_permissions_accepted"])(
    "installation %s: no content key, no repositories",
    (action) => {
      const intent = intentOf("installation", example("installation", action), config);
      expect(intent).toMatchObject({
        kind: "installation",
        key: null,
        installation: {
          event: "installation",
          action,
          account: "Codertocat",
          selection: "all",
          served: [],
          removed: [],
        },
      });
    },
  );

  it("installation_repositories added and removed: the repositories listed", () => {
    expect(intentOf("installation_repositories", example("installation_repositories", "added"), config)).toEqual({
      kind: "installation",
      key: null,
      installation: {
        event: "installation_repositories",
        action: "added",
        id: 957387,
        account: "Codertocat",
        selection: "selected",
        served: ["Codertocat/Space"],
        removed: [],
      },
    });
    expect(intentOf("installation_repositories", example("installation_repositories", "removed"), config)).toEqual({
      kind: "installation",
      key: null,
      installation: {
        event: "installation_repositories",
        action: "removed",
        id: 2,
        account: "octocat",
        selection: "selected",
        served: [],
        removed: ["octocat/Hello-World"],
      },
    });
  });

  it("every published example of both events is read", () => {
    for (const name of ["installation", "installation_repositories"]) {
      for (const payload of examplesOf(name)) expect(intentOf(name, payload, config).kind).toBe("installation");
    }
  });

  it("the top-level repository_selection of installation_repositories stands in for the installation's", () => {
    const payload = example("installation_repositories", "added");
    delete payload.installation.repository_selection;
    payload.repository_selection = "all";
    const intent = intentOf("installation_repositories", payload, config);
    expect(intent.kind === "installation" && intent.installation.selection).toBe("all");
  });

  it("other actions are ignored, naming the action", () => {
    const payload = example("installation", "created");
    payload.action = "transferred";
    expect(intentOf("installation", payload, config)).toEqual({
      kind: "ignore",
      reason: 'installation action "transferred" is not one the router applies',
    });
    const repositories = example("installation_repositories", "added");
    repositories.action = "renamed";
    expect(intentOf("installation_repositories", repositories, config)).toEqual({
      kind: "ignore",
      reason: 'installation_repositories action "renamed" is not one the router applies',
    });
  });
});

describe("installation events: bad input is refused, naming each problem", () => {
  it.each([0, -3, 1.5, "957387", null, 2 ** 53])("installation.id %o", (id) => {
    const payload = example("installation", "created");
    payload.installation.id = id;
    expect(problemsOf("installation", payload)).toEqual([
      expect.stringMatching(/^installation payload installation\.id: /),
    ]);
  });

  it("no installation at all", () => {
    const payload = example("installation", "suspend");
    delete payload.installation;
    expect(problemsOf("installation", payload)).toEqual([
      "installation payload installation: expected an object, got nothing",
    ]);
  });

  it.each([
    ["a login with a slash", "acme/evil"],
    ["a login with a path walk", ".."],
    ["an empty login", ""],
    ["a login of 40 characters", "a".repeat(40)],
    ["a login with a newline", "acme\nx"],
  ])("an account with %s", (_, login) => {
    const payload = example("installation", "created");
    payload.installation.account.login = login;
    expect(problemsOf("installation", payload)).toEqual([
      expect.stringMatching(/^installation payload installation\.account\.login: /),
    ]);
  });

  it("a repository_selection that is neither all nor selected", () => {
    const payload = example("installation", "created");
    payload.installation.repository_selection = "some";
    expect(problemsOf("installation", payload)).toEqual([
      "installation payload installation.repository_selection: must be one of all, selected",
    ]);
  });

  it.each([
    ["a name without an owner", "Hello-World"],
    ["a path walk", "acme/.."],
    ["a name with a space", "acme/hello world"],
    ["an owner that is too long", `${"a".repeat(40)}/app`],
    ["a query string", "acme/app?x=1"],
  ])("a listed repository with %s", (_, name) => {
    const payload = example("installation_repositories", "added");
    payload.repositories_added = repos("acme/good", name);
    expect(problemsOf("installation_repositories", payload)).toEqual([
      expect.stringMatching(
        /^installation_repositories payload repositories_added\.1\.full_name: must be "owner\/name"$/,
      ),
    ]);
  });

  it("every bad repository is named, up to ten", () => {
    const payload = example("installation", "created");
    payload.repositories = [
      ...repos("acme/a", "bad one", "acme/b", "also bad"),
      "not an object",
      ...Array.from({ length: 20 }, () => ({ full_name: "x" })),
    ];
    const problems = problemsOf("installation", payload);
    expect(problems.slice(0, 3)).toEqual([
      'installation payload repositories.1.full_name: must be "owner/name"',
      'installation payload repositories.3.full_name: must be "owner/name"',
      "installation payload repositories.4: expected an object, got a string",
    ]);
    expect(problems).toHaveLength(10);
  });

  it(`a list longer than ${MAX_INSTALLATION_REPOSITORIES} repositories is refused, one of that length read`, () => {
    const names = Array.from({ length: MAX_INSTALLATION_REPOSITORIES + 1 }, (_, i) => `acme/repo-${i}`);
    const payload = example("installation_repositories", "removed");
    payload.repositories_removed = repos(...names);
    expect(problemsOf("installation_repositories", payload)).toEqual([
      `installation_repositories payload repositories_removed: must have at most ${MAX_INSTALLATION_REPOSITORIES} items`,
    ]);
    payload.repositories_removed = repos(...names.slice(1));
    const intent = intentOf("installation_repositories", payload, config);
    expect(intent.kind === "installation" && intent.installation.removed).toHaveLength(MAX_INSTALLATION_REPOSITORIES);
  });

  it("added without repositories_added, removed without repositories_removed", () => {
    const added = example("installation_repositories", "added");
    delete added.repositories_added;
    expect(problemsOf("installation_repositories", added)).toEqual([
      "installation_repositories payload repositories_added: expected an array, got nothing",
    ]);
    const removed = example("installation_repositories", "removed");
    removed.repositories_removed = { full_name: "acme/app" };
    expect(problemsOf("installation_repositories", removed)).toEqual([
      "installation_repositories payload repositories_removed: expected an array, got a object",
    ]);
  });

  it("an unknown action is still refused when the installation cannot be one", () => {
    const payload = example("installation", "created");
    payload.action = "transferred";
    payload.installation.id = "x";
    expect(problemsOf("installation", payload)).toEqual([
      "installation payload installation.id: expected a number, got a string",
    ]);
  });
});

describe("installation.id on every other delivery", () => {
  const push = (installation?: unknown): Payload => ({
    ref: "refs/heads/main",
    before: "a".repeat(40),
    after: "b".repeat(40),
    repository: { full_name: "acme/app" },
    commits: [],
    ...(installation === undefined ? {} : { installation }),
  });

  it("a positive integer, or none (absent or null), is read as before", () => {
    for (const payload of [push({ id: 42 }), push(), push(null)]) {
      expect(intentOf("push", payload, config).kind).toBe("route");
    }
  });

  it.each([0, -1, 1.5, "42", 2 ** 53, null, true])("%o is refused: installation.id is named", (id) => {
    expect(problemsOf("push", push({ id }))).toEqual([expect.stringMatching(/^push payload installation\.id: /)]);
  });

  it("an installation that is not an object is refused", () => {
    expect(problemsOf("pull_request", { installation: 42 })).toContain(
      "pull_request payload installation: expected an object, got a number",
    );
  });

  it("refused even for a delivery that would be ignored (a pull request closed)", () => {
    const payload = {
      action: "closed",
      number: 1,
      repository: { full_name: "acme/app" },
      pull_request: { head: { ref: "x", sha: "c".repeat(40) } },
      installation: { id: 0 },
    };
    expect(problemsOf("pull_request", payload)).toEqual([
      "pull_request payload installation.id: must be a positive integer",
    ]);
    delete (payload as Payload).installation;
    expect((intentOf("pull_request", payload, config) as Intent).kind).toBe("ignore");
  });
});

describe("statusAfter: the status an action leaves", () => {
  it.each([
    ["created", null, "active"],
    ["suspend", "active", "suspended"],
    ["unsuspend", "suspended", "active"],
    ["new_permissions_accepted", "suspended", "suspended"],
    ["added", null, "active"],
    ["removed", "suspended", "suspended"],
    ["deleted", "active", "deleted"],
    // Uninstalled is final: a late or replayed event does not bring it back.
    ["created", "deleted", "deleted"],
    ["unsuspend", "deleted", "deleted"],
  ] as const)("%s from %s → %s", (action, current, after) => {
    expect(statusAfter(action, current)).toBe(after);
  });
});

describe("GET /installations' query", () => {
  it("status and limit, each optional", () => {
    expect(parseInstallationQuery([])).toEqual({ ok: true, value: { status: null, limit: 100 } });
    expect(
      parseInstallationQuery([
        ["status", "suspended"],
        ["limit", "5"],
      ]),
    ).toEqual({
      ok: true,
      value: { status: "suspended", limit: 5 },
    });
  });

  it("unknown, repeated or out-of-range parameters are refused, each named", () => {
    const read = parseInstallationQuery([
      ["account", "acme"],
      ["status", "gone"],
      ["limit", "0"],
      ["limit", "2"],
    ]);
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.error.code).toBe("invalid_request");
    expect(read.error.problems).toEqual([
      'unknown query parameter "account": this endpoint takes status, limit',
      "query parameter limit is given more than once",
      'status "gone": must be one of active, suspended, deleted',
      'limit "0": must be a whole number from 1 to 500',
    ]);
  });
});

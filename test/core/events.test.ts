import examples from "@octokit/webhooks-examples" with { type: "json" };
import type { WebhookEventMap, WebhookEventName } from "@octokit/webhooks-types";
import { describe, expect, it } from "vitest";
import {
  changesFromList,
  contentKey,
  DEFAULT_POLICY,
  decide,
  fail,
  HANDLED_EVENTS,
  interpretEvent,
  isRepository,
  isSha,
  MAX_ROUTE_FILES,
  PULL_REQUEST_ACTIONS,
  parseRouteRequest,
  parseRoutingConfig,
  routeInput,
  unknownChanges,
} from "../../worker/src/core/index.ts";
import { intentOf } from "../support/intent.ts";

const config = parseRoutingConfig({});

/** GitHub's real example payloads for one event, from @octokit/webhooks-examples. */
function examplesOf<N extends WebhookEventName>(name: N): WebhookEventMap[N][] {
  const entry = examples.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no examples for ${name}`);
  return entry.examples as WebhookEventMap[N][];
}

/** `list[i]`, which must exist. */
function nth<T>(list: readonly T[], i: number): T {
  const item = list[i];
  if (item === undefined) throw new Error(`no example ${i}`);
  return item;
}

/** Numbered test cases: `[index, payload]`. */
function numbered<T>(payloads: T[]): [number, T][] {
  return payloads.map((payload, i) => [i, payload]);
}

/** A deep copy of a payload with some fields changed; the original examples stay as published. */
function changed<T>(payload: T, change: (copy: T) => void): T {
  const copy = structuredClone(payload);
  change(copy);
  return copy;
}

const ZERO = "0000000000000000000000000000000000000000";

describe("the examples package", () => {
  it("holds every handled event, with more than one example where the router branches", () => {
    const counts = Object.fromEntries(
      HANDLED_EVENTS.map((name) => [name, examplesOf(name as WebhookEventName).length]),
    );
    expect(counts).toEqual({
      ping: 4,
      push: 7,
      pull_request: 29,
      workflow_run: 5,
      workflow_job: 8,
      workflow_dispatch: 2,
      installation: 7,
      installation_repositories: 3,
    });
  });
});

describe("interpretEvent: ping", () => {
  it.each(numbered(examplesOf("ping")))("example %i → ping", (_, payload) => {
    expect(intentOf("ping", payload, config)).toEqual({ kind: "ping" });
  });
});

describe("interpretEvent: push", () => {
  const pushes = examplesOf("push");

  it("the examples include both a created ref and deletions", () => {
    expect(pushes.map((p) => [p.ref, p.deleted])).toEqual([
      ["refs/tags/simple-tag", false],
      ["refs/tags/simple-tag", true],
      ["refs/tags/simple-tag", true],
      ["refs/tags/simple-tag", true],
      ["refs/heads/master", false],
      ["refs/heads/master", false],
      ["refs/tags/simple-tag", true],
    ]);
  });

  it.each(numbered(pushes).filter(([, p]) => !p.deleted))("example %i → route with the push's fields", (_, payload) => {
    expect(intentOf("push", payload, config)).toEqual({
      kind: "route",
      key: contentKey("push", "Codertocat/Hello-World", payload.ref, ZERO, "6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
      repository: "Codertocat/Hello-World",
      event: "push",
      ref: payload.ref,
      sha: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
      pullRequest: null,
      push: {
        // Only what the router reads of each commit: its file lists.
        commits: payload.commits.map((c) => ({
          added: c.added ?? null,
          removed: c.removed ?? null,
          modified: c.modified ?? null,
        })),
        before: ZERO,
        after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        created: true,
      },
      environment: null,
      // The repository's default branch, for fair shares' priority.
      defaultBranch: payload.repository.default_branch,
    });
  });

  it("a branch push carries its commits' file lists", () => {
    const intent = intentOf("push", nth(pushes, 4), config);
    if (intent.kind !== "route") throw new Error(`expected route, got ${intent.kind}`);
    expect(intent.ref).toBe("refs/heads/master");
    expect(intent.push?.commits.map((c) => [c.added, c.removed, c.modified])).toEqual([[["README.md"], [], []]]);
  });

  it.each(numbered(pushes).filter(([, p]) => p.deleted))("example %i (deleted: true) → ignore", (_, payload) => {
    expect(intentOf("push", payload, config)).toEqual({
      kind: "ignore",
      reason: "push deletes refs/tags/simple-tag",
    });
  });

  it("a push whose after is all zeros is a deletion even without deleted: true", () => {
    const payload = changed(nth(pushes, 4), (p) => {
      p.deleted = false;
      p.after = ZERO;
    });
    expect(intentOf("push", payload, config)).toEqual({
      kind: "ignore",
      reason: "push deletes refs/heads/master",
    });
  });

  it("a push with null commits routes with no commits", () => {
    const payload = changed(nth(pushes, 4), (p) => {
      (p as { commits: unknown }).commits = null;
    });
    const intent = intentOf("push", payload, config);
    expect(intent).toMatchObject({ kind: "route", push: { commits: [] } });
  });
});

describe("interpretEvent: pull_request", () => {
  const prs = examplesOf("pull_request");

  it("the examples cover every action that starts a build", () => {
    const actions = new Set(prs.map((p) => p.action));
    for (const action of PULL_REQUEST_ACTIONS) expect(actions).toContain(action);
    expect(PULL_REQUEST_ACTIONS).toEqual(["opened", "synchronize", "reopened", "ready_for_review"]);
  });

  it.each(numbered(prs).map(([i, p]) => [i, p.action, p] as const))("example %i (%s)", (_, action, payload) => {
    const intent = intentOf("pull_request", payload, config);
    if (PULL_REQUEST_ACTIONS.includes(action)) {
      expect(intent).toEqual({
        kind: "route",
        key: contentKey(
          "pull_request",
          "Codertocat/Hello-World",
          2,
          action,
          "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
        repository: "Codertocat/Hello-World",
        event: "pull_request",
        ref: "refs/heads/changes",
        sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        pullRequest: 2,
        push: null,
        environment: null,
      });
    } else {
      expect(intent).toEqual({
        kind: "ignore",
        reason: `pull_request action "${action}" does not start a build`,
      });
    }
  });

  it.each([["closed"], ["labeled"], ["assigned"], ["converted_to_draft"], ["edited"]])(
    "action %s → ignore",
    (action) => {
      const payload = changed(nth(prs, 0), (p) => {
        (p as { action: string }).action = action;
      });
      expect(intentOf("pull_request", payload, config)).toEqual({
        kind: "ignore",
        reason: `pull_request action "${action}" does not start a build`,
      });
    },
  );
});

describe("interpretEvent: workflow_dispatch", () => {
  const dispatches = examplesOf("workflow_dispatch");

  it.each<[number, string]>([
    [0, "refs/heads/main"],
    [1, "refs/heads/master"],
  ])("example %i → route on %s, no environment", (i, ref) => {
    expect(intentOf("workflow_dispatch", nth(dispatches, i), config)).toEqual({
      kind: "route",
      key: null,
      repository: "octo-org/octo-repo",
      event: "workflow_dispatch",
      ref,
      sha: null,
      pullRequest: null,
      push: null,
      environment: null,
    });
  });

  it.each<[unknown, string | null]>([
    ["production", "production"],
    ["", null],
    [3, null],
    [null, null],
  ])("inputs.environment %j → environment %j", (environment, expected) => {
    const payload = changed(nth(dispatches, 0), (p) => {
      p.inputs = { environment } as typeof p.inputs;
    });
    expect(intentOf("workflow_dispatch", payload, config)).toMatchObject({
      kind: "route",
      environment: expected,
    });
  });

  it("a short ref is made a full branch ref", () => {
    const payload = changed(nth(dispatches, 0), (p) => {
      p.ref = "main";
    });
    expect(intentOf("workflow_dispatch", payload, config)).toMatchObject({ ref: "refs/heads/main" });
  });

  it("null inputs are no environment", () => {
    const payload = changed(nth(dispatches, 0), (p) => {
      (p as { inputs: unknown }).inputs = null;
    });
    expect(intentOf("workflow_dispatch", payload, config)).toMatchObject({ kind: "route", environment: null });
  });
});

describe("interpretEvent: workflow_run", () => {
  const runs = examplesOf("workflow_run");

  it.each(numbered(runs))("example %i → update of that repository and head SHA", (_, payload) => {
    const r = payload.workflow_run;
    expect(intentOf("workflow_run", payload, config)).toEqual({
      kind: "update",
      key: contentKey("workflow_run", payload.repository.full_name, r.id, payload.action, r.run_attempt),
      repository: payload.repository.full_name,
      sha: r.head_sha,
      event: "workflow_run",
      update: {
        kind: "run",
        run: {
          id: r.id,
          name: r.name,
          event: r.event,
          attempt: r.run_attempt,
          status: r.status,
          conclusion: r.conclusion,
          started_at: r.run_started_at,
          updated_at: r.updated_at,
        },
        // A dispatched run says where it came from, to be matched to its dispatch (core/dependencies.ts).
        ...(r.event === "workflow_dispatch"
          ? {
              origin: {
                path: r.path ?? payload.workflow?.path ?? null,
                workflowId: r.workflow_id,
                headBranch: r.head_branch,
                createdAt: Date.parse(r.created_at),
                htmlUrl: r.html_url,
              },
            }
          : {}),
      },
    });
  });

  it("pins one example's fields exactly", () => {
    expect(intentOf("workflow_run", nth(runs, 1), config)).toEqual({
      kind: "update",
      key: "workflow_run\nocto-org/octo-repo\n289782451\ncompleted\n1",
      repository: "octo-org/octo-repo",
      sha: "3484a3fb816e0859fd6e1cea078d76385ff50625",
      event: "workflow_run",
      update: {
        kind: "run",
        run: {
          id: 289782451,
          name: "",
          event: "repository_dispatch",
          attempt: 1,
          status: "completed",
          conclusion: "success",
          started_at: "2020-10-05T16:33:49Z",
          updated_at: "2020-10-05T16:33:49Z",
        },
      },
    });
  });

  it("a run without status or attempt takes its status from the action and attempt 1", () => {
    const payload = changed(nth(runs, 3), (p) => {
      const r = p.workflow_run as unknown as Record<string, unknown>;
      delete r.status;
      delete r.run_attempt;
    });
    expect(intentOf("workflow_run", payload, config)).toMatchObject({
      update: { run: { status: "requested", attempt: 1 } },
    });
  });
});

describe("interpretEvent: workflow_job", () => {
  const jobs = examplesOf("workflow_job");

  // [example, expected runner class]: only jobs with a runner assigned get one.
  it.each<[number, string, string | null]>([
    [0, "in_progress", null], // labels gpu, db-app, dc-03: no class has all its labels there
    [1, "completed", "github-hosted"],
    [2, "completed", "github-hosted"],
    [3, "in_progress", "github-hosted"],
    [4, "in_progress", "github-hosted"],
    [5, "queued", "github-hosted"],
    [6, "waiting", null], // no runner yet
    [7, "waiting", null],
  ])("example %i (%s) → runner %s", (i, status, runner) => {
    const payload = nth(jobs, i);
    const j = payload.workflow_job;
    expect(intentOf("workflow_job", payload, config)).toEqual({
      kind: "update",
      key: contentKey("workflow_job", payload.repository.full_name, j.id, payload.action, j.run_attempt ?? 1),
      repository: payload.repository.full_name,
      sha: j.head_sha,
      event: "workflow_job",
      update: {
        kind: "job",
        job: {
          id: j.id,
          run_id: j.run_id,
          run_attempt: j.run_attempt ?? 1,
          name: j.name,
          ...(typeof j.workflow_name === "string" ? { workflow: j.workflow_name } : {}),
          status,
          conclusion: j.conclusion,
          labels: j.labels,
          runner_name: j.runner_name,
          runner_group_name: j.runner_group_name,
          runner,
          // Example 0 predates created_at: absent fields are recorded as null.
          created_at: j.created_at ?? null,
          // A job waiting for an approval has not queued for a runner yet.
          queued_at: status === "waiting" ? null : (j.created_at ?? null),
          started_at: j.started_at,
          completed_at: j.completed_at,
        },
      },
    });
  });

  it("pins one example's fields exactly", () => {
    expect(intentOf("workflow_job", nth(jobs, 1), config)).toEqual({
      kind: "update",
      key: "workflow_job\ncodertocat/hello-world\n289782451\ncompleted\n1",
      repository: "Codertocat/Hello-World",
      sha: "3484a3fb816e0859fd6e1cea078d76385ff50625",
      event: "workflow_job",
      update: {
        kind: "job",
        job: {
          id: 289782451,
          run_id: 2202229078,
          run_attempt: 1,
          name: "linters",
          workflow: "CodeQL",
          status: "completed",
          conclusion: "failure",
          labels: ["ubuntu-latest"],
          runner_name: "GitHub Actions 5",
          runner_group_name: "GitHub Actions",
          runner: "github-hosted",
          created_at: "2021-08-05T10:33:58Z",
          queued_at: "2021-08-05T10:33:58Z",
          started_at: "2021-08-05T10:34:58Z",
          completed_at: "2021-08-05T10:38:16Z",
        },
      },
    });
  });

  it.each<[string[], string | null, string | null]>([
    [["self-hosted", "ai-lab", "gpu"], "lab-1", "ai-lab"],
    [["self-hosted", "vps"], "vps-1", "vps"],
    [["self-hosted", "vps"], null, null],
  ])("labels %j on runner %j → %s", (labels, runnerName, runner) => {
    const payload = changed(nth(jobs, 0), (p) => {
      p.workflow_job.labels = labels;
      (p.workflow_job as { runner_name: string | null }).runner_name = runnerName;
    });
    expect(intentOf("workflow_job", payload, config)).toMatchObject({ update: { job: { runner } } });
  });

  it("maps labels with the job's repository's own runners", () => {
    const withK8s = parseRoutingConfig({
      repositories: {
        "LineVille/Elastic-Machines-Testing": {
          runners: { k8s: { kind: "self-hosted", runsOn: ["self-hosted", "k8s"] } },
        },
      },
    });
    const payload = changed(nth(jobs, 6), (p) => {
      (p.workflow_job as { runner_name: string | null }).runner_name = "k8s-pod-1";
    });
    expect(payload.repository.full_name).toBe("lineville/elastic-machines-testing");
    expect(intentOf("workflow_job", payload, withK8s)).toMatchObject({ update: { job: { runner: "k8s" } } });
    expect(intentOf("workflow_job", payload, config)).toMatchObject({ update: { job: { runner: null } } });
  });
});

describe("interpretEvent: events the router does not handle", () => {
  it.each([
    ["issues"],
    ["star"],
    ["release"],
    ["check_run"],
    ["create"],
    ["delete"],
    ["issue_comment"],
    ["pull_request_review"],
    ["deployment_status"],
    ["repository_dispatch"],
  ] as const)("%s → ignore with a reason", (name) => {
    expect(intentOf(name, nth(examplesOf(name), 0), config)).toEqual({
      kind: "ignore",
      reason: `event "${name}" is not one the router handles`,
    });
  });
});

describe("interpretEvent: payloads missing what the router needs", () => {
  const push = nth(examplesOf("push"), 4);
  const pr = nth(examplesOf("pull_request"), 0);
  const run = nth(examplesOf("workflow_run"), 0);
  const job = nth(examplesOf("workflow_job"), 1);
  const dispatch = nth(examplesOf("workflow_dispatch"), 0);
  const without = <T>(payload: T, path: string[]): T =>
    changed(payload, (copy) => {
      let at = copy as Record<string, unknown>;
      for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
      delete at[path.at(-1) as string];
    });

  it.each<[string, unknown, string[]]>([
    [
      "push",
      {},
      [
        "push payload ref: expected a string, got nothing",
        "push payload before: expected a string, got nothing",
        "push payload after: expected a string, got nothing",
        "push payload repository: expected an object, got nothing",
      ],
    ],
    ["push", null, ["push payload (root): expected an object, got null"]],
    [
      "push",
      without(push, ["repository", "full_name"]),
      ["push payload repository.full_name: expected a string, got nothing"],
    ],
    [
      "push",
      changed(push, (p) => {
        (p.commits[0] as { added: unknown }).added = "README.md";
      }),
      ["push payload commits.0.added: expected an array, got a string"],
    ],
    [
      "pull_request",
      without(pr, ["pull_request", "head", "sha"]),
      ["pull_request payload pull_request.head.sha: expected a string, got nothing"],
    ],
    ["pull_request", without(pr, ["number"]), ["pull_request payload number: expected a number, got nothing"]],
    [
      "workflow_run",
      without(run, ["workflow_run"]),
      ["workflow_run payload workflow_run: expected an object, got nothing"],
    ],
    [
      "workflow_run",
      without(run, ["workflow_run", "head_sha"]),
      ["workflow_run payload workflow_run.head_sha: expected a string, got nothing"],
    ],
    [
      "workflow_job",
      without(job, ["workflow_job", "run_id"]),
      ["workflow_job payload workflow_job.run_id: expected a number, got nothing"],
    ],
    ["workflow_job", without(job, ["action"]), ["workflow_job payload action: expected a string, got nothing"]],
    [
      "workflow_dispatch",
      without(dispatch, ["ref"]),
      ["workflow_dispatch payload ref: expected a string, got nothing"],
    ],
    [
      "workflow_dispatch",
      without(dispatch, ["repository"]),
      ["workflow_dispatch payload repository: expected an object, got nothing"],
    ],
  ])("%s %# → invalid, naming the field", (event, payload, problems) => {
    expect(interpretEvent(event, payload, config)).toEqual(fail("invalid_payload", ...problems));
  });
});

describe("parseRouteRequest", () => {
  it("accepts a full valid body as given", () => {
    const body = {
      repository: "acme/app",
      event: "pull_request",
      ref: "refs/heads/feature",
      sha: "0123456789abcdef0123456789abcdef01234567",
      files: ["README.md", "src/a.ts"],
      truncated: false,
      environment: null,
    };
    expect(parseRouteRequest(body)).toEqual({ ok: true, value: body });
  });

  it("accepts just a repository", () => {
    expect(parseRouteRequest({ repository: "Acme/App.js" })).toEqual({
      ok: true,
      value: { repository: "Acme/App.js" },
    });
  });

  it(`accepts exactly ${MAX_ROUTE_FILES} files, and rejects one more`, () => {
    const files = Array.from({ length: MAX_ROUTE_FILES }, (_, i) => `f${i}`);
    expect(parseRouteRequest({ repository: "a/b", files }).ok).toBe(true);
    expect(parseRouteRequest({ repository: "a/b", files: [...files, "one-more"] })).toEqual(
      fail("invalid_request", "files: Too big: expected array to have <=3000 items"),
    );
  });

  it("reports every bad field at once", () => {
    expect(
      parseRouteRequest({
        repository: "acme",
        event: "release",
        ref: "main",
        sha: "xyz",
        files: ["", 3],
        truncated: "yes",
        environment: "",
        extra: 1,
      }),
    ).toEqual(
      fail(
        "invalid_request",
        'repository: must be "owner/name"',
        'event: Invalid option: expected one of "push"|"pull_request"|"workflow_dispatch"',
        'ref: must be a full ref starting with "refs/"',
        "sha: must be a hex commit id",
        "files.0: Too small: expected string to have >=1 characters",
        "files.1: Invalid input: expected string, received number",
        "truncated: Invalid input: expected boolean, received string",
        "environment: Too small: expected string to have >=1 characters",
        '(body): Unrecognized key: "extra"',
      ),
    );
  });

  it.each<[unknown, string[]]>([
    [null, ["(body): Invalid input: expected object, received null"]],
    [[], ["(body): Invalid input: expected object, received array"]],
    [{}, ["repository: Invalid input: expected string, received undefined"]],
    [{ repository: "a/b/c" }, ['repository: must be "owner/name"']],
    [{ repository: "a/b", sha: "abc123" }, ["sha: must be a hex commit id"]],
  ])("%j → %j", (body, problems) => {
    expect(parseRouteRequest(body)).toEqual(fail("invalid_request", ...problems));
  });

  it.each<[string, boolean]>([
    ["acme/app", true],
    ["Acme-1/app_2.js", true],
    ["acme", false],
    ["acme/app/x", false],
    ["acme/ app", false],
    ["/app", false],
  ])("isRepository(%j) → %s", (value, ok) => {
    expect(isRepository(value)).toBe(ok);
  });

  it.each<[string, boolean]>([
    ["abc1234", true],
    ["ABCDEF0123456789abcdef0123456789abcdef01", true],
    ["abc123", false],
    ["g123456", false],
    ["a".repeat(65), false],
  ])("isSha(%j) → %s", (value, ok) => {
    expect(isSha(value)).toBe(ok);
  });
});

describe("routeInput", () => {
  it("no files → unknown changes; defaults: push, no ref, sha or environment", () => {
    expect(routeInput({ repository: "acme/app" })).toEqual({
      repository: "acme/app",
      event: "push",
      ref: null,
      sha: null,
      changes: unknownChanges("route request", "the request lists no files"),
      environment: null,
    });
  });

  it("listed files are known and not truncated, however many, unless the caller says so", () => {
    const files = Array.from({ length: MAX_ROUTE_FILES }, (_, i) => `docs/${i}.md`);
    const input = routeInput({ repository: "acme/app", event: "pull_request", ref: "refs/heads/x", files });
    expect(input.changes).toEqual({ ...changesFromList(files, Number.POSITIVE_INFINITY, "route request") });
    expect(input.changes).toMatchObject({ known: true, truncated: false, notes: [] });
    expect(decide(input, DEFAULT_POLICY)).toMatchObject({ requirement: "lightweight", runner: "github-hosted" });
  });

  it("a list the caller marks truncated is never lightweight", () => {
    const input = routeInput({ repository: "acme/app", files: ["README.md", "README.md"], truncated: true });
    expect(input.changes).toEqual({
      files: ["README.md"],
      known: true,
      truncated: true,
      source: "route request",
      notes: ["the caller marked the list truncated"],
    });
    const d = decide(input, DEFAULT_POLICY);
    expect([d.requirement, d.runner, d.truncated]).toEqual(["default", "vps", true]);
    expect(d.reasons[0]).toContain("the caller marked the list truncated");
  });

  it("a dispatch with an environment becomes a deploy decision", () => {
    const parsed = parseRouteRequest({
      repository: "acme/app",
      event: "workflow_dispatch",
      ref: "refs/heads/main",
      environment: "production",
    });
    if (!parsed.ok) throw new Error(parsed.error.message);
    const input = routeInput(parsed.value);
    expect(input).toMatchObject({ event: "workflow_dispatch", ref: "refs/heads/main", environment: "production" });
    expect(decide(input, DEFAULT_POLICY)).toMatchObject({
      requirement: "deploy",
      runner: "kvm4",
      environment: "production",
      files_known: false,
    });
  });
});

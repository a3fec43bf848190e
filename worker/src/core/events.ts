import { type JobState, type RunState, runnerForLabels, type WorkflowUpdate } from "./builds.ts";
import type { PushCommit } from "./changes.ts";
import { policyFor } from "./config.ts";
import { type DownstreamOrigin, upstreamOfInputs } from "./dependencies.ts";
import {
  INSTALLATION_ACTIONS,
  INSTALLATION_REPOSITORIES_ACTIONS,
  type InstallationEvent,
  MAX_INSTALLATION_REPOSITORIES,
  REPOSITORY_SELECTIONS,
  type RepositorySelection,
} from "./installations.ts";
import { OWNER, REPOSITORY, ZERO_SHA } from "./names.ts";
import { type Json, PayloadReader } from "./read.ts";
import { fail, ok, type Result } from "./result.ts";
import type { RoutingConfig } from "./types.ts";

/**
 * What a webhook delivery asks of the router, read from its event name and payload.
 * Only the fields the router uses are checked; everything else in GitHub's payload is ignored.
 */
export type Intent =
  | { kind: "ping" }
  | { kind: "ignore"; reason: string }
  | RouteIntent
  | UpdateIntent
  | InstallationIntent;

export interface RouteIntent {
  kind: "route";
  /** What makes a second delivery of this event the same event ({@link contentKey}), or null. */
  key: string | null;
  repository: string;
  event: "push" | "pull_request" | "workflow_dispatch";
  ref: string | null;
  sha: string | null;
  pullRequest: number | null;
  /** For pushes: the commits as delivered and the range they cover. */
  push: { commits: PushCommit[]; before: string; after: string; created: boolean } | null;
  environment: string | null;
  /** For a workflow_dispatch a dependency sent: the upstream its inputs name (core/dependencies.ts). */
  upstream?: DownstreamOrigin;
  /** For pushes, when the payload says it: the repository's default branch (`repository.default_branch`). */
  defaultBranch?: string;
}

export interface UpdateIntent {
  kind: "update";
  /** What makes a second delivery of this event the same event ({@link contentKey}). */
  key: string;
  repository: string;
  sha: string;
  event: "workflow_run" | "workflow_job";
  update: WorkflowUpdate;
}

/** A GitHub App's own events: its installations, and the repositories each serves. */
export interface InstallationIntent {
  kind: "installation";
  /**
   * What makes a second delivery of this event the same event ({@link contentKey}): an
   * installation is created once and deleted once, so those two are keyed by id and action;
   * the others may repeat (suspended twice, a repository removed, added, removed again) and have
   * none, and applying one again sets what it set.
   */
  key: string | null;
  installation: InstallationEvent;
}

/** The events only a GitHub App receives, about the App itself. */
export const INSTALLATION_EVENTS = ["installation", "installation_repositories"];

export const HANDLED_EVENTS = [
  "ping",
  "push",
  "pull_request",
  "workflow_run",
  "workflow_job",
  "workflow_dispatch",
  ...INSTALLATION_EVENTS,
];
export const PULL_REQUEST_ACTIONS = ["opened", "synchronize", "reopened", "ready_for_review"];

/**
 * Bounds on what the router stores, far above anything GitHub sends, so that no delivery can
 * make a build record too large to keep (the Ledger's SQLite takes 2 MB a value).
 */
export const PAYLOAD_LIMITS = { ref: 1024, name: 256, sha: 64, path: 4096, text: 1024, labels: 100 } as const;
/** The most commits a push lists (GitHub's cap) and files a commit lists, as the router reads them. */
const MAX_COMMITS = 2048;
const MAX_FILES = 3000;

/** A text field read leniently: a non-empty string within the payload limit, else null. */
const lenientText = (value: unknown): string | null =>
  typeof value === "string" && value.length > 0 && value.length <= PAYLOAD_LIMITS.text ? value : null;

/** `repository.full_name`, as every handled event carries it. */
function repositoryOf(r: PayloadReader, payload: Json): string | null {
  const repository = r.object(payload.repository, "repository");
  if (repository === null) return null;
  return r.string(repository.full_name, "repository.full_name", PAYLOAD_LIMITS.name, {
    pattern: REPOSITORY,
    patternName: '"owner/name"',
  });
}

/**
 * The identity of an event whatever delivery carries it: a repository subscribed twice (a
 * repository hook and an organization hook) or a replayed capture sends the same event under a
 * new `X-GitHub-Delivery`. Push: ref, before and after; pull request: number, action and head
 * commit; workflow job: job id, action and run attempt; workflow run: run id, action and
 * attempt. The repository is compared in lower case.
 */
export function contentKey(event: string, repository: string, ...parts: (string | number)[]): string {
  return [event, repository.toLowerCase(), ...parts].join("\n");
}

/**
 * Reads a delivery, or fails `invalid_payload` naming every field that is wrong. `config` maps a
 * job's labels to the pool's runner classes.
 */
export function interpretEvent(event: string, payload: unknown, config: RoutingConfig): Result<Intent> {
  if (event === "ping") return ok({ kind: "ping" });
  if (!HANDLED_EVENTS.includes(event))
    return ok({ kind: "ignore", reason: `event "${event}" is not one the router handles` });
  const r = new PayloadReader(`${event} payload`);
  const p = r.object(payload, "");
  if (p === null) return fail("invalid_payload", ...r.problems);
  if (!INSTALLATION_EVENTS.includes(event)) checkInstallation(r, p);
  const intent = readEvent(event, p, r, config);
  return r.ok && intent !== null ? ok(intent) : fail("invalid_payload", ...r.problems);
}

/**
 * The GitHub App installation a delivery came from (`installation.id`, a positive integer), or
 * null: GitHub sends it with every event of an App's installation, and that installation's token
 * is the one to ask GitHub with about the repository. A repository's own webhook sends none. An
 * id that is not a positive integer is not one: {@link interpretEvent} refuses such a delivery
 * (`invalid_payload`), so a delivery read here has a good one or none.
 */
export function installationOf(payload: unknown): number | null {
  if (typeof payload !== "object" || payload === null) return null;
  const installation = (payload as Json).installation;
  if (typeof installation !== "object" || installation === null) return null;
  const id = (installation as Json).id;
  return typeof id === "number" && Number.isSafeInteger(id) && id > 0 ? id : null;
}

/**
 * `installation`, as any delivery may carry it: absent (or null) from a repository's own
 * webhook, else an object whose `id` is a positive integer. A delivery naming an installation
 * that cannot be one is refused rather than read as if from none: its repository would be asked
 * about with the wrong credential, and what the installation serves could not be kept.
 */
function checkInstallation(r: PayloadReader, p: Json): void {
  if (p.installation === undefined || p.installation === null) return;
  const installation = r.object(p.installation, "installation");
  if (installation !== null) r.id(installation.id, "installation.id");
}

function readEvent(event: string, p: Json, r: PayloadReader, config: RoutingConfig): Intent | null {
  switch (event) {
    case "installation":
    case "installation_repositories":
      return readInstallationEvent(event, p, r);
    case "push":
      return readPush(p, r);
    case "pull_request":
      return readPullRequest(p, r);
    case "workflow_dispatch":
      return readDispatch(p, r);
    case "workflow_run":
      return readRun(p, r);
    default:
      return readJob(p, r, config);
  }
}

function readPush(p: Json, r: PayloadReader): Intent | null {
  const ref = r.string(p.ref, "ref", PAYLOAD_LIMITS.ref);
  const before = r.string(p.before, "before", PAYLOAD_LIMITS.sha, { min: 0 });
  const after = r.string(p.after, "after", PAYLOAD_LIMITS.sha);
  r.optionalBoolean(p.created, "created");
  const deleted = r.optionalBoolean(p.deleted, "deleted");
  const repository = repositoryOf(r, p);
  const commits: PushCommit[] = [];
  if (p.commits !== undefined && p.commits !== null) {
    const list = r.array(p.commits, "commits", MAX_COMMITS) ?? [];
    for (let i = 0; i < list.length && r.ok; i++) {
      const commit = r.object(list[i], `commits.${i}`);
      if (commit === null) break;
      commits.push({
        added: r.optionalStrings(commit.added, `commits.${i}.added`, PAYLOAD_LIMITS.path, MAX_FILES),
        removed: r.optionalStrings(commit.removed, `commits.${i}.removed`, PAYLOAD_LIMITS.path, MAX_FILES),
        modified: r.optionalStrings(commit.modified, `commits.${i}.modified`, PAYLOAD_LIMITS.path, MAX_FILES),
      });
    }
  }
  if (!r.ok || ref === null || before === null || after === null || repository === null) return null;
  if (deleted === true || ZERO_SHA.test(after)) return { kind: "ignore", reason: `push deletes ${ref}` };
  return {
    kind: "route",
    key: contentKey("push", repository, ref, before, after),
    repository,
    event: "push",
    ref,
    sha: after,
    pullRequest: null,
    push: { commits, before, after, created: p.created === true },
    environment: null,
    ...defaultBranchOf(p),
  };
}

/**
 * The repository's default branch a push names (`repository.default_branch`), for fair shares'
 * priority; left out when absent or not a branch name, since a build is routed without it.
 */
function defaultBranchOf(p: Json): { defaultBranch?: string } {
  const repository = p.repository as Json | undefined;
  const branch = repository?.default_branch;
  return typeof branch === "string" && branch.length > 0 && branch.length <= PAYLOAD_LIMITS.ref
    ? { defaultBranch: branch }
    : {};
}

function readPullRequest(p: Json, r: PayloadReader): Intent | null {
  const action = r.string(p.action, "action", PAYLOAD_LIMITS.name);
  const number = r.id(p.number, "number");
  const repository = repositoryOf(r, p);
  const pr = r.object(p.pull_request, "pull_request");
  const head = pr === null ? null : r.object(pr.head, "pull_request.head");
  const headRef = head === null ? null : r.string(head.ref, "pull_request.head.ref", PAYLOAD_LIMITS.ref);
  const sha = head === null ? null : r.string(head.sha, "pull_request.head.sha", PAYLOAD_LIMITS.sha);
  if (!r.ok || action === null || number === null || repository === null || headRef === null || sha === null)
    return null;
  if (!PULL_REQUEST_ACTIONS.includes(action)) {
    return { kind: "ignore", reason: `pull_request action "${action}" does not start a build` };
  }
  return {
    kind: "route",
    key: contentKey("pull_request", repository, number, action, sha),
    repository,
    event: "pull_request",
    ref: `refs/heads/${headRef}`,
    sha,
    pullRequest: number,
    push: null,
    environment: null,
  };
}

function readDispatch(p: Json, r: PayloadReader): Intent | null {
  const ref = r.string(p.ref, "ref", PAYLOAD_LIMITS.ref);
  const repository = repositoryOf(r, p);
  let environment: string | null = null;
  let upstream: DownstreamOrigin | null = null;
  if (p.inputs !== undefined && p.inputs !== null) {
    const inputs = r.object(p.inputs, "inputs");
    const named = inputs?.environment;
    if (typeof named === "string" && named.length > 0 && named.length <= PAYLOAD_LIMITS.name) environment = named;
    upstream = upstreamOfInputs(inputs);
  }
  if (!r.ok || ref === null || repository === null) return null;
  return {
    ...(upstream === null ? {} : { upstream }),
    kind: "route",
    key: null,
    repository,
    event: "workflow_dispatch",
    ref: ref.startsWith("refs/") ? ref : `refs/heads/${ref}`,
    sha: null,
    pullRequest: null,
    push: null,
    environment,
  };
}

function readRun(p: Json, r: PayloadReader): Intent | null {
  const action = r.string(p.action, "action", PAYLOAD_LIMITS.name);
  const repository = repositoryOf(r, p);
  const w = r.object(p.workflow_run, "workflow_run");
  if (w === null || action === null) return null;
  const id = r.id(w.id, "workflow_run.id");
  const sha = r.string(w.head_sha, "workflow_run.head_sha", PAYLOAD_LIMITS.sha);
  const text = (key: string) => r.optionalText(w[key], `workflow_run.${key}`, PAYLOAD_LIMITS.text) ?? null;
  const run: Omit<RunState, "id"> = {
    name: text("name"),
    event: text("event"),
    attempt: r.optionalId(w.run_attempt, "workflow_run.run_attempt") ?? 1,
    status: text("status") ?? action,
    conclusion: text("conclusion"),
    started_at: text("run_started_at"),
    updated_at: text("updated_at"),
  };
  // Read leniently: what only links a run to its dispatch never refuses a delivery.
  const workflow = p.workflow !== null && typeof p.workflow === "object" ? (p.workflow as Json) : null;
  const created = Date.parse(lenientText(w.created_at) ?? "");
  const origin = {
    path: lenientText(w.path) ?? lenientText(workflow?.path),
    workflowId: typeof w.workflow_id === "number" && Number.isSafeInteger(w.workflow_id) ? w.workflow_id : null,
    headBranch: lenientText(w.head_branch),
    createdAt: Number.isFinite(created) ? created : null,
    htmlUrl: lenientText(w.html_url),
  };
  if (!r.ok || id === null || sha === null || repository === null) return null;
  const key = contentKey("workflow_run", repository, id, action, run.attempt);
  // Only a dispatched run is matched to a dispatch: other runs' updates carry no origin.
  const dispatched = run.event === "workflow_dispatch";
  const update = { kind: "run" as const, run: { id, ...run }, ...(dispatched ? { origin } : {}) };
  return { kind: "update", key, repository, sha, event: "workflow_run", update };
}

function readJob(p: Json, r: PayloadReader, config: RoutingConfig): Intent | null {
  const action = r.string(p.action, "action", PAYLOAD_LIMITS.name);
  const repository = repositoryOf(r, p);
  const j = r.object(p.workflow_job, "workflow_job");
  if (j === null || action === null) return null;
  const id = r.id(j.id, "workflow_job.id");
  const runId = r.id(j.run_id, "workflow_job.run_id");
  const sha = r.string(j.head_sha, "workflow_job.head_sha", PAYLOAD_LIMITS.sha);
  const text = (key: string) => r.optionalText(j[key], `workflow_job.${key}`, PAYLOAD_LIMITS.text) ?? null;
  const labels = r.optionalStrings(j.labels, "workflow_job.labels", PAYLOAD_LIMITS.name, PAYLOAD_LIMITS.labels) ?? [];
  for (const [i, label] of labels.entries())
    if (label === "") r.problem(`workflow_job.labels.${i}`, "must not be empty");
  const runAttempt = r.optionalId(j.run_attempt, "workflow_job.run_attempt") ?? 1;
  const status = text("status") ?? action;
  const runnerName = text("runner_name");
  const createdAt = text("created_at");
  const fields = {
    name: text("name"),
    workflow: text("workflow_name"),
    conclusion: text("conclusion"),
    runner_group_name: text("runner_group_name"),
    started_at: text("started_at"),
    completed_at: text("completed_at"),
  };
  if (!r.ok || id === null || runId === null || sha === null || repository === null) return null;
  const job: JobState = {
    id,
    run_id: runId,
    run_attempt: runAttempt,
    name: fields.name,
    status,
    conclusion: fields.conclusion,
    labels,
    runner_name: runnerName,
    runner_group_name: fields.runner_group_name,
    runner: runnerName !== null ? (runnerForLabels(policyFor(config, repository), labels)?.id ?? null) : null,
    created_at: createdAt,
    queued_at: status === "waiting" ? null : createdAt,
    started_at: fields.started_at,
    completed_at: fields.completed_at,
    ...(fields.workflow === null ? {} : { workflow: fields.workflow }),
  };
  const key = contentKey("workflow_job", repository, id, action, runAttempt);
  return { kind: "update", key, repository, sha, event: "workflow_job", update: { kind: "job", job } };
}

/** Problems a repository list names before the rest of it is left unread (a list may hold thousands). */
const MAX_LIST_PROBLEMS = 10;

/**
 * `installation` and `installation_repositories`: the installation (id, account login, which
 * repositories it may see) and, for the actions that change them, the repositories it serves
 * from now on or no longer serves. Every name is checked as GitHub allows it: they are chosen by
 * whoever owns the account.
 */
function readInstallationEvent(
  event: "installation" | "installation_repositories",
  p: Json,
  r: PayloadReader,
): Intent | null {
  const action = r.string(p.action, "action", PAYLOAD_LIMITS.name);
  const installation = r.object(p.installation, "installation");
  if (installation === null || action === null) return null;
  const id = r.id(installation.id, "installation.id");
  const account = r.object(installation.account, "installation.account");
  const login =
    account === null
      ? null
      : r.string(account.login, "installation.account.login", 39, {
          pattern: OWNER,
          patternName: "a GitHub login (letters, digits, '-' or '_')",
        });
  // installation_repositories also says it at the top level; the installation's own comes first.
  const selection =
    selectionOf(r, installation.repository_selection, "installation.repository_selection") ??
    (event === "installation_repositories" ? selectionOf(r, p.repository_selection, "repository_selection") : null);
  if (!r.ok || id === null || login === null) return null;
  const actions: readonly string[] =
    event === "installation" ? INSTALLATION_ACTIONS : INSTALLATION_REPOSITORIES_ACTIONS;
  if (!actions.includes(action))
    return { kind: "ignore", reason: `${event} action "${action}" is not one the router applies` };
  const served =
    event === "installation" && action === "created"
      ? repositoriesOf(r, p.repositories, "repositories", false)
      : action === "added"
        ? repositoriesOf(r, p.repositories_added, "repositories_added", true)
        : [];
  const removed = action === "removed" ? repositoriesOf(r, p.repositories_removed, "repositories_removed", true) : [];
  if (!r.ok) return null;
  const once = event === "installation" && (action === "created" || action === "deleted");
  return {
    kind: "installation",
    key: once ? contentKey(event, login, id, action) : null,
    installation: { event, action, id, account: login, selection, served, removed },
  };
}

/** `repository_selection`: `all` or `selected`; null when absent. */
function selectionOf(r: PayloadReader, value: unknown, path: string): RepositorySelection | null {
  if (value === undefined || value === null) return null;
  if ((REPOSITORY_SELECTIONS as readonly unknown[]).includes(value)) return value as RepositorySelection;
  r.problem(path, `must be one of ${REPOSITORY_SELECTIONS.join(", ")}`);
  return null;
}

/**
 * The `full_name`s of a list of repositories, at most {@link MAX_INSTALLATION_REPOSITORIES};
 * absent or null is an empty list unless `required`.
 */
function repositoriesOf(r: PayloadReader, value: unknown, path: string, required: boolean): string[] {
  if ((value === undefined || value === null) && !required) return [];
  const list = r.array(value, path, MAX_INSTALLATION_REPOSITORIES);
  if (list === null) return [];
  const names: string[] = [];
  for (let i = 0; i < list.length && r.problems.length < MAX_LIST_PROBLEMS; i++) {
    const item = r.object(list[i], `${path}.${i}`);
    if (item === null) continue;
    const name = r.string(item.full_name, `${path}.${i}.full_name`, PAYLOAD_LIMITS.name, {
      pattern: REPOSITORY,
      patternName: '"owner/name"',
    });
    if (name !== null) names.push(name);
  }
  return names;
}

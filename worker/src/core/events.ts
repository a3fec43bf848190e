import * as z from "zod/mini";
import { type JobState, type RunState, runnerForLabels, type WorkflowUpdate } from "./builds.ts";
import type { PushCommit } from "./changes.ts";
import { policyFor } from "./config.ts";
import { PARSE_OPTIONS } from "./issues.ts";
import { REPOSITORY, ZERO_SHA } from "./names.ts";
import type { RoutingConfig } from "./types.ts";

/**
 * What a webhook delivery asks of the router, read from its event name and payload.
 * Only the fields the router uses are checked; everything else in GitHub's payload is ignored.
 */
export type Intent =
  | { kind: "ping" }
  | { kind: "ignore"; reason: string }
  | { kind: "invalid"; problems: string[] }
  | RouteIntent
  | UpdateIntent;

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

export const HANDLED_EVENTS = ["ping", "push", "pull_request", "workflow_run", "workflow_job", "workflow_dispatch"];
export const PULL_REQUEST_ACTIONS = ["opened", "synchronize", "reopened", "ready_for_review"];

/**
 * Bounds on what the router stores, far above anything GitHub sends, so that no delivery can
 * make a build record too large to keep (the Ledger's SQLite takes 2 MB a value).
 */
export const PAYLOAD_LIMITS = { ref: 1024, name: 256, sha: 64, path: 4096, text: 1024, labels: 100 } as const;
const bounded = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
const name = bounded(PAYLOAD_LIMITS.name);
const ref = bounded(PAYLOAD_LIMITS.ref);
const sha = bounded(PAYLOAD_LIMITS.sha);
const nullableText = z.optional(z.nullable(z.string().check(z.maxLength(PAYLOAD_LIMITS.text))));
const repository = z.looseObject({ full_name: z.string().check(z.regex(REPOSITORY, 'must be "owner/name"')) });
const files = z.optional(z.nullable(z.array(z.string().check(z.maxLength(PAYLOAD_LIMITS.path)))));
/** A pull request, run or job number: GitHub's ids are positive integers. */
const id = z.int().check(z.positive());

const pushSchema = z.looseObject({
  ref,
  before: z.string().check(z.maxLength(PAYLOAD_LIMITS.sha)),
  after: sha,
  created: z.optional(z.boolean()),
  deleted: z.optional(z.boolean()),
  repository,
  commits: z.optional(z.nullable(z.array(z.looseObject({ added: files, removed: files, modified: files })))),
});

const pullRequestSchema = z.looseObject({
  action: name,
  number: id,
  repository,
  pull_request: z.looseObject({
    head: z.looseObject({ ref, sha }),
  }),
});

const dispatchSchema = z.looseObject({
  ref,
  repository,
  inputs: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
});

const runSchema = z.looseObject({
  action: name,
  repository,
  workflow_run: z.looseObject({
    id: id,
    head_sha: sha,
    name: nullableText,
    event: nullableText,
    status: nullableText,
    conclusion: nullableText,
    run_attempt: z.optional(z.int()),
    run_started_at: nullableText,
    updated_at: nullableText,
  }),
});

const jobSchema = z.looseObject({
  action: name,
  repository,
  workflow_job: z.looseObject({
    id: id,
    run_id: id,
    run_attempt: z.optional(z.int().check(z.positive())),
    head_sha: sha,
    name: nullableText,
    status: nullableText,
    conclusion: nullableText,
    labels: z.optional(z.array(bounded(PAYLOAD_LIMITS.name)).check(z.maxLength(PAYLOAD_LIMITS.labels))),
    runner_name: nullableText,
    runner_group_name: nullableText,
    created_at: nullableText,
    started_at: nullableText,
    completed_at: nullableText,
  }),
});

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

function invalid(event: string, error: z.core.$ZodError): Intent {
  return {
    kind: "invalid",
    problems: error.issues.map((i) => `${event} payload ${i.path.map(String).join(".") || "(root)"}: ${i.message}`),
  };
}

/** Reads a delivery. `config` maps a job's labels to the pool's runner classes. */
export function interpretEvent(event: string, payload: unknown, config: RoutingConfig): Intent {
  switch (event) {
    case "ping":
      return { kind: "ping" };
    case "push": {
      const p = pushSchema.safeParse(payload, PARSE_OPTIONS);
      if (!p.success) return invalid(event, p.error);
      const push = p.data;
      if (push.deleted === true || ZERO_SHA.test(push.after)) {
        return { kind: "ignore", reason: `push deletes ${push.ref}` };
      }
      return {
        kind: "route",
        key: contentKey(event, push.repository.full_name, push.ref, push.before, push.after),
        repository: push.repository.full_name,
        event,
        ref: push.ref,
        sha: push.after,
        pullRequest: null,
        push: { commits: push.commits ?? [], before: push.before, after: push.after, created: push.created === true },
        environment: null,
      };
    }
    case "pull_request": {
      const p = pullRequestSchema.safeParse(payload, PARSE_OPTIONS);
      if (!p.success) return invalid(event, p.error);
      const pr = p.data;
      if (!PULL_REQUEST_ACTIONS.includes(pr.action)) {
        return { kind: "ignore", reason: `pull_request action "${pr.action}" does not start a build` };
      }
      return {
        kind: "route",
        key: contentKey(event, pr.repository.full_name, pr.number, pr.action, pr.pull_request.head.sha),
        repository: pr.repository.full_name,
        event,
        ref: `refs/heads/${pr.pull_request.head.ref}`,
        sha: pr.pull_request.head.sha,
        pullRequest: pr.number,
        push: null,
        environment: null,
      };
    }
    case "workflow_dispatch": {
      const p = dispatchSchema.safeParse(payload, PARSE_OPTIONS);
      if (!p.success) return invalid(event, p.error);
      const environment = p.data.inputs?.environment;
      return {
        kind: "route",
        key: null,
        repository: p.data.repository.full_name,
        event,
        ref: p.data.ref.startsWith("refs/") ? p.data.ref : `refs/heads/${p.data.ref}`,
        sha: null,
        pullRequest: null,
        push: null,
        environment: typeof environment === "string" && environment.length > 0 ? environment : null,
      };
    }
    case "workflow_run": {
      const p = runSchema.safeParse(payload, PARSE_OPTIONS);
      if (!p.success) return invalid(event, p.error);
      const r = p.data.workflow_run;
      const run: RunState = {
        id: r.id,
        name: r.name ?? null,
        event: r.event ?? null,
        attempt: r.run_attempt ?? 1,
        status: r.status ?? p.data.action,
        conclusion: r.conclusion ?? null,
        started_at: r.run_started_at ?? null,
        updated_at: r.updated_at ?? null,
      };
      const repo = p.data.repository.full_name;
      const key = contentKey(event, repo, r.id, p.data.action, run.attempt);
      return { kind: "update", key, repository: repo, sha: r.head_sha, event, update: { kind: "run", run } };
    }
    case "workflow_job": {
      const p = jobSchema.safeParse(payload, PARSE_OPTIONS);
      if (!p.success) return invalid(event, p.error);
      const j = p.data.workflow_job;
      const repo = p.data.repository.full_name;
      const labels = j.labels ?? [];
      const hasRunner = (j.runner_name ?? null) !== null;
      const status = j.status ?? p.data.action;
      const job: JobState = {
        id: j.id,
        run_id: j.run_id,
        run_attempt: j.run_attempt ?? 1,
        name: j.name ?? null,
        status,
        conclusion: j.conclusion ?? null,
        labels,
        runner_name: j.runner_name ?? null,
        runner_group_name: j.runner_group_name ?? null,
        runner: hasRunner ? (runnerForLabels(policyFor(config, repo), labels)?.id ?? null) : null,
        created_at: j.created_at ?? null,
        queued_at: status === "waiting" ? null : (j.created_at ?? null),
        started_at: j.started_at ?? null,
        completed_at: j.completed_at ?? null,
      };
      const key = contentKey(event, repo, j.id, p.data.action, job.run_attempt);
      return { kind: "update", key, repository: repo, sha: j.head_sha, event, update: { kind: "job", job } };
    }
    default:
      return { kind: "ignore", reason: `event "${event}" is not one the router handles` };
  }
}

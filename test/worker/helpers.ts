/**
 * Helpers for the Worker tests, which run inside workerd: delivering signed webhooks to the
 * bundled Worker (or to the Worker source under other bindings), calling the API, and reading
 * what the Worker stored in KV and in the Ledger.
 */

import {
  createExecutionContext,
  listDurableObjectIds,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import examples from "@octokit/webhooks-examples";
import { expect } from "vitest";
import { app } from "../../worker/src/app.ts";
import { DEFAULT_RUNNERS, type Decision, REQUIREMENTS } from "../../worker/src/core/index.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { type DeliveryOptions, ROUTER_URL, randomRepository, randomSha, webhookRequest } from "../support/webhooks.ts";

export type Fetch = (request: Request) => Promise<Response>;

/** The bundled Worker, as deployed (dist/worker/index.js). */
export const worker: Fetch = (request) => exports.default.fetch(request);

type Bindings = { [K in keyof Cloudflare.Env]?: Cloudflare.Env[K] | undefined };

/**
 * The Worker's source under the test bindings with `overrides` applied (`undefined` removes
 * one). A new env object each call, so settings are read afresh.
 */
export function withBindings(overrides: Bindings): Fetch {
  return async (request) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(request, { ...env, ...overrides } as Cloudflare.Env, ctx);
    // What the Worker does after answering (the KV copy) is done before the test looks.
    await waitOnExecutionContext(ctx);
    return response;
  };
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

async function answer<T>(response: Response): Promise<Answer<T>> {
  const text = await response.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    body = text as T;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** Signs and posts a delivery to `/webhook/github`; the answer with its JSON body. */
export async function deliver<T = Record<string, unknown>>(
  event: string,
  payload: unknown,
  options: DeliveryOptions & { via?: Fetch } = {},
): Promise<Answer<T>> {
  const request = await webhookRequest(event, payload, options);
  return answer<T>(await (options.via ?? worker)(request));
}

/** Calls the HTTP API with the test API token unless `token` says otherwise (`null`: no header). */
export async function call<T = Record<string, unknown>>(
  path: string,
  init: RequestInit & { token?: string | null; via?: Fetch } = {},
): Promise<Answer<T>> {
  const { token = TEST_SECRETS.api, via = worker, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return answer<T>(await via(new Request(`${ROUTER_URL}${path}`, { ...rest, headers })));
}

/** Asserts a contract error: the status and `{"error":{"code","message"}}`. */
export function expectError(res: Answer<unknown>, status: number, code: string): string {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
  const message = (res.body as { error: { message: string } }).error.message;
  expect(message.length).toBeGreaterThan(0);
  return message;
}

/** The runner pool's defaults: each class's `runs-on` labels, from the core's own defaults. */
export const POOL: Record<string, string[]> = Object.fromEntries(
  Object.values(DEFAULT_RUNNERS).map((runner) => [runner.id, runner.runsOn]),
);

export type { Decision };

/** Asserts a decision has the contract's shape and names one of the pool's runners by its labels. */
export function expectDecision(value: unknown, mode = "hybrid"): Decision {
  expect(value).toMatchObject({
    runner: expect.any(String),
    runs_on: expect.any(Array),
    requirement: expect.toBeOneOf([...REQUIREMENTS]),
    mode,
    reasons: expect.any(Array),
    truncated: expect.any(Boolean),
  });
  const decision = value as Decision;
  expect(decision.runs_on).toEqual(POOL[decision.runner]);
  expect(decision.reasons.length).toBeGreaterThan(0);
  for (const reason of decision.reasons) expect(reason).toEqual(expect.any(String));
  return decision;
}

/** An accepted routed delivery: 202 `{build_id, decision}`. */
export function expectRouted(res: Answer, mode = "hybrid"): { build_id: string; decision: Decision } {
  expect(res.status, res.text).toBe(202);
  expect(Object.keys(res.body).sort()).toEqual(["build_id", "decision"]);
  expect(res.body.build_id).toEqual(expect.any(String));
  return { build_id: res.body.build_id as string, decision: expectDecision(res.body.decision, mode) };
}

/** An ignored delivery: 202 `{ignored: true, reason}`. */
export function expectIgnored(res: Answer): string {
  expect(res.status, res.text).toBe(202);
  expect(res.body).toEqual({ ignored: true, reason: expect.any(String) });
  return res.body.reason as string;
}

// --- GitHub's example payloads -------------------------------------------------------------

/** A webhook payload as JSON: tests reach into GitHub's documents freely and the Worker validates them. */
// biome-ignore lint/suspicious/noExplicitAny: arbitrary GitHub JSON that tests edit in place
type Payload = Record<string, any>;

/** Every example payload `@octokit/webhooks-examples` has for `event`, as fresh copies. */
export function examplesOf(event: string): Payload[] {
  const definition = examples.find((d) => d.name === event);
  if (definition === undefined) throw new Error(`no webhook examples for ${event}`);
  return definition.examples.map((e) => structuredClone(e) as Payload);
}

function firstExample(event: string, predicate: (p: Payload) => boolean = () => true): Payload {
  const found = examplesOf(event).find(predicate);
  if (found === undefined) throw new Error(`no matching example for ${event}`);
  return found;
}

/** A copy of `payload` in another repository. */
export function inRepository(payload: Payload, repository: string): Payload {
  return withRepository(structuredClone(payload), repository);
}

function withRepository(payload: Payload, repository: string): Payload {
  const [owner = "acme", name = "repo"] = repository.split("/");
  payload.repository = {
    ...payload.repository,
    full_name: repository,
    name,
    owner: { ...payload.repository?.owner, login: owner },
  };
  return payload;
}

/** A push (GitHub's example with commits) of one commit touching `files` on `ref`. */
export function pushPayload(
  fields: { repository?: string; sha?: string; before?: string; ref?: string; files?: string[] } = {},
): Payload {
  const payload = firstExample("push", (p) => p.deleted === false && p.commits.length > 0);
  const sha = fields.sha ?? randomSha();
  payload.ref = fields.ref ?? "refs/heads/feature";
  payload.before = fields.before ?? randomSha();
  payload.after = sha;
  payload.created = false;
  payload.commits = [
    { ...payload.commits[0], id: sha, added: fields.files ?? ["src/index.ts"], removed: [], modified: [] },
  ];
  payload.head_commit = payload.commits[0];
  return withRepository(payload, fields.repository ?? randomRepository());
}

/** A pull_request event (GitHub's `opened` example) with `action`, number and head SHA replaced. */
export function pullRequestPayload(
  fields: { repository?: string; number?: number; action?: string; sha?: string } = {},
): Payload {
  const payload = firstExample("pull_request", (p) => p.action === "opened");
  payload.action = fields.action ?? "opened";
  payload.number = fields.number ?? 7;
  payload.pull_request.number = payload.number;
  payload.pull_request.head.sha = fields.sha ?? randomSha();
  return withRepository(payload, fields.repository ?? randomRepository());
}

/** A workflow_job event built from GitHub's example for `action`, for a job of `repository`@`sha`. */
export function workflowJobPayload(fields: {
  repository: string;
  sha: string;
  action: "queued" | "in_progress" | "completed" | "waiting";
  id?: number;
  runId?: number;
  labels?: string[];
  runnerName?: string | null;
  conclusion?: string | null;
}): Payload {
  const payload = firstExample("workflow_job", (p) => p.action === fields.action);
  const job = payload.workflow_job;
  job.id = fields.id ?? job.id;
  job.run_id = fields.runId ?? job.run_id;
  job.head_sha = fields.sha;
  job.status = fields.action;
  job.labels = fields.labels ?? ["self-hosted", "vps"];
  const assigned = fields.action === "in_progress" || fields.action === "completed";
  job.runner_name = fields.runnerName !== undefined ? fields.runnerName : assigned ? "vps-runner-1" : null;
  job.runner_group_name = job.runner_name === null ? null : "Default";
  job.conclusion = fields.action === "completed" ? (fields.conclusion ?? "success") : null;
  // Recent times: the fleet lets go of jobs held past their state's maximum age.
  const at = (minutesAgo: number) => new Date(Math.floor(Date.now() / 60_000 - minutesAgo) * 60_000).toISOString();
  job.created_at = at(6);
  job.completed_at = fields.action === "completed" ? at(1) : null;
  job.started_at = fields.action === "queued" || fields.action === "waiting" ? null : at(5);
  return withRepository(payload, fields.repository);
}

/** A workflow_run event built from GitHub's example for `action`, for `repository`@`sha`. */
export function workflowRunPayload(fields: {
  repository: string;
  sha: string;
  action: "requested" | "in_progress" | "completed";
  id?: number;
  conclusion?: string | null;
}): Payload {
  const payload = firstExample("workflow_run", (p) => p.action === fields.action);
  const run = payload.workflow_run;
  run.id = fields.id ?? run.id;
  run.head_sha = fields.sha;
  run.status = fields.action === "requested" ? "queued" : fields.action;
  run.conclusion = fields.action === "completed" ? (fields.conclusion ?? "success") : null;
  return withRepository(payload, fields.repository);
}

// --- What the Worker stored ----------------------------------------------------------------

/** The directory's Ledger instance, which serves the first organisation: every test's of one organisation. */
export function ledger() {
  return env.LEDGER.get(env.LEDGER.idFromName("ledger"));
}

type LedgerTable = "deliveries" | "builds" | "commits";

/**
 * Runs a COUNT query in the Ledger; a table the Ledger has not created yet counts as empty.
 * (Opening the Ledger to look creates its tables, which writes no rows.)
 */
export async function ledgerCount(
  table: LedgerTable,
  where = "1 = 1",
  ...params: (string | number)[]
): Promise<number> {
  return runInDurableObject(ledger(), (_instance, state) => {
    const exists = state.storage.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", table)
      .one().n;
    if (exists === 0) return 0;
    return state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, ...params).one()
      .n;
  });
}

/** Every KV key, with its expiration. */
export async function kvKeys(prefix?: string): Promise<{ name: string; expiration?: number }[]> {
  const keys: { name: string; expiration?: number }[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.CI_STATE.list(cursor === undefined ? { prefix } : { prefix, cursor });
    keys.push(...page.keys);
    if (page.list_complete) return keys;
    cursor = page.cursor;
  }
}

/** Asserts nothing at all is stored: no KV key, no row in any Ledger table. */
export async function expectNoState(): Promise<void> {
  expect(await kvKeys()).toEqual([]);
  // No Durable Object but the one Ledger was ever made (it may not exist yet: nothing was written).
  const ledgerId = env.LEDGER.idFromName("ledger");
  for (const id of await listDurableObjectIds(env.LEDGER)) expect(id.equals(ledgerId)).toBe(true);
  // Every table the Ledger has, listed by SQLite itself: a refused request may only be counted.
  const rows = await runInDurableObject(ledger(), (_instance, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('meta', 'metric_values', 'sqlite_sequence') AND name NOT LIKE '_cf_%'",
      )
      .toArray();
    return Object.fromEntries(
      tables.map(({ name }) => [
        name,
        state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${name}`).one().n,
      ]),
    );
  });
  expect(Object.keys(rows).length, "tables listed").toBeGreaterThan(10);
  for (const [table, n] of Object.entries(rows)) expect(n, `rows in ${table}`).toBe(0);
}

export { randomRepository, randomSha };

/**
 * Property-based tests of the Worker's HTTP surface with generated input: header sets, bodies
 * (random JSON, random bytes, GitHub's example payloads with fields deleted or replaced),
 * content types and signatures (sometimes valid for the exact body sent, sometimes not).
 *
 * For every request: never a 5xx; a 4xx is a documented status with a JSON error whose code is
 * one of `ERRORS` (and maps to that status); a 2xx for a validly signed delivery has the shape
 * its event documents; a 4xx changes no state. /route never changes state at all.
 *
 * Case counts: test/support/fuzz-runs.ts (`VITE_FUZZ_RUNS=10000` for the nightly size).
 */

import { reset } from "cloudflare:test";
import examples from "@octokit/webhooks-examples";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { DELIVERY } from "../../worker/src/core/names.ts";
import { ERRORS } from "../../worker/src/errors.ts";
import { FUZZ_RUNS, FUZZ_SEED, runsFor } from "../support/fuzz-runs.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { ROUTER_URL, WEBHOOK_URL } from "../support/webhooks.ts";
import { type Answer, expectDecision, worker } from "./helpers.ts";
import { expectUnchangedSince, stateSnapshot } from "./state.ts";

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const JSON_TYPE = "application/json";
const FORM_TYPE = "application/x-www-form-urlencoded";

/** Statuses the contract gives a refused request, per endpoint. */
const WEBHOOK_4XX = [400, 401, 413, 415, 422];
const ROUTE_4XX = [400, 401, 413, 415];

/** A test's time budget: generous per case, so the nightly size does not time out. */
const timeoutFor = (runs: number) => Math.max(60_000, runs * 250);

beforeEach(async () => {
  await reset();
});

it("reads its size from the environment, defaulting small", () => {
  expect(FUZZ_RUNS).toBeGreaterThan(0);
  expect(runsFor(0.4) + runsFor(0.4) + runsFor(0.2)).toBeGreaterThanOrEqual(FUZZ_RUNS - 2);
});

it("the state probe sees what an accepted delivery stores (so an unchanged state means something)", async () => {
  const before = await stateSnapshot();
  const { request } = await webhookRequestFor(
    {
      body: {
        kind: "example",
        index: HANDLED_EXAMPLES.findIndex((e) => e.event === "push"),
        mutations: [],
        form: false,
      },
      signature: { kind: "current" },
      event: { kind: "keep" },
      eventName: "push",
      delivery: { kind: "keep" },
      contentType: "matching",
    },
    HANDLED_EXAMPLES,
  );
  expect((await worker(request)).status).toBe(202);
  await expect(expectUnchangedSince(before)).rejects.toThrow();
});

// --- Answers -------------------------------------------------------------------------------

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    body = { unparsed: text };
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** Never a 5xx; a 4xx is `{"error":{"code","message"}}` with a documented code for its status. */
function expectContractAnswer(res: Answer, allowed4xx: number[], context: string): void {
  expect(res.status, `${context}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status < 400) return;
  expect(allowed4xx, `${context}: undocumented status ${res.status}`).toContain(res.status);
  expect(res.headers.get("content-type"), context).toMatch(/^application\/json/);
  expect(res.body, context).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  const { code, message } = (res.body as { error: { code: string; message: string } }).error;
  expect(Object.keys(ERRORS), `${context}: unknown code`).toContain(code);
  expect(ERRORS[code as keyof typeof ERRORS], `${context}: ${code} answered with ${res.status}`).toBe(res.status);
  expect(message.length, context).toBeGreaterThan(0);
}

function expectCode(res: Answer, status: number, code: string, context: string): void {
  expect(res.status, `${context}: ${res.text.slice(0, 300)}`).toBe(status);
  expect((res.body as { error?: { code?: string } }).error?.code, context).toBe(code);
}

/**
 * The documented answer to an accepted delivery of `event`. The examples repeat, so a delivery
 * may carry an event an earlier one did: it is then answered as that one was, with 200 and
 * `duplicate: true`.
 */
function expectAcceptedShape(event: string, res: Answer, context: string): void {
  if (res.status === 200 && event !== "ping") {
    expect(res.body.duplicate, context).toBe(true);
    const { duplicate: _, ...first } = res.body;
    expectAcceptedShape(event, { ...res, status: 202, body: first }, context);
    return;
  }
  const body = res.body;
  const ignored = () => expect(body, context).toEqual({ ignored: true, reason: expect.any(String) });
  switch (event) {
    case "ping":
      expect(res.status, context).toBe(200);
      expect(body, context).toEqual({ ok: true });
      return;
    case "push":
    case "pull_request":
    case "workflow_dispatch":
      expect(res.status, context).toBe(202);
      if ("ignored" in body) {
        ignored();
        return;
      }
      expect(Object.keys(body).sort(), context).toEqual(["build_id", "decision"]);
      expect(body.build_id, context).toEqual(expect.any(String));
      expectDecision(body.decision);
      return;
    case "workflow_run":
    case "workflow_job":
      expect(res.status, context).toBe(202);
      // Only from an App installation that no longer serves the repository (a mutated installation event's doing).
      if ("ignored" in body) {
        ignored();
        expect(body.reason, context).toMatch(/^the GitHub App installation \d+ /);
        return;
      }
      expect(body, context).toEqual({ build_id: expect.any(String) });
      return;
    case "installation":
    case "installation_repositories":
      expect(res.status, context).toBe(202);
      if ("ignored" in body) {
        ignored();
        return;
      }
      expect(body, context).toEqual({
        installation: expect.any(Number),
        account: expect.any(String),
        status: expect.stringMatching(/^(active|suspended|deleted)$/),
        repositories: { served: expect.any(Number), removed: expect.any(Number) },
      });
      return;
    default:
      expect(res.status, context).toBe(202);
      ignored();
  }
}

// --- Bodies --------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: GitHub JSON that mutations edit freely
type Json = any;

/** GitHub's example payloads, every event, as (event, payload). */
const EXAMPLES: { event: string; payload: Json }[] = examples.flatMap((d) =>
  d.examples.map((payload) => ({ event: d.name as string, payload: payload as Json })),
);
const HANDLED = ["ping", "push", "pull_request", "workflow_run", "workflow_job", "workflow_dispatch"];
const HANDLED_EXAMPLES = EXAMPLES.filter((e) => HANDLED.includes(e.event));

/** The fields each handled event reads: mutations aim here half the time. */
const FOCUS: Record<string, string[][]> = {
  push: [
    ["ref"],
    ["after"],
    ["before"],
    ["created"],
    ["deleted"],
    ["repository"],
    ["repository", "full_name"],
    ["commits"],
    ["commits", "0"],
    ["commits", "0", "added"],
    ["commits", "0", "modified"],
    ["commits", "0", "removed"],
  ],
  pull_request: [
    ["action"],
    ["number"],
    ["repository", "full_name"],
    ["pull_request"],
    ["pull_request", "head"],
    ["pull_request", "head", "sha"],
    ["pull_request", "head", "ref"],
  ],
  workflow_run: [
    ["action"],
    ["repository", "full_name"],
    ["workflow_run", "id"],
    ["workflow_run", "head_sha"],
    ["workflow_run", "name"],
    ["workflow_run", "status"],
    ["workflow_run", "conclusion"],
    ["workflow_run", "run_attempt"],
    ["workflow_run", "run_started_at"],
    ["workflow_run", "updated_at"],
  ],
  workflow_job: [
    ["action"],
    ["repository", "full_name"],
    ["workflow_job", "id"],
    ["workflow_job", "run_id"],
    ["workflow_job", "head_sha"],
    ["workflow_job", "status"],
    ["workflow_job", "conclusion"],
    ["workflow_job", "labels"],
    ["workflow_job", "runner_name"],
    ["workflow_job", "runner_group_name"],
    ["workflow_job", "created_at"],
    ["workflow_job", "started_at"],
    ["workflow_job", "completed_at"],
  ],
  workflow_dispatch: [["ref"], ["inputs"], ["inputs", "environment"], ["repository"], ["repository", "full_name"]],
  ping: [["zen"], ["hook_id"], ["hook"]],
};

/** Values that have broken parsers before: wrong types, edges of numbers, odd strings. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    "",
    0,
    -1,
    1.5,
    2 ** 53 + 2,
    -0,
    1e308,
    true,
    false,
    [],
    {},
    [null],
    "0".repeat(40),
    "f".repeat(64),
    "refs/heads/main",
    "refs/heads/production",
    "refs/tags/v1.2.3",
    "main",
    "deploy/app.yaml",
    "kernels/matmul.cu",
    "services/api/Dockerfile",
    "docs/readme.md",
    "../../etc/passwd",
    "acme/x",
    "production",
    "queued",
    "in_progress",
    "completed",
    "success",
    "failure",
    "2026-11-20T10:00:00Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "not-a-date",
    ["self-hosted", "vps"],
    ["self-hosted", "ai-lab", "gpu"],
    ["ubuntu-latest"],
    "a\u0000b",
    "\u202e\u{1F600}",
    "\ud800",
  ),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 40 }),
  fc.integer(),
);

interface Mutation {
  op: "delete" | "replace";
  focus: boolean;
  pick: number;
  value: unknown;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("delete", "replace"),
  focus: fc.boolean(),
  pick: fc.nat(),
  value: oddValue,
});

/** Every path into `value`, a few levels deep. */
function pathsOf(value: Json, prefix: string[] = [], out: string[][] = [], depth = 0): string[][] {
  if (depth > 5 || value === null || typeof value !== "object") return out;
  for (const key of Object.keys(value)) {
    const path = [...prefix, key];
    out.push(path);
    pathsOf(value[key], path, out, depth + 1);
  }
  return out;
}

function applyMutation(payload: Json, event: string, m: Mutation): void {
  const focus = FOCUS[event] ?? [];
  const candidates = m.focus && focus.length > 0 ? focus : pathsOf(payload);
  const path = candidates[m.pick % Math.max(1, candidates.length)];
  if (path === undefined || path.length === 0) return;
  let target = payload;
  for (const key of path.slice(0, -1)) {
    if (target === null || typeof target !== "object") return;
    target = target[key];
  }
  if (target === null || typeof target !== "object") return;
  const last = path.at(-1) as string;
  if (m.op === "delete") delete target[last];
  else target[last] = structuredClone(m.value);
}

type BodySpec =
  | { kind: "example"; index: number; mutations: Mutation[]; form: boolean }
  | { kind: "json"; value: unknown; form: boolean }
  | { kind: "text"; text: string }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "empty" };

interface Rendered {
  bytes: Uint8Array;
  /** The event of the example it came from, if any. */
  event: string | null;
  form: boolean;
}

function renderBody(spec: BodySpec, pool: typeof EXAMPLES): Rendered {
  switch (spec.kind) {
    case "example": {
      const example = pool[spec.index % pool.length] as (typeof EXAMPLES)[number];
      const payload = structuredClone(example.payload);
      for (const m of spec.mutations) applyMutation(payload, example.event, m);
      const json = JSON.stringify(payload);
      const text = spec.form ? `payload=${encodeURIComponent(json)}` : json;
      return { bytes: encoder.encode(text), event: example.event, form: spec.form };
    }
    case "json": {
      const json = JSON.stringify(spec.value) ?? "null";
      const text = spec.form ? `payload=${encodeURIComponent(json)}` : json;
      return { bytes: encoder.encode(text), event: null, form: spec.form };
    }
    case "text":
      return { bytes: encoder.encode(spec.text), event: null, form: false };
    case "bytes":
      return { bytes: spec.bytes, event: null, form: false };
    case "empty":
      return { bytes: new Uint8Array(0), event: null, form: false };
  }
}

const exampleBody = (pool: typeof EXAMPLES, form: fc.Arbitrary<boolean> = fc.boolean()): fc.Arbitrary<BodySpec> =>
  fc.record({
    kind: fc.constant("example" as const),
    index: fc.nat({ max: pool.length - 1 }),
    mutations: fc.array(mutation, { maxLength: 3 }),
    form,
  });

const anyBody: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 4, arbitrary: exampleBody(EXAMPLES) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("json" as const), value: fc.jsonValue(), form: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("text" as const),
      text: fc.oneof(fc.string(), fc.constantFrom("{", "[]", "null", "payload=", "payload=%7B", "{}", '{"a":1}')),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "empty" as const }) },
);

// --- Signatures ----------------------------------------------------------------------------

async function hmacHex(secret: string, bytes: Uint8Array, hash: "SHA-1" | "SHA-256" = "SHA-256"): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

type SignatureSpec =
  | { kind: "current" | "previous" | "other" | "sha1" | "upper" | "truncated" | "bare" | "other-body" | "empty" }
  | { kind: "absent" }
  | { kind: "garbage"; text: string };

const anySignature: fc.Arbitrary<SignatureSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom({ kind: "current" as const }, { kind: "previous" as const }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ...(["other", "sha1", "upper", "truncated", "bare", "other-body", "empty", "absent"] as const).map((kind) => ({
        kind,
      })),
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("garbage" as const), text: headerText() }) },
);

/** The X-Hub-Signature-256 value for `spec` over `bytes`, or null to leave it out. */
async function signatureFor(spec: SignatureSpec, bytes: Uint8Array): Promise<string | null> {
  switch (spec.kind) {
    case "current":
      return `sha256=${await hmacHex(TEST_SECRETS.webhook, bytes)}`;
    case "previous":
      return `sha256=${await hmacHex(TEST_SECRETS.previous, bytes)}`;
    case "other":
      return `sha256=${await hmacHex("some-other-secret", bytes)}`;
    case "sha1":
      return `sha1=${await hmacHex(TEST_SECRETS.webhook, bytes, "SHA-1")}`;
    case "upper":
      return `sha256=${(await hmacHex(TEST_SECRETS.webhook, bytes)).toUpperCase()}`;
    case "truncated":
      return `sha256=${(await hmacHex(TEST_SECRETS.webhook, bytes)).slice(0, 63)}`;
    case "bare":
      return hmacHex(TEST_SECRETS.webhook, bytes);
    case "other-body":
      return `sha256=${await hmacHex(TEST_SECRETS.webhook, encoder.encode('{"zen":"other"}'))}`;
    case "empty":
      return "";
    case "absent":
      return null;
    case "garbage":
      return spec.text;
  }
}

/** Whether the Worker must accept `signature` for `bytes`: GitHub's exact form, either secret. */
async function validSignature(signature: string | null, bytes: Uint8Array): Promise<boolean> {
  if (signature === null || bytes.length === 0) return false;
  try {
    utf8.decode(bytes);
  } catch {
    return false; // not UTF-8: never a GitHub delivery (body.ts)
  }
  for (const secret of [TEST_SECRETS.webhook, TEST_SECRETS.previous]) {
    if (signature === `sha256=${await hmacHex(secret, bytes)}`) return true;
  }
  return false;
}

// --- Headers -------------------------------------------------------------------------------

/** Printable ASCII, as header values carry it. */
function headerText(maxLength = 24): fc.Arbitrary<string> {
  return fc.string({ unit: "grapheme-ascii", maxLength });
}

type HeaderSpec =
  | { kind: "keep" }
  | { kind: "absent" }
  | { kind: "empty" }
  | { kind: "twice" }
  | { kind: "text"; text: string };

const headerSpec = (weights: { keep: number; text: number }): fc.Arbitrary<HeaderSpec> =>
  fc.oneof(
    { weight: weights.keep, arbitrary: fc.constant({ kind: "keep" as const }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom({ kind: "absent" as const }, { kind: "empty" as const }, { kind: "twice" as const }),
    },
    { weight: weights.text, arbitrary: fc.record({ kind: fc.constant("text" as const), text: headerText() }) },
  );

const contentTypeSpec: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 8, arbitrary: fc.constant("matching") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      JSON_TYPE,
      FORM_TYPE,
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      " application/x-www-form-urlencoded ; charset=utf-8",
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/vnd.github+json",
      "",
    ),
  },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: headerText() },
);

function applyHeader(headers: Headers, name: string, spec: HeaderSpec, value: string): void {
  switch (spec.kind) {
    case "keep":
      headers.set(name, value);
      return;
    case "absent":
      return;
    case "empty":
      headers.set(name, "");
      return;
    case "twice":
      headers.set(name, value);
      headers.append(name, name === "x-github-delivery" ? crypto.randomUUID() : value);
      return;
    case "text":
      headers.set(name, spec.text);
  }
}

/** The media type the Worker reads a body as, or null for one it refuses. */
function mediaType(contentType: string | null): "json" | "form" | null {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return type === JSON_TYPE ? "json" : type === FORM_TYPE ? "form" : null;
}

// --- The webhook ---------------------------------------------------------------------------

interface WebhookCase {
  body: BodySpec;
  signature: SignatureSpec;
  event: HeaderSpec;
  /** The event name when the header is kept: the example's own, or this one. */
  eventName: string;
  delivery: HeaderSpec;
  contentType: string | null;
}

async function webhookRequestFor(c: WebhookCase, pool: typeof EXAMPLES) {
  const rendered = renderBody(c.body, pool);
  const headers = new Headers({ "user-agent": "GitHub-Hookshot/fuzz" });
  const type = c.contentType === "matching" ? (rendered.form ? FORM_TYPE : JSON_TYPE) : c.contentType;
  if (type !== null) headers.set("content-type", type);
  applyHeader(headers, "x-github-event", c.event, rendered.event ?? c.eventName);
  applyHeader(headers, "x-github-delivery", c.delivery, crypto.randomUUID());
  const signature = await signatureFor(c.signature, rendered.bytes);
  if (signature !== null) headers.set("x-hub-signature-256", signature);
  const request = new Request(WEBHOOK_URL, { method: "POST", headers, body: rendered.bytes });
  return { request, rendered };
}

/** Sends one generated delivery and checks every property; returns its status. */
async function checkWebhook(c: WebhookCase, pool: typeof EXAMPLES): Promise<number> {
  const { request, rendered } = await webhookRequestFor(c, pool);
  const signature = request.headers.get("x-hub-signature-256");
  const event = request.headers.get("x-github-event");
  const delivery = request.headers.get("x-github-delivery");
  const type = request.headers.get("content-type");
  const valid = await validSignature(signature, rendered.bytes);
  const context = `event=${JSON.stringify(event)} delivery=${JSON.stringify(delivery)} type=${JSON.stringify(type)} signature=${c.signature.kind} valid=${valid}`;

  const snapshot = await stateSnapshot();
  const res = await answerOf(await worker(request));
  expectContractAnswer(res, WEBHOOK_4XX, context);

  // What the contract fixes from the headers and the signature alone, in the order it checks.
  if (signature === null) expectCode(res, 401, "missing_signature", context);
  else if (!event || !delivery || event.includes(",") || delivery.includes(",")) {
    expectCode(res, 400, "missing_header", context);
  } else if (!DELIVERY.test(delivery)) expectCode(res, 400, "invalid_header", context);
  else if (!valid) expectCode(res, 401, "invalid_signature", context);
  else if (mediaType(type) === null) expectCode(res, 415, "unsupported_media_type", context);
  else {
    expect([200, 202, 400, 422], `${context}: ${res.text.slice(0, 300)}`).toContain(res.status);
    if (res.status < 300) expectAcceptedShape(event, res, context);
  }
  if (res.status >= 400) await expectUnchangedSince(snapshot, `${context}: `);
  return res.status;
}

describe("POST /webhook/github under generated input", () => {
  const anyRuns = runsFor(0.4);
  it(
    `any headers, bodies, content types and signatures (${anyRuns} cases)`,
    async () => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            body: anyBody,
            signature: anySignature,
            event: headerSpec({ keep: 6, text: 1 }),
            eventName: fc.constantFrom(...HANDLED, "issues", "star", "check_run"),
            delivery: headerSpec({ keep: 8, text: 1 }),
            contentType: contentTypeSpec,
          }),
          async (c) => {
            const status = await checkWebhook(c, EXAMPLES);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          },
        ),
        { numRuns: anyRuns, seed: FUZZ_SEED, endOnFailure: true },
      );
      // The generator reaches every kind of answer, not only the first check that refuses.
      // (The rarer answers, 415 and 422, are asserted only at sizes where missing them is not luck.)
      const expected = anyRuns >= 1000 ? [202, 400, 401, 415, 422] : anyRuns >= 100 ? [202, 400, 401] : [];
      for (const status of expected) {
        expect(statuses.get(status) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
      }
    },
    timeoutFor(anyRuns),
  );

  const signedRuns = runsFor(0.4);
  it(
    `GitHub's handled payloads, mutated and validly signed (${signedRuns} cases)`,
    async () => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            body: exampleBody(HANDLED_EXAMPLES),
            signature: fc.constantFrom({ kind: "current" as const }, { kind: "previous" as const }),
            event: fc.constant({ kind: "keep" as const }),
            eventName: fc.constant("push"),
            delivery: fc.constant({ kind: "keep" as const }),
            contentType: fc.constant("matching"),
          }),
          async (c) => {
            const status = await checkWebhook(c, HANDLED_EXAMPLES);
            // A JSON object, validly signed, in GitHub's content types: accepted or 422, never 400.
            expect([200, 202, 422]).toContain(status);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          },
        ),
        { numRuns: signedRuns, seed: FUZZ_SEED, endOnFailure: true },
      );
      // The generator reaches both sides: some mutations are harmless, some break the payload.
      if (signedRuns >= 50) {
        expect(statuses.get(202) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
        expect(statuses.get(422) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
      }
    },
    timeoutFor(signedRuns),
  );
});

// --- /route --------------------------------------------------------------------------------

const sha = fc.stringMatching(/^[0-9a-f]{40}$/);
const repository = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}\/[a-z][a-z0-9._-]{0,10}$/) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom("acme", "acme/x/y", "../..", "acme/..", "./x", "acme/.github", "", "a b/c", "acme/x\u0000"),
      fc.string({ maxLength: 20 }),
    ),
  },
);
const KNOWN_FILES = [
  "README.md",
  "docs/guide.md",
  "src/index.ts",
  "services/api/Dockerfile",
  "deploy/app.yaml",
  "kernels/matmul.cu",
  "test/a.test.ts",
  "",
  ".",
  "..",
  "/abs/path",
  "a//b",
];

/** A POST /route body the contract accepts: every field valid, each optional one sometimes left out. */
const validRouteRecord = fc.record(
  {
    repository: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}\/[a-z][a-z0-9._-]{0,10}$/),
    event: fc.constantFrom("push", "pull_request", "workflow_dispatch"),
    ref: fc.constantFrom("refs/heads/main", "refs/heads/production", "refs/tags/v1.2.3", "refs/heads/feature", null),
    sha: fc.oneof(sha, fc.constant(null)),
    files: fc.array(
      fc.oneof(fc.constantFrom(...KNOWN_FILES.filter((f) => f !== "")), fc.string({ minLength: 1, maxLength: 30 })),
      {
        maxLength: 12,
      },
    ),
    truncated: fc.boolean(),
    environment: fc.constantFrom("staging", "production", null),
  },
  { requiredKeys: ["repository"] },
);

/** A POST /route body with every field sometimes wrong. */
const wildRouteRecord = fc.record(
  {
    repository,
    event: fc.oneof(fc.constantFrom("push", "pull_request", "workflow_dispatch"), fc.constantFrom("issues", "", 1)),
    ref: fc.oneof(
      fc.constantFrom("refs/heads/main", "refs/heads/production", "refs/tags/v1.2.3", "refs/heads/feature", null),
      fc.constantFrom("main", "", 7),
      fc.string({ maxLength: 20 }),
    ),
    sha: fc.oneof(
      { weight: 3, arbitrary: sha },
      fc.constantFrom(null, "abc", "xyz1234", ""),
      fc.string({ maxLength: 70 }),
    ),
    files: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.array(fc.oneof(fc.constantFrom(...KNOWN_FILES), fc.string({ maxLength: 30 })), { maxLength: 12 }),
      },
      {
        weight: 1,
        arbitrary: fc.oneof(fc.constant("a.ts"), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })),
      },
    ),
    truncated: fc.oneof(fc.boolean(), fc.constantFrom("yes", 1, null)),
    environment: fc.oneof(fc.constantFrom("staging", "production", null), fc.constantFrom("", 3)),
    runner: fc.constantFrom("ai-lab", "vps"),
  },
  { requiredKeys: [] },
);

type Auth = { header: string | null; valid: boolean };
const auth: fc.Arbitrary<Auth> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      { header: `Bearer ${TEST_SECRETS.api}`, valid: true },
      { header: `bearer ${TEST_SECRETS.api}`, valid: true },
      { header: `Bearer   ${TEST_SECRETS.api}  `, valid: true },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      { header: null, valid: false },
      { header: "", valid: false },
      { header: "Bearer", valid: false },
      { header: "Bearer wrong", valid: false },
      { header: `Bearer ${TEST_SECRETS.api}x`, valid: false },
      { header: `Basic ${TEST_SECRETS.api}`, valid: false },
      { header: TEST_SECRETS.api, valid: false },
      { header: `Bearer ${TEST_SECRETS.webhook}`, valid: false },
    ),
  },
);

type RouteCase =
  | {
      method: "POST";
      body:
        | { kind: "valid" | "record"; value: Record<string, unknown> }
        | { kind: "raw"; text: string }
        | { kind: "json"; value: unknown };
      contentType: string | null;
      auth: Auth;
    }
  | { method: "GET"; params: [string, string][]; auth: Auth };

const routeCase: fc.Arbitrary<RouteCase> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      method: fc.constant("POST" as const),
      body: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant("valid" as const), value: validRouteRecord }) },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant("record" as const), value: wildRouteRecord }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("json" as const), value: fc.jsonValue() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("raw" as const), text: fc.string() }) },
      ),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant("matching") },
        fc.constantFrom(FORM_TYPE, "text/plain", "application/json; charset=utf-8", null, ""),
      ),
      auth,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constant("GET" as const),
      params: fc.array(
        fc.tuple(
          fc.constantFrom("repository", "sha", "ref", "other"),
          fc.oneof(repository, sha, fc.constantFrom("refs/heads/main", "main", ""), fc.string({ maxLength: 20 })),
        ),
        { maxLength: 4 },
      ),
      auth,
    }),
  },
);

function routeRequestFor(c: RouteCase): Request {
  const headers = new Headers();
  if (c.auth.header !== null) headers.set("authorization", c.auth.header);
  if (c.method === "GET") {
    const query = new URLSearchParams(c.params).toString();
    return new Request(`${ROUTER_URL}/route${query ? `?${query}` : ""}`, { headers });
  }
  const text = c.body.kind === "raw" ? c.body.text : (JSON.stringify(c.body.value) ?? "null");
  const type = c.contentType === "matching" ? JSON_TYPE : c.contentType;
  if (type !== null) headers.set("content-type", type);
  const body = type === FORM_TYPE ? `payload=${encodeURIComponent(text)}` : text;
  return new Request(`${ROUTER_URL}/route`, { method: "POST", headers, body });
}

describe("/route under generated input", () => {
  const runs = runsFor(0.2);
  it(
    `POST and GET with generated bodies, queries and tokens (${runs} cases): documented answers, no state ever`,
    async () => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(routeCase, async (c) => {
          const request = routeRequestFor(c);
          const context = `${c.method} ${request.url.slice(0, 200)} auth=${JSON.stringify(c.auth.header)}`;
          const before = await stateSnapshot();
          const res = await answerOf(await worker(request));
          expectContractAnswer(res, ROUTE_4XX, context);
          if (!c.auth.valid) expectCode(res, 401, "unauthorized", context);
          else if (c.method === "POST" && c.body.kind === "valid" && c.contentType === "matching") {
            expect(res.status, `${context}: ${res.text.slice(0, 300)}`).toBe(200);
          }
          if (res.status === 200) {
            expect(c.auth.valid, context).toBe(true);
            if (c.method === "POST") {
              expect(Object.keys(res.body).sort(), context).toEqual(["decision", "pricing", "routing_job"]);
              expect(res.body.routing_job, context).toBeNull();
              const decision = expectDecision(res.body.decision);
              // A list the caller marked truncated is never routed as lightweight.
              if ((c.body.kind === "valid" || c.body.kind === "record") && c.body.value.truncated === true) {
                expect(decision.requirement, context).not.toBe("lightweight");
              }
            } else {
              expect(res.body, context).toMatchObject({ build_id: null, recorded: false });
              expectDecision(res.body.decision);
            }
          }
          // /route records nothing (naming no job), whatever it answers, but the directory's
          // listing of the asked repository's organisation, for a caller allowed to ask about it.
          const lists = c.auth.valid ? 1 : 0;
          await expectUnchangedSince(before, `${context}: `, { newOrganisations: lists });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }),
        {
          numRuns: runs,
          seed: FUZZ_SEED,
          endOnFailure: true,
          // Found by this property: `truncated: true` without files was dropped when the Worker
          // fetched the commit's files itself, and the listing (all docs) was routed lightweight.
          examples: [
            [
              {
                method: "POST",
                body: {
                  kind: "valid",
                  value: { repository: "acme/docs", sha: "4e2a45d0e54fd41033ffa5eaecae3c1a6d7d19ff", truncated: true },
                },
                contentType: "matching",
                auth: { header: `Bearer ${TEST_SECRETS.api}`, valid: true },
              },
            ],
          ],
        },
      );
      if (runs >= 50) {
        for (const status of [200, 400, 401]) {
          expect(statuses.get(status) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
        }
      }
    },
    timeoutFor(runs),
  );
});

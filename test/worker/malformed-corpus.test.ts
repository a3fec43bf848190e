/**
 * A corpus of malformed requests, one row each: the status and error code the contract
 * (README "HTTP API") gives it, and proof that nothing was stored. Where the
 * contract leaves the exact answer to the Worker's design, the row pins what the Worker does
 * and says why.
 */

import { reset } from "cloudflare:test";
import { sign } from "@octokit/webhooks-methods";
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../worker/src/body.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { type DeliveryOptions, encodeBody, ROUTER_URL, WEBHOOK_URL, webhookRequest } from "../support/webhooks.ts";
import {
  type Answer,
  call,
  examplesOf,
  expectError,
  expectRouted,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  worker,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import { expectNothingStored } from "./state.ts";

/** GitHub sends at most 25 MB; the Worker reads at most 25 MiB. */
const WEBHOOK_LIMIT = 25 * 1024 * 1024;
/** A suggestion request is small; POST /route reads at most 1 MiB. */
const ROUTE_LIMIT = 1024 * 1024;
const MiB = 1024 * 1024;

const encoder = new TextEncoder();

// biome-ignore lint/suspicious/noExplicitAny: GitHub JSON that rows edit freely
type Payload = Record<string, any>;

beforeEach(async () => {
  await reset();
});

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** Hex HMAC of raw bytes (the test's own, for what @octokit/webhooks-methods will not sign). */
async function hmacHex(secret: string, bytes: Uint8Array, hash: "SHA-1" | "SHA-256" = "SHA-256"): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A delivery of `event` with exactly `body`, signed over it unless `headers` sets the signature. */
function delivery(event: string, body: string, options: Omit<DeliveryOptions, "body"> = {}): Promise<Request> {
  return webhookRequest(event, null, { ...options, body });
}

/** A correctly signed push delivery of GitHub's example, with header overrides. */
function pushWith(headers: Record<string, string | null>, options: Omit<DeliveryOptions, "body" | "headers"> = {}) {
  return webhookRequest("push", pushPayload(), { ...options, headers });
}

/** A correctly signed push whose signature header is replaced by `signatureOf(body)`. */
async function pushSignedAs(signatureOf: (body: string) => Promise<string> | string): Promise<Request> {
  const body = encodeBody(pushPayload());
  return delivery("push", body, { headers: { "x-hub-signature-256": await signatureOf(body) } });
}

/** A signed delivery request with one header sent twice (`Headers.append`: one value "a, b"). */
async function withDuplicated(name: string, second: (first: string) => string): Promise<Request> {
  const request = await webhookRequest("push", pushPayload());
  request.headers.append(name, second(request.headers.get(name) ?? ""));
  return request;
}

/** A stream of `total` bytes of JSON whitespace, in 1 MiB chunks, counting what was pulled. */
function spaces(total: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  const chunk = new Uint8Array(MiB).fill(0x20);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) controller.close();
      else {
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      }
    },
  });
  return { stream, pulled: () => sent };
}

function drop(payload: Payload, ...path: string[]): Payload {
  let target = payload;
  for (const key of path.slice(0, -1)) target = target[key];
  delete target[path.at(-1) as string];
  return payload;
}

function set(payload: Payload, path: string[], value: unknown): Payload {
  let target = payload;
  for (const key of path.slice(0, -1)) target = target[key];
  target[path.at(-1) as string] = value;
  return payload;
}

const sha = "a".repeat(40);
const job = () => workflowJobPayload({ repository: "acme/x", sha, action: "queued" });
const run = () => workflowRunPayload({ repository: "acme/x", sha, action: "completed" });
const dispatch = () => examplesOf("workflow_dispatch")[0] as Payload;
/** `depth` arrays, one inside the other, as JSON text. */
const nestedArrays = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
/** `depth` objects, one inside the other, as JSON text. */
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
/** A JSON document's text with `"extra": <json>` added at the top level. */
const withField = (payload: Payload, json: string) => JSON.stringify(payload).replace(/}$/, `,"extra":${json}}`);

interface Row {
  name: string;
  request: () => Promise<Request>;
  status: number;
  code: string;
  /** Something the message must name, so a person can tell what to fix. */
  mentions?: RegExp;
}

function table(title: string, rows: Row[]): void {
  describe(title, () => {
    for (const row of rows) {
      it(`${row.name} → ${row.status} ${row.code}`, async () => {
        const res = await answerOf(await worker(await row.request()));
        const message = expectError(res, row.status, row.code);
        if (row.mentions) expect(message).toMatch(row.mentions);
        await expectNothingStored();
      });
    }
  });
}

it("the limits pinned here are the Worker's", () => {
  expect(MAX_BODY_BYTES).toBe(WEBHOOK_LIMIT);
});

table("POST /webhook/github: truncated JSON, correctly signed", [
  {
    name: "an object cut off before its closing brace",
    request: () => delivery("push", '{"ref":"refs/heads/main"'),
    status: 400,
    code: "invalid_body",
    mentions: /JSON/,
  },
  {
    name: "GitHub's push example cut in half",
    request: () => {
      const json = encodeBody(pushPayload());
      return delivery("push", json.slice(0, json.length >> 1));
    },
    status: 400,
    code: "invalid_body",
  },
  {
    name: "GitHub's push example missing its last byte",
    request: () => delivery("push", encodeBody(pushPayload()).slice(0, -1)),
    status: 400,
    code: "invalid_body",
  },
  {
    name: "a form delivery whose payload= is cut off",
    request: () => {
      const json = JSON.stringify(pushPayload());
      return delivery("push", `payload=${encodeURIComponent(json.slice(0, -10))}`, { contentType: "form" });
    },
    status: 400,
    code: "invalid_body",
  },
  {
    name: "a string cut off inside an escape",
    request: () => delivery("push", '{"ref":"refs/heads/\\u00'),
    status: 400,
    code: "invalid_body",
  },
]);

table("POST /webhook/github: GitHub's three headers, missing, empty or twice", [
  {
    name: "no X-Hub-Signature-256",
    request: () => pushWith({ "x-hub-signature-256": null }),
    status: 401,
    code: "missing_signature",
    mentions: /X-Hub-Signature-256/,
  },
  {
    // Present but empty is a malformed signature, not a missing one.
    name: "an empty X-Hub-Signature-256",
    request: () => pushWith({ "x-hub-signature-256": "" }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "no X-GitHub-Event",
    request: () => pushWith({ "x-github-event": null }),
    status: 400,
    code: "missing_header",
    mentions: /X-GitHub-Event/,
  },
  {
    name: "an empty X-GitHub-Event",
    request: () => pushWith({ "x-github-event": "" }),
    status: 400,
    code: "missing_header",
  },
  {
    // Header values are trimmed by the Fetch API, so blanks are an empty value.
    name: "an X-GitHub-Event of blanks",
    request: () => pushWith({ "x-github-event": "   " }),
    status: 400,
    code: "missing_header",
  },
  {
    name: "no X-GitHub-Delivery",
    request: () => pushWith({ "x-github-delivery": null }),
    status: 400,
    code: "missing_header",
    mentions: /X-GitHub-Delivery/,
  },
  {
    name: "an empty X-GitHub-Delivery",
    request: () => pushWith({ "x-github-delivery": "" }),
    status: 400,
    code: "missing_header",
  },
  {
    // The signature is looked at first: nothing about an unsigned request is trusted.
    name: "none of the three",
    request: () => pushWith({ "x-hub-signature-256": null, "x-github-event": null, "x-github-delivery": null }),
    status: 401,
    code: "missing_signature",
  },
  {
    // Headers are checked before the body is read or verified: a bad signature with a missing
    // event header is a 400, not a 401.
    name: "no X-GitHub-Event and a wrong signature",
    request: () => pushWith({ "x-github-event": null, "x-hub-signature-256": `sha256=${"0".repeat(64)}` }),
    status: 400,
    code: "missing_header",
  },
  {
    // Two delivery ids make de-duplication ambiguous (which one was seen?): refused.
    name: "X-GitHub-Delivery twice, two GUIDs",
    request: () => withDuplicated("x-github-delivery", () => crypto.randomUUID()),
    status: 400,
    code: "missing_header",
    mentions: /X-GitHub-Delivery/,
  },
  {
    name: "X-GitHub-Delivery twice, the same GUID",
    request: () => withDuplicated("x-github-delivery", (first) => first),
    status: 400,
    code: "missing_header",
    mentions: /X-GitHub-Delivery/,
  },
  {
    name: "X-GitHub-Event twice",
    request: () => withDuplicated("x-github-event", (first) => first),
    status: 400,
    code: "missing_header",
    mentions: /X-GitHub-Event/,
  },
  {
    // Two signatures read as one value "sha256=…, sha256=…", which is malformed.
    name: "X-Hub-Signature-256 twice, both correct",
    request: () => withDuplicated("x-hub-signature-256", (first) => first),
    status: 401,
    code: "invalid_signature",
  },
]);

table("POST /webhook/github: wrong signatures", [
  {
    name: "signed with another secret",
    request: () => pushSignedAs((body) => sign("not-the-secret", body)),
    status: 401,
    code: "invalid_signature",
    mentions: /does not match/,
  },
  {
    name: "signed with the API token instead of the webhook secret",
    request: () => pushSignedAs((body) => sign(TEST_SECRETS.api, body)),
    status: 401,
    code: "invalid_signature",
  },
  {
    // X-Hub-Signature (SHA-1) is GitHub's legacy header; only SHA-256 is accepted.
    name: "sha1= of the body with the right secret",
    request: () =>
      pushSignedAs(async (body) => `sha1=${await hmacHex(TEST_SECRETS.webhook, encoder.encode(body), "SHA-1")}`),
    status: 401,
    code: "invalid_signature",
  },
  {
    // GitHub sends lowercase hex; the Worker accepts only the exact form GitHub sends.
    name: "the right HMAC in uppercase hex",
    request: () =>
      pushSignedAs(async (body) =>
        (await sign(TEST_SECRETS.webhook, body)).replace(/[0-9a-f]{64}$/, (h) => h.toUpperCase()),
      ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the right HMAC with an uppercase SHA256= prefix",
    request: () => pushSignedAs(async (body) => (await sign(TEST_SECRETS.webhook, body)).replace("sha256=", "SHA256=")),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the right HMAC truncated by one hex digit",
    request: () => pushSignedAs(async (body) => (await sign(TEST_SECRETS.webhook, body)).slice(0, -1)),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the right HMAC with one hex digit too many",
    request: () => pushSignedAs(async (body) => `${await sign(TEST_SECRETS.webhook, body)}0`),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "64 non-hex characters",
    request: () => pushSignedAs(() => `sha256=${"z".repeat(64)}`),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the prefix with no digest",
    request: () => pushSignedAs(() => "sha256="),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the digest without its sha256= prefix",
    request: () => pushSignedAs(async (body) => (await sign(TEST_SECRETS.webhook, body)).slice("sha256=".length)),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the right HMAC of a different body",
    request: () => pushSignedAs(() => sign(TEST_SECRETS.webhook, encodeBody(pushPayload()))),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "the right HMAC of the JSON for a form-encoded body",
    request: async () => {
      const payload = pushPayload();
      return webhookRequest("push", payload, {
        contentType: "form",
        headers: { "x-hub-signature-256": await sign(TEST_SECRETS.webhook, JSON.stringify(payload)) },
      });
    },
    status: 401,
    code: "invalid_signature",
  },
]);

table("POST /webhook/github: empty bodies", [
  {
    // An empty body is never verified (signature.ts): GitHub never sends one, and accepting the
    // HMAC of nothing would make "no body" a valid delivery. So it is a signature failure, 401,
    // before the body could be judged unparseable (400).
    name: "empty, with the correct HMAC of the empty string",
    request: async () =>
      delivery("push", "", {
        headers: { "x-hub-signature-256": `sha256=${await hmacHex(TEST_SECRETS.webhook, new Uint8Array(0))}` },
      }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "empty, form-encoded, with the correct HMAC of the empty string",
    request: async () =>
      delivery("push", "", {
        contentType: "form",
        headers: { "x-hub-signature-256": `sha256=${await hmacHex(TEST_SECRETS.webhook, new Uint8Array(0))}` },
      }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "empty and unsigned",
    request: () => delivery("push", "", { headers: { "x-hub-signature-256": null } }),
    status: 401,
    code: "missing_signature",
  },
  {
    name: "empty, with the signature of {}",
    request: async () =>
      delivery("push", "", { headers: { "x-hub-signature-256": await sign(TEST_SECRETS.webhook, "{}") } }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "no body at all (not even an empty one)",
    request: async () =>
      new Request(WEBHOOK_URL, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": `sha256=${await hmacHex(TEST_SECRETS.webhook, new Uint8Array(0))}`,
        },
      }),
    status: 401,
    code: "invalid_signature",
  },
]);

describe("POST /webhook/github: bodies over 25 MiB → 413 payload_too_large", () => {
  const headers = async (body: string | null) => ({
    "content-type": "application/json",
    "x-github-event": "push",
    "x-github-delivery": crypto.randomUUID(),
    "x-hub-signature-256": body === null ? `sha256=${"0".repeat(64)}` : await sign(TEST_SECRETS.webhook, body),
  });

  it("a Content-Length over the limit is refused before the body is read", async () => {
    const res = await answerOf(
      await worker(await pushWith({ "content-length": String(WEBHOOK_LIMIT + 1) }, { contentType: "json" })),
    );
    expectError(res, 413, "payload_too_large");
    await expectNothingStored();
  });

  it("an absurd Content-Length (2^53) is refused the same way", async () => {
    const res = await answerOf(await worker(await pushWith({ "content-length": String(2 ** 53) })));
    expectError(res, 413, "payload_too_large");
    await expectNothingStored();
  });

  it("a streamed body with no Content-Length is refused once it passes the limit, not read to its end", async () => {
    const { stream, pulled } = spaces(64 * MiB);
    const request = new Request(WEBHOOK_URL, { method: "POST", headers: await headers(null), body: stream });
    expect(request.headers.get("content-length")).toBeNull();
    expectError(await answerOf(await worker(request)), 413, "payload_too_large");
    expect(pulled()).toBeLessThan(64 * MiB);
    await expectNothingStored();
  });

  it("a real JSON body of 26 MiB, correctly signed, is refused", async () => {
    const payload = pushPayload();
    const json = JSON.stringify({ ...payload, padding: "" });
    const body = json.replace('"padding":""', `"padding":"${"x".repeat(26 * MiB - json.length)}"`);
    const res = await answerOf(
      await worker(new Request(WEBHOOK_URL, { method: "POST", headers: await headers(body), body })),
    );
    expectError(res, 413, "payload_too_large");
    await expectNothingStored();
  });
});

table("POST /webhook/github: content types other than GitHub's two → 415 unsupported_media_type", [
  ...[
    "text/plain",
    "application/xml",
    "text/xml",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "application/vnd.github+json",
  ].map(
    (type): Row => ({
      name: `Content-Type: ${type}`,
      request: () => webhookRequest("push", pushPayload(), { contentType: type }),
      status: 415,
      code: "unsupported_media_type",
      mentions: /application\/json/,
    }),
  ),
  {
    name: "no Content-Type",
    request: () => pushWith({ "content-type": null }),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "an empty Content-Type",
    request: () => pushWith({ "content-type": "" }),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    // The signature is checked before the content type, so a wrong type is only judged for a
    // delivery that is otherwise genuine; an unsigned one is a 401 whatever its type.
    name: "text/plain and unsigned",
    request: () =>
      webhookRequest("push", pushPayload(), { contentType: "text/plain", headers: { "x-hub-signature-256": null } }),
    status: 401,
    code: "missing_signature",
  },
]);

table("POST /webhook/github: form bodies without a JSON payload= → 400 invalid_body", [
  {
    name: "no payload= field",
    request: () =>
      delivery("push", `data=${encodeURIComponent(JSON.stringify(pushPayload()))}`, { contentType: "form" }),
    status: 400,
    code: "invalid_body",
    mentions: /payload=/,
  },
  {
    name: "raw JSON sent as a form",
    request: () => delivery("push", JSON.stringify(pushPayload()), { contentType: "form" }),
    status: 400,
    code: "invalid_body",
    mentions: /payload=/,
  },
  {
    name: "payload= that is not JSON",
    request: () => delivery("push", "payload=%7Bnope", { contentType: "form" }),
    status: 400,
    code: "invalid_body",
    mentions: /JSON/,
  },
  {
    name: "payload= JSON left unencoded (its & and = split it)",
    request: () => delivery("push", `payload=${JSON.stringify({ ref: "a&b=c", x: 1 })}`, { contentType: "form" }),
    status: 400,
    code: "invalid_body",
  },
  {
    name: "an empty payload=",
    request: () => delivery("push", "payload=", { contentType: "form" }),
    status: 400,
    code: "invalid_body",
  },
  {
    name: "payload= holding a JSON array",
    request: () => delivery("push", `payload=${encodeURIComponent("[]")}`, { contentType: "form" }),
    status: 400,
    code: "invalid_body",
    mentions: /object/,
  },
  {
    name: "payload= holding JSON null",
    request: () => delivery("push", "payload=null", { contentType: "form" }),
    status: 400,
    code: "invalid_body",
  },
]);

/** A handled event without something it needs, sent both ways GitHub sends it. */
function missing(event: string, name: string, payload: () => Payload, mentions: RegExp): Row[] {
  return (["json", "form"] as const).map((contentType) => ({
    name: `${event} ${name} (${contentType})`,
    request: () => webhookRequest(event, payload(), { contentType }),
    status: 422,
    code: "invalid_payload",
    mentions,
  }));
}

table("POST /webhook/github: handled events missing required fields → 422 invalid_payload", [
  ...missing("push", "without ref", () => drop(pushPayload(), "ref"), /ref/),
  ...missing("push", "without after", () => drop(pushPayload(), "after"), /after/),
  ...missing("push", "without before", () => drop(pushPayload(), "before"), /before/),
  ...missing("push", "without repository", () => drop(pushPayload(), "repository"), /repository/),
  ...missing("push", "without repository.full_name", () => drop(pushPayload(), "repository", "full_name"), /full_name/),
  ...missing("pull_request", "without number", () => drop(pullRequestPayload(), "number"), /number/),
  ...missing("pull_request", "without pull_request", () => drop(pullRequestPayload(), "pull_request"), /pull_request/),
  ...missing(
    "pull_request",
    "without pull_request.head",
    () => drop(pullRequestPayload(), "pull_request", "head"),
    /head/,
  ),
  ...missing(
    "pull_request",
    "without pull_request.head.sha",
    () => drop(pullRequestPayload(), "pull_request", "head", "sha"),
    /pull_request\.head\.sha/,
  ),
  ...missing("pull_request", "without action", () => drop(pullRequestPayload(), "action"), /action/),
  ...missing("workflow_run", "without workflow_run.id", () => drop(run(), "workflow_run", "id"), /workflow_run\.id/),
  ...missing(
    "workflow_run",
    "without workflow_run.head_sha",
    () => drop(run(), "workflow_run", "head_sha"),
    /workflow_run\.head_sha/,
  ),
  ...missing("workflow_run", "without workflow_run", () => drop(run(), "workflow_run"), /workflow_run/),
  ...missing("workflow_job", "without workflow_job.id", () => drop(job(), "workflow_job", "id"), /workflow_job\.id/),
  ...missing(
    "workflow_job",
    "without workflow_job.run_id",
    () => drop(job(), "workflow_job", "run_id"),
    /workflow_job\.run_id/,
  ),
  ...missing(
    "workflow_job",
    "without workflow_job.head_sha",
    () => drop(job(), "workflow_job", "head_sha"),
    /workflow_job\.head_sha/,
  ),
  ...missing("workflow_job", "without repository", () => drop(job(), "repository"), /repository/),
  ...missing("workflow_dispatch", "without ref", () => drop(dispatch(), "ref"), /ref/),
  ...missing("workflow_dispatch", "without repository", () => drop(dispatch(), "repository"), /repository/),
  ...missing("push", "as an empty object", () => ({}), /push payload/),
]);

table("POST /webhook/github: absurd values the router cannot use → 400 / 422", [
  ...missing(
    "pull_request",
    "with number as a string",
    () => pullRequestPayload({ number: "7" as unknown as number }),
    /number/,
  ),
  // A pull request, run or job number names a GitHub object: it is a positive integer.
  ...missing("pull_request", "with a negative number", () => pullRequestPayload({ number: -7 }), /number/),
  ...missing("pull_request", "with number 0", () => pullRequestPayload({ number: 0 }), /number/),
  ...missing("pull_request", "with a fractional number", () => pullRequestPayload({ number: 7.5 }), /number/),
  ...missing("pull_request", 'with number "NaN"', () => set(pullRequestPayload(), ["number"], "NaN"), /number/),
  ...missing("pull_request", "with number null", () => set(pullRequestPayload(), ["number"], null), /number/),
  ...missing(
    "pull_request",
    "with a number past 2^53",
    () => set(pullRequestPayload(), ["number"], 2 ** 53 + 2),
    /number/,
  ),
  {
    // JSON has no NaN or Infinity; 1e400 parses to Infinity, which is no integer.
    name: "pull_request with number 1e400 (Infinity once parsed)",
    request: () =>
      delivery("pull_request", JSON.stringify(pullRequestPayload()).replace(/"number":7,/, '"number":1e400,')),
    status: 422,
    code: "invalid_payload",
    mentions: /number/,
  },
  {
    name: "pull_request with a bare NaN (not JSON)",
    request: () =>
      delivery("pull_request", JSON.stringify(pullRequestPayload()).replace(/"number":7,/, '"number":NaN,')),
    status: 400,
    code: "invalid_body",
  },
  ...missing(
    "workflow_run",
    "with a negative workflow_run.id",
    () => set(run(), ["workflow_run", "id"], -1),
    /workflow_run\.id/,
  ),
  ...missing(
    "workflow_run",
    "with workflow_run.id as a string",
    () => set(run(), ["workflow_run", "id"], "42"),
    /workflow_run\.id/,
  ),
  ...missing(
    "workflow_job",
    "with a fractional workflow_job.run_id",
    () => set(job(), ["workflow_job", "run_id"], 1.5),
    /run_id/,
  ),
  ...missing("workflow_job", "with workflow_job.id 0", () => set(job(), ["workflow_job", "id"], 0), /workflow_job\.id/),
  ...missing(
    "push",
    "with repository.full_name an object",
    () => set(pushPayload(), ["repository", "full_name"], { owner: "acme", name: "x" }),
    /full_name/,
  ),
  ...missing("push", "with repository a string", () => set(pushPayload(), ["repository"], "acme/x"), /repository/),
  ...missing("push", "with an empty ref", () => set(pushPayload(), ["ref"], ""), /ref/),
  ...missing("push", "with ref a number", () => set(pushPayload(), ["ref"], 42), /ref/),
  ...missing("push", "with commits a string", () => set(pushPayload(), ["commits"], "many"), /commits/),
  ...missing("push", "with commits holding strings", () => set(pushPayload(), ["commits"], ["a.ts"]), /commits/),
  ...missing(
    "push",
    "with a commit's added files a string",
    () => set(pushPayload(), ["commits", "0", "added"], "a.ts"),
    /added/,
  ),
  ...missing("push", "with deleted a string", () => set(pushPayload(), ["deleted"], "false"), /deleted/),
  // Nested deeper than 64 levels, anywhere (built as text: JSON.stringify itself runs out of
  // stack on 10,000 levels in workerd): refused before parsing, whatever field it is in.
  ...(
    [
      ["with commits 10,000 arrays deep", "commits", nestedArrays(10_000)],
      ["with an unhandled field 10,000 arrays deep", "extra", nestedArrays(10_000)],
      ["with an unhandled field 10,000 objects deep", "extra", nestedObjects(10_000)],
      ["with an unhandled field 65 arrays deep", "extra", nestedArrays(65)],
    ] as const
  ).flatMap(([name, field, value]): Row[] => {
    const json = () =>
      JSON.stringify(set(pushPayload(), [field], "@")).replace(`"${field}":"@"`, `"${field}":${value}`);
    return [
      {
        name: `push ${name} (json)`,
        request: () => delivery("push", json()),
        status: 400,
        code: "invalid_body",
        mentions: /deeper than 64/,
      },
      {
        name: `push ${name} (form)`,
        request: () => delivery("push", `payload=${encodeURIComponent(json())}`, { contentType: "form" }),
        status: 400,
        code: "invalid_body",
        mentions: /deeper than 64/,
      },
    ];
  }),
  {
    name: "push whose body is 10,000 nested arrays",
    request: () => delivery("push", nestedArrays(10_000)),
    status: 400,
    code: "invalid_body",
    mentions: /deeper than 64/,
  },
  {
    name: "push whose body is 10,000 nested objects",
    request: () => delivery("push", nestedObjects(10_000)),
    status: 400,
    code: "invalid_body",
    mentions: /deeper than 64/,
  },
  {
    name: "workflow_dispatch with repository.full_name 20 objects deep",
    request: () =>
      delivery(
        "workflow_dispatch",
        JSON.stringify(dispatch()).replace(/"full_name":"[^"]*"/, `"full_name":${nestedObjects(20)}`),
      ),
    status: 422,
    code: "invalid_payload",
    mentions: /full_name/,
  },
  ...[
    ["a JSON array", "[1,2,3]"],
    ["an empty JSON array", "[]"],
    ["a JSON string", '"push"'],
    ["JSON null", "null"],
    ["JSON true", "true"],
    ["a JSON number", "42"],
    ["two JSON objects", "{}{}"],
    ["JSON with a byte-order mark", `\uFEFF${JSON.stringify(pushPayload())}`],
    ["JSON with a trailing comma", '{"ref":"refs/heads/main",}'],
    ["JSON with single quotes", "{'ref':'refs/heads/main'}"],
    ["a NUL byte", "\u0000"],
  ].map(
    ([name, body]): Row => ({
      name: `a body that is ${name}`,
      request: () => delivery("push", body as string),
      status: 400,
      code: "invalid_body",
    }),
  ),
  {
    // Not UTF-8: it cannot be a GitHub delivery, so the Worker refuses it as unsigned even when
    // the HMAC over its bytes is right.
    name: "a body that is not UTF-8, with the right HMAC of its bytes",
    request: async () => {
      const bytes = new Uint8Array([0x7b, 0x22, 0x72, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
      return new Request(WEBHOOK_URL, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": `sha256=${await hmacHex(TEST_SECRETS.webhook, bytes)}`,
        },
        body: bytes,
      });
    },
    status: 401,
    code: "invalid_signature",
  },
]);

describe("POST /webhook/github: absurd values that are still well-formed are accepted, never a 5xx", () => {
  // The router validates what it uses and stores, not GitHub's own limits: these are answered
  // as the event they are, and stored like any other build.
  const cases: [string, string, () => Payload | string][] = [
    [
      "push",
      "with a ref of 1,024 characters (the longest stored)",
      () => pushPayload({ ref: `refs/heads/${"a".repeat(1024 - 11)}` }),
    ],
    [
      "push",
      "with NUL, RTL override and emoji in the ref and file names",
      () => pushPayload({ ref: "refs/heads/a\u0000b\u202ec\u{1F600}", files: ["src/\u0000.ts", "docs/\u202e.md"] }),
    ],
    // A lone surrogate is valid JSON text (an escape), and a string like any other once parsed.
    [
      "push",
      "with a lone surrogate escaped in the ref",
      () => JSON.stringify(pushPayload()).replace(/"ref":"[^"]*"/, '"ref":"refs/heads/\\ud800"'),
    ],
    ["push", "with an unhandled field 60 arrays deep", () => withField(pushPayload(), nestedArrays(60))],
    ["push", "with an unhandled field 60 objects deep", () => withField(pushPayload(), nestedObjects(60))],
    ["pull_request", "with a 64-hex (SHA-256 repository) head SHA", () => pullRequestPayload({ sha: "b".repeat(64) })],
  ];
  // What the router stores is bounded (PAYLOAD_LIMITS), so no build record can outgrow the
  // Ledger's SQLite value limit: an oversized value is the payload's fault, a 422 naming it.
  it.each([
    ["a ref of 1 MB", { ref: `refs/heads/${"a".repeat(MiB)}` }, "ref"],
    ["a ref of 20 MB", { ref: `refs/heads/${"a".repeat(20 * MiB)}` }, "ref"],
    ["a file path of 5,000 characters", { files: [`src/${"a".repeat(5000)}.ts`] }, "commits"],
  ])("push with %s → 422 naming it, nothing stored", async (_name, fields, field) => {
    const res = await answerOf(await worker(await webhookRequest("push", pushPayload(fields))));
    expect(res.status).toBe(422);
    expect(res.text).toContain(field);
    await expectNothingStored();
  });
  for (const [event, name, build] of cases) {
    it(`${event} ${name} → 202 with a decision`, async () => {
      const built = build();
      const request = typeof built === "string" ? await delivery(event, built) : await webhookRequest(event, built);
      const res = await answerOf(await worker(request));
      expectRouted(res);
    });
  }
});

// --- The suggestion API ------------------------------------------------------------------

const JSON_HEADERS = { "content-type": "application/json" };
const validRoute = () => ({
  repository: randomRepository(),
  event: "push",
  ref: "refs/heads/main",
  sha: randomSha(),
  files: ["a.ts"],
});

/** A POST /route row: `body` sent as JSON text unless it is a string. */
function routeRow(
  name: string,
  body: unknown,
  status: number,
  code: string,
  init: { token?: string | null; headers?: Record<string, string>; mentions?: RegExp } = {},
): Row {
  return {
    name,
    request: async () => {
      const headers = new Headers(init.headers ?? JSON_HEADERS);
      const token = init.token === undefined ? TEST_SECRETS.api : init.token;
      if (token !== null) headers.set("authorization", `Bearer ${token}`);
      return new Request(`${ROUTER_URL}/route`, {
        method: "POST",
        headers,
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    },
    status,
    code,
    mentions: init.mentions,
  };
}

function routeGetRow(
  name: string,
  query: string,
  status: number,
  code: string,
  headers: Record<string, string> = {},
): Row {
  return {
    name,
    request: async () =>
      new Request(`${ROUTER_URL}/route${query}`, {
        headers: { authorization: `Bearer ${TEST_SECRETS.api}`, ...headers },
      }),
    status,
    code,
  };
}

table("POST /route: bad input", [
  routeRow("no Authorization", validRoute(), 401, "unauthorized", { token: null }),
  routeRow("a wrong token", validRoute(), 401, "unauthorized", { token: "wrong" }),
  routeRow("the webhook secret as the token", validRoute(), 401, "unauthorized", { token: TEST_SECRETS.webhook }),
  routeRow("Basic instead of Bearer", validRoute(), 401, "unauthorized", {
    token: null,
    headers: { ...JSON_HEADERS, authorization: `Basic ${TEST_SECRETS.api}` },
  }),
  routeRow("a token with bad JSON: 401 before the body is read", "{", 401, "unauthorized", { token: null }),
  routeRow("bad JSON", '{"repository":', 400, "invalid_body"),
  routeRow("an empty body", "", 400, "invalid_body"),
  routeRow("a JSON array", [validRoute()], 400, "invalid_body"),
  routeRow("JSON null", null, 400, "invalid_body"),
  routeRow("no repository", { files: ["a.ts"] }, 400, "invalid_request", { mentions: /repository/ }),
  routeRow("a repository without a slash", { repository: "acme" }, 400, "invalid_request", { mentions: /repository/ }),
  routeRow("a repository with two slashes", { repository: "acme/x/y" }, 400, "invalid_request", {
    mentions: /repository/,
  }),
  // `..` would walk the GitHub API path the Worker builds from the repository.
  routeRow("a repository of dot segments", { repository: "../.." }, 400, "invalid_request", { mentions: /repository/ }),
  routeRow("a repository named ..", { repository: "acme/.." }, 400, "invalid_request", { mentions: /repository/ }),
  routeRow("a repository that is an object", { repository: { owner: "acme", name: "x" } }, 400, "invalid_request"),
  routeRow("an event the router does not route", { ...validRoute(), event: "issues" }, 400, "invalid_request", {
    mentions: /event/,
  }),
  routeRow("a ref not starting with refs/", { ...validRoute(), ref: "main" }, 400, "invalid_request", {
    mentions: /ref/,
  }),
  routeRow("a non-hex sha", { ...validRoute(), sha: "not-a-sha" }, 400, "invalid_request", { mentions: /sha/ }),
  routeRow("a sha of 6 hex digits", { ...validRoute(), sha: "abcdef" }, 400, "invalid_request", { mentions: /sha/ }),
  routeRow("a sha that is a number", { ...validRoute(), sha: 1234567 }, 400, "invalid_request", { mentions: /sha/ }),
  routeRow("files that is a string", { ...validRoute(), files: "a.ts" }, 400, "invalid_request", { mentions: /files/ }),
  routeRow("an empty file name", { ...validRoute(), files: [""] }, 400, "invalid_request", { mentions: /files/ }),
  routeRow("a file name that is a number", { ...validRoute(), files: [1] }, 400, "invalid_request", {
    mentions: /files/,
  }),
  routeRow(
    "3,001 files (GitHub's largest listing is 3,000)",
    { ...validRoute(), files: Array.from({ length: 3001 }, (_, i) => `src/f${i}.ts`) },
    400,
    "invalid_request",
    { mentions: /files/ },
  ),
  routeRow("truncated that is a string", { ...validRoute(), truncated: "yes" }, 400, "invalid_request"),
  routeRow("an unknown field", { ...validRoute(), runner: "ai-lab" }, 400, "invalid_request", { mentions: /runner/ }),
  routeRow("text/plain", validRoute(), 415, "unsupported_media_type", { headers: { "content-type": "text/plain" } }),
  routeRow("no content type", validRoute(), 415, "unsupported_media_type", { headers: {} }),
  routeRow(
    "a body over 1 MiB",
    JSON.stringify({ ...validRoute(), environment: "x".repeat(ROUTE_LIMIT) }),
    413,
    "payload_too_large",
  ),
  routeRow("a Content-Length over 1 MiB", validRoute(), 413, "payload_too_large", {
    headers: { ...JSON_HEADERS, "content-length": String(ROUTE_LIMIT + 1) },
  }),
  {
    name: "a streamed body over 1 MiB",
    request: async () => {
      const { stream } = spaces(4 * MiB);
      return new Request(`${ROUTER_URL}/route`, {
        method: "POST",
        headers: { ...JSON_HEADERS, authorization: `Bearer ${TEST_SECRETS.api}` },
        body: stream,
      });
    },
    status: 413,
    code: "payload_too_large",
  },
]);

table("GET /route: bad input", [
  {
    name: "no Authorization",
    request: async () => new Request(`${ROUTER_URL}/route?repository=acme/x&sha=${randomSha()}`),
    status: 401,
    code: "unauthorized",
  },
  routeGetRow("a wrong token", `?repository=acme/x&sha=${randomSha()}`, 401, "unauthorized", {
    authorization: "Bearer wrong",
  }),
  routeGetRow("no query", "", 400, "missing_parameter"),
  routeGetRow("no sha", "?repository=acme/x", 400, "missing_parameter"),
  routeGetRow("no repository", `?sha=${randomSha()}`, 400, "missing_parameter"),
  routeGetRow("an empty repository", `?repository=&sha=${randomSha()}`, 400, "missing_parameter"),
  routeGetRow("an empty sha", "?repository=acme/x&sha=", 400, "missing_parameter"),
  routeGetRow("a repository without a slash", `?repository=acme&sha=${randomSha()}`, 400, "invalid_request"),
  routeGetRow("a repository with two slashes", `?repository=acme/x/y&sha=${randomSha()}`, 400, "invalid_request"),
  routeGetRow("a repository of dot segments", `?repository=../..&sha=${randomSha()}`, 400, "invalid_request"),
  routeGetRow("an owner of ..", `?repository=../x&sha=${randomSha()}`, 400, "invalid_request"),
  routeGetRow("a name of .", `?repository=acme/.&sha=${randomSha()}`, 400, "invalid_request"),
  routeGetRow("a non-hex sha", "?repository=acme/x&sha=not-a-sha", 400, "invalid_request"),
  routeGetRow("a sha of 65 hex digits", `?repository=acme/x&sha=${"a".repeat(65)}`, 400, "invalid_request"),
  routeGetRow("a sha with a NUL", "?repository=acme/x&sha=abcdef0%00", 400, "invalid_request"),
]);

describe("the boundaries just inside the limits are accepted (so the rows above mean something)", () => {
  it("POST /route with exactly 3,000 files → 200", async () => {
    const res = await call("/route", {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ ...validRoute(), files: Array.from({ length: 3000 }, (_, i) => `src/f${i}.ts`) }),
    });
    expect(res.status, res.text).toBe(200);
    await expectNothingStored();
  });

  it("a repository name starting with a dot is still a repository (acme/.github) → 200", async () => {
    const res = await call(`/route?repository=acme/.github&sha=${randomSha()}`);
    expect(res.status, res.text).toBe(200);
    await expectNothingStored();
  });

  it("GET /route for a commit nobody announced → 200, computed, nothing stored", async () => {
    const res = await call(`/route?repository=acme/x&sha=${randomSha()}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.recorded).toBe(false);
    await expectNothingStored();
  });

  it("a correctly signed push of GitHub's example → 202, and it is stored (the probe sees state)", async () => {
    expectRouted(await answerOf(await worker(await webhookRequest("push", pushPayload()))));
    await expect(expectNothingStored()).rejects.toThrow();
  });
});

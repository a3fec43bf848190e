/**
 * A refused webhook delivery leaves one warn line in the Worker's log: its error code, its
 * delivery id and event when they have GitHub's shape, and nothing else of the request (body,
 * other headers, signature). Runs the bundled Worker, whose console is this isolate's.
 */
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import { type DeliveryOptions, webhookRequest } from "../support/webhooks.ts";
import { deliver, expectRouted, pushPayload, worker } from "./helpers.ts";

const METHODS = ["log", "info", "warn", "error", "debug"] as const;
/** Written into every refused body: it must never reach a log line. */
const MARKER = "body-marker-7f3c9a1e";
/** GitHub does not send more than 25 MB; the Worker reads no more than 25 MiB. */
const LIMIT = 25 * 1024 * 1024;

interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

let spies: MockInstance[] = [];
/** Every console call the Worker made, each as the text it would print. */
const printed = (): { method: string; text: string }[] =>
  spies.flatMap((spy, i) =>
    spy.mock.calls.map((args) => ({
      method: METHODS[i] ?? "log",
      text: args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "),
    })),
  );
/** The "webhook refused" lines, parsed, with the console method that printed each. */
const refusals = (): (LogLine & { method: string })[] =>
  printed().flatMap(({ method, text }) => {
    try {
      const line = JSON.parse(text) as LogLine;
      return line.message === "webhook refused" ? [{ ...line, method }] : [];
    } catch {
      return [];
    }
  });

beforeEach(() => {
  spies = METHODS.map((m) => vi.spyOn(console, m).mockImplementation(() => {}));
});
afterEach(() => {
  for (const spy of spies) spy.mockRestore();
});

/** A push whose body carries {@link MARKER}, sent with `options`; the request as sent and the answer's status. */
async function refused(options: DeliveryOptions, payload: unknown = { ...pushPayload(), note: MARKER }) {
  const request = await webhookRequest("push", payload, options);
  const sent = { signature: request.headers.get("x-hub-signature-256"), delivery: options.delivery ?? null };
  const res = await worker(request);
  const body = (await res.json()) as { error?: { code: string } };
  return { ...sent, status: res.status, code: body.error?.code };
}

describe("a refused delivery", () => {
  const cases: [string, () => DeliveryOptions & { payload?: unknown }, number, string][] = [
    ["without a signature", () => ({ headers: { "x-hub-signature-256": null } }), 401, "missing_signature"],
    ["signed with another secret", () => ({ secret: "not-the-webhook-secret" }), 401, "invalid_signature"],
    ["signed under the API token", () => ({ secret: TEST_SECRETS.api }), 401, "invalid_signature"],
    ["without X-GitHub-Event", () => ({ headers: { "x-github-event": null } }), 400, "missing_header"],
    ["of a content type GitHub does not send", () => ({ contentType: "text/plain" }), 415, "unsupported_media_type"],
    ["whose body is not JSON", () => ({ body: `{"note":"${MARKER}"` }), 400, "invalid_body"],
    [
      "of a push without what a push needs",
      () => ({ payload: { ref: "refs/heads/x", note: MARKER } }),
      422,
      "invalid_payload",
    ],
    [
      "declaring a body over 25 MiB",
      () => ({ headers: { "content-length": String(LIMIT + 1) } }),
      413,
      "payload_too_large",
    ],
  ];

  it.each(cases)(
    "%s is logged once, as a warning, with its code and delivery id",
    async (_name, make, status, code) => {
      const { payload, ...options } = make();
      const delivery = crypto.randomUUID();
      const answer = await refused({ ...options, delivery }, payload);
      expect(answer).toMatchObject({ status, code });

      const lines = refusals();
      expect(lines).toHaveLength(1);
      const event = options.headers?.["x-github-event"] === null ? {} : { event: "push" };
      expect(lines[0]).toEqual({
        method: "warn",
        level: "warn",
        message: "webhook refused",
        reason: code,
        status,
        delivery,
        ...event,
      });

      for (const { text } of printed()) {
        expect(text).not.toContain(MARKER);
        expect(text.toLowerCase()).not.toContain("x-hub-signature");
        if (answer.signature !== null) expect(text).not.toContain(answer.signature.slice("sha256=".length));
        for (const secret of Object.values(TEST_SECRETS)) expect(text).not.toContain(secret);
      }
    },
  );

  it("leaves out a delivery id or event name that is not GitHub's shape", async () => {
    const odd = [
      { delivery: "not a guid; rm -rf", event: "push\tevil" },
      { delivery: "x".repeat(129), event: `e${"v".repeat(128)}` },
      { delivery: "id.with.dots", event: "push:colon" },
    ];
    for (const { delivery, event } of odd) {
      const answer = await refused({ delivery, headers: { "x-github-event": event, "x-hub-signature-256": null } });
      expect(answer.status).toBe(401);
    }
    const lines = refusals();
    expect(lines).toHaveLength(odd.length);
    for (const line of lines) {
      expect(line).toEqual({
        method: "warn",
        level: "warn",
        message: "webhook refused",
        reason: "missing_signature",
        status: 401,
      });
    }
    for (const { text } of printed()) {
      for (const { delivery, event } of odd) {
        expect(text).not.toContain(delivery);
        expect(text).not.toContain(event);
      }
    }
  });

  it("logs an invalid X-GitHub-Delivery as invalid_header, without it", async () => {
    const answer = await refused({ delivery: "bad delivery id!" });
    expect(answer).toMatchObject({ status: 400, code: "invalid_header" });
    expect(refusals()).toEqual([
      {
        method: "warn",
        level: "warn",
        message: "webhook refused",
        reason: "invalid_header",
        status: 400,
        event: "push",
      },
    ]);
  });

  it("keeps the event names GitHub sends, underscores included", async () => {
    const delivery = crypto.randomUUID();
    const request = await webhookRequest("workflow_job", { note: MARKER }, { delivery, secret: "wrong-secret" });
    expect((await worker(request)).status).toBe(401);
    expect(refusals()).toEqual([
      expect.objectContaining({ reason: "invalid_signature", delivery, event: "workflow_job" }),
    ]);
  });
});

describe("an accepted delivery", () => {
  it("logs no refusal", async () => {
    expectRouted(await deliver("push", pushPayload()));
    expect(printed().length).toBeGreaterThan(0);
    expect(refusals()).toEqual([]);
  });
});

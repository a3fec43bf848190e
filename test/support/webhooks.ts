import { sign } from "@octokit/webhooks-methods";
import type { TraceCommit } from "../../scripts/simulate/trace.ts";
import { TEST_SECRETS } from "./secrets.ts";

/** Where tests address the Worker; the host is never looked at. */
export const ROUTER_URL = "https://router.test";
export const WEBHOOK_URL = `${ROUTER_URL}/webhook/github`;

export const JSON_TYPE = "application/json";
export const FORM_TYPE = "application/x-www-form-urlencoded";

export interface DeliveryOptions {
  /** `json` (default), `form`, or any literal content type (the body is then sent as JSON text). */
  contentType?: "json" | "form" | (string & {});
  /** The secret the body is signed with; defaults to the Worker's current WEBHOOK_SECRET. */
  secret?: string;
  /** X-GitHub-Delivery; a fresh GUID when left out. */
  delivery?: string;
  /** Extra headers, applied last; `null` removes a header (e.g. `{"x-github-event": null}`). */
  headers?: Record<string, string | null>;
  /** The exact body to send instead of the encoded payload; signed like any other unless `headers` sets the signature. */
  body?: string;
}

/** The body GitHub would send for `payload` under a hook's content type. */
export function encodeBody(payload: unknown, contentType: DeliveryOptions["contentType"] = "json"): string {
  const json = JSON.stringify(payload);
  return contentType === "form" ? `payload=${encodeURIComponent(json)}` : json;
}

/** The HTTP content type of a hook's content type option. */
export function contentTypeHeader(contentType: DeliveryOptions["contentType"] = "json"): string {
  if (contentType === "json") return JSON_TYPE;
  if (contentType === "form") return FORM_TYPE;
  return contentType;
}

/**
 * A delivery as GitHub sends it: the payload encoded for the content type, signed over the
 * exact body bytes (`X-Hub-Signature-256`), with the event and delivery headers.
 */
export async function webhookRequest(event: string, payload: unknown, options: DeliveryOptions = {}): Promise<Request> {
  const body = options.body ?? encodeBody(payload, options.contentType);
  const overrides = Object.entries(options.headers ?? {});
  const signatureGiven = overrides.some(([name]) => name.toLowerCase() === "x-hub-signature-256");
  const headers = new Headers({
    "content-type": contentTypeHeader(options.contentType),
    "user-agent": "GitHub-Hookshot/test",
    "x-github-event": event,
    "x-github-delivery": options.delivery ?? crypto.randomUUID(),
  });
  if (!signatureGiven) headers.set("x-hub-signature-256", await sign(options.secret ?? TEST_SECRETS.webhook, body));
  for (const [name, value] of overrides) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  return new Request(WEBHOOK_URL, { method: "POST", headers, body });
}

/** A 40-hex commit id no other test uses. */
export function randomSha(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An `owner/name` no other test uses. */
export function randomRepository(owner = "acme"): string {
  return `${owner}/repo-${crypto.randomUUID().slice(0, 8)}`;
}

/** The push webhook of a simulator trace's commit: its ref, sha, repository and files, as GitHub sends them. */
export function pushOfCommit(commit: Pick<TraceCommit, "ref" | "sha" | "repository" | "files">) {
  return {
    ref: commit.ref,
    before: "1".repeat(40),
    after: commit.sha,
    created: false,
    deleted: false,
    repository: { full_name: commit.repository },
    commits: [{ id: commit.sha, added: [], removed: [], modified: commit.files }],
  };
}

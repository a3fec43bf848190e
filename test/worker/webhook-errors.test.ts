import { reset } from "cloudflare:test";
import { sign } from "@octokit/webhooks-methods";
import { beforeEach, describe, expect, it } from "vitest";
import { ALLOWED, ROUTES } from "../../worker/src/app.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { encodeBody, ROUTER_URL, WEBHOOK_URL } from "../support/webhooks.ts";
import {
  call,
  deliver,
  examplesOf,
  expectError,
  expectNoState,
  expectRouted,
  kvKeys,
  ledgerCount,
  pullRequestPayload,
  pushPayload,
  worker,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";

/** GitHub does not send more than 25 MB; the Worker reads no more than 25 MiB. */
const LIMIT = 25 * 1024 * 1024;

/** `payload` as JSON with a padding field that makes it exactly `bytes` long. */
function paddedTo(bytes: number, payload: Record<string, unknown>): string {
  const json = JSON.stringify({ ...payload, padding: "" });
  const body = json.replace('"padding":""', `"padding":"${"x".repeat(bytes - new TextEncoder().encode(json).length)}"`);
  expect(new TextEncoder().encode(body).length).toBe(bytes);
  return body;
}

/** Every test starts from empty storage, so "nothing stored" means exactly that. */
beforeEach(async () => {
  await reset();
});

/** A correctly signed push delivery sent with `method` to `path` (no body for GET). */
async function signedPush(method: string, path: string) {
  const body = method === "GET" ? undefined : encodeBody(pushPayload());
  return call(path, {
    method,
    body,
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": await sign(TEST_SECRETS.webhook, body ?? "{}"),
    },
  });
}

describe("the state probe", () => {
  it("sees what an accepted delivery stores (so an empty result below means something)", async () => {
    await expectNoState();
    const { build_id } = expectRouted(await deliver("push", pushPayload()));
    expect(await ledgerCount("deliveries")).toBe(1);
    expect(await ledgerCount("builds")).toBe(1);
    expect(await ledgerCount("commits")).toBe(1);
    expect((await kvKeys()).map((k) => k.name)).toEqual([`build:${build_id}`]);
    await expect(expectNoState()).rejects.toThrow();
  });
});

describe("405: other methods, with an Allow header", () => {
  // Every method a route does not take, for every path of the Worker's one route list.
  const cases: [string, string, string][] = Object.entries(ALLOWED).flatMap(([path, allow]) =>
    ["GET", "POST", "PUT", "DELETE", "PATCH"]
      .filter((method) => !allow.split(", ").includes(method))
      .map((method): [string, string, string] => [method, path, allow]),
  );
  it("covers every route", () => {
    expect(new Set(cases.map(([, path]) => path))).toEqual(new Set(ROUTES.map((r) => r.path)));
    expect(cases.length).toBeGreaterThanOrEqual(ROUTES.length * 3);
  });
  for (const [method, path, allow] of cases) {
    it(`${method} ${path} → 405, Allow: ${allow}`, async () => {
      const res = await signedPush(method, path);
      expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe(allow);
      await expectNoState();
    });
  }
});

describe("400: GitHub's headers are required", () => {
  const cases: [string, Record<string, string | null>][] = [
    ["no X-GitHub-Event", { "x-github-event": null }],
    ["no X-GitHub-Delivery", { "x-github-delivery": null }],
    ["neither", { "x-github-event": null, "x-github-delivery": null }],
    ["an empty X-GitHub-Event", { "x-github-event": "" }],
    ["an empty X-GitHub-Delivery", { "x-github-delivery": "" }],
  ];
  for (const [name, headers] of cases) {
    it(`${name} → 400 missing_header, even correctly signed`, async () => {
      const message = expectError(await deliver("push", pushPayload(), { headers }), 400, "missing_header");
      expect(message).toMatch(/X-GitHub-(Event|Delivery)/);
      await expectNoState();
    });
  }
});

describe("413: bodies over 25 MiB", () => {
  it("refuses a declared Content-Length over the limit without reading the body", async () => {
    const payload = pushPayload();
    const res = await deliver("push", payload, { headers: { "content-length": String(LIMIT + 1) } });
    expectError(res, 413, "payload_too_large");
    await expectNoState();
  });

  it("refuses a real body one byte over the limit, even correctly signed", async () => {
    const body = paddedTo(LIMIT + 1, pushPayload());
    const res = await deliver("push", null, { body });
    expectError(res, 413, "payload_too_large");
    await expectNoState();
  });

  it("refuses a streamed body without Content-Length once it passes the limit", async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= 40) controller.close();
        else {
          pulled++;
          controller.enqueue(chunk);
        }
      },
    });
    const request = new Request(WEBHOOK_URL, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": crypto.randomUUID(),
        "x-hub-signature-256": `sha256=${"0".repeat(64)}`,
      },
      body: stream,
    });
    expect(request.headers.get("content-length")).toBeNull();
    const res = await worker(request);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: "payload_too_large", message: expect.any(String) } });
    // It stopped reading soon after the limit, not at the end of the stream.
    expect(pulled).toBeLessThan(40);
    await expectNoState();
  });

  it("accepts a body of exactly 25 MiB", async () => {
    const body = paddedTo(LIMIT, pushPayload({ files: ["src/a.ts"] }));
    expectRouted(await deliver("push", null, { body }));
  });
});

describe("400: a body that does not parse, after a valid signature", () => {
  const jsonBodies: [string, string][] = [
    ["truncated JSON", '{"ref":"refs/heads/main"'],
    ["not JSON at all", "hello"],
    ["a JSON array", "[1,2,3]"],
    ["JSON null", "null"],
    ["a JSON string", '"push"'],
    ["a JSON number", "42"],
  ];
  for (const [name, body] of jsonBodies) {
    it(`application/json: ${name} → 400 invalid_body`, async () => {
      expectError(await deliver("push", null, { body }), 400, "invalid_body");
      await expectNoState();
    });
  }

  it("a correctly signed empty body is refused and stores nothing", async () => {
    // @octokit/webhooks-methods refuses to sign nothing, so the HMAC is made here.
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(TEST_SECRETS.webhook),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new Uint8Array(0)));
    const signature = `sha256=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    const res = await deliver("push", null, { body: "", headers: { "x-hub-signature-256": signature } });
    // GitHub never sends an empty body; the Worker treats one as unverifiable.
    expect([400, 401]).toContain(res.status);
    expect(res.body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
    await expectNoState();
  });

  const formBodies: [string, string][] = [
    ["no payload= field", `data=${encodeURIComponent(JSON.stringify(pushPayload()))}`],
    ["raw JSON sent as form", JSON.stringify(pushPayload())],
    ["payload= that is not JSON", "payload=%7Bnope"],
    ["an empty payload=", "payload="],
    ["payload= holding an array", `payload=${encodeURIComponent("[]")}`],
  ];
  for (const [name, body] of formBodies) {
    it(`form: ${name} → 400 invalid_body`, async () => {
      expectError(await deliver("push", null, { contentType: "form", body }), 400, "invalid_body");
      await expectNoState();
    });
  }

  it("the form field is named in the message when it is missing", async () => {
    const message = expectError(
      await deliver("push", null, { contentType: "form", body: "other=1" }),
      400,
      "invalid_body",
    );
    expect(message).toContain("payload");
    await expectNoState();
  });
});

describe("415: other content types", () => {
  for (const type of ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx"]) {
    it(`${type} → 415 unsupported_media_type`, async () => {
      expectError(await deliver("push", pushPayload(), { contentType: type }), 415, "unsupported_media_type");
      await expectNoState();
    });
  }

  it("no Content-Type header → 415", async () => {
    const body = encodeBody(pushPayload());
    const request = new Request(WEBHOOK_URL, {
      method: "POST",
      headers: {
        "x-github-event": "push",
        "x-github-delivery": crypto.randomUUID(),
        "x-hub-signature-256": await sign(TEST_SECRETS.webhook, body),
      },
      body: new TextEncoder().encode(body),
    });
    expect(request.headers.get("content-type")).toBeNull();
    const res = await worker(request);
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: { code: "unsupported_media_type" } });
    await expectNoState();
  });

  it("parameters and case in the media type are tolerated", async () => {
    expectRouted(await deliver("push", pushPayload(), { contentType: "application/json; charset=utf-8" }));
    expectRouted(await deliver("push", pushPayload(), { contentType: "Application/JSON" }));
  });
});

describe("422: a handled event without what it needs", () => {
  const drop = (payload: Record<string, unknown>, path: string[]) => {
    let target = payload as Record<string, unknown>;
    for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
    delete target[path.at(-1) as string];
    return payload;
  };
  const cases: [string, string, () => Record<string, unknown>, string][] = [
    ["push", "without repository", () => drop(pushPayload(), ["repository"]), "repository"],
    ["push", "without repository.full_name", () => drop(pushPayload(), ["repository", "full_name"]), "full_name"],
    ["push", "without ref", () => drop(pushPayload(), ["ref"]), "ref"],
    ["push", "without after", () => drop(pushPayload(), ["after"]), "after"],
    ["push", "with commits that are not a list", () => ({ ...pushPayload(), commits: "many" }), "commits"],
    ["pull_request", "without repository", () => drop(pullRequestPayload(), ["repository"]), "repository"],
    ["pull_request", "without pull_request", () => drop(pullRequestPayload(), ["pull_request"]), "pull_request"],
    [
      "pull_request",
      "without the head SHA",
      () => drop(pullRequestPayload(), ["pull_request", "head", "sha"]),
      "pull_request.head.sha",
    ],
    ["pull_request", "with a string number", () => ({ ...pullRequestPayload(), number: "7" }), "number"],
    ["pull_request", "without action", () => drop(pullRequestPayload(), ["action"]), "action"],
    [
      "workflow_job",
      "without workflow_job",
      () => drop(workflowJobPayload({ repository: "acme/x", sha: "a".repeat(40), action: "queued" }), ["workflow_job"]),
      "workflow_job",
    ],
    [
      "workflow_job",
      "without head_sha",
      () =>
        drop(workflowJobPayload({ repository: "acme/x", sha: "a".repeat(40), action: "queued" }), [
          "workflow_job",
          "head_sha",
        ]),
      "head_sha",
    ],
    [
      "workflow_run",
      "without repository",
      () =>
        drop(workflowRunPayload({ repository: "acme/x", sha: "a".repeat(40), action: "completed" }), ["repository"]),
      "repository",
    ],
    [
      "workflow_run",
      "without head_sha",
      () =>
        drop(workflowRunPayload({ repository: "acme/x", sha: "a".repeat(40), action: "completed" }), [
          "workflow_run",
          "head_sha",
        ]),
      "head_sha",
    ],
    ["workflow_dispatch", "without ref", () => drop(examplesOf("workflow_dispatch")[0] ?? {}, ["ref"]), "ref"],
    ["push", "that is an empty object", () => ({}), "push"],
  ];
  for (const [event, name, build, mentions] of cases) {
    for (const contentType of ["json", "form"] as const) {
      it(`${event} ${name} (${contentType}) → 422 invalid_payload naming ${mentions}`, async () => {
        const message = expectError(await deliver(event, build(), { contentType }), 422, "invalid_payload");
        expect(message).toContain(mentions);
        await expectNoState();
      });
    }
  }
});

describe("404: unknown paths", () => {
  const cases: [string, string][] = [
    ["GET", "/"],
    ["POST", "/"],
    ["POST", "/webhook"],
    ["POST", "/webhooks/github"],
    ["POST", "/webhook/github/extra"],
    ["GET", "/healthz"],
    ["GET", "/admin"],
  ];
  for (const [method, path] of cases) {
    it(`${method} ${path} → 404 not_found`, async () => {
      const res = await signedPush(method, path);
      expectError(res, 404, "not_found");
      await expectNoState();
    });
  }

  it("a 404 does not echo the query string", async () => {
    const res = await call(`/nowhere?token=${TEST_SECRETS.api}`, { token: null });
    expectError(res, 404, "not_found");
    expect(res.text).not.toContain(TEST_SECRETS.api);
    expect(new URL(ROUTER_URL).host).toBe("router.test");
  });
});

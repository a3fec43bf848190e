import { BUILD_KEY_PREFIX, BUILD_TTL_SECONDS } from "./bindings.ts";
import { decodePayload, readBody } from "./body.ts";
import { changesFor } from "./changes.ts";
import {
  type BuildRecord,
  buildId,
  DELIVERY,
  decide,
  interpretEvent,
  newBuild,
  type Plan,
  policyFor,
  updatePlan,
} from "./core/index.ts";
import type { Env } from "./env.ts";
import { HttpError } from "./errors.ts";
import { GitHubClient } from "./github.ts";
import { ledgerOf, type Outcome } from "./ledger.ts";
import { log } from "./log.ts";
import type { Settings } from "./settings.ts";
import { verifySignature } from "./signature.ts";

/** Copies a build record to KV for 24 hours. A failure is logged: the Ledger keeps the record. */
export async function persistBuild(env: Env, build: BuildRecord): Promise<void> {
  try {
    await env.CI_STATE.put(`${BUILD_KEY_PREFIX}${build.build_id}`, JSON.stringify(build), {
      expirationTtl: BUILD_TTL_SECONDS,
    });
  } catch (error) {
    log("error", "kv write failed", { build_id: build.build_id, error: String(error) });
  }
}

/** `POST /webhook/github`: verify, read, decide, record once, answer. */
export async function handleWebhook(request: Request, env: Env, settings: Settings): Promise<Response> {
  const signature = request.headers.get("x-hub-signature-256");
  if (signature === null) throw new HttpError("missing_signature", "X-Hub-Signature-256 header is missing");
  const event = request.headers.get("x-github-event");
  const delivery = request.headers.get("x-github-delivery");
  if (!event || !delivery) {
    throw new HttpError("missing_header", "X-GitHub-Event and X-GitHub-Delivery headers are required");
  }
  // A header sent twice reads as "a, b": two delivery ids would make de-duplication ambiguous.
  if (event.includes(",") || delivery.includes(",")) {
    throw new HttpError(
      "missing_header",
      "X-GitHub-Event and X-GitHub-Delivery must each be sent once, with one value",
    );
  }
  if (!DELIVERY.test(delivery)) {
    throw new HttpError(
      "invalid_header",
      "X-GitHub-Delivery must be 1 to 128 letters, digits, '.', '_', ':' or '-' (GitHub sends a GUID)",
    );
  }
  const body = await readBody(request);
  if (!(await verifySignature(settings.webhookSecrets, body, signature))) {
    throw new HttpError("invalid_signature", "X-Hub-Signature-256 does not match the body");
  }
  const payload = decodePayload(request.headers.get("content-type"), body);
  const intent = interpretEvent(event, payload, settings.config);
  if (intent.kind === "invalid") throw new HttpError("invalid_payload", intent.problems.join("; "));

  const at = new Date().toISOString();
  const github = settings.github === null ? null : new GitHubClient(settings.github);
  let plan: Plan;
  switch (intent.kind) {
    case "ping":
      plan = { kind: "respond", status: 200, body: JSON.stringify({ ok: true }) };
      break;
    case "ignore":
      plan = { kind: "respond", status: 202, body: JSON.stringify({ ignored: true, reason: intent.reason }) };
      break;
    case "route": {
      const changes = await changesFor(intent, settings, github);
      const decision = decide({ ...intent, changes }, policyFor(settings.config, intent.repository));
      const build = newBuild({
        build_id: buildId(intent.sha, delivery),
        repository: intent.repository,
        event: intent.event,
        ref: intent.ref,
        sha: intent.sha,
        pull_request: intent.pullRequest,
        delivery,
        decision,
        at,
      });
      // The Ledger applies the fleet's load to the decision and answers {build_id, decision}.
      plan = { kind: "create", build };
      break;
    }
    case "update":
      plan = updatePlan(intent, delivery, at);
      break;
  }

  let outcome: Outcome;
  try {
    const contentKey = intent.kind === "route" || intent.kind === "update" ? intent.key : null;
    outcome = await ledgerOf(env).accept(delivery, event, plan, {
      contentKey,
      seen: { rateLimitRemaining: github?.rateLimitRemaining ?? null },
    });
  } catch (error) {
    // Nothing was recorded: answer 5xx so GitHub marks the delivery failed and it can be redelivered.
    log("error", "ledger unavailable", {
      event,
      delivery,
      error: error instanceof Error ? error.message : String(error),
    });
    throw new HttpError(
      "unavailable",
      "the build ledger is unavailable; nothing was recorded, redeliver this delivery",
    );
  }
  if (outcome.persist !== null) await persistBuild(env, outcome.persist);
  const status = outcome.duplicate ? 200 : outcome.status;
  log("info", "webhook", { event, delivery, status, duplicate: outcome.duplicate });
  if (!outcome.duplicate) {
    return new Response(outcome.body, { status: outcome.status, headers: { "content-type": "application/json" } });
  }
  return Response.json({ ...JSON.parse(outcome.body), duplicate: true }, { status });
}

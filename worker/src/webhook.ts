import { BUILD_KEY_PREFIX, BUILD_TTL_SECONDS } from "./bindings.ts";
import { bodyText, decodePayload, readBody } from "./body.ts";
import { changesFor } from "./changes.ts";
import {
  type BuildRecord,
  DELIVERY,
  type Intent,
  installationOf,
  interpretEvent,
  organisationOf,
  organisationOfPayload,
  type Plan,
  routePlan,
  updatePlan,
} from "./core/index.ts";
import type { Env } from "./env.ts";
import { HttpError, valueOr } from "./errors.ts";
import { gitHubClient, rememberInstallation } from "./github-app.ts";
import { acceptIn, type Outcome } from "./ledger.ts";
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

/**
 * Whose Ledger a delivery is recorded in: its repository's owner, else the organisation its
 * payload names (an App installation's account); null (the directory) for one that names none.
 */
function organisationOfDelivery(intent: Intent, payload: unknown): string | null {
  return intent.kind === "route" || intent.kind === "update"
    ? organisationOf(intent.repository)
    : organisationOfPayload(payload);
}

/**
 * `POST /webhook/github`: verify, read, decide, record once, answer. The KV copy of the build
 * is written after the answer (`waitUntil`): the Ledger already holds the record.
 */
export async function handleWebhook(
  request: Request,
  env: Env,
  settings: Settings,
  ctx: Pick<ExecutionContext, "waitUntil">,
): Promise<Response> {
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
  const bytes = await readBody(request);
  // GitHub sends UTF-8: a body that is not cannot be one of its deliveries, whatever it is signed with.
  const text = bodyText(bytes);
  if (text === null || !(await verifySignature(settings.webhookSecrets, bytes, signature))) {
    throw new HttpError("invalid_signature", "X-Hub-Signature-256 does not match the body");
  }
  const payload = decodePayload(request.headers.get("content-type"), text);
  const intent = valueOr(interpretEvent(event, payload, settings.config));

  const at = new Date().toISOString();
  // An App installation's event is answered with that installation's token (github-app.ts).
  const installation = intent.kind === "route" || intent.kind === "update" ? installationOf(payload) : null;
  const github = gitHubClient(settings.github, installation);
  let plan: Plan;
  switch (intent.kind) {
    case "ping":
      plan = { kind: "respond", status: 200, body: JSON.stringify({ ok: true }) };
      break;
    case "ignore":
      plan = { kind: "respond", status: 202, body: JSON.stringify({ ignored: true, reason: intent.reason }) };
      break;
    case "route":
      // The Ledger decides, with the fleet's load, in the transaction that records the build.
      plan = routePlan(intent, await changesFor(intent, settings, github), delivery, at);
      break;
    case "update":
      plan = updatePlan(intent, delivery, at);
      break;
    case "installation":
      plan = { kind: "installation", installation: intent.installation };
      break;
  }

  let outcome: Outcome;
  try {
    const contentKey = "key" in intent ? intent.key : null;
    outcome = await acceptIn(env, organisationOfDelivery(intent, payload), delivery, event, plan, {
      contentKey,
      seen: { rateLimitRemaining: github?.rateLimitRemaining ?? null },
      ...(installation !== null && "repository" in intent
        ? { installation: { repository: intent.repository, id: installation } }
        : {}),
      ...(plan.kind === "create" ? { routing: settings.routing } : {}),
    });
  } catch (error) {
    // A full directory answers its own 503 (logged where it refused).
    if (error instanceof HttpError) throw error;
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
  // Remembered once the Ledger has it: a suspended or uninstalled installation is forgotten here too.
  rememberInstallation(outcome.installation);
  if (outcome.persist !== null) ctx.waitUntil(persistBuild(env, outcome.persist));
  const status = outcome.duplicate ? 200 : outcome.status;
  log("info", "webhook", { event, delivery, status, duplicate: outcome.duplicate });
  if (!outcome.duplicate) {
    return new Response(outcome.body, { status: outcome.status, headers: { "content-type": "application/json" } });
  }
  return Response.json({ ...JSON.parse(outcome.body), duplicate: true }, { status });
}

import { Hono } from "hono/tiny";
import { costs, fleet, health, metrics, routeGet, routePost, status, VERSION } from "./api.ts";
import { bearerMatches, requireBearer } from "./auth.ts";
import type { Env } from "./env.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { ledgerOf } from "./ledger.ts";
import { log } from "./log.ts";
import { loadSettings, type Settings, SettingsError } from "./settings.ts";
import { handleWebhook } from "./webhook.ts";

const WEBHOOK_PATH = "/webhook/github";

async function countRejection(env: Env, reason: string): Promise<void> {
  try {
    await ledgerOf(env).reject(reason);
  } catch (error) {
    log("warn", "rejection not counted", { reason, error: String(error) });
  }
}

type App = { Bindings: Env; Variables: { settings: Settings } };

/** The HTTP surface: routes, auth and the single mapping from errors to answers. */
export const app = new Hono<App>();

app.use("*", async (c, next) => {
  let settings: Settings;
  try {
    settings = loadSettings(c.env);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return misconfigured(c.req.raw, error);
  }
  c.set("settings", settings);
  await next();
});

/** Said once per isolate: the full list of problems, for whoever reads the logs. */
const logged = new WeakSet<SettingsError>();

/**
 * The answer of a misconfigured Worker: 503 everywhere. Anyone learns that it is misconfigured
 * and, from `/health`, which settings are wrong; only a caller with the API token (when it can
 * be read) learns what is wrong with them. The log gets the whole list once.
 */
async function misconfigured(request: Request, error: SettingsError): Promise<Response> {
  if (!logged.has(error)) {
    logged.add(error);
    log("error", "misconfigured", { settings: error.settings, problems: error.problems });
  }
  const trusted = await bearerMatches(request, error.apiTokens);
  if (new URL(request.url).pathname === "/health") {
    const details = trusted ? { problems: error.problems } : {};
    return Response.json(
      { status: "misconfigured", version: VERSION, settings: error.settings, ...details },
      { status: 503 },
    );
  }
  return errorResponse(
    "misconfigured",
    trusted ? error.message : "the Worker is misconfigured; GET /health names the settings to fix",
  );
}

const bearer = async (c: { req: { raw: Request }; get: (k: "settings") => Settings }, next: () => Promise<void>) => {
  await requireBearer(c.req.raw, c.get("settings").apiTokens);
  await next();
};

app.get("/health", (c) => health(c.get("settings")));
app.post(WEBHOOK_PATH, (c) => handleWebhook(c.req.raw, c.env, c.get("settings"), c.executionCtx));
app.get("/status", bearer, (c) => status(new URL(c.req.url), c.env));
app.get("/route", bearer, (c) => routeGet(new URL(c.req.url), c.env, c.get("settings")));
app.post("/route", bearer, (c) => routePost(c.req.raw, c.env, c.get("settings")));
app.get("/fleet", bearer, (c) => fleet(new URL(c.req.url), c.env));
app.get("/metrics", bearer, (c) => metrics(c.env));
app.get("/costs", bearer, (c) => costs(new URL(c.req.url), c.env));

const ALLOWED: Record<string, string> = {
  "/health": "GET",
  [WEBHOOK_PATH]: "POST",
  "/status": "GET",
  "/route": "GET, POST",
  "/metrics": "GET",
  "/costs": "GET",
  "/fleet": "GET",
};
for (const [path, allow] of Object.entries(ALLOWED)) {
  app.all(path, () => errorResponse("method_not_allowed", `${path} accepts ${allow}`, { allow }));
}

app.notFound((c) => errorResponse("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));

app.onError((error, c) => {
  if (error instanceof HttpError) {
    // Refused deliveries are counted (never recorded otherwise), after the answer.
    if (new URL(c.req.url).pathname === WEBHOOK_PATH) c.executionCtx.waitUntil(countRejection(c.env, error.code));
    return errorResponse(error.code, error.message);
  }
  log("error", "unhandled", { error: error instanceof Error ? error.message : String(error) });
  return errorResponse("internal", "internal error");
});

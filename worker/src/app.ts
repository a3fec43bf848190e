import { Hono } from "hono/tiny";
import { costs, fleet, health, metrics, routeGet, routePost, status } from "./api.ts";
import { requireBearer } from "./auth.ts";
import { type Env, loadSettings, type Settings, SettingsError } from "./env.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { ledgerOf } from "./ledger.ts";
import { log } from "./log.ts";
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
  c.set("settings", loadSettings(c.env));
  await next();
});

const bearer = async (c: { req: { raw: Request }; get: (k: "settings") => Settings }, next: () => Promise<void>) => {
  await requireBearer(c.req.raw, c.get("settings").apiTokens);
  await next();
};

app.get("/health", (c) => health(c.get("settings")));
app.post(WEBHOOK_PATH, (c) => handleWebhook(c.req.raw, c.env, c.get("settings")));
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
  if (error instanceof SettingsError) {
    log("error", "misconfigured", { problems: error.problems });
    return errorResponse("misconfigured", error.message);
  }
  log("error", "unhandled", { error: error instanceof Error ? error.message : String(error) });
  return errorResponse("internal", "internal error");
});

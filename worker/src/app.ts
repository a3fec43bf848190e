import { Hono } from "hono/tiny";
import { costs, fleet, forecast, health, learned, metrics, routeGet, routePost, status, VERSION } from "./api.ts";
import { bearerMatches, type Caller, requireOperator, requireRouteCaller } from "./auth.ts";
import type { Env } from "./env.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { ledgerOf } from "./ledger.ts";
import { deliveryFields, log } from "./log.ts";
import { loadSettings, type Settings, SettingsError } from "./settings.ts";
import { handleWebhook } from "./webhook.ts";

const WEBHOOK_PATH = "/webhook/github";

/** Counts a refused delivery in the Ledger's metrics (`reason`: the error code); a failure to count is logged. */
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

type Context = {
  req: { raw: Request; url: string };
  env: Env;
  get: (k: "settings") => Settings;
  executionCtx: Pick<ExecutionContext, "waitUntil">;
};

/**
 * Who may call a route: anyone (`public`), the API token's holders (`operator`), or those and
 * workflow jobs with a GitHub Actions OIDC token (`route`).
 */
type Access = "public" | "operator" | "route";

/** Every route, the one list: each is registered from it, and so is the `Allow` of its 405. */
export const ROUTES: readonly {
  method: "GET" | "POST";
  path: string;
  access: Access;
  handle: (c: Context, caller: Caller | null) => Response | Promise<Response>;
}[] = [
  { method: "GET", path: "/health", access: "public", handle: (c) => health(c.get("settings")) },
  {
    method: "POST",
    path: WEBHOOK_PATH,
    access: "public",
    handle: (c) => handleWebhook(c.req.raw, c.env, c.get("settings"), c.executionCtx),
  },
  { method: "GET", path: "/status", access: "operator", handle: (c) => status(new URL(c.req.url), c.env) },
  {
    method: "GET",
    path: "/route",
    access: "route",
    handle: (c, caller) => routeGet(new URL(c.req.url), c.env, c.get("settings"), caller),
  },
  {
    method: "POST",
    path: "/route",
    access: "route",
    handle: (c, caller) => routePost(c.req.raw, c.env, c.get("settings"), caller),
  },
  { method: "GET", path: "/fleet", access: "operator", handle: (c) => fleet(new URL(c.req.url), c.env) },
  { method: "GET", path: "/metrics", access: "operator", handle: (c) => metrics(c.env) },
  { method: "GET", path: "/costs", access: "operator", handle: (c) => costs(new URL(c.req.url), c.env) },
  {
    method: "GET",
    path: "/learned",
    access: "operator",
    handle: (c) => learned(new URL(c.req.url), c.env, c.get("settings")),
  },
  {
    method: "GET",
    path: "/forecast",
    access: "operator",
    handle: (c) => forecast(new URL(c.req.url), c.env, c.get("settings")),
  },
];

/** The caller a route's access asks for, or the 401/403 it answers with. */
function callerFor(access: Access, request: Request, settings: Settings): Promise<Caller | null> | null {
  if (access === "operator") return requireOperator(request, settings);
  if (access === "route") return requireRouteCaller(request, settings);
  return null;
}

/** The methods each path answers, as its 405's `Allow` header says them. */
export const ALLOWED: Readonly<Record<string, string>> = (() => {
  const methods = new Map<string, string[]>();
  for (const { method, path } of ROUTES) methods.set(path, [...(methods.get(path) ?? []), method]);
  return Object.fromEntries([...methods].map(([path, list]) => [path, list.join(", ")]));
})();

for (const route of ROUTES) {
  app.on(route.method, route.path, async (c) => {
    const caller = await callerFor(route.access, c.req.raw, c.get("settings"));
    return route.handle(c, caller);
  });
}
for (const [path, allow] of Object.entries(ALLOWED)) {
  app.all(path, () => errorResponse("method_not_allowed", `${path} accepts ${allow}`, { allow }));
}

app.notFound((c) => errorResponse("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));

app.onError((error, c) => {
  if (error instanceof HttpError) {
    if (new URL(c.req.url).pathname === WEBHOOK_PATH) {
      // A refused delivery (4xx) is logged once, by its code and its id and event when they are
      // sane: never its body, other headers or signature. Server-side failures log their own cause.
      if (error.status < 500) {
        const fields = { reason: error.code, status: error.status, ...deliveryFields(c.req.raw.headers) };
        log("warn", "webhook refused", fields);
      }
      // Refused deliveries are counted (never recorded otherwise), after the answer.
      c.executionCtx.waitUntil(countRejection(c.env, error.code));
    }
    return errorResponse(error.code, error.message);
  }
  log("error", "unhandled", { error: error instanceof Error ? error.message : String(error) });
  return errorResponse("internal", "internal error");
});

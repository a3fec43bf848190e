import {
  alerts,
  buildGraph,
  builds,
  costs,
  fleet,
  forecast,
  health,
  installations,
  learned,
  metrics,
  operatorScope,
  organisations,
  publishSimulation,
  queue,
  routeGet,
  routePost,
  type Scope,
  simulation,
  status,
  VERSION,
} from "./api.ts";
import { bearerMatches, type Caller, requireOperator, requireRouteCaller } from "./auth.ts";
import type { Env } from "./env.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { directoryOf } from "./ledger.ts";
import { deliveryFields, log } from "./log.ts";
import { loadSettings, type Settings, SettingsError } from "./settings.ts";
import { handleWebhook } from "./webhook.ts";

const WEBHOOK_PATH = "/webhook/github";

/**
 * Counts a refused delivery in the Ledger's metrics (`reason`: the error code); a failure to
 * count is logged. In the directory's Ledger: nothing a refused delivery says (its repository,
 * its installation) can be trusted to name an organisation.
 */
async function countRejection(env: Env, reason: string): Promise<void> {
  try {
    await directoryOf(env).reject(reason);
  } catch (error) {
    log("warn", "rejection not counted", { reason, error: String(error) });
  }
}

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
  /** The values of the route's `:name` segments, by name. */
  params: Readonly<Record<string, string>>;
  env: Env;
  get: (k: "settings") => Settings;
  executionCtx: Pick<ExecutionContext, "waitUntil">;
};

/**
 * Who may call a route: anyone (`public`), the API token's holders (`operator`), or those and
 * workflow jobs with a GitHub Actions OIDC token (`route`).
 */
type Access = "public" | "operator" | "route";

/**
 * A route that reads one organisation's Ledger: its `?organisation=` is read once, here, before
 * the handler (api.ts `operatorScope`), which gets the rest of the query and finds the Ledger.
 */
const scoped =
  (handle: (c: Context, scope: Scope) => Promise<Response>) =>
  async (c: Context): Promise<Response> =>
    handle(c, operatorScope(new URL(c.req.url), c.env));

/** Every route, the one list: each is registered from it, and so is the `Allow` of its 405. */
export const ROUTES: readonly {
  method: "GET" | "POST" | "PUT";
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
  {
    method: "GET",
    path: "/status",
    access: "operator",
    handle: scoped((c, scope) => status(scope, c.env)),
  },
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
  { method: "GET", path: "/fleet", access: "operator", handle: scoped((_c, scope) => fleet(scope)) },
  { method: "GET", path: "/metrics", access: "operator", handle: scoped((_c, scope) => metrics(scope)) },
  { method: "GET", path: "/costs", access: "operator", handle: scoped((_c, scope) => costs(scope)) },
  {
    method: "GET",
    path: "/learned",
    access: "operator",
    handle: scoped((c, scope) => learned(scope, c.get("settings"))),
  },
  {
    method: "GET",
    path: "/forecast",
    access: "operator",
    handle: scoped((c, scope) => forecast(scope, c.get("settings"))),
  },
  { method: "GET", path: "/builds", access: "operator", handle: scoped((_c, scope) => builds(scope)) },
  {
    method: "GET",
    path: "/builds/:id/graph",
    access: "operator",
    handle: scoped((c, scope) => buildGraph(c.params.id ?? "", scope, c.env)),
  },
  {
    method: "GET",
    path: "/queue",
    access: "operator",
    handle: scoped((c, scope) => queue(scope, c.get("settings"))),
  },
  { method: "GET", path: "/alerts", access: "operator", handle: scoped((_c, scope) => alerts(scope)) },
  {
    method: "GET",
    path: "/installations",
    access: "operator",
    handle: scoped((_c, scope) => installations(scope)),
  },
  { method: "GET", path: "/simulation", access: "operator", handle: scoped((_c, scope) => simulation(scope)) },
  {
    method: "PUT",
    path: "/simulation",
    access: "operator",
    handle: scoped((c, scope) => publishSimulation(scope, c.req.raw)),
  },
  {
    method: "GET",
    path: "/organisations",
    access: "operator",
    handle: (c) => organisations(new URL(c.req.url), c.env),
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

/** Each path's routes by method, from {@link ROUTES}. */
const BY_PATH = new Map<string, Map<string, (typeof ROUTES)[number]>>();
for (const route of ROUTES) {
  const methods = BY_PATH.get(route.path) ?? new Map<string, (typeof ROUTES)[number]>();
  methods.set(route.method, route);
  BY_PATH.set(route.path, methods);
}

/** The paths with a `:name` segment (`/builds/:id/graph`), split into segments once. */
const PATTERNS = [...BY_PATH.keys()]
  .filter((path) => path.includes("/:"))
  .map((path) => ({ path, parts: path.split("/") }));

/**
 * The route path a request's path is, and the values of its `:name` segments: a fixed path by
 * look-up, else the first pattern whose segments it has (a `:name` segment stands for any one
 * non-empty segment, percent-decoded). Undefined for none.
 */
function routeOf(pathname: string): { path: string; params: Record<string, string> } | undefined {
  if (BY_PATH.has(pathname)) return { path: pathname, params: {} };
  const parts = pathname.split("/");
  for (const pattern of PATTERNS) {
    if (pattern.parts.length !== parts.length) continue;
    const params = Object.create(null) as Record<string, string>;
    const fits = pattern.parts.every((part, i) => {
      const segment = parts[i] as string;
      if (!part.startsWith(":")) return part === segment;
      if (segment === "") return false;
      params[part.slice(1)] = decodeSegment(segment);
      return true;
    });
    if (fits) return { path: pattern.path, params };
  }
  return undefined;
}

/** A path segment percent-decoded; as written when it does not decode (the handler refuses it). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The HTTP surface: settings, then the route for the request's path and method (a HEAD is
 * answered as its GET, without the body), its caller's access, and the single mapping from
 * errors to answers. The paths are fixed strings, or fixed but for a `:name` segment
 * ({@link routeOf}), so a look-up in {@link BY_PATH} and a walk of a few patterns is the whole
 * router: no routing library is bundled for it.
 */
export const app = {
  async fetch(request: Request, env: Env, ctx: Pick<ExecutionContext, "waitUntil">): Promise<Response> {
    let settings: Settings;
    try {
      settings = loadSettings(env);
    } catch (error) {
      if (!(error instanceof SettingsError)) throw error;
      return misconfigured(request, error);
    }
    const { pathname } = new URL(request.url);
    const found = routeOf(pathname);
    const params = found?.params ?? {};
    const c: Context = { req: { raw: request, url: request.url }, params, env, executionCtx: ctx, get: () => settings };
    try {
      const methods = found === undefined ? undefined : BY_PATH.get(found.path);
      if (found === undefined || methods === undefined) {
        return errorResponse("not_found", `no route for ${request.method} ${pathname}`);
      }
      const head = request.method === "HEAD";
      const route = methods.get(head ? "GET" : request.method);
      if (route === undefined) {
        const allow = ALLOWED[found.path] ?? "";
        return errorResponse("method_not_allowed", `${pathname} accepts ${allow}`, { allow });
      }
      const caller = await callerFor(route.access, request, settings);
      const response = await route.handle(c, caller);
      return head ? new Response(null, response) : response;
    } catch (error) {
      return answerError(error, c);
    }
  },
};

/** The answer to an error thrown while handling a request: its code's, or 500 for anything unforeseen (logged). */
function answerError(error: unknown, c: Context): Response {
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
}

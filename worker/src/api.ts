import type { Caller } from "./auth.ts";
import { BUILD_KEY_PREFIX } from "./bindings.ts";
import { bodyText, decodePayload, readBody } from "./body.ts";
import { changesForCommit } from "./changes.ts";
import {
  BUILD_ID,
  type BuildRecord,
  checkSimulation,
  type Decision,
  type FleetSnapshot,
  grantRoute,
  isRepository,
  isSha,
  PAYLOAD_LIMITS,
  parseAlertQuery,
  parseBuildQuery,
  parseForecastHours,
  parseJobId,
  parseNoQuery,
  parsePeriod,
  parseQueueQuery,
  parseRouteRequest,
  policyFor,
  pricingOf,
  type RoutingInput,
  type RoutingPolicy,
  route,
  routeInput,
  SIMULATION_LIMITS,
} from "./core/index.ts";
import type { Env } from "./env.ts";
import { HttpError, valueOr } from "./errors.ts";
import { ledgerOf } from "./ledger.ts";
import type { Settings } from "./settings.ts";

export const VERSION = "0.1.0";

/** A suggestion request body is small; refuse anything over 1 MiB. */
const MAX_ROUTE_BODY = 1024 * 1024;
/** The longest build id there is: 12 characters of a commit, a dash, a 128-character delivery id. */
const MAX_BUILD_ID = 141;

export function health(settings: Settings): Response {
  return Response.json({
    status: "ok",
    mode: settings.mode,
    version: VERSION,
    github_api: settings.github !== null,
    discord: settings.discordWebhookUrl !== null,
  });
}

/** `GET /status?build_id=`: the live record from the Ledger, or the KV copy. */
export async function status(url: URL, env: Env): Promise<Response> {
  const id = url.searchParams.get("build_id");
  if (!id) throw new HttpError("missing_parameter", "query parameter build_id is required");
  if (id.length > MAX_BUILD_ID)
    throw new HttpError("invalid_request", `build_id is longer than ${MAX_BUILD_ID} characters`);
  const live = await ledgerOf(env).build(id);
  const build = live ?? (await env.CI_STATE.get<BuildRecord>(`${BUILD_KEY_PREFIX}${id}`, "json"));
  if (build === null) throw new HttpError("build_not_found", `no build ${id} in the last 24 hours`);
  return Response.json(build);
}

/**
 * What a route request asks of the Ledger, once its caller may ask it: an OIDC token's ids to
 * hold it to, and the calling job (named in the request, else the token's own job) to record as
 * a routing job. An operator may name any job; a job's token only itself.
 */
function routeAsk(settings: Settings, caller: Caller | null, repository: string, jobId: number | null) {
  if (caller?.kind !== "job") return { pins: [], routingJob: jobId };
  const routingJob = jobId ?? caller.identity.checkRunId;
  const grant = valueOr(grantRoute(settings.config, caller.identity, repository, routingJob));
  return { pins: grant.pins, routingJob };
}

/** The answer's common part: the decision, its prices, and the routing job recorded. */
function routeAnswer(decision: Decision, policy: RoutingPolicy, routingJob: number | null) {
  return { decision, routing_job: routingJob, pricing: pricingOf(policy.runners, decision.runner) };
}

/**
 * The decision for a change a route request describes: a repository that learns is decided in
 * the Ledger, where its history is (read by key); any other here, with the load the Ledger gave.
 */
async function decideRoute(
  env: Env,
  settings: Settings,
  input: RoutingInput,
  policy: RoutingPolicy,
  snapshot: FleetSnapshot,
): Promise<Decision> {
  if (policy.learning?.enabled) return ledgerOf(env).decide(input, settings.routing);
  return route(input, policy, snapshot);
}

/** `POST /route`: a decision for a described change, with the fleet's load. Records only the routing job. */
export async function routePost(
  request: Request,
  env: Env,
  settings: Settings,
  caller: Caller | null,
): Promise<Response> {
  const text = bodyText(await readBody(request, MAX_ROUTE_BODY));
  if (text === null) throw new HttpError("invalid_body", "body is not UTF-8 text");
  const body = decodePayload(request.headers.get("content-type"), text);
  const asked = valueOr(parseRouteRequest(body));
  const ask = routeAsk(settings, caller, asked.repository, asked.job_id ?? null);
  const { snapshot, routingJob } = valueOr(await ledgerOf(env).routeContext(asked.repository, null, ask));
  const { files, sha, repository } = asked;
  const listed = files === undefined && sha ? await changesForCommit(repository, sha, settings) : undefined;
  const input = routeInput(asked, listed);
  const policy = policyFor(settings.config, input.repository);
  const decision = await decideRoute(env, settings, input, policy, snapshot);
  return Response.json(routeAnswer(decision, policy, routingJob));
}

/**
 * `GET /route?repository=&sha=[&ref=][&job_id=]`: the decision recorded for a commit, computed
 * when there is none (from the commit's own files, as GitHub lists them).
 */
export async function routeGet(url: URL, env: Env, settings: Settings, caller: Caller | null): Promise<Response> {
  const repository = url.searchParams.get("repository");
  const sha = url.searchParams.get("sha");
  if (!repository || !sha) throw new HttpError("missing_parameter", "query parameters repository and sha are required");
  if (!isRepository(repository)) throw new HttpError("invalid_request", 'repository must be "owner/name"');
  if (!isSha(sha)) throw new HttpError("invalid_request", "sha must be a hex commit id");
  const ref = url.searchParams.get("ref");
  if (ref !== null && ref.length > PAYLOAD_LIMITS.ref) {
    throw new HttpError("invalid_request", `ref is longer than ${PAYLOAD_LIMITS.ref} characters`);
  }
  const jobId = valueOr(parseJobId(url.searchParams.get("job_id")));
  const ask = routeAsk(settings, caller, repository, jobId);
  const context = valueOr(await ledgerOf(env).routeContext(repository, sha, ask));
  const policy = policyFor(settings.config, repository);
  const recorded = context.build;
  if (recorded?.decision) {
    return Response.json({
      build_id: recorded.build_id,
      recorded: true,
      ...routeAnswer(recorded.decision, policy, context.routingJob),
    });
  }
  const changes = await changesForCommit(repository, sha, settings);
  const input = { repository, event: "push", ref: ref?.startsWith("refs/") ? ref : null, sha, changes };
  const decision = await decideRoute(env, settings, input, policy, context.snapshot);
  return Response.json({ build_id: null, recorded: false, ...routeAnswer(decision, policy, context.routingJob) });
}

/** `GET /fleet[?repository=]`: per runner class, capacity, busy, free, queued and its machines. */
export async function fleet(url: URL, env: Env): Promise<Response> {
  const repository = url.searchParams.get("repository");
  if (repository !== null && !isRepository(repository)) {
    throw new HttpError("invalid_request", 'repository must be "owner/name"');
  }
  return Response.json(await ledgerOf(env).fleetView(repository));
}

/**
 * `GET /learned?repository=`: the learned router's rows a decision for the repository may read
 * (its rosters and the organisation's, its jobs' estimates on every class of its policy), as the
 * learner's own rows (`{repository, enabled, entries, rosters}`), for operators and for
 * `npm run explain -- --url`, which decides with them as the Ledger would.
 */
export async function learned(url: URL, env: Env, settings: Settings): Promise<Response> {
  const repository = url.searchParams.get("repository");
  if (!repository) throw new HttpError("missing_parameter", "query parameter repository is required");
  if (!isRepository(repository)) throw new HttpError("invalid_request", 'repository must be "owner/name"');
  return Response.json(await ledgerOf(env).learned(repository, settings.routing));
}

/** `GET /metrics`: Prometheus text exposition 0.0.4. */
export async function metrics(env: Env): Promise<Response> {
  const text = await ledgerOf(env).exposition();
  return new Response(text, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
}

/**
 * `GET /forecast[?hours=N]`: expected job starts per runner class for the coming N hours (default
 * 6, at most 48), for sizing warm pools; never a reason to scale down (the answer's `note` says so).
 */
export async function forecast(url: URL, env: Env, settings: Settings): Promise<Response> {
  const hours = valueOr(parseForecastHours(url.searchParams.get("hours")));
  return Response.json(await ledgerOf(env).forecast(hours, settings.routing));
}

/** `GET /costs?period=`: the cost ledger for a period, against running everything on GitHub-hosted runners. */
export async function costs(url: URL, env: Env): Promise<Response> {
  const period = valueOr(parsePeriod(url.searchParams.get("period"), new Date()));
  const report = await ledgerOf(env).costsFor(period.start, period.end);
  return Response.json({ ...report, period: { ...report.period, label: period.label } });
}

/**
 * `GET /builds[?repository=&runner=&requirement=&status=&conclusion=&since=&until=&limit=&cursor=]`:
 * the summaries of the last 31 days' builds, newest first, a page at a time (`next_cursor`).
 */
export async function builds(url: URL, env: Env): Promise<Response> {
  const query = valueOr(parseBuildQuery([...url.searchParams]));
  return Response.json(await ledgerOf(env).listBuilds(query));
}

/**
 * `GET /builds/<id>/graph`: a build, the build that dispatched it (`upstream`) and the workflows
 * its push dispatched (`downstream`, at most 16), from the Ledger (the record's KV copy when the
 * Ledger no longer holds it). 400 for an id no build could have, 404 for an unknown build.
 */
export async function buildGraph(id: string, url: URL, env: Env): Promise<Response> {
  valueOr(parseNoQuery([...url.searchParams]));
  if (!BUILD_ID.test(id)) {
    throw new HttpError("invalid_request", "a build id is up to 12 of a-z0-9 (its commit), '-', and a delivery id");
  }
  const ledger = ledgerOf(env);
  let graph = await ledger.graph(id);
  if (graph === null) {
    const copy = await env.CI_STATE.get<BuildRecord>(`${BUILD_KEY_PREFIX}${id}`, "json");
    if (copy !== null) graph = await ledger.graph(id, copy);
  }
  if (graph === null) throw new HttpError("build_not_found", `no build ${id} in the last 24 hours`);
  return Response.json(graph);
}

/**
 * `GET /queue[?hours=N]`: per runner class of the pool, how long jobs waited for a runner in
 * each of the last N hours (default 24, at most 48), and the jobs queued now past their target.
 */
export async function queue(url: URL, env: Env, settings: Settings): Promise<Response> {
  const { hours } = valueOr(parseQueueQuery([...url.searchParams]));
  return Response.json(await ledgerOf(env).queueView(hours, settings.routing));
}

/** `GET /alerts[?status=&limit=]`: the latest Discord alerts and where they are, newest first; never their messages. */
export async function alerts(url: URL, env: Env): Promise<Response> {
  const { status, limit } = valueOr(parseAlertQuery([...url.searchParams]));
  return Response.json({ alerts: await ledgerOf(env).alerts(status, limit) });
}

/** `GET /simulation`: the last simulation an operator published, for the dashboard. */
export async function simulation(url: URL, env: Env): Promise<Response> {
  valueOr(parseNoQuery([...url.searchParams]));
  const last = await ledgerOf(env).simulation();
  if (last === null) {
    throw new HttpError(
      "simulation_not_found",
      "no simulation was published yet: PUT /simulation the document of npm run simulate -- --json",
    );
  }
  return Response.json(last);
}

/**
 * `PUT /simulation`: publishes the document of `npm run simulate -- --json` (at most 256 KiB),
 * replacing the last one. A body that is not such a document changes nothing.
 */
export async function publishSimulation(url: URL, request: Request, env: Env): Promise<Response> {
  valueOr(parseNoQuery([...url.searchParams]));
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type !== "application/json") {
    throw new HttpError("unsupported_media_type", "content type must be application/json");
  }
  const text = bodyText(await readBody(request, SIMULATION_LIMITS.bytes));
  if (text === null) throw new HttpError("invalid_body", "body is not UTF-8 text");
  const document = valueOr(checkSimulation(decodePayload(type, text)));
  const { published_at } = await ledgerOf(env).publishSimulation(document);
  return Response.json({ published_at });
}

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
  isOwner,
  isRepository,
  isSha,
  organisationOf,
  organisationRequiredMessage,
  PAYLOAD_LIMITS,
  parseAlertQuery,
  parseBuildQuery,
  parseForecastHours,
  parseInstallationQuery,
  parseJobId,
  parseNoQuery,
  parseOrganisationParam,
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
import { directoryOf, type LedgerStub, ledgerFor, ledgerNamed, ledgerNameFor, listedLedger } from "./ledger.ts";
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

/** The Ledger an operator request reads: its instance, its name, and the organisation it is read for. */
export interface ScopedLedger {
  stub: LedgerStub;
  name: string;
  /** The organisation asked for, or the one the default found; null while the directory lists none. */
  organisation: string | null;
}

/**
 * An operator request's query without `organisation`, which is read here, once, for every
 * endpoint (each endpoint's own parser, which refuses what it does not take, reads the rest),
 * and its Ledger, found when the endpoint asks for it: after it has read its own query, so that
 * a bad one is answered as such, and costs no call.
 */
export interface Scope {
  url: URL;
  ledger(): Promise<ScopedLedger>;
}

/**
 * `?organisation=`: the Ledger of the organisation named (404 `organisation_not_found` for one
 * the directory does not list, 400 `invalid_request` for a name no organisation could have).
 * Without it: the only organisation the directory lists, or the directory's own Ledger while it
 * lists none; with several, the organisation of the `repository` the query names when it is
 * listed, else 400 `organisation_required` naming them.
 */
export function operatorScope(url: URL, env: Env): Scope {
  const organisation = valueOr(parseOrganisationParam(url.searchParams.getAll("organisation")));
  const rest = new URL(url);
  if (rest.searchParams.has("organisation")) rest.searchParams.delete("organisation");
  let found: Promise<ScopedLedger> | undefined;
  const find = async (): Promise<ScopedLedger> => {
    if (organisation !== null) return { ...(await listedLedger(env, organisation)), organisation };
    const repository = rest.searchParams.get("repository");
    const hint = repository !== null && isRepository(repository) ? organisationOf(repository) : null;
    const answer = await directoryOf(env).defaultOrganisation(hint);
    if (answer.kind === "several") {
      throw new HttpError("organisation_required", organisationRequiredMessage(answer.listed, answer.total));
    }
    return { stub: ledgerNamed(env, answer.ledger), name: answer.ledger, organisation: answer.organisation };
  };
  return {
    url: rest,
    ledger: () => {
      found ??= find();
      return found;
    },
  };
}

/**
 * A build's KV copy, when the scope's Ledger is the one that serves its repository: KV is shared
 * by every organisation, and one organisation's request must not show another's build.
 */
async function copyInScope(env: Env, scope: ScopedLedger, id: string): Promise<BuildRecord | null> {
  const copy = await env.CI_STATE.get<BuildRecord>(`${BUILD_KEY_PREFIX}${id}`, "json");
  if (copy === null || scope.organisation === null) return copy;
  const organisation = organisationOf(copy.repository);
  if (organisation === scope.organisation) return copy;
  const served = isOwner(organisation) ? await ledgerNameFor(env, organisation, false) : null;
  return served === scope.name ? copy : null;
}

/** `GET /organisations`: every organisation the directory lists, its Ledger and when it was first seen, by name. */
export async function organisations(url: URL, env: Env): Promise<Response> {
  valueOr(parseNoQuery([...url.searchParams]));
  const { total, organisations } = await directoryOf(env).organisationList();
  return Response.json({ total, organisations });
}

/** `GET /status?build_id=`: the live record from the Ledger, or the KV copy. */
export async function status({ url, ledger }: Scope, env: Env): Promise<Response> {
  const id = url.searchParams.get("build_id");
  if (!id) throw new HttpError("missing_parameter", "query parameter build_id is required");
  if (id.length > MAX_BUILD_ID)
    throw new HttpError("invalid_request", `build_id is longer than ${MAX_BUILD_ID} characters`);
  const scoped = await ledger();
  const live = await scoped.stub.build(id);
  const build = live ?? (await copyInScope(env, scoped, id));
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
  ledger: LedgerStub,
  settings: Settings,
  input: RoutingInput,
  policy: RoutingPolicy,
  snapshot: FleetSnapshot,
): Promise<Decision> {
  if (policy.learning?.enabled) return ledger.decide(input, settings.routing);
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
  // The repository's organisation's Ledger: its fleet, and where its routing job is recorded.
  const ledger = await ledgerFor(env, organisationOf(asked.repository));
  const { snapshot, routingJob } = valueOr(await ledger.routeContext(asked.repository, null, ask));
  const { files, sha, repository } = asked;
  const listed = files === undefined && sha ? await changesForCommit(repository, sha, settings) : undefined;
  const input = routeInput(asked, listed);
  const policy = policyFor(settings.config, input.repository);
  const decision = await decideRoute(ledger, settings, input, policy, snapshot);
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
  const ledger = await ledgerFor(env, organisationOf(repository));
  const context = valueOr(await ledger.routeContext(repository, sha, ask));
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
  const decision = await decideRoute(ledger, settings, input, policy, context.snapshot);
  return Response.json({ build_id: null, recorded: false, ...routeAnswer(decision, policy, context.routingJob) });
}

/** `GET /fleet[?repository=]`: per runner class, capacity, busy, free, queued and its machines. */
export async function fleet({ url, ledger }: Scope): Promise<Response> {
  const repository = url.searchParams.get("repository");
  if (repository !== null && !isRepository(repository)) {
    throw new HttpError("invalid_request", 'repository must be "owner/name"');
  }
  return Response.json(await (await ledger()).stub.fleetView(repository));
}

/**
 * `GET /learned?repository=`: the learned router's rows a decision for the repository may read
 * (its rosters and the organisation's, its jobs' estimates on every class of its policy), as the
 * learner's own rows (`{repository, enabled, entries, rosters}`), for operators and for
 * `npm run explain -- --url`, which decides with them as the Ledger would.
 */
export async function learned({ url, ledger }: Scope, settings: Settings): Promise<Response> {
  const repository = url.searchParams.get("repository");
  if (!repository) throw new HttpError("missing_parameter", "query parameter repository is required");
  if (!isRepository(repository)) throw new HttpError("invalid_request", 'repository must be "owner/name"');
  return Response.json(await (await ledger()).stub.learned(repository, settings.routing));
}

/** `GET /metrics`: Prometheus text exposition 0.0.4. */
export async function metrics({ ledger }: Scope): Promise<Response> {
  const text = await (await ledger()).stub.exposition();
  return new Response(text, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
}

/**
 * `GET /forecast[?hours=N]`: expected job starts per runner class for the coming N hours (default
 * 6, at most 48), for sizing warm pools; never a reason to scale down (the answer's `note` says so).
 */
export async function forecast({ url, ledger }: Scope, settings: Settings): Promise<Response> {
  const hours = valueOr(parseForecastHours(url.searchParams.get("hours")));
  return Response.json(await (await ledger()).stub.forecast(hours, settings.routing));
}

/** `GET /costs?period=`: the cost ledger for a period, against running everything on GitHub-hosted runners. */
export async function costs({ url, ledger }: Scope): Promise<Response> {
  const period = valueOr(parsePeriod(url.searchParams.get("period"), new Date()));
  const report = await (await ledger()).stub.costsFor(period.start, period.end);
  return Response.json({ ...report, period: { ...report.period, label: period.label } });
}

/**
 * `GET /builds[?repository=&runner=&requirement=&status=&conclusion=&since=&until=&limit=&cursor=]`:
 * the summaries of the last 31 days' builds, newest first, a page at a time (`next_cursor`).
 */
export async function builds({ url, ledger }: Scope): Promise<Response> {
  const query = valueOr(parseBuildQuery([...url.searchParams]));
  return Response.json(await (await ledger()).stub.listBuilds(query));
}

/**
 * `GET /builds/<id>/graph`: a build, the build that dispatched it (`upstream`) and the workflows
 * its push dispatched (`downstream`, at most 16), from the Ledger (the record's KV copy when the
 * Ledger no longer holds it). 400 for an id no build could have, 404 for an unknown build.
 */
export async function buildGraph(id: string, scope: Scope, env: Env): Promise<Response> {
  valueOr(parseNoQuery([...scope.url.searchParams]));
  if (!BUILD_ID.test(id)) {
    throw new HttpError("invalid_request", "a build id is up to 12 of a-z0-9 (its commit), '-', and a delivery id");
  }
  const scoped = await scope.ledger();
  let graph = await scoped.stub.graph(id);
  if (graph === null) {
    const copy = await copyInScope(env, scoped, id);
    if (copy !== null) graph = await scoped.stub.graph(id, copy);
  }
  if (graph === null) throw new HttpError("build_not_found", `no build ${id} in the last 24 hours`);
  return Response.json(graph);
}

/**
 * `GET /queue[?hours=N]`: per runner class of the pool, how long jobs waited for a runner in
 * each of the last N hours (default 24, at most 48), and the jobs queued now past their target.
 */
export async function queue({ url, ledger }: Scope, settings: Settings): Promise<Response> {
  const { hours } = valueOr(parseQueueQuery([...url.searchParams]));
  return Response.json(await (await ledger()).stub.queueView(hours, settings.routing));
}

/** `GET /alerts[?status=&limit=]`: the latest Discord alerts and where they are, newest first; never their messages. */
export async function alerts({ url, ledger }: Scope): Promise<Response> {
  const { status, limit } = valueOr(parseAlertQuery([...url.searchParams]));
  return Response.json({ alerts: await (await ledger()).stub.alerts(status, limit) });
}

/**
 * `GET /installations[?status=&limit=]`: the GitHub App installations this Ledger knows, by
 * account, each with its status, how many repositories it serves and the first 100 of them,
 * for an operator checking an organisation's onboarding.
 */
export async function installations({ url, ledger }: Scope): Promise<Response> {
  const { status, limit } = valueOr(parseInstallationQuery([...url.searchParams]));
  return Response.json({ installations: await (await ledger()).stub.installations(status, limit) });
}

/** `GET /simulation`: the last simulation an operator published, for the dashboard. */
export async function simulation({ url, ledger }: Scope): Promise<Response> {
  valueOr(parseNoQuery([...url.searchParams]));
  const last = await (await ledger()).stub.simulation();
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
export async function publishSimulation({ url, ledger }: Scope, request: Request): Promise<Response> {
  valueOr(parseNoQuery([...url.searchParams]));
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type !== "application/json") {
    throw new HttpError("unsupported_media_type", "content type must be application/json");
  }
  const text = bodyText(await readBody(request, SIMULATION_LIMITS.bytes));
  if (text === null) throw new HttpError("invalid_body", "body is not UTF-8 text");
  const document = valueOr(checkSimulation(decodePayload(type, text)));
  const { published_at } = await (await ledger()).stub.publishSimulation(document);
  return Response.json({ published_at });
}

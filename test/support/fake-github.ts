import { decodeJwt, importSPKI, jwtVerify } from "jose";

/**
 * A stand-in for GitHub's REST API, answering the listings the Worker asks for from a fixed
 * table. Tests name a repository to pick a behaviour:
 * - `acme/many-files`: a pull request or commit with `number` files (`/pulls/{number}/files`).
 * - `acme/gpu-pr`: pull request files that include CUDA sources.
 * - `acme/broken`: every call answers 500.
 * - `acme/limited`: every call answers 403 (rate limited).
 * - `acme/missing`: every call answers 404.
 * - `acme/echo`: every call answers 401 with the request's Authorization header in its body and
 *   in a header, as a misbehaving proxy might: what the Worker does with an answer it cannot
 *   trust.
 * - `acme/slow`: answers after SLOW_GITHUB_MS, past the Worker's listing budget.
 * - `acme/fleet`: a Dockerfile and a source file (docker work, for the load-aware routing tests).
 * - any other repository: two documentation files.
 *
 * Workflow runs: `POST /repos/{repo}/actions/runs/{id}/cancel` answers 202 and `…/rerun` 201
 * (500 for `acme/broken`); every such call is recorded in memory, by run id, and listed by
 * `GET {FAKE_GITHUB_URL}/__calls/{id}` (no token needed) as `[{method, path}]`, oldest first.
 *
 * Self-hosted runners: `GET /orgs/acme/actions/runners` lists {@link FAKE_ORG_RUNNERS} in pages
 * (`per_page`, `page`); `/orgs/broken/…` answers 500; any other organization 404.
 *
 * Jobs: `GET /repos/{repo}/actions/jobs/{id}` answers what a test put there with
 * `PUT {FAKE_GITHUB_URL}/__jobs/{id}` (a JSON job, as GitHub's API gives it; no token needed),
 * else 404; `acme/broken` answers 500. `GET {FAKE_GITHUB_URL}/__jobs/{id}/calls` counts the
 * look-ups of a job.
 *
 * Dispatches and commit statuses: `POST /repos/{repo}/actions/workflows/{workflow}/dispatches`
 * answers 204 and `POST /repos/{repo}/statuses/{sha}` 201, each recording `{path, body}`, listed
 * by `GET {FAKE_GITHUB_URL}/__writes/{owner}/{name}` (no token needed), oldest first. A target
 * repository named `…-422` answers 422 (GitHub's message for a workflow without a
 * `workflow_dispatch` trigger), `…-429` 429 with `Retry-After: 1`, `acme/broken` 500.
 *
 * Check runs: `POST /repos/{repo}/check-runs` answers 201 with the check run (ids 1, 2, … in the
 * order created, across repositories), `PATCH /repos/{repo}/check-runs/{id}` 200 (404 for an id
 * not created on that repository), and `GET /repos/{repo}/commits/{sha}/check-runs?check_name=…`
 * lists the check runs created on that commit under that name. Every such call is recorded as
 * `{method, path, body, token, status}` (`body` null for a GET) and listed by
 * `GET {FAKE_GITHUB_URL}/__check-runs/{owner}/{name}` (no token needed), oldest first.
 * `POST {FAKE_GITHUB_URL}/__check-runs/{owner}/{name}/fail` with `{status, times}` makes the next
 * `times` check-run writes (POST, PATCH) on that repository answer `status` without creating or
 * changing anything: 403 with `retry-after: 1` (GitHub's secondary rate limit), or a plain 500.
 *
 * Every answer carries `X-RateLimit-Remaining`, as GitHub's do: 4999, or 0 for `acme/limited`.
 *
 * GitHub Apps: a test registers an App with `PUT {FAKE_GITHUB_URL}/__apps/{appId}` and
 * `{publicKey, expiresInSeconds?}` (SPKI PEM; tokens live an hour unless it says). Then
 * `POST /app/installations/{id}/access_tokens` verifies the App JWT with that key (RS256, `iss`
 * the App id, `exp − iat` at most 600 s) and answers 201 `{token, expires_at}`, a new token
 * `ghs_{appId}_{installation}_{n}` each time. `GET …/__apps/{appId}/mints` counts the mints
 * by installation; `POST …/__apps/{appId}/refuse` with `{token}` makes the next call carrying
 * that token answer 401 (once). `GET …/__tokens/{owner}/{name}` lists `{path, token, status}`
 * for every call on that repository, oldest first: which token each call carried.
 */
export const FAKE_GITHUB_URL = "https://github.test";

/** What the fake reports as `X-RateLimit-Remaining` (for any repository but `acme/limited`). */
export const FAKE_RATE_LIMIT_REMAINING = 4999;

/** How long `acme/slow` takes to answer: longer than the Worker's 4 s budget. */
export const SLOW_GITHUB_MS = 6_000;

/** The runners of organization `acme`: `acme-1` … `acme-120`; every third one (`acme-3`, …) is offline. */
export const FAKE_ORG_RUNNERS = Array.from({ length: 120 }, (_, i) => ({
  id: i + 1,
  name: `acme-${i + 1}`,
  os: "linux",
  status: (i + 1) % 3 === 0 ? "offline" : "online",
  busy: (i + 1) % 5 === 0,
  labels: [
    { id: 1, name: "self-hosted", type: "read-only" },
    { id: 2, name: "vps", type: "custom" },
  ],
}));

/** Write calls on workflow runs, by run id. */
const runCalls = new Map<string, { method: string; path: string }[]>();
/** Dispatches and commit statuses posted, by repository. */
const writes = new Map<string, { path: string; body: unknown }[]>();
/** What `GET …/actions/jobs/{id}` answers, by job id, and how often it was asked. */
const jobs = new Map<string, unknown>();
const jobLookups = new Map<string, number>();

/** Check-run calls by repository, the check runs created (by id), and the failures owed per repository. */
const checkRunCalls = new Map<
  string,
  { method: string; path: string; body: unknown; token: string; status: number }[]
>();
const checkRuns = new Map<
  number,
  { id: number; repository: string; head_sha: string; name: string; external_id: string }
>();
let nextCheckRunId = 1;
const checkRunFailures = new Map<string, { status: number; times: number }>();

/** Registered Apps by id: their public key, how long their tokens live, and the mints by installation. */
const apps = new Map<
  string,
  { key: Awaited<ReturnType<typeof importSPKI>>; expiresInSeconds: number; mints: Map<string, number> }
>();
/** Tokens whose next call answers 401. */
const refused = new Set<string>();
/** Every call on a repository: its path, the bearer token it carried, and the status answered. */
const tokensSeen = new Map<string, { path: string; token: string; status: number }[]>();

export async function fakeGitHub(request: Request): Promise<Response> {
  if (new URL(request.url).pathname.startsWith("/repos/acme/slow/")) {
    await new Promise((resolve) => setTimeout(resolve, SLOW_GITHUB_MS));
  }
  const response = await answer(request);
  noteToken(request, response.status);
  const limited = new URL(request.url).pathname.startsWith("/repos/acme/limited/");
  const headers = new Headers(response.headers);
  headers.set("x-ratelimit-remaining", String(limited ? 0 : FAKE_RATE_LIMIT_REMAINING));
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function answer(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.origin !== FAKE_GITHUB_URL) {
    return new Response(`unexpected outbound request to ${url.origin}`, { status: 599 });
  }
  const calls = /^\/__calls\/(\d+)$/.exec(url.pathname);
  if (calls !== null && request.method === "GET") return Response.json(runCalls.get(calls[1] ?? "") ?? []);
  const written = /^\/__writes\/([^/]+\/[^/]+)$/.exec(url.pathname);
  if (written !== null && request.method === "GET") return Response.json(writes.get(written[1] ?? "") ?? []);
  const control = /^\/__jobs\/(\d+)(\/calls)?$/.exec(url.pathname);
  if (control !== null) {
    const [, id = "", counted] = control;
    if (counted) return Response.json({ lookups: jobLookups.get(id) ?? 0 });
    if (request.method === "PUT") {
      jobs.set(id, await request.json());
      return new Response(null, { status: 204 });
    }
  }
  const app = await appControl(request, url);
  if (app !== null) return app;
  const checkRunControl = /^\/__check-runs\/([^/]+\/[^/]+)(\/fail)?$/.exec(url.pathname);
  if (checkRunControl !== null) {
    const [, repository = "", failing] = checkRunControl;
    if (failing === undefined) return Response.json(checkRunCalls.get(repository) ?? []);
    checkRunFailures.set(repository, (await request.json()) as { status: number; times: number });
    return new Response(null, { status: 204 });
  }
  if (!request.headers.get("authorization")?.startsWith("Bearer ")) {
    return Response.json({ message: "Requires authentication" }, { status: 401 });
  }
  const mint = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
  if (mint !== null && request.method === "POST") return mintToken(request, mint[1] ?? "");
  const bearer = request.headers.get("authorization")?.slice("Bearer ".length) ?? "";
  if (refused.delete(bearer)) return Response.json({ message: "Bad credentials" }, { status: 401 });
  const page = Number(url.searchParams.get("page") ?? "1");
  const perPage = Number(url.searchParams.get("per_page") ?? "30");

  const checkRun = await checkRunCall(request, url, bearer);
  if (checkRun !== null) return checkRun;
  const runAction = /^\/repos\/([^/]+\/[^/]+)\/actions\/runs\/(\d+)\/(cancel|rerun)$/.exec(url.pathname);
  if (runAction !== null) {
    const [, repository, runId = "", action] = runAction;
    if (request.method !== "POST") return Response.json({ message: "Not Found" }, { status: 404 });
    runCalls.set(runId, [...(runCalls.get(runId) ?? []), { method: request.method, path: url.pathname }]);
    if (repository === "acme/broken") return Response.json({ message: "boom" }, { status: 500 });
    return action === "cancel" ? Response.json({}, { status: 202 }) : new Response(null, { status: 201 });
  }
  const write = /^\/repos\/([^/]+\/[^/]+)\/(actions\/workflows\/[^/]+\/dispatches|statuses\/[0-9a-f]+)$/.exec(
    url.pathname,
  );
  if (write !== null && request.method === "POST") {
    const [, repository = "", what = ""] = write;
    writes.set(repository, [...(writes.get(repository) ?? []), { path: url.pathname, body: await request.json() }]);
    if (repository === "acme/broken") return Response.json({ message: "boom" }, { status: 500 });
    if (repository.endsWith("-422")) {
      return Response.json({ message: "Workflow does not have 'workflow_dispatch' trigger" }, { status: 422 });
    }
    if (repository.endsWith("-429")) {
      return Response.json({ message: "slow down" }, { status: 429, headers: { "retry-after": "1" } });
    }
    return what.startsWith("statuses/")
      ? Response.json({ state: "ok" }, { status: 201 })
      : new Response(null, { status: 204 });
  }
  const job = /^\/repos\/([^/]+\/[^/]+)\/actions\/jobs\/(\d+)$/.exec(url.pathname);
  if (job !== null && request.method === "GET") {
    const [, repository, id = ""] = job;
    jobLookups.set(id, (jobLookups.get(id) ?? 0) + 1);
    if (repository === "acme/broken") return Response.json({ message: "boom" }, { status: 500 });
    const known = jobs.get(id);
    return known === undefined ? Response.json({ message: "Not Found" }, { status: 404 }) : Response.json(known);
  }
  const runners = /^\/orgs\/([^/]+)\/actions\/runners$/.exec(url.pathname);
  if (runners !== null) {
    if (runners[1] === "broken") return Response.json({ message: "boom" }, { status: 500 });
    if (runners[1] !== "acme") return Response.json({ message: "Not Found" }, { status: 404 });
    const slice = FAKE_ORG_RUNNERS.slice((page - 1) * perPage, page * perPage);
    return Response.json({ total_count: FAKE_ORG_RUNNERS.length, runners: slice });
  }
  const m = /^\/repos\/([^/]+\/[^/]+)\/(pulls\/(\d+)\/files|commits\/([0-9a-f]+)|compare\/([^.]+)\.\.\.(.+))$/.exec(
    url.pathname,
  );
  if (m === null) return Response.json({ message: "Not Found" }, { status: 404 });
  const [, repository, , prNumber] = m;
  if (repository === "acme/broken") return Response.json({ message: "boom" }, { status: 500 });
  if (repository === "acme/missing") return Response.json({ message: "Not Found" }, { status: 404 });
  if (repository === "acme/limited") return Response.json({ message: "API rate limit exceeded" }, { status: 403 });
  if (repository === "acme/echo") {
    const credentials = request.headers.get("authorization") ?? "";
    return Response.json(
      { message: `Bad credentials: ${credentials}` },
      { status: 401, headers: { "x-echo-authorization": credentials } },
    );
  }

  let all: string[];
  if (repository === "acme/many-files") {
    const total = Number(prNumber ?? "300");
    all = Array.from({ length: Math.min(total, 3000) }, (_, i) => `docs/page-${i}.md`);
  } else if (repository === "acme/gpu-pr") {
    all = ["README.md", "kernels/matmul.cu"];
  } else if (repository === "acme/fleet") {
    all = ["Dockerfile", "src/app.ts"];
  } else {
    all = ["README.md", "docs/guide.md"];
  }
  const files = all.slice((page - 1) * perPage, page * perPage).map((filename) => ({ filename, status: "modified" }));
  if (url.pathname.includes("/pulls/")) return Response.json(files);
  return Response.json({
    files: url.pathname.includes("/compare/") ? all.slice(0, 300).map((filename) => ({ filename })) : files,
  });
}

/** A check-run call (create, update, list for a commit), recorded with its answer; null for any other request. */
async function checkRunCall(request: Request, url: URL, token: string): Promise<Response | null> {
  const create = /^\/repos\/([^/]+\/[^/]+)\/check-runs$/.exec(url.pathname);
  const update = /^\/repos\/([^/]+\/[^/]+)\/check-runs\/(\d+)$/.exec(url.pathname);
  const list = /^\/repos\/([^/]+\/[^/]+)\/commits\/([0-9a-f]+)\/check-runs$/.exec(url.pathname);
  const write = (create !== null && request.method === "POST") || (update !== null && request.method === "PATCH");
  const read = list !== null && request.method === "GET";
  if (!write && !read) return null;
  const repository = (create ?? update ?? list)?.[1] ?? "";
  const body = write ? ((await request.json()) as Record<string, unknown>) : null;
  const answered = (response: Response) => {
    const calls = checkRunCalls.get(repository) ?? [];
    calls.push({ method: request.method, path: `${url.pathname}${url.search}`, body, token, status: response.status });
    checkRunCalls.set(repository, calls);
    return response;
  };
  const failure = checkRunFailures.get(repository);
  if (write && failure !== undefined && failure.times > 0) {
    failure.times--;
    return answered(
      failure.status === 403
        ? Response.json(
            { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." },
            { status: 403, headers: { "retry-after": "1" } },
          )
        : Response.json({ message: "boom" }, { status: failure.status }),
    );
  }
  if (read) {
    const [, , sha] = list ?? [];
    const name = url.searchParams.get("check_name");
    const runs = [...checkRuns.values()].filter(
      (run) => run.repository === repository && run.head_sha === sha && (name === null || run.name === name),
    );
    return answered(Response.json({ total_count: runs.length, check_runs: runs }));
  }
  if (create !== null) {
    const run = {
      id: nextCheckRunId++,
      repository,
      head_sha: String(body?.head_sha ?? ""),
      name: String(body?.name ?? ""),
      external_id: String(body?.external_id ?? ""),
    };
    checkRuns.set(run.id, run);
    return answered(Response.json({ ...run, status: body?.status ?? "queued" }, { status: 201 }));
  }
  const known = checkRuns.get(Number(update?.[2]));
  if (known === undefined || known.repository !== repository) {
    return answered(Response.json({ message: "Not Found" }, { status: 404 }));
  }
  return answered(Response.json({ ...known, ...body }));
}

/** The App control calls (`/__apps/…`, `/__tokens/…`), or null for any other request. */
async function appControl(request: Request, url: URL): Promise<Response | null> {
  const seen = /^\/__tokens\/([^/]+\/[^/]+)$/.exec(url.pathname);
  if (seen !== null) return Response.json(tokensSeen.get(seen[1] ?? "") ?? []);
  const control = /^\/__apps\/(\d+)(\/mints|\/refuse)?$/.exec(url.pathname);
  if (control === null) return null;
  const [, id = "", what] = control;
  if (what === "/mints") return Response.json(Object.fromEntries(apps.get(id)?.mints ?? []));
  if (what === "/refuse") {
    refused.add(((await request.json()) as { token: string }).token);
    return new Response(null, { status: 204 });
  }
  const body = (await request.json()) as { publicKey: string; expiresInSeconds?: number };
  const key = await importSPKI(body.publicKey, "RS256");
  apps.set(id, { key, expiresInSeconds: body.expiresInSeconds ?? 3600, mints: new Map() });
  return new Response(null, { status: 204 });
}

/** `POST /app/installations/{id}/access_tokens`: a new token, for a JWT a registered App signed. */
async function mintToken(request: Request, installation: string): Promise<Response> {
  if (request.headers.get("accept") !== "application/vnd.github+json") {
    return Response.json({ message: "Accept must be application/vnd.github+json" }, { status: 415 });
  }
  const jwt = request.headers.get("authorization")?.slice("Bearer ".length) ?? "";
  let app: ReturnType<typeof apps.get>;
  let appId = "";
  try {
    appId = String(decodeJwt(jwt).iss ?? "");
    app = apps.get(appId);
    if (app === undefined) throw new Error("no such App");
    const { payload } = await jwtVerify(jwt, app.key, { algorithms: ["RS256"], issuer: appId });
    if (typeof payload.iat !== "number" || typeof payload.exp !== "number" || payload.exp - payload.iat > 600) {
      throw new Error("the JWT lives longer than 10 minutes");
    }
  } catch (error) {
    return Response.json({ message: `A JSON web token could not be decoded (${String(error)})` }, { status: 401 });
  }
  const n = (app.mints.get(installation) ?? 0) + 1;
  app.mints.set(installation, n);
  const expiresAt = new Date(Date.now() + app.expiresInSeconds * 1000).toISOString();
  return Response.json({ token: `ghs_${appId}_${installation}_${n}`, expires_at: expiresAt }, { status: 201 });
}

/** Records which token a call on a repository carried. */
function noteToken(request: Request, status: number): void {
  const repository = /^\/repos\/([^/]+\/[^/]+)\//.exec(new URL(request.url).pathname)?.[1];
  if (repository === undefined) return;
  const token = request.headers.get("authorization")?.slice("Bearer ".length) ?? "";
  const calls = tokensSeen.get(repository) ?? [];
  calls.push({ path: new URL(request.url).pathname, token, status });
  tokensSeen.set(repository, calls);
}

/** The `audience` input's default, as action.yml declares it: the router's default OIDC_AUDIENCE. */
export const DEFAULT_AUDIENCE = "pmoves-ci-orchestrator";

/** What the action asks the router about: one commit of one repository, from one job. */
export interface RouteQuery {
  repository: string;
  sha: string;
  ref: string | null;
  /** The calling job's check run id, recorded by the router as the build's routing job. */
  jobId: string | null;
}

/** The workflow run's environment variables the action reads (a subset of `process.env`). */
export type RunnerEnv = Readonly<Record<string, string | undefined>>;

export type QueryResult = { ok: true; query: RouteQuery; notes: string[] } | { ok: false; problem: string };

/** Events whose `GITHUB_SHA` is a merge commit the router has never heard of: the head commit is asked about instead. */
const PULL_REQUEST_EVENTS = new Set(["pull_request", "pull_request_target"]);

const SHA = /^[0-9a-f]{40}$/i;

/**
 * The commit to route. For a pull request, `GITHUB_SHA` is GitHub's test merge commit (or, for
 * `pull_request_target`, the base branch's head), while the router recorded the decision under
 * the pull request's head commit from its webhook: that one is read from the event payload.
 * Every other event routes `GITHUB_SHA`. `note` says when a pull request's head could not be read.
 */
export function commitSha(eventName: string | undefined, event: unknown, githubSha: string | undefined) {
  if (eventName !== undefined && PULL_REQUEST_EVENTS.has(eventName)) {
    const head = pullRequestHead(event);
    if (head !== null) return { sha: head, note: null };
    return {
      sha: githubSha ?? null,
      note: `the ${eventName} event at GITHUB_EVENT_PATH has no pull_request.head.sha; asking about GITHUB_SHA instead`,
    };
  }
  return { sha: githubSha ?? null, note: null };
}

/** `pull_request.head.sha` of an event payload, when it is a commit id. */
function pullRequestHead(event: unknown): string | null {
  const pull = field(event, "pull_request");
  const sha = field(field(pull, "head"), "sha");
  return typeof sha === "string" && SHA.test(sha) ? sha : null;
}

/** A property of a value that may be anything JSON. */
function field(value: unknown, name: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * The query for this job, from the runner's environment (`GITHUB_REPOSITORY`, `GITHUB_REF`,
 * `GITHUB_EVENT_NAME`, `GITHUB_SHA`), the event payload and the `job-id` input. A missing
 * repository or commit is refused with the reason: the action then falls back.
 */
export function readQuery(env: RunnerEnv, event: unknown, jobId: string): QueryResult {
  const repository = env.GITHUB_REPOSITORY ?? "";
  if (repository === "") return { ok: false, problem: "GITHUB_REPOSITORY is not set" };
  const { sha, note } = commitSha(env.GITHUB_EVENT_NAME, event, env.GITHUB_SHA);
  if (sha === null || sha === "") return { ok: false, problem: "GITHUB_SHA is not set" };
  const ref = env.GITHUB_REF ?? "";
  return {
    ok: true,
    query: { repository, sha, ref: ref === "" ? null : ref, jobId: jobId === "" ? null : jobId },
    notes: note === null ? [] : [note],
  };
}

export type UrlResult = { ok: true; url: URL } | { ok: false; problem: string };

/**
 * `GET <base>/route?repository=&sha=&ref=&job_id=`. The base may carry a path (a router behind
 * a prefix) and a trailing slash; it must be http or https.
 */
export function routeUrl(base: string, query: RouteQuery): UrlResult {
  if (base === "") return { ok: false, problem: "input url is empty (is the CI_ROUTER_URL variable set?)" };
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return { ok: false, problem: `input url is not a URL: ${JSON.stringify(base)}` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, problem: `input url must be http or https, got ${url.protocol}` };
  }
  if (url.username !== "" || url.password !== "") {
    return { ok: false, problem: "input url must not carry credentials: give them as input token" };
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/route`;
  url.search = "";
  url.hash = "";
  url.searchParams.set("repository", query.repository);
  url.searchParams.set("sha", query.sha);
  if (query.ref !== null) url.searchParams.set("ref", query.ref);
  if (query.jobId !== null) url.searchParams.set("job_id", query.jobId);
  return { ok: true, url };
}

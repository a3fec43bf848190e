import {
  type ChangeSet,
  type CheckRunAnswer,
  type CheckRunBody,
  changesFromList,
  fail,
  GITHUB_CAPS,
  ok,
  type Result,
  rateLimitWait,
  retryAfterSeconds,
  unknownChanges,
  type WriteResult,
} from "./core/index.ts";

/**
 * Where a call's bearer token comes from: GITHUB_TOKEN as it is, or an installation's token
 * (worker/src/github-app.ts), minted when needed. `onUnauthorized` is told of a token GitHub
 * answered 401 to; the call is then made once more with a fresh `token()`.
 */
export interface GitHubAuth {
  token: () => Promise<string>;
  onUnauthorized?: (token: string) => void;
}

/** A fixed token (GITHUB_TOKEN): a 401 is GitHub's answer, not retried. */
export function staticAuth(token: string): GitHubAuth {
  return { token: () => Promise.resolve(token) };
}

/**
 * Thrown by a {@link GitHubAuth} that could not get a token; its message (never a token) says why,
 * and becomes the failed call's.
 */
export class GitHubAuthError extends Error {
  override readonly name = "GitHubAuthError";
}

/** GitHub's REST API, for the file lists webhooks leave out. */
export interface GitHubOptions {
  auth: GitHubAuth;
  apiUrl: string;
  /** Time allowed for one listing, all pages included; past it the files are unknown. */
  budgetMs?: number;
  fetch?: typeof fetch;
}

const PER_PAGE = 100;
/**
 * Time allowed for one file listing, every page included. GitHub counts a delivery as failed
 * after 10 s; past this budget the files are unknown and the decision says so.
 */
export const GITHUB_BUDGET_MS = 4_000;

/** At most this many pages of runners (10,000 runners). */
const MAX_RUNNER_PAGES = 100;

/** One self-hosted runner as `GET /orgs/{org}/actions/runners` lists it. */
export interface SelfHostedRunner {
  name: string;
  status: "online" | "offline";
  busy: boolean;
  labels: string[];
}

/** The outcome of a write call: GitHub's 2xx status, or an `upstream` failure saying why. */
export type CallResult = Result<{ status: number }>;

/**
 * A refused answer as the writes' retries read it: GitHub's message (cut), and its status, a rate
 * limit read as 429 with GitHub's wait (core/retry.ts `rateLimitWait`: a 403 of the secondary
 * limit or of no requests left is one, a missing permission is not); any other refusal keeps its
 * status and its `retry-after`, if it sent one.
 */
function refusal(response: Response, json: unknown, now: number) {
  const said = (json as { message?: unknown } | null)?.message;
  const message = typeof said === "string" ? said.slice(0, MAX_MESSAGE) : null;
  const retryAfter = retryAfterSeconds(response.headers.get("retry-after"), now);
  const headers = {
    retryAfter,
    reset: response.headers.get("x-ratelimit-reset"),
    remaining: response.headers.get("x-ratelimit-remaining"),
  };
  const wait = rateLimitWait(response.status, headers, message, now);
  return wait === null
    ? { status: response.status, retryAfterSeconds: retryAfter, message }
    : { status: 429, retryAfterSeconds: wait, message };
}

/** A write the alarm retries (core/dependencies.ts `WriteResult`); a 403 that is GitHub's rate limit reads as 429. */
export type WriteAnswer = WriteResult;

/** GitHub's `message` kept of a refused write. */
const MAX_MESSAGE = 300;

/** A job as GitHub reports it now (the `workflow_job` payload's shape), or that GitHub does not know it. */
export type JobLookup = Result<{ kind: "job"; job: unknown } | { kind: "not_found" }>;

/** A check run's `id` in GitHub's JSON, or null. */
function idOf(json: unknown): number | null {
  const id = (json as { id?: unknown } | null | undefined)?.id;
  return typeof id === "number" && Number.isSafeInteger(id) && id > 0 ? id : null;
}

/** `timed out`, `failed`, or why no token could be had, for an error thrown by a call. */
function thrown(error: unknown): string {
  if (error instanceof GitHubAuthError) return `failed (${error.message})`;
  return error instanceof Error && error.name === "TimeoutError" ? "timed out" : "failed";
}

/** The headers of every call, with `token` as its bearer. */
function headersWith(token: string): Record<string, string> {
  return {
    accept: "application/vnd.github+json",
    authorization: `Bearer ${token}`,
    "user-agent": "pmoves-ci-orchestrator",
    "x-github-api-version": "2022-11-28",
  };
}

interface FileEntry {
  filename?: unknown;
  previous_filename?: unknown;
}

export class GitHubClient {
  private readonly options: Required<GitHubOptions>;
  /** `X-RateLimit-Remaining` from the last response GitHub sent, if any. */
  rateLimitRemaining: number | null = null;

  constructor(options: GitHubOptions) {
    this.options = { budgetMs: GITHUB_BUDGET_MS, fetch: (input, init) => fetch(input, init), ...options };
  }

  /** `GET /repos/{repo}/pulls/{n}/files`, every page, up to GitHub's 3,000 files. */
  pullRequestFiles(repository: string, number: number): Promise<ChangeSet> {
    return this.list(
      `/repos/${repository}/pulls/${number}/files`,
      GITHUB_CAPS.pullRequestFiles,
      "pull request files API",
      (page) => (Array.isArray(page) ? (page as FileEntry[]) : []),
    );
  }

  /** `GET /repos/{repo}/compare/{base}...{head}`: at most 300 files. */
  compareFiles(repository: string, base: string, head: string): Promise<ChangeSet> {
    return this.list(
      `/repos/${repository}/compare/${base}...${head}`,
      GITHUB_CAPS.compareFiles,
      "compare API",
      (page) => (page as { files?: FileEntry[] } | null)?.files ?? [],
      1,
    );
  }

  /** `GET /repos/{repo}/commits/{sha}`: the files of one commit, every page. */
  commitFiles(repository: string, sha: string): Promise<ChangeSet> {
    return this.list(
      `/repos/${repository}/commits/${sha}`,
      GITHUB_CAPS.commitFiles,
      "commit API",
      (page) => (page as { files?: FileEntry[] } | null)?.files ?? [],
    );
  }

  /** `GET /repos/{repo}/actions/jobs/{id}`: a job's current state, as a `workflow_job` payload carries it. */
  async job(repository: string, jobId: number): Promise<JobLookup> {
    try {
      const response = await this.send(`/repos/${repository}/actions/jobs/${jobId}`, {
        signal: AbortSignal.timeout(this.options.budgetMs),
      });
      this.noteRateLimit(response);
      if (response.status === 404) {
        await response.body?.cancel();
        return ok({ kind: "not_found" });
      }
      if (!response.ok) {
        await response.body?.cancel();
        return fail("upstream", `jobs API answered ${response.status}`);
      }
      return ok({ kind: "job", job: await response.json() });
    } catch (error) {
      return fail("upstream", `jobs API ${thrown(error)}`);
    }
  }

  /** `POST /repos/{repo}/actions/runs/{id}/cancel` (GitHub answers 202). */
  cancelRun(repository: string, runId: number): Promise<CallResult> {
    return this.post(`/repos/${repository}/actions/runs/${runId}/cancel`);
  }

  /** `POST /repos/{repo}/actions/runs/{id}/rerun` (GitHub answers 201). */
  rerunRun(repository: string, runId: number): Promise<CallResult> {
    return this.post(`/repos/${repository}/actions/runs/${runId}/rerun`);
  }

  /**
   * `POST /repos/{repo}/actions/workflows/{workflow}/dispatches` (GitHub answers 204): runs a
   * workflow with a `workflow_dispatch` trigger on `ref`, with `inputs`. A 422 says the
   * workflow has no such trigger, or does not declare the inputs.
   */
  dispatchWorkflow(
    repository: string,
    workflow: string,
    body: { ref: string; inputs: Record<string, string> },
  ): Promise<WriteAnswer> {
    return this.write(`/repos/${repository}/actions/workflows/${encodeURIComponent(workflow)}/dispatches`, body);
  }

  /** `POST /repos/{repo}/statuses/{sha}` (GitHub answers 201): a commit status under `context`. */
  createCommitStatus(
    repository: string,
    sha: string,
    body: { state: string; context: string; description: string; target_url?: string },
  ): Promise<WriteAnswer> {
    return this.write(`/repos/${repository}/statuses/${encodeURIComponent(sha)}`, body);
  }

  /** `POST /repos/{repo}/check-runs` (GitHub answers 201 with the check run, whose `id` the answer carries). */
  createCheckRun(repository: string, body: CheckRunBody): Promise<CheckRunAnswer> {
    return this.checkRunCall("POST", `/repos/${repository}/check-runs`, body, idOf);
  }

  /** `PATCH /repos/{repo}/check-runs/{id}` (GitHub answers 200). */
  updateCheckRun(repository: string, id: number, body: CheckRunBody): Promise<CheckRunAnswer> {
    return this.checkRunCall("PATCH", `/repos/${repository}/check-runs/${id}`, body, idOf);
  }

  /**
   * `GET /repos/{repo}/commits/{sha}/check-runs?check_name={name}&filter=all`: the id of the
   * check run of that name whose `external_id` is `externalId` (in the answer's `id`), or null
   * when there is none. Asked before a create is tried again, since the earlier try may have
   * been taken by GitHub without its answer arriving.
   */
  findCheckRun(repository: string, sha: string, name: string, externalId: string): Promise<CheckRunAnswer> {
    const query = `check_name=${encodeURIComponent(name)}&filter=all&per_page=${PER_PAGE}`;
    return this.checkRunCall("GET", `/repos/${repository}/commits/${sha}/check-runs?${query}`, undefined, (json) => {
      const runs = (json as { check_runs?: unknown } | null)?.check_runs;
      const found = Array.isArray(runs)
        ? runs.find((run: { external_id?: unknown }) => run?.external_id === externalId)
        : undefined;
      return idOf(found);
    });
  }

  /**
   * `GET /orgs/{org}/actions/runners`, every page: the organization's self-hosted runners.
   * An error (never a partial list) when GitHub refused, a page was malformed, or the budget ran out.
   */
  async organizationRunners(org: string): Promise<Result<SelfHostedRunner[]>> {
    const signal = AbortSignal.timeout(this.options.budgetMs);
    const runners: SelfHostedRunner[] = [];
    try {
      for (let page = 1; page <= MAX_RUNNER_PAGES; page++) {
        const response = await this.send(`/orgs/${org}/actions/runners?per_page=${PER_PAGE}&page=${page}`, { signal });
        this.noteRateLimit(response);
        if (!response.ok) {
          await response.body?.cancel();
          return fail("upstream", `runners API answered ${response.status}`);
        }
        const body = (await response.json()) as { runners?: unknown } | null;
        if (!Array.isArray(body?.runners)) return fail("upstream", "runners API answered without a runners list");
        for (const entry of body.runners as Record<string, unknown>[]) {
          if (typeof entry?.name !== "string") continue;
          runners.push({
            name: entry.name,
            status: entry.status === "online" ? "online" : "offline",
            busy: entry.busy === true,
            labels: Array.isArray(entry.labels)
              ? entry.labels.flatMap((l: { name?: unknown }) => (typeof l?.name === "string" ? [l.name] : []))
              : [],
          });
        }
        if (body.runners.length < PER_PAGE) break;
      }
    } catch (error) {
      return fail("upstream", `runners API ${thrown(error)}`);
    }
    return ok(runners);
  }

  /**
   * One call to `path`, with the auth's token; a 401 to a token the auth can replace is told to
   * it and the call made once more with a fresh one.
   */
  private async send(path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
    const { auth } = this.options;
    const once = async (token: string) =>
      this.options.fetch(`${this.options.apiUrl}${path}`, {
        ...init,
        headers: { ...headersWith(token), ...init.headers },
      });
    const token = await auth.token();
    const response = await once(token);
    if (response.status !== 401 || auth.onUnauthorized === undefined) return response;
    await response.body?.cancel();
    auth.onUnauthorized(token);
    return once(await auth.token());
  }

  private noteRateLimit(response: Response): void {
    const remaining = Number(response.headers.get("x-ratelimit-remaining") ?? Number.NaN);
    if (Number.isFinite(remaining)) this.rateLimitRemaining = remaining;
  }

  private async post(path: string): Promise<CallResult> {
    try {
      const response = await this.send(path, { method: "POST", signal: AbortSignal.timeout(this.options.budgetMs) });
      this.noteRateLimit(response);
      await response.body?.cancel();
      return response.ok ? ok({ status: response.status }) : fail("upstream", `answered ${response.status}`);
    } catch (error) {
      return fail("upstream", thrown(error));
    }
  }

  /** A JSON write whose answer the caller retries by: the status, its wait and GitHub's message. */
  private async write(path: string, body: unknown): Promise<WriteAnswer> {
    try {
      const response = await this.send(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.budgetMs),
      });
      this.noteRateLimit(response);
      if (response.ok) {
        await response.body?.cancel();
        return ok({ status: response.status, retryAfterSeconds: null, message: null });
      }
      const json: unknown = await response.json().catch(() => null);
      return ok(refusal(response, json, Date.now()));
    } catch (error) {
      return fail("upstream", thrown(error));
    }
  }

  /**
   * A check run's call: its status (a rate limit read as 429 with its wait: `refusal`), GitHub's
   * message when refused, and the id `pick` reads from a 2xx answer.
   */
  private async checkRunCall(
    method: "GET" | "POST" | "PATCH",
    path: string,
    body: unknown,
    pick: (json: unknown) => number | null,
  ): Promise<CheckRunAnswer> {
    try {
      const response = await this.send(path, {
        method,
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.budgetMs),
      });
      this.noteRateLimit(response);
      const json: unknown = await response.json().catch(() => null);
      if (response.ok) return ok({ status: response.status, retryAfterSeconds: null, message: null, id: pick(json) });
      return ok({ ...refusal(response, json, Date.now()), id: null });
    } catch (error) {
      return fail("upstream", thrown(error));
    }
  }

  private async list(
    path: string,
    cap: number,
    source: string,
    entries: (page: unknown) => FileEntry[],
    maxPages = Math.ceil(cap / PER_PAGE),
  ): Promise<ChangeSet> {
    const signal = AbortSignal.timeout(this.options.budgetMs);
    const files: string[] = [];
    let count = 0;
    try {
      for (let page = 1; page <= maxPages; page++) {
        const response = await this.send(`${path}?per_page=${PER_PAGE}&page=${page}`, { signal });
        this.noteRateLimit(response);
        if (!response.ok) {
          await response.body?.cancel();
          return unknownChanges(source, `${source} answered ${response.status}`);
        }
        const list = entries(await response.json());
        for (const entry of list) {
          if (typeof entry.filename === "string") files.push(entry.filename);
          if (typeof entry.previous_filename === "string") files.push(entry.previous_filename);
        }
        count += list.length;
        if (list.length < PER_PAGE) break;
      }
    } catch (error) {
      return unknownChanges(source, `${source} ${thrown(error)}`);
    }
    const changes = changesFromList(files, Number.POSITIVE_INFINITY, source);
    if (count >= cap) {
      return { ...changes, truncated: true, notes: [`${source} listed ${count} files, its cap is ${cap}`] };
    }
    return changes;
  }
}

import { describeErrorAnswer, type RouteAnswer, readAnswer } from "./answer.ts";

/**
 * How long the action may wait for the router. A route step runs before every build, so its
 * worst case must stay short: fetching the OIDC token, then up to four attempts, each with its
 * own timeout and an exponential pause before it. `worstCaseMs` adds it up (26.5 s, under the
 * 30 s `TOTAL_BOUND_MS` the action promises).
 */
export const SCHEDULE = {
  /** Most time to get the job's OIDC token from the Actions service. */
  tokenTimeoutMs: 3_000,
  /** Most time one request may take, answer body included. */
  attemptTimeoutMs: 5_000,
  /** The pause before each retry: one attempt, then one more after each pause. */
  backoffMs: [500, 1_000, 2_000],
} as const;

/** What a route step may take at most, everything included. */
export const TOTAL_BOUND_MS = 30_000;

export interface Schedule {
  tokenTimeoutMs: number;
  attemptTimeoutMs: number;
  backoffMs: readonly number[];
}

/** The longest a route step can wait under a schedule: the token, every attempt timing out, every pause. */
export function worstCaseMs(schedule: Schedule): number {
  const attempts = schedule.backoffMs.length + 1;
  const pauses = schedule.backoffMs.reduce((sum, ms) => sum + ms, 0);
  return schedule.tokenTimeoutMs + attempts * schedule.attemptTimeoutMs + pauses;
}

/** One attempt's result: an answer, a failure worth retrying (unreachable, 5xx, 429), or one that is not (4xx). */
export type Attempt =
  | { kind: "answer"; answer: RouteAnswer }
  | { kind: "retry"; cause: string }
  | { kind: "stop"; cause: string };

/**
 * What an HTTP answer means for the route step. Only an overloaded or broken router (429, 5xx)
 * is asked again; a refused token (401, 403) or a bad request (400, 404) will not change on a
 * retry, and a redirect is not followed (it would carry the token elsewhere).
 */
export function classifyResponse(status: number, statusText: string, bodyText: string): Attempt {
  if (status === 200) {
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return { kind: "stop", cause: "router answered 200 with a body that is not JSON" };
    }
    const read = readAnswer(body);
    if (read.ok) return { kind: "answer", answer: read.answer };
    return { kind: "stop", cause: `router answered 200 without a usable decision: ${read.problem}` };
  }
  const cause = describeErrorAnswer(status, statusText, bodyText);
  if (status === 429 || status >= 500) return { kind: "retry", cause };
  if (status >= 300 && status < 400) return { kind: "stop", cause: `${cause} (a redirect: check input url)` };
  return { kind: "stop", cause };
}

/** Network error codes worded for a person reading the warning. */
const NETWORK_CAUSES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "DNS lookup failed",
  EAI_AGAIN: "DNS lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  UND_ERR_SOCKET: "connection closed",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
};

/** Why a request got no answer: a timeout, a refused connection, DNS, TLS… */
export function describeNetworkError(error: unknown, timeoutMs: number): string {
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  const cause = error instanceof Error ? error.cause : undefined;
  const code =
    typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : "";
  const worded = NETWORK_CAUSES[code];
  if (worded !== undefined) return `${worded} (${code})`;
  if (cause instanceof Error && cause.message !== "") return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** The I/O the client needs, passed in so the retry loop can be tested without waiting. */
export interface ClientIo {
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

export type Outcome =
  | { kind: "routed"; answer: RouteAnswer; attempts: number }
  | { kind: "failed"; cause: string; attempts: number; elapsedMs: number };

/** Sends one `GET /route` with its own timeout, and reads what came back. */
async function attemptOnce(url: URL, token: string, schedule: Schedule, io: ClientIo): Promise<Attempt> {
  try {
    const response = await io.fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(schedule.attemptTimeoutMs),
    });
    const text = await response.text();
    return classifyResponse(response.status, response.statusText, text);
  } catch (error) {
    return {
      kind: "retry",
      cause: `router unreachable at ${url.origin}: ${describeNetworkError(error, schedule.attemptTimeoutMs)}`,
    };
  }
}

/**
 * Asks the router, retrying with the schedule's backoff while it is unreachable, overloaded or
 * failing, and stopping at once on an answer that a retry would not change.
 */
export async function askRouter(url: URL, token: string, schedule: Schedule, io: ClientIo): Promise<Outcome> {
  const started = io.now();
  let cause = "router was not asked";
  let attempts = 0;
  for (const pause of [0, ...schedule.backoffMs]) {
    if (attempts > 0) await io.sleep(pause);
    attempts += 1;
    const attempt = await attemptOnce(url, token, schedule, io);
    if (attempt.kind === "answer") return { kind: "routed", answer: attempt.answer, attempts };
    cause = attempt.cause;
    if (attempt.kind === "stop") break;
  }
  return { kind: "failed", cause, attempts, elapsedMs: io.now() - started };
}

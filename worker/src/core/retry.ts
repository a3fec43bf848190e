import type { Result } from "./result.ts";

/** Delivering an outgoing message (a Discord alert): how many tries, and when to try again. */
export const MAX_ATTEMPTS = 5;
const BASE_DELAY_MS = 2_000;
const MAX_DELAY_MS = 5 * 60_000;
/** A 429 asking for more than this is treated as a failure rather than parked for hours. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

/** One attempt: the status the server answered (and any `retry_after`), or an `upstream` failure (timeout, network). */
export type AttemptResult = Result<{ status: number; retryAfterSeconds: number | null }>;

export type NextStep =
  | { kind: "sent" }
  | { kind: "retry"; delayMs: number; why: string }
  | { kind: "failed"; why: string };

/**
 * What to do after attempt number `attempts` (1-based): 2xx is sent; 429 waits what the server
 * asked (`retry_after`); 5xx, timeouts and network errors back off exponentially; any other
 * status fails at once; and nothing is tried more than MAX_ATTEMPTS times.
 */
export function nextStep(result: AttemptResult, attempts: number): NextStep {
  let why: string;
  let delayMs: number;
  if (!result.ok) {
    why = result.error.message;
    delayMs = backoff(attempts);
  } else if (result.value.status >= 200 && result.value.status < 300) {
    return { kind: "sent" };
  } else if (result.value.status === 429) {
    const { retryAfterSeconds } = result.value;
    why = "429 rate limited";
    delayMs = retryAfterSeconds === null ? backoff(attempts) : Math.ceil(retryAfterSeconds * 1000);
    if (delayMs > MAX_RETRY_AFTER_MS) return { kind: "failed", why: `${why}, retry_after ${retryAfterSeconds} s` };
  } else if (result.value.status >= 500) {
    why = `${result.value.status} server error`;
    delayMs = backoff(attempts);
  } else {
    return { kind: "failed", why: `${result.value.status} refused` };
  }
  if (attempts >= MAX_ATTEMPTS) return { kind: "failed", why: `${why} after ${attempts} attempts` };
  return { kind: "retry", delayMs: Math.max(delayMs, 1), why };
}

function backoff(attempts: number): number {
  return Math.min(BASE_DELAY_MS * 2 ** (attempts - 1), MAX_DELAY_MS);
}

/**
 * How long GitHub asks a refused write to wait, in seconds, when the refusal is a rate limit;
 * null when it is not one. A 429, or a 403 with `retry-after` (GitHub's secondary rate limit)
 * or with no requests left (`x-ratelimit-remaining: 0`) or a message naming a rate limit, waits
 * `retry-after` seconds, else until `x-ratelimit-reset` (epoch seconds), else a minute (GitHub's
 * advice for a secondary limit that names no time). Any other 403 (a missing permission) is not
 * a rate limit: every GitHub answer carries `x-ratelimit-reset`.
 */
export function rateLimitWait(
  status: number,
  headers: { retryAfter: number | null; reset: string | null; remaining: string | null },
  message: string | null,
  now: number,
): number | null {
  const named = message !== null && /rate limit/i.test(message);
  const limited =
    status === 429 || (status === 403 && (headers.retryAfter !== null || headers.remaining === "0" || named));
  if (!limited) return null;
  if (headers.retryAfter !== null) return headers.retryAfter;
  const reset = Number(headers.reset ?? Number.NaN);
  if (headers.reset !== null && Number.isFinite(reset)) return Math.max(0, reset - now / 1000);
  return 60;
}

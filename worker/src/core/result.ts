/**
 * The one way a core step fails: it returns a {@link Result}, whose error is tagged with a code
 * saying what kind of failure it is, a message for people, and every problem found. The shell
 * maps a code to its answer in one place (worker/src/errors.ts); the core never throws for bad
 * input, only for a broken invariant (a bug).
 */

export type FailureCode =
  /** A caller's request (query or body) is not what the endpoint takes. */
  | "invalid_request"
  /** A webhook payload is not what its event should carry. */
  | "invalid_payload"
  /** The routing configuration (or a pattern in it) cannot be used. */
  | "invalid_config"
  /** Another service answered with an error, or not at all. */
  | "upstream"
  /** The caller could not be authenticated. */
  | "unauthorized"
  /** The caller is authenticated but may not do this. */
  | "forbidden";

export interface Failure {
  code: FailureCode;
  /** One sentence; the problems joined when there are several. */
  message: string;
  /** Every problem found, each a sentence naming where it is. */
  problems: string[];
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

/** A failure with the given problems; its message joins them. */
export function fail<T = never>(code: FailureCode, ...problems: string[]): Result<T> {
  return { ok: false, error: { code, message: problems.join("; "), problems } };
}

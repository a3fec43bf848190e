import type { FailureCode, Result } from "./core/index.ts";

/** Every error the API answers with: one code, one status, a message for a person. */
export const ERRORS = {
  not_found: 404,
  method_not_allowed: 405,
  unauthorized: 401,
  forbidden: 403,
  missing_signature: 401,
  invalid_signature: 401,
  missing_header: 400,
  invalid_header: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_body: 400,
  invalid_payload: 422,
  missing_parameter: 400,
  invalid_request: 400,
  build_not_found: 404,
  simulation_not_found: 404,
  organisation_required: 400,
  organisation_not_found: 404,
  organisation_limit: 503,
  misconfigured: 503,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** The answer to a core failure: a caller's bad request or payload keeps its code; anything else is ours. */
const FAILURE_ERRORS: Record<FailureCode, ErrorCode> = {
  invalid_request: "invalid_request",
  invalid_payload: "invalid_payload",
  invalid_config: "misconfigured",
  upstream: "unavailable",
  unauthorized: "unauthorized",
  forbidden: "forbidden",
};

export class HttpError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "HttpError";
    this.code = code;
  }
  get status(): number {
    return ERRORS[this.code];
  }
}

/** A core step's value, or the HttpError its failure answers with. */
export function valueOr<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new HttpError(FAILURE_ERRORS[result.error.code], result.error.message);
}

export function errorResponse(code: ErrorCode, message: string, headers?: HeadersInit): Response {
  return Response.json({ error: { code, message } }, { status: ERRORS[code], headers });
}

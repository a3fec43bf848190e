/** Every error the API answers with: one code, one status, a message for a person. */
export const ERRORS = {
  not_found: 404,
  method_not_allowed: 405,
  unauthorized: 401,
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
  misconfigured: 503,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERRORS;

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

export function errorResponse(code: ErrorCode, message: string, headers?: HeadersInit): Response {
  return Response.json({ error: { code, message } }, { status: ERRORS[code], headers });
}

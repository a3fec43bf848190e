import { HttpError } from "./errors.ts";

const encoder = new TextEncoder();

/** Compares two strings without leaking where they differ: both are hashed to equal length first. */
export async function safeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(x, y);
}

/**
 * Throws 401 unless the request carries `Authorization: Bearer <token>` for one of `tokens`
 * (the current API token, then the previous one during a rotation). Every token is compared,
 * so the time taken does not say which one matched.
 */
export async function requireBearer(request: Request, tokens: readonly string[]): Promise<void> {
  if (!(await bearerMatches(request, tokens))) {
    throw new HttpError("unauthorized", "a valid bearer token is required (Authorization: Bearer <API_TOKEN>)");
  }
}

/** Whether the request carries `Authorization: Bearer <token>` for one of `tokens` (none: never). */
export async function bearerMatches(request: Request, tokens: readonly string[]): Promise<boolean> {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const given = match?.[1] ?? "";
  const matches = await Promise.all(tokens.map((token) => safeEqual(given, token)));
  return match !== null && matches.includes(true);
}

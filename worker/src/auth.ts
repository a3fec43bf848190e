import type { ActionsIdentity } from "./core/index.ts";
import { HttpError, valueOr } from "./errors.ts";
import { looksLikeJwt, verifyActionsToken } from "./oidc.ts";
import type { Settings } from "./settings.ts";

const encoder = new TextEncoder();

/** Who is calling: an operator (the API token opens everything) or a workflow job (its OIDC token opens `/route`). */
export type Caller = { kind: "operator" } | { kind: "job"; identity: ActionsIdentity };

/** Compares two strings without leaking where they differ: both are hashed to equal length first. */
export async function safeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(x, y);
}

/** The token of `Authorization: Bearer <token>`, or null. */
function bearerOf(request: Request): string | null {
  const header = request.headers.get("authorization") ?? "";
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null;
}

/** Whether `given` is one of `tokens`. Every token is compared, so the time taken does not say which one matched. */
async function isOneOf(given: string | null, tokens: readonly string[]): Promise<boolean> {
  const matches = await Promise.all(tokens.map((token) => safeEqual(given ?? "", token)));
  return given !== null && matches.includes(true);
}

/** Whether the request carries `Authorization: Bearer <token>` for one of `tokens` (none: never). */
export async function bearerMatches(request: Request, tokens: readonly string[]): Promise<boolean> {
  return isOneOf(bearerOf(request), tokens);
}

/**
 * The caller of an endpoint that only operators may use: the API token (the current one, or
 * the previous one during a rotation), else 401, or 403 for a valid Actions OIDC token.
 */
export async function requireOperator(request: Request, settings: Settings): Promise<Caller> {
  const caller = await authenticate(
    request,
    settings,
    "a valid bearer token is required (Authorization: Bearer <API_TOKEN>)",
  );
  if (caller.kind !== "operator") {
    throw new HttpError("forbidden", "an Actions OIDC token opens only /route; this endpoint needs the API token");
  }
  return caller;
}

/** The caller of `/route`: the API token, or a GitHub Actions OIDC token that verifies, else 401. */
export function requireRouteCaller(request: Request, settings: Settings): Promise<Caller> {
  return authenticate(
    request,
    settings,
    "a valid bearer token is required (Authorization: Bearer <API_TOKEN or a GitHub Actions OIDC token>)",
  );
}

async function authenticate(request: Request, settings: Settings, missing: string): Promise<Caller> {
  const given = bearerOf(request);
  if (await isOneOf(given, settings.apiTokens)) return { kind: "operator" };
  if (given !== null && settings.oidc !== null && looksLikeJwt(given)) {
    return { kind: "job", identity: valueOr(await verifyActionsToken(given, settings.oidc)) };
  }
  throw new HttpError("unauthorized", missing);
}

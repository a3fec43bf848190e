import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import { type ActionsIdentity, fail, identityOf, ok, type Result } from "./core/index.ts";
import { log } from "./log.ts";
import { isTrustedIssuerUrl } from "./settings.ts";

/**
 * GitHub Actions OIDC tokens as bearer tokens for `/route`, verified with jose: RS256 only,
 * against the keys the issuer's discovery document points to, with its `iss`, the router's
 * `aud`, and `exp`/`nbf`/`iat` within {@link CLOCK_SKEW_SECONDS}.
 */

export interface OidcSettings {
  /** The issuer URL, without a trailing slash. */
  issuer: string;
  audience: string;
}

/** How far the issuer's clock and ours may disagree. */
export const CLOCK_SKEW_SECONDS = 60;
/** Actions job tokens live minutes; an older `iat` is refused whatever its `exp` says. */
const MAX_TOKEN_AGE = "1h";
/** How long a discovery document is trusted before it is read again. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** Time allowed for the discovery document and for the key set, each. */
const FETCH_TIMEOUT_MS = 5_000;
/** After a key set is read, an unknown `kid` reads it again only this much later (a flood of bad tokens costs the issuer little). */
const KEY_SET_COOLDOWN_MS = 5_000;
/** Issuers kept per isolate: one in steady state, a few while a deploy changes it. */
const MAX_ISSUERS = 4;
/** A JWT is three base64url parts; anything longer than this is not an Actions token. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Whether a bearer value is shaped like a JWT (and is worth verifying as one). */
export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && JWT.test(token);
}

interface KeySet {
  keys: JWTVerifyGetKey;
  until: number;
}

const keySets = new Map<string, KeySet>();

/** The issuer's key set, found through its discovery document (cached; jose refreshes it on an unknown `kid`). */
async function keySetOf(issuer: string, now: number): Promise<Result<JWTVerifyGetKey>> {
  const cached = keySets.get(issuer);
  if (cached !== undefined && now < cached.until) return ok(cached.keys);
  let jwksUri: unknown;
  try {
    const response = await fetch(`${issuer}/.well-known/openid-configuration`, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!response.ok) return fail("upstream", `the OIDC issuer's discovery document answered ${response.status}`);
    const document = (await response.json()) as { jwks_uri?: unknown; issuer?: unknown };
    if (document.issuer !== issuer)
      return fail("upstream", "the OIDC issuer's discovery document names another issuer");
    jwksUri = document.jwks_uri;
  } catch (error) {
    return fail("upstream", `the OIDC issuer's discovery document could not be read (${errorName(error)})`);
  }
  if (typeof jwksUri !== "string" || !isTrustedIssuerUrl(jwksUri)) {
    return fail("upstream", "the OIDC issuer's discovery document has no usable jwks_uri");
  }
  const keys = createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: FETCH_TIMEOUT_MS,
    cooldownDuration: KEY_SET_COOLDOWN_MS,
  });
  if (keySets.size >= MAX_ISSUERS) keySets.clear();
  keySets.set(issuer, { keys, until: now + DISCOVERY_TTL_MS });
  return ok(keys);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "error";
}

/** Why a token was refused, in words for its holder (never the token, never what was expected). */
function refusal(error: unknown): Result<never> {
  if (error instanceof errors.JWTExpired) return fail("unauthorized", "the OIDC token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    return fail("unauthorized", `the OIDC token's "${error.claim}" claim is not accepted`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return fail("unauthorized", "the OIDC token must be signed RS256");
  if (error instanceof errors.JWKSNoMatchingKey) {
    return fail("unauthorized", "the OIDC token is signed with a key the issuer does not list");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return fail("unauthorized", "the OIDC token's signature does not verify");
  }
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) {
    return fail("unauthorized", "the bearer token is not a valid JWT");
  }
  if (error instanceof errors.JWKSTimeout) return fail("upstream", "the OIDC issuer's key set timed out");
  log("warn", "oidc key set unavailable", { error: errorName(error) });
  return fail("upstream", "the OIDC issuer's key set could not be read");
}

/**
 * The Actions identity a token proves, or why it proves none: `unauthorized` for a token that
 * fails verification, `upstream` when the issuer cannot be asked for its keys.
 */
export async function verifyActionsToken(
  token: string,
  settings: OidcSettings,
  now = Date.now(),
): Promise<Result<ActionsIdentity>> {
  const keys = await keySetOf(settings.issuer, now);
  if (!keys.ok) return keys;
  try {
    const { payload } = await jwtVerify(token, keys.value, {
      issuer: settings.issuer,
      audience: settings.audience,
      algorithms: ["RS256"],
      clockTolerance: CLOCK_SKEW_SECONDS,
      maxTokenAge: MAX_TOKEN_AGE,
      requiredClaims: ["exp", "iat"],
      currentDate: new Date(now),
    });
    return identityOf(payload);
  } catch (error) {
    return refusal(error);
  }
}

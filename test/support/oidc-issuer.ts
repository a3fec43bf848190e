import { type CryptoKey, exportJWK, generateKeyPair, generateSecret, type JWK, SignJWT, UnsecuredJWT } from "jose";

/**
 * A stand-in for GitHub Actions' OIDC issuer, as a fetch handler: the Worker tests reach it
 * inside workerd through test/support/outbound.ts, the action tests over loopback HTTP through
 * test/action/fake-oidc.ts. It uses only the fetch API and jose, so it runs in Node and in workerd.
 *
 * ```ts
 * const oidc = createOidcIssuer("https://token.actions.test");
 * const jwt = await oidc.mint({ repository: "acme/app" }, { expiresIn: -60 }); // an expired token
 * const response = await oidc.handle(new Request(`${oidc.issuer}/.well-known/jwks`));
 * ```
 *
 * It serves:
 * - `GET /.well-known/openid-configuration`: `{issuer, jwks_uri, …}`, as GitHub's issuer does;
 * - `GET /.well-known/jwks`: the JWKS: the current RS256 public key (`kid`, `alg`, `use`), and an
 *   RS384 one (`fake-key-listed-rs384`) for testing that a verifier refuses other algorithms;
 * - `GET <tokenPath>?…&audience=<aud>` with `Authorization: bearer <requestToken>`: the Actions
 *   runtime's token endpoint, answering `{"value": "<jwt>"}` minted with the current claims and
 *   the asked audience (the current claims' `aud` when none is asked); 401 for a missing or wrong
 *   request token. `@actions/core`'s `getIDToken(audience)` calls exactly this.
 * - for tests only (left out of `requests`):
 *   - `POST /__mint` `{claims, options?}` → `{token}`: {@link OidcIssuer.mint} over HTTP, for
 *     tests that cannot hold the issuer itself (the Worker tests run in another process);
 *   - `POST /__rotate` → `{kid}`: {@link OidcIssuer.rotate};
 *   - `GET /__requests` → `{discovery, jwks}`: how often the discovery document and the JWKS were read.
 *
 * Claims: with `defaultClaims: "github"` (the default) they look like GitHub's (`repository`
 * "acme/app" on `refs/heads/main`, every id a string as GitHub sends them; `sub`,
 * `job_workflow_ref` and `workflow_ref` follow the repository and ref); with `"none"` a token
 * carries only `iss`, `aud`, the times, and what is asked, for tests that spell every claim (as
 * {@link jobClaims} does). `iss` is `issuer`, `aud` {@link FAKE_OIDC_AUDIENCE}.
 * - `setClaims(claims)`: the current claims become the defaults with `claims` over them (each
 *   call starts again from the defaults); a claim given as `undefined` is left out of the token.
 * - `mint(claims, options)`: a JWT of the current claims with `claims` over them; see {@link MintOptions}.
 * - `rotate()`: a new current key with a new `kid`; the old one leaves the JWKS at once, so a
 *   token it signed no longer verifies for a verifier that refetches the JWKS.
 * - `requests`: every request received other than the test-only ones, in order (`path` with its query).
 */

/** The OIDC issuer the Worker tests trust (OIDC_ISSUER): tests mint tokens with `POST {it}/__mint`. */
export const FAKE_OIDC_ISSUER = "https://token.actions.test";

/** The audience tokens carry unless another is asked for: the router's default OIDC_AUDIENCE. */
export const FAKE_OIDC_AUDIENCE = "pmoves-ci-orchestrator";

/** How long a minted token lives unless `expiresIn` says otherwise (GitHub's are short-lived too). */
const DEFAULT_LIFETIME_SECONDS = 300;
const DISCOVERY_PATH = "/.well-known/openid-configuration";
const JWKS_PATH = "/.well-known/jwks";
/** Where the Actions runtime serves job tokens (ACTIONS_ID_TOKEN_REQUEST_URL's path). */
const TOKEN_PATH = "/_apis/actions/idtoken";

/**
 * How a minted token differs from a good one. Times are absolute epoch seconds, so a test states
 * the instant it means (`Math.floor(Date.now() / 1000) + 600` for "ten minutes from now").
 */
export interface MintOptions {
  /** `iat`, epoch seconds (default: the claims' `iat`, else now). */
  issuedAt?: number;
  /** `nbf`, epoch seconds (default: the claims' `nbf`, else `issuedAt`). */
  notBefore?: number;
  /** `exp` is `issuedAt + expiresIn` seconds (default 300, unless the claims hold an `exp`; ≤ 0 mints an expired token). */
  expiresIn?: number;
  /** `aud`, a string or several (default: the claims' `aud`). */
  audience?: string | string[];
  /** `iss` (default: the claims' `iss`, that is this issuer). */
  issuer?: string;
  /** The header's `kid` (default the current key's; `null` leaves it out). */
  kid?: string | null;
  /**
   * The header's `alg` (default "RS256"). "none" mints an unsecured JWT (jose's `UnsecuredJWT`);
   * another algorithm signs with a fresh key of that algorithm the JWKS does not hold (an HMAC
   * one with a fresh secret, unless `key` is "public"), under the same `kid`.
   */
  alg?: string;
  /**
   * What signs an RS256 token: `"good"` (default) the current key, `"other"` a key the JWKS
   * never holds. `"public"` keys an HMAC `alg` with the current public key's modulus, the
   * algorithm-confusion attack on verifiers that take the algorithm from the token. `"listed"`
   * signs an RS384 token with the RS384 key the JWKS also lists (under its own `kid`), so only
   * the verifier's list of algorithms can refuse it.
   */
  key?: "good" | "other" | "public" | "listed";
}

/** How an issuer builds its tokens' claims. */
export interface OidcIssuerOptions {
  /** `"github"` (default): GitHub's claims for a push job of acme/app; `"none"`: only `iss` and `aud`. */
  defaultClaims?: "github" | "none";
}

/** One request the issuer received: its method and its path with the query. */
export interface IssuerRequest {
  method: string;
  path: string;
}

export interface OidcIssuer {
  /** The origin every token's `iss` names (no trailing slash): the Worker's OIDC_ISSUER. */
  issuer: string;
  /** Answers one request; see the top of this file. */
  handle(request: Request): Promise<Response>;
  mint(claims: Record<string, unknown>, options?: MintOptions): Promise<string>;
  setClaims(claims: Record<string, unknown>): void;
  /** Replaces the current key at once; resolves to the new `kid`. */
  rotate(): Promise<string>;
  requests: IssuerRequest[];
  /** ACTIONS_ID_TOKEN_REQUEST_TOKEN: the bearer token the token endpoint requires. */
  requestToken: string;
  /** The token endpoint's path; ACTIONS_ID_TOKEN_REQUEST_URL is the issuer, this path and a query. */
  tokenPath: string;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/** A fresh RS384 key pair and its public JWK under `kid`. */
async function rs384Key(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS384", { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS384", use: "sig" } };
}

/** A fresh RS256 key pair and its public JWK under `kid`. */
async function signingKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

/**
 * GitHub's claims for a job of `repository` on `ref`, as an Actions OIDC token carries them
 * (https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect).
 */
function githubClaims(issuer: string, overrides: Record<string, unknown>): Record<string, unknown> {
  const repository = typeof overrides.repository === "string" ? overrides.repository : "acme/app";
  const ref = typeof overrides.ref === "string" ? overrides.ref : "refs/heads/main";
  const owner = repository.split("/")[0] ?? "acme";
  const workflowRef = `${repository}/.github/workflows/build.yml@${ref}`;
  return {
    jti: crypto.randomUUID(),
    sub: `repo:${repository}:ref:${ref}`,
    aud: FAKE_OIDC_AUDIENCE,
    ref,
    sha: "2".repeat(40),
    repository,
    repository_id: "700000001",
    repository_owner: owner,
    repository_owner_id: "700000000",
    repository_visibility: "private",
    actor: "octocat",
    actor_id: "583231",
    run_id: "9000000001",
    run_number: "42",
    run_attempt: "1",
    check_run_id: "41000000001",
    event_name: "push",
    ref_type: ref.startsWith("refs/tags/") ? "tag" : "branch",
    ref_protected: "false",
    head_ref: "",
    base_ref: "",
    workflow: "build",
    workflow_ref: workflowRef,
    workflow_sha: "2".repeat(40),
    job_workflow_ref: workflowRef,
    job_workflow_sha: "2".repeat(40),
    runner_environment: "github-hosted",
    iss: issuer,
  };
}

/** `base` with `over` applied; a key `over` sets to `undefined` is removed. */
function overlay(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base, ...over };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged;
}

/** The key that signs for an algorithm other than RS256: one the JWKS never holds, or for "public" the current public key. */
async function foreignKey(alg: string, key: MintOptions["key"], current: SigningKey): Promise<CryptoKey | Uint8Array> {
  if (alg.startsWith("HS")) {
    if (key === "public") return new TextEncoder().encode(String(current.jwk.n));
    return generateSecret(alg, { extractable: true });
  }
  return (await generateKeyPair(alg, { extractable: true })).privateKey;
}

/** A JSON answer. */
function json(status: number, body: unknown): Response {
  return Response.json(body, { status });
}

/** Whether `value` is a plain JSON object. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A fake issuer at `issuer` (an origin, no trailing slash); see the top of this file. */
export function createOidcIssuer(issuer: string, options: OidcIssuerOptions = {}): OidcIssuer {
  const requests: IssuerRequest[] = [];
  const requestToken = `fake-request-token-${crypto.randomUUID()}`;
  const base = (asked: Record<string, unknown>): Record<string, unknown> =>
    options.defaultClaims === "none" ? { iss: issuer, aud: FAKE_OIDC_AUDIENCE } : githubClaims(issuer, asked);
  let generation = 1;
  let current = signingKey(`fake-key-${generation}`);
  const other = signingKey("fake-key-other");
  const listed384 = rs384Key("fake-key-listed-rs384");
  let claimOverrides: Record<string, unknown> = {};

  async function mint(claims: Record<string, unknown>, mintOptions: MintOptions = {}): Promise<string> {
    const good = await current;
    const now = Math.floor(Date.now() / 1000);
    const asked = { ...claimOverrides, ...claims };
    const payload = overlay(base(asked), asked);
    const iat = mintOptions.issuedAt ?? (typeof payload.iat === "number" ? payload.iat : now);
    payload.iat = iat;
    payload.nbf = mintOptions.notBefore ?? (typeof payload.nbf === "number" ? payload.nbf : iat);
    if (mintOptions.expiresIn !== undefined || typeof payload.exp !== "number") {
      payload.exp = iat + (mintOptions.expiresIn ?? DEFAULT_LIFETIME_SECONDS);
    }
    if (mintOptions.audience !== undefined) payload.aud = mintOptions.audience;
    if (mintOptions.issuer !== undefined) payload.iss = mintOptions.issuer;
    const alg = mintOptions.alg ?? "RS256";
    if (alg === "none") return new UnsecuredJWT(payload).encode();
    const listed = alg === "RS384" && mintOptions.key === "listed" ? await listed384 : null;
    const kid = mintOptions.kid === undefined ? (listed?.kid ?? good.kid) : mintOptions.kid;
    const header = kid === null ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid };
    const key =
      listed !== null
        ? listed.privateKey
        : alg !== "RS256"
          ? await foreignKey(alg, mintOptions.key, good)
          : mintOptions.key === "other"
            ? (await other).privateKey
            : good.privateKey;
    return new SignJWT(payload).setProtectedHeader(header).sign(key);
  }

  function rotate(): Promise<string> {
    generation += 1;
    current = signingKey(`fake-key-${generation}`);
    return current.then((key) => key.kid);
  }

  /** The Actions runtime's token endpoint: a token for the asked audience, to a caller with the request token. */
  async function tokenEndpoint(request: Request, url: URL): Promise<Response> {
    const [scheme, given] = (request.headers.get("authorization") ?? "").split(" ");
    if (scheme?.toLowerCase() !== "bearer" || given !== requestToken) {
      return json(401, { message: "the request token is missing or wrong" });
    }
    const audience = url.searchParams.get("audience");
    return json(200, { count: 1, value: await mint({}, audience === null ? {} : { audience }) });
  }

  /** The test-only routes: minting over HTTP, rotating, and the read counts. */
  async function testRoute(request: Request, pathname: string): Promise<Response> {
    if (pathname === "/__mint") {
      if (request.method !== "POST") return json(405, { message: "POST only" });
      const body: unknown = await request.json().catch(() => null);
      if (!isObject(body) || !isObject(body.claims) || (body.options !== undefined && !isObject(body.options))) {
        return json(400, { message: "expected {claims: {...}, options?: {...}}" });
      }
      return json(200, { token: await mint(body.claims, body.options as MintOptions | undefined) });
    }
    if (pathname === "/__rotate") {
      if (request.method !== "POST") return json(405, { message: "POST only" });
      return json(200, { kid: await rotate() });
    }
    if (pathname === "/__requests") {
      const reads = (path: string) => requests.filter((seen) => new URL(seen.path, issuer).pathname === path).length;
      return json(200, { discovery: reads(DISCOVERY_PATH), jwks: reads(JWKS_PATH) });
    }
    return json(404, { message: `no ${pathname} here` });
  }

  /** Serves one request: discovery, the JWKS, the token endpoint, or a test-only route. */
  async function serve(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/__")) return testRoute(request, url.pathname);
    requests.push({ method: request.method, path: `${url.pathname}${url.search}` });
    if (request.method !== "GET") return json(405, { message: "GET only" });
    if (url.pathname === DISCOVERY_PATH) {
      return json(200, {
        issuer,
        jwks_uri: `${issuer}${JWKS_PATH}`,
        subject_types_supported: ["public", "pairwise"],
        response_types_supported: ["id_token"],
        id_token_signing_alg_values_supported: ["RS256"],
        claims_supported: Object.keys(githubClaims(issuer, {})),
        scopes_supported: ["openid"],
      });
    }
    if (url.pathname === JWKS_PATH) return json(200, { keys: [(await current).jwk, (await listed384).jwk] });
    if (url.pathname === TOKEN_PATH) return tokenEndpoint(request, url);
    return json(404, { message: `no ${url.pathname} here` });
  }

  return {
    issuer,
    handle: (request) => serve(request).catch((error: unknown) => json(500, { message: String(error) })),
    mint,
    setClaims: (claims) => {
      claimOverrides = { ...claims };
    },
    rotate,
    requests,
    requestToken,
    tokenPath: TOKEN_PATH,
  };
}

/** The claims of an Actions job token for `repository`, as github.com writes them (ids as strings). */
export function jobClaims(
  repository: string,
  ids: { repositoryId: number; ownerId: number; checkRunId?: number },
): Record<string, unknown> {
  const [owner] = repository.split("/");
  return {
    sub: `repo:${repository}:ref:refs/heads/main`,
    repository,
    repository_id: String(ids.repositoryId),
    repository_owner: owner,
    repository_owner_id: String(ids.ownerId),
    ref: "refs/heads/main",
    sha: "a".repeat(40),
    event_name: "push",
    run_id: "1000",
    run_attempt: "1",
    job_workflow_ref: `${repository}/.github/workflows/build.yml@refs/heads/main`,
    runner_environment: "github-hosted",
    ...(ids.checkRunId === undefined ? {} : { check_run_id: String(ids.checkRunId) }),
  };
}

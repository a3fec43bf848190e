/**
 * The fake OIDC issuer behaves as GitHub's does for a verifier: its tokens verify against the
 * key set its discovery document names, and each way of minting a bad token makes a token a
 * verifier must refuse. Checked over loopback HTTP (test/action/fake-oidc.ts), then its test-only
 * routes and bare claims as the Worker tests use them, through its fetch handler directly.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, type JWK, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOidcIssuer, FAKE_OIDC_ISSUER, jobClaims } from "../support/oidc-issuer.ts";
import { type FakeOidc, startFakeOidc } from "./fake-oidc.ts";

/** The RS384 key the fake lists beside its RS256 one, for the algorithm test. */
const LISTED_RS384_KID = "fake-key-listed-rs384";

let oidc: FakeOidc;

beforeAll(async () => {
  oidc = await startFakeOidc();
});

afterAll(async () => {
  await oidc.stop();
});

/** Verifies a token as the router does: RS256 only, the issuer's key set, its `iss`, the router's `aud`. */
async function verify(token: string, audience = "pmoves-ci-orchestrator") {
  const discovery = (await (await fetch(`${oidc.issuer}/.well-known/openid-configuration`)).json()) as {
    issuer: string;
    jwks_uri: string;
  };
  expect(discovery.issuer).toBe(oidc.issuer);
  const keys = createRemoteJWKSet(new URL(discovery.jwks_uri));
  return jwtVerify(token, keys, { issuer: oidc.issuer, audience, algorithms: ["RS256"] });
}

describe("the fake OIDC issuer", () => {
  it("mints tokens with GitHub's claims that verify against its key set", async () => {
    const { payload, protectedHeader } = await verify(await oidc.mint({}));
    expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "JWT" });
    expect(payload).toMatchObject({
      iss: oidc.issuer,
      aud: "pmoves-ci-orchestrator",
      repository: "acme/app",
      repository_owner: "acme",
      ref: "refs/heads/main",
      sub: "repo:acme/app:ref:refs/heads/main",
      event_name: "push",
      runner_environment: "github-hosted",
    });
    for (const claim of ["repository_id", "repository_owner_id", "run_id", "run_attempt", "check_run_id", "sha"]) {
      expect(typeof payload[claim], claim).toBe("string");
    }
    expect(payload.job_workflow_ref).toBe("acme/app/.github/workflows/build.yml@refs/heads/main");
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
  });

  it("lays claims over the current ones, follows the repository in derived claims, and drops undefined ones", async () => {
    oidc.setClaims({ repository: "acme/other", ref: "refs/heads/dev" });
    try {
      const { payload } = await verify(await oidc.mint({ run_id: "5", event_name: undefined }));
      expect(payload).toMatchObject({
        repository: "acme/other",
        sub: "repo:acme/other:ref:refs/heads/dev",
        run_id: "5",
      });
      expect(payload).not.toHaveProperty("event_name");
    } finally {
      oidc.setClaims({});
    }
  });

  it("serves the Actions token endpoint as @actions/core's getIDToken calls it, for the asked audience", async () => {
    // getIDToken: GET the request URL plus `&audience=`, with the request token as a bearer token.
    const response = await fetch(`${oidc.requestUrl}&audience=${encodeURIComponent("custom-audience")}`, {
      headers: { authorization: `Bearer ${oidc.requestToken}`, accept: "application/json" },
    });
    expect(response.status).toBe(200);
    const { value } = (await response.json()) as { value: string };
    const { payload } = await verify(value, "custom-audience");
    expect(payload.repository).toBe("acme/app");
    expect(oidc.requests.at(-3)?.path).toMatch(/\?api-version=2\.0&audience=custom-audience$/);
  });

  it("refuses a token request without the request token", async () => {
    const wrong = await fetch(`${oidc.requestUrl}&audience=x`, { headers: { authorization: "bearer nope" } });
    expect(wrong.status).toBe(401);
    const none = await fetch(`${oidc.requestUrl}&audience=x`);
    expect(none.status).toBe(401);
    const right = await fetch(`${oidc.requestUrl}&audience=x`, {
      headers: { authorization: `Bearer ${oidc.requestToken}` },
    });
    expect(((await right.json()) as { value: string }).value.split(".")).toHaveLength(3);
  });

  it.each([
    ["another key", { key: "other" as const }, errors.JWSSignatureVerificationFailed],
    ["an expired token", { expiresIn: -120 }, errors.JWTExpired],
    ["a token not yet valid", { notBefore: Math.floor(Date.now() / 1000) + 3600 }, errors.JWTClaimValidationFailed],
    ["another audience", { audience: "someone-else" }, errors.JWTClaimValidationFailed],
    ["an unknown kid", { kid: "nobody" }, errors.JWKSNoMatchingKey],
    ["RS384", { alg: "RS384" }, errors.JOSEAlgNotAllowed],
    ["RS384 with the listed RS384 key", { alg: "RS384", key: "listed" as const }, errors.JOSEAlgNotAllowed],
    ["HS256", { alg: "HS256" }, errors.JOSEAlgNotAllowed],
    ["HS256 keyed with the public key", { alg: "HS256", key: "public" as const }, errors.JOSEAlgNotAllowed],
    ["another issuer", { issuer: "https://evil.test" }, errors.JWTClaimValidationFailed],
    ["alg none", { alg: "none" }, errors.JOSEAlgNotAllowed],
  ])("mints tokens a verifier refuses: %s", async (_, options, refusal) => {
    const token = await oidc.mint({}, options);
    await expect(verify(token)).rejects.toBeInstanceOf(refusal);
  });

  it("leaves the kid out when asked", async () => {
    expect(decodeProtectedHeader(await oidc.mint({}, { kid: null })).kid).toBeUndefined();
  });

  it("rotates: a new kid, and the old key leaves the key set at once", async () => {
    const before = await oidc.mint({});
    const oldKid = decodeProtectedHeader(before).kid;
    await oidc.rotate();
    const after = await oidc.mint({});
    expect(decodeProtectedHeader(after).kid).not.toBe(oldKid);
    await expect(verify(after)).resolves.toBeDefined();
    await expect(verify(before)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    const jwks = (await (await fetch(`${oidc.issuer}/.well-known/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toEqual([decodeProtectedHeader(after).kid, LISTED_RS384_KID]);
  });
});

describe("the fake OIDC issuer as the Worker tests use it", () => {
  const issuer = createOidcIssuer(FAKE_OIDC_ISSUER, { defaultClaims: "none" });
  const call = (method: string, path: string, body?: unknown) =>
    issuer.handle(
      new Request(`${FAKE_OIDC_ISSUER}${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );

  it("mints with POST /__mint a token of only the claims asked, with absolute times", async () => {
    const claims = jobClaims("acme/served", { repositoryId: 5001, ownerId: 5000 });
    const issuedAt = Math.floor(Date.now() / 1000) - 30;
    const response = await call("POST", "/__mint", { claims, options: { issuedAt, expiresIn: 120 } });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    const jwks = (await (await call("GET", "/.well-known/jwks")).json()) as { keys: JWK[] };
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: jwks.keys }), {
      issuer: FAKE_OIDC_ISSUER,
      audience: "pmoves-ci-orchestrator",
      algorithms: ["RS256"],
    });
    expect(Object.keys(payload).sort()).toEqual([...Object.keys(claims), "aud", "exp", "iat", "iss", "nbf"].sort());
    expect(payload).toMatchObject({ ...claims, iat: issuedAt, nbf: issuedAt, exp: issuedAt + 120 });
  });

  it("counts discovery and key set reads at GET /__requests, and rotates with POST /__rotate", async () => {
    const reads = async () => (await (await call("GET", "/__requests")).json()) as { discovery: number; jwks: number };
    const before = await reads();
    await call("GET", "/.well-known/openid-configuration");
    const first = (await (await call("GET", "/.well-known/jwks")).json()) as { keys: { kid: string }[] };
    expect(await reads()).toEqual({ discovery: before.discovery + 1, jwks: before.jwks + 1 });
    const { kid } = (await (await call("POST", "/__rotate")).json()) as { kid: string };
    expect(kid).not.toBe(first.keys[0]?.kid);
    const second = (await (await call("GET", "/.well-known/jwks")).json()) as { keys: { kid: string }[] };
    expect(second.keys.map((key) => key.kid)).toEqual([kid, LISTED_RS384_KID]);
    expect(issuer.requests.some(({ path }) => path.startsWith("/__"))).toBe(false);
  });

  it("answers 400 to a mint request without claims, 405 to a wrong method, 404 elsewhere", async () => {
    expect((await call("POST", "/__mint", { options: {} })).status).toBe(400);
    expect((await call("GET", "/__mint")).status).toBe(405);
    expect((await call("POST", "/.well-known/jwks")).status).toBe(405);
    expect((await call("GET", "/elsewhere")).status).toBe(404);
  });
});

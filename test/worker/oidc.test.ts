/**
 * GitHub Actions OIDC tokens as bearer tokens for /route: verified against the fake issuer's
 * key set (test/support/oidc-issuer.ts), held to the repositories the routing configuration
 * serves and to the ids first seen under their names, and kept out of every other endpoint.
 */
import { describe, expect, it } from "vitest";
import { OIDC_OFF, VAR_NAMES } from "../../worker/src/bindings.ts";
import { OIDC_OWNER, OIDC_PINNED, OIDC_SERVED } from "../support/fleet-config.ts";
import { FAKE_OIDC_ISSUER, jobClaims, type MintOptions } from "../support/oidc-issuer.ts";
import { call, expectDecision, expectError, randomSha, withBindings } from "./helpers.ts";
import { ledgerSql, newJobId, sleep } from "./observability.ts";

/** Now, in epoch seconds: the fake issuer takes absolute times. */
const now = () => Math.floor(Date.now() / 1000);

/** A token from the fake issuer. */
async function mint(claims: Record<string, unknown>, options: MintOptions = {}): Promise<string> {
  const res = await fetch(`${FAKE_OIDC_ISSUER}/__mint`, { method: "POST", body: JSON.stringify({ claims, options }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Fresh ids, so tests do not meet each other's pins. */
const freshId = () => 10_000 + Math.floor(Math.random() * 1_000_000_000);

/** A served repository of the owner-wide entry, with a name no other test uses. */
const ownRepository = () => `${OIDC_OWNER}/app-${freshId()}`;

function routeOf(repository: string, extra = "") {
  return `/route?repository=${repository}&sha=${randomSha()}${extra}`;
}

async function issuerReads(): Promise<{ discovery: number; jwks: number }> {
  return (await (await fetch(`${FAKE_OIDC_ISSUER}/__requests`)).json()) as { discovery: number; jwks: number };
}

describe("a job's OIDC token opens /route", () => {
  it("GET /route for its own served repository: 200 with a decision, its check run recorded as the routing job", async () => {
    const repository = ownRepository();
    const checkRunId = newJobId();
    const token = await mint(jobClaims(repository, { repositoryId: freshId(), ownerId: 4242, checkRunId }));
    const res = await call(routeOf(repository), { token });
    expect(res.status, res.text).toBe(200);
    expectDecision(res.body.decision);
    expect(res.body).toMatchObject({ build_id: null, recorded: false, routing_job: checkRunId });
    expect(await ledgerSql("SELECT job_id FROM routing_jobs WHERE job_id = ?", checkRunId)).toEqual([
      { job_id: checkRunId },
    ]);
  });

  it("POST /route for a repository listed by name", async () => {
    const token = await mint(jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 }));
    const res = await call("/route", {
      token,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repository: OIDC_SERVED, files: ["Dockerfile"] }),
    });
    expect(res.status, res.text).toBe(200);
    expect(expectDecision(res.body.decision).requirement).toBe("docker");
    expect(res.body.routing_job).toBeNull();
  });

  it("a repository pinned by the configuration is served only under its id", async () => {
    const good = await mint(jobClaims(OIDC_PINNED.repository, { repositoryId: OIDC_PINNED.id, ownerId: 1 }));
    expect((await call(routeOf(OIDC_PINNED.repository), { token: good })).status).toBe(200);
    const other = await mint(jobClaims(OIDC_PINNED.repository, { repositoryId: OIDC_PINNED.id + 1, ownerId: 1 }));
    expectError(await call(routeOf(OIDC_PINNED.repository), { token: other }), 403, "forbidden");
  });
});

describe("what an OIDC token may not do", () => {
  it("ask about a repository the router does not serve: 403, nothing stored", async () => {
    const token = await mint(jobClaims("stranger/app", { repositoryId: freshId(), ownerId: freshId() }));
    const before = await ledgerSql("SELECT key FROM repository_pins");
    const message = expectError(await call(routeOf("stranger/app"), { token }), 403, "forbidden");
    expect(message).toContain("not a repository this router serves");
    expect(await ledgerSql("SELECT key FROM repository_pins")).toEqual(before);
  });

  it("ask about another repository, even a served one: 403", async () => {
    const token = await mint(jobClaims(ownRepository(), { repositoryId: freshId(), ownerId: 4242 }));
    const message = expectError(await call(routeOf(OIDC_SERVED), { token }), 403, "forbidden");
    expect(message).toContain("may ask only about");
  });

  it("speak for another job than its own: 403, no routing job recorded", async () => {
    const repository = ownRepository();
    const token = await mint(jobClaims(repository, { repositoryId: freshId(), ownerId: 4242, checkRunId: 11 }));
    const other = newJobId();
    expectError(await call(routeOf(repository, `&job_id=${other}`), { token }), 403, "forbidden");
    expect(await ledgerSql("SELECT job_id FROM routing_jobs WHERE job_id = ?", other)).toEqual([]);
  });

  it("inherit a name: a re-created repository (new id) or a new owner under an old name is refused", async () => {
    const repository = ownRepository();
    const first = await mint(jobClaims(repository, { repositoryId: 900_001, ownerId: 4242 }));
    expect((await call(routeOf(repository), { token: first })).status).toBe(200);
    const recreated = await mint(jobClaims(repository, { repositoryId: 900_002, ownerId: 4242 }));
    expect(expectError(await call(routeOf(repository), { token: recreated }), 403, "forbidden")).toContain(
      "does not inherit",
    );
    // The owner's id was pinned by the first token of the owner-wide entry.
    const newOwner = ownRepository();
    const squatter = await mint(jobClaims(newOwner, { repositoryId: freshId(), ownerId: 999_999 }));
    expectError(await call(routeOf(newOwner), { token: squatter }), 403, "forbidden");
  });

  it("open /status, /fleet, /metrics or /costs: 403", async () => {
    const token = await mint(jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 }));
    for (const path of ["/status?build_id=x", "/fleet", "/metrics", "/costs"]) {
      expectError(await call(path, { token }), 403, "forbidden");
    }
  });
});

describe("tokens that do not verify: 401", () => {
  const claims = () => jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 });
  const cases: [string, MintOptions][] = [
    ["expired", { expiresIn: -120 }],
    ["not valid yet", { notBefore: now() + 600 }],
    ["issued in the future", { issuedAt: now() + 600, notBefore: now() }],
    ["issued over an hour ago, though not expired", { issuedAt: now() - 7200, expiresIn: 7200 + 300 }],
    ["for another audience", { audience: "someone-else" }],
    ["from another issuer", { issuer: "https://evil.test" }],
    ["signed RS384 with a key the issuer lists for RS384", { alg: "RS384", key: "listed" }],
    ["signed HS256 with the public key", { alg: "HS256", key: "public" }],
    ["signed with a key the issuer does not list", { key: "other" }],
  ];
  for (const [name, options] of cases) {
    it(name, async () => {
      const token = await mint(claims(), options);
      expectError(await call(routeOf(OIDC_SERVED), { token }), 401, "unauthorized");
    });
  }

  it("within the clock skew: accepted", async () => {
    const token = await mint(claims(), { issuedAt: now() + 30, notBefore: now() + 30 });
    expect((await call(routeOf(OIDC_SERVED), { token })).status).toBe(200);
  });

  it("a token without the repository claims", async () => {
    const token = await mint({ sub: "repo:acme/served:ref:refs/heads/main" });
    expectError(await call(routeOf(OIDC_SERVED), { token }), 401, "unauthorized");
  });

  it("a tampered payload", async () => {
    const token = await mint(claims());
    const [header, , signature] = token.split(".");
    const forged = btoa(JSON.stringify({ ...claims(), repository: "acme/other" })).replace(/=+$/, "");
    expectError(await call(routeOf("acme/other"), { token: `${header}.${forged}.${signature}` }), 401, "unauthorized");
  });
});

describe("the issuer's keys", () => {
  it("are read once and kept: a second token costs no discovery or key set request", async () => {
    const token = await mint(jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 }));
    expect((await call(routeOf(OIDC_SERVED), { token })).status).toBe(200);
    const before = await issuerReads();
    expect((await call(routeOf(OIDC_SERVED), { token })).status).toBe(200);
    expect(await issuerReads()).toEqual(before);
  });

  it("are read again for a token signed with a new key (after the issuer rotates)", async () => {
    const claims = jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 });
    expect((await call(routeOf(OIDC_SERVED), { token: await mint(claims) })).status).toBe(200);
    await fetch(`${FAKE_OIDC_ISSUER}/__rotate`, { method: "POST" });
    // A key set just read is not read again at once for an unknown key.
    await sleep(5_100);
    const before = await issuerReads();
    expect((await call(routeOf(OIDC_SERVED), { token: await mint(claims) })).status).toBe(200);
    expect((await issuerReads()).jwks).toBe(before.jwks + 1);
  }, 15_000);

  it("an issuer that cannot be reached: 503 unavailable", async () => {
    const via = withBindings({ [VAR_NAMES.oidcIssuer]: "https://down.test" });
    const token = await mint(jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 }), {
      issuer: "https://down.test",
    });
    expectError(await call(routeOf(OIDC_SERVED), { token, via }), 503, "unavailable");
  });

  it("OIDC_ISSUER off: an OIDC token is refused like any unknown bearer, the API token still opens /route", async () => {
    const via = withBindings({ [VAR_NAMES.oidcIssuer]: OIDC_OFF });
    const token = await mint(jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 }));
    const before = await issuerReads();
    expectError(await call(routeOf(OIDC_SERVED), { token, via }), 401, "unauthorized");
    expect(await issuerReads()).toEqual(before);
    expect((await call(routeOf(OIDC_SERVED), { via })).status).toBe(200);
  });

  it("OIDC_ISSUER over plain http to another machine is a misconfiguration /health names", async () => {
    const via = withBindings({ [VAR_NAMES.oidcIssuer]: "http://token.example.com" });
    const res = await call("/health", { token: null, via });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: "misconfigured", settings: [VAR_NAMES.oidcIssuer] });
  });
});

/**
 * GitHub App credentials: the App JWT (claims, header, signature, from either PEM format), the
 * PKCS#1 → PKCS#8 wrap against node:crypto's own conversion, the installation-token cache's
 * policy, the settings App mode is read from, and `installation.id` read from a delivery.
 */

import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, importPKCS8, importSPKI, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { SECRET_NAMES } from "../../worker/src/bindings.ts";
import {
  APP_JWT_MAX_SECONDS,
  appJwtClaims,
  appJwtFresh,
  appPrivateKeyPkcs8,
  base64Decode,
  base64Encode,
  derLength,
  INSTALLATION_TOKEN_MARGIN_MS,
  InstallationTokens,
  installationOf,
  LruMap,
  pkcs1ToPkcs8,
  tokenUsable,
} from "../../worker/src/core/index.ts";
import {
  authFor,
  GitHubClients,
  lastInstallationOf,
  noteInstallation,
  signAppJwt,
} from "../../worker/src/github-app.ts";
import { parseSettings, SettingsError } from "../../worker/src/settings.ts";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PKCS8_PEM = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const PKCS1_PEM = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const PUBLIC_PEM = publicKey.export({ type: "spki", format: "pem" }).toString();
const APP_ID = "123456";
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

/** The DER inside a PEM. */
function derOf(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64"));
}

describe("the App JWT", () => {
  it("is backdated 60 s, lives 9 minutes (within GitHub's 10) and names the App", () => {
    const claims = appJwtClaims(APP_ID, NOW + 999);
    const now = NOW / 1000;
    expect(claims).toEqual({ iat: now - 60, exp: now + 9 * 60, iss: APP_ID });
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(APP_JWT_MAX_SECONDS);
  });

  it("is signed again a minute before it expires", () => {
    const claims = appJwtClaims(APP_ID, NOW);
    expect(appJwtFresh(claims, (claims.exp - 61) * 1000)).toBe(true);
    expect(appJwtFresh(claims, (claims.exp - 60) * 1000)).toBe(false);
  });

  it.each([
    ["PKCS#8", PKCS8_PEM],
    ["PKCS#1", PKCS1_PEM],
  ])("from a %s key: RS256, typ JWT, the claims, and a signature the public key verifies", async (_, pem) => {
    const pkcs8 = appPrivateKeyPkcs8(pem);
    expect(pkcs8).not.toBeNull();
    const key = await importPKCS8(pkcs8 ?? "", "RS256");
    const jwt = await signAppJwt(appJwtClaims(APP_ID, NOW), key);
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: "RS256", typ: "JWT" });
    const now = NOW / 1000;
    expect(decodeJwt(jwt)).toEqual({ iat: now - 60, exp: now + 540, iss: APP_ID });
    const { payload } = await jwtVerify(jwt, await importSPKI(PUBLIC_PEM, "RS256"), {
      algorithms: ["RS256"],
      issuer: APP_ID,
      currentDate: new Date(NOW),
    });
    expect(payload.iss).toBe(APP_ID);
  });

  it("is not verified by another key", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" });
    const key = await importPKCS8(PKCS8_PEM, "RS256");
    const jwt = await signAppJwt(appJwtClaims(APP_ID, NOW), key);
    await expect(
      jwtVerify(jwt, await importSPKI(other.toString(), "RS256"), { currentDate: new Date(NOW) }),
    ).rejects.toThrow();
  });
});

describe("private keys", () => {
  it("wraps PKCS#1 into the same PKCS#8 node:crypto converts it to", () => {
    expect(pkcs1ToPkcs8(derOf(PKCS1_PEM))).toEqual(derOf(PKCS8_PEM));
    expect(appPrivateKeyPkcs8(PKCS1_PEM)).toBe(PKCS8_PEM);
    expect(appPrivateKeyPkcs8(PKCS8_PEM)).toBe(PKCS8_PEM);
  });

  it.each([512, 1024])("wraps a %i-bit key as node:crypto does (every length form)", (bits) => {
    const key = generateKeyPairSync("rsa", { modulusLength: bits }).privateKey;
    const pkcs1 = key.export({ type: "pkcs1", format: "der" });
    const pkcs8 = key.export({ type: "pkcs8", format: "der" });
    expect(Buffer.from(pkcs1ToPkcs8(new Uint8Array(pkcs1)))).toEqual(pkcs8);
    // The wrapped key reads back as the same key.
    const wrapped = createPrivateKey({
      key: Buffer.from(pkcs1ToPkcs8(new Uint8Array(pkcs1))),
      format: "der",
      type: "pkcs8",
    });
    expect(wrapped.export({ type: "pkcs1", format: "der" })).toEqual(pkcs1);
  });

  it("encodes DER lengths in the short and long forms", () => {
    expect(derLength(0)).toEqual([0]);
    expect(derLength(0x7f)).toEqual([0x7f]);
    expect(derLength(0x80)).toEqual([0x81, 0x80]);
    expect(derLength(0xff)).toEqual([0x81, 0xff]);
    expect(derLength(0x100)).toEqual([0x82, 0x01, 0x00]);
    expect(derLength(0x10000)).toEqual([0x83, 0x01, 0x00, 0x00]);
  });

  it("reads a key pasted with \\n escapes or CRLF line ends", () => {
    expect(appPrivateKeyPkcs8(PKCS1_PEM.trim().replaceAll("\n", "\\n"))).toBe(PKCS8_PEM);
    expect(appPrivateKeyPkcs8(PKCS1_PEM.replaceAll("\n", "\r\n"))).toBe(PKCS8_PEM);
  });

  it("refuses what is not an RSA private key in PEM", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" });
    expect(appPrivateKeyPkcs8(ec.toString())).toBeNull();
    expect(appPrivateKeyPkcs8(PUBLIC_PEM)).toBeNull();
    expect(appPrivateKeyPkcs8("not a key")).toBeNull();
    expect(appPrivateKeyPkcs8(PKCS1_PEM.replace("RSA PRIVATE KEY-----\n", "RSA PRIVATE KEY-----\nAAAA"))).toBeNull();
    expect(appPrivateKeyPkcs8(PKCS1_PEM.replace("END RSA", "END"))).toBeNull();
  });

  it("base64 round-trips every length", () => {
    for (let n = 0; n < 10; n++) {
      const bytes = new Uint8Array(Array.from({ length: n }, (_, i) => (i * 97 + 13) % 256));
      expect(base64Encode(bytes)).toBe(Buffer.from(bytes).toString("base64"));
      expect(base64Decode(base64Encode(bytes))).toEqual(bytes);
    }
    expect(base64Decode("abc")).toBeNull();
    expect(base64Decode("ab=c")).toBeNull();
  });
});

describe("installation tokens", () => {
  /** A cache whose mints are counted, on a clock the test moves; each token expires an hour after it is minted. */
  function rig(limit = 256) {
    let now = NOW;
    const mints: number[] = [];
    const tokens = new InstallationTokens(
      async (installation) => {
        mints.push(installation);
        return { token: `t-${installation}-${mints.length}`, expiresAt: now + 3600_000 };
      },
      limit,
      () => now,
    );
    return { tokens, mints, at: (ms: number) => (now = ms) };
  }

  it("reuses a token until 5 minutes before it expires, then mints once", async () => {
    const { tokens, mints, at } = rig();
    expect(await tokens.token(7)).toBe("t-7-1");
    at(NOW + 3600_000 - INSTALLATION_TOKEN_MARGIN_MS - 1);
    expect(await tokens.token(7)).toBe("t-7-1");
    at(NOW + 3600_000 - INSTALLATION_TOKEN_MARGIN_MS);
    expect(await tokens.token(7)).toBe("t-7-2");
    expect(await tokens.token(7)).toBe("t-7-2");
    expect(mints).toEqual([7, 7]);
    expect(tokenUsable(NOW + INSTALLATION_TOKEN_MARGIN_MS + 1, NOW)).toBe(true);
    expect(tokenUsable(NOW + INSTALLATION_TOKEN_MARGIN_MS, NOW)).toBe(false);
  });

  it("keeps installations apart", async () => {
    const { tokens, mints } = rig();
    expect(await tokens.token(1)).toBe("t-1-1");
    expect(await tokens.token(2)).toBe("t-2-2");
    expect(await tokens.token(1)).toBe("t-1-1");
    expect(mints).toEqual([1, 2]);
  });

  it("shares one mint among concurrent callers", async () => {
    const { tokens, mints } = rig();
    const all = await Promise.all(Array.from({ length: 10 }, () => tokens.token(5)));
    expect(new Set(all)).toEqual(new Set(["t-5-1"]));
    expect(mints).toEqual([5]);
  });

  it("drops a refused token once, however many callers saw it refused", async () => {
    const { tokens, mints } = rig();
    const old = await tokens.token(3);
    for (let i = 0; i < 3; i++) tokens.drop(3, old);
    const fresh = await Promise.all(Array.from({ length: 5 }, () => tokens.token(3)));
    expect(new Set(fresh)).toEqual(new Set(["t-3-2"]));
    // A late refusal of the old token leaves the new one.
    tokens.drop(3, old);
    expect(await tokens.token(3)).toBe("t-3-2");
    expect(mints).toEqual([3, 3]);
  });

  it("keeps at most `limit` installations, the least recently used out", async () => {
    const { tokens } = rig(2);
    await tokens.token(1);
    await tokens.token(2);
    await tokens.token(1);
    await tokens.token(3);
    expect([tokens.has(1), tokens.has(2), tokens.has(3)]).toEqual([true, false, true]);
  });

  it("lets a failed mint be tried again", async () => {
    let fail = true;
    const tokens = new InstallationTokens(async () => {
      if (fail) throw new Error("down");
      return { token: "ok", expiresAt: Date.now() + 3600_000 };
    });
    await expect(tokens.token(1)).rejects.toThrow("down");
    fail = false;
    expect(await tokens.token(1)).toBe("ok");
  });

  it("LruMap drops the oldest past its limit", () => {
    const map = new LruMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    map.get("a");
    map.set("c", 3);
    expect([map.get("a"), map.get("b"), map.get("c"), map.size]).toEqual([1, undefined, 3, 2]);
  });
});

describe("App settings", () => {
  const base = { WEBHOOK_SECRET: "w", API_TOKEN: "a" };

  /** The settings problem for these bindings: the settings named and the problems said. */
  function problemOf(source: Record<string, string>): SettingsError {
    try {
      parseSettings({ ...base, ...source });
    } catch (error) {
      if (error instanceof SettingsError) return error;
      throw error;
    }
    throw new Error("the settings were accepted");
  }

  it("reads both secrets as App mode, a PKCS#1 key wrapped", () => {
    const settings = parseSettings({ ...base, GITHUB_APP_ID: APP_ID, GITHUB_APP_PRIVATE_KEY: PKCS1_PEM });
    expect(settings.github).toEqual({
      apiUrl: "https://api.github.com",
      token: null,
      app: { id: APP_ID, privateKey: PKCS8_PEM },
    });
  });

  it("keeps GITHUB_TOKEN beside an App", () => {
    const settings = parseSettings({
      ...base,
      GITHUB_TOKEN: "t",
      GITHUB_APP_ID: APP_ID,
      GITHUB_APP_PRIVATE_KEY: PKCS8_PEM,
    });
    expect(settings.github).toMatchObject({ token: "t", app: { id: APP_ID } });
    expect(parseSettings({ ...base, GITHUB_TOKEN: "t" }).github).toMatchObject({ token: "t", app: null });
    expect(parseSettings(base).github).toBeNull();
  });

  it.each([
    [{ GITHUB_APP_ID: APP_ID }, SECRET_NAMES.githubAppPrivateKey],
    [{ GITHUB_APP_PRIVATE_KEY: PKCS8_PEM }, SECRET_NAMES.githubAppId],
  ])("is misconfigured with one App secret (%o), naming the other", (source, missing) => {
    const error = problemOf(source);
    expect(error.settings).toEqual([missing]);
    expect(error.message).not.toContain("PRIVATE KEY-----");
    expect(error.message).not.toContain(APP_ID);
  });

  it("is misconfigured by a key that does not parse, naming GITHUB_APP_PRIVATE_KEY and not quoting it", () => {
    const error = problemOf({
      GITHUB_APP_ID: APP_ID,
      GITHUB_APP_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----",
    });
    expect(error.settings).toEqual([SECRET_NAMES.githubAppPrivateKey]);
    expect(error.message).not.toContain("c2VjcmV0");
  });

  it("is misconfigured by an App id that is not a number", () => {
    expect(problemOf({ GITHUB_APP_ID: "my-app", GITHUB_APP_PRIVATE_KEY: PKCS8_PEM }).settings).toEqual([
      SECRET_NAMES.githubAppId,
    ]);
  });
});

describe("installation.id in a delivery", () => {
  const pullRequest = (installation?: unknown) => ({
    action: "opened",
    number: 4,
    repository: { full_name: "acme/app" },
    ...(installation === undefined ? {} : { installation }),
  });

  it("names the App installation the delivery came from", () => {
    expect(installationOf(pullRequest({ id: 42, node_id: "x" }))).toBe(42);
  });

  it("is null when the delivery names no installation", () => {
    expect(installationOf(pullRequest())).toBeNull();
    expect(installationOf(pullRequest(null))).toBeNull();
    expect(installationOf(null)).toBeNull();
  });

  it.each([0, -1, 1.5, "42", 2 ** 53])("is null for installation.id %o, which is no installation", (id) => {
    expect(installationOf(pullRequest({ id }))).toBeNull();
  });
});

describe("which credential a call uses", () => {
  const app = { id: APP_ID, privateKey: PKCS8_PEM };
  const apiUrl = "http://127.0.0.1:1";

  it("is the installation's token when an App is set and the installation known, else GITHUB_TOKEN", async () => {
    expect(authFor(null, 5)).toBeNull();
    const tokenOnly = authFor({ apiUrl, token: "t", app: null }, 5);
    expect(await tokenOnly?.token()).toBe("t");
    expect(tokenOnly?.onUnauthorized).toBeUndefined();
    expect(await authFor({ apiUrl, token: "t", app }, null)?.token()).toBe("t");
    expect(authFor({ apiUrl, token: "t", app }, 5)?.onUnauthorized).toBeTypeOf("function");
    expect(authFor({ apiUrl, token: null, app }, null)).toBeNull();
  });

  it("for work no delivery carries, is the installation last delivered for the owner", () => {
    noteInstallation("Owner-A/one", 9);
    expect(lastInstallationOf("owner-a/two")).toBe(9);
    expect(lastInstallationOf("owner-a")).toBe(9);
    expect(lastInstallationOf("owner-b/one")).toBeNull();
    noteInstallation("owner-a/three", 10);
    expect(lastInstallationOf("Owner-A/one")).toBe(10);
  });

  it("makes one client per owner for a batch of work", () => {
    noteInstallation("owner-c/x", 11);
    const clients = new GitHubClients({ apiUrl, token: "t", app });
    const first = clients.for("owner-c/x");
    expect(clients.for("OWNER-C/y")).toBe(first);
    expect(clients.for("owner-d/x")).not.toBe(first);
    expect(clients.last).not.toBe(first);
    expect(new GitHubClients(null).for("owner-c/x")).toBeNull();
  });
});

/**
 * GitHub App credentials, the pure parts: the App JWT's claims, the private key's formats, and
 * when an installation token is reused. The signing and the calls are in worker/src/github-app.ts.
 */

import { base64Decode, base64Encode } from "./base64.ts";

/** The App JWT's `iat` is set this far in the past: GitHub's clock and ours may disagree. */
export const APP_JWT_BACKDATE_SECONDS = 60;
/** The App JWT lives this long after `now` (GitHub refuses more than 10 minutes). */
export const APP_JWT_LIFETIME_SECONDS = 9 * 60;
/** GitHub's ceiling on `exp − iat` for an App JWT. */
export const APP_JWT_MAX_SECONDS = 10 * 60;
/** A cached App JWT is signed again this long before its `exp`, so no call carries one about to lapse. */
export const APP_JWT_RENEW_SECONDS = 60;
/** An installation token is reused until this long before its `expires_at` (GitHub's tokens live an hour). */
export const INSTALLATION_TOKEN_MARGIN_MS = 5 * 60 * 1000;
/** Installations whose token is kept per isolate; the least recently used one goes first. */
export const MAX_CACHED_INSTALLATIONS = 256;

/** The claims GitHub reads from an App JWT. */
export interface AppJwtClaims {
  iat: number;
  exp: number;
  iss: string;
}

/** The claims of an App JWT signed at `nowMs`: backdated for clock skew, within GitHub's ten minutes. */
export function appJwtClaims(appId: string, nowMs: number): AppJwtClaims {
  const now = Math.floor(nowMs / 1000);
  return { iat: now - APP_JWT_BACKDATE_SECONDS, exp: now + APP_JWT_LIFETIME_SECONDS, iss: appId };
}

/** Whether an App JWT with these claims may still be sent at `nowMs`, or should be signed again. */
export function appJwtFresh(claims: AppJwtClaims, nowMs: number): boolean {
  return Math.floor(nowMs / 1000) < claims.exp - APP_JWT_RENEW_SECONDS;
}

/** Whether an installation token that expires at `expiresAt` is still worth sending at `nowMs`. */
export function tokenUsable(expiresAt: number, nowMs: number): boolean {
  return nowMs < expiresAt - INSTALLATION_TOKEN_MARGIN_MS;
}

/** An App id as GitHub shows it on the App's settings page: a positive integer, as text. */
export const APP_ID = /^[1-9][0-9]{0,19}$/;

/**
 * A `Map` that keeps at most `limit` entries: reading an entry makes it the newest, and adding
 * one past the limit drops the oldest.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}

/** An installation token as `POST /app/installations/{id}/access_tokens` answers it; `expiresAt` in ms. */
export interface InstallationToken {
  token: string;
  expiresAt: number;
}

/**
 * Installation tokens per installation: one reused until {@link INSTALLATION_TOKEN_MARGIN_MS}
 * before it expires, callers asking at the same time share one mint, and a token GitHub refused
 * is dropped once (so many refusals of it at once still cause one mint).
 */
export class InstallationTokens {
  private readonly cached: LruMap<number, InstallationToken>;
  private readonly minting = new Map<number, Promise<InstallationToken>>();
  private readonly mint: (installation: number) => Promise<InstallationToken>;
  private readonly now: () => number;

  constructor(
    mint: (installation: number) => Promise<InstallationToken>,
    limit = MAX_CACHED_INSTALLATIONS,
    now: () => number = () => Date.now(),
  ) {
    this.cached = new LruMap(limit);
    this.mint = mint;
    this.now = now;
  }

  /** A token for `installation`: the cached one while usable, else the one being minted, else a new mint. */
  async token(installation: number): Promise<string> {
    const hit = this.cached.get(installation);
    if (hit !== undefined && tokenUsable(hit.expiresAt, this.now())) return hit.token;
    let pending = this.minting.get(installation);
    if (pending === undefined) {
      pending = this.mint(installation)
        .then((minted) => {
          this.cached.set(installation, minted);
          return minted;
        })
        .finally(() => this.minting.delete(installation));
      this.minting.set(installation, pending);
    }
    return (await pending).token;
  }

  /** Forgets `token` for `installation` (GitHub refused it); a token minted since stays. */
  drop(installation: number, token: string): void {
    if (this.cached.get(installation)?.token === token) this.cached.delete(installation);
  }

  /** Whether a token is kept for `installation` (for tests of the bound). */
  has(installation: number): boolean {
    return this.cached.get(installation) !== undefined;
  }
}

/*
 * Private keys. GitHub hands out an App's key as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"); WebCrypto
 * imports only PKCS#8 ("BEGIN PRIVATE KEY"), so a PKCS#1 key is wrapped, which is a fixed prefix:
 *
 *   PrivateKeyInfo ::= SEQUENCE {
 *     version             INTEGER 0,
 *     privateKeyAlgorithm SEQUENCE { OID 1.2.840.113549.1.1.1 (rsaEncryption), NULL },
 *     privateKey          OCTET STRING (the PKCS#1 RSAPrivateKey's DER)
 *   }
 */

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
/** `INTEGER 0`: PrivateKeyInfo's version, and a two-prime RSAPrivateKey's. */
const VERSION_0 = [INTEGER, 0x01, 0x00];
/** `SEQUENCE { OID rsaEncryption, NULL }`, DER. */
const RSA_ALGORITHM = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/** A DER length: one byte below 128, else 0x80 + the count of big-endian bytes that follow. */
export function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** The element at `offset`: its tag, where its content starts and ends; null when it overruns `der`. */
function element(der: Uint8Array, offset: number): { tag: number; start: number; end: number } | null {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) return null;
  let length = first;
  let start = offset + 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) return null;
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = der[start + i];
      if (byte === undefined) return null;
      length = length * 256 + byte;
    }
    start += count;
  }
  const end = start + length;
  return end <= der.length ? { tag, start, end } : null;
}

/** Whether `der` holds `expected` at `offset`. */
function startsWith(der: Uint8Array, offset: number, expected: readonly number[]): boolean {
  return expected.every((byte, i) => der[offset + i] === byte);
}

/** Whether `der` is one SEQUENCE spanning it all, starting with `INTEGER 0` (either format's version). */
function versionedSequence(der: Uint8Array): { start: number; end: number } | null {
  const outer = element(der, 0);
  if (outer === null || outer.tag !== SEQUENCE || outer.end !== der.length) return null;
  return startsWith(der, outer.start, VERSION_0) ? outer : null;
}

/** Whether `der` is shaped as a PKCS#1 RSAPrivateKey (the outer structure; the numbers are WebCrypto's to check). */
function isPkcs1(der: Uint8Array): boolean {
  return versionedSequence(der) !== null;
}

/** Whether `der` is a PKCS#8 PrivateKeyInfo holding an RSA key. */
function isRsaPkcs8(der: Uint8Array): boolean {
  const outer = versionedSequence(der);
  if (outer === null) return false;
  const algorithm = outer.start + VERSION_0.length;
  if (!startsWith(der, algorithm, RSA_ALGORITHM)) return false;
  const key = element(der, algorithm + RSA_ALGORITHM.length);
  return key !== null && key.tag === OCTET_STRING && key.end === outer.end;
}

/** Wraps a PKCS#1 RSAPrivateKey's DER into PKCS#8 PrivateKeyInfo's DER (see above). */
export function pkcs1ToPkcs8(pkcs1: Uint8Array): Uint8Array {
  const octets = [OCTET_STRING, ...derLength(pkcs1.length)];
  const contentLength = VERSION_0.length + RSA_ALGORITHM.length + octets.length + pkcs1.length;
  const head = [SEQUENCE, ...derLength(contentLength), ...VERSION_0, ...RSA_ALGORITHM, ...octets];
  const out = new Uint8Array(head.length + pkcs1.length);
  out.set(head, 0);
  out.set(pkcs1, head.length);
  return out;
}

const PEM = /^-----BEGIN (RSA PRIVATE KEY|PRIVATE KEY)-----([A-Za-z0-9+/=\s]+)-----END \1-----$/;

/**
 * The App's private key as PKCS#8 PEM, from either PEM format GitHub's pages produce, or null
 * when it is neither (or is not an RSA key). A key pasted with `\n` escapes reads the same.
 */
export function appPrivateKeyPkcs8(pem: string): string | null {
  const match = PEM.exec(pem.replaceAll("\\n", "\n").trim());
  if (match === null) return null;
  const der = base64Decode((match[2] ?? "").replace(/\s+/g, ""));
  if (der === null) return null;
  if (match[1] === "RSA PRIVATE KEY") return isPkcs1(der) ? pkcs8Pem(pkcs1ToPkcs8(der)) : null;
  return isRsaPkcs8(der) ? pkcs8Pem(der) : null;
}

/** PKCS#8 DER as PEM, in 64-character lines. */
function pkcs8Pem(der: Uint8Array): string {
  const lines = base64Encode(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

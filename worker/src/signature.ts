/**
 * `X-Hub-Signature-256`: GitHub's HMAC-SHA256 of the exact body bytes under the webhook
 * secret, hex-encoded after `sha256=`.
 *
 * Written against `crypto.subtle` rather than through @octokit/webhooks-methods: that library
 * takes the body as a string (so the bytes just read would be decoded and encoded again) and
 * imports the key on every call. Here the body is verified as the bytes that arrived, with a
 * key imported once per secret per isolate. The comparison is `crypto.subtle.verify`, which
 * does not leak where the bytes differ. The tests sign with the library, so the two agree.
 */

/** `X-Hub-Signature-256` as GitHub sends it; anything else is malformed. */
export const SIGNATURE_HEADER = /^sha256=[0-9a-f]{64}$/;

const keys = new Map<string, Promise<CryptoKey>>();
/** Secrets whose keys are kept: the current and previous ones, with room for a rotation or two. */
const MAX_KEYS = 8;

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    const raw = new TextEncoder().encode(secret);
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    keys.set(secret, key);
  }
  return key;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * True when `signature` is GitHub's HMAC-SHA256 of `body` under one of `secrets` (the current
 * secret first, then the previous one during a rotation). Malformed input is false, never a throw.
 */
export async function verifySignature(
  secrets: readonly string[],
  body: Uint8Array,
  signature: string | null,
): Promise<boolean> {
  if (secrets.length === 0 || signature === null || !SIGNATURE_HEADER.test(signature) || body.byteLength === 0) {
    return false;
  }
  const expected = hexBytes(signature.slice("sha256=".length));
  for (const secret of secrets) {
    if (await crypto.subtle.verify("HMAC", await keyFor(secret), expected, body)) return true;
  }
  return false;
}

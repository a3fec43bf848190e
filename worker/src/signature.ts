import { verifyWithFallback } from "@octokit/webhooks-methods";

/** `X-Hub-Signature-256` as GitHub sends it; anything else is malformed. */
export const SIGNATURE_HEADER = /^sha256=[0-9a-f]{64}$/;

/**
 * True when `signature` is GitHub's HMAC-SHA256 of `body` under one of `secrets` (the current
 * secret first, then the previous one during a rotation). Malformed input is false, never a throw.
 * The comparison is `crypto.subtle.verify`, which does not leak where the bytes differ.
 */
export async function verifySignature(
  secrets: readonly string[],
  body: string,
  signature: string | null,
): Promise<boolean> {
  const [first, ...rest] = secrets;
  if (first === undefined || signature === null || !SIGNATURE_HEADER.test(signature) || body.length === 0) {
    return false;
  }
  return (await verifyWithFallback(first, body, signature, rest)) === true;
}

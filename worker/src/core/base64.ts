/**
 * Base64, standard (RFC 4648 §4, padded: PEM bodies) and URL-safe (§5, unpadded: the opaque
 * cursors of GET /builds). Written here once because the core compiles against the language alone
 * (no `atob`, no `Buffer`), and both alphabets share one bit loop.
 */

const STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

export type Base64Alphabet = "standard" | "url";

/** `bytes` in base64: `standard` padded with `=`, `url` without padding. */
export function base64Encode(bytes: Uint8Array, alphabet: Base64Alphabet = "standard"): string {
  const chars = alphabet === "url" ? URL_SAFE : STANDARD;
  const pad = alphabet === "url" ? "" : "=";
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const [a = 0, b = 0, c = 0] = [bytes[i], bytes[i + 1], bytes[i + 2]];
    const n = (a << 16) | (b << 8) | c;
    out += (chars[(n >> 18) & 63] ?? "") + (chars[(n >> 12) & 63] ?? "");
    out += i + 1 < bytes.length ? (chars[(n >> 6) & 63] ?? "") : pad;
    out += i + 2 < bytes.length ? (chars[n & 63] ?? "") : pad;
  }
  return out;
}

/**
 * The bytes `text` encodes, or null when it is not base64 of that alphabet: `standard` padded to
 * a multiple of 4, `url` unpadded. Canonical only: a text whose last character carries nonzero
 * unused bits (so that two texts would decode alike) is refused.
 */
export function base64Decode(text: string, alphabet: Base64Alphabet = "standard"): Uint8Array | null {
  const url = alphabet === "url";
  if (url ? !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1 : !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    return null;
  }
  if (!url && text.length % 4 !== 0) return null;
  const chars = url ? URL_SAFE : STANDARD;
  const body = url ? text : text.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const char of body) {
    value = ((value << 6) | chars.indexOf(char)) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  if ((value & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

/** The bytes of a string of char codes 0–255 (what the cursors and PEM bodies hold). */
export const latin1Bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);

/** The string of char codes that `bytes` are. */
export function latin1Text(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

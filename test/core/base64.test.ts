/** Base64 in the core: both alphabets against Node's Buffer, and only canonical text read back. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decode, base64Encode, latin1Bytes, latin1Text } from "../../worker/src/core/index.ts";

describe("base64", () => {
  it("encodes as Buffer does, standard padded and URL-safe unpadded, and decodes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(base64Encode(bytes)).toBe(Buffer.from(bytes).toString("base64"));
        expect(base64Encode(bytes, "url")).toBe(Buffer.from(bytes).toString("base64url"));
        expect(base64Decode(base64Encode(bytes))).toEqual(bytes);
        expect(base64Decode(base64Encode(bytes, "url"), "url")).toEqual(bytes);
      }),
    );
  });

  it("refuses what is not canonical base64 of its alphabet", () => {
    expect(base64Decode("QQ==")).toEqual(new Uint8Array([65]));
    // The same byte with nonzero unused bits: two texts would read alike.
    expect(base64Decode("QR==")).toBeNull();
    expect(base64Decode("QR", "url")).toBeNull();
    expect(base64Decode("QQ", "url")).toEqual(new Uint8Array([65]));
    // Wrong alphabet, wrong padding, a stray length.
    expect(base64Decode("a-b_", "standard")).toBeNull();
    expect(base64Decode("a+b/", "url")).toBeNull();
    expect(base64Decode("QQ==", "url")).toBeNull();
    expect(base64Decode("QQ")).toBeNull();
    expect(base64Decode("QUJDR", "url")).toBeNull();
  });

  it("latin1 text and bytes are each other's", () => {
    const text = "created|2026-11-20T12:00:00Z|acme/api";
    expect(latin1Text(latin1Bytes(text))).toBe(text);
  });
});

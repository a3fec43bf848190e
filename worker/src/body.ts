import { MAX_JSON_DEPTH, nestedDeeperThan } from "./core/index.ts";
import { HttpError } from "./errors.ts";

/** GitHub does not send payloads over 25 MB; nothing larger is read. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The raw body as the bytes that arrived, refusing more than `limit` bytes: at once when
 * `Content-Length` says so, else while it streams in, before it is all read.
 */
export async function readBody(request: Request, limit = MAX_BODY_BYTES): Promise<Uint8Array> {
  const length = request.headers.get("content-length");
  const declared = length === null ? Number.NaN : Number(length);
  if (declared > limit) throw new HttpError("payload_too_large", `body is over ${limit} bytes`);
  if (request.body === null) return new Uint8Array(0);
  // A declared length bounds the body (the runtime holds it to it): one read.
  if (Number.isSafeInteger(declared)) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new HttpError("payload_too_large", `body is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : concat(chunks, size);
}

/** The body as text, decoded once, or null when it is not UTF-8 (then it cannot be a GitHub delivery). */
export function bodyText(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The JSON payload of a verified delivery, from either content type GitHub sends:
 * `application/json`, or `application/x-www-form-urlencoded` with the JSON in `payload=`.
 */
export function decodePayload(contentType: string | null, body: string): unknown {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  let json: string;
  if (type === "application/json") json = body;
  else if (type === "application/x-www-form-urlencoded") {
    const payload = new URLSearchParams(body).get("payload");
    if (payload === null) throw new HttpError("invalid_body", "form-encoded delivery has no payload= field");
    json = payload;
  } else {
    throw new HttpError(
      "unsupported_media_type",
      "content type must be application/json or application/x-www-form-urlencoded",
    );
  }
  if (nestedDeeperThan(json)) {
    throw new HttpError("invalid_body", `payload nests deeper than ${MAX_JSON_DEPTH} arrays and objects`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new HttpError("invalid_body", "payload is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError("invalid_body", "payload must be a JSON object");
  }
  return parsed;
}

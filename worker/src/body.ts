import { MAX_JSON_DEPTH, nestedDeeperThan } from "./core/index.ts";
import { HttpError } from "./errors.ts";

/** GitHub does not send payloads over 25 MB; nothing larger is read. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The raw body as text, refusing more than `limit` bytes before reading them all. */
export async function readBody(request: Request, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw new HttpError("payload_too_large", `body is over ${limit} bytes`);
  if (request.body === null) return "";
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
  const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : concat(chunks, size);
  try {
    return utf8.decode(bytes);
  } catch {
    // Not UTF-8: it cannot be a GitHub delivery, and its signature will not verify.
    return "";
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

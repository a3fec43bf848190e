import { HttpError } from "./errors.ts";

const encoder = new TextEncoder();

/** Compares two strings without leaking where they differ: both are hashed to equal length first. */
export async function safeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(x, y);
}

/** Throws 401 unless the request carries `Authorization: Bearer <token>`. */
export async function requireBearer(request: Request, token: string): Promise<void> {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null || !(await safeEqual(match[1] ?? "", token))) {
    throw new HttpError("unauthorized", "a valid bearer token is required (Authorization: Bearer <API_TOKEN>)");
  }
}

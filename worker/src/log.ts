/**
 * One JSON line per event. Callers pass only fields they chose: never headers, bodies or
 * settings, so no secret can reach a log line.
 */
export function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, message, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** A GitHub delivery id as it may be logged: at most 128 letters, digits or '-' (GitHub sends a GUID). */
const LOGGABLE_DELIVERY = /^[A-Za-z0-9-]{1,128}$/;
/** An event name as it may be logged: the same, and '_' (`pull_request`, `workflow_job`). */
const LOGGABLE_EVENT = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The identity of a webhook delivery fit for a log line: its `X-GitHub-Delivery` and
 * `X-GitHub-Event` values, each only when it has the shape GitHub gives it, left out otherwise.
 * A refused request may send anything in its headers: nothing else of it (body, other headers,
 * signature) is read here, and nothing that is not a plain id or name is repeated.
 */
export function deliveryFields(headers: Headers): { delivery?: string; event?: string } {
  const delivery = headers.get("x-github-delivery");
  const event = headers.get("x-github-event");
  return {
    ...(delivery !== null && LOGGABLE_DELIVERY.test(delivery) ? { delivery } : {}),
    ...(event !== null && LOGGABLE_EVENT.test(event) ? { event } : {}),
  };
}

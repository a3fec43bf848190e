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

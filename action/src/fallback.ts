/** The `runs-on` value a job gets when the router cannot answer, as the `fallback` input gives it. */
export type RunsOn = string | string[];

/** The `fallback` input's default, as action.yml declares it. */
export const DEFAULT_FALLBACK = '["ubuntu-latest"]';

export type FallbackResult = { ok: true; runsOn: RunsOn; json: string } | { ok: false; problem: string };

/** How a valid `fallback` input looks, for the messages that refuse one. */
const FALLBACK_SHAPE = `a label in quotes ('"ubuntu-latest"') or a non-empty array of labels ('["self-hosted","vps"]')`;

/**
 * Reads the `fallback` input: JSON naming a label or a non-empty array of labels, as `runs-on`
 * takes them. The value is checked before the router is asked, so a typo fails the step at once
 * instead of surfacing only on the day the router is down. `json` is the normalised text the
 * `runs-on` output carries (compact JSON: a string stays a JSON string, an array an array).
 */
export function parseFallback(text: string): FallbackResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: `input fallback is not JSON: ${JSON.stringify(text)}; give ${FALLBACK_SHAPE}` };
  }
  if (isLabel(value) || (Array.isArray(value) && value.length > 0 && value.every(isLabel))) {
    return { ok: true, runsOn: value, json: JSON.stringify(value) };
  }
  return { ok: false, problem: `input fallback must be ${FALLBACK_SHAPE}, got ${text}` };
}

/** A runner label: a non-empty string that is not only whitespace. */
function isLabel(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}

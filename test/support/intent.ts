import { type Intent, interpretEvent } from "../../worker/src/core/index.ts";

/** What a well-formed delivery reads as; a malformed one fails the test with its problems. */
export function intentOf(...args: Parameters<typeof interpretEvent>): Intent {
  const read = interpretEvent(...args);
  if (!read.ok) throw new Error(`expected a readable delivery: ${read.error.message}`);
  return read.value;
}

import type { Book, Outcome } from "../../worker/src/book.ts";
import {
  changesFromList,
  type Intent,
  interpretEvent,
  type RouteIntent,
  routePlan,
} from "../../worker/src/core/index.ts";

/** What a well-formed delivery reads as; a malformed one fails the test with its problems. */
export function intentOf(...args: Parameters<typeof interpretEvent>): Intent {
  const read = interpretEvent(...args);
  if (!read.ok) throw new Error(`expected a readable delivery: ${read.error.message}`);
  return read.value;
}

/**
 * A push of `files` to `refs/heads/feature` of `repository`@`sha` as delivery `delivery` at
 * `now`, accepted by `book` through the path a webhook takes (its plan, keyed by its content).
 */
export function acceptPush(
  book: Book,
  fields: { delivery: string; repository: string; sha: string; files: readonly string[]; now: number },
): Outcome {
  const intent: RouteIntent = {
    kind: "route",
    key: `push-${fields.delivery}`,
    repository: fields.repository,
    event: "push",
    ref: "refs/heads/feature",
    sha: fields.sha,
    pullRequest: null,
    push: null,
    environment: null,
  };
  const at = new Date(fields.now).toISOString();
  const plan = routePlan(intent, changesFromList([...fields.files], 3000, "test"), fields.delivery, at);
  return book.accept(fields.delivery, "push", plan, { contentKey: intent.key }, fields.now);
}

/**
 * The Worker with the Ledger's transaction left out, for `npm run bench`'s webhook section only
 * (bundled there, never deployed): every delivery still travels the whole Worker (headers,
 * body, signature, payload, changed files, plan) and reaches its organisation's Ledger over
 * RPC, which arms its alarm as it always does, but the Book answers 202 at once, reading and
 * writing no SQLite, and asks for no KV copy. The router's CPU less this variant's is what the
 * Ledger's storage and the KV copy cost a delivery.
 */
import { Book } from "../../worker/src/book.ts";

Book.prototype.accept = function accept(delivery: string) {
  return { duplicate: false, status: 202, body: JSON.stringify({ build_id: `bench-${delivery}` }), persist: null };
};

export { default, Ledger } from "../../worker/src/index.ts";

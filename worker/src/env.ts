import type { LEDGER_BINDING } from "./bindings.ts";
import type { Ledger, LedgerEnv } from "./ledger.ts";

/** The Worker's bindings: the Ledger's (KV, the secrets and vars its settings read) and the Ledger. */
export type Env = LedgerEnv & { [K in typeof LEDGER_BINDING]: DurableObjectNamespace<Ledger> };

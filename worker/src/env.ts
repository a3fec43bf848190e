import type { KV_BINDING, LEDGER_BINDING } from "./bindings.ts";
import type { Ledger } from "./ledger.ts";
import type { SecretName, VarName } from "./settings.ts";

/** The Worker's bindings: KV, the Ledger, and the secrets and vars its settings read. */
export type Env = { [K in typeof KV_BINDING]: KVNamespace } & {
  [K in typeof LEDGER_BINDING]: DurableObjectNamespace<Ledger>;
} & { [K in SecretName | VarName]?: string };

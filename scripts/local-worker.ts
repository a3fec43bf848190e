import {
  COMPATIBILITY_DATE,
  KV_BINDING,
  LEDGER_BINDING,
  LEDGER_CLASS,
  SECRET_NAMES,
  VAR_NAMES,
} from "../worker/src/bindings.ts";

/** Local-only defaults, printed by `npm start`; never used by a deployed Worker. */
export const LOCAL_DEFAULTS = {
  [SECRET_NAMES.webhookSecret]: "local-webhook-secret",
  [SECRET_NAMES.apiToken]: "local-api-token",
  [VAR_NAMES.mode]: "hybrid",
} as const;

/** The Worker's bindings for Miniflare: the same names and types `infra/` deploys. */
export function localWorkerOptions(bindings: Record<string, string>) {
  return {
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: [KV_BINDING],
    durableObjects: { [LEDGER_BINDING]: { className: LEDGER_CLASS, useSQLite: true } },
    bindings,
  };
}

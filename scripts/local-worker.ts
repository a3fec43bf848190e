import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { COMPATIBILITY_DATE, KV_BINDING, LEDGER_BINDING, LEDGER_CLASS, SECRET_NAMES } from "../worker/src/bindings.ts";
import { BUNDLE_PATH, bundleWorker } from "./bundle.ts";

/**
 * Local-only defaults, printed by `npm start`; never used by a deployed Worker. Only the two
 * secrets a Worker cannot start without: no RUNNER_DISPATCH_MODE, which would override the mode
 * of a ROUTING_CONFIG given in the environment (unset, the config's mode applies, else hybrid).
 */
export const LOCAL_DEFAULTS = {
  [SECRET_NAMES.webhookSecret]: "local-webhook-secret",
  [SECRET_NAMES.apiToken]: "local-api-token",
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

export interface LocalWorker {
  /** Base URL, without a trailing slash. */
  url: string;
  bundleBytes: number;
  stop: () => Promise<void>;
}

/**
 * Bundles the Worker and serves it under Miniflare on `host:port` (port 0 picks a free one),
 * keeping KV and Durable Object state in `persistTo` when given, in memory otherwise. The Worker's
 * log lines go to the terminal, or to `onLog` when given.
 */
export async function startLocalWorker(options: {
  bindings: Record<string, string>;
  host?: string;
  port?: number;
  persistTo?: string;
  /** Receives the Worker's log lines instead of the terminal (e.g. to keep a load run's output readable). */
  onLog?: (log: { level: string; message: string }) => void;
}): Promise<LocalWorker> {
  const bundle = await bundleWorker();
  const mf = new Miniflare({
    ...convertV4MiniflareOptions({
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      modules: true,
      scriptPath: BUNDLE_PATH,
      ...localWorkerOptions(options.bindings),
    }),
    ...(options.persistTo === undefined ? {} : { resourcePersistencePath: options.persistTo }),
    ...(options.onLog === undefined ? {} : { handleStructuredLogs: options.onLog }),
  });
  const url = (await mf.ready).href.replace(/\/$/, "");
  return { url, bundleBytes: bundle.bytes, stop: () => mf.dispose() };
}

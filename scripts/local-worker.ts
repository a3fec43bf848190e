import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { stageDashboard } from "../dashboard/assets.ts";
import { COMPATIBILITY_DATE, KV_BINDING, LEDGER_BINDING, LEDGER_CLASS, SECRET_NAMES } from "../worker/src/bindings.ts";
import { bundleWorker } from "./bundle.ts";

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

/**
 * The dashboard (staged in `directory`) as the Worker's static assets, as Cloudflare serves
 * them: a request for one of its files gets the file with the dashboard's headers, `/` its
 * index.html, and every other path (the whole API) the Worker. Kept out of
 * {@link localWorkerOptions}: the Worker tests call the Worker itself and never load the page.
 */
export function localAssetsOptions(directory: string) {
  return {
    directory,
    routerConfig: { has_user_worker: true },
    assetConfig: { html_handling: "auto-trailing-slash" as const },
  };
}

export interface LocalWorker {
  /** Base URL, without a trailing slash. */
  url: string;
  /** The dashboard's address (the base URL's `/`), when it is served. */
  dashboardUrl: string | null;
  bundleBytes: number;
  stop: () => Promise<void>;
}

/**
 * Bundles the Worker and serves it under Miniflare on `host:port` (port 0 picks a free one),
 * keeping KV and Durable Object state in `persistTo` when given, otherwise in a temporary directory
 * Miniflare removes when it stops (on disk either way: SQLite files and KV blobs). The Worker's
 * log lines go to the terminal, or to `onLog` when given.
 */
export async function startLocalWorker(options: {
  bindings: Record<string, string>;
  host?: string;
  port?: number;
  persistTo?: string;
  /** Receives the Worker's log lines instead of the terminal (e.g. to keep a load run's output readable). */
  onLog?: (log: { level: string; message: string }) => void;
  /**
   * Serve the dashboard in front of the Worker, as a deployed Worker does (`npm start`). Off for
   * the benchmarks and the tests that measure or call the Worker alone.
   */
  dashboard?: boolean;
  /** Serve a variant of the Worker bundled from this entry module into `bundle.outfile` (a benchmark's; default the Worker itself). */
  bundle?: { entry: string; outfile: string };
}): Promise<LocalWorker> {
  const bundle = await (options.bundle === undefined
    ? bundleWorker()
    : bundleWorker(options.bundle.outfile, { entry: options.bundle.entry }));
  const staged = options.dashboard ? await stageDashboard() : null;
  const mf = new Miniflare({
    ...convertV4MiniflareOptions({
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      modules: true,
      scriptPath: bundle.path,
      ...localWorkerOptions(options.bindings),
      ...(staged === null ? {} : { assets: localAssetsOptions(staged.directory) }),
    }),
    ...(options.persistTo === undefined ? {} : { resourcePersistencePath: options.persistTo }),
    ...(options.onLog === undefined ? {} : { handleStructuredLogs: options.onLog }),
  });
  const url = (await mf.ready).href.replace(/\/$/, "");
  const dashboardUrl = staged === null ? null : `${url}/`;
  const stop = async () => {
    await mf.dispose();
    staged?.remove();
  };
  return { url, dashboardUrl, bundleBytes: bundle.bytes, stop };
}

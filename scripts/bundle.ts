import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { BUILT_IN_ROUTING_GLOBAL } from "../worker/src/bindings.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const WORKER_ENTRY = join(ROOT, "worker/src/index.ts");
export const BUNDLE_PATH = join(ROOT, "dist/worker/index.js");

export interface Bundle {
  path: string;
  code: string;
  sha256: string;
  bytes: number;
  /** Bytes each input file contributes to the output, from esbuild's metafile. */
  inputs: Record<string, number>;
}

/**
 * Bundles the Worker into one minified ES module: the artifact that `npm start`, the Worker
 * tests and `pulumi up` all use. `routingConfig` (routing config JSON, already validated) is
 * built into the bundle, where the Worker reads it when `ROUTING_CONFIG` is not bound: the
 * Pulumi program deploys the configuration so, since a Worker variable holds at most 5 KB.
 * `entry` replaces the Worker's entry module (a benchmark's variant of the Worker; never deployed).
 */
export async function bundleWorker(
  outfile = BUNDLE_PATH,
  options: { routingConfig?: string; entry?: string } = {},
): Promise<Bundle> {
  const result = await build({
    define: { [BUILT_IN_ROUTING_GLOBAL]: JSON.stringify(options.routingConfig ?? null) },
    entryPoints: [options.entry ?? WORKER_ENTRY],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2023",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*"],
    minify: true,
    legalComments: "none",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error("esbuild produced no output");
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, file.contents);
  return {
    path: outfile,
    code: file.text,
    sha256: createHash("sha256").update(file.contents).digest("hex"),
    bytes: file.contents.byteLength,
    inputs: Object.fromEntries(
      Object.entries(Object.values(result.metafile.outputs)[0]?.inputs ?? {}).map(([input, { bytesInOutput }]) => [
        input,
        bytesInOutput,
      ]),
    ),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bundle = await bundleWorker();
  console.log(`${bundle.path}: ${bundle.bytes} bytes, sha256 ${bundle.sha256}`);
}

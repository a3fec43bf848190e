/**
 * The bundled Worker's size: what `pulumi up` uploads, minified, and gzipped as it travels,
 * with what each input contributes (from esbuild's metafile). Aim: at most 64 KiB minified.
 */
import { gzipSync } from "node:zlib";
import { bundleWorker } from "./bundle.ts";

const TARGET_BYTES = 64 * 1024;

export async function runSizeBench(): Promise<{ bytes: number; gzipped: number }> {
  const bundle = await bundleWorker();
  const gzipped = gzipSync(bundle.code).byteLength;
  const byOrigin = new Map<string, number>();
  for (const [file, bytesInOutput] of Object.entries(bundle.inputs)) {
    const origin = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? "the router's own code";
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + bytesInOutput);
  }
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    [
      "bundle size (dist/worker/index.js, the artifact tests and deploys use)",
      `  minified ${kib(bundle.bytes)}, gzipped ${kib(gzipped)} — ${kib(TARGET_BYTES)} minified aim ${bundle.bytes <= TARGET_BYTES ? "met" : "NOT met"}`,
      ...[...byOrigin].sort((a, b) => b[1] - a[1]).map(([origin, bytes]) => `  ${kib(bytes).padStart(10)}  ${origin}`),
    ].join("\n"),
  );
  return { bytes: bundle.bytes, gzipped };
}

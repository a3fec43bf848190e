/**
 * The bundled Worker's size: what `pulumi up` uploads, minified, and gzipped as it travels,
 * with what each input contributes (from esbuild's metafile). Aim: at most 64 KiB minified.
 */
import { gzipSync } from "node:zlib";
import { type Aim, metOrNot } from "./bench-aims.ts";
import { bundleWorker } from "./bundle.ts";

const TARGET_BYTES = 64 * 1024;

export async function runSizeBench(): Promise<{ bytes: number; gzipped: number; aims: Aim[] }> {
  const bundle = await bundleWorker();
  const gzipped = gzipSync(bundle.code).byteLength;
  const byOrigin = new Map<string, number>();
  for (const [file, bytesInOutput] of Object.entries(bundle.inputs)) {
    const origin = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? "the router's own code";
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + bytesInOutput);
  }
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const met = bundle.bytes <= TARGET_BYTES;
  console.log(
    [
      "bundle size (dist/worker/index.js, the artifact tests and deploys use)",
      `  minified ${kib(bundle.bytes)}, gzipped ${kib(gzipped)} — ${kib(TARGET_BYTES)} minified aim ${metOrNot(met)}`,
      ...[...byOrigin].sort((a, b) => b[1] - a[1]).map(([origin, bytes]) => `  ${kib(bytes).padStart(10)}  ${origin}`),
    ].join("\n"),
  );
  const aim = { section: "size", aim: `bundle ≤ ${kib(TARGET_BYTES)} minified`, figure: kib(bundle.bytes), met };
  return { bytes: bundle.bytes, gzipped, aims: [aim] };
}

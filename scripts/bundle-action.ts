import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const ACTION_ENTRY = join(ROOT, "action/src/main.ts");
/** The file action.yml's `runs.main` names; action/package.json makes its `.js` an ES module. */
export const ACTION_BUNDLE_PATH = join(ROOT, "action/index.js");

/**
 * Bundled CommonJS dependencies (undici, tunnel, under @actions/http-client) `require` Node's
 * built-in modules; an ES module has no `require`, so the bundle makes one.
 */
const REQUIRE_SHIM =
  'import { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);';

/**
 * Bundles the route action into one ES module for the Actions runner's Node 24, with its
 * dependencies inlined (a JavaScript action runs from the repository as checked out, without
 * `npm install`). The output depends only on the sources: no timestamps, no absolute paths (esbuild
 * names inputs relative to the repository root), licence comments dropped, so a rebuild gives the
 * same bytes and the committed bundle can be checked against the sources.
 */
export async function bundleAction(): Promise<Uint8Array> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [ACTION_ENTRY],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    banner: { js: REQUIRE_SHIM },
    legalComments: "none",
    minify: false,
    sourcemap: false,
    charset: "utf8",
    write: false,
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error("esbuild produced no output");
  return file.contents;
}

/** Builds the bundle and writes it where action.yml expects it. */
export async function writeActionBundle(): Promise<number> {
  const contents = await bundleAction();
  await mkdir(dirname(ACTION_BUNDLE_PATH), { recursive: true });
  await writeFile(ACTION_BUNDLE_PATH, contents);
  return contents.byteLength;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await writeActionBundle();
  console.log(`${ACTION_BUNDLE_PATH}: ${bytes} bytes`);
}

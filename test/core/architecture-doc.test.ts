/**
 * docs/architecture.md stays true: every source file of the Worker and the Pulumi program is
 * named in it, and every file it names exists.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/bundle.ts";

const doc = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [relative(ROOT, join(ROOT, path))] : [];
  });
}

describe("docs/architecture.md", () => {
  it("names every source file of the Worker and the Pulumi program", () => {
    const missing = [...sources("worker/src"), ...sources("infra")].filter((file) => !doc.includes(`\`${file}\``));
    expect(missing).toEqual([]);
  });

  it("names only files that exist", () => {
    const named = [...doc.matchAll(/`((?:worker|infra|scripts|test)\/[\w./-]+\.(?:ts|json))`/g)].map((m) => m[1] ?? "");
    expect(named.length).toBeGreaterThan(40);
    expect(named.filter((file) => !existsSync(join(ROOT, file)))).toEqual([]);
  });
});

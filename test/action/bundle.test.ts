/**
 * The committed action/index.js is what the Actions runner runs: it must be exactly what the
 * sources build to, and a build must give the same bytes every time, so the check means something.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ACTION_BUNDLE_PATH, bundleAction } from "../../scripts/bundle-action.ts";

describe("the action bundle", () => {
  it("is reproducible: two builds give the same bytes", async () => {
    const [first, second] = await Promise.all([bundleAction(), bundleAction()]);
    expect(Buffer.from(first).equals(Buffer.from(second))).toBe(true);
  });

  it("is up to date with action/src", async () => {
    const [built, committed] = await Promise.all([bundleAction(), readFile(ACTION_BUNDLE_PATH)]);
    if (!committed.equals(Buffer.from(built)))
      throw new Error("action/index.js is out of date: run npm run build:action");
  });

  it("holds no absolute path of the checkout it was built in", async () => {
    const text = new TextDecoder().decode(await bundleAction());
    expect(text).not.toContain(process.cwd());
  });
});

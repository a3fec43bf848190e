import { defineConfig } from "vitest/config";

/**
 * The dashboard in a real Chromium (test/browser): `vitest run --config vitest.browser.config.ts`.
 * Its own configuration, so that `vitest run` (and `npm test`) never needs a browser.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

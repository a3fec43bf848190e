import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { localWorkerOptions } from "./scripts/local-worker.ts";
import { FAKE_DISCORD_URL } from "./test/support/fake-discord.ts";
import { FAKE_GITHUB_URL } from "./test/support/fake-github.ts";
import { TEST_ROUTING_CONFIG } from "./test/support/fleet-config.ts";
import { FAKE_OIDC_ISSUER } from "./test/support/oidc-issuer.ts";
import { fakeOutbound } from "./test/support/outbound.ts";
import { TEST_SECRETS } from "./test/support/secrets.ts";
import { SECRET_NAMES, VAR_NAMES } from "./worker/src/bindings.ts";

export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    // The Worker logs every delivery: shown for a failing test, not for the passing ones.
    silent: "passed-only",
    projects: [
      {
        test: { name: "core", include: ["test/core/**/*.test.ts"], environment: "node" },
      },
      {
        test: { name: "infra", include: ["test/infra/**/*.test.ts"], environment: "node" },
      },
      {
        test: { name: "action", include: ["test/action/**/*.test.ts"], environment: "node" },
      },
      {
        plugins: [
          cloudflareTest({
            main: "./dist/worker/index.js",
            miniflare: {
              ...localWorkerOptions({
                [SECRET_NAMES.webhookSecret]: TEST_SECRETS.webhook,
                [SECRET_NAMES.webhookSecretPrevious]: TEST_SECRETS.previous,
                [SECRET_NAMES.apiToken]: TEST_SECRETS.api,
                [SECRET_NAMES.githubToken]: TEST_SECRETS.github,
                [VAR_NAMES.githubApiUrl]: FAKE_GITHUB_URL,
                [SECRET_NAMES.discordWebhookUrl]: FAKE_DISCORD_URL,
                [VAR_NAMES.mode]: "hybrid",
                [VAR_NAMES.oidcIssuer]: FAKE_OIDC_ISSUER,
                // Only acme/fleet differs from the defaults: a pool of machines for the load-aware routing tests.
                [VAR_NAMES.routingConfig]: JSON.stringify(TEST_ROUTING_CONFIG),
              }),
              outboundService: fakeOutbound,
            },
          }),
        ],
        test: { name: "worker", include: ["test/worker/**/*.test.ts"] },
      },
    ],
  },
});

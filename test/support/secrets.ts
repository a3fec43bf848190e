/** Secrets the Worker tests bind; test-only values. */
export const TEST_SECRETS = {
  webhook: "test-webhook-secret-current",
  previous: "test-webhook-secret-previous",
  api: "test-api-token",
  github: "test-github-token",
} as const;

import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import { call, expectError, withBindings } from "./helpers.ts";

describe("API token rotation window", () => {
  const previous = "test-api-token-previous";
  const via = withBindings({ API_TOKEN_PREVIOUS: previous });

  // What each answers to an accepted token (a build id nobody recorded is a 404).
  it.each([
    ["/metrics", 200],
    ["/costs", 200],
    ["/fleet", 200],
    ["/status?build_id=none", 404],
    ["/route?repository=acme/x&sha=abcdef1", 200],
  ] as const)("%s accepts the current and the previous token (%i), and no other", async (path, status) => {
    expect((await call(path, { via, token: TEST_SECRETS.api })).status).toBe(status);
    expect((await call(path, { via, token: previous })).status).toBe(status);
    expectError(await call(path, { via, token: "test-api-token-older" }), 401, "unauthorized");
    expectError(await call(path, { via, token: null }), 401, "unauthorized");
  });

  it("without API_TOKEN_PREVIOUS, the previous token is refused", async () => {
    expectError(await call("/metrics", { token: previous }), 401, "unauthorized");
  });
});

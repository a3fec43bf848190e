import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import { call, expectError, withBindings } from "./helpers.ts";

describe("API token rotation window", () => {
  const previous = "test-api-token-previous";
  const via = withBindings({ API_TOKEN_PREVIOUS: previous });

  it.each(["/metrics", "/costs", "/status?build_id=none", "/route?repository=acme/x&sha=abcdef1"])(
    "%s accepts the current and the previous token, and no other",
    async (path) => {
      expect((await call(path, { via, token: TEST_SECRETS.api })).status).not.toBe(401);
      expect((await call(path, { via, token: previous })).status).not.toBe(401);
      expectError(await call(path, { via, token: "test-api-token-older" }), 401, "unauthorized");
      expectError(await call(path, { via, token: null }), 401, "unauthorized");
    },
  );

  it("without API_TOKEN_PREVIOUS, the previous token is refused", async () => {
    expectError(await call("/metrics", { token: previous }), 401, "unauthorized");
  });
});

import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";

it("answers /health", async () => {
  const res = await exports.default.fetch("https://router.test/health");
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ status: "ok", mode: "hybrid" });
});

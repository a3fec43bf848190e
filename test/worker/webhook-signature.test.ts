import { reset } from "cloudflare:test";
import { sign } from "@octokit/webhooks-methods";
import { beforeEach, describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/secrets.ts";
import { encodeBody } from "../support/webhooks.ts";
import {
  deliver,
  expectError,
  expectNoState,
  expectRouted,
  inRepository,
  pushPayload,
  randomRepository,
} from "./helpers.ts";

/** GitHub's documented test vector ("Validating webhook deliveries"). */
const VECTOR = {
  secret: "It's a Secret to Everybody",
  body: "Hello, World!",
  signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
};

const MALFORMED_PAYLOAD = pushPayload();
const GOOD = await sign(TEST_SECRETS.webhook, encodeBody(MALFORMED_PAYLOAD));

describe("X-Hub-Signature-256", () => {
  beforeEach(async () => {
    await reset();
  });

  it("signs like GitHub's documented vector (the helper under test is sound)", async () => {
    expect(await sign(VECTOR.secret, VECTOR.body)).toBe(VECTOR.signature);
  });

  it("accepts a body signed with WEBHOOK_SECRET", async () => {
    const res = await deliver("push", pushPayload(), { secret: TEST_SECRETS.webhook });
    expectRouted(res);
  });

  it("accepts a body signed with WEBHOOK_SECRET_PREVIOUS (rotation window)", async () => {
    const res = await deliver("push", pushPayload(), { secret: TEST_SECRETS.previous });
    expectRouted(res);
  });

  it("accepts both secrets for form-encoded deliveries too", async () => {
    for (const secret of [TEST_SECRETS.webhook, TEST_SECRETS.previous]) {
      expectRouted(await deliver("push", pushPayload(), { secret, contentType: "form" }));
    }
  });

  it("verifies non-ASCII payloads over their UTF-8 bytes, in both content types", async () => {
    const payload = pushPayload({ files: ["docs/café/naïve.md", "kernels/ünï-🚀.cu"] });
    payload.commits[0].message = "Zoë fixed the “quotes” — ✓ 日本語";
    for (const contentType of ["json", "form"] as const) {
      const { decision } = expectRouted(
        await deliver("push", inRepository(payload, randomRepository()), { contentType }),
      );
      // The file names arrived intact: the gpu rule names the one it matched.
      expect(decision.requirement).toBe("gpu");
      expect(decision.reasons.join("\n")).toContain("kernels/ünï-🚀.cu");
    }
  });

  it("accepts form bodies encoded with + for spaces, as URLSearchParams (and GitHub) write them", async () => {
    const payload = pushPayload();
    payload.commits[0].message = "a message with spaces + a plus";
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    expect(body).toContain("+");
    expectRouted(await deliver("push", payload, { contentType: "form", body }));
  });

  it("refuses a body signed with another secret: 401 invalid_signature, nothing stored", async () => {
    for (const secret of ["not-the-secret", TEST_SECRETS.api, TEST_SECRETS.github, `${TEST_SECRETS.webhook} `]) {
      const res = await deliver("push", pushPayload(), { secret });
      expectError(res, 401, "invalid_signature");
    }
    await expectNoState();
  });

  it("refuses a delivery without the header: 401 missing_signature, nothing stored", async () => {
    const res = await deliver("push", pushPayload(), { headers: { "x-hub-signature-256": null } });
    expectError(res, 401, "missing_signature");
    await expectNoState();
  });

  it("refuses a legacy X-Hub-Signature (sha1) header alone", async () => {
    const res = await deliver("push", pushPayload(), {
      headers: { "x-hub-signature-256": null, "x-hub-signature": "sha1=0123456789abcdef0123456789abcdef01234567" },
    });
    expectError(res, 401, "missing_signature");
    await expectNoState();
  });

  describe("malformed headers are 401 and store nothing", () => {
    const payload = MALFORMED_PAYLOAD;
    const body = encodeBody(payload);
    const good = GOOD;
    const hex = good.slice("sha256=".length);
    const cases: [string, string][] = [
      ["sha1= prefix with the right digest", `sha1=${hex}`],
      ["sha1= prefix with a 40-hex digest", `sha1=${hex.slice(0, 40)}`],
      ["uppercase hex", `sha256=${hex.toUpperCase()}`],
      ["uppercase prefix", `SHA256=${hex}`],
      ["digest one character short", `sha256=${hex.slice(1)}`],
      ["digest one character long", `sha256=${hex}0`],
      ["empty digest", "sha256="],
      ["non-hex digest", `sha256=${"z".repeat(64)}`],
      ["non-hex character in a valid digest", `sha256=${hex.slice(0, 63)}g`],
      ["no prefix", hex],
      ["space after =", `sha256= ${hex}`],
      ["space before =", `sha256 =${hex}`],
      ["space inside the digest", `sha256=${hex.slice(0, 32)} ${hex.slice(32)}`],
      ["two signatures", `${good}, ${good}`],
      ["prefix only", "sha256"],
    ];
    for (const [name, header] of cases) {
      it(name, async () => {
        const res = await deliver("push", payload, { body, headers: { "x-hub-signature-256": header } });
        expect(res.status, `${name}: ${res.text}`).toBe(401);
        expect(["invalid_signature", "missing_signature"]).toContain((res.body.error as { code: string }).code);
        expectError(res, 401, (res.body.error as { code: string }).code);
        await expectNoState();
      });
    }

    it("the same body with the well-formed header is accepted (the cases above fail only on form)", async () => {
      expectRouted(await deliver("push", payload, { body, headers: { "x-hub-signature-256": good } }));
    });
  });

  it("refuses a body changed after signing", async () => {
    const payload = pushPayload({ files: ["docs/readme.md"] });
    const signed = encodeBody(payload);
    const signature = await sign(TEST_SECRETS.webhook, signed);
    const tampered = [
      signed.replace("docs/readme.md", "kernels/evil.cu"),
      `${signed} `,
      `${signed}\n`,
      signed.slice(0, -1),
      ` ${signed}`,
    ];
    for (const body of tampered) {
      expect(body).not.toBe(signed);
      const res = await deliver("push", payload, { body, headers: { "x-hub-signature-256": signature } });
      expectError(res, 401, "invalid_signature");
    }
    await expectNoState();
  });

  it("refuses a form body changed after signing, even when it decodes to the same JSON", async () => {
    const payload = pushPayload();
    const signed = encodeBody(payload, "form");
    const signature = await sign(TEST_SECRETS.webhook, signed);
    // %20 and + both decode to a space: the JSON is the same, the bytes are not.
    const json = JSON.stringify(payload);
    expect(json).toContain(" ");
    const reencoded = `payload=${encodeURIComponent(json).replaceAll("%20", "+")}`;
    expect(reencoded).not.toBe(signed);
    const res = await deliver("push", payload, {
      contentType: "form",
      body: reencoded,
      headers: { "x-hub-signature-256": signature },
    });
    expectError(res, 401, "invalid_signature");
    await expectNoState();
  });

  it("a signature for a JSON body does not verify the same payload form-encoded", async () => {
    const payload = pushPayload();
    const jsonSignature = await sign(TEST_SECRETS.webhook, encodeBody(payload, "json"));
    const res = await deliver("push", payload, {
      contentType: "form",
      headers: { "x-hub-signature-256": jsonSignature },
    });
    expectError(res, 401, "invalid_signature");
    await expectNoState();
  });

  it("checks the signature before anything about the payload: a bad signature on garbage is 401, not 400", async () => {
    const res = await deliver("push", null, {
      body: "{not json",
      headers: { "x-hub-signature-256": `sha256=${"0".repeat(64)}` },
    });
    expectError(res, 401, "invalid_signature");
    await expectNoState();
  });
});

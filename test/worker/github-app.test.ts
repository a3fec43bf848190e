/**
 * GitHub App mode: a delivery from an App installation (`installation.id`) has GitHub's API
 * asked with that installation's token, minted with the App JWT from the fake GitHub
 * (test/support/fake-github.ts), cached, shared among concurrent calls, and replaced once
 * after a 401. GITHUB_TOKEN stays bound here, so these tests also show which one wins.
 */

import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { describe, expect, it, vi } from "vitest";
import { SECRET_NAMES } from "../../worker/src/bindings.ts";
import { FAKE_GITHUB_URL } from "../support/fake-github.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { randomRepository } from "../support/webhooks.ts";
import {
  call,
  deliver,
  expectError,
  expectRouted,
  type Fetch,
  pullRequestPayload,
  pushPayload,
  withBindings,
} from "./helpers.ts";

/** A new App id per rig, so that no two tests share the fake's counts or the Worker's cached tokens. */
let nextApp = 700_000 + Math.floor(Math.random() * 100_000);

interface App {
  id: string;
  /** The Worker's source with this App's secrets bound (and GITHUB_TOKEN still). */
  via: Fetch;
}

/** Registers a new App's public key with the fake GitHub; its tokens live `expiresInSeconds`. */
async function newApp(expiresInSeconds?: number): Promise<App> {
  const id = String(nextApp++);
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const registered = await fetch(`${FAKE_GITHUB_URL}/__apps/${id}`, {
    method: "PUT",
    body: JSON.stringify({ publicKey: await exportSPKI(publicKey), expiresInSeconds }),
  });
  expect(registered.status).toBe(204);
  const via = withBindings({
    [SECRET_NAMES.githubAppId]: id,
    [SECRET_NAMES.githubAppPrivateKey]: await exportPKCS8(privateKey),
  });
  return { id, via };
}

/** The fake's count of tokens minted for the App, by installation. */
async function mints(app: App): Promise<Record<string, number>> {
  return (await fetch(`${FAKE_GITHUB_URL}/__apps/${app.id}/mints`)).json();
}

/** Every call the fake saw on `repository`: the token it carried and the status it got. */
async function tokensOn(repository: string): Promise<{ path: string; token: string; status: number }[]> {
  return (await fetch(`${FAKE_GITHUB_URL}/__tokens/${repository}`)).json();
}

/** Delivers a pull request of `repository`, from `installation` (none: a repository's own webhook). */
async function pullRequest(via: Fetch, repository: string, installation: number | null, number = 7) {
  const payload = pullRequestPayload({ repository, number });
  delete payload.installation;
  if (installation !== null) payload.installation = { id: installation, node_id: "MDIzOkludGVncmF0aW9u" };
  const res = await deliver("pull_request", payload, { via });
  return expectRouted(res);
}

describe("installation tokens", () => {
  it("fetch a pull request's files with the installation's token", async () => {
    const app = await newApp();
    const repository = randomRepository();
    await pullRequest(app.via, repository, 101);
    await pullRequest(app.via, repository, 101, 8);
    const calls = await tokensOn(repository);
    expect(calls.map((c) => c.path)).toEqual([
      `/repos/${repository}/pulls/7/files`,
      `/repos/${repository}/pulls/8/files`,
    ]);
    // Minted once, reused for the second delivery.
    expect(calls.map((c) => [c.token, c.status])).toEqual([
      [`ghs_${app.id}_101_1`, 200],
      [`ghs_${app.id}_101_1`, 200],
    ]);
    expect(await mints(app)).toEqual({ 101: 1 });
  });

  it("never mix two installations' tokens", async () => {
    const app = await newApp();
    const [one, two] = [randomRepository("one"), randomRepository("two")];
    await Promise.all([
      pullRequest(app.via, one, 201),
      pullRequest(app.via, two, 202),
      pullRequest(app.via, one, 201, 8),
      pullRequest(app.via, two, 202, 8),
    ]);
    expect((await tokensOn(one)).map((c) => c.token)).toEqual([`ghs_${app.id}_201_1`, `ghs_${app.id}_201_1`]);
    expect((await tokensOn(two)).map((c) => c.token)).toEqual([`ghs_${app.id}_202_1`, `ghs_${app.id}_202_1`]);
    expect(await mints(app)).toEqual({ 201: 1, 202: 1 });
  });

  it("are minted once for 10 concurrent calls", async () => {
    const app = await newApp();
    const repository = randomRepository();
    await Promise.all(Array.from({ length: 10 }, (_, i) => pullRequest(app.via, repository, 301, i + 1)));
    const calls = await tokensOn(repository);
    expect(calls).toHaveLength(10);
    expect(new Set(calls.map((c) => c.token))).toEqual(new Set([`ghs_${app.id}_301_1`]));
    expect(await mints(app)).toEqual({ 301: 1 });
  });

  it("are minted again once a cached one is within 5 minutes of expiring", async () => {
    // Tokens that live 4 minutes are past their reuse as soon as they are minted.
    const app = await newApp(240);
    const repository = randomRepository();
    await pullRequest(app.via, repository, 401);
    expect(await mints(app)).toEqual({ 401: 1 });
    await pullRequest(app.via, repository, 401, 8);
    expect(await mints(app)).toEqual({ 401: 2 });
    expect((await tokensOn(repository)).map((c) => c.token)).toEqual([`ghs_${app.id}_401_1`, `ghs_${app.id}_401_2`]);
  });

  it("are refreshed once and the call retried once after a 401", async () => {
    const app = await newApp();
    const repository = randomRepository();
    await pullRequest(app.via, repository, 501);
    const first = `ghs_${app.id}_501_1`;
    await fetch(`${FAKE_GITHUB_URL}/__apps/${app.id}/refuse`, {
      method: "POST",
      body: JSON.stringify({ token: first }),
    });
    const { decision } = await pullRequest(app.via, repository, 501, 8);
    expect((await tokensOn(repository)).map((c) => [c.path.split("/")[5], c.token, c.status])).toEqual([
      ["7", first, 200],
      ["8", first, 401],
      ["8", `ghs_${app.id}_501_2`, 200],
    ]);
    expect(await mints(app)).toEqual({ 501: 2 });
    // The retried listing gave the files: the decision is not made on unknown changes.
    expect(decision.truncated).toBe(false);
    expect(JSON.stringify(decision)).not.toContain("ghs_");
  });

  it("never reach the answer or a log line, not even when GitHub refuses one", async () => {
    const lines: string[] = [];
    const spies = (["log", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.join(" "))),
    );
    try {
      const app = await newApp();
      const repository = randomRepository();
      await pullRequest(app.via, repository, 601);
      const refuse = (token: string) =>
        fetch(`${FAKE_GITHUB_URL}/__apps/${app.id}/refuse`, { method: "POST", body: JSON.stringify({ token }) });
      // Both the cached token and its replacement refused: the listing fails, and says so.
      await refuse(`ghs_${app.id}_601_1`);
      await refuse(`ghs_${app.id}_601_2`);
      const payload = pullRequestPayload({ repository, number: 8 });
      payload.installation = { id: 601 };
      const res = await deliver("pull_request", payload, { via: app.via });
      expect(res.status).toBe(202);
      expect(res.text).toContain("answered 401");
      for (const text of [res.text, ...lines]) {
        expect(text).not.toContain("ghs_");
        expect(text).not.toContain("eyJ");
      }
      expect(lines.length).toBeGreaterThan(0);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});

describe("GITHUB_TOKEN beside an App", () => {
  it("answers for deliveries without an installation; the App's token for those with one", async () => {
    const app = await newApp();
    const [own, installed] = [randomRepository(), randomRepository()];
    await pullRequest(app.via, own, null);
    await pullRequest(app.via, installed, 701);
    expect((await tokensOn(own)).map((c) => c.token)).toEqual([TEST_SECRETS.github]);
    expect((await tokensOn(installed)).map((c) => c.token)).toEqual([`ghs_${app.id}_701_1`]);
  });

  it("asks GitHub with nothing when only the App is set and the delivery names no installation", async () => {
    const app = await newApp();
    const via = withBindings({
      [SECRET_NAMES.githubToken]: undefined,
      [SECRET_NAMES.githubAppId]: app.id,
      [SECRET_NAMES.githubAppPrivateKey]: await exportPKCS8(
        (await generateKeyPair("RS256", { extractable: true })).privateKey,
      ),
    });
    const repository = randomRepository();
    await pullRequest(via, repository, null);
    expect(await tokensOn(repository)).toEqual([]);
  });
});

describe("App secrets", () => {
  it.each([
    [SECRET_NAMES.githubAppId, SECRET_NAMES.githubAppPrivateKey],
    [SECRET_NAMES.githubAppPrivateKey, SECRET_NAMES.githubAppId],
  ])("with only %s set, the Worker is misconfigured naming %s", async (set, missing) => {
    const via = withBindings({ [set]: set === SECRET_NAMES.githubAppId ? "12345" : "-----BEGIN PRIVATE KEY-----" });
    const open = await call<{ status: string; settings: string[] }>("/health", { via, token: null });
    expect(open.status).toBe(503);
    expect(open.body).toMatchObject({ status: "misconfigured", settings: [missing] });
    expectError(await deliver("push", pushPayload(), { via }), 503, "misconfigured");
  });

  it("with a key that does not parse, the Worker is misconfigured naming GITHUB_APP_PRIVATE_KEY", async () => {
    const key = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----";
    const via = withBindings({ [SECRET_NAMES.githubAppId]: "12345", [SECRET_NAMES.githubAppPrivateKey]: key });
    const trusted = await call<{ settings: string[]; problems: string[] }>("/health", { via });
    expect(trusted.status).toBe(503);
    expect(trusted.body.settings).toEqual([SECRET_NAMES.githubAppPrivateKey]);
    expect(trusted.text).not.toContain("bm90IGEga2V5");
  });
});

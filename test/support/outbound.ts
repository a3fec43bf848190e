import { FAKE_DISCORD_URL, fakeDiscord } from "./fake-discord.ts";
import { FAKE_GITHUB_URL, fakeGitHub } from "./fake-github.ts";
import { FAKE_WARM_URL, fakeWarm } from "./fake-warm.ts";
import { createOidcIssuer, FAKE_OIDC_ISSUER } from "./oidc-issuer.ts";

/** The Worker tests' issuer: tokens carry only the claims a test spells out (see `jobClaims`), no GitHub defaults. */
const issuer = createOidcIssuer(FAKE_OIDC_ISSUER, { defaultClaims: "none" });

/** Every request the Worker makes to the outside goes here in tests: fake GitHub, Discord, OIDC issuer and warm hooks, else 599. */
export async function fakeOutbound(request: Request): Promise<Response> {
  const { origin } = new URL(request.url);
  if (origin === FAKE_GITHUB_URL) return fakeGitHub(request);
  if (origin === new URL(FAKE_DISCORD_URL).origin) return fakeDiscord(request);
  if (origin === FAKE_OIDC_ISSUER) return issuer.handle(request);
  if (origin === new URL(FAKE_WARM_URL).origin) return fakeWarm(request);
  return new Response(`unexpected outbound request to ${origin}`, { status: 599 });
}

import { FAKE_DISCORD_URL, fakeDiscord } from "./fake-discord.ts";
import { FAKE_GITHUB_URL, fakeGitHub } from "./fake-github.ts";

/** Every request the Worker makes to the outside goes here in tests: fake GitHub, fake Discord, else 599. */
export async function fakeOutbound(request: Request): Promise<Response> {
  const { origin } = new URL(request.url);
  if (origin === FAKE_GITHUB_URL) return fakeGitHub(request);
  if (origin === new URL(FAKE_DISCORD_URL).origin) return fakeDiscord(request);
  return new Response(`unexpected outbound request to ${origin}`, { status: 599 });
}

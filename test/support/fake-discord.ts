/**
 * A stand-in for a Discord webhook. It checks every message against Discord's embed limits
 * (answering 400 when one is broken, as Discord does) and picks a behaviour from the repository
 * named in the message:
 * - `…/discord-429-once`: the first message answers 429 with `retry_after` 0.05 s, then 204;
 * - `…/discord-500`: always 500;
 * - `…/discord-400`: always 400;
 * - anything else: 204.
 */
export const FAKE_DISCORD_URL = "https://discord.test/api/webhooks/1/token";

const seen = new Map<string, number>();

interface Embed {
  title?: string;
  description?: string;
  fields?: { name: string; value: string }[];
  footer?: { text: string };
  author?: { name: string };
}

function withinLimits(body: { embeds?: Embed[] }): boolean {
  let total = 0;
  for (const embed of body.embeds ?? []) {
    const fields = embed.fields ?? [];
    if ((embed.title ?? "").length > 256 || (embed.description ?? "").length > 4096 || fields.length > 25) return false;
    for (const f of fields) if (f.name.length > 256 || f.value.length > 1024) return false;
    total += (embed.title ?? "").length + (embed.description ?? "").length;
    total += fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
    total += (embed.footer?.text ?? "").length + (embed.author?.name ?? "").length;
  }
  return total <= 6000 && (body.embeds ?? []).length <= 10;
}

export async function fakeDiscord(request: Request): Promise<Response> {
  const text = await request.text();
  const body = JSON.parse(text) as { embeds?: Embed[] };
  if (!withinLimits(body)) return Response.json({ message: "Invalid Form Body" }, { status: 400 });
  const behaviour = /discord-(429-once|500|400)/.exec(text)?.[1];
  const key = /"url":"([^"]+)"/.exec(text)?.[1] ?? text;
  const count = (seen.get(key) ?? 0) + 1;
  seen.set(key, count);
  if (behaviour === "429-once" && count === 1) {
    return Response.json({ message: "You are being rate limited.", retry_after: 0.05, global: false }, { status: 429 });
  }
  if (behaviour === "500") return new Response("upstream error", { status: 500 });
  if (behaviour === "400") return Response.json({ message: "Unknown Webhook" }, { status: 400 });
  return new Response(null, { status: 204 });
}

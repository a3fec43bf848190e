/**
 * A stand-in for runner classes' warm hooks. It keeps every request it is sent (its headers and
 * body, by `X-Ci-Router-Delivery`), answerable at `GET /__received?delivery=<id>`, and picks a
 * behaviour from the repository named in the wake-up:
 * - `…/warm-500-once`: the first request answers 500, then 200;
 * - `…/warm-429-once`: the first request answers 429 with `Retry-After: 0`, then 200;
 * - `…/warm-400`: always 400;
 * - `…/warm-slow`: answers 200 after {@link SLOW_HOOK_MS};
 * - anything else: 200.
 * It checks nothing itself: the tests verify the signatures.
 */
export const FAKE_WARM_URL = "https://warm.test/hooks/wake";
/** How long `…/warm-slow` takes to answer. */
export const SLOW_HOOK_MS = 2_000;

export interface ReceivedWakeUp {
  headers: Record<string, string>;
  body: string;
}

const received = new Map<string, ReceivedWakeUp[]>();

export async function fakeWarm(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "GET" && url.pathname === "/__received") {
    return Response.json(received.get(url.searchParams.get("delivery") ?? "") ?? []);
  }
  const body = await request.text();
  const delivery = request.headers.get("x-ci-router-delivery") ?? "";
  const requests = [...(received.get(delivery) ?? []), { headers: Object.fromEntries(request.headers), body }];
  received.set(delivery, requests);
  const behaviour = /"repository":"[^"]*\/warm-(500-once|429-once|400|slow)"/.exec(body)?.[1];
  const first = requests.length === 1;
  if (behaviour === "500-once" && first) return new Response("upstream error", { status: 500 });
  if (behaviour === "429-once" && first)
    return new Response("slow down", { status: 429, headers: { "retry-after": "0" } });
  if (behaviour === "400") return Response.json({ message: "no such pool" }, { status: 400 });
  if (behaviour === "slow") await new Promise((resolve) => setTimeout(resolve, SLOW_HOOK_MS));
  return Response.json({ ok: true });
}

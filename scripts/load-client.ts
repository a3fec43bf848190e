/**
 * The client side shared by `npm run load` and the throughput section of `npm run bench`: signed
 * deliveries posted with a bounded number in flight, each answer timed from send to last byte.
 */
import type { Answer } from "./load-plan.ts";

export interface SignedDelivery {
  id: string;
  event: string;
  body: string;
  signature: string;
}

export const WEBHOOK_PATH = "/webhook/github";

/** Posts one delivery as GitHub does and times it until its whole answer is read. */
export async function postDelivery(base: string, delivery: SignedDelivery, signal?: AbortSignal): Promise<Answer> {
  const start = performance.now();
  try {
    const res = await fetch(`${base}${WEBHOOK_PATH}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/load",
        "x-github-event": delivery.event,
        "x-github-delivery": delivery.id,
        "x-hub-signature-256": delivery.signature,
      },
      body: delivery.body,
      ...(signal === undefined ? {} : { signal }),
    });
    const body = await res.text();
    return { status: res.status, body, ms: performance.now() - start };
  } catch (error) {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { status: 0, body: "", ms: performance.now() - start, error: why };
  }
}

/**
 * Runs `task(0 … n-1)` with at most `concurrency` running at once, in index order. Stops taking
 * new indices once `signal` aborts; resolves when every started task has finished.
 */
export async function drive(
  n: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n && !signal?.aborted) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, lane));
}

/** GET with a bearer token; the answer's status and text. */
export async function getWithToken(
  url: string,
  token: string,
  signal?: AbortSignal,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    ...(signal === undefined ? {} : { signal }),
  });
  return { status: res.status, text: await res.text() };
}

import { fail, ok } from "./core/index.ts";
import { log } from "./log.ts";
import type { MetricsStore } from "./store/metrics.ts";
import type { Outbox } from "./store/outbox.ts";

/** Alerts sent per alarm run; the rest wait for the next run. */
const SEND_BATCH = 20;
const DISCORD_TIMEOUT_MS = 10_000;

/**
 * Sends the outbox's due alerts to Discord, recording each attempt: sent, retried later (429
 * after `retry_after`, 5xx and network errors with backoff) or failed for good, and counting it.
 * Runs from the Ledger's alarm, never on a webhook's path.
 */
export async function sendDueAlerts(outbox: Outbox, metrics: MetricsStore, url: string | null, now: number) {
  for (const row of outbox.due(now, SEND_BATCH)) {
    if (url === null) {
      outbox.fail(row, "DISCORD_WEBHOOK_URL is not set");
      metrics.add("notifications", { kind: row.kind, outcome: "failed" });
      continue;
    }
    let result: Parameters<Outbox["record"]>[1];
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: row.payload,
        signal: AbortSignal.timeout(DISCORD_TIMEOUT_MS),
      });
      result = ok({ status: response.status, retryAfterSeconds: await retryAfter(response) });
    } catch (error) {
      result = fail(
        "upstream",
        error instanceof Error && error.name === "TimeoutError" ? "timed out" : "network error",
      );
    }
    const step = outbox.record(row, result, Date.now());
    if (step.kind === "retry") metrics.add("notificationRetries");
    else metrics.add("notifications", { kind: row.kind, outcome: step.kind });
    if (step.kind === "failed")
      log("warn", "alert not delivered", { kind: row.kind, build_id: row.build_id, why: step.why });
  }
}

/** Seconds a 429 asks to wait: Discord's JSON `retry_after`, else the Retry-After header. */
async function retryAfter(response: Response): Promise<number | null> {
  if (response.status !== 429) {
    await response.body?.cancel();
    return null;
  }
  const header = Number(response.headers.get("retry-after"));
  try {
    const body = (await response.json()) as { retry_after?: unknown };
    if (typeof body.retry_after === "number" && body.retry_after >= 0) return body.retry_after;
  } catch {
    // Not JSON: fall back to the header.
  }
  return Number.isFinite(header) && header >= 0 ? header : null;
}

import { fail, ok, retryAfterSeconds, WARM_HEADERS, warmExpired } from "./core/index.ts";
import { log } from "./log.ts";
import type { MetricsStore } from "./store/metrics.ts";
import type { WarmCallRow, WarmCalls } from "./store/warm.ts";

/** Wake-ups sent per alarm run, all at once; the rest wait for the next run. */
const SEND_BATCH = 20;
/** A warm hook that has not answered by then is tried again later. */
const WARM_TIMEOUT_MS = 10_000;

const encoder = new TextEncoder();

/**
 * `sha256=<hex>`: the HMAC-SHA256 of `body`'s UTF-8 bytes under `secret`, as GitHub signs its
 * webhooks (`X-Hub-Signature-256`), so a receiver can check it with @octokit/webhooks-methods'
 * `verify`.
 */
export async function signBody(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return `sha256=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Sends the due wake-ups to their classes' warm hooks, each signed with its class's secret
 * (read by name through `secretOf` when it is sent, never stored), recording each attempt: sent
 * (2xx), retried later (429 after its Retry-After, 5xx, timeouts and network errors with
 * backoff) or failed for good (any other status, too many attempts, too late, no secret), and
 * counting the outcome. Runs from the Ledger's alarm, never on a webhook's path; the batch is sent
 * concurrently, so one slow hook does not hold the others.
 */
export async function sendDueWakeUps(
  calls: WarmCalls,
  metrics: MetricsStore,
  secretOf: (name: string) => string | null,
  now: number,
): Promise<void> {
  await Promise.all(calls.due(now, SEND_BATCH).map((row) => sendOne(row, calls, metrics, secretOf, now)));
}

async function sendOne(
  row: WarmCallRow,
  calls: WarmCalls,
  metrics: MetricsStore,
  secretOf: (name: string) => string | null,
  now: number,
): Promise<void> {
  const failed = (why: string) => {
    calls.fail(row, why);
    metrics.add("warmCalls", { runner: row.runner_class, outcome: "failed" });
    log("warn", "wake-up not delivered", { runner: row.runner_class, build_id: row.build_id, why });
  };
  const late = warmExpired(row.created_at, now);
  if (late !== null) return failed(late);
  const secret = secretOf(row.secret_env);
  // The name only: the value, were there one, is never written anywhere.
  if (secret === null) return failed(`${row.secret_env} is not set`);
  let result: Parameters<WarmCalls["record"]>[1];
  try {
    const response = await fetch(row.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "pmoves-ci-orchestrator",
        [WARM_HEADERS.signature]: await signBody(secret, row.body),
        // One id per build and class: a receiver woken for two classes of one build acts on both.
        [WARM_HEADERS.delivery]: row.id,
      },
      body: row.body,
      // A redirect would take the signed body elsewhere: a 3xx is refused like any other non-2xx.
      redirect: "manual",
      signal: AbortSignal.timeout(WARM_TIMEOUT_MS),
    });
    await response.body?.cancel();
    const wait = response.status === 429 ? retryAfterSeconds(response.headers.get("retry-after"), Date.now()) : null;
    result = ok({ status: response.status, retryAfterSeconds: wait });
  } catch (error) {
    result = fail("upstream", error instanceof Error && error.name === "TimeoutError" ? "timed out" : "network error");
  }
  const step = calls.record(row, result, Date.now());
  if (step.kind === "retry") return;
  metrics.add("warmCalls", { runner: row.runner_class, outcome: step.kind });
  if (step.kind === "failed") {
    log("warn", "wake-up not delivered", { runner: row.runner_class, build_id: row.build_id, why: step.why });
  }
}

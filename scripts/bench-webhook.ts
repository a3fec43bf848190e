/**
 * Webhook handling cost in workerd: a signed ~1 MiB push through the real bundled Worker, next
 * to a bare Worker, in the same workerd, that only checks the HMAC-SHA256 and JSON.parses the
 * same bytes. Both are timed the same way from this process (one request at a time over
 * loopback), so the ratio is what the router adds on top of the work any receiver must do.
 */
import { createHmac, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { SECRET_NAMES } from "../worker/src/bindings.ts";
import { LOCAL_DEFAULTS, startLocalWorker } from "./local-worker.ts";

const TARGET_RATIO = 1.5;
const WARMUP = 5;
const RUNS = 40;

/** The bare floor: verify the signature over the raw bytes, parse the JSON, answer. */
const BARE_WORKER = `
const enc = new TextEncoder();
export default {
  async fetch(request, env) {
    const body = new Uint8Array(await request.arrayBuffer());
    const hex = (request.headers.get("x-hub-signature-256") ?? "").slice(7);
    const signature = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
    const key = await crypto.subtle.importKey("raw", enc.encode(env.SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    if (!(await crypto.subtle.verify("HMAC", key, signature, body))) return new Response("bad", { status: 401 });
    const payload = JSON.parse(new TextDecoder().decode(body));
    return new Response(JSON.stringify({ ok: typeof payload === "object" }), { status: 202 });
  },
};`;

/**
 * A push of about `bytes` bytes shaped like GitHub's: commits with messages, authors and URLs,
 * each touching a few source files, as many as it takes (GitHub lists up to 2,048).
 */
export function largePush(bytes: number, sha: string): string {
  const commits: unknown[] = [];
  const person = { name: "Octo Cat", email: "octocat@example.com", username: "octocat" };
  const push = {
    ref: "refs/heads/feature",
    before: "1".repeat(40),
    after: sha,
    created: false,
    deleted: false,
    forced: false,
    compare: "https://github.com/acme/big/compare/1111111111...2222222222",
    repository: { id: 1, name: "big", full_name: "acme/big", private: false, default_branch: "main" },
    pusher: { name: "octocat", email: "octocat@example.com" },
    sender: { login: "octocat", id: 1, type: "User" },
    commits,
    head_commit: null as unknown,
  };
  let size = JSON.stringify(push).length;
  for (let i = 0; size < bytes && commits.length < 2047; i++) {
    const id = i.toString(16).padStart(40, "0");
    const commit = {
      id,
      tree_id: id.split("").reverse().join(""),
      distinct: true,
      message: `Refactor module ${i}: split the handler, tighten types and update the tests that cover it`,
      timestamp: "2026-11-26T12:00:00+00:00",
      url: `https://github.com/acme/big/commit/${id}`,
      author: person,
      committer: person,
      added: [`src/module-${i % 97}/feature-${i}.ts`],
      removed: [],
      modified: [`src/module-${i % 97}/index.ts`, `test/module-${i % 97}.test.ts`],
    };
    size += JSON.stringify(commit).length + 1;
    commits.push(commit);
  }
  push.head_commit = commits.at(-1) ?? null;
  return JSON.stringify(push);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export async function runWebhookBench(): Promise<{ routerMs: number; bareMs: number; ratio: number }> {
  const secret = LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret];
  const router = await startLocalWorker({ bindings: { ...LOCAL_DEFAULTS }, onLog: () => {} });
  const bare = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: BARE_WORKER,
      bindings: { SECRET: secret },
      port: 0,
      host: "127.0.0.1",
    }),
  );
  const bareUrl = (await bare.ready).href.replace(/\/$/, "");
  try {
    const send = async (url: string, i: number) => {
      const sha = randomUUID().replace(/-/g, "").padEnd(40, "0").slice(0, 40);
      const body = largePush(1024 * 1024, sha);
      const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
      const start = performance.now();
      const res = await fetch(`${url}/webhook/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": `bench-${i}-${randomUUID()}`,
          "x-hub-signature-256": signature,
        },
        body,
      });
      await res.arrayBuffer();
      const elapsed = performance.now() - start;
      if (res.status !== 202) throw new Error(`${url} answered ${res.status}`);
      return { elapsed, bytes: body.length };
    };
    const times: { router: number[]; bare: number[] } = { router: [], bare: [] };
    let bytes = 0;
    for (let i = -WARMUP; i < RUNS; i++) {
      // Interleaved, so that load on the machine weighs on both alike.
      const r = await send(router.url, i);
      const b = await send(bareUrl, i);
      bytes = r.bytes;
      if (i >= 0) {
        times.router.push(r.elapsed);
        times.bare.push(b.elapsed);
      }
    }
    const routerMs = median(times.router);
    const bareMs = median(times.bare);
    const ratio = routerMs / bareMs;
    console.log(
      [
        `webhook handling in workerd: signed push of ${(bytes / 1024 / 1024).toFixed(2)} MiB, median of ${RUNS} (after ${WARMUP} warm-up), one at a time over loopback`,
        `  router  (verify, parse, read, decide, record in the Ledger, KV copy)  ${routerMs.toFixed(2)} ms`,
        `  bare    (HMAC-SHA256 verify + JSON.parse of the same bytes)          ${bareMs.toFixed(2)} ms`,
        `  ratio   ${ratio.toFixed(2)}x — ${TARGET_RATIO}x aim ${ratio <= TARGET_RATIO ? "met" : "NOT met"}`,
      ].join("\n"),
    );
    return { routerMs, bareMs, ratio };
  } finally {
    await router.stop();
    await bare.dispose();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runWebhookBench();
}

/**
 * The throughput section of `npm run bench`: how many signed deliveries a second the Worker
 * takes, next to the floor — a minimal node:http server in this process that only verifies and
 * parses each delivery with @octokit/webhooks (`verifyAndReceive`) and answers 202, recording
 * nothing. Both get the same deliveries (GitHub's example payloads, each its own repository and
 * commit, see load-plan.ts) from the same client code, with the same number in flight. After a
 * warm-up, they take turns on batches of fresh deliveries; deliveries/s is the median over the
 * batches, latency percentiles are over every timed delivery. Every answer must be 2xx before
 * any figure is printed; nothing is asserted about speed.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { Webhooks } from "@octokit/webhooks";
import definitions from "@octokit/webhooks-examples" with { type: "json" };
import { SECRET_NAMES } from "../worker/src/bindings.ts";
import { drive, postDelivery, type SignedDelivery } from "./load-client.ts";
import {
  type Answer,
  LOAD_EVENTS,
  type LoadEvent,
  payloadFor,
  planDeliveries,
  selectExamples,
  signature,
  summarize,
} from "./load-plan.ts";
import { LOCAL_DEFAULTS, startLocalWorker } from "./local-worker.ts";

export const THROUGHPUT = {
  /** Timed deliveries per server, over all batches. */
  deliveries: 2000,
  batches: 5,
  concurrency: 50,
  /** Untimed deliveries per server first. */
  warmup: 1000,
  seed: 20_240_601,
} as const;

interface Server {
  name: string;
  what: string;
  base: string;
  stop: () => Promise<void>;
}

/** The floor: node:http + @octokit/webhooks, verify and parse only. */
async function startFloor(secret: string): Promise<Server> {
  const webhooks = new Webhooks({ secret });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const header = (name: string) => String(req.headers[name] ?? "");
      webhooks
        .verifyAndReceive({
          id: header("x-github-delivery"),
          name: header("x-github-event"),
          payload: Buffer.concat(chunks).toString("utf8"),
          signature: header("x-hub-signature-256"),
        })
        .then(
          () => res.writeHead(202, { "content-type": "application/json" }).end('{"ok":true}'),
          (error: unknown) => {
            const status = (error as { status?: number }).status ?? 400;
            res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error: String(error) }));
          },
        );
    });
  });
  // Keep idle connections between batches (Node's default drops them after 5 s, and a Worker batch
  // can take that long), so neither server pays for new connections mid-run.
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    name: "floor",
    what: "node:http + @octokit/webhooks verifyAndReceive, in this process: verify + JSON.parse, answer 202, record nothing",
    base: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

async function startWorker(): Promise<Server> {
  const worker = await startLocalWorker({ bindings: { ...LOCAL_DEFAULTS }, onLog: () => {} });
  return {
    name: "worker",
    what: "the bundled Worker under Miniflare (workerd), in-memory state: verify, decide, record once in the Ledger, copy to KV",
    base: worker.url,
    stop: worker.stop,
  };
}

/** `count` fresh deliveries, signed, bodies built before anything is timed. */
function deliveries(count: number, seed: number, secret: string): SignedDelivery[] {
  const examples = selectExamples(definitions);
  const counts = Object.fromEntries(LOAD_EVENTS.map((e) => [e, examples[e].length])) as Record<LoadEvent, number>;
  return planDeliveries({ count, redeliver: 0, seed, examples: counts }).sends.map(({ spec }) => {
    const body = payloadFor(spec, examples);
    return { id: spec.id, event: spec.event, body, signature: signature(secret, body) };
  });
}

/** Sends `batch` to `server`, `concurrency` in flight: the elapsed seconds and every answer. */
async function round(server: Server, batch: SignedDelivery[], concurrency: number) {
  const answers: Answer[] = new Array(batch.length);
  const start = performance.now();
  await drive(batch.length, concurrency, async (i) => {
    const delivery = batch[i];
    if (delivery !== undefined) answers[i] = await postDelivery(server.base, delivery);
  });
  const seconds = (performance.now() - start) / 1000;
  const bad = answers.filter((a) => a.status < 200 || a.status > 299);
  if (bad.length > 0) {
    const first = bad[0];
    throw new Error(
      `${server.name} answered ${bad.length} of ${batch.length} deliveries other than 2xx, e.g. ${first?.status} ${first?.error ?? first?.body.slice(0, 200)}`,
    );
  }
  return { seconds, latencies: answers.map((a) => a.ms) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export interface ThroughputResult {
  worker: { perSecond: number; p50: number; p99: number };
  floor: { perSecond: number; p50: number; p99: number };
  ratio: number;
}

export async function runThroughputBench(settings = THROUGHPUT): Promise<ThroughputResult> {
  const secret = LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret];
  const perBatch = Math.ceil(settings.deliveries / settings.batches);
  const loadBefore = loadavg()[0]?.toFixed(2);
  const servers = [await startWorker(), await startFloor(secret)];
  try {
    const warm = deliveries(settings.warmup, settings.seed, secret);
    for (const server of servers) await round(server, warm, settings.concurrency);

    const perSecond = servers.map((): number[] => []);
    const latencies = servers.map((): number[] => []);
    for (let b = 0; b < settings.batches; b++) {
      const batch = deliveries(perBatch, settings.seed + 1 + b, secret);
      // Take turns on who goes first, so a change in machine load weighs on both alike.
      const order = b % 2 === 0 ? [0, 1] : [1, 0];
      for (const j of order) {
        const server = servers[j] as Server;
        const { seconds, latencies: ms } = await round(server, batch, settings.concurrency);
        perSecond[j]?.push(batch.length / seconds);
        latencies[j]?.push(...ms);
      }
    }

    const figures = servers.map((_, j) => {
      const s = summarize(latencies[j] ?? []);
      return { perSecond: median(perSecond[j] ?? []), p50: s.p50, p99: s.p99, count: s.count };
    });
    const [worker, floor] = figures as [(typeof figures)[0], (typeof figures)[0]];
    const ratio = floor.perSecond / worker.perSecond;
    const count = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 0 });
    const line = (j: number) => {
      const f = figures[j] as (typeof figures)[0];
      return (
        `${(servers[j]?.name ?? "").padEnd(10)}${count(f.perSecond).padStart(14)}${f.p50.toFixed(1).padStart(10)}` +
        `${f.p99.toFixed(1).padStart(10)}   ${(perSecond[j] ?? []).map(count).join(" ")}`
      );
    };
    console.log(
      [
        `throughput benchmark: ${count(perBatch * settings.batches)} signed deliveries per server ` +
          `(${settings.batches} batches of ${count(perBatch)}, after ${count(settings.warmup)} warm-up), ` +
          `${settings.concurrency} in flight, one client for both`,
        "deliveries: push, pull_request opened/synchronize, workflow_run, workflow_job from @octokit/webhooks-examples, each its own repository and commit",
        ...servers.map((s) => `${s.name.padEnd(8)}${s.what}`),
        `node ${process.version}, ${process.arch}, ${availableParallelism()} CPUs shared by client and servers; ` +
          `load average before ${loadBefore}, after ${loadavg()[0]?.toFixed(2)}`,
        "",
        `${"".padEnd(10)}${"deliveries/s".padStart(14)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}   deliveries/s per batch`,
        line(0),
        line(1),
        "",
        `ratio (floor / worker): ${ratio.toFixed(1)}x deliveries/s; latency p50 ${(worker.p50 / floor.p50).toFixed(1)}x, ` +
          `p99 ${(worker.p99 / floor.p99).toFixed(1)}x (worker / floor)`,
      ].join("\n"),
    );
    return {
      worker: { perSecond: worker.perSecond, p50: worker.p50, p99: worker.p99 },
      floor: { perSecond: floor.perSecond, p50: floor.p50, p99: floor.p99 },
      ratio,
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}

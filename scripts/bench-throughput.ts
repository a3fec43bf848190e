/**
 * The throughput section of `npm run bench`: how many signed deliveries a second the Worker
 * takes, next to a fair peer — a node:http server in this process that verifies and parses each
 * delivery with @octokit/webhooks (`verifyAndReceive`) and records it once, in one node:sqlite
 * transaction (an in-memory table of deliveries keyed by delivery id, INSERT OR IGNORE), answering
 * 202, or 200 duplicate for an id it has seen. Both get the same deliveries (GitHub's example
 * payloads, each its own repository and commit, see load-plan.ts) from the same client code, with
 * the same number in flight. After a warm-up, they take turns on batches of fresh deliveries;
 * deliveries/s is the median over the batches, latency percentiles are over every timed delivery.
 * Every answer must be 2xx before any figure is printed; nothing is asserted about speed. Aim: the
 * Worker takes at least as many deliveries a second as the peer.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { DatabaseSync } from "node:sqlite";
import { Webhooks } from "@octokit/webhooks";
import definitions from "@octokit/webhooks-examples" with { type: "json" };
import { sign } from "@octokit/webhooks-methods";
import { SECRET_NAMES } from "../worker/src/bindings.ts";
import { type Aim, median, metOrNot } from "./bench-aims.ts";
import { drive, postDelivery, type SignedDelivery } from "./load-client.ts";
import {
  type Answer,
  LOAD_EVENTS,
  type LoadEvent,
  payloadFor,
  planDeliveries,
  selectExamples,
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

/**
 * The peer: node:http + @octokit/webhooks to verify and parse, then one node:sqlite transaction
 * that records the delivery id once; 202 for a new delivery, 200 duplicate for one seen before.
 */
async function startPeer(secret: string): Promise<Server> {
  const webhooks = new Webhooks({ secret });
  const db = new DatabaseSync(":memory:");
  db.exec("CREATE TABLE deliveries (id TEXT PRIMARY KEY, event TEXT NOT NULL, received_at INTEGER NOT NULL)");
  const insert = db.prepare("INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)");
  /** Records `id`; false when it was already there. */
  const record = (id: string, event: string): boolean => {
    db.exec("BEGIN");
    try {
      const { changes } = insert.run(id, event, Date.now());
      db.exec("COMMIT");
      return changes === 1;
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const header = (name: string) => String(req.headers[name] ?? "");
      const id = header("x-github-delivery");
      const name = header("x-github-event");
      webhooks
        .verifyAndReceive({
          id,
          name,
          payload: Buffer.concat(chunks).toString("utf8"),
          signature: header("x-hub-signature-256"),
        })
        .then(() => {
          const fresh = record(id, name);
          res
            .writeHead(fresh ? 202 : 200, { "content-type": "application/json" })
            .end(fresh ? '{"ok":true}' : '{"ok":true,"duplicate":true}');
        })
        .catch((error: unknown) => {
          const status = (error as { status?: number }).status ?? 400;
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error: String(error) }));
        });
    });
  });
  // Keep idle connections between batches (Node's default drops them after 5 s, and a Worker batch
  // can take that long), so neither server pays for new connections mid-run.
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    name: "peer",
    what: "node:http + @octokit/webhooks verifyAndReceive + one node:sqlite transaction (INSERT OR IGNORE by delivery id, in memory), in this process; 202, or 200 duplicate",
    base: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
      db.close();
    },
  };
}

async function startWorker(): Promise<Server> {
  const worker = await startLocalWorker({ bindings: { ...LOCAL_DEFAULTS }, onLog: () => {} });
  return {
    name: "worker",
    what: "the bundled Worker under Miniflare (workerd), state in a temporary directory (Miniflare keeps KV and the Durable Object's SQLite on disk): verify, decide, record once in the Ledger, copy to KV",
    base: worker.url,
    stop: worker.stop,
  };
}

/** `count` fresh deliveries, signed, bodies built before anything is timed. */
async function deliveries(count: number, seed: number, secret: string): Promise<SignedDelivery[]> {
  const examples = selectExamples(definitions);
  const counts = Object.fromEntries(LOAD_EVENTS.map((e) => [e, examples[e].length])) as Record<LoadEvent, number>;
  const { sends } = planDeliveries({ count, redeliver: 0, seed, examples: counts });
  return Promise.all(
    sends.map(async ({ spec }) => {
      const body = payloadFor(spec, examples);
      return { id: spec.id, event: spec.event, body, signature: await sign(secret, body) };
    }),
  );
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

export interface ThroughputResult {
  worker: { perSecond: number; p50: number; p99: number };
  peer: { perSecond: number; p50: number; p99: number };
  /** The Worker's deliveries/s over the peer's. */
  ratio: number;
  aims: Aim[];
}

export async function runThroughputBench(settings = THROUGHPUT): Promise<ThroughputResult> {
  const secret = LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret];
  const perBatch = Math.ceil(settings.deliveries / settings.batches);
  const loadBefore = loadavg()[0]?.toFixed(2);
  const servers = [await startWorker(), await startPeer(secret)];
  try {
    const warm = await deliveries(settings.warmup, settings.seed, secret);
    for (const server of servers) await round(server, warm, settings.concurrency);

    const perSecond = servers.map((): number[] => []);
    const latencies = servers.map((): number[] => []);
    for (let b = 0; b < settings.batches; b++) {
      const batch = await deliveries(perBatch, settings.seed + 1 + b, secret);
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
    const [worker, peer] = figures as [(typeof figures)[0], (typeof figures)[0]];
    const ratio = worker.perSecond / peer.perSecond;
    const count = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 0 });
    const line = (j: number) => {
      const f = figures[j] as (typeof figures)[0];
      return (
        `${(servers[j]?.name ?? "").padEnd(10)}${count(f.perSecond).padStart(14)}${f.p50.toFixed(1).padStart(10)}` +
        `${f.p99.toFixed(1).padStart(10)}   ${(perSecond[j] ?? []).map(count).join(" ")}`
      );
    };
    const aim: Aim = {
      section: "throughput",
      aim: "local Worker deliveries/s ≥ peer's",
      figure: `${ratio.toFixed(2)}x (${count(worker.perSecond)} vs ${count(peer.perSecond)} /s)`,
      met: worker.perSecond >= peer.perSecond,
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
        `ratio (worker / peer): ${ratio.toFixed(2)}x deliveries/s; latency p50 ${(worker.p50 / peer.p50).toFixed(1)}x, ` +
          `p99 ${(worker.p99 / peer.p99).toFixed(1)}x (worker / peer)`,
        `worker deliveries/s ≥ peer's: aim ${metOrNot(aim.met)}`,
      ].join("\n"),
    );
    return {
      worker: { perSecond: worker.perSecond, p50: worker.p50, p99: worker.p99 },
      peer: { perSecond: peer.perSecond, p50: peer.p50, p99: peer.p99 },
      ratio,
      aims: [aim],
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}

/**
 * Webhook handling cost in workerd, per kind of delivery, through the real bundled Worker next to
 * a bare Worker that only checks the HMAC-SHA256 and JSON.parses the same bytes. Each runs under
 * its own Miniflare, so in its own `workerd` process, and each process's CPU time is read from
 * /proc (bench-cpu.ts) around a batch of deliveries sent one at a time over loopback: wall and
 * CPU time a delivery are the batch's totals divided by its size.
 *
 * The kinds are GitHub's example payloads (@octokit/webhooks-examples) made distinct per delivery:
 * a push of a few commits, a pull request opened, a job queued and then completed, a run completed
 * (each job and run on a commit pushed earlier in the same round, as GitHub sends them), and a
 * ~1 MiB push. Every delivery has its own X-GitHub-Delivery and its own commit, job or run id,
 * so none is a duplicate; the router must answer each with 202 and neither ignore nor de-duplicate
 * it. After a warm-up, rounds of one batch per kind and server follow, the servers taking
 * turns on who goes first; figures are medians over the rounds. Work the router defers (its
 * Ledger's alarm) is counted in whichever of its batches it runs during.
 *
 * A third server splits the router's CPU: the same Worker with the Ledger's storage left out
 * (scripts/bench-variants/no-ledger-storage.ts: a push or pull request is still decided, as the
 * Ledger decides it). What the router spends beyond it is the Ledger's transaction (SQLite, kept
 * by Miniflare in files on disk, and the bookkeeping around the decision) and the KV copy
 * (Miniflare's KV, also files on disk, in the same workerd process).
 *
 * Then the first delivery on a fresh isolate: a new router (and a new floor) per round, three
 * typical pushes each, the first against the third. The new router's first delivery also creates
 * its Ledger's tables; a router restarted on the state another left (as a deployed Worker's new
 * isolate finds its Durable Object's storage) is measured beside it, the same way.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import definitions from "@octokit/webhooks-examples" with { type: "json" };
import { sign } from "@octokit/webhooks-methods";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { COMPATIBILITY_DATE, SECRET_NAMES } from "../worker/src/bindings.ts";
import { type Aim, median, metOrNot, ms } from "./bench-aims.ts";
import { CPU_SOURCE, cpuNs, HAS_PROC, startedWorkerd } from "./bench-cpu.ts";
import { LOCAL_DEFAULTS, startLocalWorker } from "./local-worker.ts";

/** Aims, as multiples of the floor: the 1 MiB push in wall and CPU time, every typical kind in CPU time. */
const LARGE_TARGET = 1.5;
const TYPICAL_CPU_TARGET = 2;
/** Aim for the first delivery on a fresh isolate: at most this many ms slower than the third. */
const FIRST_TARGET_MS = 2;

export const WEBHOOK = {
  /** Timed rounds, each one batch per kind and server. */
  rounds: 9,
  /** Untimed rounds first. */
  warmupRounds: 2,
  /** Deliveries in a batch of a typical kind, and of the 1 MiB push. */
  typicalBatch: 25,
  largeBatch: 5,
  /** Fresh routers (and floors) for the first-delivery figure. */
  freshRounds: 5,
} as const;

const LARGE_BYTES = 1024 * 1024;

/** The bare floor: verify the signature over the raw bytes, parse the JSON, answer. */
const BARE_WORKER = `
const enc = new TextEncoder();
// The HMAC key, imported once per isolate.
let key;
export default {
  async fetch(request, env) {
    const body = new Uint8Array(await request.arrayBuffer());
    const hex = (request.headers.get("x-hub-signature-256") ?? "").slice(7);
    const signature = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
    key ??= await crypto.subtle.importKey("raw", enc.encode(env.SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
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

type Json = Record<string, unknown>;

/** The first example of `name` that `fits`, as a fresh copy. */
function example(name: string, what: string, fits: (payload: Json) => boolean): Json {
  const all = (definitions as readonly { name: string; examples: readonly unknown[] }[]).find((d) => d.name === name);
  const found = all?.examples.find((e) => fits(e as Json));
  if (found === undefined) throw new Error(`no ${what} example in @octokit/webhooks-examples`);
  return structuredClone(found) as Json;
}

const object = (payload: Json, key: string): Json => {
  const value = payload[key];
  if (typeof value !== "object" || value === null) throw new Error(`example without ${key}`);
  return value as Json;
};

const EXAMPLES = {
  push: example("push", "branch push with a commit", (e) => e.deleted === false && (e.commits as unknown[]).length > 0),
  pullRequest: example("pull_request", "pull_request opened", (e) => e.action === "opened"),
  jobQueued: example("workflow_job", "workflow_job queued", (e) => object(e, "workflow_job").status === "queued"),
  jobCompleted: example("workflow_job", "workflow_job completed", (e) => e.action === "completed"),
  runCompleted: example(
    "workflow_run",
    "workflow_run completed",
    (e) => e.action === "completed" && object(e, "workflow_run").status === "completed",
  ),
};

/** Every delivery in the repository of the push example, so jobs and runs meet the builds pushed. */
const REPOSITORY = String(object(EXAMPLES.push, "repository").full_name);

function inRepository(payload: Json): Json {
  const repository = object(payload, "repository");
  const [owner = "", name = ""] = REPOSITORY.split("/");
  repository.full_name = REPOSITORY;
  repository.name = name;
  object(repository, "owner").login = owner;
  return payload;
}

const sha = () => randomBytes(20).toString("hex");
const iso = (at: number) => new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");

/** What one delivery of each kind in a round refers to: one commit pushed, its job and its run. */
interface Story {
  sha: string;
  pullSha: string;
  /** Pull request number, job id and run id. */
  serial: number;
  at: number;
}

let serials = 1_000;

function story(): Story {
  return { sha: sha(), pullSha: sha(), serial: serials++, at: Date.now() };
}

/** The push example with three commits, the last one `s.sha`: source, test and docs changes. */
function typicalPush(s: Story): string {
  const push = inRepository(structuredClone(EXAMPLES.push));
  const [template] = push.commits as Json[];
  const changes = [
    { message: "Split the request handler", added: [], modified: ["src/server.ts", "src/routes.ts"] },
    { message: "Cover the new handler", added: ["test/server.test.ts"], modified: [] },
    { message: "Document the handler", added: [], modified: ["README.md", "docs/api.md"] },
  ];
  const commits = changes.map((change, i) => {
    const id = i === changes.length - 1 ? s.sha : sha();
    return { ...template, id, url: `https://github.com/${REPOSITORY}/commit/${id}`, removed: [], ...change };
  });
  push.after = s.sha;
  push.commits = commits;
  push.head_commit = commits.at(-1);
  return JSON.stringify(push);
}

function pullRequestOpened(s: Story): string {
  const payload = inRepository(structuredClone(EXAMPLES.pullRequest));
  payload.number = s.serial;
  const pull = object(payload, "pull_request");
  pull.number = s.serial;
  object(pull, "head").sha = s.pullSha;
  return JSON.stringify(payload);
}

/** The job of `s`'s push, queued, and then completed a minute after it started. */
function job(s: Story, completed: boolean): string {
  const payload = inRepository(structuredClone(completed ? EXAMPLES.jobCompleted : EXAMPLES.jobQueued));
  const j = object(payload, "workflow_job");
  Object.assign(j, { id: s.serial, run_id: s.serial, head_sha: s.sha, created_at: iso(s.at) });
  if (completed) Object.assign(j, { started_at: iso(s.at + 5_000), completed_at: iso(s.at + 65_000) });
  else j.started_at = iso(s.at);
  return JSON.stringify(payload);
}

function runCompleted(s: Story): string {
  const payload = inRepository(structuredClone(EXAMPLES.runCompleted));
  const run = object(payload, "workflow_run");
  Object.assign(run, { id: s.serial, head_sha: s.sha, created_at: iso(s.at), updated_at: iso(s.at + 70_000) });
  object(run, "head_commit").id = s.sha;
  return JSON.stringify(payload);
}

interface Kind {
  name: string;
  event: string;
  /** The 1 MiB push is not typical. */
  typical: boolean;
  body: (s: Story) => string;
}

/** In the order GitHub would send them for one commit: the push before its job and its run. */
const KINDS: Kind[] = [
  { name: "push", event: "push", typical: true, body: typicalPush },
  { name: "pull_request opened", event: "pull_request", typical: true, body: pullRequestOpened },
  { name: "workflow_job queued", event: "workflow_job", typical: true, body: (s) => job(s, false) },
  { name: "workflow_job completed", event: "workflow_job", typical: true, body: (s) => job(s, true) },
  { name: "workflow_run completed", event: "workflow_run", typical: true, body: runCompleted },
  { name: "push 1 MiB", event: "push", typical: false, body: (s) => largePush(LARGE_BYTES, s.sha) },
];

interface Delivery {
  id: string;
  event: string;
  body: string;
  signature: string;
}

async function signed(event: string, body: string, secret: string): Promise<Delivery> {
  return { id: randomUUID(), event, body, signature: await sign(secret, body) };
}

/** A server under test: its base URL and the workerd process that runs it. */
interface Target {
  name: "router" | "floor" | "no-storage";
  url: string;
  pid: number;
  /** Why an answer is not the one this benchmark means to time (a failure, an ignored or duplicate delivery), or null. */
  check: (status: number, body: string) => string | null;
  stop: () => Promise<void>;
}

const routerCheck = (status: number, body: string) =>
  status !== 202 || /"(ignored|duplicate)":true/.test(body) ? `answered ${status} ${body}` : null;

/**
 * The router, on the state kept in `persistTo` when given (else a new one, removed when it
 * stops); with `noStorage`, its variant whose Ledger touches no storage (`NO_STORAGE`).
 */
async function startRouter(options: { persistTo?: string; noStorage?: boolean } = {}): Promise<Target> {
  const { started, pid } = await startedWorkerd(() =>
    startLocalWorker({
      bindings: { ...LOCAL_DEFAULTS },
      onLog: () => {},
      ...(options.persistTo === undefined ? {} : { persistTo: options.persistTo }),
      ...(options.noStorage ? { bundle: NO_STORAGE } : {}),
    }),
  );
  const name = options.noStorage ? "no-storage" : "router";
  return { name, url: started.url, pid, check: routerCheck, stop: started.stop };
}

/**
 * A directory of the router's state after a few pushes: a router started on it, sent them, and
 * stopped. Each restarted round starts on a copy of it, so every round finds the same state.
 */
async function storedState(secret: string, dir: string): Promise<string> {
  const state = join(dir, "state");
  const router = await startRouter({ persistTo: state });
  try {
    for (const s of [story(), story(), story()]) await post(router, await signed("push", typicalPush(s), secret));
  } finally {
    await router.stop();
  }
  return state;
}

/** The variant of the Worker whose Ledger decides but touches no storage (scripts/bench-variants/no-ledger-storage.ts). */
const NO_STORAGE = {
  entry: fileURLToPath(new URL("./bench-variants/no-ledger-storage.ts", import.meta.url)),
  outfile: fileURLToPath(new URL("../dist/bench/no-ledger-storage.js", import.meta.url)),
};

async function startFloor(secret: string): Promise<Target> {
  const { started, pid } = await startedWorkerd(async () => {
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        modules: true,
        script: BARE_WORKER,
        compatibilityDate: COMPATIBILITY_DATE,
        bindings: { SECRET: secret },
        port: 0,
        host: "127.0.0.1",
      }),
    );
    return { mf, url: (await mf.ready).href.replace(/\/$/, "") };
  });
  return {
    name: "floor",
    url: started.url,
    pid,
    check: (status) => (status === 202 ? null : `answered ${status}`),
    stop: () => started.mf.dispose(),
  };
}

/** Posts one delivery as GitHub does; throws unless `target` answers it as expected. */
async function post(target: Target, delivery: Delivery): Promise<string> {
  const res = await fetch(`${target.url}/webhook/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/bench",
      "x-github-event": delivery.event,
      "x-github-delivery": delivery.id,
      "x-hub-signature-256": delivery.signature,
    },
    body: delivery.body,
  });
  const text = await res.text();
  const problem = target.check(res.status, text);
  if (problem !== null) throw new Error(`${target.name}: ${delivery.event} ${delivery.id} ${problem.slice(0, 300)}`);
  return text;
}

/** Sends `batch` one at a time: wall and CPU milliseconds a delivery, and the last answer. */
async function timeBatch(target: Target, batch: readonly Delivery[]) {
  let answer = "";
  const cpuBefore = cpuNs(target.pid);
  const start = performance.now();
  for (const delivery of batch) answer = await post(target, delivery);
  const wallMs = (performance.now() - start) / batch.length;
  const cpuMs = (cpuNs(target.pid) - cpuBefore) / 1e6 / batch.length;
  return { wallMs, cpuMs, answer };
}

/** Waits until `pid` has used no CPU for 100 ms (or 2 s have passed), so a start-up's work is not timed. */
async function settle(pid: number): Promise<void> {
  const until = performance.now() + 2_000;
  let last = cpuNs(pid);
  let quiet = 0;
  while (quiet < 2 && performance.now() < until) {
    await sleep(50);
    const now = cpuNs(pid);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}

export interface WebhookRow {
  kind: string;
  typical: boolean;
  bytes: number;
  router: Times;
  floor: Times;
  /**
   * The same router again, each batch beside the router with the Ledger's storage left out (the
   * Worker's own path, the RPC to the Ledger included), in rounds of their own.
   */
  split: { router: Times; noStorage: Times };
}

export interface WebhookResult {
  rows: WebhookRow[];
  /** First − third delivery on a fresh isolate, wall and CPU milliseconds, medians (`restarted`: the router on stored state). */
  first: {
    routerMs: number;
    floorMs: number;
    routerCpuMs: number;
    floorCpuMs: number;
    restartedMs: number;
    restartedCpuMs: number;
  };
  aims: Aim[];
}

/** Wall and CPU milliseconds a delivery. */
interface Times {
  wallMs: number;
  cpuMs: number;
}

/**
 * Rounds of one batch per kind and server: per kind, the median wall and CPU time a delivery on
 * each of `targets`, and the router's last answer.
 */
async function runKinds(targets: readonly Target[], secret: string, settings: typeof WEBHOOK) {
  const samples = KINDS.map(() => new Map(targets.map((t) => [t.name, { wall: [] as number[], cpu: [] as number[] }])));
  const bytes = KINDS.map(() => 0);
  const answers = KINDS.map(() => "");
  for (let round = -settings.warmupRounds; round < settings.rounds; round++) {
    const stories = Array.from({ length: settings.typicalBatch }, story);
    for (const [k, kind] of KINDS.entries()) {
      const size = kind.typical ? settings.typicalBatch : settings.largeBatch;
      const batch = await Promise.all(stories.slice(0, size).map((s) => signed(kind.event, kind.body(s), secret)));
      bytes[k] = median(batch.map((d) => d.body.length));
      // Take turns on who goes first, so a change in machine load weighs on both alike.
      const order = (round + k) % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const { wallMs, cpuMs, answer } = await timeBatch(target, batch);
        if (target.name === "router") answers[k] = answer;
        if (round < 0) continue;
        const into = samples[k]?.get(target.name);
        into?.wall.push(wallMs);
        into?.cpu.push(cpuMs);
      }
    }
  }
  const times = KINDS.map((_, k) => {
    const out = new Map<Target["name"], Times>();
    for (const [name, s] of samples[k] ?? []) out.set(name, { wallMs: median(s.wall), cpuMs: median(s.cpu) });
    return out;
  });
  return { times, bytes, answers };
}

/** Wall and CPU milliseconds of the 1st, 2nd and 3rd delivery to a fresh server. */
interface FirstThree {
  wall: number[];
  cpu: number[];
}

/** Three typical pushes to a server just started, one at a time, each timed alone. */
async function firstThree(target: Target, secret: string): Promise<FirstThree> {
  const pushes = await Promise.all([story(), story(), story()].map((s) => signed("push", typicalPush(s), secret)));
  await settle(target.pid);
  const out: FirstThree = { wall: [], cpu: [] };
  for (const delivery of pushes) {
    const cpuBefore = cpuNs(target.pid);
    const start = performance.now();
    await post(target, delivery);
    out.wall.push(performance.now() - start);
    out.cpu.push((cpuNs(target.pid) - cpuBefore) / 1e6);
  }
  return out;
}

/** Medians over the rounds: of each delivery's times, and of first − third. */
function firstFigures(runs: readonly FirstThree[]) {
  const nth = (i: number, of: "wall" | "cpu") => median(runs.map((r) => r[of][i] ?? 0));
  const gap = (of: "wall" | "cpu") => median(runs.map((r) => (r[of][0] ?? 0) - (r[of][2] ?? 0)));
  return {
    wall: [0, 1, 2].map((i) => nth(i, "wall")),
    cpu: [0, 1, 2].map((i) => nth(i, "cpu")),
    gapMs: gap("wall"),
    gapCpuMs: gap("cpu"),
  };
}

/**
 * Per round, a fresh router on new state, a fresh router on a copy of stored state and a fresh
 * floor, taking turns on which starts first.
 */
async function runFirst(secret: string, rounds: number) {
  const runs: Record<"router" | "restarted" | "floor", FirstThree[]> = { router: [], restarted: [], floor: [] };
  const dir = mkdtempSync(join(tmpdir(), "bench-restart-"));
  try {
    const stored = await storedState(secret, dir);
    for (let round = 0; round < rounds; round++) {
      const copy = join(dir, `round-${round}`);
      cpSync(stored, copy, { recursive: true });
      const starts: [keyof typeof runs, () => Promise<Target>][] = [
        ["router", () => startRouter()],
        ["restarted", () => startRouter({ persistTo: copy })],
        ["floor", () => startFloor(secret)],
      ];
      const order = [...starts.slice(round % starts.length), ...starts.slice(0, round % starts.length)];
      for (const [name, start] of order) {
        const target = await start();
        try {
          runs[name].push(await firstThree(target, secret));
        } finally {
          await target.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    router: firstFigures(runs.router),
    restarted: firstFigures(runs.restarted),
    floor: firstFigures(runs.floor),
  };
}

export async function runWebhookBench(settings = WEBHOOK): Promise<WebhookResult> {
  if (!HAS_PROC) throw new Error("the webhook section reads CPU time from /proc, which this system does not have");
  const secret = LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret];
  // One after the other, so each workerd process is told apart by the one that appeared. Two
  // servers at a time, as the floor is always measured: the router against the floor, then the
  // same router against its variant without the Ledger's storage.
  const router = await startRouter();
  let phases: [Awaited<ReturnType<typeof runKinds>>, Awaited<ReturnType<typeof runKinds>>];
  try {
    const floor = await startFloor(secret);
    const againstFloor = await runKinds([router, floor], secret, settings).finally(() => floor.stop());
    const noStorage = await startRouter({ noStorage: true });
    const split = await runKinds([router, noStorage], secret, settings).finally(() => noStorage.stop());
    phases = [againstFloor, split];
  } finally {
    await router.stop();
  }
  const first = await runFirst(secret, settings.freshRounds);

  const [againstFloor, split] = phases;
  const answers = againstFloor.answers;
  const timesOf = (phase: typeof againstFloor, k: number, name: Target["name"]): Times =>
    phase.times[k]?.get(name) ?? { wallMs: Number.NaN, cpuMs: Number.NaN };
  const rows: WebhookRow[] = KINDS.map((kind, k) => ({
    kind: kind.name,
    typical: kind.typical,
    bytes: againstFloor.bytes[k] ?? 0,
    router: timesOf(againstFloor, k, "router"),
    floor: timesOf(againstFloor, k, "floor"),
    split: { router: timesOf(split, k, "router"), noStorage: timesOf(split, k, "no-storage") },
  }));
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const kib = (n: number) =>
    n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
  const pullAnswer = answers[KINDS.findIndex((k) => k.event === "pull_request")] ?? "";
  const filesKnown = /"files_known":(true|false)/.exec(pullAnswer)?.[1] ?? "?";
  const header =
    `${"kind".padEnd(24)}${"bytes".padStart(10)}${"router wall".padStart(13)}${"floor wall".padStart(12)}` +
    `${"ratio".padStart(8)}${"router CPU".padStart(12)}${"floor CPU".padStart(11)}${"ratio".padStart(8)}`;
  const line = (r: WebhookRow) =>
    `${r.kind.padEnd(24)}${kib(r.bytes).padStart(10)}${ms(r.router.wallMs).padStart(13)}${ms(r.floor.wallMs).padStart(12)}` +
    `${ratio(r.router.wallMs, r.floor.wallMs).padStart(8)}${ms(r.router.cpuMs).padStart(12)}${ms(r.floor.cpuMs).padStart(11)}` +
    `${ratio(r.router.cpuMs, r.floor.cpuMs).padStart(8)}`;

  const splitTable = {
    header:
      `${"kind".padEnd(24)}${"router CPU".padStart(12)}${"w/o storage".padStart(13)}${"storage + KV".padStart(14)}` +
      `${"share".padStart(8)}${"w/o storage vs floor".padStart(22)}`,
    line: ({ kind, split: { router, noStorage }, floor }: WebhookRow) => {
      const storage = router.cpuMs - noStorage.cpuMs;
      return (
        `${kind.padEnd(24)}${ms(router.cpuMs).padStart(12)}${ms(noStorage.cpuMs).padStart(13)}${ms(storage).padStart(14)}` +
        `${`${Math.round((100 * storage) / router.cpuMs)}%`.padStart(8)}${ratio(noStorage.cpuMs, floor.cpuMs).padStart(22)}`
      );
    },
  };

  const aims: Aim[] = [];
  for (const r of rows) {
    const cpuRatio = r.router.cpuMs / r.floor.cpuMs;
    const wallRatio = r.router.wallMs / r.floor.wallMs;
    if (!r.typical) {
      aims.push({
        section: "webhook",
        aim: `${r.kind} wall ≤ ${LARGE_TARGET}x floor`,
        figure: `${wallRatio.toFixed(2)}x (${ms(r.router.wallMs)} vs ${ms(r.floor.wallMs)})`,
        met: wallRatio <= LARGE_TARGET,
      });
      aims.push({
        section: "webhook",
        aim: `${r.kind} CPU ≤ ${LARGE_TARGET}x floor`,
        figure: `${cpuRatio.toFixed(2)}x (${ms(r.router.cpuMs)} vs ${ms(r.floor.cpuMs)})`,
        met: cpuRatio <= LARGE_TARGET,
      });
    } else {
      aims.push({
        section: "webhook",
        aim: `${r.kind} CPU ≤ ${TYPICAL_CPU_TARGET}x floor`,
        figure: `${cpuRatio.toFixed(2)}x (${ms(r.router.cpuMs)} vs ${ms(r.floor.cpuMs)})`,
        met: cpuRatio <= TYPICAL_CPU_TARGET,
      });
    }
  }
  aims.push({
    section: "webhook",
    aim: `first delivery on a fresh isolate ≤ third + ${FIRST_TARGET_MS} ms`,
    figure: `+${ms(first.router.gapMs)} wall (floor +${ms(first.floor.gapMs)})`,
    met: first.router.gapMs <= FIRST_TARGET_MS,
  });
  aims.push({
    section: "webhook",
    aim: `first delivery on a fresh isolate over stored state ≤ third + ${FIRST_TARGET_MS} ms`,
    figure: `+${ms(first.restarted.gapMs)} wall (floor +${ms(first.floor.gapMs)})`,
    met: first.restarted.gapMs <= FIRST_TARGET_MS,
  });
  const byKind = aims.slice(0, -2);
  const three = (values: number[]) => values.map((v) => ms(v)).join(", ");

  console.log(
    [
      `webhook handling in workerd: one delivery at a time over loopback; a batch of ${settings.typicalBatch} ` +
        `(${settings.largeBatch} for the 1 MiB push) per kind and server, median of ${settings.rounds} rounds ` +
        `after ${settings.warmupRounds} warm-up rounds, router and floor taking turns`,
      "  router  the bundled Worker (verify, parse, read, decide, record in the Ledger, KV copy), its own workerd",
      "  floor   a bare Worker, its own workerd: HMAC-SHA256 verify (key imported once) + JSON.parse of the same bytes, 202",
      `  payloads: @octokit/webhooks-examples made distinct per delivery (new delivery id, commit, job and run ids); ` +
        `wall per delivery from this process, CPU per delivery = the workerd process's CPU over the batch ` +
        `(${CPU_SOURCE === "schedstat" ? "/proc schedstat, ns, all threads" : "/proc stat utime+stime, clock ticks"}) / batch size`,
      `  pull_request opened: no GITHUB_TOKEN in the local defaults, so the router does not ask GitHub for the ` +
        `files and routes with files unknown (files_known: ${filesKnown} in its answer)`,
      "",
      header,
      ...rows.map(line),
      "",
      ...byKind.map((a) => `  ${a.aim}: ${a.figure} — ${metOrNot(a.met)}`),
      "",
      `where the router's CPU goes: ${settings.rounds} more rounds, the same router taking turns with the Worker with the`,
      "Ledger's storage left out (its own workerd; scripts/bench-variants/no-ledger-storage.ts: the Ledger is called over",
      "RPC and arms its alarm, and decides a push or pull request as it always does, but reads and writes no SQLite and",
      "asks for no KV copy); storage + KV = the router's CPU less the variant's: the Ledger's transaction and the KV copy",
      "(both kept by Miniflare in files on disk, in the router's workerd); the last column sets the variant against the",
      "floor of the first rounds",
      splitTable.header,
      ...rows.map(splitTable.line),
      "",
      `first delivery on a fresh isolate: per round (${settings.freshRounds} rounds) a new router, a router restarted on ` +
        "stored state and a new floor, three typical pushes each, one at a time; the first also opens the connection and, " +
        "for the new router, creates its Ledger's tables; the restarted router starts on a copy of the state a router left " +
        "after three pushes (as a deployed Worker's new isolate finds its Durable Object's storage)",
      `  router     1st, 2nd, 3rd: wall ${three(first.router.wall)}; CPU ${three(first.router.cpu)}`,
      `  restarted  1st, 2nd, 3rd: wall ${three(first.restarted.wall)}; CPU ${three(first.restarted.cpu)}`,
      `  floor      1st, 2nd, 3rd: wall ${three(first.floor.wall)}; CPU ${three(first.floor.cpu)}`,
      `  first − third, median: router ${ms(first.router.gapMs)} wall, ${ms(first.router.gapCpuMs)} CPU; ` +
        `restarted ${ms(first.restarted.gapMs)} wall, ${ms(first.restarted.gapCpuMs)} CPU; ` +
        `floor ${ms(first.floor.gapMs)} wall, ${ms(first.floor.gapCpuMs)} CPU`,
      ...aims.slice(-2).map((a) => `  ${a.aim}: ${a.figure} — ${metOrNot(a.met)}`),
    ].join("\n"),
  );
  return {
    rows,
    first: {
      routerMs: first.router.gapMs,
      floorMs: first.floor.gapMs,
      routerCpuMs: first.router.gapCpuMs,
      floorCpuMs: first.floor.gapCpuMs,
      restartedMs: first.restarted.gapMs,
      restartedCpuMs: first.restarted.gapCpuMs,
    },
    aims,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runWebhookBench();
}

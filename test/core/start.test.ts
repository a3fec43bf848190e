/**
 * `npm start` as a user meets it: it serves the bundled Worker and prints a signed curl example
 * that works. The test runs the real script on a free port with its own state folder, and sends
 * exactly the requests the printed examples describe.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/bundle.ts";

let child: ChildProcess;
let output = "";
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "router-start-"));
  child = spawn(process.execPath, ["scripts/start.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", STATE_DIR: stateDir, WEBHOOK_SECRET: "", API_TOKEN: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ctrl-C stops.")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`npm start exited (${code}) before it was ready:\n${output}`)));
  });
}, 90_000);

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
  await rm(stateDir, { recursive: true, force: true });
});

/** The parts of the printed POST example: URL, delivery id, signature and body. */
function printedDelivery() {
  const url = /curl -s -X POST (\S+) /.exec(output)?.[1];
  const delivery = /-H 'x-github-delivery: ([^']+)'/.exec(output)?.[1];
  const signature = /-H 'x-hub-signature-256: ([^']+)'/.exec(output)?.[1];
  const body = /-d '([^']+)'/.exec(output)?.[1];
  if (!url || !delivery || !signature || !body) throw new Error(`no signed curl example in:\n${output}`);
  return { url, delivery, signature, body };
}

const post = ({ url, delivery, signature, body }: ReturnType<typeof printedDelivery>) =>
  fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": delivery,
      "x-hub-signature-256": signature,
    },
    body,
  });

describe("npm start", () => {
  it("prints the local defaults it serves with, and where its state is", () => {
    expect(output).toContain("WEBHOOK_SECRET           local-webhook-secret  [local default]");
    expect(output).toContain("API_TOKEN                local-api-token  [local default]");
    expect(output).toContain(`(state in ${stateDir})`);
  });

  it("answers the printed /health example", async () => {
    const url = /curl -s (http:\/\/127\.0\.0\.1:\d+\/health)/.exec(output)?.[1];
    expect(url).toBeDefined();
    const res = await fetch(url ?? "");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", mode: "hybrid" });
  });

  it("accepts the printed signed delivery, then answers its redelivery as a duplicate", async () => {
    const example = printedDelivery();
    const first = await post(example);
    expect(first.status).toBe(202);
    const routed = (await first.json()) as { build_id: string; decision: { runner: string; requirement: string } };
    expect(routed.decision).toMatchObject({ runner: "ai-lab", requirement: "gpu" });
    const again = await post(example);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ build_id: routed.build_id, duplicate: true });
  });

  it("answers the printed GET /route example with the recorded decision", async () => {
    const match = /curl -s '([^']+\/route\?[^']+)' -H 'authorization: Bearer ([^']+)'/.exec(output);
    expect(match).not.toBeNull();
    const res = await fetch(match?.[1] ?? "", { headers: { authorization: `Bearer ${match?.[2]}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ recorded: true, decision: { runner: "ai-lab" } });
  });
});

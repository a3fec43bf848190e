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

/** A running `npm start` (the real script) and everything it printed until it was ready. */
interface Started {
  child: ChildProcess;
  output: string;
  stateDir: string;
}

const started: Started[] = [];

/**
 * Runs `scripts/start.ts` on a free port with its own state folder, under `env` over a clean
 * slate: no secret, mode or routing config leaks in from the environment the tests run in.
 */
async function startScript(env: Record<string, string> = {}): Promise<Started> {
  const stateDir = await mkdtemp(join(tmpdir(), "router-start-"));
  const child = spawn(process.execPath, ["scripts/start.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      STATE_DIR: stateDir,
      WEBHOOK_SECRET: "",
      API_TOKEN: "",
      RUNNER_DISPATCH_MODE: "",
      ROUTING_CONFIG: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: Started = { child, output: "", stateDir };
  started.push(run);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      run.output += chunk.toString();
      if (run.output.includes("Ctrl-C stops.")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`npm start exited (${code}) before it was ready:\n${run.output}`)));
  });
  return run;
}

let output = "";
let stateDir = "";

beforeAll(async () => {
  ({ output, stateDir } = await startScript());
}, 90_000);

afterAll(async () => {
  for (const run of started) {
    if (run.child.exitCode === null) {
      const exited = new Promise((resolve) => run.child.once("exit", resolve));
      run.child.kill("SIGTERM");
      await exited;
    }
    await rm(run.stateDir, { recursive: true, force: true });
  }
});

/** The /health URL of the printed example. */
function printedHealth(text: string): string {
  const url = /curl -s (http:\/\/127\.0\.0\.1:\d+\/health)/.exec(text)?.[1];
  if (url === undefined) throw new Error(`no /health example in:\n${text}`);
  return url;
}

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
    const res = await fetch(printedHealth(output));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", mode: "hybrid" });
  });

  it("sets no RUNNER_DISPATCH_MODE of its own, and prints the mode GET /health answers", () => {
    expect(output).not.toContain("RUNNER_DISPATCH_MODE");
    expect(output).toMatch(/^Mode: hybrid {2}\[the default; GET \/health says so\]$/m);
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

describe("npm start with a ROUTING_CONFIG that sets the mode", () => {
  let configured: Started;
  beforeAll(async () => {
    // As `ROUTING_CONFIG="$(cat routing.json)"` passes it: over several lines.
    configured = await startScript({ ROUTING_CONFIG: JSON.stringify({ mode: "cloudflare-only" }, null, 2) });
  }, 90_000);

  it("serves the config's mode, and says where it came from", async () => {
    const res = await fetch(printedHealth(configured.output));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", mode: "cloudflare-only" });
    expect(configured.output).toContain('ROUTING_CONFIG           {"mode":"cloudflare-only"}  [from the environment]');
    expect(configured.output).toMatch(
      /^Mode: cloudflare-only {2}\[from ROUTING_CONFIG's "mode"; GET \/health says so\]$/m,
    );
  });
});

describe("npm start with RUNNER_DISPATCH_MODE and a ROUTING_CONFIG mode", () => {
  let configured: Started;
  beforeAll(async () => {
    configured = await startScript({
      RUNNER_DISPATCH_MODE: "self-hosted-only",
      ROUTING_CONFIG: JSON.stringify({ mode: "cloudflare-only" }),
    });
  }, 90_000);

  it("serves RUNNER_DISPATCH_MODE, which wins over the config's mode as in a deployed Worker", async () => {
    const res = await fetch(printedHealth(configured.output));
    expect(await res.json()).toMatchObject({ status: "ok", mode: "self-hosted-only" });
    expect(configured.output).toContain("RUNNER_DISPATCH_MODE     self-hosted-only  [from the environment]");
    expect(configured.output).toMatch(
      /^Mode: self-hosted-only {2}\[from RUNNER_DISPATCH_MODE; GET \/health says so\]$/m,
    );
  });
});

describe("npm start with a mode that is not one", () => {
  let configured: Started;
  beforeAll(async () => {
    configured = await startScript({ ROUTING_CONFIG: JSON.stringify({ mode: "fast" }) });
  }, 90_000);

  it("prints that the Worker is misconfigured and which setting to fix", async () => {
    expect(configured.output).toContain(
      "The Worker is misconfigured (GET /health answers 503); settings to fix: ROUTING_CONFIG",
    );
    expect(configured.output).toMatch(/^ {2}- ROUTING_CONFIG mode: /m);
    const res = await fetch(printedHealth(configured.output));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "misconfigured", settings: ["ROUTING_CONFIG"] });
  });
});

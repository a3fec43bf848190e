import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/bundle.ts";
import { FAKE_DISCORD_URL, fakeDiscord } from "../support/fake-discord.ts";
import { FAKE_GITHUB_URL, fakeGitHub } from "../support/fake-github.ts";

export interface Router {
  /** Base URL, without a trailing slash. */
  url: string;
  /** What the banner printed as the dashboard's address. */
  dashboardUrl: string;
  /** Everything the router printed (the banner and the Worker's log lines). */
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * The router as `npm start` runs it (`node scripts/start.ts`), on a port the system picks
 * (PORT=0; its address read from the banner), with its state in a fresh directory and only the
 * settings given: nothing is inherited from the caller's environment but PATH and HOME.
 */
export async function startRouter(settings: Record<string, string>): Promise<Router> {
  const stateDir = await mkdtemp(join(tmpdir(), "ci-router-browser-"));
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? stateDir, PORT: "0", STATE_DIR: stateDir };
  const child = spawn(process.execPath, [join(ROOT, "scripts/start.ts")], {
    cwd: ROOT,
    env: { ...env, ...settings },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  try {
    const dashboardUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the router did not start:\n${output}`)), 30_000);
      const look = () => {
        // The banner is printed whole once the router answers; "Ctrl-C stops." ends it.
        const url = /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)?.[1];
        if (url && output.includes("Ctrl-C stops.")) {
          clearTimeout(timer);
          resolve(url);
        }
      };
      child.stdout.on("data", look);
      child.once("exit", (code) => reject(new Error(`the router exited (${code}):\n${output}`)));
    });
    return {
      url: dashboardUrl.replace(/\/$/, ""),
      dashboardUrl,
      output: () => output,
      stop: async () => {
        await stopChild(child);
        await rm(stateDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopChild(child);
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

export interface Fakes {
  /** The router's settings that point it at the fakes. */
  settings: Record<string, string>;
  stop: () => Promise<void>;
}

/**
 * GitHub's API and a Discord webhook, as the Worker tests fake them (test/support), served on
 * 127.0.0.1 for a router running in another process: `/github/…` and `/discord/…`.
 */
export async function startFakes(): Promise<Fakes> {
  const server: Server = createServer(async (req, res) => {
    try {
      const path = req.url ?? "/";
      const [prefix, target] = path.startsWith("/github/")
        ? ["/github", FAKE_GITHUB_URL]
        : path.startsWith("/discord/")
          ? ["/discord", new URL(FAKE_DISCORD_URL).origin]
          : [null, null];
      if (prefix === null || target === null) {
        res.writeHead(404).end();
        return;
      }
      const request = new Request(`${target}${path.slice(prefix.length)}`, {
        method: req.method ?? "GET",
        headers: headersOf(req),
        ...(req.method === "GET" || req.method === "HEAD" ? {} : { body: await bodyOf(req) }),
      });
      const answer = await (prefix === "/github" ? fakeGitHub(request) : fakeDiscord(request));
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    settings: {
      GITHUB_API_URL: `${base}/github`,
      GITHUB_TOKEN: "browser-test-github-token",
      DISCORD_WEBHOOK_URL: `${base}/discord${new URL(FAKE_DISCORD_URL).pathname}`,
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (Array.isArray(value)) for (const one of value) headers.append(name, one);
  }
  return headers;
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

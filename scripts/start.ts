import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { SECRET_NAMES, VAR_NAMES } from "../worker/src/bindings.ts";
import { WARM_SECRET_NAME } from "../worker/src/core/index.ts";
import { ROOT } from "./bundle.ts";
import { LOCAL_DEFAULTS, startLocalWorker } from "./local-worker.ts";

/**
 * `npm start`: the bundled Worker under Miniflare on 127.0.0.1:8787 (PORT overrides), with its
 * KV and Durable Object state kept in .state/ between runs (STATE_DIR overrides), and the
 * dashboard at `/`.
 */
const host = "127.0.0.1";
const port = Number(process.env.PORT ?? "8787");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(2);
}

const passthrough = [
  SECRET_NAMES.webhookSecret,
  SECRET_NAMES.webhookSecretPrevious,
  SECRET_NAMES.apiToken,
  SECRET_NAMES.apiTokenPrevious,
  SECRET_NAMES.githubToken,
  SECRET_NAMES.githubAppId,
  SECRET_NAMES.githubAppPrivateKey,
  SECRET_NAMES.discordWebhookUrl,
  VAR_NAMES.mode,
  VAR_NAMES.routingConfig,
  VAR_NAMES.githubApiUrl,
  VAR_NAMES.runnersOwner,
] as const;
const bindings: Record<string, string> = { ...LOCAL_DEFAULTS };
for (const name of passthrough) {
  const value = process.env[name];
  if (value !== undefined && value !== "") bindings[name] = value;
}
// Warm hooks' signing keys, under the names the routing configuration gives them (never printed).
for (const [name, value] of Object.entries(process.env)) {
  if (WARM_SECRET_NAME.test(name) && value !== undefined && value !== "") bindings[name] = value;
}

const stateDir = process.env.STATE_DIR || join(ROOT, ".state");
const worker = await startLocalWorker({ bindings, host, port, persistTo: stateDir, dashboard: true });
const base = worker.url;

const secret = bindings[SECRET_NAMES.webhookSecret] ?? "";
const delivery = `local-${randomUUID()}`;
const sample = JSON.stringify({
  ref: "refs/heads/feature",
  before: "1".repeat(40),
  after: "2".repeat(40),
  repository: { full_name: "acme/app" },
  commits: [{ added: ["kernels/matmul.cu"], removed: [], modified: ["README.md"] }],
});
const signature = await sign(secret, sample);
const fromDefault = (name: string) => (process.env[name] ? "from the environment" : "local default");
const shown = (name: (typeof passthrough)[number]) => {
  const isSecret = (Object.values(SECRET_NAMES) as string[]).includes(name);
  const value = bindings[name];
  if (value === undefined) return null;
  // Local defaults are printed so they can be pasted; values from the environment are not.
  return `  ${name.padEnd(24)} ${isSecret && process.env[name] ? "(set)" : oneLine(value)}  [${fromDefault(name)}]`;
};

/** A setting on one line: JSON (a routing config read from a file) compacted, any other text as it is. */
function oneLine(value: string): string {
  if (!value.includes("\n")) return value;
  try {
    return JSON.stringify(JSON.parse(value));
  } catch {
    return value.replace(/\s*\n\s*/g, " ");
  }
}

console.log(`pmoves-ci-orchestrator ${worker.bundleBytes} bytes, serving ${base}  (state in ${stateDir})`);
console.log("");
console.log(`Dashboard: ${worker.dashboardUrl}  (sign in with the API token)`);
console.log("");
console.log("Settings (override with environment variables of the same name):");
for (const name of passthrough) {
  const line = shown(name);
  if (line) console.log(line);
}
console.log("");
console.log(await effectiveMode());
console.log("");
console.log("Try it:");
console.log(`  curl -s ${base}/health`);
console.log(
  `  curl -s -X POST ${base}/webhook/github -H 'content-type: application/json' -H 'x-github-event: push' \\\n` +
    `    -H 'x-github-delivery: ${delivery}' -H 'x-hub-signature-256: ${signature}' \\\n` +
    `    -d '${sample}'`,
);
console.log(
  `  curl -s '${base}/route?repository=acme/app&sha=${"2".repeat(40)}' -H 'authorization: Bearer ${bindings[SECRET_NAMES.apiToken] && !process.env[SECRET_NAMES.apiToken] ? bindings[SECRET_NAMES.apiToken] : "$API_TOKEN"}'`,
);
console.log("  (sending the same delivery again answers the first answer, marked duplicate)");
console.log("");
console.log("Ctrl-C stops.");

/**
 * Where the mode comes from, in the order the Worker's settings read it: RUNNER_DISPATCH_MODE,
 * else the top-level `mode` of ROUTING_CONFIG, else the default.
 */
function modeSource(): string {
  if (bindings[VAR_NAMES.mode] !== undefined) return `from ${VAR_NAMES.mode}`;
  const config = bindings[VAR_NAMES.routingConfig];
  if (config !== undefined) {
    try {
      const parsed: unknown = JSON.parse(config);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && "mode" in parsed) {
        return `from ${VAR_NAMES.routingConfig}'s "mode"`;
      }
    } catch {
      // Not JSON: the Worker reports it, below.
    }
  }
  return "the default";
}

/**
 * The mode the Worker serves with, as its GET /health answers it (the Worker's own reading of
 * the settings, not a guess from the environment); when it is misconfigured, the settings to
 * fix and what is wrong with them (asked with the API token, which the local Worker is given).
 */
async function effectiveMode(): Promise<string> {
  const token = bindings[SECRET_NAMES.apiToken];
  const res = await fetch(
    `${base}/health`,
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  const health = (await res.json()) as { mode?: string; settings?: string[]; problems?: string[] };
  if (res.ok && health.mode !== undefined) return `Mode: ${health.mode}  [${modeSource()}; GET /health says so]`;
  const settings = health.settings?.join(", ") ?? "(unknown)";
  return [
    `The Worker is misconfigured (GET /health answers ${res.status}); settings to fix: ${settings}`,
    ...(health.problems ?? []).map((problem) => `  - ${problem}`),
  ].join("\n");
}

const stop = async () => {
  await worker.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

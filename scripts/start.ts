import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { SECRET_NAMES, VAR_NAMES } from "../worker/src/bindings.ts";
import { ROOT } from "./bundle.ts";
import { LOCAL_DEFAULTS, startLocalWorker } from "./local-worker.ts";

/**
 * `npm start`: the bundled Worker under Miniflare on 127.0.0.1:8787 (PORT overrides), with its
 * KV and Durable Object state kept in .state/ between runs (STATE_DIR overrides).
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

const stateDir = process.env.STATE_DIR || join(ROOT, ".state");
const worker = await startLocalWorker({ bindings, host, port, persistTo: stateDir });
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
  return `  ${name.padEnd(24)} ${isSecret && process.env[name] ? "(set)" : value}  [${fromDefault(name)}]`;
};

console.log(`pmoves-ci-orchestrator ${worker.bundleBytes} bytes, serving ${base}  (state in ${stateDir})`);
console.log("");
console.log("Settings (override with environment variables of the same name):");
for (const name of passthrough) {
  const line = shown(name);
  if (line) console.log(line);
}
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

const stop = async () => {
  await worker.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

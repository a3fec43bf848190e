/**
 * `npm run check:metrics`: serves the bundled Worker, sends it a small realistic set of signed
 * deliveries (a GPU push, a docs push, a job queued → in_progress → completed, a redelivery and
 * a refused one), and checks its /metrics answer with Prometheus's own `promtool check metrics`.
 * Needs promtool on PATH (Debian/Ubuntu: `apt-get install prometheus`).
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";
import { SECRET_NAMES } from "../worker/src/bindings.ts";
import { LOCAL_DEFAULTS, startLocalWorker } from "./local-worker.ts";

const promtool = process.env.PROMTOOL ?? "promtool";
if (spawnSync(promtool, ["--version"]).error) {
  console.error(`${promtool} not found: install it (Debian/Ubuntu: apt-get install prometheus) or set PROMTOOL`);
  process.exit(2);
}

const secret = LOCAL_DEFAULTS[SECRET_NAMES.webhookSecret];
const token = LOCAL_DEFAULTS[SECRET_NAMES.apiToken];
const worker = await startLocalWorker({ bindings: { ...LOCAL_DEFAULTS } });

async function deliver(
  event: string,
  payload: unknown,
  delivery = randomUUID(),
  signWith: string = secret,
): Promise<number> {
  const body = JSON.stringify(payload);
  const signature = await sign(signWith, body);
  const res = await fetch(`${worker.url}/webhook/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": signature,
    },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

try {
  const repository = { full_name: "acme/app" };
  const sha = "a".repeat(40);
  const push = (files: string[], after: string) => ({
    ref: "refs/heads/feature",
    before: `${"0".repeat(39)}1`,
    after,
    repository,
    commits: [{ added: files, removed: [], modified: [] }],
  });
  const job = (status: string, extra: Record<string, unknown>) => ({
    action: status,
    repository,
    workflow_job: {
      id: 7,
      run_id: 70,
      head_sha: sha,
      name: "build",
      status,
      conclusion: status === "completed" ? "success" : null,
      labels: ["self-hosted", "vps"],
      runner_name: status === "queued" ? null : "vps-1",
      runner_group_name: status === "queued" ? null : "Default",
      created_at: "2026-01-01T00:00:00Z",
      started_at: "2026-01-01T00:00:30Z",
      completed_at: null,
      ...extra,
    },
  });
  const redelivered = randomUUID();
  const statuses = [
    await deliver("push", push(["kernels/matmul.cu"], sha), redelivered),
    await deliver("push", push(["kernels/matmul.cu"], sha), redelivered),
    await deliver("push", push(["README.md"], "b".repeat(40))),
    await deliver("workflow_job", job("queued", {})),
    await deliver("workflow_job", job("in_progress", {})),
    await deliver("workflow_job", job("completed", { completed_at: "2026-01-01T00:03:50Z" })),
    await deliver("push", push(["x"], sha), randomUUID(), "not-the-secret"),
  ];
  const res = await fetch(`${worker.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  const check = spawnSync(promtool, ["check", "metrics"], { input: text, encoding: "utf8" });
  const families = text.split("\n").filter((l) => l.startsWith("# TYPE")).length;
  const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
  console.log(`deliveries answered: ${statuses.join(" ")}`);
  console.log(`/metrics: ${families} families, ${series} series, ${text.length} bytes`);
  process.stdout.write(check.stdout);
  process.stderr.write(check.stderr);
  if (check.status !== 0) {
    console.error(`promtool check metrics failed (exit ${check.status})`);
    process.exitCode = 1;
  } else {
    console.log("promtool check metrics: ok");
  }
} finally {
  await worker.stop();
}

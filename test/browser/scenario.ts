import { randomSha, webhookRequest } from "../support/webhooks.ts";

/**
 * A morning of a small organisation's CI, as signed deliveries: pushes to several repositories
 * touching documentation, source, Docker, deploy and GPU paths, a pull request whose files come
 * from (fake) GitHub, and their jobs queued, running and completed on different runner classes,
 * one failing, one falling back, one still waiting past its class's target.
 */

/** vps has two registered machines, so the fleet panel lists machines and their jobs. */
export const ROUTING_CONFIG = { runners: { vps: { machines: { "vps-1": {}, "vps-2": {} } } } };

/** Builds pushed to one repository beyond the first page of /builds, so "Load more" has a page to load. */
export const DOCS_PUSHES = 52;
/** Six pushes, a pull request and the documentation site's pushes. */
export const SCENARIO_BUILDS = 7 + DOCS_PUSHES;

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

function repository(fullName: string) {
  const [owner = "", name = ""] = fullName.split("/");
  return { full_name: fullName, name, owner: { login: owner } };
}

export function push(fullName: string, files: string[], ref = "refs/heads/feature") {
  const sha = randomSha();
  return {
    sha,
    payload: {
      ref,
      before: randomSha(),
      after: sha,
      created: false,
      deleted: false,
      repository: repository(fullName),
      commits: [{ id: sha, message: "change", added: [], removed: [], modified: files }],
      head_commit: { id: sha, message: "change", added: [], removed: [], modified: files },
    },
  };
}

let nextId = 4_100_000;

interface JobFields {
  repository: string;
  sha: string;
  action: "queued" | "in_progress" | "completed";
  id: number;
  runId: number;
  labels: string[];
  runnerName?: string;
  conclusion?: string;
  /** Minutes ago it was queued, started and completed. */
  times: [queued: number, started?: number, completed?: number];
}

function job(f: JobFields) {
  const [queued, started, completed] = f.times;
  return {
    action: f.action,
    repository: repository(f.repository),
    workflow_job: {
      id: f.id,
      run_id: f.runId,
      run_attempt: 1,
      head_sha: f.sha,
      name: "build",
      workflow_name: "CI",
      status: f.action,
      conclusion: f.action === "completed" ? (f.conclusion ?? "success") : null,
      labels: f.labels,
      runner_name: f.action === "queued" ? null : (f.runnerName ?? null),
      runner_group_name: f.action === "queued" ? null : "Default",
      created_at: minutesAgo(queued),
      started_at: started === undefined || f.action === "queued" ? null : minutesAgo(started),
      completed_at: completed === undefined || f.action !== "completed" ? null : minutesAgo(completed),
    },
  };
}

function run(fullName: string, sha: string, id: number, conclusion: string | null) {
  return {
    action: conclusion === null ? "in_progress" : "completed",
    repository: repository(fullName),
    workflow_run: {
      id,
      name: "CI",
      head_sha: sha,
      run_attempt: 1,
      event: "push",
      status: conclusion === null ? "in_progress" : "completed",
      conclusion,
      run_started_at: minutesAgo(20),
      updated_at: minutesAgo(1),
    },
  };
}

/** Posts one signed delivery to the router; its JSON answer (throws on anything but 2xx). */
export async function deliver(base: string, event: string, payload: unknown): Promise<unknown> {
  const signed = await webhookRequest(event, payload);
  const res = await fetch(`${base}/webhook/github`, {
    method: "POST",
    headers: signed.headers,
    body: await signed.text(),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${event} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * The whole morning: every job of a build follows its push, queued → in progress → completed,
 * as GitHub sends them.
 */
export async function sendScenario(base: string): Promise<void> {
  /** A push, then each of its jobs through the actions given, and its workflow run. */
  const build = async (
    event: { sha: string; payload: unknown },
    fullName: string,
    jobs: Omit<JobFields, "repository" | "sha" | "action" | "id" | "runId">[],
    until: JobFields["action"],
    conclusion: string | null = null,
  ) => {
    await deliver(base, "push", event.payload);
    const runId = nextId++;
    for (const fields of jobs) {
      const id = nextId++;
      const steps = (["queued", "in_progress", "completed"] as const).slice(
        0,
        ["queued", "in_progress", "completed"].indexOf(until) + 1,
      );
      for (const action of steps) {
        await deliver(
          base,
          "workflow_job",
          job({ ...fields, repository: fullName, sha: event.sha, action, id, runId }),
        );
      }
    }
    if (until !== "queued") await deliver(base, "workflow_run", run(fullName, event.sha, runId, conclusion));
  };

  // A documentation site with a push per page edit, earlier on: more builds than one page of /builds.
  for (let i = 0; i < DOCS_PUSHES; i++) await deliver(base, "push", push("acme/docs", [`docs/page-${i}.md`]).payload);

  const vps = ["self-hosted", "vps"];
  // Source on vps, 10 minutes, green.
  await build(
    push("acme/app", ["src/index.ts", "src/routes.ts"]),
    "acme/app",
    [{ labels: vps, runnerName: "vps-1", times: [16, 15, 5] }],
    "completed",
    "success",
  );
  // Documentation only: GitHub-hosted.
  await build(
    push("acme/app", ["README.md", "docs/guide.md"]),
    "acme/app",
    [{ labels: ["ubuntu-latest"], runnerName: "GitHub Actions 7", times: [9, 8, 6] }],
    "completed",
    "success",
  );
  // CUDA kernels: the GPU box, and the build fails.
  await build(
    push("acme/ml", ["kernels/matmul.cu", "README.md"]),
    "acme/ml",
    [{ labels: ["self-hosted", "ai-lab", "gpu"], runnerName: "ai-lab-1", times: [30, 29, 12] }],
    "completed",
    "failure",
  );
  // A Dockerfile: vps, still running on vps-2.
  await build(
    push("acme/web", ["services/api/Dockerfile"]),
    "acme/web",
    [{ labels: vps, runnerName: "vps-2", times: [6, 5] }],
    "in_progress",
  );
  // Source on web, but its job ran on kvm2: a fallback.
  await build(
    push("acme/web", ["src/app.ts"]),
    "acme/web",
    [{ labels: ["self-hosted", "kvm2"], runnerName: "kvm2-1", times: [25, 22, 14] }],
    "completed",
    "success",
  );
  // A deploy from main to the deploy host, still queued 40 minutes on: past kvm4's target.
  await build(
    push("acme/app", ["deploy/app.yaml"], "refs/heads/main"),
    "acme/app",
    [{ labels: ["self-hosted", "cloudstartup", "kvm4"], times: [40] }],
    "queued",
  );
  // A pull request whose files (CUDA) the router reads from GitHub's API.
  const pr = randomSha();
  await deliver(base, "pull_request", {
    action: "opened",
    number: 12,
    repository: repository("acme/gpu-pr"),
    pull_request: { number: 12, head: { ref: "kernels", sha: pr }, base: { ref: "main" } },
  });
}

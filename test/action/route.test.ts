/**
 * The route action's committed bundle, run as the Actions runner runs it, against the real
 * bundled Worker under Miniflare (API token and OIDC), against small loopback servers (a router
 * failing then answering, one that never answers), and against a closed port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { sign } from "@octokit/webhooks-methods";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askRouter, SCHEDULE } from "../../action/src/client.ts";
import { type LocalWorker, startLocalWorker } from "../../scripts/local-worker.ts";
import { SECRET_NAMES, VAR_NAMES } from "../../worker/src/bindings.ts";
import { type FakeOidc, startFakeOidc } from "./fake-oidc.ts";
import { type ActionRun, linesShowing, runAction } from "./run-action.ts";

const WEBHOOK_SECRET = "action-test-webhook-secret";
const API_TOKEN = "action-test-api-token-5f0c2b";
const REPOSITORY = "acme/app";
/** A repository whose policy declares per-job path filters. */
const SKIPS_REPOSITORY = "acme/skips";
const SKIPS_JOBS = {
  docs: { paths: ["docs/**", "*.md"] },
  api: { paths: ["services/api/**", "!services/api/**/*.md"] },
};
const JOB_ID = "41000000001";
/** The OIDC run's job: its token's `check_run_id`, which the router holds the `job_id` to. */
const OIDC_JOB_ID = "41000000002";

let worker: LocalWorker;
let oidc: FakeOidc;

beforeAll(async () => {
  oidc = await startFakeOidc();
  worker = await startLocalWorker({
    bindings: {
      [SECRET_NAMES.webhookSecret]: WEBHOOK_SECRET,
      [SECRET_NAMES.apiToken]: API_TOKEN,
      [VAR_NAMES.oidcIssuer]: oidc.issuer,
      [VAR_NAMES.routingConfig]: JSON.stringify({
        repositories: { [REPOSITORY]: {}, [SKIPS_REPOSITORY]: { jobs: SKIPS_JOBS } },
      }),
    },
    onLog: () => {},
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await oidc?.stop();
});

/** A 40-hex commit id no other test uses. */
function randomSha(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(20)), (b) => b.toString(16).padStart(2, "0")).join("");
}

interface Routed {
  build_id: string;
  decision: {
    runner: string;
    runs_on: string[];
    requirement: string;
    rule: string | null;
    reasons: string[];
    jobs?: Record<string, { run: boolean; reasons: string[] }>;
  };
}

/** Delivers a signed push of `sha` touching `files`, as GitHub would, and returns the Worker's answer. */
async function deliverPush(sha: string, files: string[], repository = REPOSITORY): Promise<Routed> {
  const body = JSON.stringify({
    ref: "refs/heads/feature",
    before: "1".repeat(40),
    after: sha,
    repository: { full_name: repository },
    commits: [{ added: files, removed: [], modified: [] }],
  });
  const response = await fetch(`${worker.url}/webhook/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": await sign(WEBHOOK_SECRET, body),
    },
    body,
  });
  expect(response.status).toBe(202);
  return (await response.json()) as Routed;
}

/** The runner's environment for a push of `sha` (GITHUB_EVENT_NAME push unless `overrides` says otherwise). */
function pushEnv(sha: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    GITHUB_REPOSITORY: REPOSITORY,
    GITHUB_SHA: sha,
    GITHUB_REF: "refs/heads/feature",
    GITHUB_EVENT_NAME: "push",
    ...overrides,
  };
}

/** A push event payload, as GITHUB_EVENT_PATH holds it. */
const pushEvent = (sha: string) => ({ ref: "refs/heads/feature", after: sha, repository: { full_name: REPOSITORY } });

/** Every place a run could show a secret, checked: only `::add-mask::` commands may carry it. */
function expectNeverShown(run: ActionRun, secret: string): void {
  expect(linesShowing(run.stdout, secret)).toEqual([]);
  expect(run.stderr).not.toContain(secret);
  expect(run.outputFile).not.toContain(secret);
  expect(run.summary).not.toContain(secret);
  expect(run.stdout).toContain(`::add-mask::${secret}`);
}

/** The `::warning::` annotations a run printed. */
const warnings = (run: ActionRun) => run.stdout.split("\n").filter((line) => line.startsWith("::warning::"));

/** The summary of a routed run shows the whole decision. */
function expectDecisionSummary(run: ActionRun, decision: Routed["decision"]): void {
  expect(run.summary).toContain(`- **Runner:** \`${decision.runner}\``);
  expect(run.summary).toContain(`- **Labels:** \`${JSON.stringify(decision.runs_on)}\``);
  expect(run.summary).toContain(`- **Requirement:** \`${decision.requirement}\``);
  expect(run.summary).toContain(
    decision.rule === null ? "- **Rule:** none (no rule matched)" : `- **Rule:** \`${decision.rule}\``,
  );
  expect(decision.reasons.length).toBeGreaterThan(0);
  for (const reason of decision.reasons) expect(run.summary).toContain(reason);
  expect(run.summary).toMatch(/^- \*\*Against GitHub-hosted:\*\* \S.*$/m);
}

describe("with the API token, against the Worker", () => {
  it("outputs the decision the push webhook recorded for the commit", async () => {
    const sha = randomSha();
    const routed = await deliverPush(sha, ["kernels/matmul.cu", "README.md"]);
    const run = await runAction({
      inputs: { url: worker.url, token: API_TOKEN, "job-id": JOB_ID, fallback: '["ubuntu-latest"]' },
      event: pushEvent(sha),
      env: pushEnv(sha),
    });
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([]);
    expect(run.outputs).toEqual({
      "runs-on": JSON.stringify(routed.decision.runs_on),
      runner: routed.decision.runner,
      requirement: routed.decision.requirement,
      "build-id": routed.build_id,
      routed: "true",
      jobs: "{}",
      placements: "{}",
    });
    expect(routed.decision).toMatchObject({ runner: "ai-lab", requirement: "gpu" });
    expectDecisionSummary(run, routed.decision);
    expect(run.summary).toContain(`- **Decision:** recorded from the webhook (build \`${routed.build_id}\`)`);
    expectNeverShown(run, API_TOKEN);
  });

  it("asks about a pull request's head commit, not the merge commit in GITHUB_SHA", async () => {
    const head = randomSha();
    const routed = await deliverPush(head, ["services/api/Dockerfile"]);
    const run = await runAction({
      inputs: { url: `${worker.url}/`, token: API_TOKEN },
      event: { action: "synchronize", number: 7, pull_request: { number: 7, head: { sha: head } } },
      env: pushEnv(randomSha(), { GITHUB_EVENT_NAME: "pull_request", GITHUB_REF: "refs/pull/7/merge" }),
    });
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ "build-id": routed.build_id, runner: "vps", routed: "true" });
  });

  it("outputs a decision computed now for a commit no webhook announced", async () => {
    const sha = randomSha();
    const direct = await fetch(`${worker.url}/route?repository=${REPOSITORY}&sha=${sha}&ref=refs/heads/feature`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    const expected = (await direct.json()) as Routed & { recorded: boolean };
    expect(expected.recorded).toBe(false);
    const run = await runAction({
      inputs: { url: worker.url, token: API_TOKEN },
      event: pushEvent(sha),
      env: pushEnv(sha),
    });
    expect(run.code).toBe(0);
    expect(run.outputs).toEqual({
      "runs-on": JSON.stringify(expected.decision.runs_on),
      runner: expected.decision.runner,
      requirement: expected.decision.requirement,
      "build-id": "",
      routed: "true",
      jobs: "{}",
      placements: "{}",
    });
    expectDecisionSummary(run, expected.decision);
    expect(run.summary).toContain("- **Decision:** computed now (no webhook recorded this commit)");
  });

  it("outputs run-<job> and the jobs map for a repository that declares jobs, and lists them in the summary", async () => {
    const sha = randomSha();
    const routed = await deliverPush(sha, ["docs/guide.md", "services/api/README.md"], SKIPS_REPOSITORY);
    expect(routed.decision.jobs).toEqual({
      docs: { run: true, reasons: ["docs/guide.md matches docs/**"] },
      api: { run: false, reasons: ["no changed file matches services/api/**, !services/api/**/*.md"] },
    });
    const run = await runAction({
      inputs: { url: worker.url, token: API_TOKEN },
      event: { ...pushEvent(sha), repository: { full_name: SKIPS_REPOSITORY } },
      env: pushEnv(sha, { GITHUB_REPOSITORY: SKIPS_REPOSITORY }),
    });
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([]);
    expect(run.outputs).toEqual({
      "runs-on": JSON.stringify(routed.decision.runs_on),
      runner: routed.decision.runner,
      requirement: routed.decision.requirement,
      "build-id": routed.build_id,
      routed: "true",
      "run-docs": "true",
      "run-api": "false",
      jobs: '{"docs":true,"api":false}',
      placements: "{}",
    });
    expect(run.summary).toContain("### Jobs");
    expect(run.summary).toContain("- `docs`: **run** (`run-docs=true`): `docs/guide.md matches docs/**`");
    expect(run.summary).toContain(
      "- `api`: **skip** (`run-api=false`): `no changed file matches services/api/**, !services/api/**/*.md`",
    );
  });

  it("falls back loudly on a wrong token (401), without retrying and without failing the step", async () => {
    const wrong = "wrong-token-1d8e77";
    const run = await runAction({
      inputs: { url: worker.url, token: wrong, fallback: '[ "self-hosted", "vps" ]' },
      event: pushEvent(randomSha()),
      env: pushEnv(randomSha()),
    });
    expect(run.code).toBe(0);
    const [warning, ...more] = warnings(run);
    expect(more).toEqual([]);
    expect(warning).toMatch(
      /^::warning::router answered 401 unauthorized: .+; running on the fallback \["self-hosted","vps"\]$/,
    );
    expect(warning).not.toContain("attempts");
    expect(run.outputs).toEqual({
      "runs-on": '["self-hosted","vps"]',
      runner: "",
      requirement: "",
      "build-id": "",
      routed: "false",
      jobs: "{}",
      placements: "{}",
    });
    expect(run.summary).toContain("## Route: fell back");
    expect(run.summary).toContain("router answered 401 unauthorized");
    expect(run.summary).toContain("every job runs (no `run-<job>` output is set)");
    expectNeverShown(run, wrong);
  });
});

describe("with the job's OIDC token, against the Worker", () => {
  /** The JWT the action was handed: the one value it masked. */
  const maskedJwt = (run: ActionRun) => /^::add-mask::(\S+\.\S+\.\S+)$/m.exec(run.stdout)?.[1];

  it("gets a token for the router's audience and is routed with it", async () => {
    const sha = randomSha();
    const routed = await deliverPush(sha, ["deploy/app.yaml", "services/web/Dockerfile"]);
    oidc.setClaims({ repository: REPOSITORY, repository_owner: "acme", sha, check_run_id: OIDC_JOB_ID });
    const run = await runAction({
      inputs: { url: worker.url, "job-id": OIDC_JOB_ID, audience: "pmoves-ci-orchestrator" },
      event: pushEvent(sha),
      env: {
        ...pushEnv(sha),
        ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      },
    });
    expect(oidc.requests.some(({ path }) => path.includes("audience=pmoves-ci-orchestrator"))).toBe(true);
    const jwt = maskedJwt(run);
    expect(jwt).toBeDefined();
    expectNeverShown(run, jwt ?? "");
    expect(run.stdout).not.toContain(oidc.requestToken);
    expect(warnings(run)).toEqual([]);
    expect(run.outputs).toEqual({
      "runs-on": JSON.stringify(routed.decision.runs_on),
      runner: routed.decision.runner,
      requirement: routed.decision.requirement,
      "build-id": routed.build_id,
      routed: "true",
      jobs: "{}",
      placements: "{}",
    });
  });

  it("falls back loudly when the router does not serve the token's repository (403)", async () => {
    oidc.setClaims({ repository: "acme/unlisted", repository_owner: "acme" });
    const sha = randomSha();
    const run = await runAction({
      inputs: { url: worker.url },
      event: pushEvent(sha),
      env: {
        ...pushEnv(sha, { GITHUB_REPOSITORY: "acme/unlisted" }),
        ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      },
    });
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([
      expect.stringMatching(
        /^::warning::router answered 403 forbidden: .+; running on the fallback \["ubuntu-latest"\]$/,
      ),
    ]);
    expect(run.outputs.routed).toBe("false");
  });

  it("falls back loudly when the Actions service refuses the token request", async () => {
    const sha = randomSha();
    const run = await runAction({
      inputs: { url: worker.url },
      event: pushEvent(sha),
      env: { ...pushEnv(sha), ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "nope" },
    });
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([expect.stringMatching(/^::warning::no OIDC token: .+; running on the fallback/)]);
    expect(run.outputs).toMatchObject({ "runs-on": '["ubuntu-latest"]', routed: "false" });
  });

  it("without a token input or id-token permission, says how to grant one and falls back", async () => {
    const sha = randomSha();
    const run = await runAction({ inputs: { url: worker.url }, event: pushEvent(sha), env: pushEnv(sha) });
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([
      '::warning::no token: set `token` or grant `permissions: id-token: write`; running on the fallback ["ubuntu-latest"]',
    ]);
    expect(run.outputs).toEqual({
      "runs-on": '["ubuntu-latest"]',
      runner: "",
      requirement: "",
      "build-id": "",
      routed: "false",
      jobs: "{}",
      placements: "{}",
    });
    expect(run.summary).toContain("no token: set `token` or grant `permissions: id-token: write`");
  });
});

/** A loopback HTTP server answering with `handler`; every request is recorded. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, count: number) => void) {
  const requests: { url: string; authorization: string | undefined }[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", authorization: req.headers.authorization });
    handler(req, res, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, requests, stop };
}

/** A port nothing listens on: one the system just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("against routers that fail", () => {
  it("retries a 500 and is routed by the answer after it, with the request the contract names", async () => {
    const sha = randomSha();
    const decision = {
      runner: "vps",
      runs_on: ["self-hosted", "vps"],
      requirement: "docker",
      mode: "hybrid",
      reasons: ['services/api/Dockerfile matches "services/**" (rule docker) → docker'],
      rule: "docker",
      satisfiable: true,
    };
    const router = await serve((_, res, count) => {
      if (count === 1) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end('{"error":{"code":"internal","message":"boom"}}');
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          build_id: null,
          recorded: false,
          routing_job: 77,
          decision,
          pricing: { runner_per_minute_usd: null, runner_monthly_usd: 10, github_hosted_per_minute_usd: 0.008 },
        }),
      );
    });
    try {
      const run = await runAction({
        inputs: { url: `${router.url}/ci`, token: API_TOKEN, "job-id": "77" },
        event: pushEvent(sha),
        env: pushEnv(sha),
      });
      expect(run.code).toBe(0);
      expect(run.outputs).toEqual({
        "runs-on": '["self-hosted","vps"]',
        runner: "vps",
        requirement: "docker",
        "build-id": "",
        routed: "true",
        jobs: "{}",
        placements: "{}",
      });
      expect(router.requests).toHaveLength(2);
      for (const request of router.requests) {
        expect(request.authorization).toBe(`Bearer ${API_TOKEN}`);
        expect(request.url).toBe(`/ci/route?repository=acme%2Fapp&sha=${sha}&ref=refs%2Fheads%2Ffeature&job_id=77`);
      }
      expect(run.stdout).toContain("after 2 attempts");
      expectDecisionSummary(run, decision);
      expect(run.summary).toContain(
        "- **Against GitHub-hosted:** a flat $10/month here against $0.008/min on GitHub-hosted",
      );
      expectNeverShown(run, API_TOKEN);
    } finally {
      await router.stop();
    }
  });

  it("falls back after the whole real schedule when nothing listens, well within 30 s", async () => {
    const port = await closedPort();
    const sha = randomSha();
    const run = await runAction({
      inputs: { url: `http://127.0.0.1:${port}`, token: API_TOKEN, fallback: '"ubuntu-22.04"' },
      event: pushEvent(sha),
      env: pushEnv(sha),
    });
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^::warning::router unreachable at http://127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED\\) \\(4 attempts in \\d+\\.\\d s\\); running on the fallback "ubuntu-22\\.04"$`,
        ),
      ),
    ]);
    expect(run.outputs).toMatchObject({ "runs-on": '"ubuntu-22.04"', routed: "false" });
    const pauses = SCHEDULE.backoffMs.reduce((sum, ms) => sum + ms, 0);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(pauses);
    expect(run.elapsedMs).toBeLessThan(20_000);
    expect(run.summary).toContain("connection refused");
  }, 30_000);

  it("gives each attempt its own timeout against a router that never answers", async () => {
    const router = await serve(() => {});
    try {
      const schedule = { tokenTimeoutMs: 100, attemptTimeoutMs: 200, backoffMs: [10, 20] };
      const started = performance.now();
      const outcome = await askRouter(new URL(`${router.url}/route`), "t", schedule, {
        fetch,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        now: () => performance.now(),
      });
      expect(outcome).toMatchObject({ kind: "failed", attempts: 3 });
      if (outcome.kind === "failed") expect(outcome.cause).toContain("no answer within 0.2 s");
      expect(router.requests).toHaveLength(3);
      expect(performance.now() - started).toBeLessThan(3 * 200 + 30 + 1_000);
    } finally {
      await router.stop();
    }
  });
});

describe("a decision's jobs, from a router", () => {
  it("sets run-<job> only for the jobs it can read: an unreadable one has no output, and so runs", async () => {
    const sha = randomSha();
    const decision = {
      runner: "github-hosted",
      runs_on: ["ubuntu-latest"],
      requirement: "lightweight",
      reasons: ['docs/a.md matches "docs/**" (rule docs), the only changed file → lightweight'],
      jobs: {
        docs: { run: true, reasons: ["docs/a.md matches docs/**"] },
        api: { run: false, reasons: ["no changed file matches services/api/**"] },
        "bad name": { run: false, reasons: [] },
        web: { run: "false", reasons: [] },
      },
    };
    const router = await serve((_, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ build_id: null, recorded: false, decision, pricing: null }));
    });
    try {
      const run = await runAction({
        inputs: { url: router.url, token: API_TOKEN },
        event: pushEvent(sha),
        env: pushEnv(sha),
      });
      expect(run.code).toBe(0);
      expect(run.outputs).toEqual({
        "runs-on": '["ubuntu-latest"]',
        runner: "github-hosted",
        requirement: "lightweight",
        "build-id": "",
        routed: "true",
        "run-docs": "true",
        "run-api": "false",
        jobs: '{"docs":true,"api":false}',
        placements: "{}",
      });
      expect(run.stdout).toContain("job api: skip (no changed file matches services/api/**)");
    } finally {
      await router.stop();
    }
  });
});

describe("a decision's placements, from a router", () => {
  const decision = {
    runner: "vps",
    runs_on: ["self-hosted", "vps"],
    requirement: "default",
    mode: "hybrid",
    reasons: ["learned: per job: e2e → kvm2 (~12 min, queue ~0.5 min); test (1) → ai-lab (~30 min, queue ~1.0 min)"],
    rule: null,
    satisfiable: true,
    placements: [
      { workflow: "CI", job: "e2e", runner: "kvm2", runs_on: ["self-hosted", "kvm2"] },
      { workflow: "CI", job: "build", runner: "vps", runs_on: ["self-hosted", "vps"] },
      { workflow: "CI", job: "test (1)", runner: "ai-lab", runs_on: ["self-hosted", "gpu"] },
      { workflow: "Nightly", job: "soak", runner: "kvm2", runs_on: ["self-hosted", "kvm2"] },
      { workflow: "CI", job: "lint", runner: "kvm2", runs_on: [] },
    ],
  };

  /** Runs the action against a router answering `decision`, in the workflow `workflow` (none when undefined). */
  async function runIn(workflow: string | undefined): Promise<ActionRun> {
    const router = await serve((_, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ build_id: null, recorded: false, decision, pricing: null }));
    });
    try {
      const sha = randomSha();
      return await runAction({
        inputs: { url: router.url, token: API_TOKEN },
        event: pushEvent(sha),
        env: pushEnv(sha, workflow === undefined ? {} : { GITHUB_WORKFLOW: workflow }),
      });
    } finally {
      await router.stop();
    }
  }

  it("outputs this workflow's placements as the map and runs-on-<job>, and lists them in the summary", async () => {
    const run = await runIn("CI");
    expect(run.code).toBe(0);
    expect(warnings(run)).toEqual([]);
    expect(run.outputs).toEqual({
      "runs-on": '["self-hosted","vps"]',
      runner: "vps",
      requirement: "default",
      "build-id": "",
      routed: "true",
      jobs: "{}",
      "runs-on-e2e": '["self-hosted","kvm2"]',
      "runs-on-build": '["self-hosted","vps"]',
      placements: '{"e2e":["self-hosted","kvm2"],"build":["self-hosted","vps"],"test (1)":["self-hosted","gpu"]}',
    });
    // What `fromJSON(placements)[job] || fromJSON(runs-on)` gives each job of the workflow.
    const placements = JSON.parse(run.outputs.placements ?? "") as Record<string, string[]>;
    const runsOn = (job: string) => placements[job] ?? JSON.parse(run.outputs["runs-on"] ?? "");
    expect(runsOn("test (1)")).toEqual(["self-hosted", "gpu"]);
    expect(runsOn("lint")).toEqual(["self-hosted", "vps"]);
    expect(run.stdout).toContain('placed "test (1)" on ai-lab: runs-on ["self-hosted","gpu"]');
    expect(run.summary).toContain("### Placements");
    expect(run.summary).toContain('- `e2e` → `kvm2`, `["self-hosted","kvm2"]` (`placements`, `runs-on-e2e`)');
    expect(run.summary).toContain('- `test (1)` → `ai-lab`, `["self-hosted","gpu"]` (`placements` only)');
    expect(run.summary).toContain("- 1 placement of other workflows left out");
    expectNeverShown(run, API_TOKEN);
  });

  it("outputs another workflow's placements only in that workflow, and none without GITHUB_WORKFLOW", async () => {
    const nightly = await runIn("Nightly");
    expect(nightly.outputs).toMatchObject({
      "runs-on-soak": '["self-hosted","kvm2"]',
      placements: '{"soak":["self-hosted","kvm2"]}',
    });
    expect(Object.keys(nightly.outputs).filter((name) => name.startsWith("runs-on-"))).toEqual(["runs-on-soak"]);
    expect(nightly.summary).toContain("- 3 placements of other workflows left out");

    const unknown = await runIn(undefined);
    expect(unknown.code).toBe(0);
    expect(unknown.outputs.placements).toBe("{}");
    expect(Object.keys(unknown.outputs).filter((name) => name.startsWith("runs-on-"))).toEqual([]);
    expect(unknown.summary).toContain("- 4 placements left out: GITHUB_WORKFLOW is not set");
  });
});

describe("an invalid fallback input", () => {
  it.each([
    ["ubuntu-latest", "input fallback is not JSON"],
    ["[]", "input fallback must be"],
  ])("%j fails the step with the reason, before asking the router", async (fallback, message) => {
    const router = await serve((_, res) => res.writeHead(500).end());
    try {
      const sha = randomSha();
      const run = await runAction({
        inputs: { url: router.url, token: API_TOKEN, fallback },
        event: pushEvent(sha),
        env: pushEnv(sha),
      });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`::error::${message}`);
      expect(router.requests).toEqual([]);
      expect(run.outputs).toEqual({});
    } finally {
      await router.stop();
    }
  });
});

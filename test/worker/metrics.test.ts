import { describe, expect, it } from "vitest";
import { DURATION_BUCKETS, METRICS, type MetricFamily } from "../../worker/src/core/metrics.ts";
import { FAKE_RATE_LIMIT_REMAINING } from "../support/fake-github.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import {
  type Answer,
  call,
  deliver,
  expectError,
  expectRouted,
  pullRequestPayload,
  pushPayload,
  randomRepository,
  randomSha,
  workflowJobPayload,
  workflowRunPayload,
} from "./helpers.ts";
import {
  changes,
  eventually,
  githubTime,
  isClockGauge,
  newJobId,
  runInProgressPayload,
  Scrape,
  scrape,
  seriesKey,
} from "./observability.ts";

describe("GET /metrics", () => {
  it("401 without a token or with a wrong one", async () => {
    expectError(await call("/metrics", { token: null }), 401, "unauthorized");
    for (const token of ["wrong", `${TEST_SECRETS.api}x`, TEST_SECRETS.webhook]) {
      expectError(await call("/metrics", { token }), 401, "unauthorized");
    }
  });

  it("is text exposition 0.0.4 listing every family of the catalogue with its HELP and TYPE", async () => {
    // Something in every kind of family: a routed push, and a job that queued, ran and completed.
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const id = newJobId();
    for (const action of ["queued", "in_progress", "completed"] as const) {
      await deliver("workflow_job", workflowJobPayload({ repository, sha, action, id }));
    }

    const res = await call("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4(;|$)/);
    const metrics = new Scrape(res.text);

    const catalogue = Object.values(METRICS) as MetricFamily[];
    expect(metrics.families.map((f) => f.name).sort()).toEqual(catalogue.map((f) => f.name).sort());
    for (const family of catalogue) {
      const parsed = metrics.families.find((f) => f.name === family.name);
      expect(parsed?.help, family.name).toBe(family.help);
      expect(parsed?.type, family.name).toBe(family.type.toUpperCase());
      expect(res.text).toContain(`# HELP ${family.name} `);
      expect(res.text).toContain(`# TYPE ${family.name} ${family.type}\n`);
    }
    // Every series' labels are the family's, and every histogram series is whole and cumulative.
    for (const family of catalogue.filter((f) => f.type !== "histogram")) {
      for (const sample of metrics.families.find((f) => f.name === family.name)?.metrics ?? []) {
        expect(Object.keys(sample.labels ?? {}).sort(), family.name).toEqual([...family.labels].sort());
        expect(Number.isFinite(Number(sample.value)), family.name).toBe(true);
      }
    }
    const queue = metrics.histogram("queueSeconds", { runner: "vps" });
    expect(queue.count).toBeGreaterThanOrEqual(1);
    const counts = [...DURATION_BUCKETS.map(String), "+Inf"].map((le) => queue.buckets[le] ?? Number.NaN);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1] ?? 0);
    expect(queue.buckets["+Inf"]).toBe(queue.count);
  });
});

describe("counters are exact", () => {
  const KINDS = [
    { files: ["kernels/x.cu"], runner: "ai-lab", requirement: "gpu" },
    { files: ["services/api/Dockerfile"], runner: "vps", requirement: "docker" },
    { files: ["docs/guide.md"], runner: "github-hosted", requirement: "lightweight" },
    { files: ["src/index.ts"], runner: "vps", requirement: "default" },
  ] as const;

  it("40 distinct pushes and 10 redeliveries of some of them, all at once: +40 accepted, +10 duplicate", async () => {
    const pushes = Array.from({ length: 40 }, (_, i) => ({
      delivery: crypto.randomUUID(),
      payload: pushPayload({ files: [...(KINDS[i % KINDS.length]?.files ?? [])] }),
    }));
    const before = await scrape();
    const answers = await Promise.all(
      [...pushes, ...pushes.slice(0, 10)].map(({ delivery, payload }) => deliver("push", payload, { delivery })),
    );
    const after = await scrape();

    const firsts = answers.filter((a) => a.status === 202);
    const duplicates = answers.filter((a) => a.status === 200 && a.body.duplicate === true);
    expect(firsts).toHaveLength(40);
    expect(duplicates).toHaveLength(10);

    const delta = changes(before, after, isClockGauge);
    expect(delta[seriesKey("deliveries", { event: "push", outcome: "accepted" })]).toBe(40);
    expect(delta[seriesKey("deliveries", { event: "push", outcome: "duplicate" })]).toBe(10);

    // Decisions: exactly one per accepted push, under the runner, requirement and mode it named.
    const expected: Record<string, number> = {};
    for (const answer of firsts) {
      const { decision } = expectRouted(answer);
      const key = seriesKey("decisions", {
        runner: decision.runner,
        requirement: decision.requirement,
        mode: decision.mode,
      });
      expected[key] = (expected[key] ?? 0) + 1;
    }
    for (const kind of KINDS) {
      expect(
        expected[seriesKey("decisions", { runner: kind.runner, requirement: kind.requirement, mode: "hybrid" })],
      ).toBe(10);
    }
    const decisions = Object.fromEntries(
      Object.entries(delta).filter(([key]) => key.startsWith(METRICS.decisions.name)),
    );
    expect(decisions).toEqual(expected);
  });

  it("counts truncated and unknown file lists once each", async () => {
    const before = await scrape();
    const truncated = expectRouted(
      await deliver("pull_request", pullRequestPayload({ repository: "acme/many-files", number: 3000 })),
    );
    expect(truncated.decision.truncated).toBe(true);
    const unknown = expectRouted(await deliver("pull_request", pullRequestPayload({ repository: "acme/broken" })));
    expect(unknown.decision.files_known).toBe(false);
    const after = await scrape();
    expect(
      after.value("incompleteFiles", { kind: "truncated" }) - before.value("incompleteFiles", { kind: "truncated" }),
    ).toBe(1);
    expect(
      after.value("incompleteFiles", { kind: "unknown" }) - before.value("incompleteFiles", { kind: "unknown" }),
    ).toBe(1);
  });

  it("counts refused deliveries by the error code answered (written after the answer)", async () => {
    const payload = pushPayload();
    // Read before any is sent: each is counted after its answer, while the others are on their way.
    const before = await scrape();
    const refused: [Promise<Answer>, number, string][] = [
      [deliver("push", payload, { secret: "not-the-secret" }), 401, "invalid_signature"],
      [deliver("push", payload, { secret: "not-the-secret" }), 401, "invalid_signature"],
      [deliver("push", payload, { headers: { "x-github-event": null } }), 400, "missing_header"],
      [deliver("push", null, { body: "{not json" }), 400, "invalid_body"],
      [deliver("push", { zen: "a push without its fields" }), 422, "invalid_payload"],
      [deliver("push", payload, { contentType: "text/plain" }), 415, "unsupported_media_type"],
    ];
    for (const [answer, status, code] of refused) expectError(await answer, status, code);

    const expected: Record<string, number> = {
      invalid_signature: 2,
      missing_header: 1,
      invalid_body: 1,
      invalid_payload: 1,
      unsupported_media_type: 1,
    };
    const counted = (s: Scrape, reason: string) =>
      s.value("rejections", { reason }) - before.value("rejections", { reason });
    const after = await eventually(scrape, (s) =>
      Object.keys(expected).every((r) => counted(s, r) >= (expected[r] ?? 0)),
    );
    const rejections = Object.fromEntries(
      Object.entries(changes(before, after, isClockGauge)).filter(([key]) => key.startsWith(METRICS.rejections.name)),
    );
    expect(rejections).toEqual(
      Object.fromEntries(Object.entries(expected).map(([reason, n]) => [seriesKey("rejections", { reason }), n])),
    );
    // Refused deliveries are not deliveries.
    expect(after.value("deliveries", { event: "push", outcome: "accepted" })).toBe(
      before.value("deliveries", { event: "push", outcome: "accepted" }),
    );
  });
});

describe("jobs", () => {
  it("queued → in_progress → completed, 30 s then 200 s: queue and run histograms, jobs, minutes, accuracy", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    const { decision } = expectRouted(await deliver("push", pushPayload({ repository, sha, files: ["docs/a.md"] })));
    expect(decision.runner).toBe("github-hosted");

    const created = Date.now() - 300_000;
    const id = newJobId();
    const labels = ["self-hosted", "vps"];
    const queued = workflowJobPayload({ repository, sha, action: "queued", id, labels });
    queued.workflow_job.created_at = githubTime(created);
    queued.workflow_job.started_at = githubTime(created);
    const started = workflowJobPayload({ repository, sha, action: "in_progress", id, labels });
    started.workflow_job.created_at = githubTime(created);
    started.workflow_job.started_at = githubTime(created + 30_000);
    const completed = workflowJobPayload({ repository, sha, action: "completed", id, labels, conclusion: "success" });
    completed.workflow_job.created_at = githubTime(created);
    completed.workflow_job.started_at = githubTime(created + 30_000);
    completed.workflow_job.completed_at = githubTime(created + 230_000);
    const deliveries = [queued, started, completed].map((payload) => ({ payload, delivery: crypto.randomUUID() }));

    const before = await scrape();
    for (const { payload, delivery } of deliveries) {
      expect((await deliver("workflow_job", payload, { delivery })).status).toBe(202);
    }
    const after = await scrape();

    const queue = after.histogram("queueSeconds", { runner: "vps" });
    const queueBefore = before.histogram("queueSeconds", { runner: "vps" });
    for (const le of [...DURATION_BUCKETS.map(String), "+Inf"]) {
      expect((queue.buckets[le] ?? 0) - (queueBefore.buckets[le] ?? 0), `le=${le}`).toBe(Number(le) < 30 ? 0 : 1);
    }
    expect(queue.count - queueBefore.count).toBe(1);
    expect(queue.sum - queueBefore.sum).toBe(30);

    const run = after.histogram("runSeconds", { runner: "vps" });
    const runBefore = before.histogram("runSeconds", { runner: "vps" });
    expect(run.count - runBefore.count).toBe(1);
    expect(run.sum - runBefore.sum).toBe(200);
    expect((run.buckets["120"] ?? 0) - (runBefore.buckets["120"] ?? 0)).toBe(0);
    expect((run.buckets["300"] ?? 0) - (runBefore.buckets["300"] ?? 0)).toBe(1);

    const delta = changes(before, after, isClockGauge);
    expect(delta[seriesKey("jobs", { runner: "vps", conclusion: "success" })]).toBe(1);
    expect(delta[seriesKey("billableSeconds", { runner: "vps" })]).toBe(240); // 200 s bills 4 whole minutes
    expect(delta[seriesKey("accuracy", { suggested: decision.runner, used: "vps" })]).toBe(1);
    expect(delta[seriesKey("deliveries", { event: "workflow_job", outcome: "accepted" })]).toBe(3);

    // The same three deliveries again change nothing but the duplicate counter.
    for (const { payload, delivery } of deliveries) {
      expect((await deliver("workflow_job", payload, { delivery })).body.duplicate).toBe(true);
    }
    const again = await scrape();
    expect(changes(after, again, isClockGauge)).toEqual({
      [seriesKey("deliveries", { event: "workflow_job", outcome: "duplicate" })]: 3,
    });
  });

  it("a build's outcome is counted once, when all of its runs and jobs have completed", async () => {
    const repository = randomRepository();
    const sha = randomSha();
    expectRouted(await deliver("push", pushPayload({ repository, sha })));
    const runId = newJobId();
    const jobId = newJobId();
    const before = await scrape();
    const builds = (s: Scrape) =>
      s.value("builds", { runner: "vps", conclusion: "success" }) -
      before.value("builds", { runner: "vps", conclusion: "success" });

    await deliver("workflow_run", workflowRunPayload({ repository, sha, action: "requested", id: runId }));
    await deliver("workflow_run", runInProgressPayload({ repository, sha, id: runId }));
    for (const action of ["queued", "in_progress", "completed"] as const) {
      await deliver("workflow_job", workflowJobPayload({ repository, sha, action, id: jobId, runId }));
    }
    expect(builds(await scrape())).toBe(0); // the run is still in progress

    const delivery = crypto.randomUUID();
    const runCompleted = workflowRunPayload({ repository, sha, action: "completed", id: runId, conclusion: "success" });
    expect((await deliver("workflow_run", runCompleted, { delivery })).status).toBe(202);
    expect(builds(await scrape())).toBe(1);

    // A redelivery, a second delivery of the same event (another hook), and the job's completion
    // again: each answered as the first, marked duplicate, and counted once.
    expect((await deliver("workflow_run", runCompleted, { delivery })).status).toBe(200);
    expect((await deliver("workflow_run", runCompleted)).status).toBe(200);
    expect(
      (await deliver("workflow_job", workflowJobPayload({ repository, sha, action: "completed", id: jobId, runId })))
        .status,
    ).toBe(200);
    const after = await scrape();
    expect(builds(after)).toBe(1);
    const counted = Object.keys(changes(before, after, isClockGauge)).filter((k) => k.startsWith(METRICS.builds.name));
    expect(counted).toEqual([seriesKey("builds", { runner: "vps", conclusion: "success" })]);
  });
});

describe("the GitHub rate limit gauge", () => {
  it("is what GitHub's X-RateLimit-Remaining said last", async () => {
    await deliver("pull_request", pullRequestPayload({ repository: "acme/limited" }));
    expect((await scrape()).value("rateLimit")).toBe(0);
    expectRouted(await deliver("pull_request", pullRequestPayload()));
    expect((await scrape()).value("rateLimit")).toBe(FAKE_RATE_LIMIT_REMAINING);
  });

  it("is left alone by deliveries that do not ask GitHub", async () => {
    await deliver("pull_request", pullRequestPayload({ repository: "acme/limited" }));
    expectRouted(await deliver("push", pushPayload()));
    expect((await scrape()).value("rateLimit")).toBe(0);
    expectRouted(await deliver("pull_request", pullRequestPayload()));
  });
});

/**
 * Check runs' pure rules (core/check-runs.ts): the `checkRun` configuration key, the outputs of
 * each state as known answers (a hostile file name included), the summary's bound, what to send
 * next, what GitHub's answers lead to (rate limits, refusals, retries) and the pacing.
 */
import { describe, expect, it } from "vitest";
import {
  applyUpdate,
  type BuildRecord,
  buildSummary,
  CHECK_RUN_MAX_ATTEMPTS,
  CHECK_RUN_PER_MINUTE,
  CHECK_RUN_SUMMARY_MAX,
  type CheckRunAnswer,
  checkRunBody,
  checkRunName,
  checkRunOutput,
  checkRunStep,
  codeSpan,
  DEFAULT_RUNNERS,
  type Decision,
  fail,
  type JobState,
  newBuild,
  nextAction,
  nextSendAt,
  ok,
  parseRoutingConfig,
  RoutingConfigError,
  rateLimitWait,
  scrubSecrets,
  usd,
} from "../../worker/src/core/index.ts";

const SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

const DECISION: Decision = {
  runner: "vps",
  runs_on: ["self-hosted", "vps"],
  requirement: "docker",
  mode: "hybrid",
  reasons: ['services/api/Dockerfile matches "services/**" (rule docker) → docker', "vps has room (0/2 busy)"],
  truncated: false,
  files_known: true,
  files_count: 2,
  satisfiable: true,
  environment: null,
  rule: "docker",
  arm: null,
};

function build(decision: Decision | null = DECISION): BuildRecord {
  return newBuild({
    build_id: "6113728f27ae-d1",
    repository: "acme/app",
    event: "push",
    ref: "refs/heads/main",
    sha: SHA,
    delivery: "d1",
    decision,
    at: "2026-01-01T00:00:00Z",
  });
}

function job(over: Partial<JobState> = {}): JobState {
  return {
    id: 1,
    run_id: 10,
    run_attempt: 1,
    name: "build",
    status: "in_progress",
    conclusion: null,
    labels: ["self-hosted", "vps"],
    runner_name: "vps-1",
    runner_group_name: "Default",
    runner: "vps",
    created_at: "2026-01-01T00:00:10Z",
    queued_at: "2026-01-01T00:00:10Z",
    started_at: "2026-01-01T00:00:20Z",
    completed_at: null,
    ...over,
  };
}

const withJob = (record: BuildRecord, over: Partial<JobState>) =>
  applyUpdate(record, { kind: "job", job: job(over) }, over.completed_at ?? "2026-01-01T00:00:20Z");

const problemsOf = (input: unknown): readonly string[] => {
  try {
    parseRoutingConfig(input);
  } catch (error) {
    if (error instanceof RoutingConfigError) return error.problems;
    throw error;
  }
  return [];
};

const NAME_PROBLEM =
  "checkRun.name: must be 1 to 100 printable characters (no control characters or line breaks, not only spaces)";
const SHAPE_PROBLEM = 'checkRun: must be {"name": "…"} for a check run of that name, or false for none';

describe("the checkRun key", () => {
  it("defaults to a check run named ci-router, and keeps a configuration without it as it was", () => {
    const config = parseRoutingConfig({});
    expect(config).not.toHaveProperty("checkRun");
    expect(checkRunName(config)).toBe("ci-router");
    expect(checkRunName(parseRoutingConfig({ checkRun: {} }))).toBe("ci-router");
  });

  it.each([
    ["a name", { name: "router: where it ran" }, "router: where it ran"],
    ["100 characters (code points, not UTF-16 units)", { name: `${"é".repeat(99)}🚀` }, `${"é".repeat(99)}🚀`],
    ["false: none", false, null],
  ])("takes %s", (_, checkRun, name) => {
    expect(checkRunName(parseRoutingConfig({ checkRun }))).toBe(name);
  });

  it.each([
    ["true", true, [SHAPE_PROBLEM]],
    ["a string", "ci-router", [SHAPE_PROBLEM]],
    ["null", null, [SHAPE_PROBLEM]],
    ["a list", [], [SHAPE_PROBLEM]],
    ["an empty name", { name: "" }, [NAME_PROBLEM]],
    ["a name of spaces", { name: "   " }, [NAME_PROBLEM]],
    ["a name of 101 characters", { name: "x".repeat(101) }, [NAME_PROBLEM]],
    ["a line break", { name: "ci\nrouter" }, [NAME_PROBLEM]],
    ["a bidi override", { name: "ci\u202erouter" }, [NAME_PROBLEM]],
    ["a number", { name: 5 }, ["checkRun.name: Invalid input: expected string, received number"]],
    ["an unknown key", { name: "x", title: "y" }, ['checkRun: Unrecognized key: "title"']],
  ])("refuses %s, naming the key", (_, checkRun, problems) => {
    expect(problemsOf({ checkRun })).toEqual(problems);
  });

  it("is top level only, and is reported with the configuration's other problems", () => {
    expect(problemsOf({ repositories: { "acme/app": { checkRun: false } } })).toEqual([
      'repositories["acme/app"]: Unrecognized key: "checkRun"',
    ]);
    expect([...problemsOf({ checkRun: { name: "" }, assign: { gpu: "nope" } })].sort()).toEqual([
      'assign.gpu: unknown runner "nope"',
      NAME_PROBLEM,
    ]);
  });
});

const FOOTER =
  "This check shows where the router sent the build. It never blocks a merge: its conclusion is always neutral.";
const DECISION_TEXT = [
  "### Decision",
  "",
  "- Runner class: `vps`",
  "- runs-on: `self-hosted`, `vps`",
  "- Requirement: `docker`",
  "- Rule: `docker`",
  "- Mode: `hybrid`",
  "- Changed files: 2",
  "",
  "### Reasons",
  "",
  '- `services/api/Dockerfile matches "services/**" (rule docker) → docker`',
  "- `vps has room (0/2 busy)`",
  "",
  FOOTER,
].join("\n");

describe("outputs: known answers", () => {
  it("queued: the decision, with every reason", () => {
    expect(checkRunOutput(build(), "queued")).toEqual({
      title: "Routed to vps (docker)",
      summary: `The router sent this build to \`vps\`.\n\n${DECISION_TEXT}`,
    });
  });

  it("in progress: the runners that took jobs so far", () => {
    expect(checkRunOutput(withJob(build(), {}), "in_progress")).toEqual({
      title: "Running on vps (docker)",
      summary: `The build is running.\n\n- Runners: \`vps-1\`\n- Runner classes: \`vps\`\n\n${DECISION_TEXT}`,
    });
  });

  it("completed: the outcome, the runners, billable minutes and the cost against GitHub-hosted, from buildSummary", () => {
    let record = withJob(build(), { status: "completed", conclusion: "success", completed_at: "2026-01-01T00:05:00Z" });
    record = withJob(record, {
      id: 2,
      name: "lint",
      runner_name: "vps-2",
      status: "completed",
      conclusion: "failure",
      started_at: "2026-01-01T00:00:30Z",
      completed_at: "2026-01-01T00:07:10Z",
    });
    expect(record.status).toBe("completed");
    const figures = buildSummary(record, DEFAULT_RUNNERS);
    // 5 + 7 minutes on a class priced by the month; $0.006 a minute on GitHub-hosted.
    expect(figures).toMatchObject({ minutes: 12, cost_usd: 0, hosted_usd: 0.072 });
    expect(checkRunOutput(record, "completed", figures)).toEqual({
      title: "Finished failure on vps (docker)",
      summary: [
        "The build finished: `failure`.",
        "",
        "- Runners: `vps-1`, `vps-2`",
        "- Runner classes: `vps`",
        "- Billable minutes: 12",
        "- Cost at the configured prices: $0.00",
        "- On GitHub-hosted runners: $0.07 (saved $0.07)",
        "",
        DECISION_TEXT,
      ].join("\n"),
    });
  });

  it("completed without a baseline price, and dearer than GitHub-hosted", () => {
    const done = withJob(build(), { status: "completed", conclusion: "success", completed_at: "2026-01-01T00:05:00Z" });
    const summary = (figures: Parameters<typeof checkRunOutput>[2]) =>
      checkRunOutput(done, "completed", figures).summary.split("\n").slice(4, 7);
    expect(summary({ minutes: 5, cost_usd: 0.5, hosted_usd: null })).toEqual([
      "- Billable minutes: 5",
      "- Cost at the configured prices: $0.50",
      "- On GitHub-hosted runners: no baseline price is configured",
    ]);
    expect(summary({ minutes: 5, cost_usd: 0.5, hosted_usd: 0.004 })[2]).toBe(
      "- On GitHub-hosted runners: $0.0040 ($0.50 more)",
    );
  });

  it("a hostile file name stays inside its code span: no link, image, HTML, heading or new line", () => {
    const hostile = "x`](https://evil.test)<img src=x onerror=alert(1)>\n# Approved ``@everyone``.md";
    const record = build({ ...DECISION, reasons: [`${hostile} matches "**/*.md" (rule lightweight) → lightweight`] });
    const { summary } = checkRunOutput(record, "queued");
    const line = summary.split("\n").find((l) => l.includes("evil.test"));
    // The longest run of backticks inside is two: the fence is three; the line break is U+FFFD.
    expect(line).toBe(
      '- ```x`](https://evil.test)<img src=x onerror=alert(1)>\uFFFD# Approved ``@everyone``.md matches "**/*.md" (rule lightweight) → lightweight```',
    );
    expect(summary.split("\n").filter((l) => l.startsWith("#"))).toEqual(["### Decision", "### Reasons"]);
  });

  it("a runner name from a job event is shown the same way", () => {
    const record = withJob(build(), { runner_name: "`rm -rf`\r\n<b>" });
    expect(checkRunOutput(record, "in_progress").summary).toContain("- Runners: `` `rm -rf`\uFFFD\uFFFD<b> ``\n");
  });

  it("a build without a decision, and a decision's optional facts", () => {
    expect(checkRunOutput(build(null), "queued")).toEqual({
      title: "Routed to no decision",
      summary: `The router sent this build to no runner class.\n\n### Decision\n\nNo decision was recorded for this build.\n\n${FOOTER}`,
    });
    const odd: Decision = {
      ...DECISION,
      requirement: "deploy",
      environment: "production",
      rule: null,
      arm: "candidate",
      files_known: false,
      satisfiable: false,
    };
    const lines = checkRunOutput(build(odd), "queued").summary.split("\n");
    expect(lines).toEqual(
      expect.arrayContaining([
        "- Requirement: `deploy` (environment `production`)",
        "- Rule: none",
        "- A/B arm: `candidate`",
        "- Changed files: unknown",
        "- **Not satisfiable**: the mode sends this build where its requirement is not met",
      ]),
    );
  });
});

describe("outputs: bounded", () => {
  it("stay under the summary bound, lines past it left out and counted, the footer kept", () => {
    const reasons = Array.from({ length: 500 }, (_, i) => `${String(i).padStart(3, "0")} ${"a".repeat(5_000)}`);
    const { summary, title } = checkRunOutput(build({ ...DECISION, reasons }), "queued");
    expect(summary.length).toBeLessThanOrEqual(CHECK_RUN_SUMMARY_MAX);
    expect(summary.endsWith(FOOTER)).toBe(true);
    // Each reason is cut to 1,000 characters, so the first 15 fit.
    const shown = summary.split("\n").filter((line) => line.startsWith("- `"));
    expect(shown.map((line) => line.slice(3, 6))).toEqual(
      Array.from({ length: 15 }, (_, i) => String(i).padStart(3, "0")),
    );
    expect(shown.every((line) => line.length === 1_004 && line.endsWith("…`"))).toBe(true);
    expect(summary).toContain("\n… 485 more lines left out: the summary is kept under 16000 characters.\n");
    expect(title).toBe("Routed to vps (docker)");
  });

  it("cut a title a long runner class would take past its bound", () => {
    const runner = "r".repeat(300);
    const { title } = checkRunOutput(build({ ...DECISION, runner }), "queued");
    expect(title).toBe(`Routed to ${"r".repeat(200 - "Routed to ".length - 1)}…`);
  });

  it("a long name is cut without splitting a surrogate pair", () => {
    const span = codeSpan(`${"a".repeat(98)}🚀🚀`, 100);
    expect(span).toBe(`\`${"a".repeat(98)}…\``);
    expect(codeSpan("🚀".repeat(60), 100)).toBe(`\`${"🚀".repeat(49)}…\``);
  });

  it("code spans: a fence longer than any run inside, padded where the text starts or ends with a backtick", () => {
    expect(codeSpan("plain")).toBe("`plain`");
    expect(codeSpan("a ``` b")).toBe("````a ``` b````");
    expect(codeSpan("`edge`")).toBe("`` `edge` ``");
    expect(codeSpan("")).toBe("`  `");
  });

  it("money to the cent, or finer below a cent", () => {
    expect([usd(0), usd(0.072), usd(12.5), usd(0.0042)]).toEqual(["$0.00", "$0.07", "$12.50", "$0.0042"]);
  });
});

describe("what is sent next", () => {
  it.each([
    [{ check_run_id: null, sent: null, wanted: "queued" }, "create"],
    [{ check_run_id: null, sent: null, wanted: "completed" }, "create"],
    [{ check_run_id: 7, sent: "queued", wanted: "queued" }, null],
    [{ check_run_id: 7, sent: "queued", wanted: "in_progress" }, "update"],
    // The intermediate update is skipped: straight to the completion.
    [{ check_run_id: 7, sent: "queued", wanted: "completed" }, "complete"],
    [{ check_run_id: 7, sent: "in_progress", wanted: "completed" }, "complete"],
    [{ check_run_id: 7, sent: "completed", wanted: "completed" }, null],
  ] as const)("%j → %s", (row, action) => {
    expect(nextAction(row)).toBe(action);
  });

  it("bodies: the create names the commit and the build and is queued; the completion is neutral", () => {
    const output = { title: "t", summary: "s" };
    const row = { name: "ci-router", head_sha: SHA, build_id: "6113728f27ae-d1" };
    expect(checkRunBody("create", row, output)).toEqual({
      name: "ci-router",
      head_sha: SHA,
      external_id: "6113728f27ae-d1",
      status: "queued",
      output,
    });
    expect(checkRunBody("update", row, output)).toEqual({ status: "in_progress", output });
    expect(checkRunBody("complete", row, output)).toEqual({ status: "completed", conclusion: "neutral", output });
  });
});

const answer = (status: number, extra: Partial<{ retryAfterSeconds: number; message: string; id: number }> = {}) =>
  ok({ status, retryAfterSeconds: null, message: null, id: null, ...extra }) as CheckRunAnswer;
const NOW = Date.UTC(2026, 0, 1);

describe("GitHub's answers", () => {
  it("2xx is sent", () => {
    expect(checkRunStep(answer(201, { id: 5 }), 1, NOW)).toEqual({ kind: "sent" });
  });

  it("5xx and no answer back off, up to the bound of attempts", () => {
    expect(checkRunStep(answer(502), 1, NOW)).toEqual({ kind: "retry", delayMs: 2_000, why: "502 server error" });
    expect(checkRunStep(fail("upstream", "timed out"), 2, NOW)).toEqual({
      kind: "retry",
      delayMs: 4_000,
      why: "timed out",
    });
    expect(checkRunStep(answer(500), CHECK_RUN_MAX_ATTEMPTS, NOW)).toEqual({
      kind: "failed",
      why: `500 server error after ${CHECK_RUN_MAX_ATTEMPTS} attempts`,
    });
  });

  it("a rate limit waits what GitHub asked, and pauses the installation until then", () => {
    expect(checkRunStep(answer(429, { retryAfterSeconds: 30, message: "secondary rate limit" }), 1, NOW)).toEqual({
      kind: "retry",
      delayMs: 30_000,
      why: "429 rate limited: secondary rate limit",
      pauseUntil: NOW + 30_000,
    });
  });

  it("404 and 422 fail at once, with GitHub's message", () => {
    expect(checkRunStep(answer(422, { message: "No commit found for SHA" }), 1, NOW)).toEqual({
      kind: "failed",
      why: "422 refused: No commit found for SHA",
    });
    expect(checkRunStep(answer(404, { message: "Not Found" }), 1, NOW)).toEqual({
      kind: "failed",
      why: "404 refused: Not Found",
    });
  });

  it("never keep a credential a refusal echoes", () => {
    const step = checkRunStep(
      answer(401, { message: "Bad credentials: Bearer ghs_abc123 eyJhbGciOi.eyJpc3Mi.sig" }),
      1,
      NOW,
    );
    expect(step).toEqual({ kind: "failed", why: "401 refused: Bad credentials: Bearer [redacted] [redacted]" });
    expect(scrubSecrets("token github_pat_11ABC and ghp_x1")).toBe("token [redacted] and [redacted]");
  });
});

describe("rate limits", () => {
  const headers = (over: Partial<Parameters<typeof rateLimitWait>[1]> = {}) => ({
    retryAfter: null,
    reset: String(NOW / 1000 + 3_600),
    remaining: "4000",
    ...over,
  });

  it("a 403 with retry-after is GitHub's secondary rate limit: its seconds", () => {
    expect(rateLimitWait(403, headers({ retryAfter: 1 }), null, NOW)).toBe(1);
  });

  it("a 403 with no requests left waits until x-ratelimit-reset (epoch seconds)", () => {
    expect(rateLimitWait(403, headers({ remaining: "0", reset: String(NOW / 1000 + 42) }), null, NOW)).toBe(42);
  });

  it("a 403 naming a secondary rate limit without a time waits until the reset, else a minute", () => {
    const message = "You have exceeded a secondary rate limit";
    expect(rateLimitWait(403, headers({ reset: String(NOW / 1000 + 5) }), message, NOW)).toBe(5);
    expect(rateLimitWait(403, headers({ reset: null }), message, NOW)).toBe(60);
  });

  it("a 429 is a rate limit whatever it carries", () => {
    expect(rateLimitWait(429, headers({ reset: null }), null, NOW)).toBe(60);
  });

  it("a 403 for a missing permission is not one, although every answer carries x-ratelimit-reset", () => {
    expect(rateLimitWait(403, headers(), "Resource not accessible by integration", NOW)).toBeNull();
    expect(rateLimitWait(500, headers({ retryAfter: 1 }), null, NOW)).toBeNull();
  });
});

describe("pacing", () => {
  it(`at most ${CHECK_RUN_PER_MINUTE} calls a minute: the next when the oldest of the last ${CHECK_RUN_PER_MINUTE} leaves the window`, () => {
    expect(nextSendAt([], NOW)).toBe(NOW);
    const sent = Array.from({ length: CHECK_RUN_PER_MINUTE }, (_, i) => NOW - 30_000 + i * 100);
    expect(nextSendAt(sent.slice(1), NOW)).toBe(NOW);
    expect(nextSendAt(sent, NOW)).toBe(NOW + 30_000);
    // Calls older than a minute do not count.
    expect(nextSendAt(sent, NOW + 31_000)).toBe(NOW + 31_000);
  });
});

/**
 * The route action's pure parts: reading the fallback and the commit, building the request,
 * classifying answers, the retry loop and its time bound, and the job summary.
 */
import { describe, expect, it } from "vitest";
import type { RouteAnswer } from "../../action/src/answer.ts";
import { describeErrorAnswer, readAnswer } from "../../action/src/answer.ts";
import {
  askRouter,
  type ClientIo,
  classifyResponse,
  describeNetworkError,
  SCHEDULE,
  TOTAL_BOUND_MS,
  worstCaseMs,
} from "../../action/src/client.ts";
import { parseFallback } from "../../action/src/fallback.ts";
import { jobOutputs, readJobs } from "../../action/src/jobs.ts";
import { placementsFor } from "../../action/src/placements.ts";
import { commitSha, type RouteQuery, readQuery, routeUrl } from "../../action/src/request.ts";
import { code, fallbackSummary, routedSummary, savingsLine, usd } from "../../action/src/summary.ts";

const HEAD = "a".repeat(40);
const MERGE = "b".repeat(40);

describe("the fallback input", () => {
  it.each([
    ['["ubuntu-latest"]', ["ubuntu-latest"], '["ubuntu-latest"]'],
    ['[ "self-hosted" , "vps" ]', ["self-hosted", "vps"], '["self-hosted","vps"]'],
    ['"ubuntu-22.04"', "ubuntu-22.04", '"ubuntu-22.04"'],
  ])("reads %s as runs-on %j, output as %s", (text, runsOn, json) => {
    expect(parseFallback(text)).toEqual({ ok: true, runsOn, json });
  });

  it.each([
    ["ubuntu-latest", "is not JSON"],
    ["[]", "must be"],
    ['[""]', "must be"],
    ['["ok", 3]', "must be"],
    ['""', "must be"],
    ['{"labels":["x"]}', "must be"],
    ["42", "must be"],
  ])("refuses %s, saying it %s", (text, says) => {
    const read = parseFallback(text);
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.problem).toContain(`input fallback ${says}`);
  });
});

describe("the commit asked about", () => {
  const pullRequest = { pull_request: { head: { sha: HEAD } } };

  it("is the pull request's head for pull_request and pull_request_target, not the merge commit", () => {
    expect(commitSha("pull_request", pullRequest, MERGE)).toEqual({ sha: HEAD, note: null });
    expect(commitSha("pull_request_target", pullRequest, MERGE)).toEqual({ sha: HEAD, note: null });
  });

  it("is GITHUB_SHA for every other event", () => {
    expect(commitSha("push", pullRequest, MERGE)).toEqual({ sha: MERGE, note: null });
    expect(commitSha("workflow_dispatch", undefined, MERGE)).toEqual({ sha: MERGE, note: null });
  });

  it("is GITHUB_SHA, with a note, when a pull request event has no head commit", () => {
    const read = commitSha("pull_request", { pull_request: {} }, MERGE);
    expect(read.sha).toBe(MERGE);
    expect(read.note).toContain("no pull_request.head.sha");
  });

  it("comes with the repository, ref and job id from the environment", () => {
    const env = {
      GITHUB_REPOSITORY: "acme/app",
      GITHUB_SHA: MERGE,
      GITHUB_REF: "refs/heads/x",
      GITHUB_EVENT_NAME: "push",
    };
    expect(readQuery(env, {}, "123")).toEqual({
      ok: true,
      query: { repository: "acme/app", sha: MERGE, ref: "refs/heads/x", jobId: "123" },
      notes: [],
    });
    expect(readQuery({ ...env, GITHUB_REF: "" }, {}, "")).toMatchObject({ query: { ref: null, jobId: null } });
    expect(readQuery({ GITHUB_SHA: MERGE }, {}, "")).toEqual({ ok: false, problem: "GITHUB_REPOSITORY is not set" });
    expect(readQuery({ GITHUB_REPOSITORY: "acme/app" }, {}, "")).toEqual({
      ok: false,
      problem: "GITHUB_SHA is not set",
    });
  });
});

describe("the request URL", () => {
  const query: RouteQuery = { repository: "acme/app", sha: HEAD, ref: "refs/pull/7/merge", jobId: "42" };

  it("is GET /route with every parameter, encoded", () => {
    const url = routeUrl("https://router.example/", query);
    expect(url.ok && url.url.href).toBe(
      `https://router.example/route?repository=acme%2Fapp&sha=${HEAD}&ref=refs%2Fpull%2F7%2Fmerge&job_id=42`,
    );
  });

  it("keeps a path prefix and leaves out what is not known", () => {
    const url = routeUrl("http://127.0.0.1:8787/ci//", { ...query, ref: null, jobId: null });
    expect(url.ok && url.url.href).toBe(`http://127.0.0.1:8787/ci/route?repository=acme%2Fapp&sha=${HEAD}`);
  });

  it.each([
    ["", "input url is empty"],
    ["router.example", "input url is not a URL"],
    ["ftp://router.example", "must be http or https"],
    ["https://user:pw@router.example", "must not carry credentials"],
  ])("refuses %j: %s", (base, problem) => {
    const url = routeUrl(base, query);
    expect(url.ok).toBe(false);
    if (!url.ok) expect(url.problem).toContain(problem);
  });
});

/** A route answer as the router sends it. */
function answerBody(overrides: Record<string, unknown> = {}) {
  return {
    build_id: "222222222222-5b1d8a3e0000",
    recorded: true,
    routing_job: 42,
    decision: {
      runner: "vps",
      runs_on: ["self-hosted", "vps"],
      requirement: "docker",
      mode: "hybrid",
      reasons: ['services/api/Dockerfile matches "services/**" (rule docker) → docker'],
      truncated: false,
      files_known: true,
      files_count: 1,
      satisfiable: true,
      environment: null,
      rule: "docker",
      arm: null,
    },
    pricing: { runner_per_minute_usd: null, runner_monthly_usd: 10, github_hosted_per_minute_usd: 0.008 },
    ...overrides,
  };
}

describe("answers", () => {
  it("reads a 200 decision, prices included", () => {
    const read = classifyResponse(200, "OK", JSON.stringify(answerBody()));
    expect(read).toMatchObject({
      kind: "answer",
      answer: {
        build_id: "222222222222-5b1d8a3e0000",
        recorded: true,
        decision: { runner: "vps", runs_on: ["self-hosted", "vps"], rule: "docker" },
        pricing: { runner_monthly_usd: 10, github_hosted_per_minute_usd: 0.008, runner_per_minute_usd: null },
      },
    });
  });

  it("reads an answer without prices (a router from before they were sent) as prices unknown", () => {
    const { pricing: _, ...body } = answerBody();
    const read = readAnswer(body);
    expect(read.ok && read.answer.pricing).toBeNull();
  });

  it.each([
    ["not JSON", "{", "not JSON"],
    ["no decision", "{}", "the body has no decision"],
    ["labels that are not labels", JSON.stringify(answerBody({ decision: { runner: "x", runs_on: [1] } })), "runs_on"],
    ["no labels", JSON.stringify(answerBody({ decision: { runner: "x", runs_on: [] } })), "runs_on"],
    ["no runner", JSON.stringify(answerBody({ decision: { runs_on: ["x"] } })), "runner"],
  ])("stops on a 200 with %s", (_, body, problem) => {
    const read = classifyResponse(200, "OK", body);
    expect(read.kind).toBe("stop");
    if (read.kind === "stop") expect(read.cause).toContain(problem);
  });

  it("retries 5xx and 429 only", () => {
    const error = (code: string) => JSON.stringify({ error: { code, message: `${code} happened` } });
    expect(classifyResponse(500, "Internal Server Error", "<html>")).toEqual({
      kind: "retry",
      cause: "router answered 500 internal server error",
    });
    expect(classifyResponse(503, "Service Unavailable", error("unavailable"))).toEqual({
      kind: "retry",
      cause: "router answered 503 unavailable: unavailable happened",
    });
    expect(classifyResponse(429, "Too Many Requests", "")).toMatchObject({ kind: "retry" });
    for (const status of [400, 401, 403, 404, 422]) {
      expect(classifyResponse(status, "", error("x")).kind, String(status)).toBe("stop");
    }
    expect(classifyResponse(301, "Moved Permanently", "")).toEqual({
      kind: "stop",
      cause: "router answered 301 moved permanently (a redirect: check input url)",
    });
  });

  it("quotes the router's error on one line, cut short", () => {
    const body = JSON.stringify({ error: { code: "unauthorized", message: `bad\ntoken ${"x".repeat(400)}` } });
    const cause = describeErrorAnswer(401, "Unauthorized", body);
    expect(cause.startsWith("router answered 401 unauthorized: bad token xxx")).toBe(true);
    expect(cause).not.toContain("\n");
    expect(cause.length).toBeLessThan(360);
  });

  it("words network errors", () => {
    const failed = (code: string) => new TypeError("fetch failed", { cause: Object.assign(new Error(code), { code }) });
    expect(describeNetworkError(failed("ECONNREFUSED"), 5000)).toBe("connection refused (ECONNREFUSED)");
    expect(describeNetworkError(failed("ENOTFOUND"), 5000)).toBe("DNS lookup failed (ENOTFOUND)");
    expect(describeNetworkError(new DOMException("late", "TimeoutError"), 5000)).toBe("no answer within 5 s");
  });
});

describe("the schedule", () => {
  it("keeps the whole step, token, every attempt timing out and every pause, under 30 s", () => {
    expect(worstCaseMs(SCHEDULE)).toBe(3_000 + 4 * 5_000 + 500 + 1_000 + 2_000);
    expect(worstCaseMs(SCHEDULE)).toBeLessThan(TOTAL_BOUND_MS);
    expect(TOTAL_BOUND_MS).toBe(30_000);
  });

  it("backs off exponentially", () => {
    const pauses = SCHEDULE.backoffMs;
    for (let i = 1; i < pauses.length; i++) expect(pauses[i]).toBe(2 * (pauses[i - 1] ?? 0));
  });
});

/** A fake fetch answering from a list, recording each call; `Error`s are thrown as a network failure. */
function scripted(replies: (Response | Error)[]) {
  const calls: { url: string; authorization: string | null }[] = [];
  const slept: number[] = [];
  let clock = 0;
  const io: ClientIo = {
    fetch: async (input, init) => {
      calls.push({ url: String(input), authorization: new Headers(init?.headers).get("authorization") });
      const reply = replies.shift();
      if (reply === undefined) throw new Error("no more replies");
      if (reply instanceof Error) throw reply;
      return reply;
    },
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
    now: () => clock,
  };
  return { io, calls, slept };
}

describe("asking the router", () => {
  const url = new URL(`https://router.example/route?repository=acme/app&sha=${HEAD}`);
  const ok = () => new Response(JSON.stringify(answerBody()), { status: 200 });
  const refused = () =>
    new TypeError("fetch failed", { cause: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) });

  it("sends the bearer token and reads the answer", async () => {
    const { io, calls } = scripted([ok()]);
    const outcome = await askRouter(url, "tok", SCHEDULE, io);
    expect(outcome).toMatchObject({ kind: "routed", attempts: 1, answer: { decision: { runner: "vps" } } });
    expect(calls).toEqual([{ url: url.href, authorization: "Bearer tok" }]);
  });

  it("retries a 500, a 429 and an unreachable router with the schedule's pauses", async () => {
    const { io, calls, slept } = scripted([
      new Response("", { status: 500 }),
      new Response("", { status: 429 }),
      refused(),
      ok(),
    ]);
    expect(await askRouter(url, "tok", SCHEDULE, io)).toMatchObject({ kind: "routed", attempts: 4 });
    expect(calls).toHaveLength(4);
    expect(slept).toEqual([500, 1_000, 2_000]);
  });

  it("gives up after the last attempt, with the last cause", async () => {
    const { io, calls } = scripted([refused(), refused(), refused(), refused(), ok()]);
    expect(await askRouter(url, "tok", SCHEDULE, io)).toEqual({
      kind: "failed",
      cause: "router unreachable at https://router.example: connection refused (ECONNREFUSED)",
      attempts: 4,
      elapsedMs: 3_500,
    });
    expect(calls).toHaveLength(4);
  });

  it.each([400, 401, 403, 404])("does not retry a %i", async (status) => {
    const { io, calls } = scripted([new Response('{"error":{"code":"x","message":"no"}}', { status }), ok()]);
    expect(await askRouter(url, "tok", SCHEDULE, io)).toMatchObject({ kind: "failed", attempts: 1 });
    expect(calls).toHaveLength(1);
  });
});

describe("the jobs outputs", () => {
  const jobs = {
    docs: { run: false, reasons: ["no changed file matches docs/**, *.md"] },
    api: { run: true, reasons: ["services/api/main.py matches services/api/**"] },
  };

  it("are run-<job> for each job and the jobs map, for a decision that has jobs", () => {
    const read = readAnswer(answerBody({ decision: { ...answerBody().decision, jobs } }));
    expect(read.ok && read.answer.decision.jobs).toEqual(jobs);
    expect(jobOutputs(read.ok ? read.answer.decision.jobs : {})).toEqual([
      ["run-docs", "false"],
      ["run-api", "true"],
      ["jobs", '{"docs":false,"api":true}'],
    ]);
  });

  it("are only jobs = {} for a decision without jobs, and on the fallback", () => {
    const read = readAnswer(answerBody());
    expect(read.ok && read.answer.decision.jobs).toEqual({});
    expect(jobOutputs({})).toEqual([["jobs", "{}"]]);
  });

  it("leave out what cannot be read, so that the job runs: a name no policy can declare, a run that is not a boolean", () => {
    expect(
      readJobs({
        docs: { run: false },
        "run docs": { run: false },
        ["x".repeat(65)]: { run: false },
        api: { run: "false" },
        web: null,
        constructor: { run: true, reasons: ["a", 1] },
      }),
    ).toEqual({ docs: { run: false, reasons: [] }, constructor: { run: true, reasons: ["a"] } });
    expect(readJobs([{ run: false }])).toEqual({});
    expect(readJobs("docs")).toEqual({});
  });

  it("take at most as many jobs as a policy may declare", () => {
    const many = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`job${i}`, { run: false, reasons: [] }]));
    expect(Object.keys(readJobs(many))).toHaveLength(64);
  });
});

describe("the job summary", () => {
  const query: RouteQuery = { repository: "acme/app", sha: HEAD, ref: "refs/heads/main", jobId: null };
  const none = placementsFor([], "CI");
  const answer = (overrides: Partial<RouteAnswer> = {}): RouteAnswer => {
    const read = readAnswer(answerBody());
    if (!read.ok) throw new Error(read.problem);
    return { ...read.answer, ...overrides };
  };

  it("names the runner, labels, requirement, rule, provenance, savings and every reason", () => {
    const text = routedSummary(answer(), query, none);
    expect(text).toContain("- **Runner:** `vps`");
    expect(text).toContain('- **Labels:** `["self-hosted","vps"]`');
    expect(text).toContain("- **Requirement:** `docker`");
    expect(text).toContain("- **Rule:** `docker`");
    expect(text).toContain("- **Decision:** recorded from the webhook (build `222222222222-5b1d8a3e0000`)");
    expect(text).toContain("- **Against GitHub-hosted:** a flat $10/month here against $0.008/min on GitHub-hosted");
    expect(text).toContain('- `services/api/Dockerfile matches "services/**" (rule docker) → docker`');
  });

  it("says when the decision was computed now, and when no rule matched", () => {
    const text = routedSummary(answer({ recorded: false, build_id: null }), query, none);
    expect(text).toContain("- **Decision:** computed now (no webhook recorded this commit)");
    const unruled = answer();
    expect(routedSummary({ ...unruled, decision: { ...unruled.decision, rule: null } }, query, none)).toContain(
      "- **Rule:** none (no rule matched)",
    );
  });

  it.each([
    [
      { runner_per_minute_usd: 0.002, runner_monthly_usd: null, github_hosted_per_minute_usd: 0.008 },
      "saves $0.006/min ($0.002/min here against $0.008/min on GitHub-hosted)",
    ],
    [
      { runner_per_minute_usd: 0.016, runner_monthly_usd: null, github_hosted_per_minute_usd: 0.008 },
      "costs $0.008/min more ($0.016/min here against $0.008/min on GitHub-hosted)",
    ],
    [
      { runner_per_minute_usd: 0.008, runner_monthly_usd: null, github_hosted_per_minute_usd: 0.008 },
      "the same price ($0.008/min here and on GitHub-hosted)",
    ],
    [
      { runner_per_minute_usd: null, runner_monthly_usd: 0, github_hosted_per_minute_usd: 0.04 },
      "a flat $0/month here against $0.04/min on GitHub-hosted",
    ],
    [
      { runner_per_minute_usd: null, runner_monthly_usd: 10, github_hosted_per_minute_usd: null },
      "a flat $10/month here; the GitHub-hosted price is unknown",
    ],
    [
      { runner_per_minute_usd: 0.002, runner_monthly_usd: null, github_hosted_per_minute_usd: null },
      "$0.002/min here; the GitHub-hosted price is unknown",
    ],
    [
      { runner_per_minute_usd: null, runner_monthly_usd: null, github_hosted_per_minute_usd: 0.008 },
      "unknown: this runner's price is unknown ($0.008/min on GitHub-hosted)",
    ],
    [
      { runner_per_minute_usd: null, runner_monthly_usd: null, github_hosted_per_minute_usd: null },
      "unknown: the router knows neither price",
    ],
    [null, "unknown: the router sent no prices"],
  ])("compares prices %j as %j, never inventing one", (pricing, line) => {
    expect(savingsLine(pricing)).toBe(line);
  });

  it("writes money without float noise", () => {
    expect(usd(0.1 + 0.2)).toBe("$0.3");
    expect(usd(10)).toBe("$10");
  });

  it("quotes any text as a code span", () => {
    expect(code("a")).toBe("`a`");
    expect(code("a `b` c")).toBe("``a `b` c``");
    expect(code("`x")).toBe("`` `x ``");
  });

  it("lists each job, run or skip, with its output and why; nothing when the decision has none", () => {
    const base = answer();
    const jobs = {
      docs: { run: false, reasons: ["no changed file matches docs/**, *.md"] },
      api: { run: true, reasons: ["services/api/main.py matches services/api/**"] },
    };
    const text = routedSummary({ ...base, decision: { ...base.decision, jobs } }, query, none);
    expect(text).toContain("### Jobs");
    expect(text).toContain("- `docs`: **skip** (`run-docs=false`): `no changed file matches docs/**, *.md`");
    expect(text).toContain("- `api`: **run** (`run-api=true`): `services/api/main.py matches services/api/**`");
    expect(routedSummary(base, query, none)).not.toContain("### Jobs");
  });

  it("says it fell back, to what, and why", () => {
    const text = fallbackSummary("router answered 401 unauthorized: bad token", '["ubuntu-latest"]');
    expect(text).toContain("## Route: fell back");
    expect(text).toContain('runs on the fallback `["ubuntu-latest"]`');
    expect(text).toContain("- **Why:** `router answered 401 unauthorized: bad token`");
    expect(text).toContain("- **Jobs:** every job runs (no `run-<job>` output is set)");
    expect(text).toContain("- **Placements:** none, every job runs on the fallback (`placements` is `{}`)");
  });
});

/**
 * Per-job path filters through the Worker: a repository whose policy declares `jobs` gets them
 * in every decision, `POST /route`'s and a pushed commit's (recorded in the build, and answered
 * as recorded by `GET /route` and `/status`); a repository that declares none gets no `jobs` key.
 */
import { describe, expect, it } from "vitest";
import { SKIPS_JOBS, SKIPS_REPOSITORY } from "../support/fleet-config.ts";
import { call, deliver, expectRouted, pushPayload, randomSha } from "./helpers.ts";

type Verdicts = Record<string, { run: boolean; reasons: string[] }>;
interface Routed {
  build_id: string | null;
  recorded?: boolean;
  decision: { runner: string; requirement: string; jobs?: Verdicts };
}

const json = { "content-type": "application/json" };

async function routePost(body: Record<string, unknown>): Promise<Routed> {
  const res = await call<Routed>("/route", { method: "POST", headers: json, body: JSON.stringify(body) });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** The verdicts for a change of `services/api/main.py` and `docs/guide.md`'s absence. */
const API_ONLY: Verdicts = {
  docs: { run: false, reasons: ["no changed file matches docs/**, *.md"] },
  api: { run: true, reasons: ["services/api/main.py matches services/api/**"] },
};

describe("per-job path filters", () => {
  it("the test configuration declares the two jobs this file expects", () => {
    expect(Object.keys(SKIPS_JOBS)).toEqual(["docs", "api"]);
  });

  it("POST /route answers decision.jobs for the files it lists", async () => {
    const { decision } = await routePost({ repository: SKIPS_REPOSITORY, files: ["services/api/main.py"] });
    expect(decision.requirement).toBe("docker");
    expect(decision.jobs).toEqual(API_ONLY);

    const docs = await routePost({ repository: SKIPS_REPOSITORY, files: ["docs/guide.md", "services/api/x.md"] });
    expect(docs.decision.jobs).toEqual({
      docs: { run: true, reasons: ["docs/guide.md matches docs/**"] },
      api: { run: false, reasons: ["no changed file matches services/api/**, !services/api/**/*.md"] },
    });
  });

  it("POST /route runs every job when the list is truncated, unknown, or for a dispatch", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ files: ["src/a.ts"], truncated: true }, "file list truncated (more files changed than listed): runs"],
      [{}, "changed files unknown: runs"],
      [{ event: "workflow_dispatch", files: ["src/a.ts"] }, "workflow_dispatch lists no changed files: runs"],
    ];
    for (const [body, reason] of cases) {
      const { decision } = await routePost({ repository: SKIPS_REPOSITORY, ...body });
      expect(decision.jobs, JSON.stringify(body)).toEqual({
        docs: { run: true, reasons: [reason] },
        api: { run: true, reasons: [reason] },
      });
    }
  });

  it("a pushed commit's decision carries the jobs, and GET /route and /status return the same", async () => {
    const sha = randomSha();
    const pushed = expectRouted(
      await deliver("push", pushPayload({ repository: SKIPS_REPOSITORY, sha, files: ["services/api/main.py"] })),
    );
    expect(pushed.decision.jobs).toEqual(API_ONLY);

    const res = await call<Routed>(`/route?repository=${SKIPS_REPOSITORY}&sha=${sha}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ build_id: pushed.build_id, recorded: true });
    expect(res.body.decision).toEqual(pushed.decision);

    const status = await call<{ decision: Routed["decision"] }>(`/status?build_id=${pushed.build_id}`);
    expect(status.status, status.text).toBe(200);
    expect(status.body.decision.jobs).toEqual(API_ONLY);
  });

  it("a repository that declares no jobs gets decisions without the key", async () => {
    const { decision } = await routePost({ repository: "acme/plain", files: ["services/api/main.py"] });
    expect(Object.hasOwn(decision, "jobs")).toBe(false);
    const pushed = expectRouted(await deliver("push", pushPayload({ files: ["docs/guide.md"] })));
    expect(Object.hasOwn(pushed.decision, "jobs")).toBe(false);
  });
});

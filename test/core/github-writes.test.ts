/**
 * GitHub's refusals of the router's writes (workflow dispatches, commit statuses, check runs),
 * read by one rule: a rate limit is a 429 with GitHub's wait, a missing permission is not, and
 * any other refusal keeps its status (and its `retry-after`). GitHub is a fetch function here.
 */
import { describe, expect, it } from "vitest";
import { GitHubClient, staticAuth } from "../../worker/src/github.ts";

const NOW_S = Math.floor(Date.now() / 1000);

/** A client whose every call GitHub answers `status` with `headers` and `{"message": message}`. */
function answering(status: number, headers: Record<string, string>, message: string) {
  const fetcher = (() =>
    Promise.resolve(
      new Response(JSON.stringify({ message }), {
        status,
        headers: { "content-type": "application/json", ...headers },
      }),
    )) as typeof fetch;
  return new GitHubClient({ auth: staticAuth("t"), apiUrl: "https://github.test", fetch: fetcher });
}

const dispatch = (client: GitHubClient) =>
  client.dispatchWorkflow("acme/api", "ci.yml", { ref: "refs/heads/main", inputs: {} });
const status = (client: GitHubClient) =>
  client.createCommitStatus("acme/api", "a".repeat(40), { state: "pending", context: "ci-router", description: "d" });

describe("a refused write", () => {
  it("a secondary rate limit that names no wait waits until the reset, for a dispatch and a status alike", async () => {
    const client = answering(
      403,
      { "x-ratelimit-remaining": "4000", "x-ratelimit-reset": String(NOW_S + 600) },
      "You have exceeded a secondary rate limit",
    );
    for (const answer of [await dispatch(client), await status(client)]) {
      if (!answer.ok) throw new Error(answer.error.message);
      expect(answer.value.status).toBe(429);
      expect(answer.value.retryAfterSeconds).toBeGreaterThan(590);
      expect(answer.value.retryAfterSeconds).toBeLessThanOrEqual(600);
      expect(answer.value.message).toBe("You have exceeded a secondary rate limit");
    }
  });

  it("a 403 with retry-after, or with no requests left, is a rate limit too", async () => {
    const asked = await dispatch(answering(403, { "retry-after": "30" }, "slow down"));
    expect(asked).toMatchObject({ ok: true, value: { status: 429, retryAfterSeconds: 30 } });
    const spent = await status(
      answering(
        403,
        { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(NOW_S + 42) },
        "API rate limit exceeded",
      ),
    );
    expect(spent.ok && spent.value.status).toBe(429);
    expect(spent.ok && spent.value.retryAfterSeconds).toBeGreaterThan(30);
  });

  it("a missing permission stays a 403 (it fails at once), and any other refusal keeps its status and retry-after", async () => {
    const denied = await dispatch(
      answering(
        403,
        { "x-ratelimit-remaining": "4999", "x-ratelimit-reset": String(NOW_S + 600) },
        "Resource not accessible by integration",
      ),
    );
    expect(denied).toEqual({
      ok: true,
      value: { status: 403, retryAfterSeconds: null, message: "Resource not accessible by integration" },
    });
    const busy = await status(answering(503, { "retry-after": "5" }, "unavailable"));
    expect(busy).toEqual({ ok: true, value: { status: 503, retryAfterSeconds: 5, message: "unavailable" } });
    const refused = await dispatch(answering(422, {}, "Workflow does not have 'workflow_dispatch' trigger"));
    expect(refused).toMatchObject({ ok: true, value: { status: 422, retryAfterSeconds: null } });
  });
});

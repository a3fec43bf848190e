import examples from "@octokit/webhooks-examples";
import { describe, expect, it } from "vitest";
import {
  deliver,
  examplesOf,
  expectDecision,
  expectIgnored,
  expectRouted,
  inRepository,
  kvKeys,
  ledgerCount,
  randomRepository,
  randomSha,
} from "./helpers.ts";

/**
 * Every example payload GitHub documents (via @octokit/webhooks-examples) for the events the
 * router handles, signed and delivered in both content types GitHub sends.
 */
const CONTENT_TYPES = ["json", "form"] as const;
const BUILDING_ACTIONS = ["opened", "synchronize", "reopened", "ready_for_review"];
const ZERO_SHA = "0".repeat(40);

/** What the HTTP contract (README "HTTP API") says the answer to one example is. */
type Expected = "ping" | "routed" | "ignored" | "updated";

function expected(event: string, payload: Record<string, unknown>): Expected {
  switch (event) {
    case "ping":
      return "ping";
    case "push":
      return payload.deleted === true || payload.after === ZERO_SHA ? "ignored" : "routed";
    case "pull_request":
      return BUILDING_ACTIONS.includes(payload.action as string) ? "routed" : "ignored";
    case "workflow_dispatch":
      return "routed";
    case "workflow_run":
    case "workflow_job":
      return "updated";
    default:
      return "ignored";
  }
}

const HANDLED = ["ping", "push", "pull_request", "workflow_run", "workflow_job", "workflow_dispatch"];

describe("the example payloads cover what is tested", () => {
  it("has examples for every handled event", () => {
    for (const event of HANDLED) expect(examplesOf(event).length, event).toBeGreaterThan(0);
  });

  it("has a pull_request example for every action that starts a build, and for others", () => {
    const actions = new Set(examplesOf("pull_request").map((p) => p.action));
    for (const action of BUILDING_ACTIONS) expect(actions).toContain(action);
    expect([...actions].filter((a) => !BUILDING_ACTIONS.includes(a)).length).toBeGreaterThan(3);
  });

  it("has push examples that create, and that delete, a branch", () => {
    const pushes = examplesOf("push");
    expect(pushes.some((p) => p.deleted === true)).toBe(true);
    expect(pushes.some((p) => p.deleted === false)).toBe(true);
  });
});

for (const event of HANDLED) {
  describe(`${event}: every example`, () => {
    const payloads = examplesOf(event);
    for (const contentType of CONTENT_TYPES) {
      payloads.forEach((payload, i) => {
        const what = expected(event, payload);
        const label = `${contentType} #${i}${payload.action ? ` (${payload.action})` : ""} → ${what}`;
        it(label, async () => {
          // Each delivery its own repository: the same example twice would be the same event.
          const res = await deliver(event, inRepository(payload, randomRepository()), { contentType });
          expect(res.headers.get("content-type")).toMatch(/^application\/json/);
          switch (what) {
            case "ping":
              expect(res.status, res.text).toBe(200);
              expect(res.body).toEqual({ ok: true });
              break;
            case "routed": {
              const { build_id, decision } = expectRouted(res);
              expect(build_id.length).toBeGreaterThan(0);
              expect(decision.truncated).toBe(false);
              break;
            }
            case "ignored": {
              const reason = expectIgnored(res);
              if (event === "pull_request") expect(reason).toContain(payload.action);
              if (event === "push") expect(reason).toContain(payload.ref);
              break;
            }
            case "updated":
              expect(res.status, res.text).toBe(202);
              expect(res.body).toEqual({ build_id: expect.any(String) });
              break;
          }
        });
      });
    }
  });
}

describe("what the examples route to", () => {
  it("a push example listing README.md only is lightweight → github-hosted", async () => {
    const payload = examplesOf("push").find((p) => p.commits.length > 0);
    expect(payload?.commits[0].added).toEqual(["README.md"]);
    const { decision } = expectRouted(await deliver("push", payload));
    expect(decision).toMatchObject({ runner: "github-hosted", runs_on: ["ubuntu-latest"], requirement: "lightweight" });
    expect(decision.files_known).toBe(true);
  });

  it("a pull_request example is routed with the files GitHub's API lists (two docs files → github-hosted)", async () => {
    const payload = examplesOf("pull_request").find((p) => p.action === "opened");
    const { decision } = expectRouted(await deliver("pull_request", payload));
    expect(decision).toMatchObject({ runner: "github-hosted", requirement: "lightweight", files_known: true });
  });

  it("a workflow_dispatch example on refs/heads/main without inputs is routed from its ref", async () => {
    const payload = examplesOf("workflow_dispatch")[0];
    const { decision } = expectRouted(await deliver("workflow_dispatch", payload));
    expect(decision.files_known).toBe(false);
    expect(decision.requirement).not.toBe("lightweight");
  });

  it("a workflow_dispatch naming an environment is a deploy → kvm4", async () => {
    const payload = examplesOf("workflow_dispatch")[0] ?? {};
    payload.inputs = { environment: "production" };
    payload.repository.full_name = randomRepository();
    const { decision } = expectRouted(await deliver("workflow_dispatch", payload));
    expect(decision).toMatchObject({ runner: "kvm4", requirement: "deploy", environment: "production" });
  });
});

const UNHANDLED = [
  "issues",
  "star",
  "release",
  "watch",
  "fork",
  "create",
  "delete",
  "issue_comment",
  "check_run",
  "label",
];

describe("events the router does not handle are ignored and store nothing", () => {
  it("knows at least five such events with examples", () => {
    expect(UNHANDLED.filter((e) => examples.some((d) => d.name === e && d.examples.length > 0)).length).toBe(
      UNHANDLED.length,
    );
  });

  for (const event of UNHANDLED) {
    for (const contentType of CONTENT_TYPES) {
      it(`${event} (${contentType}, every example) → 202 ignored`, async () => {
        for (const payload of examplesOf(event)) {
          const delivery = crypto.randomUUID();
          const reason = expectIgnored(await deliver(event, payload, { contentType, delivery }));
          expect(reason).toContain(event);
        }
      });
    }
  }

  it("an ignored event writes no build", async () => {
    const buildsBefore = await ledgerCount("builds");
    const keysBefore = (await kvKeys()).length;
    for (const event of UNHANDLED) expectIgnored(await deliver(event, examplesOf(event)[0]));
    expect(await ledgerCount("builds")).toBe(buildsBefore);
    expect((await kvKeys()).length).toBe(keysBefore);
  });

  it("an unknown event name that the router has never heard of is ignored", async () => {
    expectIgnored(await deliver("made_up_event", { action: "whatever", repository: { full_name: "acme/x" } }));
  });

  it("a handled event's other actions are ignored with the action named (pull_request closed)", async () => {
    const payload = examplesOf("pull_request").find((p) => p.action === "closed");
    expect(expectIgnored(await deliver("pull_request", payload))).toContain("closed");
  });

  it("a push deleting a branch is ignored and records no build", async () => {
    const repository = randomRepository();
    const payload = examplesOf("push").find((p) => p.deleted === true) ?? {};
    payload.repository.full_name = repository;
    expectIgnored(await deliver("push", payload));
    expect(await ledgerCount("builds", "repository = ?", repository.toLowerCase())).toBe(0);
  });

  it("a push with a zero after SHA is ignored even when deleted is not set", async () => {
    const payload = examplesOf("push").find((p) => p.deleted === true) ?? {};
    delete payload.deleted;
    payload.after = ZERO_SHA;
    payload.before = randomSha();
    expectIgnored(await deliver("push", payload));
  });
});

describe("decisions in example deliveries are complete", () => {
  it("carry every field the contract names, in both content types identically", async () => {
    const payload = examplesOf("push").find((p) => p.commits.length > 0) ?? {};
    const a = expectRouted(await deliver("push", inRepository(payload, randomRepository()), { contentType: "json" }));
    const b = expectRouted(await deliver("push", inRepository(payload, randomRepository()), { contentType: "form" }));
    expect(a.decision).toEqual(b.decision);
    expect(a.build_id).not.toBe(b.build_id);
    expectDecision(a.decision);
  });
});

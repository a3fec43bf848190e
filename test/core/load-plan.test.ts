import definitions from "@octokit/webhooks-examples" with { type: "json" };
import { verify } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import {
  type Answer,
  analyzeAnswers,
  countsDelta,
  deletesRef,
  LOAD_DEFAULTS,
  LOAD_EVENTS,
  type LoadEvent,
  ledgerCounts,
  loopbackTarget,
  NEAR_WINDOW,
  type PlannedSend,
  parseLoadOptions,
  payloadFor,
  percentile,
  planDeliveries,
  ratesBySlice,
  sampleOf,
  selectExamples,
  signature,
  summarize,
} from "../../scripts/load-plan.ts";
import { parseRoutingConfig } from "../../worker/src/core/index.ts";
import { renderExposition, type Sample } from "../../worker/src/core/metrics.ts";
import { intentOf } from "../support/intent.ts";

const examples = selectExamples(definitions);
const counts = Object.fromEntries(LOAD_EVENTS.map((e) => [e, examples[e].length])) as Record<LoadEvent, number>;
const config = parseRoutingConfig({});

describe("loopbackTarget", () => {
  it.each([
    ["http://127.0.0.1:8787", "http://127.0.0.1:8787"],
    ["http://127.0.0.1:8787/", "http://127.0.0.1:8787"],
    ["http://localhost:9000", "http://localhost:9000"],
    ["https://localhost", "https://localhost"],
    ["http://[::1]:8787", "http://[::1]:8787"],
    ["http://LOCALHOST:8787", "http://localhost:8787"],
  ])("accepts %s", (raw, base) => {
    expect(loopbackTarget(raw)).toEqual({ ok: true, value: base });
  });

  it.each([
    "http://10.0.0.5:8787",
    "http://0.0.0.0:8787",
    "https://router.example.com",
    "http://127.0.0.1.nip.io:8787",
    "http://localhost.evil.example",
    "http://127.0.0.1@evil.example",
    "http://127.0.0.1:8787@evil.example/",
    "http://[::ffff:7f00:1]:8787",
    "http://[::2]:8787",
  ])("refuses the remote or unlisted host of %s", (raw) => {
    const target = loopbackTarget(raw);
    expect(target.ok).toBe(false);
    if (!target.ok) expect(target.message).toMatch(/not loopback/);
  });

  it.each([
    ["ftp://127.0.0.1", /http or https/],
    ["127.0.0.1:8787", /http or https|not a URL/],
    ["not a url", /not a URL/],
    ["http://user:pass@127.0.0.1:8787", /credentials/],
    ["http://127.0.0.1:8787/webhook/github", /without a path/],
    ["http://127.0.0.1:8787/?x=1", /without a path/],
  ])("refuses %s", (raw, why) => {
    const target = loopbackTarget(raw);
    expect(target.ok).toBe(false);
    if (!target.ok) expect(target.message).toMatch(why);
  });
});

describe("parseLoadOptions", () => {
  it("has the documented defaults, with the given random seed", () => {
    expect(parseLoadOptions([], 1234)).toEqual({
      ok: true,
      value: { ...LOAD_DEFAULTS, url: null, seed: 1234 },
    });
  });

  it("reads every option", () => {
    const parsed = parseLoadOptions(
      [
        "--url",
        "http://[::1]:8787",
        "--count",
        "500",
        "--concurrency",
        "20",
        "--redeliver",
        "0.5",
        "--timeout-seconds",
        "30",
        "--seed",
        "7",
        "--sample",
        "0",
      ],
      1,
    );
    expect(parsed).toEqual({
      ok: true,
      value: {
        url: "http://[::1]:8787",
        count: 500,
        concurrency: 20,
        redeliver: 0.5,
        timeoutSeconds: 30,
        seed: 7,
        sample: 0,
      },
    });
  });

  it.each([
    [["--url", "http://192.168.1.2:8787"], /not loopback/],
    [["--count", "0"], /--count/],
    [["--count", "1e3"], /--count/],
    [["--concurrency", "-1"], /--concurrency/],
    [["--redeliver", "1"], /--redeliver/],
    [["--redeliver", "abc"], /--redeliver/],
    [["--redeliver", ""], /--redeliver/],
    [["--timeout-seconds", "0"], /--timeout-seconds/],
    [["--frobnicate"], /frobnicate/],
    [["extra"], /extra|positional/i],
  ])("refuses %j", (argv, why) => {
    const parsed = parseLoadOptions(argv, 1);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(why);
  });
});

describe("percentile and summarize", () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it("takes the nearest rank", () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 90)).toBe(90);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it("summarizes unsorted values", () => {
    const shuffled = [...oneToHundred].reverse();
    expect(summarize(shuffled)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(shuffled[0]).toBe(100); // the input is left alone
    expect(summarize([]).count).toBe(0);
  });
});

describe("ratesBySlice", () => {
  it("gives answers per second for each share of the run", () => {
    // 10 answers in the first second, 10 in the next two seconds.
    const times = [
      ...Array.from({ length: 10 }, (_, i) => (i + 1) * 100),
      ...Array.from({ length: 10 }, (_, i) => 1000 + (i + 1) * 200),
    ];
    expect(ratesBySlice(times, 2)).toEqual([10, 5]);
    expect(ratesBySlice(times, 1)).toEqual([20 / 3]);
    expect(ratesBySlice([500], 10)).toEqual([2]);
    expect(ratesBySlice([], 10)).toEqual([]);
  });
});

describe("planDeliveries", () => {
  const plan = planDeliveries({ count: 10_000, redeliver: 0.2, seed: 42, examples: counts });

  it("sends count deliveries, the given fraction of them redeliveries", () => {
    expect(plan.sends).toHaveLength(10_000);
    expect(plan.redeliveries).toBe(2000);
    expect(plan.unique).toHaveLength(8000);
    expect(plan.sends.filter((s) => s.redelivery)).toHaveLength(2000);
    expect(new Set(plan.sends.map((s) => s.spec.id)).size).toBe(8000);
  });

  it("sends every original before its redeliveries, some right behind it", () => {
    const firstAt = new Map<string, number>();
    let near = 0;
    plan.sends.forEach((send, i) => {
      if (!send.redelivery) {
        expect(firstAt.has(send.spec.id)).toBe(false);
        firstAt.set(send.spec.id, i);
        return;
      }
      const original = firstAt.get(send.spec.id);
      expect(original).toBeDefined();
      if (send.near) {
        near++;
        // NEAR_WINDOW originals later at most, plus the redeliveries placed in between.
        expect(i - (original ?? 0)).toBeLessThanOrEqual(NEAR_WINDOW * 4);
      }
    });
    expect(near).toBeGreaterThan(800);
    expect(near).toBeLessThan(1200);
  });

  it("gives every distinct delivery its own UUID, commit, build id prefix and serial", () => {
    const { unique } = plan;
    for (const spec of unique) {
      expect(spec.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(spec.sha).toMatch(/^[0-9a-f]{40}$/);
      expect(spec.repository).toMatch(/^load-[0-9a-z]+\/app-\d+$/);
    }
    expect(new Set(unique.map((s) => s.sha.slice(0, 12))).size).toBe(unique.length);
    expect(new Set(unique.map((s) => s.id.replace(/-/g, "").slice(0, 12))).size).toBe(unique.length);
    expect(new Set(unique.map((s) => s.serial)).size).toBe(unique.length);
    expect(unique.every((s) => Number.isSafeInteger(s.serial))).toBe(true);
  });

  it("mixes the events by their weights, drawing from every example", () => {
    for (const event of LOAD_EVENTS) {
      const of = plan.unique.filter((s) => s.event === event);
      expect(of.length).toBeGreaterThan(1200);
      expect(new Set(of.map((s) => s.example)).size).toBe(counts[event]);
    }
  });

  it("is the same plan for the same seed, and new deliveries for another", () => {
    const again = planDeliveries({ count: 10_000, redeliver: 0.2, seed: 42, examples: counts });
    expect(again).toEqual(plan);
    const other = planDeliveries({ count: 10_000, redeliver: 0.2, seed: 43, examples: counts });
    const ids = new Set(plan.unique.map((s) => s.id));
    expect(other.unique.some((s) => ids.has(s.id))).toBe(false);
    expect(other.unique[0]?.repository.split("/")[0]).not.toBe(plan.unique[0]?.repository.split("/")[0]);
  });

  it("handles the edges", () => {
    expect(planDeliveries({ count: 5, redeliver: 0, seed: 1, examples: counts }).redeliveries).toBe(0);
    const one = planDeliveries({ count: 1, redeliver: 0.9, seed: 1, examples: counts });
    expect(one.unique).toHaveLength(1);
    expect(one.redeliveries).toBe(0);
    expect(() => planDeliveries({ count: 0, redeliver: 0, seed: 1, examples: counts })).toThrow(RangeError);
    expect(() => planDeliveries({ count: 5, redeliver: 1, seed: 1, examples: counts })).toThrow(RangeError);
    expect(() => planDeliveries({ count: 5, redeliver: 0, seed: 1, examples: { ...counts, workflow_job: 0 } })).toThrow(
      /workflow_job/,
    );
  });
});

describe("payloads", () => {
  const plan = planDeliveries({ count: 400, redeliver: 0, seed: 9, examples: counts });

  it("uses GitHub's examples for push, pull_request opened/synchronize, workflow_run and workflow_job", () => {
    expect(examples.push.length).toBeGreaterThan(0);
    expect(new Set(examples.pull_request.map((e) => e.action))).toEqual(new Set(["opened", "synchronize"]));
    expect(examples.workflow_run.length).toBeGreaterThan(0);
    expect(examples.workflow_job.length).toBeGreaterThan(0);
  });

  it("gives the router each delivery's own repository and commit", () => {
    for (const spec of plan.unique) {
      const body = payloadFor(spec, examples);
      const intent = intentOf(spec.event, JSON.parse(body), config);
      const example = examples[spec.event][spec.example] ?? {};
      if (spec.event === "push" && deletesRef(example)) {
        expect(intent.kind).toBe("ignore");
        continue;
      }
      expect(intent.kind === "route" || intent.kind === "update").toBe(true);
      if (intent.kind === "route" || intent.kind === "update") {
        expect(intent.repository).toBe(spec.repository);
        expect(intent.sha).toBe(spec.sha);
      }
      if (intent.kind === "route" && spec.event === "pull_request") expect(intent.pullRequest).toBe(spec.serial);
      if (intent.kind === "update" && intent.update.kind === "job") expect(intent.update.job.id).toBe(spec.serial);
      if (intent.kind === "update" && intent.update.kind === "run") expect(intent.update.run.id).toBe(spec.serial);
    }
  });

  it("is the same bytes every time, so a redelivery repeats its original exactly", () => {
    const spec = plan.unique[0];
    if (spec === undefined) throw new Error("empty plan");
    expect(payloadFor(spec, examples)).toBe(payloadFor(spec, examples));
    expect(JSON.stringify(examples)).not.toContain(spec.sha); // the examples themselves are untouched
  });

  it("signs as GitHub does", async () => {
    const body = payloadFor(plan.unique[1] ?? plan.sends[0]?.spec ?? ({} as never), examples);
    const sig = await signature("s3cret", body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(await verify("s3cret", body, sig)).toBe(true);
    expect(await verify("other", body, sig)).toBe(false);
  });
});

describe("ledgerCounts and countsDelta", () => {
  const exposition = (samples: Sample[]) => renderExposition(samples, []);
  const deliveries = (event: string, outcome: string, value: number): Sample => ({
    metric: "deliveries",
    labels: { event, outcome },
    value,
  });

  it("sums each outcome over every event, from the Worker's own rendering", () => {
    const text = exposition([
      deliveries("push", "accepted", 10),
      deliveries("pull_request", "accepted", 5),
      deliveries("push", "ignored", 3),
      deliveries("push", "duplicate", 2),
      deliveries("workflow_job", "duplicate", 4),
      { metric: "rejections", labels: { reason: "invalid_signature" }, value: 6 },
      { metric: "decisions", labels: { runner: "vps", requirement: "default", mode: "hybrid" }, value: 8 },
      { metric: "decisions", labels: { runner: "ai-lab", requirement: "gpu", mode: "hybrid" }, value: 1 },
    ]);
    expect(ledgerCounts(text)).toEqual({ accepted: 15, ignored: 3, duplicate: 6, rejected: 6, decisions: 9 });
  });

  it("reads an empty Ledger as zeros, and refuses an answer that is not the router's", () => {
    expect(ledgerCounts(exposition([]))).toEqual({ accepted: 0, ignored: 0, duplicate: 0, rejected: 0, decisions: 0 });
    expect(() => ledgerCounts("# TYPE other counter\nother 1\n")).toThrow(/ci_router_webhook_deliveries_total/);
  });

  it("takes deltas, so a server with history can be checked", () => {
    const before = ledgerCounts(exposition([deliveries("push", "accepted", 100), deliveries("push", "duplicate", 7)]));
    const after = ledgerCounts(
      exposition([
        deliveries("push", "accepted", 180),
        deliveries("push", "ignored", 20),
        deliveries("push", "duplicate", 27),
      ]),
    );
    expect(countsDelta(before, after)).toEqual({ accepted: 80, ignored: 20, duplicate: 20, rejected: 0, decisions: 0 });
  });
});

describe("analyzeAnswers", () => {
  const plan = planDeliveries({ count: 200, redeliver: 0.25, seed: 5, examples: counts });
  const firstBody = (send: PlannedSend) =>
    send.spec.event === "push" || send.spec.event === "pull_request"
      ? { build_id: `b-${send.spec.id}`, decision: { runner: "vps" } }
      : { build_id: `b-${send.spec.id}` };
  /** What a correct server answers: the first send of each delivery new, the others duplicates. */
  const honest = (): Answer[] => {
    const seen = new Set<string>();
    return plan.sends.map((send) => {
      const body = firstBody(send);
      if (seen.has(send.spec.id)) return { status: 200, body: JSON.stringify({ ...body, duplicate: true }), ms: 1 };
      seen.add(send.spec.id);
      return { status: 202, body: JSON.stringify(body), ms: 2 };
    });
  };

  it("passes a correct run", () => {
    const facts = analyzeAnswers(plan.sends, honest());
    expect(facts.failed).toEqual([]);
    expect(facts.firstAnswers).toBe(plan.unique.length);
    expect(facts.duplicateAnswers).toBe(plan.redeliveries);
    expect(facts.countedTwice).toEqual([]);
    expect(facts.neverFirst).toEqual([]);
    expect(facts.mismatched).toEqual([]);
    expect(facts.overtaken).toBe(0);
    expect(facts.routed + facts.updates).toBe(plan.unique.length);
    expect(facts.routedBuildIds.size).toBe(facts.routed);
    expect(facts.builds).toHaveLength(plan.unique.length);
    expect(facts.statuses).toEqual(
      new Map([
        [202, plan.unique.length],
        [200, plan.redeliveries],
      ]),
    );
  });

  it("finds a redelivery taken as new again, a wrong duplicate answer, and failures", () => {
    const answers = honest();
    const repeats = plan.sends.flatMap((s, i) => (s.redelivery ? [i] : []));
    const [twice = 0, wrong = 0, refused = 0] = repeats;
    const twiceSend = plan.sends[twice] as PlannedSend;
    answers[twice] = { status: 202, body: JSON.stringify(firstBody(twiceSend)), ms: 1 };
    answers[wrong] = { status: 200, body: JSON.stringify({ build_id: "other", duplicate: true }), ms: 1 };
    answers[refused] = { status: 500, body: "{}", ms: 1 };
    const unsent: (Answer | undefined)[] = [...answers];
    unsent[unsent.length - 1] = undefined;
    const facts = analyzeAnswers(plan.sends, unsent);
    expect(facts.countedTwice).toEqual([twiceSend.spec.id]);
    expect(facts.overtaken).toBe(1);
    expect(facts.mismatched).toEqual([plan.sends[wrong]?.spec.id]);
    expect(facts.failed.map((f) => f.answer.status).sort()).toEqual([0, 500]);
    expect(facts.failed.find((f) => f.answer.status === 0)?.answer.error).toBe("not sent");
  });

  it("counts a delivery never answered as new, and a build id answered twice", () => {
    const answers = honest();
    const first = plan.sends.findIndex((s) => !s.redelivery);
    answers[first] = {
      status: 200,
      body: JSON.stringify({ ...firstBody(plan.sends[first] as PlannedSend), duplicate: true }),
      ms: 1,
    };
    const routedA = plan.sends.findIndex((s, i) => i !== first && !s.redelivery && s.spec.event === "push");
    const routedB = plan.sends.findIndex((s, i) => i > routedA && !s.redelivery && s.spec.event === "pull_request");
    answers[routedB] = answers[routedA] as Answer;
    const facts = analyzeAnswers(plan.sends, answers);
    expect(facts.neverFirst).toContain(plan.sends[first]?.spec.id);
    expect(facts.routedBuildIds.size).toBeLessThan(facts.routed);
  });
});

describe("sampleOf", () => {
  const items = Array.from({ length: 1000 }, (_, i) => i);

  it("picks n distinct items, in order, the same for the same seed", () => {
    const sample = sampleOf(items, 50, 3);
    expect(sample).toHaveLength(50);
    expect(new Set(sample).size).toBe(50);
    expect([...sample].sort((a, b) => a - b)).toEqual(sample);
    expect(sampleOf(items, 50, 3)).toEqual(sample);
    expect(sampleOf(items, 50, 4)).not.toEqual(sample);
    expect(sampleOf(items.slice(0, 10), 50, 3)).toEqual(items.slice(0, 10));
  });
});

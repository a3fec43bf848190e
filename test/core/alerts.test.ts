import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ALERT_COLORS,
  ALERT_KINDS,
  type Alert,
  type AlertKind,
  alertsFor,
  alertsSchema,
  applyUpdate,
  type BuildRecord,
  changesFromList,
  DEFAULT_ALERTS,
  DEFAULT_POLICY,
  type Decision,
  DISCORD_LIMITS,
  type DiscordPayload,
  decide,
  discordMessage,
  discordTruncate,
  embedLength,
  type JobState,
  newBuild,
  type RoutingPolicy,
  resolveAlerts,
} from "../../worker/src/core/index.ts";
import { PARSE_OPTIONS } from "../../worker/src/core/issues.ts";

const SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const AT = "2024-06-01T10:00:00Z";

function routedBuild(
  ref: string | null,
  files: string[],
  policy: RoutingPolicy = DEFAULT_POLICY,
  event = "push",
): BuildRecord {
  const decision = decide(
    { repository: "pmoves/app", event, ref, sha: SHA, changes: changesFromList(files, 3000, "push payload") },
    policy,
  );
  return newBuild({
    build_id: "611372-delivery",
    repository: "pmoves/app",
    event,
    ref,
    sha: SHA,
    delivery: "delivery",
    decision,
    at: AT,
  });
}

function jobState(over: Partial<JobState> = {}): JobState {
  return {
    id: 1,
    run_id: 100,
    run_attempt: 1,
    name: "build",
    status: "in_progress",
    conclusion: null,
    labels: ["self-hosted", "vps"],
    runner_name: "vps-1",
    runner_group_name: "Default",
    runner: "vps",
    created_at: "2024-06-01T10:00:05Z",
    queued_at: "2024-06-01T10:00:05Z",
    started_at: "2024-06-01T10:00:35Z",
    completed_at: null,
    ...over,
  };
}

/** The build after its one workflow run completed with `conclusion`. */
function completed(build: BuildRecord, conclusion: string): BuildRecord {
  return applyUpdate(
    build,
    {
      kind: "run",
      run: {
        id: 100,
        name: "CI",
        event: build.event,
        attempt: 1,
        status: "completed",
        conclusion,
        started_at: "2024-06-01T10:00:30Z",
        updated_at: "2024-06-01T10:05:00Z",
      },
    },
    "2024-06-01T10:05:01Z",
  );
}

function started(build: BuildRecord, job: JobState): BuildRecord {
  return applyUpdate(build, { kind: "job", job }, "2024-06-01T10:00:40Z");
}

const kinds = (alerts: Alert[]) => alerts.map((a) => a.kind);
const ALL = DEFAULT_POLICY;
const only = (...enabled: AlertKind[]): RoutingPolicy => ({
  ...DEFAULT_POLICY,
  alerts: { ...DEFAULT_ALERTS, enabled },
});

const CLOUDFLARE_ONLY: RoutingPolicy = { ...DEFAULT_POLICY, mode: "cloudflare-only" };

describe("alerts policy", () => {
  it("defaults to every kind and 15 minutes in the queue", () => {
    expect(DEFAULT_ALERTS).toEqual({ enabled: [...ALERT_KINDS], queuedTooLongSeconds: 900 });
    expect(resolveAlerts(undefined)).toEqual(DEFAULT_ALERTS);
    expect(resolveAlerts({})).toEqual(DEFAULT_ALERTS);
  });

  it("keeps enabled kinds in ALERT_KINDS order, once each", () => {
    expect(resolveAlerts({ enabled: ["fell_back", "gpu_build", "gpu_build"], queuedTooLongSeconds: 60 })).toEqual({
      enabled: ["gpu_build", "fell_back"],
      queuedTooLongSeconds: 60,
    });
    expect(resolveAlerts({ enabled: [] }).enabled).toEqual([]);
  });

  it.each([
    [{}, true],
    [{ enabled: ["production_deploy", "queued_too_long"] }, true],
    [{ enabled: [] }, true],
    [{ queuedTooLongSeconds: 60 }, true],
    [{ queuedTooLongSeconds: 59 }, false],
    [{ queuedTooLongSeconds: 90.5 }, false],
    [{ queuedTooLongSeconds: "900" }, false],
    [{ enabled: ["gpu_build", "everything"] }, false],
    [{ enabled: "gpu_build" }, false],
    [{ disabled: ["gpu_build"] }, false],
    [null, false],
  ])("schema: %j → valid %s", (input, valid) => {
    expect(alertsSchema.safeParse(input, PARSE_OPTIONS).success).toBe(valid);
  });

  it("schema messages say what is wrong", () => {
    const parsed = alertsSchema.safeParse({ queuedTooLongSeconds: 30, extra: 1 }, PARSE_OPTIONS);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`).sort()).toEqual([
      ': Unrecognized key: "extra"',
      "queuedTooLongSeconds: must be at least 60 (seconds)",
    ]);
  });
});

describe("alertsFor", () => {
  const production = routedBuild("refs/heads/production", ["deploy/app.yaml"]);
  const staging = routedBuild("refs/heads/main", ["deploy/app.yaml"]);
  const gpu = routedBuild("refs/heads/feature/kernels", ["kernels/matmul.cu"]);
  const gpuOnHosted = routedBuild("refs/heads/feature/kernels", ["kernels/matmul.cu"], CLOUDFLARE_ONLY);
  const docsOnMain = routedBuild("refs/heads/main", ["README.md", "docs/intro.md"]);
  const dockerOnMain = routedBuild("refs/heads/main", ["services/api/Dockerfile"]);
  const dockerOnBranch = routedBuild("refs/heads/feature/x", ["services/api/Dockerfile"]);

  it("the builds are what the tests assume", () => {
    const d = (b: BuildRecord) => b.decision as Decision;
    expect([d(production).requirement, d(production).environment]).toEqual(["deploy", "production"]);
    expect([d(staging).requirement, d(staging).environment]).toEqual(["deploy", "staging"]);
    expect([d(gpu).requirement, d(gpu).runner, d(gpu).satisfiable]).toEqual(["gpu", "ai-lab", true]);
    expect([d(gpuOnHosted).runner, d(gpuOnHosted).satisfiable]).toEqual(["github-hosted", false]);
    expect([d(docsOnMain).requirement, d(docsOnMain).environment]).toEqual(["lightweight", null]);
    expect([d(dockerOnMain).requirement, d(dockerOnMain).environment]).toEqual(["docker", null]);
  });

  it.each<[string, () => Parameters<typeof alertsFor>[0], AlertKind[], string[]]>([
    [
      "routed: deploy to production",
      () => ({ kind: "routed", build: production }),
      ["production_deploy"],
      ["Production deploy: pmoves/app production → kvm4"],
    ],
    ["routed: deploy to staging", () => ({ kind: "routed", build: staging }), [], []],
    [
      "routed: gpu",
      () => ({ kind: "routed", build: gpu }),
      ["gpu_build"],
      ["GPU build: pmoves/app feature/kernels → ai-lab"],
    ],
    [
      "routed: gpu the mode cannot satisfy",
      () => ({ kind: "routed", build: gpuOnHosted }),
      ["gpu_build", "unsatisfiable"],
      [
        "GPU build: pmoves/app feature/kernels → github-hosted",
        "Cannot satisfy gpu in cloudflare-only mode: pmoves/app feature/kernels → github-hosted",
      ],
    ],
    [
      "routed: production deploy the mode cannot satisfy",
      () => ({ kind: "routed", build: routedBuild("refs/tags/v1.2.0", ["deploy/app.yaml"], CLOUDFLARE_ONLY) }),
      ["production_deploy", "unsatisfiable"],
      [
        "Production deploy: pmoves/app v1.2.0 → github-hosted",
        "Cannot satisfy deploy in cloudflare-only mode: pmoves/app v1.2.0 → github-hosted",
      ],
    ],
    ["routed: nothing was decided", () => ({ kind: "routed", build: { ...gpu, decision: null } }), [], []],
    [
      "completed: failure on main",
      () => ({ kind: "completed", build: completed(dockerOnMain, "failure") }),
      ["deploy_ref_failure"],
      ["Build failure on main: pmoves/app"],
    ],
    [
      "completed: startup_failure of a staging deploy",
      () => ({ kind: "completed", build: completed(staging, "startup_failure") }),
      ["deploy_ref_failure"],
      ["Build startup failure on main (staging): pmoves/app"],
    ],
    [
      "completed: timed_out on a tag, nothing routed",
      () => ({
        kind: "completed",
        build: completed({ ...dockerOnMain, ref: "refs/tags/v2.0.0", decision: null }, "timed_out"),
      }),
      ["deploy_ref_failure"],
      ["Build timed out on v2.0.0: pmoves/app"],
    ],
    [
      "completed: failure on refs/heads/production, nothing routed",
      () => ({
        kind: "completed",
        build: completed({ ...dockerOnMain, ref: "refs/heads/production", decision: null }, "failure"),
      }),
      ["deploy_ref_failure"],
      ["Build failure on production: pmoves/app"],
    ],
    [
      "completed: failure on a dispatch naming an environment, any ref",
      () => ({
        kind: "completed",
        build: completed(
          { ...dockerOnBranch, decision: { ...(dockerOnBranch.decision as Decision), environment: "qa" } },
          "failure",
        ),
      }),
      ["deploy_ref_failure"],
      ["Build failure on feature/x (qa): pmoves/app"],
    ],
    [
      "completed: failure on a feature branch",
      () => ({ kind: "completed", build: completed(dockerOnBranch, "failure") }),
      [],
      [],
    ],
    [
      "completed: a tag that is not a version",
      () => ({
        kind: "completed",
        build: completed({ ...dockerOnMain, ref: "refs/tags/nightly", decision: null }, "failure"),
      }),
      [],
      [],
    ],
    [
      "completed: cancelled on main",
      () => ({ kind: "completed", build: completed(dockerOnMain, "cancelled") }),
      [],
      [],
    ],
    [
      "completed: success on production",
      () => ({ kind: "completed", build: completed(production, "success") }),
      [],
      [],
    ],
    [
      "job_ran elsewhere than suggested",
      () => {
        const job = jobState({ name: "docker build", runner: "kvm2", labels: ["self-hosted", "kvm2"] });
        return { kind: "job_ran", build: started(dockerOnMain, job), job };
      },
      ["fell_back"],
      ['Job "docker build" ran on kvm2, not vps: pmoves/app main'],
    ],
    [
      "job_ran where suggested",
      () => {
        const job = jobState();
        return { kind: "job_ran", build: started(dockerOnMain, job), job };
      },
      [],
      [],
    ],
    [
      "job_ran on no known runner class",
      () => {
        const job = jobState({ runner: null, labels: ["windows-latest"] });
        return { kind: "job_ran", build: started(dockerOnMain, job), job };
      },
      [],
      [],
    ],
    [
      "job_ran of a build nothing routed",
      () => {
        const job = jobState({ runner: "kvm2" });
        return { kind: "job_ran", build: started({ ...dockerOnMain, decision: null }, job), job };
      },
      [],
      [],
    ],
    [
      "queued 15 minutes",
      () => ({ kind: "queued_too_long", build: gpu, job: jobState({ id: 7, name: null }), waitedSeconds: 900 }),
      ["queued_too_long"],
      ['Job "#7" queued for 15 minutes: pmoves/app feature/kernels'],
    ],
    [
      "queued 2 hours 5 minutes",
      () => ({ kind: "queued_too_long", build: gpu, job: jobState({ name: "train" }), waitedSeconds: 7530 }),
      ["queued_too_long"],
      ['Job "train" queued for 2 hours 5 minutes: pmoves/app feature/kernels'],
    ],
    [
      "queued less than the threshold",
      () => ({ kind: "queued_too_long", build: gpu, job: jobState(), waitedSeconds: 899 }),
      [],
      [],
    ],
  ])("%s", (_, event, expectedKinds, titles) => {
    const alerts = alertsFor(event(), ALL);
    expect(kinds(alerts)).toEqual(expectedKinds);
    expect(alerts.map((a) => a.title)).toEqual(titles);
    for (const alert of alerts) expect(alert.build_id).toBe("611372-delivery");
  });

  it("raises no alert for a lightweight push to main that succeeded, at any step", () => {
    const job = jobState({ runner: "github-hosted", labels: ["ubuntu-latest"], runner_name: "GitHub Actions 2" });
    const running = started(docsOnMain, job);
    expect(alertsFor({ kind: "routed", build: docsOnMain }, ALL)).toEqual([]);
    expect(alertsFor({ kind: "job_ran", build: running, job }, ALL)).toEqual([]);
    expect(alertsFor({ kind: "completed", build: completed(running, "success") }, ALL)).toEqual([]);
  });

  it("raises only the kinds the policy enables", () => {
    const hosted = { kind: "routed", build: gpuOnHosted } as const;
    expect(kinds(alertsFor(hosted, only("unsatisfiable")))).toEqual(["unsatisfiable"]);
    expect(kinds(alertsFor(hosted, only("gpu_build")))).toEqual(["gpu_build"]);
    expect(alertsFor(hosted, only())).toEqual([]);
    const job = jobState({ runner: "kvm2" });
    const events: Parameters<typeof alertsFor>[0][] = [
      { kind: "routed", build: production },
      { kind: "routed", build: gpuOnHosted },
      { kind: "completed", build: completed(dockerOnMain, "failure") },
      { kind: "job_ran", build: started(dockerOnMain, job), job },
      { kind: "queued_too_long", build: gpu, job, waitedSeconds: 3600 },
    ];
    const all = events.flatMap((e) => kinds(alertsFor(e, ALL)));
    expect([...new Set(all)].sort()).toEqual([...ALERT_KINDS].sort());
    for (const disabled of ALERT_KINDS) {
      const policy = only(...ALERT_KINDS.filter((k) => k !== disabled));
      const raised = events.flatMap((e) => kinds(alertsFor(e, policy)));
      expect(raised).not.toContain(disabled);
      expect(raised.length).toBe(all.length - all.filter((k) => k === disabled).length);
    }
  });

  it("a failure counts as on a deploy ref by the policy's deploy.refs, not by fixed names", () => {
    const releases: RoutingPolicy = {
      ...DEFAULT_POLICY,
      deploy: { ...DEFAULT_POLICY.deploy, refs: [{ ref: "refs/heads/release/*", environment: "production" }] },
    };
    // Docs only: the decision names no environment, so the ref alone decides.
    const onRelease = completed(routedBuild("refs/heads/release/2.1", ["docs/a.md"], releases), "failure");
    const onMain = completed(routedBuild("refs/heads/main", ["docs/a.md"], releases), "failure");
    expect(onRelease.decision?.environment).toBeNull();
    expect(kinds(alertsFor({ kind: "completed", build: onRelease }, releases))).toEqual(["deploy_ref_failure"]);
    expect(alertsFor({ kind: "completed", build: onMain }, releases)).toEqual([]);
    // Under the default refs, main is one.
    expect(kinds(alertsFor({ kind: "completed", build: onMain }, DEFAULT_POLICY))).toEqual(["deploy_ref_failure"]);
  });

  it("a stuck job the rescue desk would not rescue alerts whatever the threshold, saying why", () => {
    const event = {
      kind: "queued_too_long",
      build: gpu,
      job: jobState(),
      waitedSeconds: 61,
      rescue: "GPU work waits",
    } as const;
    const [alert] = alertsFor(event, ALL);
    expect(alert).toMatchObject({ kind: "queued_too_long", rescue: "GPU work waits" });
    if (alert === undefined) throw new Error("expected an alert");
    expect(discordMessage(alert, gpu, {}).embeds[0]?.fields.at(-1)).toEqual({
      name: "Rescue",
      value: "GPU work waits",
    });
  });

  it("the queue threshold is the policy's", () => {
    const event = { kind: "queued_too_long", build: gpu, job: jobState(), waitedSeconds: 61 } as const;
    expect(alertsFor(event, ALL)).toEqual([]);
    expect(kinds(alertsFor(event, { ...ALL, alerts: { ...ALL.alerts, queuedTooLongSeconds: 60 } }))).toEqual([
      "queued_too_long",
    ]);
    expect(
      alertsFor(
        { ...event, waitedSeconds: Number.NaN },
        { ...ALL, alerts: { ...ALL.alerts, queuedTooLongSeconds: 60 } },
      ),
    ).toEqual([]);
  });
});

/** Every Discord limit, checked one by one so a failure names the limit broken. */
function expectWithinLimits(payload: DiscordPayload): void {
  const L = DISCORD_LIMITS;
  expect(payload.embeds.length).toBe(1);
  for (const embed of payload.embeds) {
    expect(embed.title.length).toBeGreaterThan(0);
    expect(embed.title.length).toBeLessThanOrEqual(L.title);
    expect(embed.description.length).toBeGreaterThan(0);
    expect(embed.description.length).toBeLessThanOrEqual(L.description);
    expect(embed.fields.length).toBeLessThanOrEqual(L.fields);
    for (const field of embed.fields) {
      expect(field.name.length).toBeGreaterThan(0);
      expect(field.name.length).toBeLessThanOrEqual(L.fieldName);
      expect(field.value.length).toBeGreaterThan(0);
      expect(field.value.length).toBeLessThanOrEqual(L.fieldValue);
    }
    expect(embed.footer?.text.length ?? 0).toBeLessThanOrEqual(L.footerText);
    expect(embed.author?.name.length ?? 0).toBeLessThanOrEqual(L.authorName);
    expect(embedLength(embed)).toBeLessThanOrEqual(L.total);
    // No lone surrogate from a cut through a pair.
    const texts = [
      embed.title,
      embed.description,
      embed.footer?.text ?? "",
      ...embed.fields.flatMap((f) => [f.name, f.value]),
    ];
    for (const text of texts)
      expect(text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  }
  expect(payload.allowed_mentions).toEqual({ parse: [] });
}

const field = (payload: DiscordPayload, name: string) => payload.embeds[0]?.fields.find((f) => f.name === name)?.value;

describe("discordMessage", () => {
  const gpu = routedBuild("refs/heads/main", ["kernels/matmul.cu"]);
  const job = jobState({ runner: "ai-lab", labels: ["self-hosted", "ai-lab", "gpu"], runner_name: "ai-lab-1" });
  const running = started(gpu, job);
  const [alert] = alertsFor({ kind: "routed", build: gpu }, ALL);

  it("names the repository, ref, commit (linked), runners, requirement, mode and conclusion", () => {
    if (alert === undefined) throw new Error("expected a gpu_build alert");
    const payload = discordMessage(alert, running, {});
    expect(payload).toEqual({
      username: "PMOVES CI",
      embeds: [
        {
          title: "GPU build: pmoves/app main → ai-lab",
          description: '• kernels/matmul.cu matches "\\*\\*/\\*.cu" (rule gpu) → gpu',
          url: `https://github.com/pmoves/app/commit/${SHA}`,
          color: ALERT_COLORS.gpu_build,
          fields: [
            { name: "Repository", value: "[pmoves/app](https://github.com/pmoves/app)", inline: true },
            { name: "Ref", value: "refs/heads/main", inline: true },
            { name: "Commit", value: `[6113728](https://github.com/pmoves/app/commit/${SHA})`, inline: true },
            { name: "Event", value: "push", inline: true },
            { name: "Requirement", value: "gpu", inline: true },
            { name: "Mode", value: "hybrid", inline: true },
            { name: "Runner suggested", value: "ai-lab (self-hosted, ai-lab, gpu)", inline: true },
            { name: "Runner used", value: "ai-lab", inline: true },
            { name: "Conclusion", value: "(in\\_progress)", inline: true },
          ],
          footer: { text: "pmoves-ci-orchestrator · build 611372-delivery" },
          timestamp: "2024-06-01T10:00:40.000Z",
        },
      ],
      allowed_mentions: { parse: [] },
    });
    expectWithinLimits(payload);
  });

  it("links through the repository URL it is given, and shows a deploy's environment", () => {
    const prod = completed(routedBuild("refs/heads/production", ["deploy/app.yaml"]), "failure");
    const [failure] = alertsFor({ kind: "completed", build: prod }, ALL);
    if (failure === undefined) throw new Error("expected a deploy_ref_failure alert");
    const payload = discordMessage(failure, prod, { repositoryUrl: "https://ghe.example.com/pmoves/app/" });
    expect(payload.embeds[0]?.url).toBe(`https://ghe.example.com/pmoves/app/commit/${SHA}`);
    expect(payload.embeds[0]?.color).toBe(0xe74c3c);
    expect(field(payload, "Commit")).toBe(`[6113728](https://ghe.example.com/pmoves/app/commit/${SHA})`);
    expect(field(payload, "Environment")).toBe("production");
    expect(field(payload, "Conclusion")).toBe("failure");
    expect(field(payload, "Runners used")).toBe("(none yet)");
    // Not an https URL: ignored.
    const plain = discordMessage(failure, prod, { repositoryUrl: "javascript:alert(1)" });
    expect(plain.embeds[0]?.url).toBe(`https://github.com/pmoves/app/commit/${SHA}`);
  });

  it("says so when nothing was routed, and links nothing it cannot trust", () => {
    const odd = { ...gpu, decision: null, sha: "not a sha", repository: "not a repo" };
    const payload = discordMessage({ kind: "fell_back", title: "t", build_id: odd.build_id }, odd, {});
    expect(payload.embeds[0]?.description).toBe("No routing decision was recorded for this build.");
    expect(payload.embeds[0]?.url).toBeUndefined();
    expect(field(payload, "Commit")).toBe("not a sha");
    expect(field(payload, "Runner suggested")).toBe("(none)");
    expect(field(payload, "Requirement")).toBe("(not routed)");
  });

  it("stays within every limit for 3,000 reasons of 200 characters and 40 runners used", () => {
    const reasons = Array.from({ length: 3000 }, (_, i) => `${String(i).padStart(4, "0")} ${"r".repeat(195)}`);
    let huge: BuildRecord = { ...gpu, decision: { ...(gpu.decision as Decision), reasons } };
    for (let i = 0; i < 40; i++) {
      const runner = `runner-${String(i).padStart(2, "0")}-${"x".repeat(40)}`;
      huge = started(huge, jobState({ id: 1000 + i, runner }));
    }
    expect(huge.runners_used.length).toBe(40);
    const longAlert: Alert = { kind: "gpu_build", title: "T".repeat(1000), build_id: huge.build_id };
    const payload = discordMessage(longAlert, huge, {});
    expectWithinLimits(payload);
    const embed = payload.embeds[0];
    if (embed === undefined) throw new Error("no embed");
    expect(embed.title).toBe(`${"T".repeat(255)}…`);
    // Whole reasons, in order, then a count of the rest.
    const lines = embed.description.split("\n");
    const kept = lines.length - 1;
    expect(lines.slice(0, kept)).toEqual(reasons.slice(0, kept).map((r) => `• ${r}`));
    expect(lines.at(-1)).toBe(`… and ${3000 - kept} more`);
    expect(kept).toBe(20);
    const used = field(payload, "Runners used") ?? "";
    expect(used.length).toBe(DISCORD_LIMITS.fieldValue);
    expect(used.endsWith("…")).toBe(true);
    expect(used.startsWith("runner-00-")).toBe(true);
    // The same build, the same message.
    expect(discordMessage(longAlert, huge, {})).toEqual(payload);
  });

  it("cuts field values, longest first, when even a one-character description leaves too much", () => {
    const long = "y".repeat(5000);
    const build: BuildRecord = {
      ...gpu,
      ref: `refs/heads/${long}`,
      event: long,
      conclusion: long,
      runners_used: [long],
      decision: { ...(gpu.decision as Decision), runner: long, environment: long },
    };
    const payload = discordMessage({ kind: "gpu_build", title: long, build_id: gpu.build_id }, build, {});
    expectWithinLimits(payload);
    expect(payload.embeds[0]?.description).toBe("…");
    expect(embedLength(payload.embeds[0] ?? { title: "" })).toBe(DISCORD_LIMITS.total);
  });

  it("truncate never splits a surrogate pair and never returns nothing", () => {
    expect(discordTruncate("abc", 3)).toBe("abc");
    expect(discordTruncate("abcd", 3)).toBe("ab…");
    expect(discordTruncate("a😀b", 3)).toBe("a…");
    expect(discordTruncate("😀😀", 3)).toBe("😀…");
    expect(discordTruncate("", 10)).toBe("-");
    expect(discordTruncate("abc", 0)).toBe("…");
  });

  it("property: every limit holds for any texts", () => {
    const text = (maxLength: number) => fc.string({ unit: "binary", maxLength });
    fc.assert(
      fc.property(
        fc.record({
          title: text(600),
          reasons: fc.array(text(900), { maxLength: 60 }),
          runners: fc.array(text(200), { maxLength: 45 }),
          repository: fc.oneof(fc.constant("pmoves/app"), text(1500)),
          ref: fc.option(text(1500)),
          sha: fc.option(fc.oneof(fc.constant(SHA), text(100))),
          event: text(300),
          conclusion: fc.option(text(1500)),
          runner: text(1200),
          environment: fc.option(text(1200)),
          buildId: text(2500),
          kind: fc.constantFrom(...ALERT_KINDS),
          repositoryUrl: fc.option(fc.oneof(fc.constant("https://github.com/pmoves/app"), text(300)), {
            nil: undefined,
          }),
        }),
        (r) => {
          const build: BuildRecord = {
            ...gpu,
            build_id: r.buildId,
            repository: r.repository,
            ref: r.ref,
            sha: r.sha,
            event: r.event,
            conclusion: r.conclusion,
            runners_used: r.runners,
            decision: {
              ...(gpu.decision as Decision),
              reasons: r.reasons,
              runner: r.runner,
              environment: r.environment,
            },
          };
          const links = r.repositoryUrl === undefined ? {} : { repositoryUrl: r.repositoryUrl };
          const payload = discordMessage({ kind: r.kind, title: r.title, build_id: r.buildId }, build, links);
          expectWithinLimits(payload);
          expect(payload.embeds[0]?.color).toBe(ALERT_COLORS[r.kind]);
        },
      ),
      { numRuns: 500 },
    );
  });
});

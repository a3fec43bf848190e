import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { registrationCommand, registrationLabels } from "../../infra/runners.ts";
import {
  DEFAULT_ACTION_REF,
  fallbackRunsOn,
  isActionRef,
  routeJobRunsOn,
  type WorkflowOptions,
  workflowSnippet,
} from "../../infra/workflow.ts";
import { DEFAULT_OIDC_AUDIENCE } from "../../worker/src/bindings.ts";
import {
  DEFAULT_POLICY,
  parseRoutingConfig,
  type RoutingConfigInput,
  type RoutingPolicy,
} from "../../worker/src/core/index.ts";

interface Step {
  id?: string;
  uses: string;
  with?: Record<string, string>;
}

interface Workflow {
  name: string;
  on: string[];
  permissions: Record<string, string>;
  jobs: {
    route: {
      "runs-on": string | string[];
      permissions?: Record<string, string>;
      outputs: Record<string, string>;
      steps: Step[];
    };
    build: { needs: string; "runs-on": string; steps: Step[] };
  };
}

/** A GitHub Actions expression, `${{ … }}`. */
const expr = (text: string) => `\${{ ${text} }}`;

const workflowOf = (policy: RoutingPolicy, options?: WorkflowOptions) =>
  parse(workflowSnippet(policy, options)) as Workflow;

/** The route step: the route action, called with the router's inputs. */
const routeStep = (workflow: Workflow): Step => {
  const [step] = workflow.jobs.route.steps;
  if (step === undefined) throw new Error("the route job has no step");
  return step;
};

/** A policy resolved by the core parser from a routing input (mode included). */
const policyOf = (input: RoutingConfigInput) => parseRoutingConfig(input).defaults;

describe("the workflow the stack prints", () => {
  const workflow = workflowOf(DEFAULT_POLICY);

  it("is a complete workflow: a name, push and pull_request triggers, read-only contents", () => {
    expect(workflow.name).toBe("CI");
    expect(workflow.on).toEqual(["push", "pull_request"]);
    expect(workflow.permissions).toEqual({ contents: "read" });
  });

  it("has a route job that calls the route action with the router's URL, its own job id and a fallback", () => {
    const step = routeStep(workflow);
    expect(step.id).toBe("route");
    expect(step.uses).toBe(DEFAULT_ACTION_REF);
    expect(step.with).toEqual({
      url: expr("vars.CI_ROUTER_URL"),
      audience: DEFAULT_OIDC_AUDIENCE,
      "job-id": expr("job.check_run_id"),
      fallback: JSON.stringify(fallbackRunsOn(DEFAULT_POLICY)),
    });
    expect(workflow.jobs.route.outputs["runs-on"]).toBe(expr("steps.route.outputs.runs-on"));
  });

  it("has a build job that runs where the route job says", () => {
    expect(workflow.jobs.build.needs).toBe("route");
    expect(workflow.jobs.build["runs-on"]).toBe(expr("fromJSON(needs.route.outputs.runs-on)"));
    expect(workflow.jobs.build.steps[0]?.uses).toBe("actions/checkout@v4");
  });

  it("with OIDC: lets the route job ask for an ID token, and sends no token secret", () => {
    expect(workflow.jobs.route.permissions).toEqual({ contents: "read", "id-token": "write" });
    expect(routeStep(workflow).with).not.toHaveProperty("token");
    expect(workflowSnippet(DEFAULT_POLICY)).not.toContain("CI_ROUTER_TOKEN");
  });

  it("without OIDC: sends the CI_ROUTER_TOKEN secret, and asks for no ID token", () => {
    const withToken = workflowOf(DEFAULT_POLICY, { oidc: false });
    expect(routeStep(withToken).with?.token).toBe(expr("secrets.CI_ROUTER_TOKEN"));
    expect(routeStep(withToken).with).not.toHaveProperty("audience");
    expect(withToken.jobs.route.permissions).toBeUndefined();
    expect(workflowSnippet(DEFAULT_POLICY, { oidc: false })).not.toContain("id-token");
  });

  it("names the configured route action and audience", () => {
    const custom = workflowOf(DEFAULT_POLICY, { actionRef: "acme/router/action@v2", audience: "https://ci.acme.dev" });
    expect(routeStep(custom).uses).toBe("acme/router/action@v2");
    expect(routeStep(custom).with?.audience).toBe("https://ci.acme.dev");
  });

  it("falls back to the policy's default runner labels, as JSON", () => {
    expect(fallbackRunsOn(DEFAULT_POLICY)).toEqual(["self-hosted", "vps"]);
    expect(fallbackRunsOn({ ...DEFAULT_POLICY, mode: "cloudflare-only" })).toEqual(["ubuntu-latest"]);
    const policy = policyOf({ assign: { default: "kvm2" } });
    expect(JSON.parse(routeStep(workflowOf(policy)).with?.fallback ?? "null")).toEqual(["self-hosted", "kvm2"]);
  });

  it("quotes labels YAML would read as something else, and keeps them intact", () => {
    const policy = policyOf({
      runners: { odd: { kind: "github-hosted", runsOn: ["it's", "on", "2"], cost: { perMinuteUsd: 0.006 } } },
      assign: { lightweight: "odd", default: "odd" },
    });
    const parsed = workflowOf(policy);
    expect(parsed.jobs.route["runs-on"]).toEqual(["it's", "on", "2"]);
    expect(JSON.parse(routeStep(parsed).with?.fallback ?? "null")).toEqual(["it's", "on", "2"]);
  });
});

describe("where the route job runs", () => {
  it.each([
    ["hybrid", {}, "ubuntu-latest"],
    ["cloudflare-only", { mode: "cloudflare-only" }, "ubuntu-latest"],
    // The default lightweight runner is GitHub-hosted with no fallback: the default runner.
    ["self-hosted-only", { mode: "self-hosted-only" }, ["self-hosted", "vps"]],
  ] as const)("%s: on %j", (_mode, input, runsOn) => {
    expect(workflowOf(policyOf(input)).jobs.route["runs-on"]).toEqual(runsOn);
  });

  it("hybrid: on the lightweight runner, whatever its kind", () => {
    expect(routeJobRunsOn(policyOf({ assign: { lightweight: "kvm2" } }))).toEqual(["self-hosted", "kvm2"]);
  });

  it("cloudflare-only: on a GitHub-hosted runner even when lightweight work is assigned to a self-hosted one", () => {
    expect(routeJobRunsOn(policyOf({ mode: "cloudflare-only", assign: { lightweight: "vps" } }))).toEqual([
      "ubuntu-latest",
    ]);
  });

  it("self-hosted-only: on the lightweight runner when it is self-hosted", () => {
    expect(routeJobRunsOn(policyOf({ mode: "self-hosted-only", assign: { lightweight: "kvm4" } }))).toEqual([
      "self-hosted",
      "cloudstartup",
      "kvm4",
    ]);
  });

  it("self-hosted-only: else on the first self-hosted runner along the lightweight runner's fallback chain", () => {
    const policy = policyOf({
      mode: "self-hosted-only",
      runners: {
        hosted: { kind: "github-hosted", runsOn: ["ubuntu-24.04"], fallback: "cloud" },
        cloud: { kind: "github-hosted", runsOn: ["ubuntu-22.04"], fallback: "kvm2" },
      },
      assign: { lightweight: "hosted" },
    });
    expect(routeJobRunsOn(policy)).toEqual(["self-hosted", "kvm2"]);
  });
});

describe("action references", () => {
  it.each([
    DEFAULT_ACTION_REF,
    "acme/router@v1",
    "acme/router/action@main",
    "acme/router/a/b@releases/v1.2",
    "a/b@0123abc",
  ])("accepts %s", (ref) => {
    expect(isActionRef(ref)).toBe(true);
  });

  it.each([
    "acme/router",
    "acme@v1",
    "acme/router/action@",
    "acme/router/../x@v1",
    "acme/router@-x",
    "ac me/r@v1",
    "docker://alpine",
  ])("rejects %s", (ref) => {
    expect(isActionRef(ref)).toBe(false);
  });
});

describe("runner registration hints", () => {
  it.each([
    [
      ["self-hosted", "ai-lab", "gpu"],
      ["ai-lab", "gpu"],
    ],
    [["self-hosted", "Linux", "X64", "vps"], ["vps"]],
    [
      ["self-hosted", "cloudstartup", "kvm4"],
      ["cloudstartup", "kvm4"],
    ],
  ])("pass %j to config.sh as --labels %j (GitHub adds self-hosted, OS and arch itself)", (runsOn, labels) => {
    expect(registrationLabels(runsOn)).toEqual(labels);
  });

  it("register the machine into the class's runner group with its labels", () => {
    const command = registrationCommand(
      {
        id: "ai-lab",
        kind: "self-hosted",
        runsOn: ["self-hosted", "ai-lab", "gpu"],
        group: "router-staging-ai-lab",
        repositories: [],
      },
      "acme",
    );
    expect(command).toBe(
      "./config.sh --url https://github.com/acme --token <registration-token> --runnergroup router-staging-ai-lab " +
        "--labels ai-lab,gpu --name <host>-ai-lab --unattended",
    );
  });
});

describe("the README's workflow", () => {
  it("is the one the program prints for the default policy, word for word", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const snippet = workflowSnippet(parseRoutingConfig({}).defaults).trimEnd();
    expect(readme).toContain(`\`\`\`yaml\n${snippet}\n\`\`\``);
  });
});

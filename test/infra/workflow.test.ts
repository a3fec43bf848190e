import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { registrationCommand, registrationLabels } from "../../infra/runners.ts";
import { fallbackRunsOn, workflowSnippet } from "../../infra/workflow.ts";
import { DEFAULT_POLICY } from "../../worker/src/core/index.ts";

interface Snippet {
  jobs: {
    route: {
      "runs-on": string;
      outputs: Record<string, string>;
      steps: { id: string; env: Record<string, string>; run: string }[];
    };
    build: { needs: string; "runs-on": string };
  };
}

/** A GitHub Actions expression, `${{ … }}`. */
const expr = (text: string) => `\${{ ${text} }}`;

describe("the workflow snippet", () => {
  const snippet = parse(workflowSnippet(DEFAULT_POLICY)) as Snippet;
  const [step] = snippet.jobs.route.steps;

  it("is valid YAML with a route job and a build job that runs where the router says", () => {
    expect(snippet.jobs.route["runs-on"]).toBe("ubuntu-latest");
    expect(snippet.jobs.route.outputs.runs_on).toBe(expr("steps.route.outputs.runs_on"));
    expect(snippet.jobs.build.needs).toBe("route");
    expect(snippet.jobs.build["runs-on"]).toBe(expr("fromJSON(needs.route.outputs.runs_on)"));
  });

  it("asks GET /route for the commit with the router's bearer token", () => {
    expect(step?.env.CI_ROUTER_URL).toBe(expr("vars.CI_ROUTER_URL"));
    expect(step?.run).toContain(`-H "Authorization: Bearer ${expr("secrets.CI_ROUTER_TOKEN")}"`);
    expect(step?.run).toContain(
      `"$CI_ROUTER_URL/route?repository=${expr("github.repository")}&sha=${expr("github.event.pull_request.head.sha || github.sha")}"`,
    );
    expect(step?.run).toContain("jq -ce '.decision.runs_on'");
    expect(step?.run).toContain('echo "runs_on=$runs_on" >> "$GITHUB_OUTPUT"');
  });

  it("falls back to the policy's default runner when the router cannot be reached", () => {
    expect(step?.run).toContain(`runs_on='${JSON.stringify(fallbackRunsOn(DEFAULT_POLICY))}'`);
    expect(fallbackRunsOn(DEFAULT_POLICY)).toEqual(["self-hosted", "vps"]);
    expect(fallbackRunsOn({ ...DEFAULT_POLICY, mode: "cloudflare-only" })).toEqual(["ubuntu-latest"]);
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

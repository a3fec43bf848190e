import { hostedRunner, type RoutingPolicy } from "../worker/src/core/index.ts";

/** The Actions variable that holds the router's base URL in every onboarded repository. */
export const ROUTER_URL_VARIABLE = "CI_ROUTER_URL";
/** The Actions secret that holds the router's API token in every onboarded repository. */
export const ROUTER_TOKEN_SECRET = "CI_ROUTER_TOKEN";

/** The labels a job gets when the router cannot be reached: where the policy sends "default". */
export function fallbackRunsOn(policy: RoutingPolicy): string[] {
  if (policy.mode === "cloudflare-only") return hostedRunner(policy)?.runsOn ?? ["ubuntu-latest"];
  return policy.runners[policy.assign.default]?.runsOn ?? ["ubuntu-latest"];
}

/**
 * A workflow fragment for onboarded repositories: a `route` job asks the router which runner
 * the commit needs (`GET /route`), and the build job runs there. When the router cannot be
 * reached the build still runs, on the runner the policy uses by default.
 */
export function workflowSnippet(policy: RoutingPolicy): string {
  const fallback = JSON.stringify(fallbackRunsOn(policy));
  const expr = (text: string) => `\${{ ${text} }}`;
  return [
    "jobs:",
    "  route:",
    "    runs-on: ubuntu-latest",
    "    outputs:",
    `      runs_on: ${expr("steps.route.outputs.runs_on")}`,
    "    steps:",
    "      - id: route",
    "        shell: bash",
    "        env:",
    `          ${ROUTER_URL_VARIABLE}: ${expr(`vars.${ROUTER_URL_VARIABLE}`)}`,
    "        run: |",
    "          if ! runs_on=$(curl -fsS --retry 3 --max-time 10 \\",
    `              -H "Authorization: Bearer ${expr(`secrets.${ROUTER_TOKEN_SECRET}`)}" \\`,
    `              "$${ROUTER_URL_VARIABLE}/route?repository=${expr("github.repository")}&sha=${expr("github.event.pull_request.head.sha || github.sha")}" \\`,
    "              | jq -ce '.decision.runs_on'); then",
    `            runs_on='${fallback}'  # router unreachable: the policy's default runner`,
    "          fi",
    '          echo "runs_on=$runs_on" >> "$GITHUB_OUTPUT"',
    "  build:",
    "    needs: route",
    `    runs-on: ${expr("fromJSON(needs.route.outputs.runs_on)")}`,
    "    steps:",
    "      - uses: actions/checkout@v4",
    "",
  ].join("\n");
}

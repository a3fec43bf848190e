/**
 * action/action.yml, the file the Actions runner reads: it runs the committed bundle on Node 24,
 * declares every input and output the route contract names with the defaults the code uses, and
 * each of them is documented under "### The route action" in README.md.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULT_FALLBACK, parseFallback } from "../../action/src/fallback.ts";
import { DEFAULT_AUDIENCE } from "../../action/src/request.ts";
import { ROOT } from "../../scripts/bundle.ts";
import { DEFAULT_OIDC_AUDIENCE } from "../../worker/src/bindings.ts";

interface ActionMetadata {
  name: string;
  description: string;
  author?: string;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
}

const INPUTS = ["url", "token", "audience", "job-id", "fallback"];
const OUTPUTS = ["runs-on", "runner", "requirement", "build-id", "routed", "jobs", "placements"];
const README_SECTION = "### The route action";

const metadata = parse(await readFile(join(ROOT, "action/action.yml"), "utf8")) as ActionMetadata;

/** The text of a Markdown section: from its heading to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string | null {
  const lines = markdown.split("\n");
  const start = lines.indexOf(heading);
  if (start === -1) return null;
  const level = heading.indexOf(" ");
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && line.indexOf(" ") <= level);
  return lines.slice(start + 1, end === -1 ? undefined : end).join("\n");
}

describe("action.yml", () => {
  it("runs the committed bundle on node24, as an ES module", async () => {
    expect(metadata.runs.using).toBe("node24");
    expect(existsSync(join(ROOT, "action", metadata.runs.main))).toBe(true);
    expect(metadata.runs.main).toBe("index.js");
    const manifest = JSON.parse(await readFile(join(ROOT, "action/package.json"), "utf8")) as { type?: string };
    expect(manifest.type).toBe("module");
  });

  it("has a name and description, and no author", () => {
    expect(metadata.name).not.toBe("");
    expect(metadata.description).not.toBe("");
    expect(metadata.author).toBeUndefined();
  });

  it("declares exactly the inputs and outputs the contract names, each described", () => {
    expect(Object.keys(metadata.inputs).sort()).toEqual([...INPUTS].sort());
    expect(Object.keys(metadata.outputs).sort()).toEqual([...OUTPUTS].sort());
    for (const { description } of [...Object.values(metadata.inputs), ...Object.values(metadata.outputs)]) {
      expect(description.length).toBeGreaterThan(10);
    }
    expect(metadata.inputs.url?.required).toBe(true);
    expect(metadata.inputs.token?.required).toBe(false);
  });

  it("declares the jobs output and describes the run-<job> outputs it sets undeclared, and how to read a missing one", () => {
    const description = metadata.outputs.jobs?.description ?? "";
    expect(description).toContain("`run-<job>`");
    expect(description).toContain("needs.route.outputs.run-docs != 'false'");
    expect(Object.keys(metadata.outputs).filter((name) => name.startsWith("run-"))).toEqual([]);
  });

  it("declares the placements output and describes the runs-on-<job> outputs it sets undeclared, and how to read it", () => {
    const description = metadata.outputs.placements?.description ?? "";
    expect(description).toContain("`runs-on-<job>`");
    expect(description).toContain("GITHUB_WORKFLOW");
    expect(description).toContain(
      "`fromJSON(needs.route.outputs.placements)['e2e'] || fromJSON(needs.route.outputs.runs-on)`",
    );
    expect(Object.keys(metadata.outputs).filter((name) => name.startsWith("runs-on-"))).toEqual([]);
  });

  it("has the defaults the code falls back to, and the router's audience", () => {
    expect(metadata.inputs.audience?.default).toBe(DEFAULT_AUDIENCE);
    expect(DEFAULT_AUDIENCE).toBe(DEFAULT_OIDC_AUDIENCE);
    expect(metadata.inputs.fallback?.default).toBe(DEFAULT_FALLBACK);
    expect(parseFallback(DEFAULT_FALLBACK)).toMatchObject({ ok: true, runsOn: ["ubuntu-latest"] });
  });
});

describe(`README.md "${README_SECTION}"`, () => {
  it("documents every input and output of action.yml", async () => {
    const text = section(await readFile(join(ROOT, "README.md"), "utf8"), README_SECTION);
    const names = [...Object.keys(metadata.inputs), ...Object.keys(metadata.outputs)];
    expect(text, `README.md has no "${README_SECTION}" section documenting ${names.join(", ")}`).not.toBeNull();
    const missing = names.filter((name) => !text?.includes(`\`${name}\``));
    expect(missing, `missing from README.md's "${README_SECTION}" section`).toEqual([]);
  });
});

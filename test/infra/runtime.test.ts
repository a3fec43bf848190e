import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "../../scripts/bundle.ts";
import { deployableConfig, engineConfig } from "./harness.ts";

interface ProjectFile {
  name: string;
  main: string;
  runtime: { name: string; options: { typescript: boolean; nodeargs: string } };
}

const project = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as ProjectFile;
const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { type?: string };

/**
 * What Pulumi's Node.js runtime does with this project: `node <nodeargs> …` imports `main` as an
 * ES module (package.json "type": "module") and runs its default export. Here a plain Node
 * process, with the same node arguments and no TypeScript loader, does the same under mocks,
 * with the staging stack's config (its placeholders replaced) as the engine would hand it over.
 */
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
await pulumi.runtime.setMocks({
  newResource: (args) => ({ id: args.name + "-id", state: { ...args.inputs, result: "generated" } }),
  call: (args) => (args.token.endsWith("getWorkersScripts") ? { results: [] } : { repoId: 1 }),
}, ${JSON.stringify(project.name)}, "staging");
pulumi.runtime.setAllConfig(${JSON.stringify(engineConfig(deployableConfig("staging")))});
const program = await import(${JSON.stringify(`./${project.main}`)});
const outputs = await program.default();
await pulumi.runtime.disconnect();
process.stdout.write(JSON.stringify({ keys: Object.keys(program), webhookUrl: outputs.webhookUrl }));
`;

describe("Pulumi's Node.js runtime", () => {
  it("is told to run infra/index.ts with Node's own type stripping, not ts-node", () => {
    expect(project.name).toBe("pmoves-ci-orchestrator");
    expect(project.main).toBe("infra/index.ts");
    expect(project.runtime).toEqual({
      name: "nodejs",
      options: { typescript: false, nodeargs: "--experimental-strip-types" },
    });
    expect(packageJson.type).toBe("module");
  });

  it("can load and run the program with plain Node and those arguments", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [...project.runtime.options.nodeargs.split(" "), "--input-type=module", "-e", PROGRAM],
      { cwd: ROOT, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({
      keys: ["default"],
      webhookUrl: "https://pmoves-ci-orchestrator-staging.acme.workers.dev/webhook/github",
    });
  }, 90_000);
});

import { describe, expect, it } from "vitest";
import { RECONCILE_CRON } from "../../infra/router.ts";
import { VAR_NAMES } from "../../worker/src/bindings.ts";
import { key, ofType, only, runStack, succeeded, TYPES, workerBindings } from "./harness.ts";

describe("fleet reconciliation: a Cron Trigger when the stack names a runners owner", () => {
  it("without runnersOwner: no Cron Trigger and no GITHUB_RUNNERS_OWNER binding", async () => {
    const run = await runStack("staging");
    succeeded(run);
    expect(ofType(run, TYPES.cronTrigger)).toEqual([]);
    expect(workerBindings(run).byName.has(VAR_NAMES.runnersOwner)).toBe(false);
  });

  it("with runnersOwner: every minute on the Worker's script, which gets the owner as a plain var", async () => {
    const run = await runStack("production", (config) => {
      config[key("runnersOwner")] = "acme-runners";
    });
    succeeded(run);
    const script = only(run, TYPES.script);
    expect(only(run, TYPES.cronTrigger).inputs).toMatchObject({
      scriptName: script.inputs.scriptName,
      schedules: [{ cron: RECONCILE_CRON }],
    });
    expect(RECONCILE_CRON).toBe("* * * * *");
    expect(workerBindings(run).byName.get(VAR_NAMES.runnersOwner)).toEqual({
      type: "plain_text",
      name: VAR_NAMES.runnersOwner,
      text: "acme-runners",
    });
  });

  it("a runnersOwner that is no organization name fails the program, naming the key", async () => {
    const run = await runStack("staging", (config) => {
      config[key("runnersOwner")] = "not/an org";
    });
    expect(run.resources).toEqual([]);
    expect(run.error?.message).toContain('runnersOwner: not a GitHub organization name (got "not/an org")');
  });
});

/**
 * The route action's per-job placements: reading `decision.placements` from an answer, taking
 * the ones of the workflow the action runs in, the `placements` and `runs-on-<job>` outputs,
 * and the job summary's lines for them.
 */
import { describe, expect, it } from "vitest";
import { type RouteAnswer, readAnswer } from "../../action/src/answer.ts";
import {
  type JobPlacement,
  MAX_PLACEMENT_NAME,
  MAX_PLACEMENTS,
  placementOutputs,
  placementsFor,
  readPlacements,
} from "../../action/src/placements.ts";
import type { RouteQuery } from "../../action/src/request.ts";
import { routedSummary } from "../../action/src/summary.ts";
import { MAX_NAME_IN_KEY, MAX_PLACEMENTS as ROUTER_MAX_PLACEMENTS } from "../../worker/src/core/index.ts";

const E2E: JobPlacement = { workflow: "CI", job: "e2e", runner: "kvm2", runs_on: ["self-hosted", "kvm2"] };
const MATRIX: JobPlacement = { workflow: "CI", job: "test (1)", runner: "ai-lab", runs_on: ["self-hosted", "gpu"] };
const NIGHTLY: JobPlacement = {
  workflow: ".github/workflows/nightly.yml",
  job: "soak",
  runner: "kvm2",
  runs_on: ["self-hosted", "kvm2"],
};

/** A route answer as the router sends it, its decision carrying `placements`. */
function answerBody(placements: unknown) {
  return {
    build_id: "222222222222-5b1d8a3e0000",
    recorded: true,
    decision: {
      runner: "vps",
      runs_on: ["self-hosted", "vps"],
      requirement: "default",
      mode: "hybrid",
      reasons: ["learned: per job: e2e → kvm2 (~12 min, queue ~0.5 min)"],
      rule: null,
      satisfiable: true,
      ...(placements === undefined ? {} : { placements }),
    },
    pricing: null,
  };
}

/** The placements `readAnswer` keeps from a decision carrying `placements`. */
function read(placements: unknown): JobPlacement[] {
  const result = readAnswer(answerBody(placements));
  if (!result.ok) throw new Error(result.problem);
  return result.answer.decision.placements;
}

describe("reading placements from an answer", () => {
  it("keeps well-formed placements, in the router's order", () => {
    expect(read([E2E, MATRIX, NIGHTLY])).toEqual([E2E, MATRIX, NIGHTLY]);
  });

  it("is an empty list when the decision has none, or something that is not a list", () => {
    expect(read(undefined)).toEqual([]);
    expect(read(null)).toEqual([]);
    expect(read({ e2e: ["self-hosted"] })).toEqual([]);
    expect(read("e2e")).toEqual([]);
    expect(readPlacements(undefined)).toEqual([]);
    expect(readPlacements([E2E])).toEqual([E2E]);
  });

  it("drops each malformed entry and keeps the rest, never failing the answer", () => {
    const long = "x".repeat(MAX_PLACEMENT_NAME + 1);
    const malformed: unknown[] = [
      null,
      ["CI", "e2e", "kvm2", ["self-hosted"]],
      { ...E2E, workflow: "" },
      { ...E2E, workflow: 7 },
      { ...E2E, workflow: long },
      { ...E2E, job: "" },
      { ...E2E, job: null },
      { ...E2E, job: long },
      { ...E2E, runner: "" },
      { ...E2E, runner: ["kvm2"] },
      { ...E2E, runs_on: [] },
      { ...E2E, runs_on: "self-hosted" },
      { ...E2E, runs_on: ["self-hosted", ""] },
      { ...E2E, runs_on: ["self-hosted", 2] },
      { workflow: "CI", job: "e2e", runner: "kvm2" },
    ];
    expect(read([...malformed, MATRIX])).toEqual([MATRIX]);
    const result = readAnswer(answerBody(malformed));
    expect(result.ok && result.answer.decision).toMatchObject({ runner: "vps", placements: [] });
  });

  it("takes names up to the router's length, and copies the labels", () => {
    const longest = "y".repeat(MAX_PLACEMENT_NAME);
    const labels = ["self-hosted", "kvm2"];
    const [placement] = read([{ workflow: longest, job: longest, runner: "kvm2", runs_on: labels, extra: 1 }]);
    expect(placement).toEqual({ workflow: longest, job: longest, runner: "kvm2", runs_on: labels });
    expect(placement?.runs_on).not.toBe(labels);
  });

  it("keeps at most MAX_PLACEMENTS, the first well-formed ones", () => {
    const many = Array.from({ length: MAX_PLACEMENTS + 8 }, (_, i) => ({ ...E2E, job: `job${i}` }));
    const kept = read([{ ...E2E, runs_on: [] }, ...many]);
    expect(kept).toHaveLength(MAX_PLACEMENTS);
    expect(kept[0]?.job).toBe("job0");
    expect(kept.at(-1)?.job).toBe(`job${MAX_PLACEMENTS - 1}`);
  });

  it("bounds placements and names as the router does", () => {
    expect(MAX_PLACEMENTS).toBe(ROUTER_MAX_PLACEMENTS);
    expect(MAX_PLACEMENT_NAME).toBe(MAX_NAME_IN_KEY);
  });
});

describe("this workflow's placements", () => {
  const all = [E2E, NIGHTLY, MATRIX];

  it("are those whose workflow GITHUB_WORKFLOW names; the others are counted as left out", () => {
    expect(placementsFor(all, "CI")).toEqual({ workflow: "CI", here: [E2E, MATRIX], left: 1 });
    expect(placementsFor(all, ".github/workflows/nightly.yml")).toEqual({
      workflow: ".github/workflows/nightly.yml",
      here: [NIGHTLY],
      left: 2,
    });
    expect(placementsFor(all, "ci")).toEqual({ workflow: "ci", here: [], left: 3 });
  });

  it("are none when GITHUB_WORKFLOW is unset or empty: every placement is left out", () => {
    expect(placementsFor(all, undefined)).toEqual({ workflow: null, here: [], left: 3 });
    expect(placementsFor(all, "")).toEqual({ workflow: null, here: [], left: 3 });
    expect(placementsFor([], undefined)).toEqual({ workflow: null, here: [], left: 0 });
  });

  it("match a long workflow name as the router keeps it, cut to its length", () => {
    const name = "w".repeat(MAX_PLACEMENT_NAME + 20);
    const placement = { ...E2E, workflow: name.slice(0, MAX_PLACEMENT_NAME) };
    expect(placementsFor([placement], name).here).toEqual([placement]);
  });

  it("take one placement per job, the first", () => {
    const again = { ...E2E, runner: "vps", runs_on: ["self-hosted", "vps"] };
    expect(placementsFor([E2E, again], "CI")).toEqual({ workflow: "CI", here: [E2E], left: 0 });
  });
});

describe("the placement outputs", () => {
  it("are runs-on-<job> for each valid output name, and the map of every placement", () => {
    const here = placementsFor([E2E, MATRIX, NIGHTLY, { ...E2E, job: "build_x-1" }], "CI").here;
    expect(placementOutputs(here)).toEqual([
      ["runs-on-e2e", '["self-hosted","kvm2"]'],
      ["runs-on-build_x-1", '["self-hosted","kvm2"]'],
      [
        "placements",
        '{"e2e":["self-hosted","kvm2"],"test (1)":["self-hosted","gpu"],"build_x-1":["self-hosted","kvm2"]}',
      ],
    ]);
  });

  it("give names outside the output pattern the map only", () => {
    const names = ["test (1)", "lint docs", "x".repeat(65), "a.b", "naïve"];
    const outputs = placementOutputs(names.map((job) => ({ ...E2E, job })));
    expect(outputs.map(([name]) => name)).toEqual(["placements"]);
    expect(Object.keys(JSON.parse(outputs[0]?.[1] ?? "{}"))).toEqual(names);
  });

  it("are only placements = {} without placements, as on the fallback", () => {
    expect(placementOutputs([])).toEqual([["placements", "{}"]]);
    expect(placementOutputs(placementsFor([E2E], undefined).here)).toEqual([["placements", "{}"]]);
    expect(placementOutputs(placementsFor([NIGHTLY], "CI").here)).toEqual([["placements", "{}"]]);
  });

  it("are valid JSON for any job name, one a prototype's property included", () => {
    const odd = ["__proto__", "constructor", 'say "hi"\n'];
    const [[, map] = ["", ""]] = placementOutputs(odd.map((job) => ({ ...E2E, job }))).slice(-1);
    expect(Object.keys(JSON.parse(map))).toEqual(odd);
  });
});

describe("the job summary's placements", () => {
  const query: RouteQuery = { repository: "acme/app", sha: "a".repeat(40), ref: "refs/heads/main", jobId: null };
  const answer = (placements: JobPlacement[]): RouteAnswer => {
    const result = readAnswer(answerBody(placements));
    if (!result.ok) throw new Error(result.problem);
    return result.answer;
  };
  const summary = (placements: JobPlacement[], workflow: string | undefined) =>
    routedSummary(answer(placements), query, placementsFor(placements, workflow));

  it("lists each of this workflow's, with its class, labels and outputs, and counts the others", () => {
    const text = summary([E2E, NIGHTLY, MATRIX], "CI");
    expect(text).toContain("### Placements");
    expect(text).toContain(
      'The learned router places these jobs of the workflow `CI` on classes of their own; every job not listed runs on `["self-hosted","vps"]` (`runs-on`).',
    );
    expect(text).toContain('- `e2e` → `kvm2`, `["self-hosted","kvm2"]` (`placements`, `runs-on-e2e`)');
    expect(text).toContain('- `test (1)` → `ai-lab`, `["self-hosted","gpu"]` (`placements` only)');
    expect(text).toContain("- 1 placement of other workflows left out (each workflow's route job hands out its own)");
    expect(text).not.toContain("soak");
  });

  it("says when every placement is another workflow's, or the workflow is not known", () => {
    const other = summary([NIGHTLY, { ...NIGHTLY, job: "fuzz" }], "CI");
    expect(other).toContain("- 2 placements of other workflows left out");
    expect(other).not.toContain("The learned router places these jobs");
    const unknown = summary([E2E], undefined);
    expect(unknown).toContain("- 1 placement left out: GITHUB_WORKFLOW is not set, so this workflow is not known");
    expect(unknown).not.toContain("`e2e`");
  });

  it("has no placements section for a decision without placements", () => {
    expect(summary([], "CI")).not.toContain("### Placements");
  });

  it("quotes the router's text as code, whatever backticks it holds", () => {
    const text = summary([{ workflow: "CI", job: "a `b`", runner: "k`vm", runs_on: ["x`y"] }], "CI");
    expect(text).toContain('- `` a `b` `` → ``k`vm``, ``["x`y"]`` (`placements` only)');
  });
});

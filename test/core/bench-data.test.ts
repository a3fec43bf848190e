import { describe, expect, it } from "vitest";
import {
  type Baseline,
  type BenchData,
  baselineDecide,
  benchData,
  benchInput,
  compileBaseline,
  DOCKER_FILE,
  disagreement,
  FILE_COUNT,
  GPU_FILE,
  LAST_FILE,
  RULE_COUNT,
} from "../../scripts/bench-data.ts";
import { parseRoutingConfig } from "../../worker/src/core/config.ts";
import { decide } from "../../worker/src/core/decide.ts";
import type { RoutingPolicy } from "../../worker/src/core/types.ts";

const compiled = new WeakMap<BenchData, { policy: RoutingPolicy; baseline: Baseline }>();

/** The router and the baseline on the same files; both answers, after checking they agree. */
function both(data: BenchData, files = data.files) {
  let both = compiled.get(data);
  if (both === undefined) {
    both = { policy: parseRoutingConfig({ rules: data.rules }).defaults, baseline: compileBaseline(data.rules) };
    compiled.set(data, both);
  }
  const decision = decide(benchInput(files), both.policy);
  const verdict = baselineDecide(files, both.baseline);
  expect(disagreement(decision, verdict)).toBeNull();
  return { decision, verdict };
}

const data = benchData();

// Correctness only: nothing here is timed, and the generous timeout keeps a loaded machine from failing it.
describe("benchmark data", { timeout: 60_000 }, () => {
  it("is the same for the same seed, and differs for another", () => {
    expect(benchData()).toEqual(data);
    expect(benchData(7).files).not.toEqual(data.files);
  });

  it("has 200 valid rules across gpu, docker and lightweight, and 3,000 distinct files", () => {
    expect(data.rules).toHaveLength(RULE_COUNT);
    expect(() => parseRoutingConfig({ rules: data.rules })).not.toThrow();
    expect(new Set(data.rules.map((r) => r.requirement))).toEqual(new Set(["gpu", "docker", "lightweight"]));
    expect(data.files).toHaveLength(FILE_COUNT);
    expect(new Set(data.files).size).toBe(FILE_COUNT);
    expect(data.files.at(-1)).toBe(LAST_FILE);
  });

  it("makes both answers scan everything: no gpu or docker file, only the last one not lightweight", () => {
    const { decision, verdict } = both(data);
    expect(verdict).toEqual({ requirement: "default", file: LAST_FILE, rule: null });
    expect(decision.requirement).toBe("default");
    expect(decision.reasons).toEqual([`${LAST_FILE} matches no lightweight rule → default`]);
  });

  it("agrees when every file is lightweight", () => {
    const { verdict } = both(data, data.files.slice(0, -1));
    expect(verdict.requirement).toBe("lightweight");
    expect(verdict.rule).not.toBeNull();
  });

  it("agrees on a gpu file at position 1500", () => {
    const files = [...data.files.slice(0, 1500), GPU_FILE, ...data.files.slice(1500)];
    const { decision, verdict } = both(data, files);
    expect(verdict).toMatchObject({ requirement: "gpu", file: GPU_FILE });
    expect(decision.runner).toBe("ai-lab");
  });

  it("agrees on a docker file at the end", () => {
    const { decision, verdict } = both(data, [...data.files, DOCKER_FILE]);
    expect(verdict).toMatchObject({ requirement: "docker", file: DOCKER_FILE });
    expect(decision.runner).toBe("vps");
  });

  it("agrees on gpu before docker, whatever their order", () => {
    const { verdict } = both(data, [DOCKER_FILE, ...data.files.slice(0, 10), GPU_FILE]);
    expect(verdict).toMatchObject({ requirement: "gpu", file: GPU_FILE });
  });

  it("agrees on an empty change, and for other seeds", () => {
    expect(both(data, []).verdict).toEqual({ requirement: "default", file: null, rule: null });
    for (const seed of [1, 2]) {
      const other = benchData(seed);
      expect(both(other).verdict).toEqual({ requirement: "default", file: LAST_FILE, rule: null });
    }
  });
});

import picomatch from "picomatch";
import { hostedRunner } from "./config.ts";
import { GLOB_OPTIONS, GlobSet, type PathInfo, pathInfo } from "./globset.ts";
import type { Decision, Requirement, RoutingInput, RoutingPolicy, Rule, Runner } from "./types.ts";

type PatternRequirement = Rule["requirement"];

/** A policy compiled for matching: one glob set per requirement, built once per policy. */
interface CompiledPolicy {
  byRequirement: Record<PatternRequirement, GlobSet<Rule>>;
  deployPaths: GlobSet<null>;
  deployRefs: { test: (ref: string) => boolean; environment: string; ref: string }[];
}

const compiled = new WeakMap<RoutingPolicy, CompiledPolicy>();

export function compilePolicy(policy: RoutingPolicy): CompiledPolicy {
  const cached = compiled.get(policy);
  if (cached) return cached;
  const globsFor = (requirement: PatternRequirement) =>
    new GlobSet(
      policy.rules
        .filter((rule) => rule.requirement === requirement)
        .flatMap((rule) => rule.patterns.map((pattern) => ({ pattern, tag: rule }))),
    );
  const result: CompiledPolicy = {
    byRequirement: { gpu: globsFor("gpu"), docker: globsFor("docker"), lightweight: globsFor("lightweight") },
    deployPaths: new GlobSet(policy.deploy.paths.map((pattern) => ({ pattern, tag: null }))),
    deployRefs: policy.deploy.refs.map(({ ref, environment }) => ({
      ref,
      environment,
      test: picomatch(ref, GLOB_OPTIONS),
    })),
  };
  compiled.set(policy, result);
  return result;
}

/** Events whose ref can deploy: a push to a deploy ref, or a dispatch on one. */
const DEPLOYING_EVENTS = new Set(["push", "workflow_dispatch"]);

interface Verdict {
  requirement: Requirement;
  rule: string | null;
  environment: string | null;
}

/** The seed's decision tree, then the mode. Pure: same input and policy, same decision. */
export function decide(input: RoutingInput, policy: RoutingPolicy): Decision {
  const { changes } = input;
  const reasons: string[] = [];
  if (!changes.known) reasons.push(`changed files unknown (${changes.notes.join("; ") || changes.source})`);
  if (changes.truncated) {
    reasons.push(`file list truncated by GitHub (${changes.notes.join("; ")}): never routed as lightweight`);
  }
  const infos = changes.files.map(pathInfo);
  const verdict = classify(input, infos, compilePolicy(policy), reasons);
  const { runner, satisfiable } = applyMode(verdict.requirement, policy, reasons);
  return {
    runner: runner.id,
    runs_on: [...runner.runsOn],
    requirement: verdict.requirement,
    mode: policy.mode,
    reasons,
    truncated: changes.truncated,
    files_known: changes.known,
    files_count: changes.files.length,
    satisfiable,
    environment: verdict.environment,
    rule: verdict.rule,
    arm: null,
  };
}

function classify(input: RoutingInput, infos: PathInfo[], policy: CompiledPolicy, reasons: string[]): Verdict {
  for (const requirement of ["gpu", "docker"] as const) {
    const hit = firstHit(infos, policy.byRequirement[requirement]);
    if (hit) {
      reasons.push(`${hit.path} matches "${hit.pattern}" (rule ${hit.rule.id}) → ${requirement}`);
      return { requirement, rule: hit.rule.id, environment: null };
    }
  }

  const deploy = deployVerdict(input, infos, policy, reasons);
  if (deploy) return deploy;

  const light = policy.byRequirement.lightweight;
  if (!input.changes.known || input.changes.truncated) {
    reasons.push("no gpu or docker file among those listed → default");
    return { requirement: "default", rule: null, environment: null };
  }
  if (infos.length === 0) {
    reasons.push("no changed files listed: nothing shows the build is lightweight → default");
    return { requirement: "default", rule: null, environment: null };
  }
  // Which pattern each file matched, grouped: count and first file, in order of first use.
  const groups = new Map<string, { pattern: string; rule: Rule; count: number; example: string }>();
  for (const info of infos) {
    const hit = light.firstMatch(info);
    if (hit === null) {
      reasons.push(`${info.path} matches no lightweight rule → default`);
      return { requirement: "default", rule: null, environment: null };
    }
    const key = `${hit.tag.id}\n${hit.pattern}`;
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { pattern: hit.pattern, rule: hit.tag, count: 1, example: info.path });
  }
  reasons.push(lightweightReason(infos.length, [...groups.values()]));
  const first = groups.values().next().value;
  return { requirement: "lightweight", rule: first?.rule.id ?? null, environment: null };
}

/** Most pattern groups a lightweight reason names; the rest are counted. */
const MAX_GROUPS_NAMED = 5;

function lightweightReason(n: number, groups: { pattern: string; rule: Rule; count: number; example: string }[]) {
  const [only] = groups;
  if (n === 1 && only)
    return `${only.example} matches "${only.pattern}" (rule ${only.rule.id}), the only changed file → lightweight`;
  const named = groups
    .slice(0, MAX_GROUPS_NAMED)
    .map((g) => `${g.count} × "${g.pattern}" (rule ${g.rule.id}, e.g. ${g.example})`);
  const rest = groups.length - MAX_GROUPS_NAMED;
  if (rest > 0) named.push(`${rest} more pattern${rest === 1 ? "" : "s"}`);
  return `all ${n} changed files match lightweight rules: ${named.join(", ")} → lightweight`;
}

function firstHit(infos: PathInfo[], globs: GlobSet<Rule>) {
  if (globs.size === 0) return null;
  for (const info of infos) {
    const hit = globs.firstMatch(info);
    if (hit) return { path: info.path, pattern: hit.pattern, rule: hit.tag };
  }
  return null;
}

function deployVerdict(
  input: RoutingInput,
  infos: PathInfo[],
  policy: CompiledPolicy,
  reasons: string[],
): Verdict | null {
  if (input.event === "workflow_dispatch" && input.environment) {
    reasons.push(`workflow_dispatch names environment "${input.environment}" → deploy`);
    return { requirement: "deploy", rule: null, environment: input.environment };
  }
  if (!DEPLOYING_EVENTS.has(input.event) || input.ref === null) return null;
  const target = policy.deployRefs.find((d) => d.test(input.ref ?? ""));
  if (target === undefined) return null;
  if (input.ref.startsWith("refs/tags/")) {
    reasons.push(`tag ${input.ref} matches deploy ref "${target.ref}" → deploy to ${target.environment}`);
    return { requirement: "deploy", rule: null, environment: target.environment };
  }
  for (const info of infos) {
    const hit = policy.deployPaths.firstMatch(info);
    if (hit) {
      reasons.push(
        `${input.ref} is a deploy ref ("${target.ref}", ${target.environment}) and ${info.path} matches "${hit.pattern}" → deploy`,
      );
      return { requirement: "deploy", rule: null, environment: target.environment };
    }
  }
  reasons.push(`${input.ref} is a deploy ref but no changed file matches the deploy paths`);
  return null;
}

function applyMode(
  requirement: Requirement,
  policy: RoutingPolicy,
  reasons: string[],
): { runner: Runner; satisfiable: boolean } {
  const assigned = runnerById(policy, policy.assign[requirement]);
  switch (policy.mode) {
    case "hybrid":
      return { runner: assigned, satisfiable: true };
    case "self-hosted-only": {
      if (assigned.kind !== "github-hosted") return { runner: assigned, satisfiable: true };
      const runner = runnerById(policy, policy.assign.default);
      reasons.push(`self-hosted-only: ${requirement} moved from ${assigned.id} to ${runner.id}`);
      return { runner, satisfiable: true };
    }
    case "cloudflare-only": {
      const runner = hostedRunner(policy) ?? assigned;
      const satisfiable = requirement !== "gpu" && requirement !== "deploy";
      if (!satisfiable) {
        reasons.push(
          `cloudflare-only: ${requirement} cannot be met on ${runner.id}; routed there and flagged unsatisfiable`,
        );
      } else if (runner.id !== assigned.id) {
        reasons.push(`cloudflare-only: ${requirement} moved from ${assigned.id} to ${runner.id}`);
      }
      return { runner, satisfiable };
    }
  }
}

function runnerById(policy: RoutingPolicy, id: string): Runner {
  const runner = policy.runners[id];
  // parseRoutingConfig guarantees every assigned runner exists; a hand-built policy may not.
  if (runner === undefined) throw new Error(`routing policy assigns unknown runner "${id}"`);
  return runner;
}

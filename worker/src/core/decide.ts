import { hostedRunner } from "./config.ts";
import { deployRefOf } from "./deploy.ts";
import { type GlobEntry, GlobSet, pathView } from "./globset.ts";
import type { Decision, Requirement, RoutingInput, RoutingPolicy, Rule, Runner } from "./types.ts";

type PatternRequirement = Rule["requirement"];

/** The groups of a policy's glob set: what each pattern answers for. */
const GROUP = { gpu: 0, docker: 1, deploy: 2, lightweight: 3 } as const;

/** A policy compiled for matching: every path pattern in one glob set, built once per policy. */
export interface CompiledPolicy {
  /** Rule patterns under their requirement's group, the deploy paths under `deploy` (tag null). */
  globs: GlobSet<Rule | null>;
  deployPaths: number;
}

const compiled = new WeakMap<RoutingPolicy, CompiledPolicy>();

export function compilePolicy(policy: RoutingPolicy): CompiledPolicy {
  const cached = compiled.get(policy);
  if (cached) return cached;
  const patterns = [
    ...policy.rules.flatMap((rule) =>
      rule.patterns.map((pattern) => ({ pattern, tag: rule, group: GROUP[rule.requirement as PatternRequirement] })),
    ),
    ...policy.deploy.paths.map((pattern) => ({ pattern, tag: null, group: GROUP.deploy })),
  ];
  const result: CompiledPolicy = {
    globs: new GlobSet<Rule | null>(patterns, 4),
    deployPaths: policy.deploy.paths.length,
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

/** The decision tree, then the mode. Pure: same input and policy, same decision. */
export function decide(input: RoutingInput, policy: RoutingPolicy): Decision {
  const { changes } = input;
  const reasons: string[] = [];
  if (!changes.known) reasons.push(`changed files unknown (${changes.notes.join("; ") || changes.source})`);
  if (changes.truncated) {
    reasons.push(`file list truncated by GitHub (${changes.notes.join("; ")}): never routed as lightweight`);
  }
  const verdict = classify(input, policy, reasons);
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

type Hit = { path: string; pattern: string; rule: Rule };
type LightGroup = { pattern: string; rule: Rule; count: number; example: string };

/**
 * The tree's branches over the changed files, in one pass: each file is split once and looked
 * up once for every group of patterns (a gpu file ends the pass; the first docker file, deploy
 * path and not-lightweight file are noted as they come).
 */
function classify(input: RoutingInput, routing: RoutingPolicy, reasons: string[]): Verdict {
  const policy = compilePolicy(routing);
  const target = deployTarget(input, routing);
  const complete = input.changes.known && !input.changes.truncated;
  const lookForDeploy = target !== null && !target.tag && policy.deployPaths > 0;
  let dockerHit: Hit | null = null;
  let deployHit: { path: string; pattern: string } | null = null;
  let notLight: string | null = null;
  const groups = new Map<GlobEntry<Rule | null>, LightGroup>();
  for (const path of input.changes.files) {
    const hits = policy.globs.firstMatches(pathView(path));
    const gpu = hits[GROUP.gpu];
    if (gpu?.tag) {
      reasons.push(`${path} matches "${gpu.pattern}" (rule ${gpu.tag.id}) → gpu`);
      return { requirement: "gpu", rule: gpu.tag.id, environment: null };
    }
    const docker = hits[GROUP.docker];
    if (dockerHit === null && docker?.tag) dockerHit = { path, pattern: docker.pattern, rule: docker.tag };
    const deploy = hits[GROUP.deploy];
    if (lookForDeploy && deployHit === null && deploy) deployHit = { path, pattern: deploy.pattern };
    if (!complete || notLight !== null) continue;
    const light = hits[GROUP.lightweight];
    if (!light?.tag) {
      notLight = path;
      continue;
    }
    const group = groups.get(light);
    if (group) group.count++;
    else groups.set(light, { pattern: light.pattern, rule: light.tag, count: 1, example: path });
  }
  if (dockerHit !== null) {
    reasons.push(`${dockerHit.path} matches "${dockerHit.pattern}" (rule ${dockerHit.rule.id}) → docker`);
    return { requirement: "docker", rule: dockerHit.rule.id, environment: null };
  }

  const deploy = deployVerdict(input, target, deployHit, reasons);
  if (deploy) return deploy;

  if (!complete) {
    reasons.push("no gpu or docker file among those listed → default");
    return { requirement: "default", rule: null, environment: null };
  }
  if (input.changes.files.length === 0) {
    reasons.push("no changed files listed: nothing shows the build is lightweight → default");
    return { requirement: "default", rule: null, environment: null };
  }
  if (notLight !== null) {
    reasons.push(`${notLight} matches no lightweight rule → default`);
    return { requirement: "default", rule: null, environment: null };
  }
  reasons.push(lightweightReason(input.changes.files.length, [...groups.values()]));
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

interface DeployTarget {
  ref: string;
  pattern: string;
  environment: string;
  /** A tag push deploys whatever it touches. */
  tag: boolean;
}

/** The deploy ref an event targets, if any. */
function deployTarget(input: RoutingInput, policy: RoutingPolicy): DeployTarget | null {
  if (!DEPLOYING_EVENTS.has(input.event) || input.ref === null) return null;
  const ref = input.ref;
  const target = deployRefOf(policy.deploy, ref);
  if (target === null) return null;
  return { ref, pattern: target.ref, environment: target.environment, tag: ref.startsWith("refs/tags/") };
}

function deployVerdict(
  input: RoutingInput,
  target: DeployTarget | null,
  hit: { path: string; pattern: string } | null,
  reasons: string[],
): Verdict | null {
  if (input.event === "workflow_dispatch" && input.environment) {
    reasons.push(`workflow_dispatch names environment "${input.environment}" → deploy`);
    return { requirement: "deploy", rule: null, environment: input.environment };
  }
  if (target === null) return null;
  if (target.tag) {
    reasons.push(`tag ${target.ref} matches deploy ref "${target.pattern}" → deploy to ${target.environment}`);
    return { requirement: "deploy", rule: null, environment: target.environment };
  }
  if (hit) {
    reasons.push(
      `${target.ref} is a deploy ref ("${target.pattern}", ${target.environment}) and ${hit.path} matches "${hit.pattern}" → deploy`,
    );
    return { requirement: "deploy", rule: null, environment: target.environment };
  }
  reasons.push(`${target.ref} is a deploy ref but no changed file matches the deploy paths`);
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

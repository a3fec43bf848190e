import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { ROOT } from "../../scripts/bundle.ts";

/**
 * Runs the real Pulumi program (infra/router.ts) under `pulumi.runtime.setMocks`, the way
 * `pulumi up` would run it, and records what it declares: every resource with its inputs (secret
 * inputs stay marked), the resources it waits for, every provider function it calls, and the
 * stack outputs. Nothing talks to Cloudflare or GitHub.
 */

export const PROJECT = "pmoves-ci-orchestrator";
export const STACKS = ["staging", "production"] as const;

export const TYPES = {
  kv: "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
  script: "cloudflare:index/workersScript:WorkersScript",
  subdomain: "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain",
  customDomain: "cloudflare:index/workersCustomDomain:WorkersCustomDomain",
  webhook: "github:index/repositoryWebhook:RepositoryWebhook",
  variable: "github:index/actionsVariable:ActionsVariable",
  secret: "github:index/actionsSecret:ActionsSecret",
  runnerGroup: "github:index/actionsRunnerGroup:ActionsRunnerGroup",
  cronTrigger: "cloudflare:index/workersCronTrigger:WorkersCronTrigger",
  password: "random:index/randomPassword:RandomPassword",
  githubProvider: "pulumi:providers:github",
} as const;

const CALLS = {
  getRepository: "github:index/getRepository:getRepository",
  getWorkersScripts: "cloudflare:index/getWorkersScripts:getWorkersScripts",
} as const;

/** A value as the engine received it: secret inputs arrive wrapped, and stay recognisable here. */
const SIG_KEY = pulumi.runtime.specialSigKey;
const SECRET_SIG = pulumi.runtime.specialSecretSig;

export interface Revealed<T = unknown> {
  secret: boolean;
  value: T;
}

/** Unwraps an input value, saying whether the program marked it secret. */
export function reveal<T = unknown>(input: unknown): Revealed<T> {
  if (typeof input === "object" && input !== null && (input as Record<string, unknown>)[SIG_KEY] === SECRET_SIG) {
    return { secret: true, value: (input as { value: T }).value };
  }
  return { secret: false, value: input as T };
}

export interface DeclaredResource {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, unknown>;
  /** Names of the resources it waits for (explicit `dependsOn` and inputs from other resources). */
  dependsOn: string[];
}

export interface Binding {
  type: string;
  name: string;
  text?: string;
  namespaceId?: string;
  className?: string;
}

export interface ProgramRun {
  stack: string;
  resources: DeclaredResource[];
  calls: { token: string; inputs: Record<string, unknown> }[];
  /** Resolved stack outputs; null when the program failed. */
  outputs: Record<string, unknown> | null;
  /** Names of the stack outputs the program marked secret. */
  secretOutputs: string[];
  error: Error | null;
}

export interface RunOptions {
  /** Scripts the account already has, as `getWorkersScripts` reports them. */
  deployedScripts?: { id: string; migrationTag?: string }[];
}

/** The `config:` map of Pulumi.<stack>.yaml as committed, values as YAML gives them. */
export function stackFileConfig(stack: string): Record<string, unknown> {
  const file = parse(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as { config?: Record<string, unknown> };
  return { ...file.config };
}

/** Key `<project>:<key>` for the project's own config. */
export const key = (name: string) => `${PROJECT}:${name}`;

/** The owner the committed stack files onboard repositories of, until it is replaced. */
export const PLACEHOLDER_OWNER = "your-org";

/** What a user's stack holds where the committed stack files hold placeholders. */
export const REAL_VALUES = {
  cloudflareAccountId: "8c1b7e4a2f9d43a6b5e0c7d2a1f3e9b4",
  workersSubdomain: "acme",
  githubOwner: "acme",
} as const;

/**
 * A stack file's config with its placeholders replaced, the way a user's stack holds it:
 * {@link REAL_VALUES}, and the onboarded repositories moved from the placeholder owner to
 * `REAL_VALUES.githubOwner`.
 */
export function deployableConfig(stack: string): Record<string, unknown> {
  const config = { ...stackFileConfig(stack) };
  for (const [name, value] of Object.entries(REAL_VALUES)) config[key(name)] = value;
  const repositories = (config[key("repositories")] ?? {}) as Record<string, unknown>;
  config[key("repositories")] = Object.fromEntries(
    Object.entries(repositories).map(([fullName, override]) => [
      fullName.replace(new RegExp(`^${PLACEHOLDER_OWNER}/`, "i"), `${REAL_VALUES.githubOwner}/`),
      override,
    ]),
  );
  return config;
}

/** Config values the way the Pulumi engine hands them to a program: strings, objects as JSON text. */
export function engineConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => [name, typeof value === "string" ? value : JSON.stringify(value)]),
  );
}

/** The fake repository id GitHub would report for a repository. */
export function repoIdOf(fullName: string): number {
  return Number.parseInt(createHash("sha256").update(fullName.toLowerCase()).digest("hex").slice(0, 8), 16);
}

/** The fake value `random.RandomPassword` produces for a resource name. */
export const passwordOf = (stack: string, name: string) => `mock-${stack}-${name}`;

export async function runProgram(
  stack: string,
  config: Record<string, unknown>,
  options: RunOptions = {},
): Promise<ProgramRun> {
  const resources: DeclaredResource[] = [];
  const calls: ProgramRun["calls"] = [];
  const dependencies = new Map<string, string[]>();

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const urn = `urn:pulumi:${stack}::${PROJECT}::${args.type}::${args.name}`;
        resources.push({
          type: args.type,
          name: args.name,
          urn,
          inputs: args.inputs,
          dependsOn: (dependencies.get(urn) ?? []).map((dep) => dep.split("::").at(-1) ?? dep),
        });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === TYPES.password) state.result = passwordOf(stack, args.name);
        if (args.type === TYPES.kv) return { id: `kv-${String(args.inputs.title)}`, state };
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        calls.push({ token: args.token, inputs: args.inputs });
        if (args.token === CALLS.getRepository) {
          const fullName = String(args.inputs.fullName);
          return { fullName, name: fullName.split("/")[1], repoId: repoIdOf(fullName), nodeId: `R_${fullName}` };
        }
        if (args.token === CALLS.getWorkersScripts) return { results: options.deployedScripts ?? [] };
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    PROJECT,
    stack,
  );
  // The mock monitor hands `newResource` no options; the registration request carries the
  // dependency URNs the engine would order by, so record them from there.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, callback: unknown): unknown;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    dependencies.set(`urn:pulumi:${stack}::${PROJECT}::${req.getType()}::${req.getName()}`, req.getDependenciesList());
    return register(req, callback);
  };
  pulumi.runtime.setAllConfig(engineConfig(config));

  const { createRouter } = await import("../../infra/router.ts");
  let outputs: Record<string, unknown> | null = null;
  const secretOutputs: string[] = [];
  let error: Error | null = null;
  try {
    const declared = await createRouter();
    for (const [name, value] of Object.entries(declared)) {
      if (await pulumi.isSecret(pulumi.output(value))) secretOutputs.push(name);
    }
    outputs = await new Promise((resolve) => {
      pulumi.output(declared as unknown as Record<string, pulumi.Input<unknown>>).apply((value) => {
        resolve(value as Record<string, unknown>);
        return value;
      });
    });
  } catch (caught) {
    error = caught instanceof Error ? caught : new Error(String(caught));
  }
  await pulumi.runtime.disconnect();
  return { stack, resources, calls, outputs, secretOutputs, error };
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDependenciesList(): string[];
}

/**
 * Runs a stack's own Pulumi.<stack>.yaml with its placeholders replaced
 * ({@link deployableConfig}), optionally changed by `edit`.
 */
export function runStack(
  stack: string,
  edit: (config: Record<string, unknown>) => void = () => {},
  options?: RunOptions,
): Promise<ProgramRun> {
  const config = deployableConfig(stack);
  edit(config);
  return runProgram(stack, config, options);
}

/** The run's outputs; fails the test with the program's own error when it did not finish. */
export function succeeded(run: ProgramRun): Record<string, unknown> {
  if (run.error !== null || run.outputs === null) throw run.error ?? new Error("the program produced no outputs");
  return run.outputs;
}

export function ofType(run: ProgramRun, type: string): DeclaredResource[] {
  return run.resources.filter((r) => r.type === type);
}

export function only(run: ProgramRun, type: string): DeclaredResource {
  const found = ofType(run, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as DeclaredResource;
}

/** The Worker's bindings, by name, with whether the binding list was sent as a secret. */
export function workerBindings(run: ProgramRun): { secret: boolean; byName: Map<string, Binding> } {
  const { secret, value } = reveal<Binding[]>(only(run, TYPES.script).inputs.bindings);
  return { secret, byName: new Map(value.map((binding) => [binding.name, binding])) };
}

/** Sorted `type::name` of every declared resource: the identity Pulumi diffs by. */
export function identities(run: ProgramRun): string[] {
  return run.resources.map((r) => `${r.type}::${r.name}`).sort();
}

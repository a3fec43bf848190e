/**
 * Data and the reference answer for the routing benchmark (`npm run bench`).
 *
 * `benchData()` builds, deterministically from a seed, a rule set of 200 rules written the way
 * users write them (every pattern shape the router knows, plus general globs) and 3,000
 * repository paths chosen so that a decision has to look at everything: no file needs a gpu or
 * docker runner, and every file is lightweight except the last one.
 *
 * `baselineDecide()` is the straightforward way to reach the same answer: every file against
 * every pattern, each pattern a precompiled picomatch matcher. The benchmark times it against
 * `decide()`, and the tests check that both always agree.
 */

import picomatch from "picomatch";
import { changesFromList } from "../worker/src/core/changes.ts";
import { DEFAULT_RULES } from "../worker/src/core/defaults.ts";
import { mulberry32 } from "../worker/src/core/random.ts";

/** The options the router's globs follow picomatch with. */
const GLOB_OPTIONS = { dot: true };

import type { Decision, RoutingInput, Rule } from "../worker/src/core/types.ts";

export const DEFAULT_SEED = 20_240_601;
export const RULE_COUNT = 200;
export const FILE_COUNT = 3000;

/** A path every generated rule set routes to gpu (`**\/*-gpu/**`, `**\/*.cu`). */
export const GPU_FILE = "ml/llama-gpu/kernels/attention.cu";
/** A path every generated rule set routes to docker (`**\/Dockerfile`). */
export const DOCKER_FILE = "apps/gateway/Dockerfile";
/** The one file of the generated change that no rule covers: it makes the change `default`. */
export const LAST_FILE = "apps/gateway/cmd/server/main.go";

/** A small seeded PRNG (the core's), so every run benchmarks the same data. */
export { mulberry32 };

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new RangeError("pick from an empty list");
  return item;
}

function shuffle<T>(random: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rules

const MODELS = ["llama", "mistral", "whisper", "clip", "sdxl", "bert", "t5", "yolo", "sam", "gemma", "phi", "qwen"];
const SERVICES = [
  "gateway",
  "api",
  "web",
  "admin",
  "worker",
  "ingest",
  "reports",
  "mailer",
  "scheduler",
  "realtime",
  "search-api",
  "billing-api",
  "auth-api",
  "media",
  "exporter",
];
const PACKAGES = [
  "core",
  "cli",
  "ui",
  "auth",
  "billing",
  "search",
  "analytics",
  "notifications",
  "payments",
  "router",
  "sdk",
  "config",
  "logger",
  "metrics",
  "storage",
  "scheduler",
  "webhooks",
  "i18n",
  "design-system",
  "forms",
];

/** The default rules' patterns first, then the shapes real rule sets add. */
const GPU_PATTERNS = [
  "**/*.cu",
  "**/*.cuh",
  "**/Dockerfile.gpu",
  "**/*-gpu/**",
  "**/ollama/**",
  ...["ptx", "cubin", "fatbin", "onnx", "safetensors", "gguf", "ggml", "trt", "engine", "pt"].map((e) => `**/*.${e}`),
  ...["pth", "ckpt", "tflite", "mlmodel", "metal", "hip", "cuf", "nvvm", "plan", "npz"].map((e) => `**/*.${e}`),
  ...["cuda", "triton", "tensorrt", "cudnn", "nccl", "vllm", "rocm", "onnxruntime", "flash-attn", "cutlass", "llm"].map(
    (s) => `**/${s}/**`,
  ),
  "**/inference-server/**",
  ...["models", "kernels", "ml/training", "ml/inference", "ml/eval", "ai/finetune", "ai/embeddings"].map(
    (d) => `${d}/**`,
  ),
  "third_party/cutlass/**",
  "third_party/flash-attention/**",
  "research/gpu-bench/**",
  ...["Dockerfile.cuda", "environment-gpu.yml", "cuda-version.txt", "gpu-requirements.txt", "Modelfile"].map(
    (b) => `**/${b}`,
  ),
  "**/nvidia-container.toml",
  "**/ollama.yaml",
  ".github/workflows/gpu.yml",
  "ml/gpu.lock",
  "config/cuda.json",
  "scripts/train.sh",
  "scripts/benchmark-gpu.sh",
  "**/*-cuda/**",
  "**/requirements-gpu*.txt",
  "**/*.gpu.{yml,yaml}",
  "**/gpu-*.{json,yaml}",
  "**/train_*.py",
  "ml/**/*.ipynb",
  "**/*.{cu,cuh}.in",
  ...MODELS.flatMap((m) => [`ml/${m}/weights/**`, `**/${m}-gpu/**`, `**/${m}.onnx`, `ml/${m}/**/*.py`]),
];

const DOCKER_PATTERNS = [
  "services/**",
  "**/Dockerfile",
  "**/Dockerfile.*",
  "**/docker-compose*.yml",
  "**/docker-compose*.yaml",
  ...["docker", "containers", "infra/images", "images", "charts", "helm", "deploy/compose", "k8s/base"].map(
    (d) => `${d}/**`,
  ),
  "k8s/overlays/**",
  ".devcontainer/**",
  ...[".dockerignore", "docker-bake.hcl", "Containerfile", "compose.yaml", "compose.yml", "docker-entrypoint.sh"].map(
    (b) => `**/${b}`,
  ),
  "**/supervisord.conf",
  "**/Procfile",
  "**/skaffold.yaml",
  "**/Tiltfile",
  "**/*.dockerfile",
  "**/*.containerfile",
  "**/*.Dockerfile",
  "**/*.dockerignore",
  ...["docker", "compose", "containers", "helm-charts", "kustomize"].map((s) => `**/${s}/**`),
  "Makefile.docker",
  ".hadolint.yaml",
  "scripts/docker-build.sh",
  "scripts/push-images.sh",
  "nginx/nginx.conf",
  "**/Dockerfile-*",
  "**/compose.*.yaml",
  "**/*-image/**",
  "{api,web,worker}/Dockerfile*",
  "**/docker-*.sh",
  "**/*.dockerfile.*",
  "infra/**/Dockerfile*",
  ...SERVICES.flatMap((s) => [
    `apps/${s}/Dockerfile`,
    `apps/${s}/docker/**`,
    `**/${s}.Dockerfile`,
    `deploy/${s}/*.compose.yml`,
    `apps/${s}/container/**`,
    `**/${s}-entrypoint.sh`,
  ]),
];

/** The default rules' patterns of one requirement, as every generated rule set starts. */
function defaultPatterns(requirement: string): string[] {
  return DEFAULT_RULES.filter((rule) => rule.requirement === requirement).flatMap((rule) => rule.patterns);
}

const LIGHTWEIGHT_PATTERNS = [
  ...defaultPatterns("lightweight"),
  ...["mdx", "rst", "adoc", "snap", "svg", "drawio", "puml", "excalidraw"].map((e) => `**/*.${e}`),
  ...[".github/ISSUE_TEMPLATE", ".github/PULL_REQUEST_TEMPLATE", ".changeset", "examples", "website/blog"].map(
    (d) => `${d}/**`,
  ),
  "design/mockups/**",
  ".vscode/**",
  ...["__snapshots__", "fixtures", "__mocks__", "locales", "testdata", "e2e", "stories", "docs"].map(
    (s) => `**/${s}/**`,
  ),
  ...["CODEOWNERS", "CHANGELOG", "AUTHORS", "NOTICE", ".gitignore", ".gitattributes", ".npmrc", ".nvmrc"].map(
    (b) => `**/${b}`,
  ),
  "**/cspell.json",
  "**/.markdownlint.json",
  "**/renovate.json",
  "**/typos.toml",
  "CONTRIBUTING",
  "SECURITY",
  "mkdocs.yml",
  ".github/dependabot.yml",
  ".github/FUNDING.yml",
  "netlify.toml",
  "vercel.json",
  "**/*.spec.*",
  "**/*.stories.{ts,tsx,js,jsx,mdx}",
  "**/*.{png,jpg,gif,webp}",
  "**/.*rc",
  "**/*.e2e.*",
  "**/test_*.py",
  "i18n/**/*.json",
  "**/.github/*.md",
  ...PACKAGES.flatMap((p) => [
    `packages/${p}/docs/**`,
    `packages/${p}/README.md`,
    `packages/${p}/CHANGELOG.md`,
    `packages/${p}/**/*.bench.ts`,
    `packages/${p}/examples/**`,
  ]),
];

/** How many of the 200 rules serve each requirement. */
const RULES_PER_REQUIREMENT = { gpu: 50, docker: 70, lightweight: 80 } as const;

/**
 * Spreads a requirement's patterns over `count` rules: every rule gets at least one pattern,
 * the rest are dealt at random (the default rules' patterns land in the lowest-numbered rules).
 */
function rulesFor(
  random: Random,
  requirement: Rule["requirement"],
  patterns: readonly string[],
  count: number,
): Rule[] {
  if (new Set(patterns).size !== patterns.length) throw new Error(`duplicate ${requirement} pattern`);
  if (patterns.length < count) throw new Error(`${requirement}: ${patterns.length} patterns for ${count} rules`);
  const sizes = new Array<number>(count).fill(1);
  for (let extra = patterns.length - count; extra > 0; extra--) {
    const i = Math.floor(random() * count);
    sizes[i] = (sizes[i] ?? 1) + 1;
  }
  const rules: Rule[] = [];
  let next = 0;
  sizes.forEach((size, i) => {
    rules.push({ id: `${requirement}-${String(i + 1).padStart(3, "0")}`, requirement, patterns: [] });
    for (let j = 0; j < size; j++) rules[i]?.patterns.push(patterns[next++] as string);
  });
  return rules;
}

// ---------------------------------------------------------------------------------------------
// Files

const MODULES = ["components", "hooks", "utils", "api", "state", "routes", "lib", "handlers", "middleware", "schema"];
const NAMES = [
  "button",
  "modal",
  "table",
  "parser",
  "client",
  "session",
  "token",
  "cache",
  "queue",
  "retry",
  "format",
  "validate",
  "store",
  "theme",
  "layout",
  "input",
  "select",
  "tooltip",
  "pagination",
  "invoice",
  "receipt",
  "ledger",
  "profile",
  "avatar",
  "upload",
  "export",
  "search-box",
  "filter",
  "date-range",
  "currency",
];
const DOC_SECTIONS = ["guides", "reference", "architecture", "operations", "adr", "tutorials", "api", "runbooks"];
const LANGS = ["en", "de", "fr", "es", "ja", "pt-BR", "zh-CN", "ko", "it", "nl"];
const EXAMPLES = ["basic", "with-auth", "nextjs", "express", "vite", "monorepo", "edge", "streaming"];
const APPS = ["gateway", "api", "web", "admin", "ingest", "reports", "mailer", "scheduler"];

/** Lightweight paths of the shapes a monorepo's changes have; each covered by a lightweight pattern. */
const TEMPLATES: { weight: number; make: (r: Random) => string }[] = [
  { weight: 8, make: (r) => `docs/${pick(r, DOC_SECTIONS)}/${pick(r, NAMES)}-${pick(r, MODULES)}.md` },
  { weight: 5, make: (r) => `docs/${pick(r, DOC_SECTIONS)}/img/${pick(r, NAMES)}-${Math.floor(r() * 40)}.png` },
  { weight: 10, make: (r) => `packages/${pick(r, PACKAGES)}/src/${pick(r, MODULES)}/${pick(r, NAMES)}.test.ts` },
  { weight: 6, make: (r) => `packages/${pick(r, PACKAGES)}/src/${pick(r, MODULES)}/${pick(r, NAMES)}.spec.tsx` },
  {
    weight: 5,
    make: (r) => `packages/${pick(r, PACKAGES)}/src/${pick(r, MODULES)}/__snapshots__/${pick(r, NAMES)}.tsx.snap`,
  },
  { weight: 3, make: (r) => `packages/${pick(r, PACKAGES)}/src/${pick(r, MODULES)}/__mocks__/${pick(r, NAMES)}.ts` },
  { weight: 4, make: (r) => `packages/${pick(r, PACKAGES)}/src/${pick(r, MODULES)}/${pick(r, NAMES)}.stories.tsx` },
  { weight: 3, make: (r) => `packages/${pick(r, PACKAGES)}/src/${pick(r, MODULES)}/${pick(r, NAMES)}.bench.ts` },
  { weight: 3, make: (r) => `packages/${pick(r, PACKAGES)}/docs/${pick(r, NAMES)}.mdx` },
  { weight: 2, make: (r) => `packages/${pick(r, PACKAGES)}/examples/${pick(r, EXAMPLES)}/index.ts` },
  { weight: 3, make: (r) => `packages/${pick(r, PACKAGES)}/test/fixtures/${pick(r, NAMES)}.json` },
  { weight: 6, make: (r) => `apps/${pick(r, APPS)}/internal/${pick(r, MODULES)}/${pick(r, NAMES)}_test.go` },
  { weight: 3, make: (r) => `apps/${pick(r, APPS)}/internal/${pick(r, MODULES)}/testdata/${pick(r, NAMES)}.golden` },
  { weight: 4, make: (r) => `tests/${pick(r, MODULES)}/test_${pick(r, NAMES).replace("-", "_")}.py` },
  { weight: 3, make: (r) => `python/${pick(r, PACKAGES)}/tests/test_${pick(r, NAMES).replace("-", "_")}.py` },
  { weight: 3, make: (r) => `test/e2e/${pick(r, MODULES)}/${pick(r, NAMES)}.e2e.ts` },
  { weight: 4, make: (r) => `i18n/locales/${pick(r, LANGS)}/${pick(r, MODULES)}-${pick(r, NAMES)}.json` },
  { weight: 2, make: (r) => `.changeset/${pick(r, NAMES)}-${pick(r, MODULES)}-${Math.floor(r() * 1000)}.md` },
  { weight: 2, make: (r) => `examples/${pick(r, EXAMPLES)}/src/${pick(r, NAMES)}.ts` },
  { weight: 2, make: (r) => `website/blog/2024-${1 + Math.floor(r() * 12)}-${pick(r, NAMES)}.mdx` },
  { weight: 1, make: (r) => `design/mockups/${pick(r, NAMES)}-${pick(r, MODULES)}.fig` },
  { weight: 1, make: (r) => `packages/${pick(r, PACKAGES)}/${pick(r, ["README.md", "CHANGELOG.md", "NOTICE"])}` },
  { weight: 1, make: (r) => `apps/${pick(r, APPS)}/${pick(r, [".eslintrc.json", ".prettierrc", ".nvmrc", ".npmrc"])}` },
];

/** Root files that appear once in a change. */
const ROOT_FILES = ["LICENSE", "LICENSE-APACHE", ".editorconfig", ".github/CODEOWNERS", "CONTRIBUTING", "biome.json"];

function lightweightFiles(random: Random, count: number): string[] {
  const total = TEMPLATES.reduce((sum, t) => sum + t.weight, 0);
  const files = new Set<string>(ROOT_FILES);
  for (let guard = 0; files.size < count; guard++) {
    if (guard > count * 100) throw new Error("could not generate enough distinct paths");
    let roll = random() * total;
    const template = TEMPLATES.find((t) => (roll -= t.weight) < 0) ?? TEMPLATES[0];
    if (template) files.add(template.make(random));
  }
  return shuffle(random, [...files]).slice(0, count);
}

// ---------------------------------------------------------------------------------------------

export interface BenchData {
  /** Exactly `RULE_COUNT` rules, in the order the policy lists them. */
  rules: Rule[];
  /** `FILE_COUNT` distinct paths: all lightweight, none gpu or docker, except `LAST_FILE` at the end. */
  files: string[];
}

/** The benchmark's rules and changed files, the same for the same seed. */
export function benchData(seed = DEFAULT_SEED): BenchData {
  const random = mulberry32(seed);
  const rules = shuffle(random, [
    ...rulesFor(random, "gpu", GPU_PATTERNS, RULES_PER_REQUIREMENT.gpu),
    ...rulesFor(random, "docker", DOCKER_PATTERNS, RULES_PER_REQUIREMENT.docker),
    ...rulesFor(random, "lightweight", LIGHTWEIGHT_PATTERNS, RULES_PER_REQUIREMENT.lightweight),
  ]);
  const files = [...lightweightFiles(random, FILE_COUNT - 1), LAST_FILE];
  return { rules, files };
}

/** The shape `GlobSet` files a pattern under (for the benchmark's report only). */
export function patternShape(pattern: string): "suffix" | "segment" | "base" | "prefix" | "exact" | "general" {
  const literal = (s: string) => s.length > 0 && !/[*?[\]{}()!+@\\]/.test(s);
  const single = (s: string) => literal(s) && !s.includes("/");
  let m: RegExpExecArray | null;
  if ((m = /^\*\*\/\*\.([^/]+)$/.exec(pattern)) && single(m[1] ?? "")) return "suffix";
  if ((m = /^\*\*\/([^/]+)\/\*\*$/.exec(pattern)) && single(m[1] ?? "")) return "segment";
  if ((m = /^\*\*\/([^/]+)$/.exec(pattern)) && single(m[1] ?? "")) return "base";
  if ((m = /^(.+)\/\*\*$/.exec(pattern)) && literal(m[1] ?? "")) return "prefix";
  if (literal(pattern)) return "exact";
  return "general";
}

/** The input the benchmark routes: a pull request, so the deploy branch does not apply. */
export function benchInput(files: readonly string[]): RoutingInput {
  return {
    repository: "bench/monorepo",
    event: "pull_request",
    ref: "refs/pull/1/merge",
    sha: null,
    changes: changesFromList(files, Number.POSITIVE_INFINITY, "benchmark"),
  };
}

// ---------------------------------------------------------------------------------------------
// The baseline

type Matcher = { test: (path: string) => boolean; rule: string };

export interface Baseline {
  gpu: Matcher[];
  docker: Matcher[];
  lightweight: Matcher[];
}

/** One precompiled picomatch matcher per pattern, in the policy's order. */
export function compileBaseline(rules: readonly Rule[]): Baseline {
  const matchers = (requirement: Rule["requirement"]) =>
    rules
      .filter((rule) => rule.requirement === requirement)
      .flatMap((rule) => rule.patterns.map((pattern) => ({ test: picomatch(pattern, GLOB_OPTIONS), rule: rule.id })));
  return { gpu: matchers("gpu"), docker: matchers("docker"), lightweight: matchers("lightweight") };
}

export interface Verdict {
  requirement: "gpu" | "docker" | "lightweight" | "default";
  /** The file that decided: the first gpu/docker match, or the first file that is not lightweight. */
  file: string | null;
  /** The deciding rule: the matched rule, or for lightweight the rule of the first file. */
  rule: string | null;
}

/** The decision tree's pattern branches, the plain way: every file against every pattern. */
export function baselineDecide(files: readonly string[], baseline: Baseline): Verdict {
  for (const requirement of ["gpu", "docker"] as const) {
    const matchers = baseline[requirement];
    for (const file of files) {
      for (const matcher of matchers) {
        if (matcher.test(file)) return { requirement, file, rule: matcher.rule };
      }
    }
  }
  if (files.length === 0) return { requirement: "default", file: null, rule: null };
  let rule: string | null = null;
  for (const file of files) {
    let hit: string | null = null;
    for (const matcher of baseline.lightweight) {
      if (matcher.test(file)) {
        hit = matcher.rule;
        break;
      }
    }
    if (hit === null) return { requirement: "default", file, rule: null };
    rule ??= hit;
  }
  return { requirement: "lightweight", file: null, rule };
}

/** How `decision` differs from the baseline's `verdict`, or null when they agree. */
export function disagreement(decision: Decision, verdict: Verdict): string | null {
  const problems: string[] = [];
  if (decision.requirement !== verdict.requirement) {
    problems.push(`requirement: router ${decision.requirement}, baseline ${verdict.requirement}`);
  }
  if (decision.rule !== verdict.rule) problems.push(`rule: router ${decision.rule}, baseline ${verdict.rule}`);
  if (verdict.file !== null) {
    const expected =
      verdict.requirement === "default" ? `${verdict.file} matches no lightweight rule` : `${verdict.file} matches "`;
    if (!decision.reasons.some((reason) => reason.startsWith(expected))) {
      problems.push(`file: baseline ${verdict.file}, router reasons ${JSON.stringify(decision.reasons)}`);
    }
  }
  return problems.length === 0 ? null : problems.join("; ");
}

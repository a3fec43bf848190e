import fc from "fast-check";
import picomatch from "picomatch";
import { describe, expect, it } from "vitest";
import { DEFAULT_RULES } from "../../worker/src/core/defaults.ts";
import { GLOB_OPTIONS, GlobSet, globProblem, pathInfo } from "../../worker/src/core/index.ts";

/** What picomatch itself says: the index of the first pattern (insertion order) matching `path`, or -1. */
function expectedFirst(patterns: readonly string[], path: string): number {
  return patterns.findIndex((pattern) => picomatch(pattern, GLOB_OPTIONS)(path));
}

/** GlobSet's answer as an index, read from the tag so that duplicate patterns are told apart. */
function actualFirst(patterns: readonly string[], path: string): number {
  const set = new GlobSet(patterns.map((pattern, tag) => ({ pattern, tag })));
  return set.firstMatch(pathInfo(path))?.tag ?? -1;
}

const SEGMENTS = [
  "a",
  "b",
  "docs",
  "deploy",
  "services",
  "ollama",
  "x-gpu",
  "gpu",
  "md",
  "Dockerfile",
  "Dockerfile.gpu",
  "Dockerfile.dev",
  "docker-compose.yml",
  "docker-compose.prod.yml",
  "README.md",
  "a.md",
  ".md",
  "..md",
  "a..md",
  "notes.txt",
  "LICENSE",
  "LICENSE-MIT",
  "x.tar.gz",
  "tar.gz",
  "a.test.ts",
  ".editorconfig",
  ".github",
  "a-b",
  "-",
  "(g)",
  "[id].tsx",
  "@scope",
  ".",
  "..",
  "...",
  "",
] as const;

/** Segments that make sense inside a pattern's literal parts (no empty, `.` or `..` pieces). */
const PATTERN_SEGMENTS = SEGMENTS.filter((s) => s !== "" && s !== "." && s !== "..");
const EXTENSIONS = ["md", "txt", "cu", "gpu", "yml", "ts", "gz", "tar.gz", "test.ts", "github", ".md", "dev"] as const;
const GENERAL = [
  "LICENSE*",
  "**/*-gpu/**",
  "**/docker-compose*.yml",
  "{a,b}/**",
  "**/*.test.*",
  "**/Dockerfile.*",
  "*.md",
  "docs/*",
  "**/.eslintrc*",
  "a/**/b",
  "**",
  "*",
  "?.md",
  "**/[ab]/**",
  "deploy/**/*.yml",
] as const;

/** One segment's worth of glob, as `**\/G`, `**\/G/**` and scoped patterns use them. */
const globSegment = fc.oneof(
  fc.constantFrom(...PATTERN_SEGMENTS).map((s) => `*${s}`),
  fc.constantFrom(...PATTERN_SEGMENTS).map((s) => `${s}*`),
  fc.constantFrom("*", "?", "*.md", "x?y", "{a,b}", "{docs,.github}", "[ab]*", "*-gpu", "*.test.*", "a*b*c", ".*"),
);
/** General globs built from those: under `**\/`, a literal directory or nothing, with suffixes. */
const generatedGlob = fc
  .tuple(
    fc.constantFrom("", "**/", "docs/", "a/b/", "deploy/**/", ".github/"),
    globSegment,
    fc.constantFrom("", "/**", "/*.yml", "/**/*.md"),
  )
  .map(([head, glob, tail]) => head + glob + tail);

const segment = fc.constantFrom(...SEGMENTS);
const patternSegment = fc.constantFrom(...PATTERN_SEGMENTS);
const literalPath = fc.array(patternSegment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));

/** Patterns drawn from every fast-path shape, plus general globs that must go through picomatch. */
const pattern = fc.oneof(
  fc.constantFrom(...EXTENSIONS).map((ext) => `**/*.${ext}`),
  patternSegment.map((name) => `**/${name}`),
  literalPath.map((dir) => `${dir}/**`),
  patternSegment.map((seg) => `**/${seg}/**`),
  literalPath,
  fc.constantFrom(...GENERAL),
  generatedGlob,
  // Odd shapes: dot segments and empty segments in literal positions.
  fc.constantFrom("./a/**", "a/./b", "../a", "a//b", "**/./**", "./**", ".github/**", "**/.github/**"),
);

/** Paths with dots, dashes, dot-directories, `.`/`..`, empty segments and trailing slashes. */
const path = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([parts, trailingSlash]) => parts.join("/") + (trailingSlash ? "/" : ""));

describe("GlobSet.firstMatch agrees with picomatch", () => {
  it("on generated pattern lists and paths", () => {
    fc.assert(
      fc.property(
        fc.array(pattern, { minLength: 1, maxLength: 8 }),
        fc.array(path, { minLength: 1, maxLength: 6 }),
        (patterns, paths) => {
          const set = new GlobSet(patterns.map((p, tag) => ({ pattern: p, tag })));
          for (const p of paths) {
            const expected = expectedFirst(patterns, p);
            const hit = set.firstMatch(pathInfo(p));
            expect({ path: p, index: hit?.tag ?? -1 }).toEqual({ path: p, index: expected });
            if (hit !== null) expect(hit.pattern).toBe(patterns[expected]);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("on each default rule pattern against every generated path shape", () => {
    fc.assert(
      fc.property(path, (p) => {
        const patterns = DEFAULT_RULES.flatMap((rule) => rule.patterns);
        expect(actualFirst(patterns, p)).toBe(expectedFirst(patterns, p));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("GlobSet tricky cases", () => {
  // [patterns, path, expected index of the first match or -1]
  it.each<[string[], string, number]>([
    // `**/*.md` matches a base name that is only the extension, and dot-directories (dot: true).
    [["**/*.md"], ".md", 0],
    [["**/*.md"], "..md", 0],
    [["**/*.md"], ".github/README.md", 0],
    [["**/*.md"], "a/b/.md", 0],
    [["**/*.md"], "md", -1],
    [["**/*.md"], "README.md/", 0],
    [["**/*.md"], "README.markdown", -1],
    // `dir/**` matches the directory itself, but not a sibling sharing its prefix.
    [["docs/**"], "docs", 0],
    [["docs/**"], "docs/", 0],
    [["docs/**"], "docs/a/b.png", 0],
    [["docs/**"], "docs-site/index.html", -1],
    [["docs/**"], "src/docs/a.md", -1],
    [["docs/**"], "documentation", -1],
    // `**/dir/**` matches a path whose last segment is that name.
    [["**/ollama/**"], "x/ollama", 0],
    [["**/ollama/**"], "ollama", 0],
    [["**/ollama/**"], "x/ollama/Modelfile", 0],
    [["**/ollama/**"], "x/ollama-client/a.py", -1],
    [["**/ollama/**"], "x/my-ollama/a.py", -1],
    // `**/name` is the whole base name, not a prefix of it.
    [["**/Dockerfile"], "a/Dockerfile.gpu", -1],
    [["**/Dockerfile"], "a/Dockerfile", 0],
    [["**/Dockerfile"], "Dockerfile", 0],
    [["**/Dockerfile", "**/Dockerfile.gpu"], "a/Dockerfile.gpu", 1],
    [["**/Dockerfile.*", "**/Dockerfile.gpu"], "a/Dockerfile.gpu", 0],
    // Insertion order decides between fast-path tables and general globs.
    [["**/*-gpu/**", "**/*.cu"], "k-gpu/a.cu", 0],
    [["**/*.cu", "**/*-gpu/**"], "k-gpu/a.cu", 0],
    [["LICENSE*", "**/*.md"], "LICENSE.md", 0],
    [["**/*.md", "LICENSE*"], "LICENSE.md", 0],
    [["**/*.md", "LICENSE*"], "LICENSE", 1],
    [["a/b.md", "**/*.md"], "a/b.md", 0],
    [["**/*.md", "a/b.md"], "a/b.md", 0],
    // Multi-dot extensions.
    [["**/*.tar.gz"], "x.tar.gz", 0],
    [["**/*.tar.gz"], "tar.gz", -1],
    [["**/*.test.ts"], "src/a.test.ts", 0],
    // Paths the tables do not cover: `.`/`..` segments, empty segments, leading '/'.
    [["**/*.md"], "a/../b.md", -1],
    [["**/*.md"], "./b.md", -1],
    [["a/b"], "a//b", -1],
    [["**/*.md"], "a//b.md", 0],
    [["**/*.md"], "/b.md", 0],
    [["**/name"], "/name", 0],
    // Case matters.
    [["**/dockerfile"], "Dockerfile", -1],
    // A path equal to the pattern matches even when glob characters make the regex miss it.
    [["app/(group)/page.tsx"], "app/(group)/page.tsx", 0],
    [["app/(group)/page.tsx"], "app/group/page.tsx", 0],
    [["**/*.md", "a+(b)"], "a+(b)", 1],
    [["pages/[id].tsx"], "pages/[id].tsx", 0],
    // Nothing matches the empty path.
    [["**", "*", "**/*.md"], "", -1],
    // Shapes answered by base-name, segment and scoped tests, at picomatch's edges.
    [["**/*/**", "**/a/**"], "a", 1],
    [["**/a*/**", "**/a/**"], "a", 1],
    [["**/*-gpu/**"], "a-gpu", 0],
    [["./a/**", "**/a/**"], "a", 0],
    [["deploy/**/*(g)", "a"], "deploy", 0],
    [["ml/llama/**/*.py"], "ml/llama/x/y/train.py", 0],
    [["ml/llama/**/*.py"], "ml/llama.py", -1],
    [["deploy/web/*.compose.yml"], "deploy/web/a.compose.yml", 0],
    [["deploy/web/*.compose.yml"], "deploy/web/x/a.compose.yml", -1],
    [["**/docker-compose*.yml", "**/*.yml"], "x/docker-compose.ci.yml", 0],
    [["{api,web}/Dockerfile*"], "web/Dockerfile.dev", 0],
  ])("%j on %j → %i", (patterns, p, expected) => {
    expect(expectedFirst(patterns, p)).toBe(expected);
    expect(actualFirst(patterns, p)).toBe(expected);
  });

  it("reports the pattern with its tag, and size", () => {
    const set = new GlobSet([
      { pattern: "**/*.cu", tag: "gpu" },
      { pattern: "services/**", tag: "docker" },
    ]);
    expect(set.size).toBe(2);
    expect(set.firstMatch(pathInfo("services/k.cu"))).toEqual({ pattern: "**/*.cu", tag: "gpu" });
    expect(set.firstMatch(pathInfo("services/api/main.go"))).toEqual({ pattern: "services/**", tag: "docker" });
    expect(set.firstMatch(pathInfo("src/main.go"))).toBeNull();
    expect(new GlobSet<string>([]).firstMatch(pathInfo("a"))).toBeNull();
  });
});

describe("pathInfo", () => {
  it.each([
    ["a/b.md", "b.md", true],
    ["b.md", "b.md", true],
    [".github/README.md", "README.md", true],
    ["..md", "..md", true],
    ["a/...", "...", true],
    ["docs/", "", false],
    ["", "", false],
    ["/a", "a", false],
    ["a//b", "b", false],
    ["./a", "a", false],
    ["a/../b", "b", false],
    ["a/.", ".", false],
    ["..", "..", false],
  ])("%j → base %j, plain %s", (p, base, plain) => {
    expect(pathInfo(p)).toMatchObject({ path: p, base, plain });
  });

  it("splits a plain path once: ancestors, segments and base-name suffixes", () => {
    expect(pathInfo("src/app/a.test.ts")).toEqual({
      path: "src/app/a.test.ts",
      base: "a.test.ts",
      plain: true,
      dirs: ["src", "src/app"],
      segments: ["src", "app", "a.test.ts"],
      suffixes: ["test.ts", "ts"],
    });
    expect(pathInfo("a//b")).toMatchObject({ plain: false, dirs: [], segments: [], suffixes: [] });
  });
});

describe("globProblem", () => {
  it.each([
    ["", "is empty"],
    ["/deploy/**", "must be relative to the repository root (no leading '/')"],
    ["./deploy/**", "must not start with './'"],
    ["!docs/**", "negation ('!') is not supported; list what matches instead"],
    ["docs\\**", "must use '/' as separator (no '\\')"],
  ])("%j → %j", (pattern, problem) => {
    expect(globProblem(pattern)).toBe(problem);
  });

  it.each([
    "**/*.md",
    "docs/**",
    "LICENSE*",
    "{a,b}/**",
    "**/*-gpu/**",
    "**/docker-compose*.yml",
    ".editorconfig",
    "a/[bc]/d",
  ])("%j is usable", (pattern) => {
    expect(globProblem(pattern)).toBeNull();
  });
});

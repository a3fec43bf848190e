import fc from "fast-check";
import picomatch from "picomatch";
import { describe, expect, it } from "vitest";
import { DEFAULT_RULES } from "../../worker/src/core/defaults.ts";
import {
  compileGlob,
  GLOB_LIMITS,
  GlobSet,
  globProblem,
  matchGlob,
  pathSegments,
  pathView,
} from "../../worker/src/core/index.ts";

/** picomatch's own answer, with the options the router's globs follow. */
const picomatchSays = (pattern: string, path: string) => picomatch(pattern, { dot: true })(path);

/**
 * Paths GitHub lists: no empty, `.` or `..` segment, no leading or trailing '/'. On these the
 * router's globs agree with picomatch; other paths are normalised first (see `pathSegments`).
 */
const isPlain = (path: string) => path.split("/").every((s) => s !== "" && s !== "." && s !== "..");

/** Parentheses are literal here; picomatch reads them as a regular expression's group. */
const picomatchReadsAlike = (pattern: string) => !/[()|]/.test(pattern);

/** The index of the first pattern (insertion order) matching `path`, each matched alone, or -1. */
function expectedFirst(patterns: readonly string[], path: string): number {
  return patterns.findIndex((pattern) => matchGlob(compileGlob(pattern), path));
}

/** GlobSet's answer as an index, read from the tag so that duplicate patterns are told apart. */
function actualFirst(patterns: readonly string[], path: string): number {
  const set = new GlobSet(patterns.map((pattern, tag) => ({ pattern, tag })));
  return set.firstMatch(pathView(path))?.tag ?? -1;
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
  // `*(` would be an extglob.
  fc.constantFrom(...PATTERN_SEGMENTS.filter((s) => !s.startsWith("("))).map((s) => `*${s}`),
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

/** Patterns drawn from every table shape, plus general globs. */
const pattern = fc.oneof(
  fc.constantFrom(...EXTENSIONS).map((ext) => `**/*.${ext}`),
  patternSegment.map((name) => `**/${name}`),
  literalPath.map((dir) => `${dir}/**`),
  patternSegment.map((seg) => `**/${seg}/**`),
  literalPath,
  fc.constantFrom(...GENERAL),
  generatedGlob,
);

/** Paths with dots, dashes, dot-directories, `.`/`..`, empty segments and trailing slashes. */
const path = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([parts, trailingSlash]) => parts.join("/") + (trailingSlash ? "/" : ""));

/** Every pattern the generators make parses (so the properties below test what they say). */
const usable = (patterns: readonly string[]) => patterns.every((p) => globProblem(p) === null);

describe("one glob alone agrees with picomatch on the paths GitHub lists", () => {
  it("on generated patterns and plain paths", () => {
    fc.assert(
      fc.property(pattern, path, (p, candidate) => {
        expect(globProblem(p), p).toBeNull();
        if (!isPlain(candidate) || !picomatchReadsAlike(p)) return;
        expect({ p, candidate, matches: matchGlob(compileGlob(p), candidate) }).toEqual({
          p,
          candidate,
          matches: picomatchSays(p, candidate),
        });
      }),
      { numRuns: 4000 },
    );
  });
});

describe("GlobSet.firstMatch agrees with matching each pattern in turn", () => {
  it("on generated pattern lists and paths (plain or not)", () => {
    fc.assert(
      fc.property(
        fc.array(pattern, { minLength: 1, maxLength: 8 }),
        fc.array(path, { minLength: 1, maxLength: 6 }),
        (patterns, paths) => {
          expect(usable(patterns)).toBe(true);
          const set = new GlobSet(patterns.map((p, tag) => ({ pattern: p, tag })));
          for (const p of paths) {
            const expected = expectedFirst(patterns, p);
            const hit = set.firstMatch(pathView(p));
            expect({ path: p, index: hit?.tag ?? -1 }).toEqual({ path: p, index: expected });
            if (hit !== null) expect(hit.pattern).toBe(patterns[expected]);
            if (isPlain(p) && patterns.every(picomatchReadsAlike)) {
              expect(expected, `picomatch on ${p}`).toBe(patterns.findIndex((q) => picomatchSays(q, p)));
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("per group, when the patterns are dealt to groups: one look-up answers each group's first", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(pattern, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 10 }),
        fc.array(path, { minLength: 1, maxLength: 6 }),
        (dealt, paths) => {
          const set = new GlobSet(
            dealt.map(([p, group], tag) => ({ pattern: p, tag, group })),
            4,
          );
          for (const p of paths) {
            const hits = set.firstMatches(pathView(p));
            for (let group = 0; group < 4; group++) {
              const own = dealt.flatMap(([q, g], i) => (g === group ? [{ q, i }] : []));
              const expected = own.find(({ q }) => matchGlob(compileGlob(q), p))?.i ?? -1;
              expect({ p, group, index: hits[group]?.tag ?? -1 }).toEqual({ p, group, index: expected });
            }
          }
        },
      ),
      { numRuns: 1000 },
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
  // [patterns, path, expected index of the first match or -1], each also what picomatch says.
  it.each<[string[], string, number]>([
    // `**/*.md` matches a base name that is only the extension, and dot-directories (dot: true).
    [["**/*.md"], ".md", 0],
    [["**/*.md"], "..md", 0],
    [["**/*.md"], ".github/README.md", 0],
    [["**/*.md"], "a/b/.md", 0],
    [["**/*.md"], "md", -1],
    [["**/*.md"], "README.markdown", -1],
    // `dir/**` matches the directory itself, but not a sibling sharing its prefix.
    [["docs/**"], "docs", 0],
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
    // Insertion order decides between the tables and general globs.
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
    // Case matters.
    [["**/dockerfile"], "Dockerfile", -1],
    // A path equal to the pattern matches even when its brackets would not.
    [["pages/[id].tsx"], "pages/[id].tsx", 0],
    [["pages/[id].tsx"], "pages/i.tsx", 0],
    // Parentheses are literal (a Next.js route group), not a regular expression's group.
    [["app/(group)/page.tsx"], "app/(group)/page.tsx", 0],
    // Picomatch's trailing `/**` after a segment ending in `*` needs one more segment.
    [["**/*/**", "**/a/**"], "a", 1],
    [["**/a*/**", "**/a/**"], "a", 1],
    [["**/a*/**"], "ab/c", 0],
    [["**/*-gpu/**"], "a-gpu", 0],
    [["x/?/**"], "x/a", 0],
    [["ml/llama/**/*.py"], "ml/llama/x/y/train.py", 0],
    [["ml/llama/**/*.py"], "ml/llama.py", -1],
    [["deploy/web/*.compose.yml"], "deploy/web/a.compose.yml", 0],
    [["deploy/web/*.compose.yml"], "deploy/web/x/a.compose.yml", -1],
    [["**/docker-compose*.yml", "**/*.yml"], "x/docker-compose.ci.yml", 0],
    [["{api,web}/Dockerfile*"], "web/Dockerfile.dev", 0],
    [["{api,web/x}/**"], "web/x/y", 0],
    [["**/*.{md,txt}"], "a/b.txt", 0],
    [["[^.]*"], ".env", -1],
    [["[a-c]?.md"], "bx.md", 0],
    [["a/**/b/**/c"], "a/b/c", 0],
    [["a/**/b/**/c"], "a/x/b/y/z/c", 0],
    [["a/**/b/**/c"], "a/c/b", -1],
  ])("%j on %j → %i", (patterns, p, expected) => {
    expect(actualFirst(patterns, p)).toBe(expected);
    expect(expectedFirst(patterns, p)).toBe(expected);
    if (patterns.every(picomatchReadsAlike)) expect(patterns.findIndex((q) => picomatchSays(q, p))).toBe(expected);
  });

  // Paths GitHub never lists: the router names the file they mean, where picomatch may not.
  it.each<[string[], string, number]>([
    [["**/*.md"], "README.md/", 0],
    [["**/*.md"], "/b.md", 0],
    [["**/*.md"], "a//b.md", 0],
    [["a/b"], "a//b", 0],
    [["a/b"], "./a/b", 0],
    [["**/*.md"], "a/./b.md", 0],
    [["**/*.md"], "a/../b.md", -1],
    [["**", "*", "**/*.md"], "", -1],
    [["**"], "/", -1],
    [["**"], "..", -1],
  ])("%j on %j (not a path GitHub lists) → %i", (patterns, p, expected) => {
    expect(actualFirst(patterns, p)).toBe(expected);
    expect(expectedFirst(patterns, p)).toBe(expected);
  });

  it("reports the pattern with its tag, and size", () => {
    const set = new GlobSet([
      { pattern: "**/*.cu", tag: "gpu" },
      { pattern: "services/**", tag: "docker" },
    ]);
    expect(set.size).toBe(2);
    expect(set.firstMatch(pathView("services/k.cu"))).toEqual({ pattern: "**/*.cu", tag: "gpu", group: 0 });
    expect(set.firstMatch(pathView("services/api/main.go"))).toEqual({
      pattern: "services/**",
      tag: "docker",
      group: 0,
    });
    expect(set.firstMatch(pathView("src/main.go"))).toBeNull();
    expect(new GlobSet<string>([]).firstMatch(pathView("a"))).toBeNull();
    expect(() => new GlobSet([{ pattern: "a", tag: 0, group: 2 }], 2)).toThrow(RangeError);
  });
});

describe("pathSegments", () => {
  it.each<[string, string[] | null]>([
    ["a/b.md", ["a", "b.md"]],
    ["b.md", ["b.md"]],
    [".github/README.md", [".github", "README.md"]],
    ["a/...", ["a", "..."]],
    ["docs/", ["docs"]],
    ["/a", ["a"]],
    ["a//b", ["a", "b"]],
    ["./a", ["a"]],
    ["a/.", ["a"]],
    ["", null],
    ["/", null],
    ["a/../b", null],
    ["..", null],
  ])("%j → %j", (p, segments) => {
    expect(pathSegments(p)).toEqual(segments);
  });
});

describe("globProblem", () => {
  it.each([
    ["", "is empty"],
    ["/deploy/**", "must be relative to the repository root (no leading '/')"],
    ["./deploy/**", "must not start with './'"],
    ["!docs/**", "negation ('!') is not supported; list what matches instead"],
    ["docs\\**", "must use '/' as separator (no '\\')"],
    ["a//b", "has an empty segment ('//', or a trailing '/': write dir/** for what is under dir)"],
    ["docs/", "has an empty segment ('//', or a trailing '/': write dir/** for what is under dir)"],
    ["a/../b", "has a '.' or '..' segment"],
    [
      "**.md",
      "has '**' inside a segment; '**' must be a whole segment (**/*.md: .md files at any depth, *.md: at the top)",
    ],
    ["a+(b|c)", "uses an extglob (+(…)), which is not supported; use {a,b} for alternatives, or [(] for a literal '('"],
    ["**/*(x)", "uses an extglob (*(…)), which is not supported; use {a,b} for alternatives, or [(] for a literal '('"],
    ["[!a]*", "uses [!…]; write [^…] for a character not in the set"],
    ["[[:alpha:]]", "uses a POSIX class ([[:alpha:]]), which is not supported; list the characters: [a-zA-Z]"],
    ["[z-a]", "has a range [z-a] that runs backwards"],
    ["a[b", "has a '[' without its ']' (write [[] for a literal '[')"],
    ["{a,b", "has a '{' without its '}' (write [{] for a literal '{')"],
    ["a}", "has a '}' without its '{' (write [}] for a literal '}')"],
    ["{a}", "has a brace with one alternative; braces need at least two ({a,b})"],
    ["v{1..3}", "uses a brace range ({a..b}), which is not supported; list the values: {1,2,3}"],
    ["{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}", "expands to 128 alternatives, more than 64"],
    ["x".repeat(513), "is longer than 512 characters"],
    ["[ab][cd][ef][gh][ij]", "has more than 4 classes ([…]) in one segment"],
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
    "app/(group)/page.tsx",
    "[[]x]",
    "**/*a*a*a*a*a*a*b",
  ])("%j is usable", (pattern) => {
    expect(globProblem(pattern)).toBeNull();
  });

  it(`bounds the cost: ${GLOB_LIMITS.cost} steps per path character, over every expansion`, () => {
    const braces = "{a,b}{c,d}{e,f}{g,h}{i,j}";
    expect(globProblem(`docs/${"x".repeat(50)}${braces}`)).toBeNull(); // 32 × (5 + 56) steps
    expect(globProblem(`docs/${"x".repeat(60)}${braces}{k,l}`)).toBe(
      "would cost 4608 steps per character of a path, more than 2048",
    );
  });
});

describe("patterns that take a backtracking matcher seconds", () => {
  // picomatch's regular expressions take seconds on these; `npm run bench` times the router's.
  it("answer correctly against names thousands of characters long", () => {
    const glob = compileGlob("**/*a*a*a*a*a*a*b");
    const name = "a".repeat(4000);
    expect(matchGlob(glob, name)).toBe(false);
    expect(matchGlob(glob, `${name}b`)).toBe(true);
    expect(matchGlob(compileGlob("**/*-*-*.gpu.yaml"), `${"-".repeat(4000)}.gpu.yaml`)).toBe(true);
    expect(matchGlob(compileGlob("**/*-*-*.gpu.yaml"), `${"-".repeat(4000)}.gpu.yml`)).toBe(false);
  });
});

import picomatch from "picomatch";

/**
 * Glob semantics used everywhere in the router: picomatch with `dot: true`, so `**` and `*`
 * also match dotfiles and dot-directories (`.github/README.md` is a Markdown file).
 */
export const GLOB_OPTIONS: picomatch.PicomatchOptions = { dot: true };

const GLOB_CHARS = /[*?[\]{}()!+@\\]/;

/** Why a pattern cannot be used, or null when it can. */
export function globProblem(pattern: string): string | null {
  if (pattern.length === 0) return "is empty";
  if (pattern.startsWith("/")) return "must be relative to the repository root (no leading '/')";
  if (pattern.startsWith("./")) return "must not start with './'";
  if (pattern.startsWith("!")) return "negation ('!') is not supported; list what matches instead";
  if (pattern.includes("\\")) return "must use '/' as separator (no '\\')";
  try {
    picomatch.makeRe(pattern, GLOB_OPTIONS);
  } catch (error) {
    return `is not a valid glob (${error instanceof Error ? error.message : String(error)})`;
  }
  return null;
}

/** A path split once, so that every pattern test, in every glob set, reuses the same pieces. */
export interface PathInfo {
  path: string;
  base: string;
  /** False for paths whose shape the fast tables do not cover (`.`/`..`, empty segments, trailing '/'). */
  plain: boolean;
  /** Ancestor directories, shortest first: `a`, `a/b` for `a/b/c.md`. Empty unless plain. */
  dirs: string[];
  /** Every segment, the base name last. Empty unless plain. */
  segments: string[];
  /** What follows each dot of the base name: `test.ts`, `ts` for `a.test.ts`. */
  suffixes: string[];
}

export function pathInfo(path: string): PathInfo {
  const slash = path.lastIndexOf("/");
  const base = path.slice(slash + 1);
  let segments = path.split("/");
  // Empty, `.` and `..` segments (a leading, doubled or trailing '/', relative steps) are not plain.
  const plain = path.length > 0 && segments.every((s) => s !== "" && s !== "." && s !== "..");
  if (!plain) segments = [];
  const dirs: string[] = [];
  const suffixes: string[] = [];
  if (plain) {
    for (let i = path.indexOf("/"); i !== -1; i = path.indexOf("/", i + 1)) dirs.push(path.slice(0, i));
    for (let dot = base.indexOf("."); dot !== -1; dot = base.indexOf(".", dot + 1)) suffixes.push(base.slice(dot + 1));
  }
  return { path, base, plain, dirs, segments, suffixes };
}

/** The smaller of `best` and the first index in `hits`. */
function earliest(best: number, hits: number[] | undefined): number {
  const first = hits?.[0];
  return first !== undefined && first < best ? first : best;
}

/**
 * A set of tagged globs compiled for matching many paths at once.
 *
 * The common shapes of CI path rules are answered by table look-ups instead of one regular
 * expression per pattern: `**\/*.ext` by the base name's suffixes, `**\/name` by the base name,
 * `dir/**` by the path's ancestors, `**\/dir/**` by its segments, and plain paths exactly.
 * Globs with wildcards are narrowed first: `**\/G` is tested on the base name, `**\/G/**` on
 * the segments, `dir/…` only on paths under `dir`; and each family is gated by one combined
 * expression, so a path that matches none of them costs one test per family.
 * Paths the tables do not cover (`.`, `..`, empty segments) go through picomatch one by one.
 * `firstMatch` agrees with picomatch on every input (a property the tests check).
 */
export class GlobSet<T> {
  private readonly suffix = new Map<string, number[]>();
  private readonly base = new Map<string, number[]>();
  private readonly prefix = new Map<string, number[]>();
  private readonly segment = new Map<string, number[]>();
  private readonly exact = new Map<string, number[]>();
  /** Globs picomatch also matches verbatim: a path equal to the pattern text matches it. */
  private readonly verbatim = new Map<string, number[]>();
  /** Globs under a literal directory, by that directory. */
  private readonly scoped = new Map<string, ScopedGlob[]>();
  private readonly baseGlobs: Glob[] = [];
  private readonly segmentGlobs: Glob[] = [];
  private readonly pathGlobs: Glob[] = [];
  private readonly entries: { pattern: string; tag: T; re: RegExp }[] = [];
  private readonly baseGate: RegExp | null;
  private readonly segmentGate: RegExp | null;
  private readonly pathGate: RegExp | null;

  constructor(patterns: Iterable<{ pattern: string; tag: T }>) {
    for (const { pattern, tag } of patterns) {
      const index = this.entries.length;
      const re = picomatch.makeRe(pattern, GLOB_OPTIONS);
      this.entries.push({ pattern, tag, re });
      this.classify(pattern, index, re);
    }
    this.baseGate = gate(this.baseGlobs);
    this.segmentGate = gate(this.segmentGlobs);
    this.pathGate = gate(this.pathGlobs);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The first pattern (in insertion order) matching `path`, with its tag. */
  firstMatch(info: PathInfo): { pattern: string; tag: T } | null {
    // picomatch never matches the empty string.
    if (info.path === "") return null;
    if (!info.plain) {
      for (let i = 0; i < this.entries.length; i++) {
        const entry = this.entries[i];
        if (entry !== undefined && (entry.pattern === info.path || entry.re.test(info.path))) return this.entry(i);
      }
      return null;
    }
    const { path, base, dirs, segments, suffixes } = info;
    let best = earliest(Number.POSITIVE_INFINITY, this.exact.get(path));
    best = earliest(best, this.verbatim.get(path));
    best = earliest(best, this.base.get(base));
    for (const suffix of suffixes) best = earliest(best, this.suffix.get(suffix));
    if (this.prefix.size > 0 || this.segment.size > 0) {
      best = earliest(best, this.prefix.get(path));
      for (const dir of dirs) best = earliest(best, this.prefix.get(dir));
      for (const segment of segments) best = earliest(best, this.segment.get(segment));
    }
    if (this.scoped.size > 0) {
      // A glob under D that can match D itself (`D/**/*(x)`): only its whole expression knows.
      for (const glob of this.scoped.get(path) ?? []) {
        if (glob.index < best && this.entries[glob.index]?.re.test(path)) best = glob.index;
      }
      const parent = dirs.length - 1;
      for (let d = 0; d < dirs.length; d++) {
        for (const glob of this.scoped.get(dirs[d] ?? "") ?? []) {
          if (glob.index < best && matchScoped(glob, path, base, d === parent)) best = glob.index;
        }
      }
    }
    if (this.baseGate?.test(base)) best = firstOf(this.baseGlobs, best, (re) => re.test(base));
    const segmentGate = this.segmentGate;
    if (segmentGate !== null && segments.some((s) => segmentGate.test(s))) {
      best = firstOf(this.segmentGlobs, best, (re) => segments.some((s) => re.test(s)));
    }
    if (this.pathGate?.test(path)) best = firstOf(this.pathGlobs, best, (re) => re.test(path));
    return best === Number.POSITIVE_INFINITY ? null : this.entry(best);
  }

  private entry(index: number): { pattern: string; tag: T } {
    const entry = this.entries[index];
    if (entry === undefined) throw new RangeError(`no glob at ${index}`);
    return { pattern: entry.pattern, tag: entry.tag };
  }

  private classify(pattern: string, index: number, re: RegExp): void {
    const add = <V>(table: Map<string, V[]>, key: string, value: V) => {
      const hits = table.get(key);
      if (hits === undefined) table.set(key, [value]);
      else hits.push(value);
    };
    let m: RegExpMatchArray | null;
    if ((m = /^\*\*\/\*\.([^/]+)$/.exec(pattern)) && single(m[1])) add(this.suffix, m[1], index);
    else if ((m = /^\*\*\/([^/]+)\/\*\*$/.exec(pattern)) && single(m[1])) add(this.segment, m[1], index);
    else if ((m = /^\*\*\/([^/]+)$/.exec(pattern)) && single(m[1])) add(this.base, m[1], index);
    else if ((m = /^(.+)\/\*\*$/.exec(pattern)) && plainPath(m[1])) add(this.prefix, m[1] ?? "", index);
    else if (plainPath(pattern)) add(this.exact, pattern, index);
    else {
      add(this.verbatim, pattern, index);
      if ((m = /^\*\*\/([^/]+)\/\*\*$/.exec(pattern)) && segmentGlob(m[1]) && !/[*?]$/.test(m[1])) {
        // picomatch matches a last segment against G here only when G ends in a literal
        // (`**\/a*\/**` does not match `a`), so other such globs keep picomatch's expression.
        this.segmentGlobs.push({ index, re: picomatch.makeRe(m[1], GLOB_OPTIONS) });
      } else if ((m = /^\*\*\/([^/]+)$/.exec(pattern)) && segmentGlob(m[1])) {
        this.baseGlobs.push({ index, re: picomatch.makeRe(m[1], GLOB_OPTIONS) });
      } else {
        const scope = picomatch.scan(pattern).base;
        if (plainPath(scope) && pattern.startsWith(`${scope}/`))
          add(this.scoped, scope, scopedGlob(pattern.slice(scope.length + 1), index, re));
        else this.pathGlobs.push({ index, re });
      }
    }
  }
}

/** A glob and its place in insertion order. */
interface Glob {
  index: number;
  re: RegExp;
}

/**
 * A glob under a literal directory D, tested only on paths below D:
 * `D/**\/G` by the base name, `D/G` by the base name of D's direct children, others whole.
 */
interface ScopedGlob extends Glob {
  test: "under" | "child" | "path";
}

const literal = (s: string): boolean => s.length > 0 && !GLOB_CHARS.test(s);
const single = (s: string | undefined): s is string =>
  s !== undefined && literal(s) && !s.includes("/") && s !== "." && s !== "..";
const plainPath = (s: string | undefined): boolean => s !== undefined && literal(s) && pathInfo(s).plain;
/** One segment's worth of glob: no separator, no globstar, no extglob, negation or escape. */
const segmentGlob = (s: string | undefined): s is string =>
  s !== undefined && /^[^/!()@+\\]+$/.test(s) && !s.includes("**");

function scopedGlob(rest: string, index: number, re: RegExp): ScopedGlob {
  let m: RegExpMatchArray | null;
  if ((m = /^\*\*\/([^/]+)$/.exec(rest)) && segmentGlob(m[1])) {
    return { index, test: "under", re: picomatch.makeRe(m[1], GLOB_OPTIONS) };
  }
  if (segmentGlob(rest)) return { index, test: "child", re: picomatch.makeRe(rest, GLOB_OPTIONS) };
  return { index, test: "path", re };
}

function matchScoped(glob: ScopedGlob, path: string, base: string, isParent: boolean): boolean {
  switch (glob.test) {
    case "under":
      return glob.re.test(base);
    case "child":
      return isParent && glob.re.test(base);
    case "path":
      return glob.re.test(path);
  }
}

/** One expression that matches when any of `globs` does: a cheap first test for the common miss. */
function gate(globs: readonly Glob[]): RegExp | null {
  if (globs.length === 0) return null;
  return new RegExp(globs.map(({ re }) => `(?:${re.source})`).join("|"), globs[0]?.re.flags);
}

/** The earliest glob before `best` that `test` accepts, else `best`. Globs are in insertion order. */
function firstOf(globs: readonly Glob[], best: number, test: (re: RegExp) => boolean): number {
  for (const { index, re } of globs) {
    if (index >= best) break;
    if (test(re)) return index;
  }
  return best;
}

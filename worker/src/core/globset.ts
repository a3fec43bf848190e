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

/** A path split once, so that every pattern test reuses the same pieces. */
export interface PathInfo {
  path: string;
  base: string;
  /** False for paths whose shape the fast tables do not cover (`.`/`..`, empty segments, trailing '/'). */
  plain: boolean;
}

export function pathInfo(path: string): PathInfo {
  const slash = path.lastIndexOf("/");
  const base = path.slice(slash + 1);
  const plain =
    path.length > 0 &&
    base.length > 0 &&
    !path.startsWith("/") &&
    !path.includes("//") &&
    !/(^|\/)\.{1,2}(\/|$)/.test(path);
  return { path, base, plain };
}

/**
 * A set of tagged globs compiled for matching many paths at once.
 *
 * The common shapes of CI path rules are answered by table look-ups instead of one regular
 * expression per pattern: `**\/*.ext` by the base name's suffixes, `**\/name` by the base name,
 * `dir/**` by the path's ancestors, `**\/dir/**` by its segments, and plain paths exactly.
 * Everything else, and every path the tables do not cover, goes through picomatch.
 * `firstMatch` agrees with picomatch on every input (a property the tests check).
 */
export class GlobSet<T> {
  private readonly suffix = new Map<string, number[]>();
  private readonly base = new Map<string, number[]>();
  private readonly prefix = new Map<string, number[]>();
  private readonly segment = new Map<string, number[]>();
  private readonly exact = new Map<string, number[]>();
  private readonly general: { index: number; re: RegExp }[] = [];
  private readonly entries: { pattern: string; tag: T; re: RegExp }[] = [];

  constructor(patterns: Iterable<{ pattern: string; tag: T }>) {
    for (const { pattern, tag } of patterns) {
      const index = this.entries.length;
      const re = picomatch.makeRe(pattern, GLOB_OPTIONS);
      this.entries.push({ pattern, tag, re });
      this.classify(pattern, index, re);
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** The first pattern (in insertion order) matching `path`, with its tag. */
  firstMatch(info: PathInfo): { pattern: string; tag: T } | null {
    let best = Number.POSITIVE_INFINITY;
    // picomatch never matches the empty string, and matches a path equal to the pattern itself
    // even when the pattern's regex would not (e.g. `app/(group)/page.tsx`).
    if (info.path === "") return null;
    if (!info.plain) {
      for (let i = 0; i < this.entries.length; i++) {
        const entry = this.entries[i];
        if (entry !== undefined && (entry.pattern === info.path || entry.re.test(info.path))) return this.entry(i);
      }
      return null;
    }
    const take = (hits: number[] | undefined) => {
      if (hits !== undefined && hits[0] !== undefined && hits[0] < best) best = hits[0];
    };
    const { path, base } = info;
    take(this.exact.get(path));
    take(this.base.get(base));
    for (let dot = base.indexOf("."); dot !== -1; dot = base.indexOf(".", dot + 1)) {
      take(this.suffix.get(base.slice(dot + 1)));
    }
    if (this.prefix.size > 0 || this.segment.size > 0) {
      take(this.prefix.get(path));
      let start = 0;
      for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
        take(this.prefix.get(path.slice(0, slash)));
        take(this.segment.get(path.slice(start, slash)));
        start = slash + 1;
      }
      take(this.segment.get(base));
    }
    for (const { index, re } of this.general) {
      if (index >= best) break;
      if (this.entries[index]?.pattern === path || re.test(path)) {
        best = index;
        break;
      }
    }
    return best === Number.POSITIVE_INFINITY ? null : this.entry(best);
  }

  private entry(index: number): { pattern: string; tag: T } {
    const entry = this.entries[index];
    if (entry === undefined) throw new RangeError(`no glob at ${index}`);
    return { pattern: entry.pattern, tag: entry.tag };
  }

  private classify(pattern: string, index: number, re: RegExp): void {
    const add = (table: Map<string, number[]>, key: string) => {
      const hits = table.get(key);
      if (hits === undefined) table.set(key, [index]);
      else hits.push(index);
    };
    const literal = (s: string) => s.length > 0 && !GLOB_CHARS.test(s);
    const single = (s: string) => literal(s) && !s.includes("/") && s !== "." && s !== "..";
    const plainPath = (s: string) => literal(s) && pathInfo(s).plain;

    let m: RegExpMatchArray | null;
    if ((m = /^\*\*\/\*\.([^/]+)$/.exec(pattern)) && single(m[1] ?? "")) add(this.suffix, m[1] ?? "");
    else if ((m = /^\*\*\/([^/]+)\/\*\*$/.exec(pattern)) && single(m[1] ?? "")) add(this.segment, m[1] ?? "");
    else if ((m = /^\*\*\/([^/]+)$/.exec(pattern)) && single(m[1] ?? "")) add(this.base, m[1] ?? "");
    else if ((m = /^(.+)\/\*\*$/.exec(pattern)) && plainPath(m[1] ?? "")) add(this.prefix, m[1] ?? "");
    else if (plainPath(pattern)) add(this.exact, pattern);
    else this.general.push({ index, re });
  }
}

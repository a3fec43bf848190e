/**
 * The router's globs: parsed once into segments, matched without regular expressions in time
 * linear in the path's length.
 *
 * Syntax (picomatch's with `dot: true`, less what cannot be matched in linear time):
 * - `*` any characters but `/` (also a leading dot); `?` one character but `/`;
 * - `[abc]`, `[a-z]`, `[^a]` one character of (or not of) a set, never `/`; a class also matches
 *   its own text, so `pages/[id].tsx` matches the file named so;
 * - `**` as a whole segment: zero or more segments (`docs/**` also matches `docs` itself);
 * - `{a,b}` alternatives, nested, expanded before matching (at most {@link GLOB_LIMITS.alternatives});
 * - everything else is literal, `(`, `)`, `|`, `+`, `@` and a `!` that does not start the pattern
 *   included. A path equal to the pattern's text also matches (`pages/[id].tsx`).
 *
 * Not supported, and refused with the reason: negation (`!x`), extglobs (`@(a|b)`, `*(x)`, …),
 * POSIX classes (`[[:alpha:]]`), `[!a]` (picomatch reads it as "`!` or `a`": write `[^a]`),
 * `**` inside a segment (`a**`), brace ranges (`{1..3}`), backslash escapes, empty, `.` or `..`
 * segments, a leading `/` or `./`.
 *
 * Matching: each `*`-separated piece of a segment is found leftmost in turn, and each group of
 * segments between two `**` likewise over the path's segments. With pieces of fixed length this
 * greedy search finds a match whenever one exists, and never backtracks past a piece it placed,
 * so a pattern costs at most {@link GLOB_LIMITS.cost} steps per character of the path.
 */

import { fail as failure, ok, type Result } from "./result.ts";

/** What a pattern may cost: checked by {@link parseGlob}, reported by the config parser. */
export const GLOB_LIMITS = {
  /** Characters of the pattern as written. */
  length: 512,
  /** Patterns its `{…}` expand to. */
  alternatives: 64,
  /**
   * Steps one character of a path may cost: over every expansion and every reading of its
   * segments, one per character test plus one per `*`-separated piece.
   */
  cost: 2048,
  /** Classes (`[…]`) in one segment: each doubles the segment's readings. */
  classesPerSegment: 4,
} as const;

/** One character test. */
type Atom =
  | { kind: "char"; char: string }
  | { kind: "any" }
  | { kind: "class"; negated: boolean; chars: string; ranges: [number, number][] };

/** One way to read a segment: atoms in pieces between `*`s (one piece: no `*`). */
export interface SegmentVariant {
  pieces: Atom[][];
  /** The segment's text when this reading has no wildcard at all. */
  literal: string | null;
}

/**
 * One segment of a pattern that is not `**`. As in picomatch, a class also matches its own text
 * (`[id].tsx` matches `i.tsx` and `[id].tsx`), so a segment with classes has one reading per
 * choice of class or text.
 */
export interface SegmentGlob {
  variants: SegmentVariant[];
  /** The segment's text when it has no wildcard at all (its only reading). */
  literal: string | null;
}

/** One expansion of a pattern: groups of segment globs, separated by `**` when there are several. */
export interface GlobAlternative {
  /** `groups.length - 1` globstars sit between the groups; with one group there is none. */
  groups: SegmentGlob[][];
  /**
   * 1 when the pattern ends in `/**` right after a segment that ends in `*` (`**\/a*\/**`): as
   * in picomatch, that trailing `**` then needs at least one segment (`a/**` and `**\/*-gpu/**`
   * match `a` and `x-gpu`, but `a*\/**` does not match `ab`).
   */
  tail: 0 | 1;
}

export interface Glob {
  pattern: string;
  alternatives: GlobAlternative[];
}

/**
 * Parses a pattern, or says what is wrong with it: an `invalid_config` failure whose problem is
 * a sentence that follows the quoted pattern.
 */
function parseGlob(pattern: string): Result<Glob> {
  const fail = (problem: string): Result<Glob> => failure("invalid_config", problem);
  if (pattern.length === 0) return fail("is empty");
  if (pattern.length > GLOB_LIMITS.length) return fail(`is longer than ${GLOB_LIMITS.length} characters`);
  if (pattern.startsWith("/")) return fail("must be relative to the repository root (no leading '/')");
  if (pattern.startsWith("./")) return fail("must not start with './'");
  if (pattern.startsWith("!")) return fail("negation ('!') is not supported; list what matches instead");
  if (pattern.includes("\\")) return fail("must use '/' as separator (no '\\')");
  const expanded = expandBraces(pattern);
  if (typeof expanded === "string") return fail(expanded);
  const alternatives: GlobAlternative[] = [];
  let cost = 0;
  for (const text of expanded) {
    const alternative = parseAlternative(text);
    if (typeof alternative === "string") return fail(alternative);
    alternatives.push(alternative);
    for (const group of alternative.groups) {
      for (const segment of group) for (const v of segment.variants) for (const p of v.pieces) cost += p.length + 1;
    }
  }
  if (cost > GLOB_LIMITS.cost) {
    return fail(`would cost ${cost} steps per character of a path, more than ${GLOB_LIMITS.cost}`);
  }
  return ok({ pattern, alternatives });
}

/** The problem with a pattern, or null when it can be used. */
export function globProblem(pattern: string): string | null {
  const parsed = parseGlob(pattern);
  return parsed.ok ? null : parsed.error.message;
}

/** A pattern known to be valid (from a parsed configuration), compiled. Throws on an invalid one. */
export function compileGlob(pattern: string): Glob {
  const parsed = parseGlob(pattern);
  if (!parsed.ok) throw new RangeError(`glob "${pattern}" ${parsed.error.message}`);
  return parsed.value;
}

// --- Braces --------------------------------------------------------------------------------

/** The index of the `]` closing a class opened at `open`, or -1. */
function classEnd(text: string, open: number): number {
  let i = open + 1;
  if (text[i] === "!" || text[i] === "^") i++;
  if (text[i] === "]") i++;
  for (; i < text.length; i++) {
    if (text[i] === "]") return i;
    if (text[i] === "/") return -1;
  }
  return -1;
}

/** A pattern with its `{a,b}` expanded, in order; or the problem with its braces. */
function expandBraces(pattern: string): string[] | string {
  // Parse into a tree of sequences: text parts and brace nodes, each a list of sequences.
  type Seq = (string | Seq[])[];
  const root: Seq = [];
  const stack: { seq: Seq; options: Seq[] }[] = [];
  let current = root;
  let text = "";
  const flush = () => {
    if (text !== "") current.push(text);
    text = "";
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "[") {
      const end = classEnd(pattern, i);
      if (end !== -1) {
        text += pattern.slice(i, end + 1);
        i = end;
        continue;
      }
      return "has a '[' without its ']' (write [[] for a literal '[')";
    }
    if (pattern[i + 1] === "(" && "@!+*?".includes(c)) {
      return `uses an extglob (${c}(…)), which is not supported; use {a,b} for alternatives, or [(] for a literal '('`;
    }
    if (c === "{") {
      flush();
      const option: Seq = [];
      const node = { seq: current, options: [option] };
      stack.push(node);
      current = option;
    } else if (c === "," && stack.length > 0) {
      flush();
      const node = stack[stack.length - 1] as { seq: Seq; options: Seq[] };
      const option: Seq = [];
      node.options.push(option);
      current = option;
    } else if (c === "}") {
      flush();
      const node = stack.pop();
      if (node === undefined) return "has a '}' without its '{' (write [}] for a literal '}')";
      if (node.options.length < 2) {
        const inner = node.options[0]?.join("") ?? "";
        return /^[^.]*\.\.[^.]*$/.test(inner)
          ? "uses a brace range ({a..b}), which is not supported; list the values: {1,2,3}"
          : "has a brace with one alternative; braces need at least two ({a,b})";
      }
      node.seq.push(node.options);
      current = node.seq;
    } else {
      text += c;
    }
  }
  flush();
  if (stack.length > 0) return "has a '{' without its '}' (write [{] for a literal '{')";

  const count = (seq: Seq): number =>
    seq.reduce<number>((n, part) => (typeof part === "string" ? n : n * part.reduce((m, s) => m + count(s), 0)), 1);
  const n = count(root);
  if (n > GLOB_LIMITS.alternatives) return `expands to ${n} alternatives, more than ${GLOB_LIMITS.alternatives}`;
  const expand = (seq: Seq): string[] => {
    let out = [""];
    for (const part of seq) {
      const tails = typeof part === "string" ? [part] : part.flatMap(expand);
      out = out.flatMap((head) => tails.map((tail) => head + tail));
    }
    return out;
  };
  return expand(root);
}

// --- Segments ------------------------------------------------------------------------------

function parseAlternative(text: string): GlobAlternative | string {
  if (text.startsWith("/")) return "must be relative to the repository root (no leading '/')";
  const groups: SegmentGlob[][] = [[]];
  let previousGlobstar = false;
  const segments = text.split("/");
  for (const segment of segments) {
    if (segment === "") return "has an empty segment ('//', or a trailing '/': write dir/** for what is under dir)";
    if (segment === "." || segment === "..") return "has a '.' or '..' segment";
    if (segment === "**") {
      // `**/**` is one globstar.
      if (!previousGlobstar) groups.push([]);
      previousGlobstar = true;
      continue;
    }
    previousGlobstar = false;
    const parsed = parseSegment(segment);
    if (typeof parsed === "string") return parsed;
    (groups[groups.length - 1] as SegmentGlob[]).push(parsed);
  }
  const last = segments.length - 1;
  const starred = last > 0 && segments[last] === "**" && (segments[last - 1] as string).endsWith("*");
  return { groups, tail: starred && segments[last - 1] !== "**" ? 1 : 0 };
}

function parseSegment(segment: string): SegmentGlob | string {
  // Each class is read both as a class and as its text: one variant per choice.
  let variants: { pieces: Atom[][]; wild: boolean }[] = [{ pieces: [[]], wild: false }];
  let classes = 0;
  const push = (atom: Atom) => {
    for (const v of variants) (v.pieces[v.pieces.length - 1] as Atom[]).push(atom);
  };
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === "*") {
      if (segment[i + 1] === "*") {
        return "has '**' inside a segment; '**' must be a whole segment (**/*.md: .md files at any depth, *.md: at the top)";
      }
      for (const v of variants) {
        v.pieces.push([]);
        v.wild = true;
      }
    } else if (c === "?") {
      for (const v of variants) v.wild = true;
      push({ kind: "any" });
    } else if (c === "[") {
      const end = classEnd(segment, i);
      if (end === -1) return "has a '[' without its ']' (write [[] for a literal '[')";
      const atom = parseClass(segment.slice(i + 1, end));
      if (typeof atom === "string") return atom;
      if (++classes > GLOB_LIMITS.classesPerSegment) {
        return `has more than ${GLOB_LIMITS.classesPerSegment} classes ([…]) in one segment`;
      }
      const text = [...segment.slice(i, end + 1)].map((char): Atom => ({ kind: "char", char }));
      variants = variants.flatMap((v) => [
        { pieces: [...v.pieces.slice(0, -1), [...(v.pieces.at(-1) as Atom[]), atom]], wild: true },
        { pieces: [...v.pieces.slice(0, -1), [...(v.pieces.at(-1) as Atom[]), ...text]], wild: v.wild },
      ]);
      i = end;
    } else {
      push({ kind: "char", char: c });
    }
  }
  const readings = variants.map(
    (v): SegmentVariant => ({
      pieces: v.pieces,
      literal: v.wild ? null : (v.pieces[0] as Atom[]).map((a) => (a.kind === "char" ? a.char : "")).join(""),
    }),
  );
  const only = readings.length === 1 ? readings[0] : undefined;
  return { variants: readings, literal: only?.literal ?? null };
}

function parseClass(body: string): Atom | string {
  if (body[0] === "!") return "uses [!…]; write [^…] for a character not in the set";
  const negated = body[0] === "^";
  let i = negated ? 1 : 0;
  if (body.includes("[:"))
    return "uses a POSIX class ([[:alpha:]]), which is not supported; list the characters: [a-zA-Z]";
  let chars = "";
  const ranges: [number, number][] = [];
  for (; i < body.length; i++) {
    const c = body[i] as string;
    const next = body[i + 1];
    if (next === "-" && i + 2 < body.length) {
      const from = c.codePointAt(0) ?? 0;
      const to = (body[i + 2] as string).codePointAt(0) ?? 0;
      if (to < from) return `has a range [${c}-${body[i + 2]}] that runs backwards`;
      ranges.push([from, to]);
      i += 2;
    } else {
      chars += c;
    }
  }
  if (chars === "" && ranges.length === 0) return "has an empty class ([])";
  return { kind: "class", negated, chars, ranges };
}

// --- Matching ------------------------------------------------------------------------------

function atomMatches(atom: Atom, c: string): boolean {
  switch (atom.kind) {
    case "char":
      return atom.char === c;
    case "any":
      return true;
    case "class": {
      const code = c.charCodeAt(0);
      let hit = atom.chars.includes(c);
      for (let r = 0; !hit && r < atom.ranges.length; r++) {
        const range = atom.ranges[r] as [number, number];
        hit = code >= range[0] && code <= range[1];
      }
      return hit !== atom.negated;
    }
  }
}

/** Whether `piece` matches `text` at `at` (the caller checked it fits). */
function pieceAt(piece: readonly Atom[], text: string, at: number): boolean {
  for (let k = 0; k < piece.length; k++) {
    if (!atomMatches(piece[k] as Atom, text[at + k] as string)) return false;
  }
  return true;
}

/** Whether one segment glob matches one path segment (a non-empty string without '/'). */
function matchSegment(glob: SegmentGlob, text: string): boolean {
  if (glob.literal !== null) return glob.literal === text;
  for (const variant of glob.variants) if (matchVariant(variant, text)) return true;
  return false;
}

/** Whether one reading of a segment matches a path segment. */
export function matchVariant(variant: SegmentVariant, text: string): boolean {
  if (variant.literal !== null) return variant.literal === text;
  const { pieces } = variant;
  const first = pieces[0] as Atom[];
  if (pieces.length === 1) return first.length === text.length && pieceAt(first, text, 0);
  const last = pieces[pieces.length - 1] as Atom[];
  const end = text.length - last.length;
  if (first.length > end) return false;
  if (!pieceAt(first, text, 0) || !pieceAt(last, text, end)) return false;
  let from = first.length;
  for (let p = 1; p < pieces.length - 1; p++) {
    const piece = pieces[p] as Atom[];
    let at = from;
    while (at + piece.length <= end && !pieceAt(piece, text, at)) at++;
    if (at + piece.length > end) return false;
    from = at + piece.length;
  }
  return true;
}

/** Whether `group` matches `segments[at…at+group.length)`. */
function groupAt(group: readonly SegmentGlob[], segments: readonly string[], at: number): boolean {
  for (let k = 0; k < group.length; k++) {
    if (!matchSegment(group[k] as SegmentGlob, segments[at + k] as string)) return false;
  }
  return true;
}

/** Whether one expansion matches a path given as its segments, from segment `start` on. */
export function matchAlternative(alternative: GlobAlternative, segments: readonly string[], start = 0): boolean {
  const { groups } = alternative;
  const first = groups[0] as SegmentGlob[];
  const size = segments.length - start;
  if (groups.length === 1) return first.length === size && groupAt(first, segments, start);
  const last = groups[groups.length - 1] as SegmentGlob[];
  const end = segments.length - last.length - alternative.tail;
  if (start + first.length > end) return false;
  if (!groupAt(first, segments, start) || !groupAt(last, segments, end + alternative.tail)) return false;
  let from = start + first.length;
  for (let g = 1; g < groups.length - 1; g++) {
    const group = groups[g] as SegmentGlob[];
    let at = from;
    while (at + group.length <= end && !groupAt(group, segments, at)) at++;
    if (at + group.length > end) return false;
    from = at + group.length;
  }
  return true;
}

/**
 * A path's segments as globs see them: split on '/', with empty and `.` segments dropped
 * (`a//b`, `./a` and `a/` name the files `a/b`, `a` and `a`); null when nothing is left or a
 * segment is `..`, which names no file of the repository (such paths match no pattern).
 */
export function pathSegments(path: string): string[] | null {
  if (!ODD_SEGMENT.test(path)) return path.split("/");
  const segments = path.split("/").filter((part) => part !== "" && part !== ".");
  return segments.length === 0 || segments.includes("..") ? null : segments;
}

/** An empty, `.` or `..` segment: a leading, trailing or doubled '/', or a relative step. */
const ODD_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/** Whether `glob` matches `path`: one of its expansions does, or the path is the pattern's text. */
export function matchGlob(glob: Glob, path: string): boolean {
  if (path === glob.pattern) return true;
  const segments = pathSegments(path);
  if (segments === null) return false;
  return glob.alternatives.some((alternative) => matchAlternative(alternative, segments));
}

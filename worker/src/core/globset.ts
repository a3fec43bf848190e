import {
  compileGlob,
  type Glob,
  type GlobAlternative,
  matchAlternative,
  matchVariant,
  pathSegments,
  type SegmentGlob,
  type SegmentVariant,
} from "./glob.ts";

/**
 * A path as the glob sets read it, shared by every set: the path the patterns match, and its
 * segments, split only if a pattern needs them whole. Looking a path up walks its characters
 * and its slashes; nothing per path is built ahead of need.
 */
export class PathView {
  readonly path: string;
  /** What the patterns match: the path, or without its empty and `.` segments ({@link pathSegments}); null when it names no file. */
  readonly normal: string | null;
  private split: string[] | undefined;

  constructor(path: string) {
    this.path = path;
    this.normal = plainPath(path) ? path : (pathSegments(path)?.join("/") ?? null);
  }

  /** Its segments, split on first use. */
  get segments(): string[] | null {
    if (this.normal === null) return null;
    this.split ??= this.normal.split("/");
    return this.split;
  }
}

export const pathView = (path: string): PathView => new PathView(path);

/** Whether a path has no empty, `.` or `..` segment (then it is its own normal form). */
function plainPath(path: string): boolean {
  if (path.length === 0) return false;
  // Most paths have none of the characters such a segment needs where it would be.
  const odd = path.includes("//") || path.includes("/.") || path.charCodeAt(0) === 0x2e || path.at(-1) === "/";
  if (!odd) return path.charCodeAt(0) !== 0x2f;
  for (let start = 0; ; ) {
    const slash = path.indexOf("/", start);
    const end = slash === -1 ? path.length : slash;
    const length = end - start;
    if (length === 0) return false;
    if (length <= 2 && path.charCodeAt(start) === 0x2e && (length === 1 || path.charCodeAt(start + 1) === 0x2e)) {
      return false;
    }
    if (slash === -1) return true;
    start = slash + 1;
  }
}

/**
 * One segment glob per entry: a literal one by its text (one map look-up), any other by its
 * literal start (a trie walked forward) or, failing that, its literal end (a trie walked
 * backward), so a segment is tested only against the globs whose literal parts it has. A
 * segment whose first and last characters start no key costs two set look-ups.
 */
class SegmentIndex {
  private readonly literal = new Map<string, number[]>();
  /** The lengths of the literal keys, and the first and last characters of the trie keys: cheap misses. */
  private readonly literalLengths = new Set<number>();
  private readonly forward = new CharTrie();
  private readonly firsts = new Set<number>();
  private readonly backward = new CharTrie();
  private readonly lasts = new Set<number>();
  private readonly rest: Entry[] = [];

  get empty(): boolean {
    return this.literal.size === 0 && this.forward.empty && this.backward.empty && this.rest.length === 0;
  }

  add(segment: SegmentGlob, index: number): void {
    for (const glob of segment.variants) this.addVariant(glob, index);
  }

  private addVariant(glob: SegmentVariant, index: number): void {
    if (glob.literal !== null) {
      const known = this.literal.get(glob.literal);
      if (known === undefined) this.literal.set(glob.literal, [index]);
      else known.push(index);
      this.literalLengths.add(glob.literal.length);
      return;
    }
    const first = glob.pieces[0] ?? [];
    const last = glob.pieces[glob.pieces.length - 1] ?? [];
    const head = literalRun(first, false);
    const tail = glob.pieces.length > 1 ? literalRun(last, true) : "";
    if (head.length > 0 && head.length >= tail.length) {
      this.forward.add(head, { glob, index });
      this.firsts.add(head.charCodeAt(0));
    } else if (tail.length > 0) {
      this.backward.add([...tail].reverse().join(""), { glob, index });
      this.lasts.add(tail.charCodeAt(tail.length - 1));
    } else this.rest.push({ glob, index });
  }

  /**
   * Lowers `best` (per group) to the index of every glob that matches the segment
   * `text[start, end)`; the segment is cut out of the text only for a candidate.
   */
  match(text: string, start: number, end: number, best: Best): void {
    if (this.literalLengths.has(end - start)) {
      const exact = this.literal.get(text.slice(start, end));
      if (exact !== undefined) for (const index of exact) best.note(index);
    }
    if (this.firsts.has(text.charCodeAt(start))) this.forward.walk(text, start, end, false, best);
    if (this.lasts.has(text.charCodeAt(end - 1))) this.backward.walk(text, start, end, true, best);
    for (const entry of this.rest) {
      if (best.below(entry.index) && matchVariant(entry.glob, text.slice(start, end))) best.note(entry.index);
    }
  }
}

/** The earliest matching pattern of each group so far, during one path's look-up. */
class Best {
  readonly index: number[];
  private readonly groupOf: number[];

  constructor(groups: number, groupOf: number[]) {
    this.index = new Array<number>(groups).fill(Number.POSITIVE_INFINITY);
    this.groupOf = groupOf;
  }

  reset(): void {
    this.index.fill(Number.POSITIVE_INFINITY);
  }

  /** Whether pattern `index` would be the earliest of its group. */
  below(index: number): boolean {
    return index < (this.index[this.groupOf[index] as number] as number);
  }

  note(index: number | undefined): void {
    if (index === undefined) return;
    const group = this.groupOf[index] as number;
    if (index < (this.index[group] as number)) this.index[group] = index;
  }
}

/** One reading of a segment glob, and the index of its pattern. */
interface Entry {
  glob: SegmentVariant;
  index: number;
}

/** The literal characters a piece starts (or, backwards, ends) with. */
function literalRun(piece: SegmentVariant["pieces"][number], backwards: boolean): string {
  let out = "";
  for (let k = 0; k < piece.length; k++) {
    const atom = piece[backwards ? piece.length - 1 - k : k];
    if (atom?.kind !== "char") break;
    out = backwards ? atom.char + out : out + atom.char;
  }
  return out;
}

interface TrieNode<V> {
  next: Map<string, TrieNode<V>>;
  values: V[];
}

class CharTrie {
  private readonly root: TrieNode<Entry> = { next: new Map(), values: [] };
  empty = true;

  add(key: string, value: Entry): void {
    let node = this.root;
    for (const c of key) {
      let child = node.next.get(c);
      if (child === undefined) node.next.set(c, (child = { next: new Map(), values: [] }));
      node = child;
    }
    node.values.push(value);
    this.empty = false;
  }

  /** Tests `text[start, end)` against every entry whose key starts (or, backwards, ends) it, lowering `best`. */
  walk(text: string, start: number, end: number, backwards: boolean, best: Best): void {
    let node: TrieNode<Entry> | undefined = this.root;
    for (let k = 0; k < end - start; k++) {
      node = node.next.get(text[backwards ? end - 1 - k : start + k] as string);
      if (node === undefined) return;
      for (const entry of node.values) {
        if (best.below(entry.index) && matchVariant(entry.glob, text.slice(start, end))) best.note(entry.index);
      }
    }
  }
}

/** A node of the directory trie: what the literal directories leading to it start. */
interface DirNode {
  next: Map<string, DirNode>;
  /** `D/**` for the directories D leading here: the patterns' indices. */
  under: number[];
  /** Patterns that start with these literal directories and go on with wildcards: the rest of each. */
  scoped: { rest: GlobAlternative; index: number }[];
}

const newDir = (): DirNode => ({ next: new Map(), under: [], scoped: [] });

/** A literal path's patterns, or a pattern's own text: the earliest index of each group. */
function noteFirst(table: Map<string, number[]>, key: string, index: number, group: number, groupOf: number[]) {
  const indices = table.get(key);
  if (indices === undefined) table.set(key, [index]);
  else if (!indices.some((i) => groupOf[i] === group)) indices.push(index);
}

/** A pattern of a set: its text, its tag and the group it answers for. */
export interface GlobEntry<T> {
  pattern: string;
  tag: T;
  group: number;
}

/**
 * A set of tagged globs compiled for matching many paths at once, each path in time linear in
 * its length, with no regular expression. Patterns belong to groups (a policy's gpu, docker,
 * deploy and lightweight patterns, say), and one look-up finds the first pattern of every
 * group, so a path is walked once whatever the number of groups.
 *
 * Each expansion of each pattern goes to the table its shape allows:
 * - a literal path: one map look-up of the path;
 * - `**\/G` (G one segment): an index of base-name globs (literal starts and ends in tries);
 * - `**\/G/**`: the same index over each segment;
 * - literal directories first (`docs/**`, `ml/**\/*.py`, `deploy/web/*.yml`): a trie over the
 *   path's segments, walked once, testing only what follows the directories;
 * - anything else: tested whole, only while it could still be the first of its group.
 * A path equal to a pattern's text matches it too. The first match of a group agrees with
 * matching the group's patterns in turn ({@link matchGlob}), which the tests check against
 * picomatch as well.
 */
export class GlobSet<T> {
  private readonly entries: GlobEntry<T>[] = [];
  private readonly groupOf: number[] = [];
  private readonly groups: number;
  /** Literal paths and patterns' own texts. */
  private readonly exact = new Map<string, number[]>();
  private readonly bases = new SegmentIndex();
  private readonly anySegment = new SegmentIndex();
  /** `**\/G/**` with G ending in `*`: as in picomatch, G may not be the last segment. */
  private readonly innerSegment = new SegmentIndex();
  private readonly dirs: DirNode = newDir();
  /** With the number of segments the pattern matches when it has no `**` (else null). */
  private readonly general: { alternative: GlobAlternative; index: number; segments: number | null }[] = [];
  private readonly best: Best;

  /** Patterns in insertion order; `group` (default 0) is below `groups` (default 1). */
  constructor(patterns: Iterable<{ pattern: string; tag: T; group?: number; glob?: Glob }>, groups = 1) {
    this.groups = groups;
    for (const { pattern, tag, group = 0, glob = compileGlob(pattern) } of patterns) {
      if (!(group >= 0 && group < groups)) throw new RangeError(`glob group ${group} is not below ${groups}`);
      const index = this.entries.length;
      this.entries.push({ pattern, tag, group });
      this.groupOf.push(group);
      noteFirst(this.exact, pattern, index, group, this.groupOf);
      for (const alternative of glob.alternatives) this.classify(alternative, index, group);
    }
    this.best = new Best(groups, this.groupOf);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The first pattern (in insertion order) of group 0 matching the path. */
  firstMatch(view: PathView): GlobEntry<T> | null {
    return this.firstMatches(view)[0] ?? null;
  }

  /**
   * The first pattern of each group matching the path (null where none does), by group. The
   * entries are the set's own: the same pattern always gives the same object.
   */
  firstMatches(view: PathView): (GlobEntry<T> | null)[] {
    const best = this.best;
    best.reset();
    this.lookUp(view.path, best);
    const text = view.normal;
    if (text !== null) {
      if (text !== view.path) this.lookUp(text, best);
      this.walkDirs(view, best);
      const any = this.anySegment.empty ? null : this.anySegment;
      const inner = this.innerSegment.empty ? null : this.innerSegment;
      let start = 0;
      let count = 1;
      for (;;) {
        const slash = text.indexOf("/", start);
        const end = slash === -1 ? text.length : slash;
        any?.match(text, start, end, best);
        if (slash === -1) {
          if (!this.bases.empty) this.bases.match(text, start, end, best);
          break;
        }
        inner?.match(text, start, end, best);
        start = slash + 1;
        count++;
      }
      for (const { alternative, index, segments } of this.general) {
        // A pattern without `**` matches paths of its own number of segments only.
        if (segments !== null && segments !== count) continue;
        if (best.below(index) && matchAlternative(alternative, view.segments ?? [])) best.note(index);
      }
    }
    const out: (GlobEntry<T> | null)[] = new Array(this.groups);
    for (let g = 0; g < this.groups; g++) out[g] = this.entries[best.index[g] as number] ?? null;
    return out;
  }

  private lookUp(key: string, best: Best): void {
    const indices = this.exact.get(key);
    if (indices !== undefined) for (const index of indices) best.note(index);
  }

  /** Down the trie of literal directories, one segment at a time, while the path's segments are in it. */
  private walkDirs(view: PathView, best: Best): void {
    const text = view.normal as string;
    let node: DirNode | undefined = this.dirs;
    let start = 0;
    for (let depth = 0; node !== undefined; depth++) {
      for (const index of node.under) best.note(index);
      for (const { rest, index } of node.scoped) {
        if (best.below(index) && matchAlternative(rest, view.segments ?? [], depth)) best.note(index);
      }
      if (node.next.size === 0 || start > text.length) return;
      const slash = text.indexOf("/", start);
      const end = slash === -1 ? text.length : slash;
      node = node.next.get(text.slice(start, end));
      start = slash === -1 ? text.length + 1 : slash + 1;
    }
  }

  private classify(alternative: GlobAlternative, index: number, group: number): void {
    const { groups, tail } = alternative;
    const first = groups[0] as SegmentGlob[];
    if (groups.length === 1 && first.every((s) => s.literal !== null)) {
      noteFirst(this.exact, first.map((s) => s.literal).join("/"), index, group, this.groupOf);
      return;
    }
    // `**/G` and `**/G/**`.
    const [g] = groups[1] ?? [];
    if (first.length === 0 && groups.length === 2 && groups[1]?.length === 1 && g !== undefined) {
      this.bases.add(g, index);
      return;
    }
    if (first.length === 0 && groups.length === 3 && groups[1]?.length === 1 && groups[2]?.length === 0 && g) {
      (tail === 1 ? this.innerSegment : this.anySegment).add(g, index);
      return;
    }
    // Literal directories first: `D/**`, or a rest tested below D.
    let depth = 0;
    while (depth < first.length && first[depth]?.literal != null) depth++;
    if (depth > 0) {
      let node = this.dirs;
      for (let d = 0; d < depth; d++) {
        const name = first[d]?.literal as string;
        let child = node.next.get(name);
        if (child === undefined) node.next.set(name, (child = newDir()));
        node = child;
      }
      if (depth === first.length && groups.length === 2 && groups[1]?.length === 0 && tail === 0) {
        if (!node.under.some((i) => this.groupOf[i] === group)) node.under.push(index);
      } else {
        node.scoped.push({ rest: { groups: [first.slice(depth), ...groups.slice(1)], tail }, index });
      }
      return;
    }
    this.general.push({ alternative, index, segments: groups.length === 1 ? first.length : null });
  }
}

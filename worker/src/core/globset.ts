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

/** A path as the glob sets read it: split once, on demand, and shared by every set. */
export interface PathView {
  path: string;
  /** Its segments ({@link pathSegments}); null when it can match no pattern. */
  segments: string[] | null;
  /** The segments joined again: the path without empty or `.` segments (most often the path itself). */
  normal: string;
}

export function pathView(path: string): PathView {
  const segments = pathSegments(path);
  if (segments === null) return { path, segments, normal: "" };
  const plain =
    segments.length === 1 ? segments[0] === path : path.length === sumLength(segments) + segments.length - 1;
  return { path, segments, normal: plain ? path : segments.join("/") };
}

function sumLength(parts: readonly string[]): number {
  let n = 0;
  for (const part of parts) n += part.length;
  return n;
}

/**
 * One segment glob per entry, indexed by its literal start (a trie walked forward) or, failing
 * that, its literal end (a trie walked backward), so a segment is tested only against the
 * globs whose literal parts it has. `first` costs one walk of the segment per trie plus a
 * linear test per candidate.
 */
class SegmentIndex {
  private readonly forward = new CharTrie();
  private readonly backward = new CharTrie();
  private readonly rest: Entry[] = [];

  get empty(): boolean {
    return this.forward.empty && this.backward.empty && this.rest.length === 0;
  }

  add(segment: SegmentGlob, index: number): void {
    for (const glob of segment.variants) this.addVariant(glob, index);
  }

  private addVariant(glob: SegmentVariant, index: number): void {
    const first = glob.pieces[0] ?? [];
    const last = glob.pieces[glob.pieces.length - 1] ?? [];
    const head = literalRun(first, false);
    const tail = glob.pieces.length > 1 ? literalRun(last, true) : "";
    if (head.length > 0 && head.length >= tail.length) this.forward.add(head, { glob, index });
    else if (tail.length > 0) this.backward.add([...tail].reverse().join(""), { glob, index });
    else this.rest.push({ glob, index });
  }

  /** Lowers `best` (per group) to the index of every glob that matches `segment`. */
  match(segment: string, best: Best): void {
    const test = (entry: Entry) => {
      if (best.below(entry.index) && matchVariant(entry.glob, segment)) best.note(entry.index);
    };
    this.forward.walk(segment, false, test);
    this.backward.walk(segment, true, test);
    for (const entry of this.rest) test(entry);
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

  /** Calls `visit` for every value whose key starts (or, backwards, ends) `text`. */
  walk(text: string, backwards: boolean, visit: (value: Entry) => void): void {
    if (this.empty) return;
    let node: TrieNode<Entry> | undefined = this.root;
    for (let k = 0; k < text.length && node !== undefined; k++) {
      node = node.next.get(text[backwards ? text.length - 1 - k : k] as string);
      if (node !== undefined) for (const value of node.values) visit(value);
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
  private readonly general: { alternative: GlobAlternative; index: number }[] = [];
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
    const { segments } = view;
    if (segments !== null) {
      if (view.normal !== view.path) this.lookUp(view.normal, best);
      this.walkDirs(segments, best);
      if (!this.bases.empty) this.bases.match(segments[segments.length - 1] as string, best);
      if (!this.anySegment.empty || !this.innerSegment.empty) {
        for (let s = 0; s < segments.length; s++) {
          const segment = segments[s] as string;
          this.anySegment.match(segment, best);
          if (s < segments.length - 1) this.innerSegment.match(segment, best);
        }
      }
      for (const { alternative, index } of this.general) {
        if (best.below(index) && matchAlternative(alternative, segments)) best.note(index);
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

  private walkDirs(segments: readonly string[], best: Best): void {
    let node: DirNode | undefined = this.dirs;
    for (let depth = 0; node !== undefined; depth++) {
      for (const index of node.under) best.note(index);
      for (const { rest, index } of node.scoped) {
        if (best.below(index) && matchAlternative(rest, segments, depth)) best.note(index);
      }
      const segment = segments[depth];
      node = segment === undefined ? undefined : node.next.get(segment);
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
    this.general.push({ alternative, index });
  }
}

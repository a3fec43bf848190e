import { describe, expect, it } from "vitest";
import {
  changesFromList,
  changesFromPush,
  GITHUB_CAPS,
  type PushCommit,
  unknownChanges,
} from "../../worker/src/core/index.ts";

const commits = (n: number, make: (i: number) => PushCommit = (i) => ({ modified: [`src/f${i % 5}.ts`] })) =>
  Array.from({ length: n }, (_, i) => make(i));

describe("changesFromPush", () => {
  it("is the union of added, removed and modified over every commit, without duplicates, in first-seen order", () => {
    const changes = changesFromPush([
      { added: ["a.md", "src/new.ts"], removed: ["old.txt"], modified: ["README.md"] },
      { added: [], removed: ["src/new.ts"], modified: ["a.md", "Dockerfile"] },
      { added: null, removed: null, modified: null },
      {},
      { modified: ["README.md", "docs/x.md"] },
    ]);
    expect(changes).toEqual({
      files: ["a.md", "src/new.ts", "old.txt", "README.md", "Dockerfile", "docs/x.md"],
      known: true,
      truncated: false,
      source: "push payload",
      notes: [],
    });
  });

  it("no commits (a tag or branch created at an existing commit) → known and empty", () => {
    expect(changesFromPush([])).toEqual({
      files: [],
      known: true,
      truncated: false,
      source: "push payload",
      notes: [],
    });
  });

  it.each<[number, boolean]>([
    [2047, false],
    [2048, true],
    [2100, true],
  ])("%i commits → truncated %s", (n, truncated) => {
    const changes = changesFromPush(commits(n));
    expect(changes.truncated).toBe(truncated);
    expect(changes.known).toBe(true);
    expect(changes.files).toEqual(["src/f0.ts", "src/f1.ts", "src/f2.ts", "src/f3.ts", "src/f4.ts"]);
    expect(changes.notes).toEqual(
      truncated ? [`push lists ${n.toLocaleString("en-US")} commits, GitHub's cap is 2,048`] : [],
    );
  });

  it("a commit listing 3,000 files → truncated, with a note", () => {
    const big: PushCommit = {
      added: Array.from({ length: 1000 }, (_, i) => `a/${i}.md`),
      removed: Array.from({ length: 1000 }, (_, i) => `r/${i}.md`),
      modified: Array.from({ length: 1000 }, (_, i) => `m/${i}.md`),
    };
    const changes = changesFromPush([{ modified: ["README.md"] }, big]);
    expect(changes.truncated).toBe(true);
    expect(changes.files).toHaveLength(3001);
    expect(changes.notes).toEqual(["1 commit list 3,000+ files, GitHub's per-commit cap"]);
  });

  it("a commit listing 2,999 files is not truncated", () => {
    const changes = changesFromPush([{ modified: Array.from({ length: 2999 }, (_, i) => `m/${i}.md`) }]);
    expect(changes.truncated).toBe(false);
    expect(changes.notes).toEqual([]);
  });

  it("counts every capped commit, and notes both caps when both are hit", () => {
    const capped = { added: Array.from({ length: 3000 }, (_, i) => `x/${i}`) };
    const changes = changesFromPush(commits(2048, (i) => (i < 2 ? capped : { modified: ["a"] })));
    expect(changes.truncated).toBe(true);
    expect(changes.notes).toEqual([
      "push lists 2,048 commits, GitHub's cap is 2,048",
      "2 commits list 3,000+ files, GitHub's per-commit cap",
    ]);
  });

  it("the caps are GitHub's documented limits", () => {
    expect(GITHUB_CAPS).toEqual({
      pushCommits: 2048,
      filesPerCommit: 3000,
      pullRequestFiles: 3000,
      compareFiles: 300,
      commitFiles: 3000,
    });
  });
});

describe("changesFromList", () => {
  it.each<[string, number, number, boolean]>([
    ["pull request files", GITHUB_CAPS.pullRequestFiles, 2999, false],
    ["pull request files", GITHUB_CAPS.pullRequestFiles, 3000, true],
    ["compare", GITHUB_CAPS.compareFiles, 299, false],
    ["compare", GITHUB_CAPS.compareFiles, 300, true],
    ["commit", GITHUB_CAPS.commitFiles, 3000, true],
  ])("%s with cap %i: %i files → truncated %s", (source, cap, n, truncated) => {
    const files = Array.from({ length: n }, (_, i) => `f/${i}.ts`);
    const changes = changesFromList(files, cap, source);
    expect(changes).toEqual({
      files,
      known: true,
      truncated,
      source,
      notes: truncated
        ? [`${source} returned ${n.toLocaleString("en-US")} files, its cap is ${cap.toLocaleString("en-US")}`]
        : [],
    });
  });

  it("de-duplicates, keeping the first occurrence's order", () => {
    expect(changesFromList(["b", "a", "b", "c", "a"], 300, "compare").files).toEqual(["b", "a", "c"]);
  });

  it("detects the cap on the list as GitHub returned it, before de-duplication", () => {
    const changes = changesFromList(["a", "a", "b"], 3, "compare");
    expect(changes.files).toEqual(["a", "b"]);
    expect(changes.truncated).toBe(true);
    expect(changes.notes).toEqual(["compare returned 3 files, its cap is 3"]);
  });

  it("an empty list is known, not truncated", () => {
    expect(changesFromList([], 300, "compare")).toEqual({
      files: [],
      known: true,
      truncated: false,
      source: "compare",
      notes: [],
    });
  });

  it("does not alias the caller's array", () => {
    const files = ["a", "b"];
    const changes = changesFromList(files, 300, "compare");
    files.push("c");
    expect(changes.files).toEqual(["a", "b"]);
  });
});

describe("unknownChanges", () => {
  it("is unknown, empty and not truncated, keeping why as its note", () => {
    expect(unknownChanges("pull request", "no GITHUB_TOKEN to list files")).toEqual({
      files: [],
      known: false,
      truncated: false,
      source: "pull request",
      notes: ["no GITHUB_TOKEN to list files"],
    });
  });
});

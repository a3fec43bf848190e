import type { ChangeSet } from "./types.ts";

/** Where GitHub stops listing, per its documentation. Reaching a cap means the list may be cut. */
export const GITHUB_CAPS = {
  pushCommits: 2048,
  filesPerCommit: 3000,
  pullRequestFiles: 3000,
  compareFiles: 300,
  commitFiles: 3000,
} as const;

export interface PushCommit {
  added?: string[] | null;
  removed?: string[] | null;
  modified?: string[] | null;
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** The files a push touched: the union over all its commits, with GitHub's caps detected. */
export function changesFromPush(commits: readonly PushCommit[]): ChangeSet {
  const files = new Set<string>();
  const notes: string[] = [];
  let capped = 0;
  for (const commit of commits) {
    const added = commit.added ?? [];
    const removed = commit.removed ?? [];
    const modified = commit.modified ?? [];
    if (added.length + removed.length + modified.length >= GITHUB_CAPS.filesPerCommit) capped++;
    for (const list of [added, removed, modified]) for (const file of list) files.add(file);
  }
  if (commits.length >= GITHUB_CAPS.pushCommits) {
    notes.push(`push lists ${fmt(commits.length)} commits, GitHub's cap is ${fmt(GITHUB_CAPS.pushCommits)}`);
  }
  if (capped > 0) {
    notes.push(
      `${capped} commit${capped === 1 ? "" : "s"} list ${fmt(GITHUB_CAPS.filesPerCommit)}+ files, GitHub's per-commit cap`,
    );
  }
  return { files: [...files], known: true, truncated: notes.length > 0, source: "push payload", notes };
}

/** A file list from one of GitHub's listing APIs, truncated when it reached that API's cap. */
export function changesFromList(files: readonly string[], cap: number, source: string): ChangeSet {
  const unique = [...new Set(files)];
  const truncated = files.length >= cap;
  const notes = truncated ? [`${source} returned ${fmt(files.length)} files, its cap is ${fmt(cap)}`] : [];
  return { files: unique, known: true, truncated, source, notes };
}

/** A change whose files nobody could list. */
export function unknownChanges(source: string, why: string): ChangeSet {
  return { files: [], known: false, truncated: false, source, notes: [why] };
}

import { type ChangeSet, changesFromPush, type RouteIntent, unknownChanges, ZERO_SHA } from "./core/index.ts";
import type { GitHubClient } from "./github.ts";
import { gitHubClient, gitHubClientFor } from "./github-app.ts";
import type { Settings } from "./settings.ts";

/** The files a routed event touched: from the payload when it lists them, else from GitHub's API. */
export async function changesFor(
  intent: RouteIntent,
  settings: Settings,
  github: GitHubClient | null = gitHubClient(settings.github, null),
): Promise<ChangeSet> {
  const noToken = "GITHUB_TOKEN is not set, so GitHub's API was not asked";
  if (intent.push !== null) {
    const { commits, before, after } = intent.push;
    if (commits.length > 0) return changesFromPush(commits);
    if (ZERO_SHA.test(before)) return unknownChanges("push payload", "new ref with no commits listed");
    if (github === null) return unknownChanges("push payload", `push lists no commits; ${noToken}`);
    return github.compareFiles(intent.repository, before, after);
  }
  if (intent.pullRequest !== null) {
    if (github === null) return unknownChanges("pull request", `pull_request carries no file list; ${noToken}`);
    return github.pullRequestFiles(intent.repository, intent.pullRequest);
  }
  return unknownChanges(intent.event, `${intent.event} carries no file list`);
}

/** The files of one commit, for suggestion requests about a commit no webhook announced. */
export async function changesForCommit(repository: string, sha: string, settings: Settings): Promise<ChangeSet> {
  const github = gitHubClientFor(settings.github, repository);
  if (github === null) {
    return unknownChanges("route request", "no files given and GITHUB_TOKEN is not set");
  }
  return github.commitFiles(repository, sha);
}

import type { RunnerClass } from "./stack-config.ts";

/**
 * Labels every self-hosted runner gets from GitHub without asking (`self-hosted`, the OS and the
 * architecture). They are not passed to `config.sh --labels`.
 */
const DEFAULT_RUNNER_LABELS = new Set(["self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64"]);

/** The labels to pass to `./config.sh --labels`: the class's runs-on minus what GitHub adds itself. */
export function registrationLabels(runsOn: readonly string[]): string[] {
  return runsOn.filter((label) => !DEFAULT_RUNNER_LABELS.has(label.toLowerCase()));
}

/**
 * How a machine joins a self-hosted runner class: GitHub's runner `config.sh`, in the class's
 * runner group, with the labels the router names in `runs-on`. Runner groups carry no labels;
 * labels belong to runners, so this is where the pool's labels meet the machines.
 */
export function registrationCommand(runner: RunnerClass, githubOwner: string): string {
  const parts = [
    "./config.sh",
    `--url https://github.com/${githubOwner}`,
    "--token <registration-token>",
    ...(runner.group === null ? [] : [`--runnergroup ${runner.group}`]),
    `--labels ${registrationLabels(runner.runsOn).join(",")}`,
    `--name <host>-${runner.id}`,
    "--unattended",
  ];
  return parts.join(" ");
}

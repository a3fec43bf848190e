/**
 * GitHub's per-minute prices for its standard hosted runners, by `runs-on` label, from 2026-01-01
 * (GitHub's billing documentation, "Actions runner pricing"): Linux 2-core $0.006, Linux 1-core
 * $0.002, Linux ARM 2-core $0.005, Windows 2-core $0.010, macOS $0.062. Each job is billed
 * rounded up to the whole minute (costs.ts `jobMinutes`). Larger runners have names their owner
 * chooses (4-core Linux $0.012, 8-core $0.022, 16-core $0.042, GPU 4-core $0.052), so a runner
 * class on one of them states its `cost`.
 */
export const GITHUB_HOSTED_PRICES: Readonly<Record<string, number>> = Object.freeze({
  "ubuntu-latest": 0.006,
  "ubuntu-24.04": 0.006,
  "ubuntu-22.04": 0.006,
  "ubuntu-slim": 0.002,
  "ubuntu-24.04-arm": 0.005,
  "ubuntu-22.04-arm": 0.005,
  "windows-latest": 0.01,
  "windows-2025": 0.01,
  "windows-2022": 0.01,
  "windows-11-arm": 0.01,
  "macos-latest": 0.062,
  "macos-26": 0.062,
  "macos-15": 0.062,
  "macos-14": 0.062,
  "macos-13": 0.062,
});

/** GitHub's per-minute price for a hosted runner with these labels: the first label it prices, or null. */
export function hostedPrice(runsOn: readonly string[]): number | null {
  for (const label of runsOn) {
    const price = Object.hasOwn(GITHUB_HOSTED_PRICES, label.toLowerCase())
      ? GITHUB_HOSTED_PRICES[label.toLowerCase()]
      : undefined;
    if (price !== undefined) return price;
  }
  return null;
}

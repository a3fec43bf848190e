/** The simulation's printed table, its aims, and its `--json` document. */
import type { PolicyFigures } from "./figures.ts";
import type { Aim } from "./run.ts";

const usd = (x: number) => `$${x.toFixed(2)}`;
const seconds = (x: number) => `${x.toFixed(0)} s`;
const minutes = (x: number) => `${(x / 60).toFixed(1)} min`;
const signed = (x: number, f: (v: number) => string) => (x > 0 ? `+${f(x)}` : x < 0 ? `-${f(-x)}` : f(0));

interface Column {
  head: string;
  cell: (f: PolicyFigures) => string;
}

const COLUMNS: Column[] = [
  { head: "policy", cell: (f) => f.policy },
  { head: "cost", cell: (f) => usd(f.cost_usd) },
  { head: "baseline", cell: (f) => usd(f.baseline_usd) },
  { head: "fixed", cell: (f) => usd(f.fixed_usd) },
  { head: "per-min", cell: (f) => usd(f.per_minute_usd) },
  { head: "idle", cell: (f) => usd(f.idle_usd) },
  { head: "/build", cell: (f) => `$${f.cost_per_build_usd.toFixed(4)}` },
  { head: "queue p50", cell: (f) => seconds(f.queue_p50_s) },
  { head: "queue p95", cell: (f) => seconds(f.queue_p95_s) },
  { head: "green p95", cell: (f) => minutes(f.ttg_p95_s) },
  { head: "misplaced", cell: (f) => String(f.failed_placements) },
  { head: "SLO days", cell: (f) => `${f.slo_violations}/${f.class_days}` },
  { head: "regret $", cell: (f) => (f.regret === null ? "-" : signed(f.regret.cost_usd, usd)) },
  { head: "regret green", cell: (f) => (f.regret === null ? "-" : signed(f.regret.ttg_p95_s, minutes)) },
  { head: "objective", cell: (f) => usd(f.objective_usd) },
];

/** The table, one row per policy, columns aligned. */
export function table(figures: readonly PolicyFigures[]): string {
  const rows = [COLUMNS.map((c) => c.head), ...figures.map((f) => COLUMNS.map((c) => c.cell(f)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "))
    .join("\n");
}

/** What the columns mean, printed under the table. */
export const LEGEND = [
  "cost: fixed monthly prices prorated to the trace's span + per-minute charges (each job rounded up to the minute) + idle warm machines on per-minute classes; baseline: the same billed minutes on GitHub-hosted runners (GPU work left out)",
  "queue: queued → started (cold starts included); green: commit → its last job done; misplaced: jobs put on a class that cannot run them (baselines may; routers must not)",
  "SLO days: class-days whose p95 queue exceeded the class's target; regret: minus the oracle's; objective: per-minute + idle + queue minutes × the wait price",
].join("\n");

/** The aims, each met or NOT met. */
export function aimsText(aims: readonly Aim[]): string {
  return aims.map((a) => `${a.met ? "met    " : "NOT met"}  ${a.aim}: ${a.detail}`).join("\n");
}

/** Extra lines: how each policy spread its jobs, warm machines, exploration. */
export function details(figures: readonly PolicyFigures[]): string {
  return figures
    .map((f) => {
      const spread = Object.entries(f.by_runner)
        .map(([runner, line]) => `${runner} ${line.jobs}`)
        .join(", ");
      const warm = f.warm.warmed > 0 ? `; warmed ${f.warm.warmed} (used ${f.warm.used}, let go ${f.warm.wasted})` : "";
      const explored = f.explored > 0 ? `; explored ${f.explored} of ${f.builds} commits` : "";
      return `${f.policy}: jobs by class ${spread || "none"}; cold starts ${f.cold_starts}, warm ${f.warm_starts}${warm}${explored}`;
    })
    .join("\n");
}

/**
 * Per policy, how evenly queue time fell on the repositories: Jain's index of their mean queue
 * times (1: all equal) and the p95 queue of the small repositories (all but the largest).
 */
export function fairnessText(figures: readonly PolicyFigures[]): string {
  const largest = figures.find((f) => f.fairness !== null)?.fairness?.largest ?? null;
  const width = Math.max(0, ...figures.map((f) => f.policy.length));
  const head = `fairness (Jain's index of the repositories' mean queue times; small: every repository but ${largest ?? "none"}):`;
  const rows = figures.flatMap((f) =>
    f.fairness === null
      ? []
      : [
          `${f.policy.padEnd(width)}  Jain ${f.fairness.jain_index.toFixed(3)}  small p95 queue ${seconds(f.fairness.small_queue_p95_s)}  mean queue ${Object.entries(
            f.fairness.mean_queue_s,
          )
            .map(([repository, s]) => `${repository} ${seconds(s)}`)
            .join(", ")}`,
        ],
  );
  return [head, ...rows].join("\n");
}

/** The `--json` document: the run, every policy's name and figures, the aims. */
export function jsonDocument(run: {
  trace: { commits: number; jobs: number; start: string; end: string; source: string };
  figures: readonly PolicyFigures[];
  aims: readonly Aim[];
  cpu_ms: number;
  wall_ms: number;
}): string {
  return `${JSON.stringify(run, null, 2)}\n`;
}

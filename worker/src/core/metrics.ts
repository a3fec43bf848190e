/**
 * The router's Prometheus metrics: one catalogue of families, and the text exposition format
 * (version 0.0.4) they are served in. Values are kept elsewhere (the Ledger); this is the shape.
 */

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  labels: readonly string[];
}

/** Bucket upper bounds, in seconds, for job queue and run times: 5 s to 2 h. */
export const DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200] as const;

export const METRICS = {
  deliveries: {
    name: "ci_router_webhook_deliveries_total",
    help: "Webhook deliveries answered 2xx, by event and outcome (accepted, ignored, duplicate).",
    type: "counter",
    labels: ["event", "outcome"],
  },
  rejections: {
    name: "ci_router_webhook_rejections_total",
    help: "Webhook deliveries refused, by the error code answered.",
    type: "counter",
    labels: ["reason"],
  },
  decisions: {
    name: "ci_router_routing_decisions_total",
    help: "Routing decisions made for accepted deliveries, by runner, requirement and mode.",
    type: "counter",
    labels: ["runner", "requirement", "mode"],
  },
  unsatisfiable: {
    name: "ci_router_unsatisfiable_decisions_total",
    help: "Decisions whose requirement the mode could not meet (e.g. gpu in cloudflare-only).",
    type: "counter",
    labels: ["requirement", "mode"],
  },
  incompleteFiles: {
    name: "ci_router_incomplete_file_lists_total",
    help: "Routed changes whose file list was truncated by GitHub or unknown.",
    type: "counter",
    labels: ["kind"],
  },
  builds: {
    name: "ci_router_builds_completed_total",
    help: "Builds whose workflow runs all completed, by the runner class that ran them and conclusion.",
    type: "counter",
    labels: ["runner", "conclusion"],
  },
  jobs: {
    name: "ci_router_jobs_completed_total",
    help: "Workflow jobs completed, by runner class and conclusion.",
    type: "counter",
    labels: ["runner", "conclusion"],
  },
  queueSeconds: {
    name: "ci_router_job_queue_seconds",
    help: "Time a job waited for a runner (workflow_job queued to in_progress), by runner class.",
    type: "histogram",
    labels: ["runner"],
  },
  runSeconds: {
    name: "ci_router_job_run_seconds",
    help: "Time a job ran (workflow_job in_progress to completed), by runner class.",
    type: "histogram",
    labels: ["runner"],
  },
  abJobs: {
    name: "ci_router_ab_jobs_completed_total",
    help: "Workflow jobs completed for builds routed under an A/B rollout, by runner class, arm (control, candidate) and conclusion.",
    type: "counter",
    labels: ["runner", "arm", "conclusion"],
  },
  abQueueSeconds: {
    name: "ci_router_ab_job_queue_seconds",
    help: "Time a job of an A/B-routed build waited for a runner, by runner class and arm.",
    type: "histogram",
    labels: ["runner", "arm"],
  },
  abRunSeconds: {
    name: "ci_router_ab_job_run_seconds",
    help: "Time a job of an A/B-routed build ran, by runner class and arm.",
    type: "histogram",
    labels: ["runner", "arm"],
  },
  accuracy: {
    name: "ci_router_routing_accuracy_total",
    help: "Jobs that ran (counted when they finish) by the runner the router suggested and the runner class that took them; the router's own route jobs are left out.",
    type: "counter",
    labels: ["suggested", "used"],
  },
  routingJobs: {
    name: "ci_router_routing_jobs_total",
    help: "The router's own route jobs (a job that asked for its route naming itself), finished, by runner class and conclusion.",
    type: "counter",
    labels: ["runner", "conclusion"],
  },
  billableSeconds: {
    name: "ci_router_job_billable_seconds_total",
    help: "Billable job time in seconds (each job rounded up to the whole minute, as GitHub bills), by runner class.",
    type: "counter",
    labels: ["runner"],
  },
  monthCost: {
    name: "ci_router_month_cost_usd",
    help: "Estimated cost this calendar month to date: per-minute runners' minutes and fixed runners' prorated price.",
    type: "gauge",
    labels: [],
  },
  monthBaseline: {
    name: "ci_router_month_baseline_usd",
    help: "What this month's non-GPU job minutes would have cost on GitHub-hosted runners.",
    type: "gauge",
    labels: [],
  },
  monthSavings: {
    name: "ci_router_month_savings_usd",
    help: "This month's baseline minus its estimated cost.",
    type: "gauge",
    labels: [],
  },
  notifications: {
    name: "ci_router_notifications_total",
    help: "Discord alerts by kind and final outcome (sent, failed).",
    type: "counter",
    labels: ["kind", "outcome"],
  },
  notificationRetries: {
    name: "ci_router_notification_retries_total",
    help: "Discord deliveries retried after a 429, a 5xx or a network error.",
    type: "counter",
    labels: [],
  },
  warmCalls: {
    name: "ci_router_warm_calls_total",
    help: "Wake-ups sent to runner classes' warm hooks, by runner class and final outcome (sent, failed).",
    type: "counter",
    labels: ["runner", "outcome"],
  },
  dispatches: {
    name: "ci_router_dispatches_total",
    help: "Downstream workflow dispatches of cross-repository builds, counted once when they end, by outcome (sent; failed: refused by GitHub, out of retries, or replaced by a later push's).",
    type: "counter",
    labels: ["outcome"],
  },
  commitStatuses: {
    name: "ci_router_commit_statuses_total",
    help: "Commit statuses set on upstream commits for their downstream builds, counted once when they end, by state (pending, success, failure, error) and outcome (sent, failed).",
    type: "counter",
    labels: ["state", "outcome"],
  },
  checkRuns: {
    name: "ci_router_check_runs_total",
    help: "GitHub App check-run calls on routed commits, by action (create, update, complete) and outcome (sent; retried: a try that will be tried again; failed), sent and failed counted once when the call ends.",
    type: "counter",
    labels: ["action", "outcome"],
  },
  rateLimit: {
    name: "ci_router_github_rate_limit_remaining",
    help: "GitHub API requests left in the current window, as last reported by GitHub.",
    type: "gauge",
    labels: [],
  },
  jobChecks: {
    name: "ci_router_job_checks_total",
    help: "Jobs held queued or busy longer than usual that the router asked GitHub about, by result (repaired: an event had been lost; unchanged; not_found; failed).",
    type: "counter",
    labels: ["result"],
  },
  jobsExpired: {
    name: "ci_router_fleet_jobs_expired_total",
    help: "Jobs the fleet let go after their state's maximum age (waiting 30 days, queued 24 hours, busy 5 days), by the state they were in.",
    type: "counter",
    labels: ["state"],
  },
  rescues: {
    name: "ci_router_rescues_total",
    help: "Jobs found stuck past their class's queue target, by runner class and what was done (rescue, alert, give_up).",
    type: "counter",
    labels: ["runner", "action"],
  },
} as const satisfies Record<string, MetricFamily>;

export type MetricKey = keyof typeof METRICS;

/** One value of a counter or gauge. */
export interface Sample {
  metric: MetricKey;
  labels: Record<string, string>;
  value: number;
}

/** One histogram series: counts per DURATION_BUCKETS bound plus one for +Inf, not cumulative. */
export interface HistogramSeries {
  metric: MetricKey;
  labels: Record<string, string>;
  counts: number[];
  sum: number;
}

/** Observations a histogram needs before its quantiles are trusted. */
export const MIN_QUANTILE_OBSERVATIONS = 20;

/**
 * The `q` quantile of a histogram (counts per {@link DURATION_BUCKETS} bound plus +Inf, not
 * cumulative), as the upper bound of the bucket it falls in (twice the last bound for +Inf);
 * null with fewer than {@link MIN_QUANTILE_OBSERVATIONS} observations.
 */
export function histogramQuantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total < MIN_QUANTILE_OBSERVATIONS) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= q * total) return DURATION_BUCKETS[i] ?? 2 * (DURATION_BUCKETS.at(-1) as number);
  }
  return 2 * (DURATION_BUCKETS.at(-1) as number);
}

/** The bucket a value falls in: the first bound it does not exceed, or the +Inf bucket. */
export function bucketOf(value: number): number {
  const i = DURATION_BUCKETS.findIndex((bound) => value <= bound);
  return i === -1 ? DURATION_BUCKETS.length : i;
}

/** A canonical key for a label set: the same labels always give the same text. */
export function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

export function labelsFromKey(key: string): Record<string, string> {
  return Object.fromEntries(JSON.parse(key) as [string, string][]);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(labels: Record<string, string>, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

/**
 * Renders every family of the catalogue in the text exposition format 0.0.4: HELP and TYPE
 * lines for each (families without values included), then its series in label order.
 */
export function renderExposition(samples: readonly Sample[], histograms: readonly HistogramSeries[]): string {
  const lines: string[] = [];
  const byLabels = <T extends { labels: Record<string, string> }>(a: T, b: T) =>
    labelKey(a.labels) < labelKey(b.labels) ? -1 : 1;
  for (const [key, family] of Object.entries(METRICS) as [MetricKey, MetricFamily][]) {
    lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === "histogram") {
      for (const series of histograms.filter((h) => h.metric === key).sort(byLabels)) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((bound, i) => {
          cumulative += series.counts[i] ?? 0;
          lines.push(`${family.name}_bucket${formatLabels(series.labels, ["le", String(bound)])} ${cumulative}`);
        });
        cumulative += series.counts[DURATION_BUCKETS.length] ?? 0;
        lines.push(`${family.name}_bucket${formatLabels(series.labels, ["le", "+Inf"])} ${cumulative}`);
        lines.push(`${family.name}_sum${formatLabels(series.labels)} ${formatValue(series.sum)}`);
        lines.push(`${family.name}_count${formatLabels(series.labels)} ${cumulative}`);
      }
    } else {
      for (const sample of samples.filter((s) => s.metric === key).sort(byLabels)) {
        lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

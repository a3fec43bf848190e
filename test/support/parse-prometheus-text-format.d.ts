/** Types for parse-prometheus-text-format 1.1 (the package ships none). */
declare module "parse-prometheus-text-format" {
  export interface PrometheusSample {
    /** The sample's value as written, e.g. "42", "1.5e3", "+Inf". */
    value?: string;
    labels?: Record<string, string>;
    timestamp_ms?: string;
    /** Histograms (unlabelled ones only, see observability.ts): cumulative counts by upper bound. */
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }

  export interface PrometheusFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: PrometheusSample[];
  }

  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}

import { type JobRun, readJobs } from "./jobs.ts";
import { type JobPlacement, readPlacements } from "./placements.ts";

/** Prices the router sends with a decision, in US dollars; null when it does not know one. */
export interface Pricing {
  runner_per_minute_usd: number | null;
  runner_monthly_usd: number | null;
  github_hosted_per_minute_usd: number | null;
}

/** The parts of the router's decision the action reads. */
export interface RouteDecision {
  runner: string;
  runs_on: string[];
  requirement: string;
  mode: string;
  reasons: string[];
  rule: string | null;
  satisfiable: boolean;
  /** Per declared job, whether its inputs changed; empty when the decision declares none. */
  jobs: Record<string, JobRun>;
  /** The learned router's per-job classes, of every workflow of the commit; empty when the decision has none. */
  placements: JobPlacement[];
}

/** A `GET /route` answer, as far as the action relies on it. */
export interface RouteAnswer {
  build_id: string | null;
  decision: RouteDecision;
  recorded: boolean;
  pricing: Pricing | null;
}

export type AnswerResult = { ok: true; answer: RouteAnswer } | { ok: false; problem: string };

type Json = Record<string, unknown>;

/** A JSON object, or null for anything else. */
function object(value: unknown): Json | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

/** A list of non-empty strings, or null. */
function labels(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "") ? (value as string[]) : null;
}

/** A price: a finite number, or null when absent or anything else. */
function price(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** The router's prices, when it sent any. */
function readPricing(value: unknown): Pricing | null {
  const pricing = object(value);
  if (pricing === null) return null;
  return {
    runner_per_minute_usd: price(pricing.runner_per_minute_usd),
    runner_monthly_usd: price(pricing.runner_monthly_usd),
    github_hosted_per_minute_usd: price(pricing.github_hosted_per_minute_usd),
  };
}

/**
 * Checks a 200 answer's body before anything of it becomes an output: a build job must never be
 * handed labels that are not labels. Optional parts (rule, reasons, pricing, jobs, placements)
 * default to empty, and an unreadable job or placement is left out rather than failing the answer.
 */
export function readAnswer(body: unknown): AnswerResult {
  const root = object(body);
  const decision = object(root?.decision);
  if (root === null || decision === null) return { ok: false, problem: "the body has no decision" };
  const runsOn = labels(decision.runs_on);
  if (runsOn === null || runsOn.length === 0) return { ok: false, problem: "decision.runs_on is not a list of labels" };
  if (typeof decision.runner !== "string" || decision.runner === "") {
    return { ok: false, problem: "decision.runner is not a runner name" };
  }
  return {
    ok: true,
    answer: {
      build_id: typeof root.build_id === "string" && root.build_id !== "" ? root.build_id : null,
      recorded: root.recorded === true,
      pricing: readPricing(root.pricing),
      decision: {
        runner: decision.runner,
        runs_on: runsOn,
        requirement: typeof decision.requirement === "string" ? decision.requirement : "",
        mode: typeof decision.mode === "string" ? decision.mode : "",
        reasons: labels(decision.reasons) ?? [],
        rule: typeof decision.rule === "string" ? decision.rule : null,
        satisfiable: decision.satisfiable !== false,
        jobs: readJobs(decision.jobs),
        placements: readPlacements(decision.placements),
      },
    },
  };
}

/** Most characters of the router's error message quoted in a warning. */
const MAX_MESSAGE = 300;

/**
 * "router answered 401 unauthorized: <message>" from an error answer: the status, and the
 * router's `{"error":{"code","message"}}` when the body is one (a proxy's HTML page is not quoted).
 */
export function describeErrorAnswer(status: number, statusText: string, bodyText: string): string {
  let error: Json | null = null;
  try {
    error = object(object(JSON.parse(bodyText))?.error);
  } catch {
    error = null;
  }
  const code = typeof error?.code === "string" ? error.code : statusText.toLowerCase();
  const message = typeof error?.message === "string" ? oneLine(error.message) : "";
  const head = `router answered ${status}${code === "" ? "" : ` ${code}`}`;
  return message === "" ? head : `${head}: ${message}`;
}

/** A message on one line, cut to MAX_MESSAGE characters. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE - 1)}…` : flat;
}

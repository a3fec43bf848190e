import * as z from "zod/mini";
import type { BuildRecord, JobState } from "./builds.ts";
import { deployRefOf } from "./deploy.ts";
import { cutText, fitLines, REPOSITORY, SHA } from "./names.ts";
import { ALERT_KINDS, type AlertKind, type AlertsPolicy, type RoutingPolicy } from "./types.ts";

/**
 * Which builds are important enough to tell a person about, and the Discord message that tells
 * them. Pure: the Worker's shell decides when to send and does the sending.
 */

export const DEFAULT_ALERTS: AlertsPolicy = { enabled: [...ALERT_KINDS], queuedTooLongSeconds: 900 };

/** The `alerts` key of the routing configuration. Every key is optional. */
export const alertsSchema = z.strictObject({
  enabled: z.optional(z.array(z.enum(ALERT_KINDS))),
  queuedTooLongSeconds: z.optional(z.int().check(z.gte(60, "must be at least 60 (seconds)"))),
});

export type AlertsInput = z.infer<typeof alertsSchema>;

/** The alerts policy for a validated `alerts` input: what it leaves out keeps the defaults. */
export function resolveAlerts(input: AlertsInput | undefined): AlertsPolicy {
  const enabled = input?.enabled;
  return {
    enabled: enabled === undefined ? [...DEFAULT_ALERTS.enabled] : ALERT_KINDS.filter((k) => enabled.includes(k)),
    queuedTooLongSeconds: input?.queuedTooLongSeconds ?? DEFAULT_ALERTS.queuedTooLongSeconds,
  };
}

/** Something that happened to a build that may deserve an alert. */
export type AlertEvent =
  | { kind: "routed"; build: BuildRecord }
  | { kind: "completed"; build: BuildRecord }
  | { kind: "job_ran"; build: BuildRecord; job: JobState }
  | {
      kind: "queued_too_long";
      build: BuildRecord;
      job: JobState;
      waitedSeconds: number;
      /**
       * Set by the rescue desk for a job past its class's queue target that it would not or could
       * not rescue: why. The alert is then raised whatever the policy's threshold, and says so.
       */
      rescue?: string;
    };

export interface Alert {
  kind: AlertKind;
  title: string;
  build_id: string;
  /** Why a stuck job was not rescued (shown as a "Rescue" field). */
  rescue?: string;
}

/** Conclusions that count as a failed build. */
const FAILED = new Set(["failure", "timed_out", "startup_failure"]);

/** `refs/heads/main` → `main`, `refs/tags/v1` → `v1`; other refs as they are. */
function refName(ref: string | null): string {
  if (ref === null) return "(no ref)";
  return ref.replace(/^refs\/(?:heads|tags)\//, "");
}

function jobName(job: JobState): string {
  return job.name ?? `#${job.id}`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return plural(s, "second");
  if (s < 7200) return plural(Math.floor(s / 60), "minute");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m === 0 ? plural(h, "hour") : `${plural(h, "hour")} ${plural(m, "minute")}`;
}

/**
 * The alerts an event raises, in {@link ALERT_KINDS} order, only of the kinds `policy` enables:
 * - routed: a deploy to production → `production_deploy`; a gpu build → `gpu_build`; a decision
 *   the mode could not satisfy → `unsatisfiable`;
 * - completed: failed (failure, timed_out, startup_failure) and deploying — the decision names an
 *   environment, or the ref is one of the policy's `deploy.refs` → `deploy_ref_failure`;
 * - job_ran: a job finished (it is judged then, once the router knows whether it was its own
 *   route job) having run on a runner class other than the one the decision named → `fell_back`;
 * - queued_too_long: the job waited at least `policy.queuedTooLongSeconds`, or the rescue desk
 *   says why it was not rescued → `queued_too_long`.
 */
export function alertsFor(event: AlertEvent, routing: Pick<RoutingPolicy, "alerts" | "deploy">): Alert[] {
  const policy = routing.alerts;
  const { build } = event;
  const { decision } = build;
  const where = `${build.repository} ${refName(build.ref)}`;
  const raised: { kind: AlertKind; title: string; rescue?: string }[] = [];
  switch (event.kind) {
    case "routed":
      if (decision === null) break;
      if (decision.requirement === "deploy" && decision.environment?.toLowerCase() === "production") {
        raised.push({ kind: "production_deploy", title: `Production deploy: ${where} → ${decision.runner}` });
      }
      if (decision.requirement === "gpu") {
        raised.push({ kind: "gpu_build", title: `GPU build: ${where} → ${decision.runner}` });
      }
      if (!decision.satisfiable) {
        raised.push({
          kind: "unsatisfiable",
          title: `Cannot satisfy ${decision.requirement} in ${decision.mode} mode: ${where} → ${decision.runner}`,
        });
      }
      break;
    case "completed": {
      const conclusion = build.conclusion;
      if (conclusion === null || !FAILED.has(conclusion)) break;
      const environment = decision?.environment ?? null;
      if (environment === null && deployRefOf(routing.deploy, build.ref) === null) break;
      const target = environment === null ? "" : ` (${environment})`;
      raised.push({
        kind: "deploy_ref_failure",
        title: `Build ${conclusion.replace(/_/g, " ")} on ${refName(build.ref)}${target}: ${build.repository}`,
      });
      break;
    }
    case "job_ran": {
      const used = event.job.runner;
      if (used === null || decision === null || used === decision.runner) break;
      raised.push({
        kind: "fell_back",
        title: `Job "${jobName(event.job)}" ran on ${used}, not ${decision.runner}: ${where}`,
      });
      break;
    }
    case "queued_too_long":
      if (event.rescue === undefined && !(event.waitedSeconds >= policy.queuedTooLongSeconds)) break;
      raised.push({
        kind: "queued_too_long",
        title: `Job "${jobName(event.job)}" queued for ${duration(event.waitedSeconds)}: ${where}`,
        ...(event.rescue === undefined ? {} : { rescue: event.rescue }),
      });
      break;
  }
  const enabled = new Set(policy.enabled);
  return raised.filter((a) => enabled.has(a.kind)).map((a) => ({ ...a, build_id: build.build_id }));
}

// ---------------------------------------------------------------------------------------------
// Discord

/** Discord's embed limits, in characters (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
export const DISCORD_LIMITS = {
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  /** title, description, field names and values, footer text and author name, together. */
  total: 6000,
} as const;

export interface DiscordField {
  name: string;
  value: string;
  inline?: boolean;
}

export interface DiscordEmbed {
  title: string;
  description: string;
  url?: string;
  color: number;
  fields: DiscordField[];
  timestamp?: string;
  footer?: { text: string };
  author?: { name: string; url?: string };
}

/** The body of a Discord "execute webhook" request. */
export interface DiscordPayload {
  username?: string;
  embeds: DiscordEmbed[];
  /** Nothing in an alert pings anyone, whatever a ref or reason contains. */
  allowed_mentions: { parse: [] };
}

export const ALERT_COLORS: Record<AlertKind, number> = {
  production_deploy: 0x3498db,
  gpu_build: 0x9b59b6,
  deploy_ref_failure: 0xe74c3c,
  unsatisfiable: 0xe67e22,
  fell_back: 0xf1c40f,
  queued_too_long: 0x95a5a6,
};

/** The characters of an embed that count towards {@link DISCORD_LIMITS.total}. */
export function embedLength(embed: {
  title?: string;
  description?: string;
  fields?: readonly { name: string; value: string }[];
  footer?: { text: string };
  author?: { name: string };
}): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0);
  for (const field of embed.fields ?? []) n += field.name.length + field.value.length;
  return n + (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
}

const ELLIPSIS = "…";

/**
 * `text` cut to at most `max` characters (UTF-16 units, which never undercount what Discord
 * counts), ending in "…" when cut, never splitting a surrogate pair. Never empty: Discord
 * rejects empty names and values.
 */
export function discordTruncate(text: string, max: number): string {
  return cutText(text === "" ? "-" : text, Math.max(1, Math.floor(max)));
}

/** Backslash-escapes Discord markdown, so refs and globs like `docs/**` show as written. */
function markdownEscape(text: string): string {
  return text.replace(/[\\`*_~|[\]<>#]/g, "\\$&");
}

/** Lines for an embed's description (core/names.ts `fitLines`), never empty: Discord rejects an empty one. */
function embedLines(lines: readonly string[], max: number): string {
  return fitLines(lines, max, (n) => `${ELLIPSIS} and ${n} more`) || "-";
}

function httpsBase(url: string | undefined): string | null {
  if (url === undefined || !/^https:\/\/[^\s/?#()]+(?:\/[^\s?#()]*)?$/i.test(url)) return null;
  return url.replace(/\/+$/, "");
}

/** The reasons shown for a build: the decision's, or why there are none. */
function reasonLines(build: BuildRecord): string[] {
  if (build.decision === null) return ["No routing decision was recorded for this build."];
  if (build.decision.reasons.length === 0) return ["The decision recorded no reasons."];
  return build.decision.reasons.map((r) => `• ${markdownEscape(r)}`);
}

/**
 * The Discord webhook body for an alert: title and color by kind, the decision's reasons as
 * the description, and the build's repository, ref, commit (linked), runners, requirement, mode
 * and conclusion as fields. Every Discord limit holds, whatever the build holds: texts are cut
 * with "…" — first the reasons (whole reasons are dropped and counted), then field values,
 * longest first — until the embed fits.
 */
export function discordMessage(alert: Alert, build: BuildRecord, links: { repositoryUrl?: string }): DiscordPayload {
  const L = DISCORD_LIMITS;
  const { decision } = build;
  const validRepo = REPOSITORY.test(build.repository);
  const repoUrl = httpsBase(links.repositoryUrl) ?? (validRepo ? `https://github.com/${build.repository}` : null);
  const sha = build.sha !== null && SHA.test(build.sha) ? build.sha.toLowerCase() : null;
  const commitUrl = repoUrl !== null && sha !== null ? `${repoUrl}/commit/${sha}` : null;

  const repository = markdownEscape(build.repository);
  const fields: DiscordField[] = [
    { name: "Repository", value: repoUrl === null ? repository : `[${repository}](${repoUrl})`, inline: true },
    {
      name: "Ref",
      value: `${markdownEscape(build.ref ?? "(none)")}${build.pull_request === null ? "" : ` (PR #${build.pull_request})`}`,
      inline: true,
    },
    {
      name: "Commit",
      value:
        sha === null
          ? markdownEscape(build.sha ?? "(unknown)")
          : commitUrl === null
            ? sha.slice(0, 7)
            : `[${sha.slice(0, 7)}](${commitUrl})`,
      inline: true,
    },
    { name: "Event", value: markdownEscape(build.event), inline: true },
    { name: "Requirement", value: decision === null ? "(not routed)" : decision.requirement, inline: true },
    { name: "Mode", value: decision === null ? "(not routed)" : decision.mode, inline: true },
    {
      name: "Runner suggested",
      value:
        decision === null
          ? "(none)"
          : `${markdownEscape(decision.runner)} (${markdownEscape(decision.runs_on.join(", "))})${decision.satisfiable ? "" : ", cannot satisfy"}`,
      inline: true,
    },
    {
      name: build.runners_used.length === 1 ? "Runner used" : "Runners used",
      value: build.runners_used.length === 0 ? "(none yet)" : markdownEscape(build.runners_used.join(", ")),
      inline: true,
    },
    { name: "Conclusion", value: markdownEscape(build.conclusion ?? `(${build.status})`), inline: true },
  ];
  if (decision?.environment != null) {
    fields.push({ name: "Environment", value: markdownEscape(decision.environment), inline: true });
  }
  if (alert.rescue !== undefined) fields.push({ name: "Rescue", value: markdownEscape(alert.rescue) });

  const embed: DiscordEmbed = {
    title: discordTruncate(alert.title, L.title),
    description: "",
    color: ALERT_COLORS[alert.kind],
    fields: fields.slice(0, L.fields).map((f) => ({
      ...f,
      name: discordTruncate(f.name, L.fieldName),
      value: discordTruncate(f.value, L.fieldValue),
    })),
    footer: { text: discordTruncate(`pmoves-ci-orchestrator · build ${build.build_id}`, L.footerText) },
  };
  const url = commitUrl ?? repoUrl;
  if (url !== null) embed.url = url;
  const at = Date.parse(build.updated_at);
  if (Number.isFinite(at)) embed.timestamp = new Date(at).toISOString();

  // The reasons get what the other texts leave, up to their own limit.
  const lines = reasonLines(build);
  embed.description = embedLines(lines, Math.min(L.description, L.total - embedLength(embed)));
  fitTotal(embed);
  return { username: "PMOVES CI", embeds: [embed], allowed_mentions: { parse: [] } };
}

/** Cuts texts until the embed is within the total: field values longest first, then the rest. */
function fitTotal(embed: DiscordEmbed): void {
  const L = DISCORD_LIMITS;
  let excess = embedLength(embed) - L.total;
  if (excess <= 0) return;
  // Longest first; ties in field order, so the same build always gives the same message.
  const order = embed.fields.map((f, i) => ({ f, i })).sort((a, b) => b.f.value.length - a.f.value.length || a.i - b.i);
  for (const { f } of order) {
    if (excess <= 0) return;
    const before = f.value.length;
    f.value = discordTruncate(f.value, before - excess);
    excess -= before - f.value.length;
  }
  for (const field of embed.fields) {
    if (excess <= 0) return;
    const before = field.name.length;
    field.name = discordTruncate(field.name, before - excess);
    excess -= before - field.name.length;
  }
  if (excess > 0 && embed.footer) {
    const before = embed.footer.text.length;
    embed.footer.text = discordTruncate(embed.footer.text, before - excess);
    excess -= before - embed.footer.text.length;
  }
  if (excess > 0) embed.title = discordTruncate(embed.title, embed.title.length - excess);
}

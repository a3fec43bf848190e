// @ts-check
/** What each panel shows, from the JSON its endpoint answers. */
import { chart, hbarChart } from "./charts.js";
import { duration, empty, facts, h, link, money, num, table, when } from "./dom.js";

/** @typedef {import("./dom.js").Child} Child */

export const buildColumns = "Build Created Repository Ref Runner Rule Requirement Status Minutes Cost".split(" ");
export const NO_BUILDS = "No builds yet: a push, a pull request or a dispatch starts one.";
let details = 0;

/** A value the tests find by name. @param {string} testid @param {Child} value */
const shown = (testid, value) => h("span", { "data-testid": testid }, value);
const list = (list) => (list ?? []).join(", ") || "—";
/** @param {string} word @param {string} [tone] ok or bad; the word says it too, not the colour alone */
const badge = (word, tone = "") => h("span", { class: `badge ${tone}` }, word.replace(/_/g, " "));
const sha7 = (b) => String(b.sha ?? "—").slice(0, 7);

/** A build's row, and the hidden row under it with its decision, which the row's button opens. */
export function buildRows(b) {
  const id = `build-detail-${++details}`;
  const d = b.decision ?? {};
  const c = b.conclusion;
  const open = h(
    "button",
    { type: "button", class: "open", "aria-expanded": "false", "aria-controls": id, "data-testid": "build-open" },
    h("span", { class: "sr" }, `Decision for ${b.repository} `),
    sha7(b),
  );
  /** @type {[string, Child][]} */
  const cells = [
    ["created", when(b.created_at)],
    ["repository", b.repository],
    ["ref", (b.ref ?? "—").replace(/^refs\/heads\//, "")],
    ["runner", d.runner ?? "—"],
    ["rule", d.rule ?? "—"],
    ["requirement", d.requirement ?? "—"],
    ["status", badge(c ?? b.status ?? "—", c === "success" ? "ok" : c && !/skipped|neutral/.test(c) ? "bad" : "")],
    ["minutes", num(b.minutes)],
    ["cost", money(b.cost_usd)],
  ];
  const row = h(
    "tr",
    { "data-testid": "build-row", "data-build-id": b.build_id },
    h("th", { scope: "row" }, open),
    ...cells.map(([name, value]) => h("td", { "data-testid": `build-${name}` }, value)),
  );
  const cell = h("td", { colspan: buildColumns.length, "data-testid": "build-detail" });
  const detail = h("tr", { id, class: "detail", hidden: true }, cell);
  open.addEventListener("click", () => {
    // Pinned left: a phone shows it without scrolling the table.
    if (detail.hidden && cell.childElementCount === 0) cell.append(h("div", { class: "pin" }, ...decision(b)));
    detail.hidden = !detail.hidden;
    open.setAttribute("aria-expanded", String(!detail.hidden));
  });
  return [row, detail];
}

/** Why a build went where it did, where its jobs ran and what they cost. @returns {Child[]} */
function decision(b) {
  const d = b.decision;
  const links = b.links ?? {};
  const byRunner = Object.entries(b.jobs?.by_runner ?? {});
  const ran = byRunner.map(([runner, line]) => `${runner} (${line.jobs} jobs, ${num(line.minutes)} min)`);
  return [
    ...(d
      ? [
          facts([
            ["Rule", d.rule ?? "none (the default)"],
            ["Requirement", d.requirement],
            ["Runner", `${d.runner}${d.arm ? ` (A/B ${d.arm})` : ""}`],
            ["Labels", list(d.runs_on ?? d.labels)],
            ["Files", d.files_known === false ? "unknown" : d.files_count],
          ]),
          h("h3", {}, "Reasons"),
          h("ol", {}, ...(d.reasons ?? []).map((r) => h("li", { "data-testid": "decision-reason" }, r))),
        ]
      : [h("p", {}, "No decision recorded.")]),
    facts([
      ["Runners used", ran.length > 0 ? ran.join(", ") : list(b.runners_used)],
      ["Longest queue", duration(b.queue_seconds)],
      ["Run time", duration(b.run_seconds)],
      ["Minutes", num(b.minutes)],
      ["Cost", money(b.cost_usd)],
      ["On GitHub-hosted", money(b.hosted_usd)],
    ]),
    h(
      "p",
      {},
      link(links.commit, `Commit ${sha7(b)}`),
      links.pull_request && [" · ", link(links.pull_request, `Pull request #${b.pull_request}`)],
      ...(b.runs ?? []).map((run, i) => [
        " · ",
        link(links.runs?.[i], `${run.name ?? `Run ${run.id}`} #${run.attempt}: ${run.conclusion ?? run.status}`),
      ]),
    ),
  ];
}

/** From GET /fleet. */
export function fleetPanel(fleet) {
  const classes = Object.entries(fleet.classes ?? {});
  const machines = classes.flatMap(([id, c]) => (c.machines ?? []).map((m) => ({ id, ...m })));
  return [
    table(
      "Runner classes",
      ["Class", "Busy / capacity", "Free", "Queued", "Waiting", "State"],
      classes.map(([id, c]) => [
        id,
        shown("fleet-busy", `${c.busy}/${c.capacity}`),
        c.free,
        shown("fleet-queued", c.queued),
        c.waiting,
        c.offline ? badge("offline", "bad") : c.saturated ? badge("saturated") : "ok",
      ]),
      "fleet-classes",
    ),
    machines.length === 0
      ? empty("No machines registered.", "machines-empty")
      : table(
          "Machines",
          ["Machine", "Class", "Online", "Busy / capacity", "Last seen", "Jobs"],
          machines.map((m) => [
            m.name,
            m.id,
            m.online ? "yes" : "no",
            `${m.busy}/${m.capacity}`,
            when(m.lastSeen),
            list(m.jobs),
          ]),
          "fleet-machines",
        ),
  ];
}

/** From GET /queue. */
export function queuePanel(q) {
  const late = q.waiting_too_long ?? [];
  const charts = Object.entries(q.classes ?? {}).map(([id, c]) => {
    const series = c.series ?? [];
    const jobs = series.reduce((n, p) => n + p.jobs, 0);
    return chart(
      {
        caption: `${id}: ${jobs} job${jobs === 1 ? "" : "s"}, target ${duration(c.target_seconds)}`,
        labels: series.map((p) => p.hour.slice(11, 16)),
        series: [
          { name: "mean wait", values: series.map((p) => p.mean_seconds) },
          { name: "longest wait", values: series.map((p) => p.max_seconds) },
        ],
        target: c.target_seconds,
        unit: duration,
        testid: "queue-chart",
      },
      "line",
    );
  });
  return [
    h("div", { class: "charts" }, ...charts),
    h("h3", {}, "Waiting longer than their target: ", shown("queue-late-count", late.length)),
    late.length === 0
      ? empty("No job is waiting longer than its class's target.", "queue-late-empty")
      : table(
          "Longest wait first",
          ["Job", "Repository", "Class", "Labels", "Queued", "Waited", "Target"],
          late.map((j) => [
            j.job_id,
            j.repository,
            j.runner_class,
            list(j.labels),
            when(j.queued_at),
            duration(j.waited_seconds),
            duration(j.target_seconds),
          ]),
          "queue-late",
        ),
  ];
}

/** @param {number | null | undefined} p */
const pct = (p) => (typeof p === "number" ? `${Math.round(p * 10) / 10}%` : "—");

/** From GET /costs. */
export function costsPanel(c) {
  const days = Object.entries(c.by_day ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const acc = c.accuracy;
  const matrix = Object.entries(acc?.by_suggested ?? {}).flatMap(([suggested, used]) =>
    Object.entries(used).map(([runner, jobs]) => [suggested, runner, jobs]),
  );
  const repositories = Object.entries(c.by_repository ?? {});
  /** @param {[string, any][]} lines @returns {Child[][]} */
  const rows = (lines) => lines.map(([id, r]) => [id, r.jobs, num(r.minutes), money(r.cost_usd)]);
  return [
    facts([
      ["Cost", shown("costs-total", money(c.totals.cost_usd))],
      ["All on GitHub-hosted", shown("costs-baseline", money(c.baseline.cost_usd))],
      ["Savings", shown("costs-savings", `${money(c.savings.usd)} (${pct(c.savings.percent)})`)],
      ["Jobs", String(c.totals.jobs)],
      ["Minutes", num(c.totals.minutes)],
      [
        "Routing accuracy",
        shown(
          "costs-accuracy",
          typeof acc?.rate === "number"
            ? `${pct(acc.rate * 100)}: ${acc.matched} of ${acc.jobs} jobs on the suggested runner`
            : "—",
        ),
      ],
    ]),
    days.length > 0 &&
      chart(
        {
          caption: "Cost against all on GitHub-hosted, per day",
          labels: days.map(([day]) => day.slice(5)),
          series: [
            { name: "cost", values: days.map(([, d]) => d.cost_usd) },
            { name: "all on GitHub-hosted", values: days.map(([, d]) => d.baseline_usd) },
          ],
          unit: money,
          testid: "costs-chart",
        },
        "bar",
      ),
    table("Per runner", ["Runner", "Jobs", "Minutes", "Cost"], rows(Object.entries(c.by_runner)), "costs-runners"),
    repositories.length === 0
      ? empty("No billed jobs this month yet.", "costs-empty")
      : table("Per repository", ["Repository", "Jobs", "Minutes", "Cost"], rows(repositories), "costs-repositories"),
    matrix.length > 0 && table("Suggested runner → runner used", ["Suggested", "Used", "Jobs"], matrix, "costs-matrix"),
  ];
}

/** From GET /alerts. */
export function alertsPanel(a) {
  const alerts = a.alerts ?? [];
  return [
    h(
      "p",
      {},
      h("strong", { "data-testid": "alerts-count" }, alerts.length),
      alerts.length === 1 ? " alert" : " alerts",
    ),
    alerts.length === 0
      ? empty("No alerts yet.", "alerts-empty")
      : table(
          "Newest first",
          ["Created", "Status", "Kind", "Build", "Attempts", "Last error"],
          alerts.map((x) => [
            when(x.created_at),
            badge(x.status, x.status === "failed" ? "bad" : x.status === "sent" ? "ok" : ""),
            x.kind.replace(/_/g, " "),
            h("code", {}, x.build_id),
            x.attempts,
            x.last_error ?? "—",
          ]),
          "alerts-table",
        ),
  ];
}

/** The learner's key levels, by the letter its keys start with. */
const LEVELS = { j: "job", w: "workflow", r: "repository", o: "organisation", c: "class" };

/** From GET /learned. */
export function learnedPanel(l) {
  const entries = l.entries ?? [];
  const rows = entries.map(([key, e]) => {
    // level, requirement, repository/workflow/job…, class; a class key is level and class alone.
    const parts = key.split("\u001f");
    const level = LEVELS[parts[0]] ?? parts[0];
    const flat = parts.length < 3;
    const scope = flat ? "—" : parts.slice(2, -1).join(" / ");
    return [
      level,
      flat ? "—" : parts[1],
      scope,
      parts.at(-1),
      e.n,
      `${num(e.ewma)} min`,
      duration(e.queueEwma),
      pct(e.failEwma * 100),
    ];
  });
  return [
    h(
      "p",
      {},
      `${l.repository}: `,
      h("strong", { "data-testid": "learned-count" }, entries.length),
      entries.length === 1 ? " estimate" : " estimates",
      l.enabled ? "; its routing decides with them." : "; its routing does not learn.",
    ),
    entries.length === 0
      ? empty("Nothing learned for it yet.", "learned-empty")
      : table(
          "Estimates",
          ["Level", "Requirement", "Scope", "Class", "Runs", "Mean run", "Mean queue", "Failures"],
          rows,
          "learned-table",
        ),
  ];
}

/** From GET /simulation; null when none was published. */
export function simulationPanel(published) {
  if (published === null) {
    return [empty("No simulation published yet (npm run simulate -- --publish URL).", "simulation-empty")];
  }
  const { trace, figures } = published.simulation;
  const labels = figures.map((f) => f.policy);
  /** @param {string} caption @param {string} key @param {(v: number) => string} unit @param {string} testid */
  const bars = (caption, key, unit, testid) =>
    hbarChart({ caption, labels, series: [{ name: caption, values: figures.map((f) => f[key]) }], unit, testid });
  return [
    facts([
      ["Published", when(published.published_at)],
      ["Trace", `${trace.commits} commits, ${trace.jobs} jobs: ${trace.source}`],
    ]),
    h(
      "div",
      { class: "charts" },
      bars("Cost per policy", "cost_usd", money, "simulation-cost"),
      bars("p95 queue per policy", "queue_p95_s", duration, "simulation-queue"),
    ),
    table(
      "Policies",
      ["Policy", "Cost", "All hosted", "p95 queue", "p95 to green", "Failed placements"],
      figures.map((f) => [
        f.policy,
        money(f.cost_usd),
        money(f.baseline_usd),
        duration(f.queue_p95_s),
        duration(f.ttg_p95_s),
        f.failed_placements,
      ]),
      "simulation-table",
    ),
  ];
}

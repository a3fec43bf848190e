/**
 * The simulation's chart (`--chart OUT.svg`, and docs/simulate.svg): on the left, each policy's
 * cost against its p95 queue time (a labelled scatter); on the right, the learner's regret
 * against the oracle over the trace's days (cumulative objective: per-minute charges + priced
 * queue time). The SVG is written by hand as text: the project installs no chart library.
 */
import type { PolicyFigures } from "./figures.ts";

const WIDTH = 960;
const HEIGHT = 500;
const PANEL = { top: 50, bottom: 360, left1: 70, right1: 450, left2: 560, right2: 920 };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const n = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(1)) : 0);

/** Round ticks covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toFixed(6)));
  return out;
}

const COLORS: Record<string, string> = {
  "all-hosted": "#9e9e9e",
  "static-self-hosted": "#795548",
  tree: "#1f77b4",
  "tree+load": "#17becf",
  learned: "#d62728",
  "learned+prewarm": "#ff7f0e",
  "fixed-warm-pool": "#9467bd",
  oracle: "#2ca02c",
};

function axes(
  x0: number,
  x1: number,
  xs: number[],
  xLabel: string,
  ys: number[],
  yLabel: string,
  fx: (v: number) => number,
  fy: (v: number) => number,
  fmt: (v: number) => string,
  fmtY: (v: number) => string,
): string[] {
  const out: string[] = [];
  out.push(`<line x1="${x0}" y1="${PANEL.bottom}" x2="${x1}" y2="${PANEL.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${x0}" y1="${PANEL.top}" x2="${x0}" y2="${PANEL.bottom}" stroke="#333"/>`);
  for (const t of xs) {
    const x = n(fx(t));
    out.push(`<line x1="${x}" y1="${PANEL.bottom}" x2="${x}" y2="${PANEL.bottom + 4}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${PANEL.bottom + 18}" text-anchor="middle">${esc(fmt(t))}</text>`);
  }
  for (const t of ys) {
    const y = n(fy(t));
    out.push(`<line x1="${x0 - 4}" y1="${y}" x2="${x1}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 8}" y="${y + 4}" text-anchor="end">${esc(fmtY(t))}</text>`);
  }
  out.push(`<text x="${(x0 + x1) / 2}" y="${PANEL.bottom + 40}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(
    `<text x="${x0 - 52}" y="${(PANEL.top + PANEL.bottom) / 2}" text-anchor="middle" transform="rotate(-90 ${x0 - 52} ${(PANEL.top + PANEL.bottom) / 2})">${esc(yLabel)}</text>`,
  );
  return out;
}

/** The chart as SVG text. */
export function chartSvg(figures: readonly PolicyFigures[], title: string): string {
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<title>${esc(title)}</title>`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);

  // Left: cost against p95 queue. The scale fits the routers; a baseline off it is drawn at the edge.
  const scaled = figures.some((f) => f.router) ? figures.filter((f) => f.router) : figures;
  const qs = figures.map((f) => f.queue_p95_s);
  const cs = scaled.map((f) => f.cost_usd);
  const xt = ticks(0, Math.max(1, ...qs));
  const yt = ticks(Math.min(...cs) * 0.95, Math.max(...cs) * 1.05);
  const [xMin, xMax] = [xt[0] ?? 0, xt.at(-1) ?? 1];
  const [yMin, yMax] = [yt[0] ?? 0, yt.at(-1) ?? 1];
  const fx = (v: number) => PANEL.left1 + ((v - xMin) / (xMax - xMin || 1)) * (PANEL.right1 - PANEL.left1);
  const fy = (v: number) => PANEL.bottom - ((v - yMin) / (yMax - yMin || 1)) * (PANEL.bottom - PANEL.top);
  out.push(
    `<text x="${(PANEL.left1 + PANEL.right1) / 2}" y="${PANEL.top - 12}" text-anchor="middle" font-weight="bold">cost against p95 queue, per policy</text>`,
  );
  out.push(
    ...axes(
      PANEL.left1,
      PANEL.right1,
      xt,
      "p95 queue time (s)",
      yt,
      "total cost (USD)",
      fx,
      fy,
      (v) => String(v),
      (v) => `$${v.toFixed(yMax - yMin < 5 ? 2 : 0)}`,
    ),
  );
  // Each point numbered; the legend below names it with its figures.
  const placed: { x: number; y: number }[] = [];
  for (const [i, f] of figures.entries()) {
    const x = n(fx(f.queue_p95_s));
    const off = f.cost_usd > yMax ? "above" : f.cost_usd < yMin ? "below" : null;
    const y = off === "above" ? PANEL.top : off === "below" ? PANEL.bottom : n(fy(f.cost_usd));
    const color = COLORS[f.policy] ?? "#000";
    const shape =
      off === null
        ? `<circle cx="${x}" cy="${y}" r="5" fill="${color}">`
        : `<path d="M ${x - 6} ${off === "above" ? y + 6 : y - 6} L ${x} ${y} L ${x + 6} ${off === "above" ? y + 6 : y - 6} Z" fill="${color}">`;
    out.push(
      `${shape}<title>${esc(`${f.policy}: $${f.cost_usd.toFixed(2)}, p95 queue ${f.queue_p95_s.toFixed(0)} s`)}</title>${off === null ? "</circle>" : "</path>"}`,
    );
    const ly = y + 4;
    let lx = x + 8;
    while (placed.some((p) => Math.abs(p.x - lx) < 14 && Math.abs(p.y - ly) < 12)) {
      lx += 12;
    }
    placed.push({ x: lx, y: ly });
    out.push(`<text x="${lx}" y="${ly}" fill="${color}" font-weight="bold">${i + 1}</text>`);
  }
  const columns = 3;
  for (const [i, f] of figures.entries()) {
    const x = 40 + (i % columns) * 300;
    const y = PANEL.bottom + 70 + Math.floor(i / columns) * 18;
    const color = COLORS[f.policy] ?? "#000";
    const off = f.cost_usd > yMax || f.cost_usd < yMin ? " (off the scale)" : "";
    out.push(
      `<text x="${x}" y="${y}" fill="${color}"><tspan font-weight="bold">${i + 1}</tspan> ${esc(f.policy)}: $${f.cost_usd.toFixed(2)}, p95 queue ${f.queue_p95_s.toFixed(0)} s${off}</text>`,
    );
  }

  // Right: the learner's regret by day.
  const lines = figures.filter((f) => ["learned", "learned+prewarm", "tree+load", "tree"].includes(f.policy));
  const days = Math.max(1, ...lines.map((f) => f.regret_by_day.length));
  const values = lines.flatMap((f) => f.regret_by_day);
  const rt = ticks(Math.min(0, ...values), Math.max(0.01, ...values));
  const [rMin, rMax] = [rt[0] ?? 0, rt.at(-1) ?? 1];
  const dt = ticks(0, days);
  const gx = (d: number) => PANEL.left2 + (d / (dt.at(-1) || 1)) * (PANEL.right2 - PANEL.left2);
  const gy = (v: number) => PANEL.bottom - ((v - rMin) / (rMax - rMin || 1)) * (PANEL.bottom - PANEL.top);
  out.push(
    `<text x="${(PANEL.left2 + PANEL.right2) / 2}" y="${PANEL.top - 12}" text-anchor="middle" font-weight="bold">regret against the oracle over time</text>`,
  );
  out.push(
    ...axes(
      PANEL.left2,
      PANEL.right2,
      dt,
      "day of the trace",
      rt,
      "cumulative regret (USD)",
      gx,
      gy,
      (v) => String(v),
      (v) => `$${v.toFixed(rMax - rMin < 5 ? 2 : 0)}`,
    ),
  );
  for (const [i, f] of lines.entries()) {
    const color = COLORS[f.policy] ?? "#000";
    const dash = f.policy.startsWith("learned") ? "" : ' stroke-dasharray="4 3"';
    const points = f.regret_by_day.map((v, d) => `${n(gx(d + 1))},${n(gy(v))}`).join(" ");
    out.push(
      `<polyline points="${n(gx(0))},${n(gy(0))} ${points}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    out.push(
      `<text x="${PANEL.left2 + 10}" y="${PANEL.top + 14 + i * 14}" fill="${color}">${esc(f.policy)}${f.policy.startsWith("learned") ? "" : " (reference)"}</text>`,
    );
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

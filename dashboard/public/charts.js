// @ts-check
/**
 * Small SVG charts. Colours come from the stylesheet (classes `s0`, `s1`), so they follow the
 * light and dark schemes; the numbers behind each chart are in the panel's text and tables too.
 */
import { h, s } from "./dom.js";

/** @typedef {{ name: string, values: (number | null)[] }} Series */
/**
 * @typedef {{ caption: string, labels: string[], series: Series[], unit: (v: number) => string,
 *   testid: string, target?: number | null }} ChartSpec
 */

const W = 360;
let ids = 0;

/** A round number at or above `v`, for the top of an axis. @param {number} v */
function top(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  return Math.ceil(v / step) * step;
}

/** @param {number} x @param {number} y @param {string} text @param {string} [anchor] */
const label = (x, y, text, anchor = "start") => s("text", { x, y, "text-anchor": anchor, class: "axis" }, text);

/**
 * The figure around a chart's marks: caption (also the SVG's accessible name) and legend.
 * @param {ChartSpec} spec @param {number} height @param {(SVGElement | false)[]} marks
 */
function figure(spec, height, marks) {
  const id = `chart-${++ids}`;
  return h(
    "figure",
    { "data-testid": spec.testid },
    h("figcaption", { id }, spec.caption),
    s("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-labelledby": id }, ...marks),
    spec.series.length > 1 &&
      h(
        "ul",
        { class: "legend" },
        ...spec.series.map((one, i) => h("li", {}, h("span", { class: `swatch s${i}` }), one.name)),
      ),
  );
}

/**
 * Lines (hours, with an optional dashed target) or grouped bars (days) over evenly spaced labels,
 * from 0 to a round top.
 * @param {ChartSpec} spec @param {"line" | "bar"} kind
 */
export function chart(spec, kind) {
  const [H, L, R, T, B] = [150, 52, 8, 10, 22];
  const values = spec.series.flatMap((one) => one.values).filter((v) => typeof v === "number");
  const max = top(Math.max(kind === "line" ? 1 : 0.01, spec.target ?? 0, ...values));
  const n = Math.max(1, spec.labels.length);
  const step = (W - L - R) / (kind === "line" ? Math.max(1, n - 1) : n);
  const y = (/** @type {number} */ v) => T + (H - T - B) * (1 - v / max);
  // At most 24 wide, centred: one day of data is no wall of colour.
  const bar = Math.min(24, (step * 0.8) / spec.series.length);
  const inset = (step - bar * spec.series.length) / 2;
  const marks = [
    s("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "rule" }),
    label(L - 4, y(max) + 4, spec.unit(max), "end"),
    label(L - 4, y(0) + 4, spec.unit(0), "end"),
    label(L, H - 6, spec.labels[0] ?? ""),
    n > 1 && label(W - R, H - 6, spec.labels[n - 1] ?? "", "end"),
  ];
  if (typeof spec.target === "number")
    marks.push(s("line", { x1: L, x2: W - R, y1: y(spec.target), y2: y(spec.target), class: "target" }));
  spec.series.forEach((one, k) => {
    let d = "";
    one.values.forEach((v, i) => {
      if (typeof v !== "number") return;
      if (kind === "bar") {
        if (v > 0)
          marks.push(
            s("rect", {
              x: L + i * step + inset + k * bar,
              y: y(v),
              width: bar,
              height: y(0) - y(v),
              class: `s${k}`,
            }),
          );
        return;
      }
      const x = L + i * step;
      d += `${d === "" || one.values[i - 1] == null ? "M" : "L"}${x} ${y(v)}`;
      marks.push(s("circle", { cx: x, cy: y(v), r: 2.5, class: `s${k}` }));
    });
    if (d !== "") marks.push(s("path", { d, class: `line s${k}` }));
  });
  return figure(spec, H, marks);
}

/** One horizontal bar per label (policies), its value written beside it. @param {ChartSpec} spec */
export function hbarChart(spec) {
  const [row, L, R] = [18, 126, 64];
  const values = spec.series[0]?.values ?? [];
  const max = top(Math.max(0.01, ...values.map((v) => v ?? 0)));
  const marks = spec.labels.flatMap((name, i) => {
    const v = values[i] ?? 0;
    const w = ((W - L - R) * v) / max;
    const y = 4 + i * row;
    return [
      label(L - 6, y + 13, name.length > 20 ? `${name.slice(0, 19)}…` : name, "end"),
      s("rect", { x: L, y: y + 3, width: Math.max(1, w), height: row - 6, class: "s0" }),
      label(L + w + 4, y + 13, spec.unit(v)),
    ];
  });
  return figure(spec, 8 + row * spec.labels.length, marks);
}

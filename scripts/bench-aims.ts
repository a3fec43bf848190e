/**
 * What the sections of `npm run bench` share: the median, the aims each section reports, and the
 * summary printed after the last section.
 */

/** One aim: what it asks, the figure measured against it, and whether the figure meets it. */
export interface Aim {
  section: string;
  aim: string;
  figure: string;
  met: boolean;
}

export const metOrNot = (met: boolean) => (met ? "met" : "NOT met");

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Milliseconds, in µs below one. */
export const ms = (value: number) => (value >= 1 ? `${value.toFixed(2)} ms` : `${(value * 1000).toFixed(1)} µs`);

/** Every aim on a line of its own, in the order the sections ran, with how many were met. */
export function summary(aims: readonly Aim[]): string {
  const section = Math.max(...aims.map((a) => a.section.length), 7);
  const aim = Math.max(...aims.map((a) => a.aim.length), 3);
  const figure = Math.max(...aims.map((a) => a.figure.length), 6);
  const met = aims.filter((a) => a.met).length;
  return [
    `summary: ${met} of ${aims.length} aims met`,
    `  ${"section".padEnd(section)}  ${"aim".padEnd(aim)}  figure`,
    ...aims.map(
      (a) => `  ${a.section.padEnd(section)}  ${a.aim.padEnd(aim)}  ${a.figure.padEnd(figure)}  ${metOrNot(a.met)}`,
    ),
  ].join("\n");
}

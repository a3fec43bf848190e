/** Seeded draws for the simulator and its generator: the same seed, the same numbers. */
import { gaussian, mulberry32 } from "../../worker/src/core/index.ts";

export type Random = () => number;

export { gaussian, mulberry32 };

/** A log-normal draw with the given median and log-space sigma. */
export const lognormal = (random: Random, median: number, sigma: number): number =>
  median * Math.exp(sigma * gaussian(random));

/** A Poisson draw (Knuth's method; the means here are small). */
export function poisson(random: Random, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = random(); p > limit; p *= random()) k++;
  return k;
}

/** An item by weight. */
export function weighted<T extends { share: number }>(random: Random, items: readonly T[]): T {
  const total = items.reduce((a, i) => a + i.share, 0);
  let r = random() * total;
  for (const item of items) {
    r -= item.share;
    if (r <= 0) return item;
  }
  const last = items.at(-1);
  if (last === undefined) throw new RangeError("weighted pick from an empty list");
  return last;
}

/** `n` lower-case hex digits. */
export function hex(random: Random, n: number): string {
  let out = "";
  while (out.length < n) out += Math.floor(random() * 16).toString(16);
  return out;
}

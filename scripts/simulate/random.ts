/** Seeded draws for the simulator and its generator: the same seed, the same numbers. */
import { mulberry32 } from "../bench-data.ts";

export type Random = () => number;

export { mulberry32 };

/** A standard normal draw (Box–Muller). */
export function gaussian(random: Random): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

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

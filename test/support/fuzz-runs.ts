/**
 * How many generated cases the property-based Worker tests (test/worker/fuzz.test.ts) try, in
 * total across their properties. `npm test` uses the small default; a nightly run raises it:
 *
 *   VITE_FUZZ_RUNS=10000 npx vitest run --project worker test/worker/fuzz.test.ts
 *
 * The Worker tests run inside workerd, which does not see the shell's environment: a plain
 * `FUZZ_RUNS` never reaches them. Vite does pass variables prefixed `VITE_` through (to the
 * test runtime's `process.env` and `import.meta.env`), so the knob is `VITE_FUZZ_RUNS`.
 * `FUZZ_RUNS` is read as well, for a config that passes it through (vitest `test.env`).
 * `VITE_FUZZ_SEED` replays a failing run with the seed fast-check printed.
 */

export const DEFAULT_FUZZ_RUNS = 300;

function variable(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.[`VITE_${name}`] ?? env?.[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function positiveInteger(name: string): number | undefined {
  const value = variable(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not "${value}"`);
  return n;
}

/** Total cases across the fuzz file's properties. */
export const FUZZ_RUNS = positiveInteger("FUZZ_RUNS") ?? DEFAULT_FUZZ_RUNS;

/** A fixed seed to replay, or undefined for a fresh one each run. */
export const FUZZ_SEED = (() => {
  const value = variable("FUZZ_SEED");
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEED must be an integer, not "${value}"`);
  return n;
})();

/** `share` of the total runs (at least 1), for one property. */
export function runsFor(share: number): number {
  return Math.max(1, Math.round(FUZZ_RUNS * share));
}

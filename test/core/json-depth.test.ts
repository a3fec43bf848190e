/**
 * core/names.ts `nestedDeeperThan`: how deep JSON text nests, strings skipped, read before any
 * parse. Checked against the depth a parse finds, on generated JSON whose strings hold brackets,
 * quotes and runs of backslashes, and on text that is not JSON.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "../../worker/src/core/index.ts";

/** The deepest nesting of arrays and objects in a parsed value (0 for a scalar). */
function depthOf(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

/** Strings made to trip a scan: brackets, quotes and backslashes in every arrangement. */
const awkward = fc.string({
  unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", " ", "\\\\", '\\"'),
  maxLength: 12,
});

/** JSON values up to 8 deep, their strings and keys awkward. */
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    awkward,
    fc.integer(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(awkward, tie("value"), { maxKeys: 3 }),
  ),
}));

describe("nestedDeeperThan", () => {
  it("agrees with the depth a parse finds, for every limit around it", () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 10 }), (v, limit) => {
        const text = JSON.stringify(v);
        expect(nestedDeeperThan(text, limit)).toBe(depthOf(JSON.parse(text)) > limit);
      }),
      { numRuns: 2000 },
    );
  });

  it("counts no bracket inside a string, however many backslashes precede its closing quote", () => {
    const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    expect(nestedDeeperThan(JSON.stringify({ s: deep(100) }))).toBe(false);
    expect(nestedDeeperThan(`["\\\\", ${deep(MAX_JSON_DEPTH)}]`)).toBe(true);
    expect(nestedDeeperThan(`["\\"${deep(100)}"]`)).toBe(false);
    expect(nestedDeeperThan(`["\\\\\\"${deep(100)}", 1]`)).toBe(false);
    expect(nestedDeeperThan(deep(MAX_JSON_DEPTH))).toBe(false);
    expect(nestedDeeperThan(deep(MAX_JSON_DEPTH + 1))).toBe(true);
  });

  it("reads text that is not JSON as not too deep (its parse refuses it)", () => {
    expect(nestedDeeperThan(`["${"[".repeat(100)}`)).toBe(false);
    expect(nestedDeeperThan('"\\')).toBe(false);
    expect(nestedDeeperThan("")).toBe(false);
  });
});

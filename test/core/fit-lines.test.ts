/** core/names.ts `fitLines`: whole lines under a bound, the rest counted, as check runs and Discord embeds show them. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fitLines } from "../../worker/src/core/index.ts";

const more = (n: number) => `… and ${n} more`;

describe("fitLines", () => {
  it("keeps every line when they fit", () => {
    expect(fitLines(["a", "bb", "ccc"], 8, more)).toBe("a\nbb\nccc");
  });

  it("keeps the first lines that fit beside the count of the rest", () => {
    const lines = ["one", "two", "three", "fourteen"];
    // "one\ntwo" (7) + "\n… and 2 more" (13) = 20.
    expect(fitLines(lines, 20, more)).toBe("one\ntwo\n… and 2 more");
    expect(fitLines(lines, 19, more)).toBe("one\n… and 3 more");
  });

  it("cuts the first line when even it does not fit beside the count", () => {
    expect(fitLines(["a".repeat(50), "b"], 30, more)).toBe(`${"a".repeat(16)}…\n… and 1 more`);
    expect(fitLines(["a".repeat(50)], 10, more)).toBe(`${"a".repeat(9)}…`);
  });

  it("never goes past the bound, and never splits a line but the first (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 30 }),
        fc.integer({ min: 20, max: 400 }),
        (lines, max) => {
          const text = fitLines(lines, max, more);
          expect(text.length).toBeLessThanOrEqual(max);
          const shown = text.split("\n");
          const counted = /^… and (\d+) more$/.exec(shown.at(-1) ?? "");
          const kept = counted === null ? shown : shown.slice(0, -1);
          if (counted !== null) expect(kept.length + Number(counted[1])).toBe(lines.length);
          for (const [i, line] of kept.entries()) if (i > 0) expect(line).toBe(lines[i]);
        },
      ),
    );
  });
});

/**
 * Reading the fields the router uses from a webhook payload, by hand: each check is a type test
 * and a length, and every problem is named with its path ("push payload commits.0.added:
 * expected an array, got a string"). A schema library would walk the same fields several times
 * slower than JSON.parse read them; configuration, read once, keeps its schema (config.ts).
 */

export type Json = Record<string, unknown>;

const kind = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : value === undefined ? "nothing" : `a ${typeof value}`;

/** Collects the problems of one payload, each prefixed with what was being read. */
export class PayloadReader {
  readonly problems: string[] = [];
  private readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  problem(path: string, message: string): void {
    this.problems.push(`${this.prefix} ${path || "(root)"}: ${message}`);
  }

  /** An object (not an array, not null), or null after noting the problem. */
  object(value: unknown, path: string): Json | null {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Json;
    this.problem(path, `expected an object, got ${kind(value)}`);
    return null;
  }

  /** A string of `min` to `max` characters matching `pattern` (said as `patternName`), or null. */
  string(
    value: unknown,
    path: string,
    max: number,
    options: { min?: number; pattern?: RegExp; patternName?: string } = {},
  ): string | null {
    if (typeof value !== "string") {
      this.problem(path, `expected a string, got ${kind(value)}`);
      return null;
    }
    const min = options.min ?? 1;
    if (value.length < min) this.problem(path, min === 1 ? "must not be empty" : `must be at least ${min} characters`);
    else if (value.length > max) this.problem(path, `must be at most ${max} characters`);
    else if (options.pattern && !options.pattern.test(value))
      this.problem(path, `must be ${options.patternName ?? "well formed"}`);
    else return value;
    return null;
  }

  /** A string of at most `max` characters, null, or absent (undefined); anything else is a problem. */
  optionalText(value: unknown, path: string, max: number): string | null | undefined {
    if (value === undefined || value === null) return value;
    return this.string(value, path, max, { min: 0 }) ?? undefined;
  }

  /** A positive integer (GitHub's ids and numbers), or null. */
  id(value: unknown, path: string): number | null {
    if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value;
    this.problem(
      path,
      typeof value === "number" ? "must be a positive integer" : `expected a number, got ${kind(value)}`,
    );
    return null;
  }

  /** A positive integer, or absent. */
  optionalId(value: unknown, path: string): number | undefined {
    return value === undefined ? undefined : (this.id(value, path) ?? undefined);
  }

  optionalBoolean(value: unknown, path: string): boolean | undefined {
    if (value === undefined || typeof value === "boolean") return value;
    this.problem(path, `expected a boolean, got ${kind(value)}`);
    return undefined;
  }

  /** An array of at most `max` items, or null (absent allowed when `optional`). */
  array(value: unknown, path: string, max: number): unknown[] | null {
    if (!Array.isArray(value)) {
      this.problem(path, `expected an array, got ${kind(value)}`);
      return null;
    }
    if (value.length > max) {
      this.problem(path, `must have at most ${max} items`);
      return null;
    }
    return value;
  }

  /** Strings of at most `maxLength` characters, null or absent (as null). */
  optionalStrings(value: unknown, path: string, maxLength: number, maxItems: number): string[] | null {
    if (value === undefined || value === null) return null;
    const list = this.array(value, path, maxItems);
    if (list === null) return null;
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (typeof item !== "string") {
        this.problem(`${path}.${i}`, `expected a string, got ${kind(item)}`);
        return null;
      }
      if (item.length > maxLength) {
        this.problem(`${path}.${i}`, `must be at most ${maxLength} characters`);
        return null;
      }
    }
    return list as string[];
  }
}

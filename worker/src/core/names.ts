/**
 * Names chosen by strangers, read one way everywhere: repositories, owners, commit ids, and the
 * records keyed by such names.
 */

/**
 * `owner/name` as GitHub allows them: an owner of 1 to 39 letters, digits, `-` or `_` (managed
 * users' logins end in `_shortcode`) starting with a letter or digit; a name of 1 to 100 letters,
 * digits, `-`, `_` or `.`, other than `.` and `..` (which would walk GitHub's API paths).
 */
export const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,38}\/(?!\.{1,2}$)[A-Za-z0-9_.-]{1,100}$/;

/** A GitHub account (user or organization) login. */
export const OWNER = /^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$/;

/** Every repository of an owner, as the routing configuration's `repositories` names them: `owner/*`. */
export const OWNER_WILDCARD = /^[A-Za-z0-9][A-Za-z0-9_-]{0,38}\/\*$/;

/** A commit id, full or abbreviated, in hex. */
export const SHA = /^[0-9a-fA-F]{7,64}$/;

/** The all-zero commit id GitHub sends for a ref that did not exist before (or no longer does). */
export const ZERO_SHA = /^0{40}$/;

/**
 * An `X-GitHub-Delivery` id: GitHub sends a GUID; up to 128 letters, digits and `.`, `_`, `:`,
 * `-` are taken, so that a build id made from it is a safe KV key and URL parameter.
 */
export const DELIVERY = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The hosts that are this machine: the only ones a plain-http URL may name wherever the router
 * sends or fetches something that must not be read or forged on the way (tokens, signed calls,
 * signing keys).
 */
export const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"] as const;

/** Whether a URL's host (as `URL.hostname` gives it, lower case) is this machine. */
export const isLoopbackHost = (host: string): boolean => (LOOPBACK_HOSTS as readonly string[]).includes(host);

export const isRepository = (value: string): boolean => REPOSITORY.test(value);
export const isOwner = (value: string): boolean => OWNER.test(value);
export const isSha = (value: string): boolean => SHA.test(value);

/**
 * The organisation a repository (`owner/name`) or an owner belongs to: the owner, lower-cased,
 * as GitHub compares logins. Each organisation's builds, fleet, metrics and costs are kept
 * apart (core/organisations.ts); this is the one rule that names it.
 */
export const organisationOf = (repository: string): string => (repository.split("/", 1)[0] ?? "").toLowerCase();

/** A JSON object (not an array, not null). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `text` at most `max` UTF-16 units long (at least 1), cut with "…", never inside a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, Math.max(0, end))}…`;
}

/**
 * `lines` joined by newlines within `max` characters: as many whole lines as fit, first first,
 * then `more(n)` on a line of its own counting the n left out (its room kept); the first line is
 * cut (`cutText`) when even it does not fit beside the count. No line is split but that one.
 */
export function fitLines(lines: readonly string[], max: number, more: (left: number) => string): string {
  const full = lines.join("\n");
  if (full.length <= max) return full;
  let out = "";
  let kept = 0;
  for (const line of lines) {
    const next = kept === 0 ? line : `${out}\n${line}`;
    const rest = lines.length - kept - 1;
    if (next.length + (rest > 0 ? 1 + more(rest).length : 0) > max) break;
    out = next;
    kept++;
  }
  if (kept > 0) return `${out}\n${more(lines.length - kept)}`;
  const note = more(lines.length - 1);
  if (lines.length === 1 || max < note.length + 2) return cutText(full, Math.max(1, max));
  return `${cutText(lines[0] ?? "", max - note.length - 1)}\n${note}`;
}

/** A value a stranger chose, as an error message shows it: quoted, cut to 40 characters. */
export const shown = (value: string): string => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);

/**
 * A record for keys anyone may choose (runner ids, machine names, repositories): it has no
 * prototype, so `constructor` or `toString` are names like any other, never inherited members,
 * and `__proto__` is an own key.
 */
export function dict<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) out[key] = value;
  return out;
}

/** The record's own value under `key`, never an inherited one. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * The key of a map of repositories (`owner/name` and `owner/*` keys, lower-case) that names
 * `repository` (`owner/name`, any case): its own, else its owner's `owner/*`; undefined when
 * neither is there. The one rule for every per-repository map: the configuration's
 * `repositories`, fair shares' weights and caps.
 */
export function repositoryKey(map: Readonly<Record<string, unknown>>, repository: string): string | undefined {
  const key = repository.toLowerCase();
  if (Object.hasOwn(map, key)) return key;
  const owner = `${key.slice(0, key.indexOf("/"))}/*`;
  return Object.hasOwn(map, owner) ? owner : undefined;
}

/** How deep a delivery's or a request's JSON may nest: GitHub's payloads stay under 20 levels. */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON text nests deeper than `limit` arrays and objects, read in one pass that skips
 * strings (their brackets do not count). For refusing, before parsing, bodies whose depth
 * would make any recursive walk of them (copying, serialising) run out of stack. A string is
 * skipped by searching for its closing quote (`indexOf`, native) rather than a character at a
 * time: strings are most of a delivery's bytes, so a 1 MiB push is read about twice as fast.
 * Text that is not JSON reads as not too deep (its parse refuses it).
 */
export function nestedDeeperThan(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = closingQuote(text, i);
      if (end === -1) return false;
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The index of the quote that closes the string opened at `open` (one not escaped by an odd run of backslashes), or -1. */
function closingQuote(text: string, open: number): number {
  let at = text.indexOf('"', open + 1);
  while (at !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = text.indexOf('"', at + 1);
  }
  return -1;
}

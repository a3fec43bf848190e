/**
 * Several organisations served by one deployment: each repository owner (core/names.ts
 * `organisationOf`) has its own Ledger, so that one organisation's builds, fleet, metrics and
 * costs never mix with another's. The directory (the Ledger instance every deployment starts
 * with) says which Ledger serves which organisation; these are its rules. No I/O, no clock.
 */

import { isOwner, isRepository, organisationOf, shown } from "./names.ts";
import type { Json } from "./read.ts";
import { fail, ok, type Result } from "./result.ts";

/** Organisations the directory lists at most: past it a new organisation is refused, never an old one. */
export const MAX_ORGANISATIONS = 10_000;

/** What an organisation's own Ledger instance is named: `org:<login>`, the login lower-cased. */
export const ORGANISATION_LEDGER_PREFIX = "org:";

/** Organisations an `organisation_required` answer names before it sums up the rest. */
export const ORGANISATIONS_LISTED = 20;

/** Organisations whose Ledgers the Cron Trigger visits in one run; the rest wait their turn. */
export const SCHEDULED_ORGANISATIONS = 10;

/** An organisation as the directory lists it (GET /organisations). */
export interface OrganisationEntry {
  organisation: string;
  /** The name of the Ledger instance that serves it. */
  ledger: string;
  /** ISO 8601: when the directory first listed it. */
  first_seen: string;
}

/**
 * The Ledger a new organisation is given: the directory's own instance while no organisation
 * has it (so a deployment of one organisation keeps every row where it always was), else one
 * of its own. An organisation already listed keeps the Ledger it was given: this is asked only
 * of one the directory does not list.
 */
export function ledgerForNew(organisation: string, directory: string, directoryTaken: boolean): string {
  return directoryTaken ? `${ORGANISATION_LEDGER_PREFIX}${organisation}` : directory;
}

/** The problem with a directory that has no room for a new organisation. */
export function directoryFullProblem(organisation: string): string {
  return `this router serves ${MAX_ORGANISATIONS.toLocaleString("en-US")} organisations, its most: ${organisation} is not served (nothing was recorded)`;
}

/**
 * `?organisation=` as an operator endpoint reads it, before the endpoint's own query: absent
 * (or blank, as every query parameter) for the default, else an organisation's login,
 * lower-cased. Given twice, or not a login, is `invalid_request`.
 */
export function parseOrganisationParam(values: readonly string[]): Result<string | null> {
  if (values.length > 1) return fail("invalid_request", "query parameter organisation is given more than once");
  const value = values[0]?.trim() ?? "";
  if (value === "") return ok(null);
  if (!isOwner(value)) {
    return fail(
      "invalid_request",
      `organisation ${shown(value)}: must be an organisation's login (1 to 39 letters, digits, "-" or "_", not starting with either)`,
    );
  }
  return ok(value.toLowerCase());
}

/** The message of an operator request that must name its organisation: the first few, then how many more. */
export function organisationRequiredMessage(listed: readonly string[], total: number): string {
  const names = listed.slice(0, ORGANISATIONS_LISTED);
  const more = total - names.length;
  const list = `${names.join(", ")}${more > 0 ? ` and ${more.toLocaleString("en-US")} more` : ""}`;
  return `this router serves ${total.toLocaleString("en-US")} organisations: say which with ?organisation= (${list}; GET /organisations lists them)`;
}

/** The message for an organisation the directory does not list. */
export function organisationNotFoundMessage(organisation: string): string {
  return `no organisation ${organisation} is served here (GET /organisations lists them)`;
}

/**
 * The organisation a webhook delivery is about, from its payload: its repository's owner
 * (`repository.full_name`), else the App installation's account (`installation.account.login`,
 * as installation events carry it), else the organisation of an organisation's hook
 * (`organization.login`); null for a delivery that names none (a ping of an App's own hook).
 * Read leniently: a field that is not a name is no organisation.
 */
export function organisationOfPayload(payload: unknown): string | null {
  if (typeof payload !== "object" || payload === null) return null;
  const p = payload as Json;
  const name = (value: unknown, key: string): string | null => {
    if (typeof value !== "object" || value === null) return null;
    const field = (value as Json)[key];
    return typeof field === "string" ? field : null;
  };
  const repository = name(p.repository, "full_name");
  if (repository !== null && isRepository(repository)) return organisationOf(repository);
  const installation = p.installation;
  const account =
    typeof installation === "object" && installation !== null ? name((installation as Json).account, "login") : null;
  if (account !== null && isOwner(account)) return account.toLowerCase();
  const organization = name(p.organization, "login");
  if (organization !== null && isOwner(organization)) return organization.toLowerCase();
  return null;
}

/**
 * Which slice of the directory's list the Cron Trigger visits at `minute` (whole minutes since
 * the epoch): the list is cut into pages of `perMinute`, and the minutes take them in turn, so
 * every organisation is visited once every ceil(total / perMinute) minutes.
 */
export function scheduledSlice(total: number, minute: number, perMinute: number): { offset: number; limit: number } {
  if (total <= 0 || perMinute <= 0) return { offset: 0, limit: 0 };
  const pages = Math.ceil(total / perMinute);
  const page = ((Math.floor(minute) % pages) + pages) % pages;
  return { offset: page * perMinute, limit: perMinute };
}

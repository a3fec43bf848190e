import en from "zod/v4/locales/en.js";

/**
 * Parse options for every schema in the core. zod/mini loads no locale, so without an error map
 * each of its own messages reads "Invalid input" and an unknown key is not even named. The
 * English map (only that locale, not all of them) is passed per parse, leaving zod's global
 * configuration alone.
 */
export const PARSE_OPTIONS = { error: en().localeError };

import * as z from "zod/mini";

/**
 * Parse options for every schema in the core. zod/mini loads no locale, so without an error map
 * each of its own messages reads "Invalid input" and an unknown key is not even named. The
 * English map is passed per parse, leaving zod's global configuration alone.
 */
export const PARSE_OPTIONS = { error: z.locales.en().localeError };

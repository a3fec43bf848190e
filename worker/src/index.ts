import { env } from "cloudflare:workers";
import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { scheduled } from "./scheduled.ts";
import { prepareSettings } from "./settings.ts";

export { Ledger } from "./ledger.ts";

// Settings read and patterns compiled while the isolate starts, outside any request's CPU time.
prepareSettings(env);

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  scheduled,
} satisfies ExportedHandler<Env>;

import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { scheduled } from "./scheduled.ts";

export { Ledger } from "./ledger.ts";

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  scheduled,
} satisfies ExportedHandler<Env>;

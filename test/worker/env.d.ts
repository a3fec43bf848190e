import type { Env as WorkerEnv } from "../../worker/src/env.ts";
import type * as Main from "../../worker/src/index.ts";

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof Main;
    }
    interface Env extends WorkerEnv {}
  }
}

import { createRouter, type RouterOutputs } from "./router.ts";

/**
 * The Pulumi program (Pulumi.yaml `main`). Pulumi's Node.js runtime imports this module and
 * runs its default export; the object it resolves to becomes the stack outputs.
 */
export default function main(): Promise<RouterOutputs> {
  return createRouter();
}

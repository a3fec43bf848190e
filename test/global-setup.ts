import { bundleWorker } from "../scripts/bundle.ts";

/** The Worker tests run the deployable bundle, built fresh for every run. */
export default async function setup(): Promise<void> {
  await bundleWorker();
}

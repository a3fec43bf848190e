/** The router's pure core: no platform types, shared by the Worker, infra/ and the scripts. */

export * from "./access.ts";
export * from "./alerts.ts";
export * from "./builds.ts";
export * from "./chain.ts";
export * from "./changes.ts";
export * from "./choose.ts";
export * from "./config.ts";
export * from "./costs.ts";
export * from "./decide.ts";
export * from "./defaults.ts";
export * from "./deploy.ts";
export * from "./effects.ts";
export * from "./events.ts";
export * from "./fleet.ts";
export * from "./glob.ts";
export * from "./globset.ts";
export * from "./load.ts";
export * from "./metrics.ts";
export * from "./names.ts";
export * from "./plan.ts";
export * from "./rescue.ts";
export * from "./result.ts";
export * from "./retry.ts";
export * from "./route.ts";
export * from "./route-request.ts";
export * from "./types.ts";

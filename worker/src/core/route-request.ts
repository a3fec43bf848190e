import * as z from "zod/mini";
import { changesFromList, unknownChanges } from "./changes.ts";
import { PAYLOAD_LIMITS } from "./events.ts";
import { PARSE_OPTIONS } from "./issues.ts";
import { REPOSITORY, SHA } from "./names.ts";
import { fail, ok, type Result } from "./result.ts";
import type { ChangeSet, RoutingInput } from "./types.ts";

/** Most files a suggestion request may list: GitHub's own largest listing cap. */
export const MAX_ROUTE_FILES = 3000;

const routeRequestSchema = z.strictObject({
  repository: z.string().check(z.regex(REPOSITORY, 'must be "owner/name"')),
  event: z.optional(z.enum(["push", "pull_request", "workflow_dispatch"])),
  ref: z.optional(
    z.nullable(
      z.string().check(z.regex(/^refs\//, 'must be a full ref starting with "refs/"'), z.maxLength(PAYLOAD_LIMITS.ref)),
    ),
  ),
  sha: z.optional(z.nullable(z.string().check(z.regex(SHA, "must be a hex commit id")))),
  files: z.optional(
    z.array(z.string().check(z.minLength(1), z.maxLength(PAYLOAD_LIMITS.path))).check(z.maxLength(MAX_ROUTE_FILES)),
  ),
  truncated: z.optional(z.boolean()),
  environment: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(PAYLOAD_LIMITS.name)))),
  job_id: z.optional(z.nullable(z.int().check(z.gte(1, "must be a job's check run id (a positive integer)")))),
});

/**
 * The calling job named in a query (`job_id`): its check run id, null when absent, or why it
 * is not one.
 */
export function parseJobId(text: string | null): Result<number | null> {
  if (text === null || text === "") return ok(null);
  const id = /^[1-9]\d{0,15}$/.test(text) ? Number(text) : Number.NaN;
  return Number.isSafeInteger(id)
    ? ok(id)
    : fail("invalid_request", "job_id must be a job's check run id (a positive integer)");
}

export type RouteRequest = z.infer<typeof routeRequestSchema>;

/** Reads a `POST /route` body, or lists every problem with it. */
export function parseRouteRequest(body: unknown): Result<RouteRequest> {
  const parsed = routeRequestSchema.safeParse(body, PARSE_OPTIONS);
  if (parsed.success) return ok(parsed.data);
  return fail(
    "invalid_request",
    ...parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(body)"}: ${i.message}`),
  );
}

/**
 * The routing input a suggestion request describes. Its files are the ones it lists; when it
 * lists none, `listed` (the commit's files, as GitHub gave them) when given, else unknown.
 * The caller's `truncated: true` holds either way: such a change is never lightweight.
 */
export function routeInput(request: RouteRequest, listed?: ChangeSet): RoutingInput {
  let changes: ChangeSet =
    request.files !== undefined
      ? changesFromList(request.files, Number.POSITIVE_INFINITY, "route request")
      : (listed ?? unknownChanges("route request", "the request lists no files"));
  if (request.truncated === true) {
    changes = { ...changes, truncated: true, notes: [...changes.notes, "the caller marked the list truncated"] };
  }
  return {
    repository: request.repository,
    event: request.event ?? "push",
    ref: request.ref ?? null,
    sha: request.sha ?? null,
    changes,
    environment: request.environment ?? null,
  };
}

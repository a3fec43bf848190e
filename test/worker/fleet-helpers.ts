/**
 * Helpers for the load-aware routing tests: the acme/fleet pool (test/support/fleet-config.ts),
 * workflow_job events on its machines, commits on a chosen A/B arm, and GET /fleet.
 */

import { expect } from "vitest";
import { abBucket } from "../../worker/src/core/index.ts";
import type { FleetView } from "../../worker/src/ledger.ts";
import { AB_SHARE, FLEET_REPOSITORY, POOL_LABELS } from "../support/fleet-config.ts";
import { type Answer, call, deliver, randomSha, workflowJobPayload } from "./helpers.ts";
import { ledgerSql } from "./observability.ts";

/** GET /fleet's answer for one runner class, as the Ledger builds it. */
export type ClassView = FleetView["classes"][string];

/** Forgets the fleet's live state (the Ledger is shared by a file's tests). */
export async function resetFleet(): Promise<void> {
  await ledgerSql("DELETE FROM fleet_jobs");
  await ledgerSql("DELETE FROM machines");
}

/** GET /fleet (for acme/fleet's policy unless `repository` is null), asserted 200. */
export async function fleet(repository: string | null = FLEET_REPOSITORY): Promise<Record<string, ClassView>> {
  const query = repository === null ? "" : `?repository=${repository}`;
  const res = await call<{ classes: Record<string, ClassView> }>(`/fleet${query}`);
  expect(res.status, res.text).toBe(200);
  return res.body.classes;
}

/** The pool class's load, as GET /fleet reports it. */
export async function pool(): Promise<ClassView> {
  const classes = await fleet();
  expect(classes.pool).toBeDefined();
  return classes.pool as ClassView;
}

/** A commit of acme/fleet whose A/B bucket puts it on `arm`. */
export function shaOnArm(arm: "control" | "candidate"): string {
  for (;;) {
    const sha = randomSha();
    if (abBucket(FLEET_REPOSITORY, sha) < AB_SHARE === (arm === "candidate")) return sha;
  }
}

/** Delivers a workflow_job event for a pool job of acme/fleet. */
export async function poolJob(fields: {
  action: "queued" | "in_progress" | "completed";
  id: number;
  runnerName?: string | null;
  sha?: string;
  delivery?: string;
  conclusion?: string;
}): Promise<Answer> {
  const payload = workflowJobPayload({
    repository: FLEET_REPOSITORY,
    sha: fields.sha ?? randomSha(),
    action: fields.action,
    id: fields.id,
    runId: fields.id,
    labels: POOL_LABELS,
    runnerName: fields.runnerName,
    conclusion: fields.conclusion,
  });
  const res = await deliver(
    "workflow_job",
    payload,
    fields.delivery === undefined ? {} : { delivery: fields.delivery },
  );
  expect([200, 202], res.text).toContain(res.status);
  return res;
}

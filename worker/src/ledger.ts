import { DurableObject } from "cloudflare:workers";
import { applyUpdate, type BuildRecord, type WorkflowUpdate } from "./core/index.ts";
import type { Env } from "./env.ts";

/** GitHub lets a delivery be redelivered for 3 days; remember each one a day longer. */
export const DELIVERY_RETENTION_MS = 4 * 24 * 60 * 60 * 1000;
/** Build records live as long here as in KV. */
export const BUILD_RETENTION_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** What the Worker decided to do with a delivery; the Ledger applies it at most once. */
export type Plan =
  | { kind: "respond"; status: number; body: string }
  | { kind: "create"; build: BuildRecord; body: string }
  | { kind: "update"; repository: string; sha: string; update: WorkflowUpdate; fallback: BuildRecord; at: string };

export interface Outcome {
  duplicate: boolean;
  status: number;
  /** The JSON answer, exactly as first given. */
  body: string;
  /** The build to copy to KV: set when a build was created or just completed. */
  persist: BuildRecord | null;
}

/**
 * The one place where state must be exact: which deliveries were seen (and what they were
 * answered), and the live build records that workflow events update. Every method runs as one
 * synchronous SQLite transaction, so concurrent deliveries can neither both win nor lose an update.
 * Tables: see docs/storage-schema.md.
 */
export class Ledger extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS builds (
        build_id TEXT PRIMARY KEY,
        repository TEXT NOT NULL,
        sha TEXT,
        record TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS commits (
        repository TEXT NOT NULL,
        sha TEXT NOT NULL,
        build_id TEXT NOT NULL,
        PRIMARY KEY (repository, sha)
      );
      CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at);
      CREATE INDEX IF NOT EXISTS builds_created ON builds (created_at);
    `);
  }

  /** Applies `plan` for `delivery` unless that delivery was seen; either way, answers as the first time. */
  async accept(delivery: string, event: string, plan: Plan): Promise<Outcome> {
    const outcome = this.ctx.storage.transactionSync((): Outcome => {
      const seen = this.sql
        .exec<{ status: number; body: string }>("SELECT status, body FROM deliveries WHERE id = ?", delivery)
        .toArray()[0];
      if (seen !== undefined) {
        return { duplicate: true, status: seen.status, body: seen.body, persist: null };
      }
      const now = Date.now();
      const result = this.apply(plan, now);
      this.sql.exec(
        "INSERT INTO deliveries (id, event, status, body, received_at) VALUES (?, ?, ?, ?, ?)",
        delivery,
        event,
        result.status,
        result.body,
        now,
      );
      return { duplicate: false, ...result };
    });
    await this.schedulePrune();
    return outcome;
  }

  /** The live record of a build, or null. */
  async build(buildId: string): Promise<BuildRecord | null> {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM builds WHERE build_id = ?", buildId).toArray()[0];
    return row === undefined ? null : JSON.parse(row.record);
  }

  /** The latest build recorded for a commit of a repository, or null. */
  async buildForCommit(repository: string, sha: string): Promise<BuildRecord | null> {
    return this.buildRowForCommit(repository, sha);
  }

  /** Deletes deliveries and builds past their retention. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM deliveries WHERE received_at < ?", now - DELIVERY_RETENTION_MS);
      this.sql.exec("DELETE FROM builds WHERE created_at < ?", now - BUILD_RETENTION_MS);
      this.sql.exec("DELETE FROM commits WHERE build_id NOT IN (SELECT build_id FROM builds)");
    });
    const left = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM deliveries").one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + PRUNE_EVERY_MS);
  }

  private async schedulePrune(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
    }
  }

  private apply(plan: Plan, now: number): Omit<Outcome, "duplicate"> {
    switch (plan.kind) {
      case "respond":
        return { status: plan.status, body: plan.body, persist: null };
      case "create": {
        const build = this.withEarlyEvents(plan.build);
        this.save(build, now, true);
        return { status: 202, body: plan.body, persist: build };
      }
      case "update": {
        const known = this.buildRowForCommit(plan.repository, plan.sha);
        const base = known ?? plan.fallback;
        const next = applyUpdate(base, plan.update, plan.at);
        this.save(next, now, known === null);
        const completedNow = next.status === "completed" && base.status !== "completed";
        return {
          status: 202,
          body: JSON.stringify({ build_id: next.build_id }),
          persist: known === null || completedNow ? next : null,
        };
      }
    }
  }

  /**
   * Workflow events can arrive before the delivery that routes their commit; they then started a
   * build without a decision. Its runs and jobs carry over to the routed build, which replaces it.
   */
  private withEarlyEvents(build: BuildRecord): BuildRecord {
    if (build.sha === null) return build;
    const early = this.buildRowForCommit(build.repository, build.sha);
    if (early === null || early.decision !== null) return build;
    let merged = build;
    for (const run of Object.values(early.runs)) merged = applyUpdate(merged, { kind: "run", run }, build.updated_at);
    for (const job of Object.values(early.jobs)) merged = applyUpdate(merged, { kind: "job", job }, build.updated_at);
    return merged;
  }

  private buildRowForCommit(repository: string, sha: string): BuildRecord | null {
    const row = this.sql
      .exec<{ record: string }>(
        "SELECT b.record FROM commits c JOIN builds b ON b.build_id = c.build_id WHERE c.repository = ? AND c.sha = ?",
        repository.toLowerCase(),
        sha.toLowerCase(),
      )
      .toArray()[0];
    return row === undefined ? null : JSON.parse(row.record);
  }

  private save(build: BuildRecord, now: number, isNew: boolean): void {
    if (isNew) {
      this.sql.exec(
        "INSERT OR REPLACE INTO builds (build_id, repository, sha, record, created_at) VALUES (?, ?, ?, ?, ?)",
        build.build_id,
        build.repository.toLowerCase(),
        build.sha?.toLowerCase() ?? null,
        JSON.stringify(build),
        now,
      );
      if (build.sha !== null) {
        this.sql.exec(
          "INSERT OR REPLACE INTO commits (repository, sha, build_id) VALUES (?, ?, ?)",
          build.repository.toLowerCase(),
          build.sha.toLowerCase(),
          build.build_id,
        );
      }
    } else {
      this.sql.exec("UPDATE builds SET record = ? WHERE build_id = ?", JSON.stringify(build), build.build_id);
    }
  }
}

import type { Book, ListedRunner } from "../../worker/src/book.ts";
import { buildId, type FleetCounts, type JobState, newBuild } from "../../worker/src/core/index.ts";
import { openBook } from "./open-book.ts";

/** A job event as the fleet tests write it: the job's state and when it was seen (ISO 8601). */
export type Step = [JobState, string];

const REPOSITORY = "acme/app";
const SHA = "0123456789abcdef0123456789abcdef01234567";

/**
 * The Ledger's real fleet code (the Book over node:sqlite) under a routing configuration, with
 * a list of job events applied in order: each event goes through `Book.accept` as a
 * `workflow_job` delivery of its own (no content key, so repeated events reach the fleet and
 * show that it ignores them). `with` replays the events into a new rig, so a rig is a value.
 */
export class FleetRig {
  readonly book: Book;
  readonly events: readonly Step[];
  private readonly config: unknown;

  constructor(config: unknown = {}, events: readonly Step[] = []) {
    this.config = config;
    this.events = events;
    this.book = openBook({ routing: config }).book;
    for (const [i, [job, at]] of events.entries()) this.deliver(job, at, i);
  }

  /** A rig with `steps` applied after this one's events. */
  with(steps: readonly Step[]): FleetRig {
    return new FleetRig(this.config, [...this.events, ...steps]);
  }

  counts(): FleetCounts {
    return this.book.fleet.counts();
  }

  machine(name: string) {
    return this.book.fleet.machine(name);
  }

  job(id: number) {
    return this.book.fleet.job(id);
  }

  /** Every job row and machine row, without the times a check is due (those follow when each event came). */
  rows() {
    const jobs = this.book.sql
      .exec("SELECT job_id, state, runner_class, machine, since FROM fleet_jobs ORDER BY job_id")
      .toArray()
      .map((r) => ({ ...r }));
    const machines = this.book.sql
      .exec("SELECT * FROM machines ORDER BY name")
      .toArray()
      .map((r) => ({ ...r }));
    return { jobs, machines };
  }

  reconcile(runners: ListedRunner[], at: string): void {
    this.book.reconcile(runners, Date.parse(at));
  }

  maintain(at: string): void {
    this.book.maintain(Date.parse(at));
  }

  private deliver(job: JobState, at: string, n: number): void {
    const delivery = `event-${n}`;
    const fallback = newBuild({
      build_id: buildId(SHA, delivery),
      repository: REPOSITORY,
      event: "workflow_job",
      ref: null,
      sha: SHA,
      delivery,
      decision: null,
      at,
    });
    this.book.accept(
      delivery,
      "workflow_job",
      { kind: "update", repository: REPOSITORY, sha: SHA, update: { kind: "job", job }, fallback, at },
      {},
      Date.parse(at),
    );
  }
}

/**
 * GET /forecast: expected job starts per runner class for the coming hours, from the
 * hour-of-week history the Ledger counts in each `workflow_job` transaction that starts a job.
 * The jobs run on a class of their own (given through ROUTING_CONFIG with `withBindings`), and
 * their GitHub start times are set a week or two back, so the history already covers the hours
 * asked about.
 */
import { describe, expect, it } from "vitest";
import { VAR_NAMES } from "../../worker/src/bindings.ts";
import {
  DECAY_PER_WEEK,
  FORECAST_MAX_HOURS,
  type Forecast,
  HOUR_MS,
  hourOfWeek,
  WEEK_MS,
} from "../../worker/src/core/index.ts";
import { OIDC_SERVED, TEST_ROUTING_CONFIG } from "../support/fleet-config.ts";
import { FAKE_OIDC_ISSUER, jobClaims } from "../support/oidc-issuer.ts";
import {
  call,
  deliver,
  expectError,
  randomRepository,
  randomSha,
  withBindings,
  workflowJobPayload,
} from "./helpers.ts";
import { githubTime, ledgerSql, newJobId, sleep } from "./observability.ts";

const CLASS = `fc-${crypto.randomUUID().slice(0, 8)}`;
const LABELS = ["self-hosted", CLASS];
const via = withBindings({
  [VAR_NAMES.routingConfig]: JSON.stringify({
    ...TEST_ROUTING_CONFIG,
    runners: { [CLASS]: { kind: "self-hosted", runsOn: LABELS } },
  }),
});

/** Delivers a job of the class starting at `startedAt` (as GitHub writes it); the delivery's answer. */
async function startJob(startedAt: number, fields: { id?: number; delivery?: string } = {}) {
  const payload = workflowJobPayload({
    repository: randomRepository(),
    sha: randomSha(),
    action: "in_progress",
    id: fields.id ?? newJobId(),
    labels: LABELS,
    runnerName: `${CLASS}-1`,
  });
  payload.workflow_job.created_at = githubTime(startedAt - 60_000);
  payload.workflow_job.started_at = githubTime(startedAt);
  const res = await deliver("workflow_job", payload, {
    via,
    ...(fields.delivery === undefined ? {} : { delivery: fields.delivery }),
  });
  expect(res.status, res.text).toBe(202);
  return { res, payload };
}

async function forecastOf(query = ""): Promise<Forecast> {
  const res = await call<Forecast>(`/forecast${query}`, { via });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** Waits out the last seconds of an hour, so that the hour the history was written for is still the current one. */
async function awayFromTheHour(): Promise<number> {
  const left = HOUR_MS - (Date.now() % HOUR_MS);
  if (left < 20_000) await sleep(left + 100);
  return Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
}

const round = (n: number) => Math.round(n * 100) / 100;
/** Room for {@link awayFromTheHour}'s wait. */
const NEAR_THE_HOUR_TIMEOUT = 40_000;

describe("GET /forecast", () => {
  it(
    "expects, for each hour, the decayed average of its past weeks' starts; an hour without starts expects 0",
    async () => {
      const hour = await awayFromTheHour();
      const lastWeek = hour - WEEK_MS + 10 * 60_000;
      const twoWeeksAgo = hour - 2 * WEEK_MS + 5 * 60_000;
      // This hour: 3 starts last week, 2 the week before. The next hour: 1 start last week.
      for (const at of [lastWeek, lastWeek + 60_000, lastWeek + 120_000, twoWeeksAgo, twoWeeksAgo + 60_000]) {
        await startJob(at);
      }
      await startJob(lastWeek + HOUR_MS);

      const answer = await forecastOf();
      expect(Date.parse(answer.generated_at)).toBeGreaterThanOrEqual(hour);
      expect(answer.hours.map((h) => h.start)).toEqual(
        Array.from({ length: 6 }, (_, i) => new Date(hour + i * HOUR_MS).toISOString()),
      );
      // Two past weeks are covered: the latest weighs 1, the one before DECAY_PER_WEEK.
      const exposure = 1 + DECAY_PER_WEEK;
      expect(answer.hours.map((h) => h.classes[CLASS]?.expected_jobs)).toEqual([
        round((3 + 2 * DECAY_PER_WEEK) / exposure),
        round(1 / exposure),
        0,
        0,
        0,
        0,
      ]);
      // Every configured class is forecast; the note says what the forecast is not for.
      for (const h of answer.hours) expect(Object.keys(h.classes)).toEqual(expect.arrayContaining(["vps", CLASS]));
      expect(answer.note).toMatch(/warm pool/);
      expect(answer.note).toMatch(/floor/);
      expect(answer.note).toMatch(/never sends a scale-down/);
    },
    NEAR_THE_HOUR_TIMEOUT,
  );

  it(
    "a start in the hour now in is counted, not forecast for it; a redelivered start counts once",
    async () => {
      const hour = await awayFromTheHour();
      const before = (await forecastOf("?hours=1")).hours[0]?.classes[CLASS]?.expected_jobs;
      const id = newJobId();
      const delivery = crypto.randomUUID();
      const { payload } = await startJob(Date.now(), { id, delivery });
      const again = await deliver("workflow_job", payload, { via, delivery });
      expect(again.body).toMatchObject({ duplicate: true });
      const retried = await deliver("workflow_job", payload, { via });
      expect(retried.body).toMatchObject({ duplicate: true });

      const [row] = await ledgerSql<{ latest: number }>(
        "SELECT latest FROM forecast_hours WHERE runner_class = ? AND hour = ?",
        CLASS,
        hourOfWeek(hour),
      );
      expect(row?.latest).toBe(1);
      expect((await forecastOf("?hours=1")).hours[0]?.classes[CLASS]?.expected_jobs).toBe(before);
    },
    NEAR_THE_HOUR_TIMEOUT,
  );

  it(`takes ?hours=1 to ${FORECAST_MAX_HOURS}; anything else is 400`, async () => {
    expect((await forecastOf("?hours=1")).hours).toHaveLength(1);
    expect((await forecastOf(`?hours=${FORECAST_MAX_HOURS}`)).hours).toHaveLength(FORECAST_MAX_HOURS);
    for (const hours of ["0", String(FORECAST_MAX_HOURS + 1), "-1", "2.5", "six", "1e1"]) {
      expectError(await call(`/forecast?hours=${hours}`, { via }), 400, "invalid_request");
    }
  });

  it("needs the API token: 401 without one, 403 for an Actions OIDC token", async () => {
    expectError(await call("/forecast", { token: null }), 401, "unauthorized");
    const minted = await fetch(`${FAKE_OIDC_ISSUER}/__mint`, {
      method: "POST",
      body: JSON.stringify({ claims: jobClaims(OIDC_SERVED, { repositoryId: 5001, ownerId: 5000 }), options: {} }),
    });
    const { token } = (await minted.json()) as { token: string };
    expectError(await call("/forecast", { token }), 403, "forbidden");
  });
});

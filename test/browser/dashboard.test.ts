import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY, DASHBOARD_HEADERS } from "../../dashboard/assets.ts";
import { ROOT } from "../../scripts/bundle.ts";
import { TEST_SECRETS } from "../support/secrets.ts";
import { launch, screenshot, settled, signIn, type Watched, watchedPage } from "./browser.ts";
import { type Fakes, type Router, startFakes, startRouter } from "./router.ts";
import { deliver, push, ROUTING_CONFIG, SCENARIO_BUILDS, sendScenario } from "./scenario.ts";

/**
 * The operator dashboard in a real Chromium, against the router as `npm start` runs it: the
 * page is read as a person reads it and compared with the JSON endpoints it is drawn from.
 */

// biome-ignore lint/suspicious/noExplicitAny: the router's JSON, read freely: the page is what is under test
type Json = any;

const TOKEN = TEST_SECRETS.api;
/** Answers the page handles by design: no simulation published yet. */
const NO_SIMULATION = { "/simulation": [404] };

let fakes: Fakes;
let router: Router;
let browser: Browser;
let watched: Watched[] = [];
/** The failed answers the running test expects its pages to handle (path → statuses). */
let allowed: Record<string, number[]> = NO_SIMULATION;

/** A fresh page on the router, watched for errors and for requests leaving its origin. */
async function open(options: Parameters<typeof watchedPage>[2] = {}, on: Router = router): Promise<Page> {
  const w = await watchedPage(browser, on.url, options);
  watched.push(w);
  await w.page.goto(on.dashboardUrl);
  return w.page;
}

/** The router's JSON, read with the API token as the page reads it. */
async function api<T = Json>(path: string): Promise<T> {
  const res = await fetch(`${router.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status, `${path}: ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

/** Every build /builds answers for a query, following next_cursor. */
async function allBuilds(query: Record<string, string> = {}): Promise<Json[]> {
  const builds: Json[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams({ ...query, limit: "100", ...(cursor === null ? {} : { cursor }) });
    const page: { builds: Json[]; next_cursor: string | null } = await api(`/builds?${params}`);
    builds.push(...page.builds);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return builds;
}

/** Dollars as the page writes them. */
const money = (usd: number | null) => (usd === null ? "—" : `${usd < 0 ? "-" : ""}$${Math.abs(usd).toFixed(2)}`);
const text = async (page: Page, testid: string) =>
  ((await page.getByTestId(testid).first().textContent()) ?? "").trim();
const shownIds = (page: Page) =>
  page.getByTestId("build-row").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-build-id")));

beforeAll(async () => {
  fakes = await startFakes();
  router = await startRouter({
    ...fakes.settings,
    API_TOKEN: TOKEN,
    WEBHOOK_SECRET: TEST_SECRETS.webhook,
    ROUTING_CONFIG: JSON.stringify(ROUTING_CONFIG),
  });
  browser = await launch();
}, 60_000);

afterEach(async () => {
  try {
    for (const w of watched) w.expectClean(allowed);
  } finally {
    for (const w of watched) await w.page.context().close();
    watched = [];
    allowed = NO_SIMULATION;
  }
});

afterAll(async () => {
  await browser?.close();
  await router?.stop();
  await fakes?.stop();
});

describe("the page", () => {
  it("is the Worker's static assets, with the CSP and the other security headers; the API still reaches the Worker", async () => {
    const w = await watchedPage(browser, router.url);
    watched.push(w);
    const page = w.page;
    const response = await page.goto(router.dashboardUrl);
    expect(response?.status()).toBe(200);
    const headers = response?.headers() ?? {};
    expect(headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) expect(headers[name.toLowerCase()]).toBe(value);
    for (const file of ["app.js", "api.js", "charts.js", "panels.js", "dom.js", "style.css"]) {
      const res = await fetch(`${router.url}/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get("content-security-policy"), file).toBe(CONTENT_SECURITY_POLICY);
    }
    // The headers file is configuration, not a page; the API is the Worker's, without the page's headers.
    expect((await fetch(`${router.url}/_headers`)).status).toBe(404);
    const health = await fetch(`${router.url}/health`);
    expect(await health.json()).toMatchObject({ status: "ok" });
    expect(health.headers.get("content-security-policy")).toBeNull();
    await expect.poll(() => text(page, "health")).toMatch(/mode hybrid/);
  });
});

describe("a fresh router", () => {
  it("shows the sign-in form, then an empty state in every panel", async () => {
    const page = await open();
    await expect.poll(() => page.getByTestId("sign-in").isVisible()).toBe(true);
    expect(await page.getByTestId("dashboard").isVisible()).toBe(false);
    await signIn(page, TOKEN);
    expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(1);
    expect(await page.getByTestId("builds-empty").textContent()).toMatch(/^No builds yet/);
    expect(await text(page, "builds-count")).toBe("0");
    expect(await page.getByTestId("alerts-empty").isVisible()).toBe(true);
    expect(await text(page, "alerts-count")).toBe("0");
    expect(await page.getByTestId("queue-late-empty").isVisible()).toBe(true);
    expect(await page.getByTestId("costs-empty").isVisible()).toBe(true);
    expect(await page.getByTestId("learned-none").isVisible()).toBe(true);
    expect(await page.getByTestId("simulation-empty").textContent()).toMatch(/No simulation published yet/);
    expect(await page.getByTestId("machines-empty").count()).toBe(0);
    await screenshot(page, "empty-desktop-light");
  });

  it("says a wrong token is wrong, keeps nothing and stays on the sign-in form", async () => {
    allowed = { ...NO_SIMULATION, "/organisations": [401] };
    const page = await open();
    await page.getByLabel("API token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => text(page, "sign-in-status")).toMatch(/^Wrong token/);
    expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(0);
    expect(await page.getByTestId("dashboard").isVisible()).toBe(false);
    expect(await page.context().cookies()).toEqual([]);
    expect(page.url()).toBe(router.dashboardUrl);
    // The right one then signs in.
    await signIn(page, TOKEN);
  });

  it("a token the router stops taking (rotated) returns to the sign-in form, saying so", async () => {
    allowed = Object.fromEntries(
      ["/organisations", "/builds", "/fleet", "/alerts", "/queue", "/costs", "/simulation"].map((path) => [
        path,
        [401],
      ]),
    );
    const w = await watchedPage(browser, router.url);
    watched.push(w);
    await w.page.addInitScript(() => sessionStorage.setItem("ci-router-api-token", "rotated-away"));
    await w.page.goto(router.dashboardUrl);
    await expect.poll(() => text(w.page, "sign-in-status")).toMatch(/^Wrong token/);
    expect(await w.page.getByTestId("sign-in").isVisible()).toBe(true);
    expect(await w.page.evaluate(() => Object.keys(sessionStorage).length)).toBe(0);
  });
});

describe("after a morning of deliveries", () => {
  let builds: Json[];

  beforeAll(async () => {
    await sendScenario(router.url);
    builds = await allBuilds();
    // The simulation the operator publishes with `npm run simulate -- --publish`.
    const dir = await mkdtemp(join(tmpdir(), "ci-router-simulation-"));
    try {
      const out = join(dir, "simulation.json");
      await promisify(execFile)(process.execPath, [join(ROOT, "scripts/simulate.ts"), "--json", out], { cwd: ROOT });
      const res = await fetch(`${router.url}/simulation`, {
        method: "PUT",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: await readFile(out, "utf8"),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("every panel shows the figures its endpoint answers", async () => {
    const page = await open();
    await signIn(page, TOKEN);
    const [fleet, costs, alerts, queue, simulation] = await Promise.all([
      api("/fleet"),
      api("/costs"),
      api("/alerts"),
      api("/queue?hours=24"),
      api("/simulation"),
    ]);

    // Builds: the first page, newest first, then the rest; each row with its decision's runner and rule.
    const first = await api("/builds?limit=50");
    expect(await text(page, "builds-count")).toBe(String(first.builds.length));
    expect(await shownIds(page)).toEqual(first.builds.map((b: Json) => b.build_id));
    await page.getByTestId("builds-more").click();
    await settled(page);
    expect(await text(page, "builds-count")).toBe(String(builds.length));
    const rows = await page.getByTestId("build-row").evaluateAll((trs) =>
      trs.map((tr) => {
        const cell = (name: string) => tr.querySelector(`[data-testid="build-${name}"]`)?.textContent;
        return [tr.getAttribute("data-build-id"), cell("repository"), cell("runner"), cell("rule"), cell("cost")];
      }),
    );
    expect(rows).toEqual(
      builds.map((b) => [b.build_id, b.repository, b.decision.runner, b.decision.rule ?? "—", money(b.cost_usd)]),
    );
    expect(builds.length).toBe(SCENARIO_BUILDS);
    expect(new Set(builds.map((b) => b.decision.runner))).toEqual(new Set(["vps", "github-hosted", "ai-lab", "kvm4"]));

    // Fleet: busy/capacity of every class, and the machines with their jobs.
    for (const [id, c] of Object.entries<Json>(fleet.classes)) {
      const row = page
        .getByTestId("fleet-classes")
        .locator("tbody tr", { has: page.locator("th", { hasText: new RegExp(`^${id}$`) }) });
      expect(await row.getByTestId("fleet-busy").textContent(), id).toBe(`${c.busy}/${c.capacity}`);
      expect(await row.getByTestId("fleet-queued").textContent(), id).toBe(String(c.queued));
    }
    expect(fleet.classes.vps.busy).toBeGreaterThan(0);
    const machines = Object.values<Json>(fleet.classes).flatMap((c) => c.machines);
    expect(await page.getByTestId("fleet-machines").locator("tbody tr").count()).toBe(machines.length);

    // Queue: a chart per class, and the jobs waiting past their target.
    expect(await page.getByTestId("queue-chart").count()).toBe(Object.keys(queue.classes).length);
    expect(await text(page, "queue-late-count")).toBe(String(queue.waiting_too_long.length));
    expect(queue.waiting_too_long.length).toBeGreaterThan(0);
    expect(await page.getByTestId("queue-late").locator("tbody tr").count()).toBe(queue.waiting_too_long.length);

    // This month: cost against all on GitHub-hosted, savings, per day, per runner and repository.
    expect(await text(page, "costs-total")).toBe(money(costs.totals.cost_usd));
    expect(await text(page, "costs-baseline")).toBe(money(costs.baseline.cost_usd));
    expect(await text(page, "costs-savings")).toContain(money(costs.savings.usd));
    expect(await page.getByTestId("costs-chart").count()).toBe(1);
    expect(await page.getByTestId("costs-repositories").locator("tbody tr").count()).toBe(
      Object.keys(costs.by_repository).length,
    );
    expect(await page.getByTestId("costs-runners").locator("tbody tr").count()).toBe(
      Object.keys(costs.by_runner).length,
    );
    if (typeof costs.accuracy?.rate === "number") {
      expect(await text(page, "costs-accuracy")).toContain(`${costs.accuracy.matched} of ${costs.accuracy.jobs} jobs`);
    }

    // Alerts: as many as /alerts lists.
    expect(await text(page, "alerts-count")).toBe(String(alerts.alerts.length));
    expect(alerts.alerts.length).toBeGreaterThan(0);
    expect(await page.getByTestId("alerts-table").locator("tbody tr").count()).toBe(alerts.alerts.length);

    // The last simulation: every policy, in both charts and the table.
    const policies = simulation.simulation.figures.map((f: Json) => f.policy);
    expect(await page.getByTestId("simulation-table").locator("tbody th").allTextContents()).toEqual(policies);
    expect(await page.getByTestId("simulation-cost").locator("rect").count()).toBe(policies.length);
    expect(await page.getByTestId("simulation-queue").locator("rect").count()).toBe(policies.length);

    // Learned estimates: for a repository chosen from the builds seen.
    const options = await page.getByTestId("learned-repository").locator("option").allTextContents();
    expect(options).toEqual(expect.arrayContaining(["acme/app", "acme/ml", "acme/web"]));
    await page.getByTestId("learned-repository").selectOption("acme/app");
    await settled(page);
    const learned = await api("/learned?repository=acme%2Fapp");
    expect(await text(page, "learned-count")).toBe(String(learned.entries.length));
  });

  it("the filters narrow the table to what /builds answers for them; Load more follows next_cursor", async () => {
    const page = await open();
    await signIn(page, TOKEN);
    const filters = page.getByTestId("build-filters");

    await filters.getByLabel("Repository").fill("acme/web");
    await filters.getByRole("button", { name: "Apply" }).click();
    await settled(page);
    const web = await allBuilds({ repository: "acme/web" });
    expect(web.length).toBe(2);
    expect(await text(page, "builds-count")).toBe(String(web.length));
    expect(await page.getByTestId("build-repository").allTextContents()).toEqual(web.map(() => "acme/web"));
    expect(await shownIds(page)).toEqual(web.map((b) => b.build_id));

    await filters.getByRole("button", { name: "Clear" }).click();
    await filters.getByLabel("Requirement").selectOption("gpu");
    await filters.getByLabel("Conclusion").selectOption("failure");
    await filters.getByRole("button", { name: "Apply" }).click();
    await settled(page);
    const failedGpu = await allBuilds({ requirement: "gpu", conclusion: "failure" });
    expect(failedGpu.length).toBeGreaterThan(0);
    expect(await shownIds(page)).toEqual(failedGpu.map((b) => b.build_id));

    await filters.getByLabel("Requirement").selectOption("");
    await filters.getByLabel("Conclusion").selectOption("");
    await filters.getByLabel("Repository").fill("acme/nobody");
    await filters.getByRole("button", { name: "Apply" }).click();
    await settled(page);
    expect(await page.getByTestId("builds-empty").textContent()).toBe("No builds match these filters.");

    await filters.getByRole("button", { name: "Clear" }).click();
    await settled(page);
    expect(await text(page, "builds-count")).toBe("50");
    await page.getByTestId("builds-more").click();
    await settled(page);
    expect(await shownIds(page)).toEqual(builds.map((b) => b.build_id));
    expect(await page.getByTestId("builds-more").isVisible()).toBe(builds.length > 100);
  });

  it("a build's row opens its decision, by click and by Enter, with every reason and its links", async () => {
    const page = await open();
    await signIn(page, TOKEN);
    const failed = builds.find((b) => b.repository === "acme/ml");
    const row = page.locator(`[data-testid="build-row"][data-build-id="${failed.build_id}"]`);
    const button = row.getByTestId("build-open");
    expect(await button.getAttribute("aria-expanded")).toBe("false");
    await button.click();
    expect(await button.getAttribute("aria-expanded")).toBe("true");
    const detail = page.locator(`#${await button.getAttribute("aria-controls")}`);
    expect(await detail.isVisible()).toBe(true);
    expect(await detail.getByTestId("decision-reason").allTextContents()).toEqual(failed.decision.reasons);
    const shown = (await detail.textContent()) ?? "";
    for (const part of [
      failed.decision.rule,
      failed.decision.requirement,
      ...failed.decision.runs_on,
      ...failed.runners_used,
    ]) {
      expect(shown).toContain(part);
    }
    for (const link of await detail.locator("a").all()) {
      expect(await link.getAttribute("rel")).toBe("noopener noreferrer");
      expect(await link.getAttribute("href")).toMatch(/^https:\/\/github\.com\//);
    }
    expect(await detail.locator("a").count()).toBe(1 + failed.runs.length);
    await button.click();
    expect(await detail.isVisible()).toBe(false);

    // Keyboard only: focus the pull request build's button and press Enter.
    const pr = builds.find((b) => b.repository === "acme/gpu-pr");
    const prButton = page
      .locator(`[data-testid="build-row"][data-build-id="${pr.build_id}"]`)
      .getByTestId("build-open");
    await prButton.focus();
    await page.keyboard.press("Enter");
    expect(await prButton.getAttribute("aria-expanded")).toBe("true");
    const prDetail = page.locator(`#${await prButton.getAttribute("aria-controls")}`);
    expect(await prDetail.getByTestId("decision-reason").allTextContents()).toEqual(pr.decision.reasons);
    expect(await prDetail.getByRole("link", { name: /Pull request #12/ }).getAttribute("href")).toBe(
      pr.links.pull_request,
    );
  });

  it("every control has a label, every table header a scope, and the keyboard reaches the controls", async () => {
    const page = await open();
    await signIn(page, TOKEN);
    // Only what is shown: a hidden form is not in the way.
    const unlabelled = await page
      .locator("input:visible, select:visible, button:visible")
      .evaluateAll((controls) =>
        controls
          .filter((el) => !(el.labels?.length > 0 || el.getAttribute("aria-label") || el.textContent?.trim()))
          .map((el) => el.outerHTML),
      );
    expect(unlabelled).toEqual([]);
    expect(await page.locator("th:not([scope])").count()).toBe(0);
    // From the heading at the top, by Tab alone (a click there sets where Tab starts; the
    // callbacks are strings, as the root tsconfig has no DOM types).
    await page.locator("h1").click();
    const reached = new Set<string>();
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press("Tab");
      reached.add(
        await page.evaluate<string>("document.activeElement.name || document.activeElement.textContent.trim()"),
      );
    }
    expect([...reached]).toEqual(
      expect.arrayContaining(["Refresh", "Sign out", "repository", "runner", "requirement"]),
    );
  });

  it("sign out forgets the token", async () => {
    const page = await open();
    await signIn(page, TOKEN);
    await page.getByTestId("sign-out").click();
    expect(await page.getByTestId("sign-in").isVisible()).toBe(true);
    expect(await page.getByTestId("dashboard").isVisible()).toBe(false);
    expect(await page.getByTestId("build-row").count()).toBe(0);
    expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(0);
    await page.reload();
    await expect.poll(() => page.getByTestId("sign-in").isVisible()).toBe(true);
    expect(await page.getByTestId("dashboard").isVisible()).toBe(false);
  });

  it("reads at desktop and phone widths, light and dark (screenshots in test-results/dashboard/)", async () => {
    for (const colorScheme of ["light", "dark"] as const) {
      for (const [name, viewport] of [
        ["desktop", { width: 1280, height: 900 }],
        ["phone", { width: 390, height: 844 }],
      ] as const) {
        const page = await open({ colorScheme, viewport });
        await signIn(page, TOKEN);
        await page.getByTestId("learned-repository").selectOption("acme/app");
        await settled(page);
        await page.getByTestId("build-open").first().click();
        // The page itself never scrolls sideways: wide tables scroll inside their panel.
        expect(await page.locator("html").evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(viewport.width);
        await screenshot(page, `${name}-${colorScheme}`);
      }
    }
  });
});

describe("a misconfigured router", () => {
  let broken: Router;
  beforeAll(async () => {
    broken = await startRouter({
      API_TOKEN: TOKEN,
      WEBHOOK_SECRET: TEST_SECRETS.webhook,
      ROUTING_CONFIG: '{"mode":"fast"}',
    });
  }, 60_000);
  afterAll(() => broken?.stop());

  it("shows a banner naming the settings GET /health names", async () => {
    allowed = { "/health": [503] };
    const health = await fetch(`${broken.url}/health`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as { status: string; settings: string[] };
    expect(body.status).toBe("misconfigured");
    const page = await open({}, broken);
    const banner = page.getByTestId("misconfigured");
    await expect.poll(() => banner.isVisible()).toBe(true);
    expect(await banner.getAttribute("role")).toBe("alert");
    expect(await text(page, "misconfigured-settings")).toBe(body.settings.join(", "));
    expect(body.settings).toContain("ROUTING_CONFIG");
    await screenshot(page, "misconfigured-desktop-light");
  });
});

describe("a router of two organisations", () => {
  let two: Router;

  beforeAll(async () => {
    two = await startRouter({
      ...fakes.settings,
      API_TOKEN: TOKEN,
      WEBHOOK_SECRET: TEST_SECRETS.webhook,
      ROUTING_CONFIG: JSON.stringify(ROUTING_CONFIG),
    });
    for (let i = 0; i < 3; i++) await deliver(two.url, "push", push("acme/app", [`src/a-${i}.ts`]).payload);
    await deliver(two.url, "push", push("globex/site", ["README.md"]).payload);
  }, 60_000);

  afterAll(async () => {
    await two?.stop();
  });

  it("offers the organisations, reads the one chosen in every panel, and forgets the choice on sign-out", async () => {
    const page = await open({}, two);
    await signIn(page, TOKEN);
    const select = page.getByTestId("organisation");
    expect(await select.isVisible()).toBe(true);
    expect(await select.locator("option").allTextContents()).toEqual(["acme", "globex"]);
    // The first by name, until another is chosen.
    expect(await select.inputValue()).toBe("acme");
    expect(await text(page, "builds-count")).toBe("3");
    expect(await page.evaluate(() => sessionStorage.getItem("ci-router-organisation"))).toBe("acme");

    await select.selectOption("globex");
    await expect.poll(() => text(page, "builds-count")).toBe("1");
    await settled(page);
    const rows = await page.getByTestId("build-row").allTextContents();
    expect(rows.join("\n")).toContain("globex/site");
    expect(rows.join("\n")).not.toContain("acme/app");
    expect(await page.evaluate(() => sessionStorage.getItem("ci-router-organisation"))).toBe("globex");

    // The choice is kept for the tab: a reload reads globex again.
    await page.reload();
    await expect.poll(() => page.getByTestId("dashboard").isVisible()).toBe(true);
    await settled(page);
    expect(await page.getByTestId("organisation").inputValue()).toBe("globex");
    expect(await text(page, "builds-count")).toBe("1");

    await page.getByTestId("sign-out").click();
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([]);
    expect(await page.getByTestId("organisation").isVisible()).toBe(false);
  });

  it("a router of one organisation offers no choice and keeps only the token", async () => {
    const page = await open();
    await signIn(page, TOKEN);
    expect(await page.getByTestId("organisation").isVisible()).toBe(false);
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual(["ci-router-api-token"]);
    // Its panels read the one Ledger without naming it.
    expect(await text(page, "builds-count")).toMatch(/^\d+$/);
  });
});

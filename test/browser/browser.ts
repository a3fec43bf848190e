import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import { expect } from "vitest";
import { ROOT } from "../../scripts/bundle.ts";

/** Debian's Chromium, unless CHROMIUM_PATH names another. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const SCREENSHOT_DIR = join(ROOT, "test-results/dashboard");

export const launch = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM_PATH });

/** What a page did that a test did not ask for: errors, requests to another origin, failed answers. */
export interface Watched {
  page: Page;
  /**
   * Asserts the page logged no error, threw nothing, asked nothing of another origin, and that
   * every answer was a success but those `allowed` (path → statuses, e.g. a 404 for no simulation).
   */
  expectClean: (allowed?: Record<string, number[]>) => void;
}

/**
 * A page in a fresh context (its own session storage) that records every console error, page
 * error, request and answer.
 */
export async function watchedPage(
  browser: Browser,
  origin: string,
  options: BrowserContextOptions = {},
): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  // Fail in seconds, not in Playwright's default 30 s, when something is not on the page.
  context.setDefaultTimeout(5_000);
  const page = await context.newPage();
  const consoleErrors: { text: string; url: string }[] = [];
  const pageErrors: string[] = [];
  const requests: string[] = [];
  const answers: { path: string; status: number }[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push({ text: message.text(), url: message.location().url });
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("request", (request) => requests.push(request.url()));
  page.on("response", (response) =>
    answers.push({ path: new URL(response.url()).pathname, status: response.status() }),
  );
  return {
    page,
    expectClean(allowed = {}) {
      expect(pageErrors, "page errors").toEqual([]);
      for (const url of requests) expect(new URL(url).origin, `request to ${url}`).toBe(origin);
      const failed = answers.filter(({ path, status }) => status >= 400 && !allowed[path]?.includes(status));
      expect(failed, "unexpected failed answers").toEqual([]);
      // Chromium logs every failed answer ("Failed to load resource: … 404"), even one the page
      // handles; those of the allowed answers are expected, anything else is an error.
      const unexpected = consoleErrors.filter(({ text, url }) => {
        const status = /Failed to load resource: the server responded with a status of (\d+)/.exec(text)?.[1];
        return !(status && url && allowed[new URL(url).pathname]?.includes(Number(status)));
      });
      expect(unexpected, "console errors").toEqual([]);
    },
  };
}

/** Signs in with `token` and waits until every panel has loaded. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect.poll(() => page.getByTestId("dashboard").isVisible()).toBe(true);
  await settled(page);
}

/** Waits until no panel is loading. */
export async function settled(page: Page): Promise<void> {
  await expect.poll(() => page.locator('[aria-busy="true"]').count()).toBe(0);
}

/** A full-page screenshot under test-results/dashboard/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

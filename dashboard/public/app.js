// @ts-check
/** The dashboard: the sign-in form, then every panel, each loaded from the router's JSON API. */
import { ApiError, get, organisation, query, scoped, token } from "./api.js";
import { empty, h, show, table } from "./dom.js";
import * as panels from "./panels.js";

/** The page's element for `selector`; a missing one is a bug, thrown at once. @param {string} selector @returns {any} */
function $(selector) {
  const el = document.querySelector(selector);
  if (el === null) throw new Error(`the page has no ${selector}`);
  return el;
}

/** @type {HTMLFormElement} */
const signInForm = $("#sign-in");
/** @type {HTMLInputElement} */
const tokenInput = $("#token");
/** @type {HTMLElement} */
const dashboard = $("#dashboard");
/** @type {HTMLFormElement} */
const filtersForm = $("#filters");
/** @type {HTMLSelectElement} */
const learnedSelect = $("#learned-repository");
/** @type {HTMLButtonElement} */
const more = $("#builds-more");
/** @type {HTMLLabelElement} */
const organisationField = $("#organisation-field");
/** @type {HTMLSelectElement} */
const organisationSelect = $("#organisation");
const signedIn = [dashboard, $("#refresh"), $("#sign-out")];

const WRONG_TOKEN = "Wrong token: the router refused it (401). Check API_TOKEN and sign in again.";

/** @param {unknown} error */
const describe = (error) =>
  error instanceof ApiError ? `${error.message} (${error.status} ${error.code})` : String(error);

/** @param {Element} el @param {string} text @param {boolean} [isError] */
function status(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

/** The router's version and mode; for a misconfigured router, a banner naming the settings to fix. */
async function checkHealth() {
  const line = $("#health");
  const banner = $("#banner");
  let body;
  try {
    body = await get("/health");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 503 && error.body)) {
      return show(line, `GET /health failed: ${describe(error)}`);
    }
    body = error.body;
  }
  const ok = body.status === "ok";
  const on = (/** @type {boolean} */ b) => (b ? "on" : "off");
  show(
    line,
    `Router ${body.version} · `,
    ok ? `mode ${body.mode} · GitHub API ${on(body.github_api)} · Discord ${on(body.discord)}` : "misconfigured",
  );
  banner.hidden = ok;
  show(
    banner,
    h("strong", {}, "The router is misconfigured"),
    ": GET /health names the settings to fix: ",
    h("span", { "data-testid": "misconfigured-settings" }, (body.settings ?? []).join(", ")),
    // The problems themselves are told only to a caller with the API token.
    Array.isArray(body.problems) && h("ul", {}, ...body.problems.map((p) => h("li", {}, p))),
  );
}

/** Each panel's latest load: the answer to an older one (or to one from before a sign-out) is dropped. */
const loads = new Map();
let loadCount = 0;

/** @param {string} [message] why, on the sign-in form */
function signOut(message = "") {
  loads.clear();
  token.clear();
  organisation.clear();
  organisationField.hidden = true;
  organisationSelect.replaceChildren();
  for (const el of signedIn) el.hidden = true;
  for (const el of dashboard.querySelectorAll(".body, #builds-summary, datalist")) el.replaceChildren();
  for (const el of dashboard.querySelectorAll("[aria-busy]")) el.setAttribute("aria-busy", "false");
  more.hidden = true;
  repositories.clear();
  learnedSelect.length = 1;
  signInForm.hidden = false;
  status($("#sign-in-status"), message, message !== "");
  tokenInput.focus();
}

async function enter() {
  signInForm.hidden = true;
  for (const el of signedIn) el.hidden = false;
  $("#main").focus();
  checkHealth();
  // Busy until the panels start loading, so that nothing reads as settled before they have.
  dashboard.setAttribute("aria-busy", "true");
  try {
    if (await chooseOrganisation()) loadAll();
  } finally {
    dashboard.setAttribute("aria-busy", "false");
  }
}

/**
 * The organisations the router serves: with several, a choice (the one kept for this tab, else
 * the first by name), and every panel reads the one chosen; with one, no choice. False when the
 * list could not be read (said in the header; a 401 signs out).
 */
async function chooseOrganisation() {
  let answer;
  try {
    answer = await get("/organisations");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut(WRONG_TOKEN);
      return false;
    }
    show($("#health"), `GET /organisations failed: ${describe(error)}`);
    return false;
  }
  /** @type {string[]} */
  const names = answer.organisations.map((/** @type {{organisation: string}} */ o) => o.organisation);
  if (names.length < 2) {
    organisation.clear();
    organisationField.hidden = true;
    return true;
  }
  const kept = organisation.get();
  const chosen = kept !== null && names.includes(kept) ? kept : String(names[0]);
  organisation.set(chosen);
  organisationSelect.replaceChildren(
    ...names.map((name) => h("option", { value: name, selected: name === chosen }, name)),
  );
  organisationField.hidden = false;
  return true;
}

organisationSelect.addEventListener("change", () => {
  organisation.set(organisationSelect.value);
  // Another organisation's repositories and filters mean nothing here.
  filters = {};
  for (const field of filtersForm.querySelectorAll("input, select")) {
    /** @type {HTMLInputElement} */ (field).value = "";
  }
  repositories.clear();
  learnedSelect.length = 1;
  loadAll();
});

/**
 * Loads a panel into its body, saying so and what failed; a 401 signs out. A load answering null
 * has added to the body itself (the next page of builds).
 * @param {string} name
 * @param {(current: () => boolean) => Promise<import("./dom.js").Child[] | null>} load
 * @param {boolean} [keep] keep what the body shows if the load fails
 */
async function panel(name, load, keep = false) {
  const section = $(`#${name}`);
  const [note, body] = [section.querySelector(".status"), section.querySelector(".body")];
  const generation = ++loadCount;
  loads.set(name, generation);
  const current = () => loads.get(name) === generation;
  section.setAttribute("aria-busy", "true");
  status(note, "Loading…");
  try {
    const nodes = await load(current);
    if (!current()) return;
    if (nodes !== null) show(body, ...nodes);
    status(note, "");
  } catch (error) {
    if (!current()) return;
    if (error instanceof ApiError && error.status === 401) return signOut(WRONG_TOKEN);
    if (!keep) body.replaceChildren();
    status(note, `Could not load: ${describe(error)}`, true);
  } finally {
    if (current()) section.setAttribute("aria-busy", "false");
  }
}

// Builds

/** @type {Record<string, string>} */
let filters = {};
/** @type {string | null} */
let cursor = null;
let shownBuilds = 0;
/** The repositories of the builds seen, offered by the repository filter and the learned panel. */
const repositories = new Set();

/** @param {boolean} next the page after the rows shown, else the first page */
function loadBuilds(next = false) {
  const ask = query({ ...filters, limit: 50, cursor: next ? cursor : null });
  return panel(
    "builds",
    async (current) => {
      const answer = await get(scoped(`/builds${ask}`));
      if (!current()) return null;
      const wrap = next ? $("#builds .body") : table("Newest first", panels.buildColumns, [], "builds-table");
      if (!next) shownBuilds = 0;
      for (const build of answer.builds) {
        wrap.querySelector("tbody").append(...panels.buildRows(build));
        repositories.add(build.repository);
      }
      shownBuilds += answer.builds.length;
      cursor = answer.next_cursor;
      more.hidden = cursor === null;
      show(
        $("#builds-summary"),
        h("strong", { "data-testid": "builds-count" }, shownBuilds),
        `${shownBuilds === 1 ? " build" : " builds"} shown${cursor === null ? "" : ", more to load"}; builds are kept ${answer.retention_days} days.`,
      );
      const sorted = [...repositories].sort();
      show($("#repositories"), ...sorted.map((r) => h("option", { value: r })));
      const chosen = learnedSelect.value;
      learnedSelect.length = 1;
      learnedSelect.append(...sorted.map((r) => h("option", { value: r, selected: r === chosen }, r)));
      if (next) return null;
      if (shownBuilds > 0) return [wrap];
      return [
        empty(Object.keys(filters).length > 0 ? "No builds match these filters." : panels.NO_BUILDS, "builds-empty"),
      ];
    },
    next,
  );
}

filtersForm.addEventListener("submit", (event) => {
  event.preventDefault();
  filters = {};
  for (const [name, value] of new FormData(filtersForm)) {
    // The date-time inputs are in the viewer's time; the router takes UTC instants.
    const v = String(value).trim();
    if (v !== "") filters[name] = name === "since" || name === "until" ? new Date(v).toISOString() : v;
  }
  loadBuilds();
});
filtersForm.addEventListener("reset", () => {
  filters = {};
  loadBuilds();
});
more.addEventListener("click", () => loadBuilds(true));

// The other panels

function loadLearned() {
  const repository = learnedSelect.value;
  return panel("learned", async () => {
    if (repository !== "") return panels.learnedPanel(await get(scoped(`/learned${query({ repository })}`)));
    if (repositories.size === 0) return [empty(panels.NO_BUILDS, "learned-none")];
    return [h("p", {}, "Choose a repository to see what the router learned of its jobs.")];
  });
}
learnedSelect.addEventListener("change", loadLearned);

async function loadAll() {
  panel("fleet", async () => {
    const fleet = await get(scoped("/fleet"));
    show($("#runner-classes"), ...Object.keys(fleet.classes).map((c) => h("option", { value: c })));
    return panels.fleetPanel(fleet);
  });
  panel("alerts", async () => panels.alertsPanel(await get(scoped("/alerts"))));
  panel("queue", async () => panels.queuePanel(await get(scoped("/queue?hours=24"))));
  // No period: this month to date (the router does not take `period=month`).
  panel("costs", async () => panels.costsPanel(await get(scoped("/costs"))));
  panel("simulation", async () => {
    try {
      return panels.simulationPanel(await get(scoped("/simulation")));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return panels.simulationPanel(null);
      throw error;
    }
  });
  await loadBuilds();
  loadLearned();
}

// Signing in and out

signInForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = tokenInput.value.trim();
  const note = $("#sign-in-status");
  status(note, "Checking the token…");
  try {
    // Any operator endpoint says whether the token is right; it is kept only once it is. This
    // one answers for a router of several organisations too.
    await get("/organisations", value);
  } catch (error) {
    const wrong = error instanceof ApiError && error.status === 401;
    return status(note, wrong ? WRONG_TOKEN : `Could not sign in: ${describe(error)}`, true);
  }
  token.set(value);
  tokenInput.value = "";
  status(note, "");
  enter();
});
$("#sign-out").addEventListener("click", () => signOut("Signed out: this tab no longer keeps the token."));
$("#refresh").addEventListener("click", () => {
  checkHealth();
  loadAll();
});

if (token.get()) enter();
else {
  checkHealth();
  signOut();
}

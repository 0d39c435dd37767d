// TodoMVC in headless Chromium with cinder.js: one visitor in two tabs (two pages of one browser
// context, so one session cookie) and another visitor (a second context). Adding on Enter,
// double-click to edit (Enter and leaving the field save, Escape cancels), toggling, deleting,
// the filters from the URL, toggle all and clear completed; each change shows in both tabs of
// the session without a reload (what one tab is typing survives a change made in the other),
// and the other visitor never sees any of it.
//
//   CINDER_URL=http://127.0.0.1:4321 node browser_todos.mjs

import { assert, baseUrl, launchChromium, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 10_000;
const show = (v) => JSON.stringify(v);

async function waitConnected(page, who) {
  try {
    await page.waitForFunction(() => document.documentElement.dataset.cinderConnected === "true",
      null, { timeout: WAIT_MS });
  } catch {
    throw new Error(`${who}: the live view did not connect within ${WAIT_MS} ms`);
  }
}

// Opens `path` live and marks the window, so a reload or navigation would show.
async function open(page, who, path) {
  const res = await page.goto(`${baseUrl()}${path}`, { waitUntil: "domcontentloaded" });
  assert(res && res.ok(), `${who}: GET ${path} answered ${res && res.status()}`);
  await waitConnected(page, who);
  await page.evaluate((p) => { window.__marker = p; }, path);
}

async function assertNoReload(tab) {
  const marker = await tab.page.evaluate(() => window.__marker);
  assert(marker === tab.path, `${tab.name} was not reloaded (marker ${show(marker)}, expected ${tab.path})`);
}

// The todos a page shows, as "title" or "title ✓" (done), in order.
function shown(page) {
  return page.evaluate(() => [...document.querySelectorAll("#todo-list li.todo")].map((li) => {
    const title = (li.querySelector("label.title")?.textContent || "").trim();
    return li.classList.contains("completed") ? `${title} ✓` : title;
  }));
}

// Waits until the page shows exactly `expected` (see `shown`), and the footer says `left`
// (null: the footer is hidden because the list is empty).
async function waitFor(tab, expected, left) {
  try {
    await tab.page.waitForFunction(([want, left]) => {
      const got = [...document.querySelectorAll("#todo-list li.todo")].map((li) => {
        const title = (li.querySelector("label.title")?.textContent || "").trim();
        return li.classList.contains("completed") ? `${title} ✓` : title;
      });
      const footer = document.getElementById("todo-footer");
      const count = footer && !footer.hidden
        ? footer.querySelector(".todo-count").textContent.trim().replace(/\s+/g, " ") : null;
      return JSON.stringify(got) === JSON.stringify(want) && count === left;
    }, [expected, left], { timeout: WAIT_MS, polling: 50 });
  } catch {
    const footer = await tab.page.evaluate(() => {
      const f = document.getElementById("todo-footer");
      return f ? { hidden: f.hidden, text: f.textContent.trim() } : null;
    });
    throw new Error(`${tab.name} should show ${show(expected)} with footer ${show(left)}; ` +
      `shows ${show(await shown(tab.page))}, footer ${show(footer)}`);
  }
  await assertNoReload(tab);
}

// Brings a tab to the front, as a person switching to it would: Chromium does not animate
// background tabs, so acting on one would wait for frames that never come.
async function front(tab) {
  await tab.page.bringToFront();
  return tab.page;
}

const item = (page, title) =>
  page.locator("#todo-list li.todo").filter({ has: page.locator("label.title", { hasText: title }) });

async function add(tab, title) {
  await front(tab);
  const input = tab.page.locator("input.new-todo");
  await input.fill(title);
  await input.press("Enter");
  // cinder.js empties the form once the server said ok.
  await tab.page.waitForFunction(() => document.querySelector("input.new-todo").value === "",
    null, { timeout: WAIT_MS });
}

// Waits until no control of the page is busy with a push.
async function settled(page) {
  await page.waitForFunction(() => !document.querySelector("[aria-busy=true]"), null,
    { timeout: WAIT_MS });
}

async function clearCompletedShown(page) {
  return page.locator("#todo-footer button.clear-completed").count();
}

async function selectedFilter(page) {
  return page.evaluate(() => [...document.querySelectorAll(".filters a.selected")]
    .map((a) => a.getAttribute("href")));
}

await runTest("browser_todos", async (onCleanup) => {
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const problems = [];
  const tabOf = async (context, name, path) => {
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`${name}: ${err.message}`));
    await open(page, name, path);
    return { name, page, path };
  };

  // One visitor: two tabs of one context share the session cookie. The first page load sets it.
  const mine = await browser.newContext();
  onCleanup(() => mine.close());
  mine.setDefaultTimeout(WAIT_MS);
  const one = await tabOf(mine, "tab one", "/todos");
  const two = await tabOf(mine, "tab two", "/todos");
  // Another visitor: a context of its own.
  const theirs = await browser.newContext();
  onCleanup(() => theirs.close());
  theirs.setDefaultTimeout(WAIT_MS);
  const other = await tabOf(theirs, "the other visitor", "/todos");

  for (const tab of [one, two, other]) await waitFor(tab, [], null);

  // Add on Enter; both tabs follow; the plural is right; nothing done, no "Clear completed".
  await add(one, "Buy milk");
  for (const tab of [one, two]) await waitFor(tab, ["Buy milk"], "1 item left");
  await add(one, "Walk the dog");
  await add(two, "Write code");
  for (const tab of [one, two]) await waitFor(tab, ["Buy milk", "Walk the dog", "Write code"], "3 items left");
  assert(await clearCompletedShown(one.page) === 0, "no Clear completed while nothing is done");
  assert(show(await selectedFilter(one.page)) === show(["/todos"]), "All is the highlighted filter");

  // A blank todo is refused by the form and adds nothing.
  await front(one);
  await one.page.locator("input.new-todo").fill("   ");
  await one.page.locator("input.new-todo").press("Enter");
  await one.page.waitForFunction(
    () => /empty/.test(document.querySelector("#new-todo [data-cinder-error-for='title']")?.textContent || ""),
    null, { timeout: WAIT_MS });

  // Toggle: done in both tabs, the count drops, "Clear completed" appears.
  await front(one);
  await item(one.page, "Walk the dog").locator("button.toggle").click();
  for (const tab of [one, two]) {
    await waitFor(tab, ["Buy milk", "Walk the dog ✓", "Write code"], "2 items left");
    assert(await clearCompletedShown(tab.page) === 1, `${tab.name} shows Clear completed`);
  }

  // Double-click to edit, Enter saves (trimmed), everywhere.
  await front(two);
  await item(two.page, "Write code").locator("label.title").dblclick();
  const editing = two.page.locator("#todo-list li.editing input.edit");
  assert(await editing.isVisible(), "double-click opens the edit field");
  assert(await editing.evaluate((el) => el === document.activeElement), "the edit field has focus");
  await editing.fill("  Write tests ");
  await editing.press("Enter");
  for (const tab of [one, two]) await waitFor(tab, ["Buy milk", "Walk the dog ✓", "Write tests"], "2 items left");
  await settled(two.page);
  assert(await two.page.locator("#todo-list li.editing").count() === 0, "saving leaves edit mode");

  // Escape cancels: the title is unchanged, the field holds it again, nothing was sent.
  await front(one);
  await item(one.page, "Buy milk").locator("label.title").dblclick();
  const cancelled = one.page.locator("#todo-list li.editing input.edit");
  await cancelled.fill("Something else");
  await cancelled.press("Escape");
  assert(await one.page.locator("#todo-list li.editing").count() === 0, "Escape leaves edit mode");
  assert(await item(one.page, "Buy milk").locator("input.edit").inputValue() === "Buy milk",
    "Escape puts the title back in the field");
  await sleep(500);
  for (const tab of [one, two]) await waitFor(tab, ["Buy milk", "Walk the dog ✓", "Write tests"], "2 items left");

  // Leaving the field saves, as in TodoMVC.
  await front(one);
  await item(one.page, "Buy milk").locator("label.title").dblclick();
  await one.page.locator("#todo-list li.editing input.edit").fill("Buy oat milk");
  await one.page.locator("h1").click();
  for (const tab of [one, two]) await waitFor(tab, ["Buy oat milk", "Walk the dog ✓", "Write tests"], "2 items left");

  // Filters come from the URL and are highlighted; a filtered tab still follows live.
  await front(two);
  await two.page.locator('.filters a[href="/todos/active"]').click();
  await two.page.waitForURL(/\/todos\/active$/);
  two.path = "/todos/active";
  await waitConnected(two.page, two.name);
  await two.page.evaluate((p) => { window.__marker = p; }, two.path);
  await waitFor(two, ["Buy oat milk", "Write tests"], "2 items left");
  assert(show(await selectedFilter(two.page)) === show(["/todos/active"]), "Active is highlighted");
  await front(one);
  await item(one.page, "Write tests").locator("button.toggle").click();
  await waitFor(two, ["Buy oat milk"], "1 item left");
  await waitFor(one, ["Buy oat milk", "Walk the dog ✓", "Write tests ✓"], "1 item left");

  await open(two.page, two.name, "/todos/completed");
  two.path = "/todos/completed";
  await waitFor(two, ["Walk the dog ✓", "Write tests ✓"], "1 item left");
  assert(show(await selectedFilter(two.page)) === show(["/todos/completed"]), "Completed is highlighted");

  // Toggle all, from the other tab: the done view gains the last one, in its place.
  await front(one);
  await one.page.locator("button.toggle-all").click();
  await waitFor(two, ["Buy oat milk ✓", "Walk the dog ✓", "Write tests ✓"], "0 items left");
  await waitFor(one, ["Buy oat milk ✓", "Walk the dog ✓", "Write tests ✓"], "0 items left");
  assert(await one.page.locator("button.toggle-all").getAttribute("aria-checked") === "true",
    "toggle all shows everything is done");
  await one.page.locator("button.toggle-all").click();
  await waitFor(two, [], "3 items left");
  await waitFor(one, ["Buy oat milk", "Walk the dog", "Write tests"], "3 items left");

  // Delete, and clear completed.
  await front(one);
  const doomed = item(one.page, "Walk the dog");
  await doomed.hover();
  await doomed.locator("button.destroy").click();
  await waitFor(one, ["Buy oat milk", "Write tests"], "2 items left");
  await item(one.page, "Write tests").locator("button.toggle").click();
  await waitFor(two, ["Write tests ✓"], "1 item left");
  await one.page.locator("#todo-footer button.clear-completed").click();
  await waitFor(one, ["Buy oat milk"], "1 item left");
  await waitFor(two, [], "1 item left");
  assert(await clearCompletedShown(one.page) === 0, "Clear completed is gone once nothing is done");

  // What one tab is typing survives a change made in the other: still in edit mode, same text.
  await open(two.page, two.name, "/todos");
  two.path = "/todos";
  await front(two);
  await item(two.page, "Buy oat milk").locator("label.title").dblclick();
  await two.page.locator("#todo-list li.editing input.edit").fill("Buy soy milk");
  await one.page.evaluate(() => document.querySelector("#todo-list li button.toggle").click());
  await two.page.waitForFunction(
    () => document.querySelector("#todo-list li.completed.editing input.edit")?.value === "Buy soy milk",
    null, { timeout: WAIT_MS });
  await two.page.locator("#todo-list li.editing input.edit").press("Enter");
  for (const tab of [one, two]) await waitFor(tab, ["Buy soy milk ✓"], "0 items left");

  // The other visitor saw none of it, live or on reload, and their own list is theirs alone.
  await waitFor(other, [], null);
  await add(other, "Their secret");
  await waitFor(other, ["Their secret"], "1 item left");
  await sleep(500);
  await waitFor(one, ["Buy soy milk ✓"], "0 items left");
  const api = await theirs.request.get(`${baseUrl()}/api/todos`);
  const body = await api.json();
  assert(show(body.todos.map((t) => t.title)) === show(["Their secret"]),
    `the other visitor's GET /api/todos lists only theirs: ${show(body)}`);
  await open(other.page, other.name, "/todos");
  await waitFor(other, ["Their secret"], "1 item left");

  assert(problems.length === 0, `no script errors: ${problems.join("; ")}`);
});

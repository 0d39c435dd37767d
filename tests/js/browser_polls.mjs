// Polls in Chromium, two visitors in two browser contexts (Bob on a 390 px phone): Ada's form
// is validated as she types and her new poll shows in Bob's list live; on the poll's page each
// sees the other's votes counted live (bars, counts, shares), only their own vote marked
// (aria-pressed and a visible "Your vote"), and Ada alone, who asked, has the close button;
// closing shows on both pages, the buttons go, and nothing was reloaded. A refused vote says
// why by the vote form, with JavaScript and without, in a line kept for it (the close button
// below does not move). No page scrolls sideways.
//
//   CINDER_URL=http://127.0.0.1:4321 node browser_polls.mjs
//
// CINDER_SCREENSHOTS=<dir> also saves both pages at each step.

import { mkdirSync } from "node:fs";
import { assert, baseUrl, launchChromium, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 10_000;
const show = (v) => JSON.stringify(v);
const shots = process.env.CINDER_SCREENSHOTS || "";
if (shots) mkdirSync(shots, { recursive: true });

async function visitor(browser, onCleanup, name, options = {}) {
  const context = await browser.newContext(options);
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.who = name;
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`${name}: page error: ${err.message}`));
  return page;
}

async function open(page, path) {
  const res = await page.goto(`${baseUrl()}${path}`, { waitUntil: "domcontentloaded" });
  assert(res && res.ok(), `${page.who}: GET ${path} answered ${res && res.status()}`);
  try {
    await page.waitForFunction(() => document.documentElement.dataset.cinderConnected === "true");
  } catch {
    throw new Error(`${page.who}: ${path} did not go live`);
  }
  await page.evaluate(() => { window.__marker = 1; });
}

// What a poll page shows, option by option, and around them.
const state = (page) => page.evaluate(() => ({
  options: [...document.querySelectorAll("#poll-options li.poll-option")].map((li) => ({
    text: li.querySelector(".option-text")?.textContent,
    count: li.querySelector(".poll-count")?.textContent,
    meter: li.querySelector("meter") && [li.querySelector("meter").value, li.querySelector("meter").max],
    mine: !!li.querySelector(".your-vote"),
    pressed: li.querySelector(".poll-vote button")?.getAttribute("aria-pressed") ?? null,
  })),
  closeButton: !!document.querySelector("#poll-close button"),
  closed: document.querySelector("#poll-status .poll-closed")?.textContent ?? null,
  error: document.querySelector("#vote-error")?.textContent ?? "",
  marker: window.__marker,
}));

// Waits until `check(state)` holds on `page`.
async function until(page, check, what) {
  const deadline = Date.now() + WAIT_MS;
  let now;
  for (;;) {
    now = await state(page);
    if (check(now)) return now;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(`${page.who}: ${what}; the page shows ${show(now)}`);
}

const counts = (s) => s.options.map((o) => o.count);
const marks = (s) => s.options.map((o) => [o.mine, o.pressed]);

async function noSideScroll(page, what) {
  const sizes = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert(sizes[0] <= sizes[1], `${page.who}: ${what} is ${sizes[0]} px wide in a ${sizes[1]} px viewport`);
}

async function snap(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/polls-${name}.png`, fullPage: true });
}

async function vote(page, n) {
  await page.locator(`#vote-${n} button`).click();
}

await runTest("browser_polls", async (onCleanup) => {
  baseUrl();
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const ada = await visitor(browser, onCleanup, "Ada", { viewport: { width: 1280, height: 800 } });
  const bob = await visitor(browser, onCleanup, "Bob", { viewport: { width: 390, height: 844 } });
  await open(ada, "/polls");
  await open(bob, "/polls");

  // Ada's form says what is wrong as she types, with the domain's words, by the field.
  const question = `Lunch today? ${Date.now()}`;
  const form = ada.locator("#poll-form");
  await form.locator("[name=question]").fill(question);
  await form.locator("[name=options]").pressSequentially("Pizza", { delay: 10 });
  try {
    await ada.waitForFunction(() =>
      document.querySelector("#poll-form [data-cinder-error-for=options]")?.textContent === "give at least 2 options");
  } catch {
    throw new Error("the options field should say \"give at least 2 options\" while one is typed");
  }
  await form.locator("[name=options]").press("Enter");
  await form.locator("[name=options]").pressSequentially("Sushi\nSalad", { delay: 10 });
  await ada.waitForFunction(() =>
    document.querySelector("#poll-form [data-cinder-error-for=options]")?.textContent === "");
  await form.locator("button[type=submit]").click();

  // Asked: it shows on top of both lists, Bob's live.
  for (const page of [ada, bob]) {
    try {
      await page.waitForFunction((q) =>
        document.querySelector("#polls li.poll-item a.poll-question")?.textContent === q, question);
    } catch {
      throw new Error(`${page.who}'s list does not show the new poll on top`);
    }
  }
  const href = await bob.locator("#polls li.poll-item a.poll-question").first().getAttribute("href");
  assert(/^\/polls\/[0-9a-f]{16}$/.test(href), `the poll links to its page: ${href}`);
  await noSideScroll(bob, "/polls");
  await snap(ada, "list-1280");
  await snap(bob, "list-390");

  // Both open it: no votes yet; Ada, who asked, alone has the close button.
  await open(ada, href);
  await open(bob, href);
  const fresh = await state(ada);
  assert(show(fresh.options.map((o) => o.text)) === show(["Pizza", "Sushi", "Salad"]),
    `the options in order: ${show(fresh)}`);
  assert(show(counts(fresh)) === show(["0 votes · 0%", "0 votes · 0%", "0 votes · 0%"]), `no votes yet: ${show(fresh)}`);
  assert(fresh.closeButton, "Ada, who asked, has the close button");
  assert(!(await state(bob)).closeButton, "Bob has no close button");

  // Bob votes: his vote is marked on his page only; Ada sees the count, live.
  await vote(bob, 1);
  const bobVoted = await until(bob, (s) => s.options[1].mine && s.options[1].pressed === "true", "Bob's vote is marked");
  assert(show(marks(bobVoted)) === show([[false, "false"], [true, "true"], [false, "false"]]),
    `only Bob's choice is pressed and marked: ${show(bobVoted)}`);
  const adaSees = await until(ada, (s) => s.options[1].count === "1 vote · 100%", "Ada sees Bob's vote");
  assert(show(adaSees.options[1].meter) === show([1, 1]), `the bar is full: ${show(adaSees)}`);
  assert(adaSees.options.every((o) => !o.mine && o.pressed === "false"), `Ada's page marks no vote: ${show(adaSees)}`);

  // Ada votes for another option: half each, on both pages; each keeps their own mark.
  await vote(ada, 0);
  const half = ["1 vote · 50%", "1 vote · 50%", "0 votes · 0%"];
  const adaNow = await until(ada, (s) => show(counts(s)) === show(half) && s.options[0].mine, "Ada's vote counted and marked");
  assert(show(marks(adaNow)) === show([[true, "true"], [false, "false"], [false, "false"]]), `Ada's mark: ${show(adaNow)}`);
  const bobNow = await until(bob, (s) => show(counts(s)) === show(half), "Bob sees Ada's vote");
  assert(show(marks(bobNow)) === show(marks(bobVoted)), `Bob's mark did not move: ${show(bobNow)}`);

  // Bob moves his vote: one count moves on both pages, his mark with it.
  await vote(bob, 0);
  const moved = ["2 votes · 100%", "0 votes · 0%", "0 votes · 0%"];
  await until(bob, (s) => show(counts(s)) === show(moved) && s.options[0].mine && !s.options[1].mine, "Bob's vote moved");
  await until(ada, (s) => show(counts(s)) === show(moved), "Ada sees Bob's vote move");
  await snap(ada, "poll-1280");
  await snap(bob, "poll-390");

  // A refused vote (a page that offers an option the poll does not have) says why by the form.
  await bob.evaluate(() => { document.querySelector("#vote-2 button").value = "7"; });
  await vote(bob, 2);
  await until(bob, (s) => s.error === "no such option", "the refusal shows by the vote form");
  await until(bob, (s) => show(counts(s)) === show(moved), "nothing changed");

  // On Ada's page the refusal's line is kept, so it showing never moves the close button below.
  const closeY = () => ada.evaluate(() => document.querySelector("#poll-close button").getBoundingClientRect().y);
  const closeAt = await closeY();
  await ada.evaluate(() => { document.querySelector("#vote-2 button").value = "7"; });
  await vote(ada, 2);
  await until(ada, (s) => s.error === "no such option", "Ada's refusal shows by the vote form");
  const closeNow = await closeY();
  assert(Math.abs(closeNow - closeAt) < 1, `the close button stays put: y ${closeAt} -> ${closeNow}`);

  // Without JavaScript, a page loaded before the closing offers votes the server refuses.
  const plain = await visitor(browser, onCleanup, "Bob without JavaScript", { javaScriptEnabled: false });
  await plain.goto(`${baseUrl()}${href}`);

  // Ada closes it: both pages say so and lose their vote buttons; the close button goes.
  await ada.locator("#poll-close button").click();
  const closed = (s) => s.closed !== null && s.options.every((o) => o.pressed === null);
  const adaClosed = await until(ada, (s) => closed(s) && !s.closeButton, "Ada's page shows the poll closed");
  const bobClosed = await until(bob, closed, "Bob's page shows the poll closed");
  for (const s of [adaClosed, bobClosed]) {
    assert(/Closed\..*no longer counted.*2 votes/.test(s.closed), `the closed notice says so: ${show(s.closed)}`);
    assert(show(counts(s)) === show(moved), `the final counts stay: ${show(s)}`);
    assert(s.marker === 1, "no reload");
  }
  assert(bobClosed.options[0].mine && adaClosed.options[0].mine, "each still sees their own vote marked");
  await noSideScroll(bob, `${href} closed`);
  await snap(ada, "closed-1280");
  await snap(bob, "closed-390");

  await Promise.all([plain.waitForURL(/\/votes$/), plain.locator("#vote-0 button").click()]);
  const said = await plain.evaluate(() => document.querySelector("#vote-error")?.textContent);
  assert(said === "this poll is closed; votes are no longer counted",
    `without JavaScript the refusal shows by the vote form: ${show(said)}`);

  const problems = [...ada.problems, ...bob.problems];
  assert(problems.length === 0, `no script errors: ${problems.join("; ")}`);
});

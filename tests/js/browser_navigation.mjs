// Live navigation in real Chromium: links between live pages swap the page over the open socket
// (no document load: a marker set on `window` survives), the URL follows, the old view is left
// (the room no longer counts the visitor as here) and the new one is live (a change made by
// someone else arrives). A GET form that only changes the query string (the explorer's filter)
// patches the page in place: the heading stays the same element. Back and Forward show the pages
// they name, live again. Without JavaScript the same links are plain links.
//
//   CINDER_URL=http://127.0.0.1:4321 node browser_navigation.mjs

import { assert, baseUrl, launchChromium, randomRoom, runTest } from "./lib.mjs";

const WAIT_MS = 10_000;
const show = (v) => JSON.stringify(v);

async function waitFor(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS });
  } catch {
    const now = await page.evaluate(() => ({
      url: location.pathname + location.search,
      connected: document.documentElement.dataset.cinderConnected,
      marker: window.__marker,
    }));
    throw new Error(`${what} (page: ${show(now)})`);
  }
}

const connected = (page, what) =>
  waitFor(page, `${what}: the page is joined`, () => document.documentElement.dataset.cinderConnected === "true");

async function named(browser, onCleanup, base, room, name) {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`${name}: ${err.message}`));
  page.loads = 0;
  page.on("load", () => { page.loads += 1; });
  await page.goto(`${base}/chat/${room}`, { waitUntil: "domcontentloaded" });
  await page.locator('#name-form input[name="name"]').fill(name);
  await page.locator('#name-form input[name="name"]').press("Enter");
  await page.locator("#send-form").waitFor();
  await connected(page, name);
  return page;
}

async function say(base, room, sender, content) {
  const res = await fetch(`${base}/api/chat/rooms/${room}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sender, content }),
  });
  assert(res.status === 201, `the API takes ${sender}'s message: ${res.status} ${await res.text()}`);
}

const here = (page) => page.evaluate(() =>
  [...document.querySelectorAll("#present li")].map((li) => li.textContent.trim()));

await runTest("browser_navigation", async (onCleanup) => {
  const base = baseUrl();
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const room = randomRoom("nav");
  const bob = await named(browser, onCleanup, base, room, "Bob");
  const ada = await named(browser, onCleanup, base, room, "Ada");
  await waitFor(bob, "Bob sees Ada here", () =>
    [...document.querySelectorAll("#present li")].some((li) => li.textContent.trim() === "Ada"));
  await ada.evaluate(() => { window.__marker = "no reload"; });
  const loads = ada.loads;

  // 1. The nav's "Events" link: the explorer's live tail, over the same socket.
  await ada.locator('header.site nav a[href="/events"]').click();
  await waitFor(ada, "the URL is /events and the tail shows",
    () => location.pathname === "/events" && !!document.getElementById("event-rows"));
  await connected(ada, "Ada on /events");
  const onEvents = await ada.evaluate(() => ({ marker: window.__marker, title: document.title }));
  assert(onEvents.marker === "no reload", `no document was loaded: ${show(onEvents)}`);
  assert(/Event log/.test(onEvents.title), `the title follows the page: ${show(onEvents)}`);
  // The room's view was left: Bob no longer sees Ada there.
  await waitFor(bob, "Bob's room no longer lists Ada once she left", () =>
    ![...document.querySelectorAll("#present li")].some((li) => li.textContent.trim() === "Ada"));

  // 2. The new page is live: a message Bob sends shows up in Ada's tail.
  const first = `first ${Date.now()}`;
  await say(base, room, "Bob", first);
  await waitFor(ada, "the tail shows Bob's message live", (r) =>
    [...document.querySelectorAll("#event-rows a")].some((a) => a.textContent.includes(r)), room);

  // 3. The filter (a GET form) changes only the query string: patched in place.
  await ada.evaluate(() => { document.querySelector("main h1").__same = true; });
  await ada.locator("#event-type").fill("Room");
  await ada.locator("#event-type").press("Enter");
  await waitFor(ada, "the URL carries the filter", () => location.search === "?type=Room");
  await connected(ada, "Ada on /events?type=Room");
  const filtered = await ada.evaluate(() => ({
    marker: window.__marker,
    same: document.querySelector("main h1").__same === true,
    types: [...new Set([...document.querySelectorAll("#event-rows td.aggregate .type")].map((t) => t.textContent))],
    allButton: !!document.querySelector('main a.button[href="/events"]'),
  }));
  assert(filtered.marker === "no reload" && filtered.same,
    `the filtered tail patched the page in place (same heading element, no reload): ${show(filtered)}`);
  assert(filtered.allButton, `the filtered page shows its "All events" link: ${show(filtered)}`);
  assert(filtered.types.length === 1 && filtered.types[0] === "Room", `only Room events: ${show(filtered)}`);
  const newest = await ada.evaluate(() => document.querySelector("#event-rows tr")?.id || "");
  const second = `second ${Date.now()}`;
  await say(base, room, "Bob", second);
  await waitFor(ada, "the filtered tail is live too", (was) =>
    (document.querySelector("#event-rows tr")?.id || "") !== was, newest);

  // 4. Back: the unfiltered tail; Back again: the room, live, with both messages.
  await ada.goBack();
  await waitFor(ada, "Back shows /events without the filter",
    () => location.pathname === "/events" && location.search === "" &&
      document.getElementById("event-type").value === "");
  await ada.goBack();
  await waitFor(ada, "Back again shows the room with both messages", (texts) => {
    const shown = [...document.querySelectorAll("#messages li.message .content")].map((c) => c.textContent);
    return location.pathname.startsWith("/chat/") && texts.every((t) => shown.includes(t));
  }, [first, second]);
  await connected(ada, "Ada back in the room");
  await waitFor(bob, "Bob sees Ada back in the room", () =>
    [...document.querySelectorAll("#present li")].some((li) => li.textContent.trim() === "Ada"));
  const third = `third ${Date.now()}`;
  await say(base, room, "Bob", third);
  await waitFor(ada, "the room is live after Back", (t) =>
    [...document.querySelectorAll("#messages li.message .content")].some((c) => c.textContent === t), third);

  // 5. Forward: the tail again.
  await ada.goForward();
  await waitFor(ada, "Forward shows /events", () =>
    location.pathname === "/events" && !!document.getElementById("event-rows"));
  await connected(ada, "Ada forward on /events");
  const end = await ada.evaluate(() => window.__marker);
  assert(end === "no reload", `still the same document after Back and Forward: ${show(end)}`);
  assert(ada.loads === loads, `no page load since the first (${loads}, now ${ada.loads})`);
  assert((await here(bob)).every((n) => n !== "Ada"), "Ada left the room again");

  // 6. Without JavaScript the links are plain links.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  onCleanup(() => plain.close());
  const p = await plain.newPage();
  await p.goto(`${base}/chat`, { waitUntil: "domcontentloaded" });
  await p.locator('header.site nav a[href="/bookmarks"]').click();
  await p.waitForURL(`${base}/bookmarks`);
  assert(await p.locator("#bookmark-form").count() === 1, "without JavaScript the link loads /bookmarks");

  const problems = [...ada.problems, ...bob.problems];
  assert(problems.length === 0, `no script errors: ${problems.join("; ")}`);
}, { limitMs: 85_000 });

// Every page, as a visitor sees it in Chromium at a desktop width (1280 px) and on a phone
// (390 px): nothing is wider than the viewport (no horizontal scroll, however long a word), no
// element id is used twice, the stylesheet obeys the content security policy (no console
// errors), the nav lists every app, and an unknown address is a styled 404 with the nav. Then
// what the pages promise: a 2,000-character word wraps inside its chat row; "My Room" is refused
// in words; a visitor's new public bookmark shows live in both "Latest" and "Yours"; sizes say
// their level in words and colour; an empty cart cannot be bought and says it is empty once; the
// admin shows a bar per size; the explorer shows readable times and each event's number once.
//
//   CINDER_URL=http://127.0.0.1:4321 CINDER_ADMIN_PASSWORD=... node browser_design.mjs
//
// CINDER_SCREENSHOTS=<dir> also saves a full-page screenshot of every page at both widths, and
// CINDER_CSS=<file> serves that file as /assets/cinder.css (to work on the styles without
// rebuilding the server).

import { mkdirSync } from "node:fs";
import { randomInt } from "node:crypto";
import { assert, baseUrl, launchChromium, randomRoom, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 10_000;
const WIDTHS = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
];
const APPS = ["Chat", "Bookmarks", "Drops", "Todos", "Polls", "Events"];
const ZONE = "America/New_York";
// What the visitor's browser shows for an instant: its own zone and language.
const inZone = (iso, options) =>
  new Intl.DateTimeFormat("en-US", { timeZone: ZONE, ...options }).format(new Date(iso));
const show = (v) => JSON.stringify(v);
const shots = process.env.CINDER_SCREENSHOTS || "";
if (shots) mkdirSync(shots, { recursive: true });

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function json(method, path, body, headers = {}) {
  const res = await fetch(`${baseUrl()}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function newPage(browser, onCleanup, viewport, options = {}) {
  // A visitor in New York: times must show in the browser's zone, not the server's (UTC).
  const context = await browser.newContext({ viewport, timezoneId: ZONE, locale: "en-US", ...options });
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/Failed to load resource: the server responded with a status of 4(04|22)/.test(msg.text())) {
      page.problems.push(`console error: ${msg.text()}`);
    }
  });
  if (process.env.CINDER_CSS) {
    await page.route("**/assets/cinder.css", (r) =>
      r.fulfill({ path: process.env.CINDER_CSS, contentType: "text/css" }));
  }
  return page;
}

// Opens `path`; a live page (one with #cinder-root) is waited for until it is joined.
async function open(page, path, { status = 200 } = {}) {
  const res = await page.goto(`${baseUrl()}${path}`, { waitUntil: "load" });
  assert(res && res.status() === status, `GET ${path} answered ${res && res.status()}, not ${status}`);
  const live = await page.evaluate(() => !!document.querySelector("#cinder-root[data-cinder-topic]"));
  if (live) {
    try {
      await page.waitForFunction(() => document.documentElement.dataset.cinderConnected === "true",
        null, { timeout: WAIT_MS });
    } catch {
      throw new Error(`${path}: the live connection did not come up`);
    }
  }
}

// What every page must be: as wide as the viewport at most, ids unique, the nav complete.
async function checkFrame(page, path, width) {
  const state = await page.evaluate(() => {
    const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
      .filter((el) => !el.closest(".table-wrap, ol.messages, pre"))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className}`);
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      twice: ids.filter((id, i) => ids.indexOf(id) !== i),
      nav: [...document.querySelectorAll("header.site nav a")].map((a) => a.textContent.trim()),
      wide,
      stylesheet: [...document.styleSheets].some((s) => (s.href || "").endsWith("/assets/cinder.css") && s.cssRules.length > 50),
    };
  });
  assert(state.scrollWidth <= state.innerWidth,
    `${path} at ${width}px: the page is ${state.scrollWidth}px wide in a ${state.innerWidth}px viewport ` +
    `(too wide: ${show(state.wide)})`);
  assert(state.twice.length === 0, `${path}: element ids used twice: ${show(state.twice)}`);
  assert(show(state.nav) === show(APPS), `${path}: the nav lists ${show(state.nav)}, not ${show(APPS)}`);
  assert(state.stylesheet, `${path}: cinder.css is loaded`);
  assert(page.problems.length === 0, `${path} at ${width}px: ${page.problems.join("; ")}`);
  if (shots) {
    const name = path.replace(/[^a-z0-9]+/gi, "_").replace(/^_|_$/g, "") || "root";
    await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
    await page.screenshot({ path: `${shots}/${name}-${width}-top.png` });
  }
}

await runTest("browser_design", async (onCleanup) => {
  const password = env("CINDER_ADMIN_PASSWORD");
  const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` };
  const browser = await launchChromium();
  onCleanup(() => browser.close());

  // Content: a room with a 2,000-character word, a product on sale and one coming soon, a few
  // bookmarks, a todo.
  const room = randomRoom("design");
  const longWord = "w".repeat(2000);
  await json("POST", `/api/chat/rooms/${room}/messages`, { sender: "Ada", content: "Hello, everyone" });
  await json("POST", `/api/chat/rooms/${room}/messages`, { sender: "Grace", content: longWord });
  await json("POST", `/api/chat/rooms/${room}/messages`, { sender: "Ada", content: "after the long one" });
  const n = randomInt(100000, 999999);
  const product = await json("POST", "/api/drops/products", {
    sku: `D${n}`, name: "Design Runner", brand: "Cinder", color: "red/black", price_usd: 99,
    image_url: "", order: 0,
    items: [["8", 900], ["9", 300], ["10", 20], ["11", 0]].map(([size, available], i) =>
      ({ sku: `D${n + 1 + i}`, size, available })),
  }, auth);
  await json("POST", `/api/drops/products/${product.id}/release`, undefined, auth);
  await json("POST", "/api/drops/products", {
    sku: `E${n}`, name: "Later Low", brand: "Cinder", color: "momentum", price_usd: 150,
    image_url: "", order: 1, items: [{ sku: `E${n + 1}`, size: "9", available: 10 }],
  }, auth);
  const bookmark = await json("POST", "/api/bookmarks", { bookmark: {
    title: "A".repeat(200), url: `https://example.com/${"p".repeat(300)}`,
    description: "d".repeat(600), tags: ["design", "x".repeat(32)],
  } });
  const bookmarkId = bookmark.bookmark.data.id;
  await json("POST", `/api/bookmarks/${bookmarkId}/comments`, { author: "Ada", content: "c".repeat(1500) });
  // A poll with the longest question and option, and a vote.
  const poll = await json("POST", "/api/polls", {
    question: `Which ${"q".repeat(184)} wins?`, options: ["Tabs", "o".repeat(100), "Both"],
  });
  const pollId = poll.poll.id;
  await json("POST", `/api/polls/${pollId}/votes`, { option: 1 });

  const pages = [
    "/chat", `/chat/${room}`, "/bookmarks", "/bookmarks/tags/design", "/bookmarks/random",
    `/bookmarks/${bookmarkId}`, "/drops", "/drops/checkout", "/todos", "/polls", `/polls/${pollId}`, "/events",
    "/events?type=Room", `/events/Room/${room}`,
  ];
  for (const viewport of WIDTHS) {
    const page = await newPage(browser, onCleanup, viewport);
    await open(page, "/todos");
    const todo = page.locator("#new-todo input[name=title]");
    await todo.fill(`Make it ${"look".repeat(120)} good`);
    await todo.press("Enter");
    await page.locator("#todo-list li.todo").first().waitFor();
    for (const path of pages) {
      await open(page, path);
      await checkFrame(page, path, viewport.width);
    }
    // The room's "as of" page and a 404.
    await open(page, `/events/Room/${room}`);
    const asOf = await page.locator("a.as-of").first().getAttribute("href");
    await open(page, asOf);
    await checkFrame(page, asOf, viewport.width);
    await open(page, "/no/such/page", { status: 404 });
    await checkFrame(page, "/no/such/page", viewport.width);
    const notFound = await page.evaluate(() => ({
      h1: document.querySelector("h1")?.textContent.trim(),
      links: [...document.querySelectorAll("main a")].map((a) => a.getAttribute("href")),
    }));
    assert(notFound.h1 === "Nothing here" && notFound.links.includes("/chat"),
      `the 404 page says so and links the apps: ${show(notFound)}`);
    const admin = await newPage(browser, onCleanup, viewport, {
      httpCredentials: { username: "admin", password },
    });
    await open(admin, "/admin");
    await checkFrame(admin, "/admin", viewport.width);

    // Chat: the long word wraps inside its row, which ends above the next one.
    await open(page, `/chat/${room}`);
    const rows = await page.evaluate(() => {
      const list = document.querySelector("#messages").getBoundingClientRect();
      return [...document.querySelectorAll("#messages li.message")].map((li) => {
        const r = li.getBoundingClientRect();
        const c = li.querySelector(".content").getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, right: c.right, listRight: list.right };
      });
    });
    assert(rows.length === 3, `three messages in the room: ${show(rows)}`);
    assert(rows.every((r) => r.right <= r.listRight + 0.5),
      `at ${viewport.width}px every message's text stays inside the list: ${show(rows)}`);
    assert(rows[1].bottom <= rows[2].top + 0.5 && rows[1].bottom - rows[1].top > 100,
      `at ${viewport.width}px the long word wraps onto many lines and ends above the next row: ${show(rows)}`);
  }

  const page = await newPage(browser, onCleanup, WIDTHS[1]);

  // Times are the visitor's: a chat message sent now shows New York's time of day.
  await open(page, `/chat/${room}`);
  const times = await page.evaluate(() => [...document.querySelectorAll("#messages time")]
    .map((t) => ({ text: t.textContent, at: t.dateTime, title: t.title })));
  assert(times.length === 3 && times.every((t) =>
    t.text === inZone(t.at, { hour: "2-digit", minute: "2-digit" }) && /Eastern|E[SD]T|GMT-/.test(t.title)),
  `chat times show in the browser's zone (${ZONE}): ${show(times)}`);

  // "My Room" is refused in words: by the field in the browser, and by the server without it.
  await open(page, "/chat");
  const field = page.locator("#room-name");
  await field.fill("My Room");
  await field.press("Enter");
  await sleep(300);
  const refused = await page.evaluate(() => {
    const input = document.querySelector("#room-name");
    return {
      path: location.pathname, mismatch: input.validity.patternMismatch,
      message: input.validationMessage, rule: input.title,
    };
  });
  // Chromium's bubble shows the message and, under it, the field's title.
  assert(refused.path === "/chat" && refused.mismatch && refused.message !== "" &&
    /lowercase letters, digits and dashes/.test(refused.rule),
    `"My Room" is refused by the field, with the rule: ${show(refused)}`);
  await open(page, "/chat/go?room=My+Room", { status: 422 });
  const said = await page.evaluate(() => ({
    error: document.querySelector("#room-name-error")?.textContent.trim(),
    value: document.querySelector("#room-name")?.value,
    link: document.querySelector("#room-name-error a")?.getAttribute("href"),
  }));
  assert(/Room names are/.test(said.error || "") && said.value === "My Room" && said.link === "/chat/my-room",
    `without the browser's check the lobby says why, keeps the name and offers #my-room: ${show(said)}`);
  assert(page.problems.length === 0, `no console errors on /chat (the pattern compiles): ${page.problems.join("; ")}`);

  // A visitor's own new public bookmark shows live in "Latest" and in "Yours".
  await open(page, "/bookmarks");
  await page.evaluate(() => { window.__marker = 1; });
  const title = `Mine ${Date.now()}`;
  const form = page.locator("#bookmark-form");
  await form.locator("[name=title]").fill(title);
  await form.locator("[name=url]").fill("https://example.org/mine");
  await form.locator("[name=tags]").fill("design");
  await form.locator("button[type=submit]").click();
  try {
    await page.waitForFunction((t) => ["#bookmarks", "#my-bookmarks"].every((list) =>
      [...document.querySelectorAll(`${list} li.bookmark a.title`)].some((a) => a.textContent === t)),
    title, { timeout: WAIT_MS });
  } catch {
    const where = await page.evaluate((t) => [...document.querySelectorAll("li.bookmark")]
      .filter((li) => li.querySelector("a.title")?.textContent === t)
      .map((li) => `${li.parentElement.id} > ${li.id}`), title);
    throw new Error(`the new bookmark shows in both "Latest" and "Yours"; it shows in ${show(where)}`);
  }
  assert(await page.evaluate(() => window.__marker) === 1, "added without a reload");
  await checkFrame(page, "/bookmarks (after adding)", 390);

  // Drops: each size says its level in words and colour; the product has its picture.
  await open(page, "/drops");
  const sizes = await page.evaluate((id) => {
    const card = document.getElementById(`product-${id}`);
    const img = card.querySelector("img.product-image");
    return {
      image: img && img.complete && img.naturalWidth > 0,
      buttons: [...card.querySelectorAll("button.size")].map((b) => ({
        size: b.querySelector(".size-name")?.textContent.trim(),
        label: b.querySelector(".level-label")?.textContent.trim(),
        level: b.dataset.level,
        background: getComputedStyle(b).backgroundColor,
        disabled: b.disabled,
      })),
    };
  }, product.id);
  assert(sizes.image, `the product card shows its generated picture: ${show(sizes)}`);
  const want = [["8", "high", "in stock"], ["9", "medium", "limited"], ["10", "low", "few left"], ["11", "out", "sold out"]];
  assert(show(sizes.buttons.map((b) => [b.size, b.level, b.label])) === show(want),
    `sizes, levels and their words: ${show(sizes.buttons)}`);
  assert(new Set(sizes.buttons.map((b) => b.background)).size === 4, `each level has its own colour: ${show(sizes.buttons)}`);
  assert(sizes.buttons[3].disabled && sizes.buttons.slice(0, 3).every((b) => !b.disabled), "only the sold-out size is disabled");

  // An empty cart: "Buy now" is disabled, and the emptiness is said once.
  await open(page, "/drops/checkout");
  const checkout = await page.evaluate(() => ({
    disabled: document.querySelector("#checkout button")?.disabled,
    said: (document.querySelector("main").textContent.match(/cart is empty/gi) || []).length,
  }));
  assert(checkout.disabled === true && checkout.said === 1,
    `an empty cart's "Buy now" is disabled and "Your cart is empty" shows once: ${show(checkout)}`);

  // The admin: a bar per size.
  const admin = await newPage(browser, onCleanup, WIDTHS[0], { httpCredentials: { username: "admin", password } });
  await open(admin, "/admin");
  const bars = await admin.evaluate((id) => [...document.querySelectorAll(`#admin-product-${id} meter`)]
    .map((m) => m.value), product.id);
  assert(show(bars) === show([900, 300, 20, 0]), `a stock bar per size: ${show(bars)}`);

  // The explorer: readable times, each event numbered once.
  await open(page, `/events/Room/${room}`);
  const history = await page.evaluate(() => ({
    times: [...document.querySelectorAll("ol.history time")].map((t) => ({ text: t.textContent.trim(), at: t.dateTime })),
    items: [...document.querySelectorAll("ol.history > li")].map((li) => li.innerText),
    seqs: [...document.querySelectorAll("ol.history > li .seq")].map((s) => s.textContent.trim()),
    marker: getComputedStyle(document.querySelector("ol.history > li")).listStyleType,
  }));
  const second = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" };
  assert(history.items.length === 3 &&
    history.times.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(t.at) && t.text === inZone(t.at, second)),
    `readable times in the visitor's zone on the history page: ${show(history.times)}`);
  assert(history.marker === "none" && history.seqs.every((t, i) => t === `#${i + 1}`) &&
    history.items.every((t) => !/^\s*\d+\.\s/.test(t)),
    `each event's number shows once (no list marker before the "#n"): ${show(history)}`);

  // The aggregate's page at its latest events is live: a new message shows up as event #4.
  await page.evaluate(() => { window.__marker = 2; });
  await json("POST", `/api/chat/rooms/${room}/messages`, { sender: "Ada", content: "a fourth one" });
  try {
    await page.waitForFunction(() => [...document.querySelectorAll("#history-live > li .seq")]
      .some((s) => s.textContent.trim() === "#4"), null, { timeout: WAIT_MS });
  } catch {
    throw new Error("the aggregate's page did not show its new event #4 live");
  }
  assert(await page.evaluate(() => window.__marker) === 2, "shown without a reload");
}, { limitMs: shots ? 300_000 : 85_000 });

// Hostile text in every text field of every app (chat, bookmarks, todos, polls, drops and the explorer), in real Chromium pages with cinder.js: script
// tags, `<img onerror>`, attribute-breaking quotes and `javascript:` URLs. Nothing may execute
// (window.__pwned stays undefined, no element grows an event-handler attribute), the text shows
// exactly as typed (textContent, input values), live and after a reload, and no link has a
// `javascript:` href. Bookmarks refuse non-http(s) URLs and bad tags, and the refusal shows as
// text.
//
//   CINDER_URL=http://127.0.0.1:4321 CINDER_ADMIN_PASSWORD=... node browser_escaping.mjs

import { randomBytes } from "node:crypto";
import { assert, baseUrl, launchChromium, randomRoom, runTest } from "./lib.mjs";

const WAIT_MS = 10_000;
const show = (v) => JSON.stringify(v);

// Long fields get these.
const FULL = [
  "<script>window.__pwned=1</script>",
  '<img src=x onerror="window.__pwned=1">',
  '"><svg onload=window.__pwned=1>',
  "' onmouseover='window.__pwned=1",
];
// Fields of at most 32 characters (names) get these: the same attacks, shorter.
const SHORT = [
  "<script>__pwned=1</script>",
  "<img src=x onerror=__pwned=1>",
  '"><svg onload=__pwned=1>',
  "' onmouseover='__pwned=1",
];
const JS_URL = "javascript:window.__pwned=1";

async function waitConnected(page, who) {
  try {
    await page.waitForFunction(
      () => document.documentElement.dataset.cinderConnected === "true",
      null,
      { timeout: WAIT_MS },
    );
  } catch {
    throw new Error(`${who}: the live connection did not come up`);
  }
}

async function open(page, who, path) {
  const res = await page.goto(`${baseUrl()}${path}`, { waitUntil: "domcontentloaded" });
  assert(res && res.ok(), `${who}: GET ${path} answered ${res && res.status()}`);
  await waitConnected(page, who);
}

async function newPage(browser, onCleanup, who, options = {}) {
  const context = await browser.newContext(options);
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  return watched(await context.newPage(), who);
}

function watched(page, who) {
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`${who}: page error: ${err.message}`));
  page.on("dialog", (dialog) => {
    page.problems.push(`${who}: a dialog opened: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  return page;
}

// Waits until every one of `texts` is in the textContent of `selector`.
async function waitTexts(page, who, selector, texts) {
  try {
    await page.waitForFunction(
      ([sel, wanted]) => {
        const el = document.querySelector(sel);
        return !!el && wanted.every((t) => el.textContent.includes(t));
      },
      [selector, texts],
      { timeout: WAIT_MS },
    );
  } catch {
    const now = await page.evaluate((sel) => document.querySelector(sel)?.textContent, selector);
    throw new Error(`${who}: ${selector} never showed all of ${show(texts)}; it shows ${show(now)}`);
  }
}

// Hovers, focuses and clicks (synthetically, without following links or submitting) every
// element, then checks nothing ran and nothing was injected.
async function assertInert(page, who) {
  await page.evaluate(() => {
    // Controls are not clicked: they would push events (delete, buy, ...) or navigate.
    const control = "a, button, label, input, textarea, select, form, [data-cinder-click], [data-cinder-dblclick]";
    for (const el of document.body.querySelectorAll("*")) {
      for (const type of ["mouseover", "mouseenter", "mousemove", "click"]) {
        if (type === "click" && el.closest(control)) continue;
        el.dispatchEvent(new MouseEvent(type, { bubbles: type !== "mouseenter", cancelable: true }));
      }
      el.dispatchEvent(new FocusEvent("focus"));
    }
  });
  // Real pointer movement over the user text, too.
  const spots = page.locator(
    ".sender, .content, a.title, p.description, li.todo label, .comment, h2, h3",
  );
  const count = Math.min(await spots.count(), 20);
  for (let i = 0; i < count; i++) {
    await spots.nth(i).hover({ timeout: 2_000 }).catch(() => {});
  }
  await page.waitForTimeout(200);
  const state = await page.evaluate(() => ({
    pwned: typeof window.__pwned,
    jsLinks: document.querySelectorAll('a[href^="javascript:" i], [src^="javascript:" i]').length,
    handlers: [...document.querySelectorAll("*")]
      .flatMap((el) => [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${el.tagName} ${a.name}`)),
    injected: document.querySelectorAll("svg, img[src=x], script:not([src])").length,
    badHrefs: [...document.querySelectorAll("a[href]")]
      .map((a) => a.getAttribute("href"))
      .filter((h) => !/^(https?:\/\/|\/|#|\?)/i.test(h)),
  }));
  assert(state.pwned === "undefined", `${who}: window.__pwned is ${state.pwned}: a payload ran`);
  assert(state.jsLinks === 0, `${who}: ${state.jsLinks} javascript: links or sources`);
  assert(state.handlers.length === 0, `${who}: event-handler attributes: ${show(state.handlers)}`);
  assert(state.injected === 0, `${who}: ${state.injected} injected svg/img/inline script elements`);
  assert(state.badHrefs.length === 0, `${who}: links that are not http(s) or local: ${show(state.badHrefs)}`);
  assert(page.problems.length === 0, page.problems.join("; "));
}

// The textContent of every element matching `selector`.
const texts = (page, selector) =>
  page.evaluate((sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim()), selector);

function assertHasAll(list, wanted, what) {
  for (const w of wanted) {
    assert(list.includes(w), `${what} shows ${show(w)} exactly as typed; it has ${show(list)}`);
  }
}

async function chat(browser, onCleanup) {
  const path = `/chat/${randomRoom("xss")}`;
  const one = await newPage(browser, onCleanup, "chatter one");
  const two = await newPage(browser, onCleanup, "chatter two");
  for (const [page, name, who] of [[one, SHORT[1], "chatter one"], [two, SHORT[3], "chatter two"]]) {
    await open(page, who, path);
    await page.locator('#name-form input[name="name"]').fill(name);
    await page.locator('#name-form button[type="submit"]').click();
    await page.locator("#send-form").waitFor();
    await waitConnected(page, who);
    const posting = await texts(page, "#send-form ~ p strong, p.muted strong");
    assertHasAll(posting, [name], `${who}'s "Posting as"`);
  }
  for (const message of FULL) {
    const input = one.locator('#send-form input[name="content"]');
    await input.fill(message);
    await input.press("Enter");
    await one.waitForFunction(
      () => document.querySelector('#send-form input[name="content"]')?.value === "",
      null,
      { timeout: WAIT_MS },
    );
  }
  // Senders through the API too.
  for (const sender of [SHORT[0], SHORT[2]]) {
    const res = await fetch(`${baseUrl()}/api${path.replace("/chat/", "/chat/rooms/")}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sender, content: FULL[2] }),
    });
    assert(res.status === 201, `POST chat message as ${show(sender)}: ${res.status}`);
  }
  for (const [page, who] of [[one, "chatter one"], [two, "chatter two (live)"]]) {
    await waitTexts(page, who, "#messages", [...FULL, SHORT[0], SHORT[2]]);
    assertHasAll(await texts(page, "#messages .content"), FULL, `${who}'s messages`);
    assertHasAll(await texts(page, "#messages .sender"), [SHORT[0], SHORT[1], SHORT[2]], `${who}'s senders`);
    await assertInert(page, who);
  }
  await open(two, "chatter two", path);
  assertHasAll(await texts(two, "#messages .content"), FULL, "chatter two's messages after a reload");
  assertHasAll(await texts(two, "#messages .sender"), [SHORT[0], SHORT[1], SHORT[2]], "senders after a reload");
  assertHasAll(await texts(two, "p.muted strong"), [SHORT[3]], "chatter two's name after a reload");
  await assertInert(two, "chatter two after a reload");
}

const FORM = 'form#bookmark-form[data-cinder-submit="add_bookmark"]';

async function submitBookmark(page, { title, url, description, tags }) {
  const form = page.locator(FORM);
  await form.evaluate((f) => { f.noValidate = true; });
  await form.locator('input[name="title"]').fill(title);
  await form.locator('input[name="url"]').fill(url);
  await form.locator('textarea[name="description"]').fill(description);
  await form.locator('input[name="tags"]').fill(tags);
  await form.locator('button[type="submit"], button:not([type])').first().click();
}

// Waits for the form's verdict: "" when accepted (reset), or the error text shown.
async function verdict(page, who) {
  const handle = await page.waitForFunction(
    (sel) => {
      const f = document.querySelector(sel);
      if (!f || f.getAttribute("aria-busy") === "true") return null;
      // The form's own error and those by each field.
      const err = [...f.querySelectorAll("[data-cinder-error], [data-cinder-error-for]")].map((e) => e.textContent).join(" ").trim();
      if (err) return { error: err };
      return f.querySelector('input[name="title"]').value === "" ? { error: "" } : null;
    },
    FORM,
    { timeout: WAIT_MS },
  ).catch(() => { throw new Error(`${who}: the bookmark form gave no verdict`); });
  return (await handle.jsonValue()).error;
}

async function bookmarks(browser, onCleanup) {
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const tag = `x${suffix}`;
  const one = await newPage(browser, onCleanup, "bookmarker one");
  const two = await newPage(browser, onCleanup, "bookmarker two");
  await open(one, "bookmarker one", "/bookmarks");
  await open(two, "bookmarker two", "/bookmarks");

  for (const [i, payload] of FULL.entries()) {
    await submitBookmark(one, {
      title: payload, url: `https://example.com/${suffix}/${i}`, description: payload, tags: tag,
    });
    const error = await verdict(one, "bookmarker one");
    assert(error === "", `bookmark ${show(payload)} was accepted; the form says ${show(error)}`);
  }

  // Hostile tags are refused, and the refusal shows the tag as text.
  await submitBookmark(one, {
    title: `tags ${suffix}`, url: "https://example.com/t", description: "", tags: SHORT.join(","),
  });
  const tagError = await verdict(one, "bookmarker one");
  assert(tagError.includes("may only use"), `hostile tags are refused: ${show(tagError)}`);
  assert(tagError.includes(SHORT[0]), `the refusal shows the tag as typed: ${show(tagError)}`);
  await assertInert(one, "bookmarker one after the tag refusal");

  // javascript: URLs are refused, in any spelling, by the form and the API.
  await one.locator(`${FORM} input[name="tags"]`).fill("");
  await submitBookmark(one, { title: `js ${suffix}`, url: JS_URL, description: "", tags: "" });
  const urlError = await verdict(one, "bookmarker one");
  assert(urlError.includes("http"), `a javascript: URL is refused: ${show(urlError)}`);
  for (const url of [JS_URL, "JaVaScRiPt:window.__pwned=1", " javascript:window.__pwned=1",
    "data:text/html,<script>window.__pwned=1</script>", "vbscript:msgbox(1)", "//evil.example/x"]) {
    const res = await fetch(`${baseUrl()}/api/bookmarks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: `js ${suffix}`, url, description: "", public: true, tags: [] }),
    });
    assert(res.status >= 400 && res.status < 500, `the API refuses url ${show(url)}: ${res.status}`);
  }

  let id;
  for (const [page, who] of [[one, "bookmarker one"], [two, "bookmarker two (live)"]]) {
    await waitTexts(page, who, "#bookmarks", FULL);
    const shown = await page.evaluate(() =>
      [...document.querySelectorAll("#bookmarks li.bookmark")].map((li) => ({
        title: li.querySelector("a.title")?.textContent.trim(),
        href: li.querySelector("a.title")?.getAttribute("href"),
        description: li.querySelector("p.description")?.textContent.trim(),
        discussion: [...li.querySelectorAll("a")].find((a) => a.textContent.trim() === "discussion")
          ?.getAttribute("href"),
      })));
    assertHasAll(shown.map((b) => b.title), FULL, `${who}'s titles`);
    assertHasAll(shown.map((b) => b.description), FULL, `${who}'s descriptions`);
    assert(!shown.some((b) => b.title === `js ${suffix}` || b.title === `tags ${suffix}`),
      `${who}: refused bookmarks are not listed`);
    for (const b of shown) assert(/^https?:\/\//.test(b.href), `${who}: bookmark link ${show(b.href)} is http(s)`);
    id = shown.find((b) => b.title === FULL[0]).discussion;
    await assertInert(page, who);
  }
  await open(two, "bookmarker two", `/bookmarks/tags/${tag}`);
  assertHasAll(await texts(two, "#bookmarks a.title"), FULL, "the tag page's titles after a reload");
  await assertInert(two, "bookmarker two on the tag page");

  // Comments on the first one's discussion page.
  assert(id && id.startsWith("/bookmarks/"), `a discussion link: ${show(id)}`);
  await open(one, "commenter one", id);
  await open(two, "commenter two", id);
  assertHasAll(await texts(one, "h1, h2, a.title"), [FULL[0]], "the discussion page's title");
  for (const [i, content] of FULL.entries()) {
    const form = one.locator("#comment-form");
    await form.locator('input[name="author"]').fill(SHORT[i]);
    await form.locator('[name="content"]').fill(content);
    await form.locator('button[type="submit"], button:not([type])').first().click();
    // The form keeps its fields (data-cinder-keep): wait for the comment to be listed.
    await waitTexts(one, "commenter one", "main", [content, SHORT[i]]);
    const error = await one.evaluate(() =>
      [...document.querySelectorAll("#comment-form [data-cinder-error], #comment-form [data-cinder-error-for]")]
        .map((e) => e.textContent).join(" ").trim());
    assert(!error, `comment ${show(content)} was accepted; the form says ${show(error)}`);
  }
  for (const [page, who] of [[one, "commenter one"], [two, "commenter two (live)"]]) {
    await waitTexts(page, who, "main", [...FULL, ...SHORT]);
    await assertInert(page, who);
  }
  await open(two, "commenter two", id);
  await waitTexts(two, "commenter two after a reload", "main", [...FULL, ...SHORT]);
  await assertInert(two, "commenter two after a reload");
}

async function todos(browser, onCleanup) {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const tab = watched(await context.newPage(), "todo tab one");
  const other = watched(await context.newPage(), "todo tab two");
  await open(tab, "todo tab one", "/todos");
  await open(other, "todo tab two", "/todos");
  for (const title of FULL) {
    const input = tab.locator('#new-todo input[name="title"]');
    await input.fill(title);
    await input.press("Enter");
    await tab.waitForFunction(
      () => document.querySelector('#new-todo input[name="title"]')?.value === "",
      null,
      { timeout: WAIT_MS },
    );
  }
  const check = async (page, who) => {
    await waitTexts(page, who, "main", FULL);
    const values = await page.evaluate(() =>
      [...document.querySelectorAll("input.edit")].map((i) => i.value));
    assertHasAll(values, FULL, `${who}'s edit fields`);
    await assertInert(page, who);
  };
  await check(tab, "todo tab one");
  await check(other, "todo tab two (live)");
  await open(other, "todo tab two", "/todos");
  await check(other, "todo tab two after a reload");
}

async function createProduct(sku, name, brand, color, password) {
  const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` };
  const res = await fetch(`${baseUrl()}/api/drops/products`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({
      sku, name, brand, color, price_usd: 100, image_url: "", order: 0,
      items: [{ sku: `${sku}0`, size: "9", available: 3 }],
    }),
  });
  assert(res.status === 201, `create product ${sku}: ${res.status} ${await res.text()}`);
  const released = await fetch(`${baseUrl()}/api/drops/products/${sku}/release`, {
    method: "POST", headers: auth,
  });
  assert(released.status === 200, `release ${sku}: ${released.status}`);
}

async function drops(browser, onCleanup) {
  const password = process.env.CINDER_ADMIN_PASSWORD;
  assert(password, "CINDER_ADMIN_PASSWORD is set");
  const id = randomBytes(4).toString("hex");
  await createProduct(`a${id}`, FULL[0], FULL[1], FULL[2], password);
  const shopper = await newPage(browser, onCleanup, "shopper");
  const admin = await newPage(browser, onCleanup, "admin", {
    httpCredentials: { username: "admin", password },
  });
  await open(shopper, "shopper", "/drops");
  await open(admin, "admin", "/admin");
  // A second product while both pages are open: it arrives live.
  await createProduct(`b${id}`, FULL[3], FULL[2], FULL[1], password);
  // Shoppers see name, brand and color; the admin's list shows the names.
  const pages = [[shopper, "shopper", "/drops", FULL], [admin, "admin", "/admin", [FULL[0], FULL[3]]]];
  for (const [page, who, path, shown] of pages) {
    await waitTexts(page, `${who} (live)`, "main", shown);
    await assertInert(page, `${who} (live)`);
    await open(page, who, path);
    await waitTexts(page, `${who} after a reload`, "main", shown);
    await assertInert(page, `${who} after a reload`);
  }
}

async function createPoll(question, options) {
  const res = await fetch(`${baseUrl()}/api/polls`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ question, options }),
  });
  const body = await res.text();
  assert(res.status === 201, `create poll: ${res.status} ${body}`);
  return JSON.parse(body).poll.id;
}

async function polls(browser, onCleanup) {
  const viewer = await newPage(browser, onCleanup, "poll viewer");
  const asker = await newPage(browser, onCleanup, "poll asker");
  await open(viewer, "poll viewer", "/polls");
  await open(asker, "poll asker", "/polls");
  // One poll through the form (typed), one through the API while both pages are open.
  await asker.locator("#new-poll-question").fill(FULL[0]);
  await asker.locator("#new-poll-options").fill([FULL[1], FULL[2]].join("\n"));
  // Validation as you type said "give at least 2 options" while only the question was filled;
  // clicking as that line empties could miss the moving button, so wait for it.
  await asker.waitForFunction(
    () => [...document.querySelectorAll("#poll-form [data-cinder-error-for]")]
      .every((e) => e.textContent.trim() === ""),
    null,
    { timeout: WAIT_MS },
  );
  await asker.locator('#poll-form button[type="submit"]').click();
  const id = await createPoll(FULL[3], [FULL[0], FULL[3]]);
  for (const [page, who] of [[viewer, "poll viewer (live)"], [asker, "poll asker (live)"]]) {
    await waitTexts(page, who, "main", [FULL[0], FULL[3]]);
    await assertInert(page, who);
  }
  await open(viewer, "poll viewer", `/polls/${id}`);
  await waitTexts(viewer, "poll viewer on the poll", "main", [FULL[3], FULL[0]]);
  await assertInert(viewer, "poll viewer on the poll");
  await open(viewer, "poll viewer", "/polls");
  await waitTexts(viewer, "poll viewer after a reload", "main", [FULL[0], FULL[3]]);
  await assertInert(viewer, "poll viewer after a reload");
}

// One part per run (CINDER_ESCAPING_PART), each its own test: all four in one browser ran past
// the watchdog on a loaded machine (a part alone took 50-95 s at a load average of 20 on 2
// cores). The watchdog only catches a hang, so it is generous.
const PARTS = {
  chat,
  bookmarks,
  todos,
  polls,
  async drops(browser, onCleanup) {
    await drops(browser, onCleanup);
    // The event explorer shows every payload above, as stored.
    const explorer = await newPage(browser, onCleanup, "explorer");
    await open(explorer, "explorer", "/events");
    await waitTexts(explorer, "explorer", "main", ["__pwned"]);
    await assertInert(explorer, "explorer");
  },
};
const part = process.env.CINDER_ESCAPING_PART;
assert(PARTS[part], `CINDER_ESCAPING_PART is one of ${Object.keys(PARTS).join(", ")}`);

await runTest(`browser_escaping ${part}`, async (onCleanup) => {
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  await PARTS[part](browser, onCleanup);
}, { limitMs: 240_000 });

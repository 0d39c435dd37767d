// Two visitors on the rust tag feed in real Chromium pages with cinder.js: a bookmark one adds
// shows up at the top of both pages without a reload, with its tags cleaned up; a broken one is
// refused by the form and adds nothing; a private one never reaches the other visitor; and the
// random page shows another bookmark in place.
//
//   CINDER_URL=http://127.0.0.1:4321 node browser_bookmarks.mjs

import { randomBytes } from "node:crypto";
import { assert, baseUrl, launchChromium, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 10_000;
const PRIVATE_WAIT_MS = 3_000;
const TAG_PATH = "/bookmarks/tags/rust";
const FORM = 'form#bookmark-form[data-cinder-submit="add_bookmark"]';

const show = (v) => JSON.stringify(v);

async function waitConnected(page, who) {
  try {
    await page.waitForFunction(
      () => document.documentElement.dataset.cinderConnected === "true",
      null,
      { timeout: WAIT_MS },
    );
  } catch {
    const now = await page.evaluate(() => document.documentElement.dataset.cinderConnected);
    throw new Error(`${who}'s page: data-cinder-connected is ${show(now)}, not "true"`);
  }
}

// Opens `path` in the page, waits for the live connection, and marks the window so a reload or a
// navigation shows (the marker would be gone).
async function openLive(page, who, path, marker) {
  const url = `${baseUrl()}${path}`;
  const res = await page.goto(url, { waitUntil: "domcontentloaded" });
  assert(res && res.ok(), `${who}: GET ${url} answered ${res && res.status()}`);
  await waitConnected(page, who);
  await page.evaluate((m) => { window.__marker = m; }, marker);
}

async function assertNoReload(page, who, marker, path) {
  const now = await page.evaluate(() => window.__marker);
  assert(now === marker, `${who}'s page was not reloaded or navigated (window.__marker survived)`);
  const at = new URL(page.url()).pathname;
  assert(at === path, `${who}'s page is still at ${path}, not ${at}`);
}

async function visitor(browser, onCleanup, name) {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`${name}: page error: ${err.message}`));
  await openLive(page, name, TAG_PATH, 1);
  return { name, page, problems };
}

// Every li.bookmark of #bookmarks as the page shows it.
function listed(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("#bookmarks li.bookmark")].map((li) => {
      const a = li.querySelector("a.title");
      return {
        id: li.id,
        title: (a?.textContent || "").trim(),
        href: a ? a.getAttribute("href") : null,
        description: (li.querySelector("p.description")?.textContent || "").trim(),
        tags: [...li.querySelectorAll("ul.tags li.tag")].map((t) => t.textContent.trim()),
      };
    }),
  );
}

// Fills the add form and submits it by clicking its submit button. The browser's own validation
// (`required`, `type=url`) is switched off so the server's rules are what we test.
async function submitBookmark(page, { title, url, description, tags, isPublic = true }) {
  const form = page.locator(FORM);
  await form.evaluate((f) => { f.noValidate = true; });
  await form.locator('input[name="title"]').fill(title);
  await form.locator('input[name="url"]').fill(url);
  await form.locator('textarea[name="description"]').fill(description);
  await form.locator('input[name="tags"]').fill(tags);
  const box = form.locator('input[name="public"][type="checkbox"]');
  if (isPublic) await box.check();
  else await box.uncheck();
  await form
    .locator('button[type="submit"], button:not([type]), input[type="submit"]')
    .first()
    .click();
}

// Waits until the form was accepted: cinder.js resets it and clears its error on an ok reply.
async function waitAccepted(page, who, what) {
  try {
    await page.waitForFunction(
      (sel) => {
        const f = document.querySelector(sel);
        if (!f || f.getAttribute("aria-busy") === "true") return false;
        const err = [...f.querySelectorAll("[data-cinder-error], [data-cinder-error-for]")].map((e) => e.textContent).join(" ");
        return f.querySelector('input[name="title"]').value === "" && err.trim() === "";
      },
      FORM,
      { timeout: WAIT_MS },
    );
  } catch {
    const state = await page.evaluate((sel) => {
      const f = document.querySelector(sel);
      return f && {
        title: f.querySelector('input[name="title"]')?.value,
        error: [...f.querySelectorAll("[data-cinder-error], [data-cinder-error-for]")].map((e) => e.textContent).join(" "),
      };
    }, FORM);
    throw new Error(`${who}: ${what} was not accepted (form not reset) within ${WAIT_MS} ms: ${show(state)}`);
  }
}

await runTest("browser_bookmarks", async (onCleanup) => {
  const base = baseUrl();
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;

  const one = await visitor(browser, onCleanup, "visitor one");
  const two = await visitor(browser, onCleanup, "visitor two");
  const both = [one, two];

  for (const v of both) {
    const form = v.page.locator(FORM);
    assert(await form.count() === 1, `${v.name} sees ${FORM} on ${TAG_PATH}`);
    for (const field of ['input[name="title"]', 'input[name="url"]', 'textarea[name="description"]',
      'input[name="tags"]', 'input[name="public"][type="checkbox"]']) {
      assert(await form.locator(field).count() === 1, `${v.name}: the add form has ${field}`);
    }
    assert(
      await form.locator('input[name="public"][type="checkbox"]').isChecked(),
      `${v.name}: the form's public checkbox is checked by default`,
    );
    assert(await v.page.locator("ol#bookmarks").count() === 1, `${v.name} sees ol#bookmarks`);
  }

  // 1. A public bookmark tagged "Rust, rust , CLI" reaches the top of both rust feeds, once,
  //    with the tags trimmed, lower-cased and de-duplicated.
  const title = `Ripgrep ${suffix}`;
  const url = `https://example.com/rg-${suffix}`;
  // Each page records, after every DOM change (a MutationObserver runs right after the patch
  // that caused it, before the next socket message), whether our bookmark is the first item. So
  // a later bookmark that lands on top a moment after ours cannot hide that ours came first.
  await Promise.all(both.map((v) => v.page.evaluate((t) => {
    window.__firstSeen = false;
    const check = () => {
      const li = document.querySelector("#bookmarks li.bookmark");
      if (li && (li.querySelector("a.title")?.textContent || "").trim() === t) window.__firstSeen = true;
    };
    new MutationObserver(check).observe(document.documentElement, {
      childList: true, subtree: true, characterData: true,
    });
    check();
  }, title)));
  await submitBookmark(one.page, { title, url, description: "fast grep", tags: "Rust, rust , CLI" });
  await Promise.all(both.map(async (v) => {
    try {
      await v.page.waitForFunction(() => window.__firstSeen === true, null, {
        timeout: WAIT_MS, polling: 50,
      });
    } catch {
      const all = await listed(v.page);
      const at = all.findIndex((b) => b.title === title);
      throw new Error(
        `${v.name}'s #bookmarks did not show "${title}" as its first li.bookmark within ` +
          `${WAIT_MS} ms; it is ${at < 0 ? "not in the list at all" : `item ${at + 1} of ${all.length}`}` +
          `; the first items are ${show(all.slice(0, 3))}`,
      );
    }
  }));
  await waitAccepted(one.page, one.name, "the public bookmark");
  await sleep(500); // a late duplicate (reply patch plus broadcast) would show up by now
  const itemIds = [];
  for (const v of both) {
    const all = await listed(v.page);
    const mine = all.filter((b) => b.title === title);
    assert(mine.length === 1, `${v.name}'s page shows "${title}" exactly once: ${show(mine)}`);
    const b = mine[0];
    assert(/^bookmark-./.test(b.id), `${v.name}: the item's id is bookmark-<id>: ${show(b)}`);
    assert(b.href === url, `${v.name}: a.title links to ${url}: ${show(b)}`);
    assert(b.description === "fast grep", `${v.name}: p.description is "fast grep": ${show(b)}`);
    assert(show(b.tags) === show(["rust", "cli"]), `${v.name}: the tags are ["rust","cli"]: ${show(b)}`);
    const ids = all.map((x) => x.id);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    assert(twice.length === 0, `${v.name}: no li.bookmark id occurs twice in #bookmarks: ${show(twice)}`);
    const offTag = all.filter((x) => !x.tags.includes("rust"));
    assert(offTag.length === 0, `${v.name}: every item on the rust feed is tagged rust: ${show(offTag)}`);
    await assertNoReload(v.page, v.name, 1, TAG_PATH);
    itemIds.push(b.id);
  }
  assert(itemIds[0] === itemIds[1], `both pages show the same bookmark id: ${show(itemIds)}`);

  // 2. No title and a url that is not one: refused in words by the form, and nothing added.
  const badDescription = `refused ${suffix}`;
  await submitBookmark(one.page, {
    title: "", url: "not a url", description: badDescription, tags: "rust",
  });
  // Each refusal shows by its own field.
  const errorSel = `${FORM} [data-cinder-error-for="title"], ${FORM} [data-cinder-error-for="url"]`;
  try {
    await one.page.waitForFunction(
      (sel) => [...document.querySelectorAll(sel)].filter((e) => e.textContent.trim() !== "").length === 2,
      errorSel,
      { timeout: WAIT_MS },
    );
  } catch {
    const shown = await one.page.evaluate(
      (sel) => [...document.querySelectorAll(sel)].map((e) => [e.dataset.cinderErrorFor, e.textContent]),
      errorSel,
    );
    throw new Error(`the title and url fields should each show their refusal, the form shows ${show(shown)}`);
  }
  await sleep(500);
  for (const v of both) {
    const bad = (await listed(v.page)).filter(
      (b) => b.description === badDescription || b.href === "not a url" || b.title === "",
    );
    assert(bad.length === 0, `${v.name}: no item appeared for the refused bookmark: ${show(bad)}`);
    await assertNoReload(v.page, v.name, 1, TAG_PATH);
  }

  // 3. A private bookmark tagged rust is accepted but never reaches visitor two.
  const secret = `Secret ${suffix}`;
  await submitBookmark(one.page, {
    title: secret,
    url: `https://example.com/secret-${suffix}`,
    description: "only mine",
    tags: "rust",
    isPublic: false,
  });
  await waitAccepted(one.page, one.name, "the private bookmark");
  await sleep(PRIVATE_WAIT_MS);
  const leaked = await two.page.evaluate((t) => document.body.textContent.includes(t), secret);
  assert(!leaked, `visitor two's page does not show visitor one's private "${secret}"`);
  for (const path of ["/api/bookmarks?limit=100", "/api/bookmarks?tag=rust&limit=100"]) {
    const res = await fetch(`${base}${path}`);
    assert(res.status === 200, `GET ${path} answered ${res.status}`);
    const listedByApi = (await res.json()).bookmarks || [];
    assert(
      !listedByApi.some((b) => b && b.title === secret),
      `GET ${path} (anonymous) does not list the private "${secret}"`,
    );
    if (path.includes("tag=rust")) {
      assert(
        listedByApi.some((b) => b && b.title === title),
        `GET ${path} lists the public "${title}"`,
      );
    }
  }
  await assertNoReload(two.page, two.name, 1, TAG_PATH);

  // 4. Random discovery: one bookmark, and "another" shows one again in place.
  const RANDOM_PATH = "/bookmarks/random";
  await openLive(two.page, two.name, RANDOM_PATH, 2);
  const randomItems = () => two.page.locator("#random li.bookmark");
  assert(await two.page.locator("#random").count() === 1, `${RANDOM_PATH} has #random`);
  assert(
    await randomItems().count() === 1,
    `#random shows one li.bookmark (public bookmarks exist): ${show(await two.page.locator("#random").innerHTML())}`,
  );
  const another = two.page.locator('button[data-cinder-click="another"]');
  assert(await another.count() >= 1, `${RANDOM_PATH} has button[data-cinder-click="another"]`);
  for (let i = 0; i < 2; i++) {
    await another.first().click();
    try {
      await two.page.waitForFunction(
        () => {
          const b = document.querySelector('button[data-cinder-click="another"]');
          return !!b && !b.disabled && b.getAttribute("aria-busy") !== "true";
        },
        null,
        { timeout: WAIT_MS },
      );
    } catch {
      throw new Error(`"another" stayed busy for ${WAIT_MS} ms (no reply?)`);
    }
    await sleep(200);
    const shown = await randomItems().allTextContents();
    assert(shown.length === 1, `after "another", #random shows one li.bookmark: ${show(shown)}`);
    assert(!shown[0].includes(secret), `visitor two's random page never shows the private "${secret}"`);
    const title2 = ((await randomItems().first().locator("a.title").textContent()) || "").trim();
    assert(title2 !== "", `the random bookmark has a non-empty a.title`);
    const flash = await two.page.evaluate(
      () => document.querySelector("[data-cinder-flash]")?.textContent.trim() || "",
    );
    assert(flash === "", `"another" brought no error: ${show(flash)}`);
    await assertNoReload(two.page, two.name, 2, RANDOM_PATH);
  }

  const problems = [...one.problems, ...two.problems];
  assert(problems.length === 0, `no script errors in the pages: ${problems.join("; ")}`);
});

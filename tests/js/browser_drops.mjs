// A sneaker launch in real Chromium pages with cinder.js: one shopper with two tabs on /drops and
// the admin on /admin. The admin releases a new product and both tabs show its sizes; a size the
// shopper puts in the cart shows up in the other tab's cart and in the admin's "in carts"; then
// the launch simulator (`cinder simulate drops`) sells everything, and both tabs show every size
// sold out, the cart line greyed out, and the admin every count at 0, all without a reload.
//
//   CINDER_URL=http://127.0.0.1:4321 CINDER_ADMIN_PASSWORD=... CINDER_BIN=target/debug/cinder \
//   DATABASE_URL=postgres://... node browser_drops.mjs

import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { assert, baseUrl, launchChromium, runTest, sleep, withTimeout } from "./lib.mjs";

const WAIT_MS = 10_000;
const SIMULATOR_MS = 40_000;
const show = (v) => JSON.stringify(v);

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function waitConnected(page, who) {
  try {
    await page.waitForFunction(
      () => document.documentElement.dataset.cinderConnected === "true",
      null,
      { timeout: WAIT_MS },
    );
  } catch {
    const now = await page.evaluate(() => document.documentElement.dataset.cinderConnected);
    throw new Error(`${who}: data-cinder-connected is ${show(now)}, not "true"`);
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

async function assertNoReload(tab) {
  const now = await tab.page.evaluate(() => window.__marker);
  assert(now === tab.marker, `${tab.name} was not reloaded or navigated (window.__marker survived)`);
  const at = new URL(tab.page.url()).pathname;
  assert(at === tab.path, `${tab.name} is still at ${tab.path}, not ${at}`);
}

// Polls `check(arg, helpers)` in the page (helpers: sizeButtons and adminSpans below) until it
// returns { ok: true, ... }; otherwise fails with what the page last showed (the rest of what
// `check` returned).
async function waitFor(tab, what, check, arg) {
  const expression =
    `(${check})(${JSON.stringify(arg)}, { sizeButtons: ${sizeButtons}, adminSpans: ${adminSpans} })`;
  const deadline = Date.now() + WAIT_MS;
  let state;
  for (;;) {
    try {
      state = await tab.page.evaluate(expression);
    } catch (err) {
      state = { ok: false, error: err.message };
    }
    if (state && state.ok === true) return state;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(`${tab.name}: ${what} within ${WAIT_MS} ms; the page shows ${show(state)}`);
}

// The size buttons of product `productId` as a page shows them (in the page: self-contained).
const sizeButtons = (productId) => {
  const article = document.getElementById(`product-${productId}`);
  if (!article) return null;
  return {
    soon: !!article.querySelector("p.soon"),
    buttons: [...article.querySelectorAll("button.size")].map((b) => ({
      id: b.id,
      text: b.textContent.trim(),
      className: b.className,
      disabled: b.disabled,
      click: b.getAttribute("data-cinder-click"),
    })),
  };
};

// The admin page's count and in-carts spans of the items (in the page: self-contained).
const adminSpans = (itemIds) => {
  const text = (id) => document.getElementById(id)?.textContent.trim() ?? null;
  return {
    counts: Object.fromEntries(itemIds.map((id) => [id, text(`count-${id}`)])),
    inCarts: Object.fromEntries(itemIds.map((id) => [id, text(`incart-${id}`)])),
  };
};

await runTest("browser_drops", async (onCleanup) => {
  const base = baseUrl();
  const password = env("CINDER_ADMIN_PASSWORD");
  const bin = env("CINDER_BIN");
  const databaseUrl = env("DATABASE_URL");
  const auth = `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`;

  // 1. A small product through the admin API.
  const n = randomInt(100000, 999999);
  const sku = `T${n}`;
  const sizes = [["9", 3], ["9.5", 2], ["10", 4]];
  const res = await fetch(`${base}/api/drops/products`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/json" },
    body: JSON.stringify({
      sku,
      name: `Test Runner ${n}`,
      brand: "Cinder",
      color: "grey",
      price_usd: 99,
      image_url: "",
      order: 5,
      items: sizes.map(([size, available], i) => ({ sku: `${sku}${i + 1}`, size, available })),
    }),
  });
  const created = await res.json().catch(() => null);
  assert(res.status === 201, `POST /api/drops/products answered ${res.status}: ${show(created)}`);
  const productId = created && created.id;
  assert(typeof productId === "string" && productId !== "", `the reply has an id: ${show(created)}`);
  assert(Array.isArray(created.items) && created.items.length === 3, `the reply lists 3 items: ${show(created)}`);
  const itemOf = (size) => {
    const item = created.items.find((i) => i.size === size);
    assert(item && typeof item.id === "string", `the reply has an item of size ${size}: ${show(created)}`);
    return item.id;
  };
  const itemIds = sizes.map(([size]) => itemOf(size));
  const halfId = itemOf("9.5");

  // 2. One shopper, two tabs (one session: the second tab opens once the first set the cookie),
  //    and the admin.
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const problems = [];
  const shopper = await browser.newContext();
  onCleanup(() => shopper.close());
  shopper.setDefaultTimeout(WAIT_MS);
  const admin = await browser.newContext({ httpCredentials: { username: "admin", password } });
  onCleanup(() => admin.close());
  admin.setDefaultTimeout(WAIT_MS);

  const open = async (context, name, path, marker) => {
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`${name}: page error: ${err.message}`));
    await openLive(page, name, path, marker);
    return { name, page, path, marker };
  };
  const one = await open(shopper, "tab one", "/drops", 1);
  const two = await open(shopper, "tab two", "/drops", 2);
  const tabs = [one, two];
  const boss = await open(admin, "the admin page", "/admin", 3);

  for (const tab of tabs) {
    await waitFor(tab, `article#product-${productId} shows p.soon "coming soon..." and no sizes`, (a) => {
      const article = document.getElementById(`product-${a.productId}`);
      const soon = article && article.querySelector("p.soon");
      const text = soon ? soon.textContent.trim() : null;
      const buttons = article ? article.querySelectorAll("button.size").length : null;
      return { ok: text === "coming soon..." && buttons === 0, article: !!article, soon: text, buttons };
    }, { productId });
  }
  const release = boss.page.locator(`button[data-cinder-click="release"][value="${productId}"]`);
  assert(await release.count() === 1, `the admin page has the release button for ${productId}`);

  // 3. Release: both tabs show the three sizes, low, enabled.
  await release.click();
  for (const tab of tabs) {
    await waitFor(tab, `article#product-${productId} shows enabled size buttons with class level-low`, (a, h) => {
      const state = h.sizeButtons(a.productId);
      if (!state) return { ok: false, article: null };
      const ids = state.buttons.map((b) => b.id);
      const ok = a.itemIds.every((id) => ids.includes(`item-${id}`)) &&
        state.buttons.length === a.itemIds.length &&
        state.buttons.every((b) => !b.disabled && b.className.split(/\s+/).includes("level-low") &&
          b.click === "add_to_cart") &&
        !state.soon;
      return { ...state, ok };
    }, { productId, itemIds });
  }
  const labels = await one.page.evaluate(
    (ids) => ids.map((id) => document.querySelector(`[id="item-${id}"] .size-name`)?.textContent.trim()),
    itemIds,
  );
  assert(show(labels) === show(sizes.map(([s]) => s)), `the size buttons read ${show(labels)}`);

  // 4. Tab one adds 9.5: tab two's cart shows it, the admin counts one cart holding it.
  await one.page.locator(`article#product-${productId} button.size[id="item-${halfId}"]`).click();
  for (const tab of [two, one]) {
    await waitFor(tab, `aside#cart shows li.cart-item#cart-item-${halfId}`, (a) => {
      const cart = document.querySelector("aside#cart");
      const lines = cart ? [...cart.querySelectorAll("li.cart-item")].map((li) => ({ id: li.id, className: li.className })) : null;
      return { ok: !!lines && lines.some((l) => l.id === `cart-item-${a.halfId}`), cart: !!cart, lines };
    }, { halfId });
  }
  await waitFor(boss, `span#incart-${halfId} shows 1 and span#count-${halfId} shows 2`, (a, h) => {
    const state = h.adminSpans(a.itemIds);
    return { ...state, ok: state.inCarts[a.halfId] === "1" && state.counts[a.halfId] === "2" };
  }, { halfId, itemIds });
  for (const tab of [...tabs, boss]) await assertNoReload(tab);

  // 5. The launch simulator sells every unit.
  const child = spawn(bin, ["simulate", "drops", "--per-tick", "50", "--tick-ms", "100"], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => { output += d; });
  child.stderr.on("data", (d) => { output += d; });
  const exited = new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  onCleanup(async () => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
  let outcome;
  try {
    outcome = await withTimeout(exited, SIMULATOR_MS, `${bin} simulate drops`);
  } catch (err) {
    throw new Error(`${err.message}\n--- simulator output\n${output}`);
  }
  assert(outcome.code === 0, `the simulator exits 0, not ${show(outcome)}\n--- simulator output\n${output}`);

  for (const tab of tabs) {
    await waitFor(tab, `every size button is disabled with class level-out, and the cart line has class out`, (a, h) => {
      const state = h.sizeButtons(a.productId);
      if (!state) return { ok: false, article: null };
      const line = document.querySelector(`aside#cart li[id="cart-item-${a.halfId}"]`);
      const cartLine = line ? line.className : null;
      const ok = state.buttons.length === a.itemIds.length &&
        state.buttons.every((b) => b.disabled && b.className.split(/\s+/).includes("level-out")) &&
        !!line && line.classList.contains("out");
      return { ...state, cartLine, ok };
    }, { productId, itemIds, halfId });
  }
  await waitFor(boss, "every span#count-<item> shows 0", (a, h) => {
    const state = h.adminSpans(a.itemIds);
    return { ...state, ok: Object.values(state.counts).every((c) => c === "0") };
  }, { itemIds });
  for (const tab of [...tabs, boss]) await assertNoReload(tab);

  // The API agrees: every item of the product at 0.
  const after = await (await fetch(`${base}/api/drops/products/${encodeURIComponent(productId)}`)).json();
  const left = (after.product?.items || []).map((i) => i.available);
  assert(left.length === 3 && left.every((c) => c === 0), `GET /api/drops/products/${productId} shows every count at 0: ${show(after)}`);

  assert(problems.length === 0, `no script errors in the pages: ${problems.join("; ")}`);
});

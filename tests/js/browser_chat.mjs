// Two visitors chat in one room through real Chromium pages and cinder.js: the message shows up
// on both pages without a reload, a refused message shows its reason by the form, and a page
// that lost its socket heals on rejoin.
//
//   CINDER_URL=http://127.0.0.1:4321 node browser_chat.mjs

import { assert, baseUrl, launchChromium, randomRoom, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 10_000;

// Runs in each page before its own scripts: counts sockets, lets the test cut them, and can
// refuse new ones (as a server that is down would) so a disconnect lasts as long as we want.
function socketControls() {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__blockSockets = false;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      if (window.__blockSockets) throw new DOMException("blocked by the test", "SyntaxError");
      super(url, protocols);
      window.__sockets.push(this);
    }
  };
}

// What a page's message list shows for one content: [{id, sender}] of matching items.
function itemsWith(page, content) {
  return page.evaluate((text) => {
    return [...document.querySelectorAll("#messages li.message")]
      .filter((li) => (li.querySelector(".content")?.textContent || "").trim() === text)
      .map((li) => ({ id: li.id, sender: (li.querySelector(".sender")?.textContent || "").trim() }));
  }, content);
}

async function waitForItem(page, who, content) {
  try {
    await page.waitForFunction(
      (text) => [...document.querySelectorAll("#messages li.message .content")]
        .some((el) => el.textContent.trim() === text),
      content,
      { timeout: WAIT_MS },
    );
  } catch {
    throw new Error(`${who}'s page never showed "${content}" in #messages within ${WAIT_MS} ms`);
  }
}

async function waitConnected(page, who, want = "true") {
  try {
    await page.waitForFunction(
      (v) => document.documentElement.dataset.cinderConnected === v,
      want,
      { timeout: WAIT_MS },
    );
  } catch {
    const now = await page.evaluate(() => document.documentElement.dataset.cinderConnected);
    throw new Error(`${who}'s page: data-cinder-connected is ${JSON.stringify(now)}, not "${want}"`);
  }
}

// A new visitor opens the room, picks a name with the plain (no-JS) form, and comes back live.
async function visitor(browser, onCleanup, room, name) {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`${name}: page error: ${err.message}`));
  await page.addInitScript(socketControls);

  const roomUrl = `${baseUrl()}/chat/${room}`;
  const res = await page.goto(roomUrl, { waitUntil: "domcontentloaded" });
  assert(res && res.ok(), `GET ${roomUrl} answered ${res && res.status()}`);
  const nameForm = page.locator("#name-form");
  assert(await nameForm.count() === 1, `${name}: a new visitor sees #name-form on ${roomUrl}`);
  await nameForm.locator('input[name="name"]').fill(name);
  await nameForm.locator('input[name="name"]').press("Enter");
  // The POST redirects back to the room, which now has the send form instead of the name form.
  try {
    await page.locator("#send-form").waitFor({ timeout: WAIT_MS });
  } catch {
    throw new Error(`${name}: after submitting #name-form, ${page.url()} shows no #send-form`);
  }
  const path = new URL(page.url()).pathname;
  assert(path === `/chat/${room}`, `${name}: the name form redirects back to /chat/${room}, not ${path}`);
  await waitConnected(page, name);
  await page.evaluate(() => { window.__marker = 1; });
  return { page, problems };
}

async function assertNoReload(page, who) {
  const marker = await page.evaluate(() => window.__marker);
  assert(marker === 1, `${who}'s page was not reloaded or navigated (window.__marker survived)`);
}

await runTest("browser_chat", async (onCleanup) => {
  baseUrl();
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const room = randomRoom("browser");

  const ada = await visitor(browser, onCleanup, room, "Ada");
  const bob = await visitor(browser, onCleanup, room, "Bob");
  const input = ada.page.locator('#send-form input[name="content"]');

  // 1. Ada's message reaches both pages, once each, live.
  const first = `hello from Ada ${Date.now()}`;
  await input.fill(first);
  await input.press("Enter");
  await waitForItem(ada.page, "Ada", first);
  await waitForItem(bob.page, "Bob", first);
  await sleep(500); // a late duplicate (reply patch plus broadcast) would show up by now
  for (const [who, v] of [["Ada", ada], ["Bob", bob]]) {
    const items = await itemsWith(v.page, first);
    assert(items.length === 1, `${who}'s page shows the message exactly once: ${JSON.stringify(items)}`);
    assert(items[0].sender === "Ada", `${who}'s page shows sender "Ada": ${JSON.stringify(items)}`);
    assert(/^message-./.test(items[0].id), `the item's id is message-<id>: ${JSON.stringify(items)}`);
    await assertNoReload(v.page, who);
  }
  try {
    // The broadcast can beat the reply, so the reset may come a moment after the item.
    await ada.page.waitForFunction(
      () => document.querySelector('#send-form input[name="content"]').value === "",
      null,
      { timeout: WAIT_MS },
    );
  } catch {
    throw new Error(`Ada's input is not cleared after an accepted message: ${await input.inputValue()}`);
  }

  // 2. A blank message is refused by the form, in words, and adds nothing.
  const countItems = (page) => page.locator("#messages li.message").count();
  const before = [await countItems(ada.page), await countItems(bob.page)];
  await input.fill("   ");
  await input.press("Enter");
  const refusal = "a message can't be empty";
  try {
    await ada.page.waitForFunction(
      (text) => (document.querySelector("#send-form [data-cinder-error-for='content']")?.textContent || "")
        .includes(text),
      refusal,
      { timeout: WAIT_MS },
    );
  } catch {
    const shown = await ada.page.evaluate(
      () => document.querySelector("#send-form [data-cinder-error-for='content']")?.textContent ?? null,
    );
    throw new Error(`#send-form [data-cinder-error-for='content'] should say "${refusal}", shows ${JSON.stringify(shown)}`);
  }
  await sleep(300);
  const after = [await countItems(ada.page), await countItems(bob.page)];
  assert(
    after[0] === before[0] && after[1] === before[1],
    `no message item appeared for the refused message: before ${before}, after ${after}`,
  );
  await assertNoReload(ada.page, "Ada");

  // 3. Bob loses his socket and stays offline while Ada writes; on rejoin his page heals,
  //    without a reload and without duplicates.
  await bob.page.evaluate(() => {
    window.__blockSockets = true;
    window.__sockets.forEach((s) => s.close());
  });
  await waitConnected(bob.page, "Bob", "false");
  const second = `while Bob was away ${Date.now()}`;
  await input.fill(second);
  await input.press("Enter");
  await waitForItem(ada.page, "Ada", second);
  assert((await itemsWith(bob.page, second)).length === 0, "Bob, offline, cannot have the message yet");
  await bob.page.evaluate(() => { window.__blockSockets = false; });
  await waitConnected(bob.page, "Bob");
  await waitForItem(bob.page, "Bob", second);
  for (const text of [first, second]) {
    const items = await itemsWith(bob.page, text);
    assert(items.length === 1, `after rejoin Bob's page shows "${text}" once: ${JSON.stringify(items)}`);
  }
  await assertNoReload(bob.page, "Bob");

  const problems = [...ada.problems, ...bob.problems];
  assert(problems.length === 0, `no script errors in the pages: ${problems.join("; ")}`);
});

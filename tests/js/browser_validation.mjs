// Validation as you type, in Chromium: a form marked data-cinder-validate asks the server (the
// same domain rules as on submit) while it is filled in, and shows each refusal by its own
// field before anything is submitted; fields not touched yet say nothing; fixing a field
// clears its error; a submit shows every field's refusal by its field, and nothing is added.
// An answer that lands while a button is held down waits for the release (it could move the
// button from under the pointer), and the click goes through.
//
//   CINDER_URL=http://127.0.0.1:4321 node browser_validation.mjs

import { assert, baseUrl, launchChromium, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 10_000;
const show = (v) => JSON.stringify(v);

// {field: text} of the form's field errors, and whether each field is marked invalid.
const fieldErrors = (page, form) => page.evaluate((sel) => {
  const f = document.querySelector(sel);
  return Object.fromEntries([...f.querySelectorAll("[data-cinder-error-for]")]
    .filter((e) => e.textContent !== "")
    .map((e) => {
      const name = e.dataset.cinderErrorFor;
      const field = f.elements.namedItem(name);
      const described = (field.getAttribute("aria-describedby") || "").split(" ").includes(e.id);
      return [name, { text: e.textContent, invalid: field.getAttribute("aria-invalid") === "true", described }];
    }));
}, form);

async function waitErrors(page, form, want, what) {
  const deadline = Date.now() + WAIT_MS;
  let now;
  for (;;) {
    now = await fieldErrors(page, form);
    if (show(Object.keys(now).sort()) === show([...want].sort())) return now;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(`${what}: the fields with errors are ${show(now)}, not ${show(want)}`);
}

await runTest("browser_validation", async (onCleanup) => {
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  // The socket goes through the test, which counts submits and can hold the server's frames
  // back for a moment.
  let submits = 0;
  let heldBack = null;
  await page.routeWebSocket(/\/socket\//, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((frame) => {
      if (String(frame).includes('"type":"submit"')) submits += 1;
      server.send(frame);
    });
    server.onMessage((frame) => (heldBack ? heldBack.push(frame) : ws.send(frame)));
    page.deliverHeldBack = () => {
      const frames = heldBack || [];
      heldBack = null;
      frames.forEach((frame) => ws.send(frame));
    };
  });

  await page.goto(`${baseUrl()}/bookmarks`, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => document.documentElement.dataset.cinderConnected === "true");
  const form = "#bookmark-form";
  const count = () => page.locator("#bookmarks li.bookmark").count();
  const before = await count();

  // A bad URL is refused by its field while typing; the untouched title says nothing yet.
  await page.locator(`${form} [name=url]`).pressSequentially("not a url", { delay: 20 });
  const shown = await waitErrors(page, form, ["url"], "after typing a bad URL");
  assert(/http|url|absolute/i.test(shown.url.text) && shown.url.invalid && shown.url.described,
    `the URL's refusal is by the field, marked invalid and named by aria-describedby: ${show(shown)}`);

  // Bad tags too; then fixing the URL clears its error, the tags' stays.
  await page.locator(`${form} [name=tags]`).fill("ok, not ok!");
  await page.locator(`${form} [name=tags]`).blur();
  await waitErrors(page, form, ["url", "tags"], "after bad tags");
  await page.locator(`${form} [name=url]`).fill("https://example.com/fine");
  const fixed = await waitErrors(page, form, ["tags"], "after fixing the URL");
  const url = await page.evaluate((sel) => document.querySelector(`${sel} [name=url]`).getAttribute("aria-invalid"), form);
  assert(url === null, `a fixed field is no longer marked invalid: ${show({ url, fixed })}`);
  assert(submits === 0, `nothing was submitted while typing (${submits} submits)`);

  // Submitting shows every refusal by its field, the untouched title too; nothing is added.
  await page.locator(`${form} button[type=submit]`).click();
  const all = await waitErrors(page, form, ["title", "tags"], "after submitting");
  assert(/blank/.test(all.title.text), `the title says it can't be blank: ${show(all)}`);
  const formError = await page.evaluate((sel) => document.querySelector(`${sel} [data-cinder-error]`)?.textContent ?? "", form);
  assert(formError === "", `the refusals are by their fields, not joined into one sentence: ${show(formError)}`);
  await sleep(300);
  assert(await count() === before, "nothing was added");

  // Fixed, then Add pressed at once: the press takes the focus from the tags, and the answer
  // to their validation (nothing wrong) arrives while the button is held down (the test holds
  // the server's frames back until then). The refusals stay until the release, so nothing moves
  // under the pointer, and the click adds the bookmark.
  const button = await page.locator(`${form} button[type=submit]`).boundingBox();
  await page.mouse.move(button.x + button.width / 2, button.y + button.height / 2);
  heldBack = [];
  await page.locator(`${form} [name=title]`).fill("Held down");
  await page.locator(`${form} [name=tags]`).fill("held");
  await page.mouse.down();
  const deadline = Date.now() + WAIT_MS;
  const answered = () => heldBack.some((f) => String(f).includes('"response":{"errors":{}}'));
  while (!answered() && Date.now() < deadline) await sleep(50);
  assert(answered(), "the validation answer came while the button was held");
  page.deliverHeldBack();
  await sleep(300);
  const held = await fieldErrors(page, form);
  assert(show(Object.keys(held).sort()) === show(["tags", "title"]),
    `while the button is held, the refusals stay where they are: ${show(held)}`);
  const sent = submits;
  await page.mouse.up();
  await waitErrors(page, form, [], "after the click");
  await page.waitForFunction((n) => document.querySelectorAll("#bookmarks li.bookmark").length > n, before);
  assert(submits === sent + 1, `the held click was sent, once (${submits - sent} submits)`);

  // Chat's message field: the same as you type.
  await page.goto(`${baseUrl()}/chat/validation-room`, { waitUntil: "domcontentloaded" });
  await page.locator('#name-form input[name="name"]').fill("Val");
  await page.locator('#name-form input[name="name"]').press("Enter");
  await page.locator("#send-form").waitFor();
  await page.waitForFunction(() => document.documentElement.dataset.cinderConnected === "true");
  await page.locator('#send-form [name=content]').pressSequentially("x   ", { delay: 20 });
  await page.locator('#send-form [name=content]').press("Backspace");
  await page.locator('#send-form [name=content]').fill("   ");
  const chat = await waitErrors(page, "#send-form", ["content"], "after blanking a message");
  assert(chat.content.text === "a message can't be empty", `the chat field says why: ${show(chat)}`);

  assert(problems.length === 0, `no script errors: ${problems.join("; ")}`);
});

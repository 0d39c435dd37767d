// What a live page does when its server goes away, in real Chromium pages against a real
// `cinder serve` process that the test kills (SIGKILL) and starts again on the same port and data
// dir: a banner (role=status) says the connection is lost while it is, the chat form stays on the
// page (no fallback POST to a dead server), what was typed is kept, the message sent meanwhile
// waits and goes out after the reconnect (once), and the banner says "Back online". Then flash:
// a refused bookmark shows its error by the form, the next accepted one (clicked right after
// typing) clears it, says "Bookmark added", and its button has not moved; a pending form never
// shows the busy cursor.
//
//   CINDER_BIN=target/debug/cinder node browser_connection.mjs

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert, launchChromium, randomRoom, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 15_000;
const show = (v) => JSON.stringify(v);

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// A `cinder serve` on the embedded store in `dataDir`, answering /healthz.
async function startNode(bin, port, dataDir, onCleanup) {
  const childEnv = { ...process.env, RUST_LOG: "warn" };
  delete childEnv.DATABASE_URL;
  const child = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dataDir], {
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => { output += d; });
  child.stderr.on("data", (d) => { output += d; });
  onCleanup(async () => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return child;
    } catch { /* not listening yet */ }
    if (child.exitCode !== null) throw new Error(`cinder serve exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`cinder serve did not answer /healthz in 30 s:\n${output}`);
    await sleep(100);
  }
}

async function kill(child) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

async function waitConnected(page, who, want = "true") {
  try {
    await page.waitForFunction((v) => document.documentElement.dataset.cinderConnected === v, want,
      { timeout: WAIT_MS });
  } catch {
    const now = await page.evaluate(() => document.documentElement.dataset.cinderConnected);
    throw new Error(`${who}: data-cinder-connected is ${show(now)}, not ${show(want)}`);
  }
}

async function visitor(browser, onCleanup, base, room, name) {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`${name}: page error: ${err.message}`));
  await page.goto(`${base}/chat/${room}`, { waitUntil: "domcontentloaded" });
  await page.locator('#name-form input[name="name"]').fill(name);
  await page.locator('#name-form input[name="name"]').press("Enter");
  await page.locator("#send-form").waitFor();
  await waitConnected(page, name);
  await page.evaluate(() => { window.__marker = 1; });
  return page;
}

const banner = (page) => page.evaluate(() => {
  const el = document.getElementById("cinder-status");
  return el ? { shown: !el.hidden, role: el.getAttribute("role"), text: el.textContent.trim() } : null;
});

const listed = (page, text) => page.evaluate((t) =>
  [...document.querySelectorAll("#messages li.message .content")].filter((c) => c.textContent === t).length, text);

await runTest("browser_connection", async (onCleanup) => {
  const bin = env("CINDER_BIN");
  const dataDir = mkdtempSync(join(tmpdir(), "cinder-connection-"));
  onCleanup(async () => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let node = await startNode(bin, port, dataDir, onCleanup);

  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const room = randomRoom("outage");
  const ada = await visitor(browser, onCleanup, base, room, "Ada");
  const bob = await visitor(browser, onCleanup, base, room, "Bob");
  assert((await banner(ada)) === null || !(await banner(ada)).shown, "no banner while connected");

  // 1. The server dies: a banner says so.
  await kill(node);
  await waitConnected(ada, "Ada", "false");
  try {
    await ada.waitForFunction(() => {
      const el = document.getElementById("cinder-status");
      return el && !el.hidden && /Connection lost/.test(el.textContent);
    }, null, { timeout: WAIT_MS });
  } catch {
    throw new Error(`Ada's page shows no "Connection lost" banner: ${show(await banner(ada))}`);
  }
  const down = await banner(ada);
  assert(down.role === "status", `the banner is a status (role=status) for screen readers: ${show(down)}`);

  // 2. Ada sends a message anyway: the page stays, the text stays, and it says it is waiting.
  const text = `sent while the server was down ${Date.now()}`;
  const input = ada.locator('#send-form input[name="content"]');
  await input.fill(text);
  await input.press("Enter");
  await sleep(500);
  const waiting = await ada.evaluate(() => ({
    marker: window.__marker,
    path: location.pathname,
    value: document.querySelector('#send-form input[name="content"]').value,
    queued: document.querySelector("#send-form").hasAttribute("data-cinder-queued"),
    said: document.querySelector("#send-form [data-cinder-error]")?.textContent || "",
  }));
  assert(waiting.marker === 1 && waiting.path === `/chat/${room}`,
    `Ada's page stayed (no fallback POST to a dead server): ${show(waiting)}`);
  assert(waiting.value === text, `what Ada typed is still in the field: ${show(waiting)}`);
  assert(waiting.queued && /Not sent yet/.test(waiting.said),
    `the form says the message waits for the connection: ${show(waiting)}`);

  // 3. The server is back: both pages rejoin, the waiting message goes out once, "Back online".
  node = await startNode(bin, port, dataDir, onCleanup);
  await waitConnected(ada, "Ada");
  await waitConnected(bob, "Bob");
  for (const [who, page] of [["Ada", ada], ["Bob", bob]]) {
    try {
      await page.waitForFunction((t) => [...document.querySelectorAll("#messages li.message .content")]
        .some((c) => c.textContent === t), text, { timeout: WAIT_MS });
    } catch {
      throw new Error(`${who}'s page never showed the message sent while the server was down`);
    }
  }
  const back = await banner(ada);
  assert(back && (!back.shown || /Back online/.test(back.text)), `the banner says "Back online" or is gone: ${show(back)}`);
  await ada.waitForFunction(() => document.getElementById("cinder-status").hidden, null, { timeout: WAIT_MS });
  await sleep(500);
  for (const [who, page] of [["Ada", ada], ["Bob", bob]]) {
    assert(await listed(page, text) === 1, `${who}'s page shows the message once`);
    assert(await page.evaluate(() => window.__marker) === 1, `${who}'s page was never reloaded`);
  }
  const after = await ada.evaluate(() => ({
    value: document.querySelector('#send-form input[name="content"]').value,
    queued: document.querySelector("#send-form").hasAttribute("data-cinder-queued"),
    said: document.querySelector("#send-form [data-cinder-error]")?.textContent || "",
  }));
  assert(after.value === "" && !after.queued && after.said === "", `once sent, the form is ready again: ${show(after)}`);

  // 4. Flash: an error by the form, cleared by the next success, which says what happened.
  await ada.goto(`${base}/bookmarks`, { waitUntil: "domcontentloaded" });
  await waitConnected(ada, "Ada on /bookmarks");
  const form = ada.locator("#bookmark-form");
  await form.locator("button[type=submit]").click();
  await ada.waitForFunction(() => /blank/i.test(document.querySelector('#bookmark-form [data-cinder-error-for="title"]')?.textContent || ""));
  // While a push is pending the form and its button say so, without the busy cursor.
  const pending = await ada.evaluate(() => {
    const f = document.querySelector("#bookmark-form");
    const b = f.querySelector("button[type=submit]");
    f.setAttribute("aria-busy", "true");
    b.disabled = true;
    const state = { form: getComputedStyle(f).cursor, button: getComputedStyle(b).cursor,
      dot: getComputedStyle(b, "::after").content };
    f.removeAttribute("aria-busy");
    b.disabled = false;
    return state;
  });
  assert(!["wait", "progress"].includes(pending.form) && !["wait", "progress"].includes(pending.button) &&
    pending.dot !== "none", `a pending form shows its own sign, not the busy cursor: ${show(pending)}`);
  // Where the button is while the refusals show: their lines keep their place once they clear.
  const refusedAt = await form.locator("button[type=submit]").boundingBox();
  await form.locator("[name=title]").fill("Flash works");
  await form.locator("[name=url]").fill("https://example.com/flash");
  // Clicked at once: the press takes the focus from the URL field, whose validation answer
  // empties the error lines above the button, before or during the click. Once the lines moved
  // the button between the press and the release, and no click happened (2 runs in about 50).
  await form.locator("button[type=submit]").click();
  try {
    await ada.waitForFunction(() => {
      const toast = document.getElementById("cinder-flash");
      return toast && !toast.hidden && toast.textContent === "Bookmark added" &&
        toast.getAttribute("role") === "status" &&
        [...document.querySelectorAll("#bookmark-form [data-cinder-error], #bookmark-form [data-cinder-error-for]")]
          .every((e) => e.textContent === "");
    }, null, { timeout: WAIT_MS });
  } catch {
    const state = await ada.evaluate(() => ({
      toast: document.getElementById("cinder-flash")?.textContent ?? null,
      error: [...document.querySelectorAll("#bookmark-form [data-cinder-error], #bookmark-form [data-cinder-error-for]")]
        .map((e) => e.textContent).join(" "),
    }));
    throw new Error(`after a success the error is gone and "Bookmark added" shows: ${show(state)}`);
  }
  const clearedAt = await form.locator("button[type=submit]").boundingBox();
  assert(clearedAt.x === refusedAt.x && clearedAt.y === refusedAt.y,
    `the refusals' lines keep their place when they clear: the button stays put: ${show({ refusedAt, clearedAt })}`);

  const problems = [...ada.problems, ...bob.problems];
  assert(problems.length === 0, `no script errors: ${problems.join("; ")}`);
}, { limitMs: 85_000 });

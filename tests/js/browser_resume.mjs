// Resume without loss, in real Chromium: a chat page reaches its server through a TCP proxy in
// this script, which the test cuts. A message posted by someone else while the page is cut off
// arrives once it reconnects, exactly once, and without a re-render: the join reply carries just
// that message (an append), never the whole list, so the list and the messages it already showed
// are the same DOM nodes. Then the proxy is pointed at a second node on the same Postgres: the
// page moves there and, again, every message shows exactly once.
//
//   CINDER_URL=http://127.0.0.1:4321 CINDER_URL_B=http://127.0.0.1:4322 node browser_resume.mjs

import net from "node:net";
import { assert, baseUrl, launchChromium, randomRoom, runTest, sleep } from "./lib.mjs";

const WAIT_MS = 20_000;
const show = (v) => JSON.stringify(v);

// A TCP proxy to `target` (a port) that the test can cut (every connection dropped, new ones
// refused) and point elsewhere.
async function proxy(target) {
  const open = new Set();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) { client.destroy(); return; }
    const upstream = net.connect(target, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    cut() { cut = true; for (const socket of open) socket.destroy(); open.clear(); },
    restore(newTarget = target) { target = newTarget; cut = false; },
    close() { this.cut(); return new Promise((resolve) => server.close(resolve)); },
  };
}

// Runs in the page before its scripts: every frame the page receives, kept for the test.
function recordFrames() {
  const Native = window.WebSocket;
  window.__frames = [];
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("message", (e) => {
        try { window.__frames.push(JSON.parse(e.data)); } catch { /* not ours */ }
      });
    }
  };
}

// The patch ops in `frames`: join replies' and pushes'.
function opsOf(frames) {
  return frames.flatMap((f) => {
    if (f[3] === "phx_reply") return (f[4] && f[4].response && f[4].response.patches) || [];
    if (f[3] === "patch") return (f[4] && f[4].ops) || [];
    return [];
  });
}

async function post(base, room, sender, content) {
  const res = await fetch(`${base}/api/chat/rooms/${room}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sender, content }),
  });
  assert(res.status === 201, `POST to ${base} answered ${res.status}`);
}

async function waitConnected(page, want) {
  try {
    await page.waitForFunction((v) => document.documentElement.dataset.cinderConnected === v, want,
      { timeout: WAIT_MS });
  } catch {
    const now = await page.evaluate(() => document.documentElement.dataset.cinderConnected);
    throw new Error(`data-cinder-connected is ${show(now)}, not ${show(want)}`);
  }
}

// How many times each message content shows on the page, in order.
const shown = (page) => page.evaluate(() =>
  [...document.querySelectorAll("#messages li.message .content")].map((c) => c.textContent));

async function waitShown(page, text) {
  try {
    await page.waitForFunction((t) => [...document.querySelectorAll("#messages li.message .content")]
      .some((c) => c.textContent === t), text, { timeout: WAIT_MS });
  } catch {
    throw new Error(`the page never showed ${show(text)}: ${show(await shown(page))}`);
  }
}

function once(list, texts, where) {
  for (const text of texts) {
    const n = list.filter((t) => t === text).length;
    assert(n === 1, `${where}: ${show(text)} shows ${n} times, not once: ${show(list)}`);
  }
}

await runTest("browser_resume", async (onCleanup) => {
  const a = baseUrl();
  const b = (process.env.CINDER_URL_B || "").replace(/\/+$/, "");
  assert(b, "CINDER_URL_B (a second node on the same Postgres) is set");
  const portOf = (url) => Number(new URL(url).port);
  const tunnel = await proxy(portOf(a));
  onCleanup(() => tunnel.close());
  const via = `http://127.0.0.1:${tunnel.port}`;

  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const context = await browser.newContext();
  onCleanup(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  await page.addInitScript(recordFrames);

  const room = randomRoom("resume");
  await post(a, room, "Bob", "before the page");
  await page.goto(`${via}/chat/${room}`, { waitUntil: "domcontentloaded" });
  await page.locator('#name-form input[name="name"]').fill("Ada");
  await page.locator('#name-form input[name="name"]').press("Enter");
  await page.locator("#send-form").waitFor();
  await waitConnected(page, "true");
  await post(a, room, "Bob", "seen live");
  await waitShown(page, "seen live");
  await page.evaluate(() => {
    window.__marker = 1;
    window.__list = document.getElementById("messages");
    window.__items = [...window.__list.children];
  });

  // 1. Cut off; a message is posted meanwhile; back, it arrives once, in the join reply.
  const mark = await page.evaluate(() => window.__frames.length);
  tunnel.cut();
  await waitConnected(page, "false");
  await post(a, room, "Bob", "while away");
  await sleep(300);
  tunnel.restore();
  await waitConnected(page, "true");
  await waitShown(page, "while away");
  await sleep(300);
  once(await shown(page), ["before the page", "seen live", "while away"], "after reconnecting");
  const after = await page.evaluate((m) => ({
    marker: window.__marker,
    sameList: document.getElementById("messages") === window.__list,
    sameItems: window.__items.every((li) => li.isConnected && li.parentNode === window.__list),
    frames: window.__frames.slice(m),
  }), mark);
  assert(after.marker === 1, "the page was never reloaded");
  const ops = opsOf(after.frames);
  assert(!ops.some((op) => op.op === "replace" && op.id === "messages"),
    `no re-render of the whole list arrived: ${show(ops)}`);
  assert(after.sameList && after.sameItems, "the list and the messages it showed are the same DOM nodes");
  const joinReplies = after.frames.filter((f) => f[3] === "phx_reply" && f[4]?.response?.patches);
  assert(joinReplies.some((f) => f[4].response.patches.some((op) =>
    op.op === "append" && op.id === "messages" && op.html.includes("while away"))),
  `the rejoin's reply carried the missed message: ${show(joinReplies)}`);

  // 2. Moved to node B (same Postgres): cut off, a message is posted on B, the proxy now leads to
  // B. Every message shows exactly once.
  tunnel.cut();
  await waitConnected(page, "false");
  await post(b, room, "Cy", "while moving");
  await sleep(300);
  tunnel.restore(portOf(b));
  await waitConnected(page, "true");
  await waitShown(page, "while moving");
  // And live on B.
  await post(b, room, "Cy", "live on b");
  await waitShown(page, "live on b");
  await sleep(300);
  once(await shown(page), ["before the page", "seen live", "while away", "while moving", "live on b"],
    "on node B");
  const onB = await page.evaluate(() => ({
    marker: window.__marker,
    sameList: document.getElementById("messages") === window.__list,
  }));
  assert(onB.marker === 1, "the page was never reloaded");
  assert(onB.sameList, "node B too sent only what the page missed, not the whole list");
  assert(problems.length === 0, `no script errors: ${problems.join("; ")}`);
}, { limitMs: 150_000 });

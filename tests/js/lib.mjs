// Shared bits of the JS tests: the server URL, timeouts, random rooms and a headless Chromium.
//
// Every test is a standalone node program run against an already running server:
//   CINDER_URL=http://127.0.0.1:4321 node phoenix_chat.mjs
// It exits 0 on success and 1 with a message on failure, and never runs longer than its watchdog.

import { randomBytes } from "node:crypto";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

// The flags keep Chromium quiet and offline apart from the server under test. Playwright adds its
// own (a fresh temporary --user-data-dir, --remote-debugging-pipe, ...) and removes the profile
// when the browser closes.
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

/** The server's base URL from CINDER_URL, without a trailing slash. */
export function baseUrl() {
  const raw = process.env.CINDER_URL;
  if (!raw) throw new Error("CINDER_URL is not set (e.g. CINDER_URL=http://127.0.0.1:4321)");
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`CINDER_URL is not a URL: ${raw}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`CINDER_URL must be http(s): ${raw}`);
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** The websocket form of the base URL (http -> ws, https -> wss). */
export function wsUrl(base = baseUrl()) {
  return base.replace(/^http/, "ws");
}

/** A fresh room name matching [a-z0-9-]{1,64}, so runs never see each other's messages. */
export function randomRoom(prefix = "t") {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Resolves like `promise`, or rejects with "timed out after Nms: what". */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** Launches the system Chromium (never downloads one). */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
}

/**
 * Runs a test body with a watchdog: prints "ok <name>" and exits 0, or prints the failure and
 * exits 1. `cleanup` runs in both cases (closing a browser, a socket) but cannot hang the exit.
 * Exiting explicitly also ends any socket or timer the body left behind.
 */
export async function runTest(name, body, { limitMs = 55_000 } = {}) {
  const cleanups = [];
  const onCleanup = (fn) => cleanups.push(fn);
  const watchdog = setTimeout(() => {
    console.error(`FAIL ${name}: did not finish within ${limitMs} ms`);
    process.exit(1); // Playwright kills the browser it launched on exit
  }, limitMs);
  let code = 0;
  try {
    await body(onCleanup);
    console.log(`ok ${name}`);
  } catch (err) {
    code = 1;
    console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
  for (const fn of cleanups.reverse()) {
    try {
      await withTimeout(fn(), 5_000, "cleanup");
    } catch (err) {
      console.error(`(cleanup: ${err.message})`);
    }
  }
  clearTimeout(watchdog);
  process.exit(code);
}

import { assert, baseUrl, launchChromium, runTest, sleep } from "./lib.mjs";
await runTest("adhoc", async (onCleanup) => {
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const ctx = await browser.newContext();
  const a = await ctx.newPage(); const b = await ctx.newPage();
  const errs = []; for (const p of [a,b]) p.on("pageerror", e => errs.push(e.message));
  for (const p of [a, b]) { await p.goto(baseUrl() + "/todos"); await p.waitForFunction(() => document.documentElement.dataset.cinderConnected === "true"); }
  await a.bringToFront();
  await a.locator("input.new-todo").fill("alpha"); await a.locator("input.new-todo").press("Enter");
  await a.locator("input.new-todo").fill("beta"); await a.locator("input.new-todo").press("Enter");
  await b.waitForFunction(() => document.querySelectorAll("#todo-list li").length === 2);
  // (a) no-op edit with Enter leaves edit mode
  await a.locator("#todo-1 label.title").dblclick();
  await a.locator("#todo-1 input.edit").fill(" alpha ");
  await a.locator("#todo-1 input.edit").press("Enter");
  await a.waitForFunction(() => !document.querySelector("#todo-1").classList.contains("editing"));
  console.log("a ok", await a.locator("#todo-1 input.edit").inputValue());
  // (b) b edits todo 2 while a toggles it
  await b.bringToFront();
  await b.locator("#todo-2 label.title").dblclick();
  await b.locator("#todo-2 input.edit").fill("beta typed");
  await a.evaluate(() => document.querySelector("#todo-2 button.toggle").click());
  await b.waitForFunction(() => document.querySelector("#todo-2").classList.contains("completed"));
  const st = await b.evaluate(() => ({ cls: document.querySelector("#todo-2").className, v: document.querySelector("#todo-2 input.edit").value, focus: document.activeElement === document.querySelector("#todo-2 input.edit") }));
  console.log("b during edit", JSON.stringify(st));
  await b.locator("#todo-2 input.edit").press("Enter");
  await a.waitForFunction(() => document.querySelector("#todo-2 label.title").textContent === "beta typed");
  console.log("b saved");
  // (c) edit to empty deletes
  await a.bringToFront();
  await a.locator("#todo-1 label.title").dblclick();
  await a.locator("#todo-1 input.edit").fill("");
  await a.locator("#todo-1 input.edit").press("Enter");
  await b.waitForFunction(() => !document.querySelector("#todo-1"));
  console.log("c deleted");
  // (d) no JS
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const n = await nojs.newPage();
  await n.goto(baseUrl() + "/todos");
  await n.locator("input.new-todo").fill("plain one"); await n.locator("input.new-todo").press("Enter");
  await n.waitForURL(/\/todos$/);
  assert(await n.locator("#todo-list li").count() === 1, "added without js");
  await n.locator("#todo-list li button.toggle").click();
  await n.waitForLoadState();
  console.log("toggled:", await n.locator("#todo-list li").getAttribute("class"));
  await n.locator("#todo-list li a.edit-link").click();
  await n.waitForURL(/edit=/);
  console.log("edit visible:", await n.locator("#todo-list li input.edit").isVisible());
  await n.locator("#todo-list li input.edit").fill("plain renamed"); await n.locator("#todo-list li input.edit").press("Enter");
  await n.waitForURL(/\/todos$/);
  console.log("renamed:", await n.locator("#todo-list li label.title").textContent());
  await n.locator("#todo-footer button.clear-completed").click();
  await n.waitForURL(/\/todos$/);
  console.log("after clear:", await n.locator("#todo-list li").count(), await n.locator("#todo-footer").getAttribute("hidden"));
  await n.screenshot({ path: "/tmp/todos-try/nojs.png" });
  await a.screenshot({ path: "/tmp/todos-try/a.png" });
  console.log("errors", errs);
});

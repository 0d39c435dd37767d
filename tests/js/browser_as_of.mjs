// The event explorer's "as of" view in headless Chromium: open a chat room's history, pick an
// early event, and see the room rebuilt with only the messages up to it.
import { assert, baseUrl, launchChromium, randomRoom, runTest } from "./lib.mjs";

await runTest("browser_as_of", async (cleanup) => {
  const room = randomRoom();
  const contents = ["first words", "second thoughts", "third time"];
  for (const [i, content] of contents.entries()) {
    const response = await fetch(`${baseUrl()}/api/chat/rooms/${room}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sender: `writer${i}`, content }),
    });
    assert(response.status === 201, `message ${i} was not created: ${response.status}`);
  }

  const browser = await launchChromium();
  cleanup(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${baseUrl()}/events/Room/${room}`);
  const links = page.locator("a.as-of");
  assert((await links.count()) === 3, "one 'as of' link per event");
  await links.nth(1).click();
  await page.waitForURL(/\/at\/\d+$/);

  const shown = await page.locator("#as-of .message .content").allTextContents();
  assert(
    JSON.stringify(shown.map((s) => s.trim())) === JSON.stringify(contents.slice(0, 2)),
    `as of the second event the room shows the first two messages, got ${JSON.stringify(shown)}`,
  );
  const heading = await page.locator("h1").textContent();
  assert(heading.includes("as of event 2"), `heading names the event: ${heading}`);
});

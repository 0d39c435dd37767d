// The bookmarks firehose with the official Phoenix JS client, as an outside program would follow
// it: join `bookmarks:firehose` while the traffic simulator adds a public bookmark every 200 ms,
// collect the `bookmark_created` pushes for a few seconds, and check them against the HTTP list:
// every push well formed, none twice, none missing in between, and no gap between the join
// reply and the first push. Then a tag feed's join reply holds only that tag.
//
// The server must run with the simulator:
//   cinder serve --simulate-bookmarks=200ms
//   CINDER_URL=http://127.0.0.1:4321 node phoenix_bookmarks.mjs

import { assert, baseUrl, runTest, sleep, withTimeout } from "./lib.mjs";
import { openSocket } from "./phoenix_socket.mjs";

const STEP_MS = 10_000;
const COLLECT_MS = 3_000;
const KEYS = ["id", "title", "description", "url", "public", "tags", "inserted_at"];

// What the simulator draws from (SPEC §6, Bookmarks).
const ADJECTIVES = ["Amazing", "Brilliant", "Clever", "Dynamic", "Elegant", "Fantastic", "Great",
  "Helpful", "Innovative", "Joyful"];
const TOPICS = ["Elixir", "Phoenix", "JavaScript", "React", "Vue", "Angular", "Ruby", "Python", "Go",
  "Rust"];
const NOUNS = ["Tutorial", "Guide", "Project", "Framework", "Library", "Tool", "Resource", "Platform",
  "Service", "Application"];
const DOMAINS = ["example.com", "tutorial-site.dev", "learn-tech.io", "codebase.edu",
  "dev-resources.net"];
const TITLE_RE = new RegExp(
  `^(${ADJECTIVES.join("|")}) (${TOPICS.join("|")}) (${NOUNS.join("|")})$`,
);

const show = (v) => JSON.stringify(v);

// Turns a phoenix Push into a promise of {status, response}; "timeout" becomes a rejection.
function reply(push, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      push
        .receive("ok", (response) => resolve({ status: "ok", response }))
        .receive("error", (response) => resolve({ status: "error", response }))
        .receive("timeout", () => reject(new Error(`no reply to ${what}`)));
    }),
    STEP_MS + 1_000,
    what,
  );
}

// The problems with one bookmark's shape (any bookmark, not only simulated ones).
function shapeProblems(b) {
  if (!b || typeof b !== "object" || Array.isArray(b)) return [`not an object: ${show(b)}`];
  const problems = [];
  for (const key of KEYS) if (!(key in b)) problems.push(`missing "${key}"`);
  if (typeof b.id !== "string" && typeof b.id !== "number") problems.push("id is not a string or number");
  if (b.id === "") problems.push("id is empty");
  for (const key of ["title", "description", "url"]) {
    if (typeof b[key] !== "string") problems.push(`${key} is not a string`);
  }
  if (b.public !== true) problems.push(`public is ${show(b.public)}, not true`);
  if (!Array.isArray(b.tags)) {
    problems.push("tags is not an array");
  } else if (!b.tags.every((t) => typeof t === "string" && t.length > 0 && t === t.toLowerCase())) {
    problems.push("tags are not all non-empty lower-case strings");
  }
  if (typeof b.inserted_at !== "string" || Number.isNaN(Date.parse(b.inserted_at))) {
    problems.push(`inserted_at ${show(b.inserted_at)} is not a date-time string`);
  }
  return problems;
}

// The problems with a bookmark the simulator made: title, description, url and tags as SPEC §6.
function simulatedProblems(b) {
  const problems = shapeProblems(b);
  if (problems.length) return problems;
  const m = TITLE_RE.exec(b.title);
  if (!m) return [`title ${show(b.title)} is not "<Adjective> <Topic> <Noun>"`];
  const [, adjective, topic, noun] = m;
  const article = /^[AEIOU]/.test(adjective) ? "An" : "A";
  const description = `${article} ${adjective.toLowerCase()} ${noun.toLowerCase()} for ${topic} developers`;
  if (b.description !== description) {
    problems.push(`description ${show(b.description)} is not ${show(description)}`);
  }
  let url = null;
  try {
    url = new URL(b.url);
  } catch {
    problems.push(`url ${show(b.url)} does not parse`);
  }
  if (url) {
    const slug = b.title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    if (url.protocol !== "https:") problems.push(`url ${show(b.url)} is not https`);
    if (!DOMAINS.includes(url.host)) problems.push(`url host ${show(url.host)} is not one of ${DOMAINS}`);
    if (!/^\/[a-z0-9][a-z0-9-]*$/.test(url.pathname) || !url.pathname.startsWith(`/${slug}`)) {
      problems.push(`url path ${show(url.pathname)} is not /<slug of the title> (/${slug})`);
    }
    if (url.search || url.hash) problems.push(`url ${show(b.url)} has a query or fragment`);
  }
  const tags = [topic.toLowerCase(), noun.toLowerCase()];
  if (show(b.tags) !== show(tags)) problems.push(`tags ${show(b.tags)} are not ${show(tags)}`);
  return problems;
}

function assertAllWellFormed(list, what, check = shapeProblems) {
  for (const b of list) {
    const problems = check(b);
    assert(problems.length === 0, `${what}: ${problems.join("; ")} in ${show(b)}`);
  }
}

await runTest("phoenix_bookmarks", async (onCleanup) => {
  const base = baseUrl(); // fail early on a missing CINDER_URL
  const socket = await openSocket(onCleanup);

  // 1. The firehose: listen before joining so no push can slip past.
  const firehose = socket.channel("bookmarks:firehose", {});
  const pushes = [];
  firehose.on("bookmark_created", (payload) => pushes.push(payload));

  const joined = await reply(firehose.join(), "join bookmarks:firehose");
  assert(joined.status === "ok", `join bookmarks:firehose replied ${show(joined)}`);
  const initial = joined.response && joined.response.bookmarks;
  assert(Array.isArray(initial), `the join reply has a "bookmarks" array: ${show(joined.response)}`);
  assert(initial.length <= 50, `the join reply holds at most 50 bookmarks, got ${initial.length}`);
  assertAllWellFormed(initial, "a bookmark in the firehose join reply");
  const initialIds = initial.map((b) => b.id);
  assert(
    new Set(initialIds).size === initialIds.length,
    `the join reply has no id twice: ${show(initialIds)}`,
  );

  await sleep(COLLECT_MS);
  const received = pushes.slice(); // a snapshot: later pushes are not part of the check
  assert(
    received.length >= 3,
    `at least 3 bookmark_created pushes in ${COLLECT_MS} ms with the simulator adding one every ` +
      `200 ms, got ${received.length} (is the server running with --simulate-bookmarks=200ms?)`,
  );
  if (received.length < 5) {
    console.log(`note: only ${received.length} pushes in ${COLLECT_MS} ms (expected about 15)`);
  }
  assertAllWellFormed(received, "a bookmark_created push", simulatedProblems);

  const receivedIds = received.map((b) => b.id);
  const twice = receivedIds.filter((id, i) => receivedIds.indexOf(id) !== i);
  assert(twice.length === 0, `no bookmark is pushed twice, but these were: ${show(twice)}`);
  const alsoInReply = receivedIds.filter((id) => initialIds.includes(id));
  assert(
    alsoInReply.length === 0,
    `a pushed bookmark is not also in the join reply (received twice): ${show(alsoInReply)}`,
  );

  const left = await reply(firehose.leave(STEP_MS), "leave bookmarks:firehose");
  assert(left.status === "ok", `leave replied ${show(left)}`);

  // 2. The HTTP list agrees: every push is in it, and between the first and the last push it
  //    holds exactly the pushed bookmarks, in the same order (newest first there).
  const listUrl = `${base}/api/bookmarks?limit=100`;
  const res = await withTimeout(fetch(listUrl), STEP_MS, `GET ${listUrl}`);
  assert(res.status === 200, `GET ${listUrl} answered ${res.status}`);
  const body = await res.json();
  const list = body && body.bookmarks;
  assert(Array.isArray(list), `GET ${listUrl} has a "bookmarks" array: ${show(body).slice(0, 500)}`);
  assert(list.length <= 100, `GET ${listUrl} returns at most 100 bookmarks, got ${list.length}`);
  assertAllWellFormed(list, `a bookmark in GET ${listUrl}`);
  const apiIds = list.map((b) => b.id);

  const notListed = receivedIds.filter((id) => !apiIds.includes(id));
  assert(notListed.length === 0, `every pushed bookmark is in GET ${listUrl}; missing: ${show(notListed)}`);
  for (const pushed of received) {
    const listed = list.find((b) => b.id === pushed.id);
    assert(
      show(KEYS.map((k) => listed[k])) === show(KEYS.map((k) => pushed[k])),
      `the push and the HTTP list agree on bookmark ${show(pushed.id)}: ` +
        `pushed ${show(pushed)}, listed ${show(listed)}`,
    );
  }

  const iLast = apiIds.indexOf(receivedIds[receivedIds.length - 1]);
  const iFirst = apiIds.indexOf(receivedIds[0]);
  assert(
    iLast <= iFirst,
    `the pushes come in the list's order: the last push ${show(receivedIds.at(-1))} is at ` +
      `index ${iLast} and the first ${show(receivedIds[0])} at ${iFirst} of the newest-first list`,
  );
  const run = apiIds.slice(iLast, iFirst + 1).reverse(); // oldest first, like the pushes
  if (show(run) !== show(receivedIds)) {
    const missed = run.filter((id) => !receivedIds.includes(id));
    throw new Error(
      "the bookmarks listed between the first and the last push are exactly the pushed ones, " +
        `in order; never pushed: ${show(missed)}; ` +
        `listed (oldest first): ${show(run)}; pushed: ${show(receivedIds)}`,
    );
  }

  // 3. No gap at the join: the reply is the newest public bookmarks at that moment, and the
  //    first push is the very next one in the list.
  if (initialIds.length > 0) {
    const iHead = apiIds.indexOf(initialIds[0]);
    assert(
      iHead !== -1,
      `the join reply's newest bookmark ${show(initialIds[0])} is in GET ${listUrl}`,
    );
    assert(
      iHead === iFirst + 1,
      `no bookmark falls between the join reply and the first push: the reply's newest ` +
        `${show(initialIds[0])} is at index ${iHead} of the newest-first list and the first push ` +
        `${show(receivedIds[0])} at ${iFirst}; in between (never delivered): ` +
        `${show(apiIds.slice(iFirst + 1, iHead))}`,
    );
    const overlap = apiIds.slice(iHead, iHead + initialIds.length);
    const comparable = initialIds.slice(0, overlap.length);
    assert(
      show(comparable) === show(overlap),
      `the join reply is the newest public bookmarks, newest first, as the list has them: ` +
        `reply ${show(comparable)}, list ${show(overlap)}`,
    );
  } else {
    // Nothing public existed at the join, so nothing in the list is older than the first push.
    assert(
      apiIds.length === 100 || iFirst === apiIds.length - 1,
      `the join reply was empty, so the first push ${show(receivedIds[0])} is the oldest listed ` +
        `bookmark; older ones never delivered: ${show(apiIds.slice(iFirst + 1))}`,
    );
  }

  // 4. A tag feed: its join reply holds only public bookmarks with that tag.
  const rust = socket.channel("bookmarks:tag:rust", {});
  const tagJoined = await reply(rust.join(), "join bookmarks:tag:rust");
  assert(tagJoined.status === "ok", `join bookmarks:tag:rust replied ${show(tagJoined)}`);
  const tagged = tagJoined.response && tagJoined.response.bookmarks;
  assert(Array.isArray(tagged), `the tag join reply has a "bookmarks" array: ${show(tagJoined.response)}`);
  assert(tagged.length <= 50, `the tag join reply holds at most 50 bookmarks, got ${tagged.length}`);
  assertAllWellFormed(tagged, "a bookmark in the bookmarks:tag:rust join reply");
  const untagged = tagged.filter((b) => !b.tags.includes("rust"));
  assert(untagged.length === 0, `every bookmark in the rust feed is tagged "rust": ${show(untagged)}`);
  // Every rust bookmark we were pushed (if still among the 50 newest) is in the rust feed.
  const pushedRust = received.filter((b) => b.tags.includes("rust")).map((b) => b.id);
  const taggedIds = tagged.map((b) => b.id);
  if (tagged.length < 50) {
    const absent = pushedRust.filter((id) => !taggedIds.includes(id));
    assert(absent.length === 0, `pushed rust bookmarks are in the rust feed's join reply: missing ${show(absent)}`);
  }
  const tagLeft = await reply(rust.leave(STEP_MS), "leave bookmarks:tag:rust");
  assert(tagLeft.status === "ok", `leave bookmarks:tag:rust replied ${show(tagLeft)}`);

  console.log(
    `firehose: ${initial.length} in the join reply, ${received.length} pushes, all listed in order; ` +
      `rust feed: ${tagged.length}`,
  );
  await withTimeout(new Promise((resolve) => socket.disconnect(resolve)), STEP_MS, "disconnect");
});

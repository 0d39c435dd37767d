// The polls:<id> topic with the official Phoenix JS client, as an outside program would follow
// a poll: join and get the poll with its counts, see `vote_counted` after votes cast over HTTP
// (a new vote, then a moved one), `poll_closed` once its creator closes it; an unknown poll is
// an error reply, and the topic takes no commands.
//
//   CINDER_URL=http://127.0.0.1:4321 node phoenix_polls.mjs

import { assert, baseUrl, runTest, withTimeout } from "./lib.mjs";
import { openSocket } from "./phoenix_socket.mjs";

const STEP_MS = 10_000;
const show = (v) => JSON.stringify(v);
// A push's payload as [poll_id, counts, total], whatever the order of its keys.
const counts = (p) => show([p.poll_id, p.counts, p.total]);

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

// A program with a session of its own: it keeps the cookie its first answer sets.
function session() {
  let cookie = "";
  return async (method, path, body) => {
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const set = res.headers.get("set-cookie");
    if (set && !cookie) cookie = set.split(";")[0];
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

await runTest("phoenix_polls", async (onCleanup) => {
  baseUrl();
  const asker = session();
  const voter = session();
  const created = await asker("POST", "/api/polls", {
    question: "Which editor?", options: ["vim", "emacs", "nano"],
  });
  assert(created.status === 201, `POST /api/polls answered ${created.status}: ${show(created.body)}`);
  const id = created.body.poll.id;

  const socket = await openSocket(onCleanup);

  // An unknown poll: an error reply with a reason.
  const nowhere = socket.channel("polls:0123456789abcdef", {});
  const refused = await reply(nowhere.join(), "join of an unknown poll");
  assert(refused.status === "error" && typeof refused.response.reason === "string",
    `an unknown poll is refused with a reason: ${show(refused)}`);
  nowhere.leave();

  const channel = socket.channel(`polls:${id}`, {});
  const pushes = [];
  const waiters = [];
  for (const event of ["vote_counted", "poll_closed"]) {
    channel.on(event, (payload) => {
      pushes.push({ event, payload });
      waiters.forEach((w) => w());
    });
  }
  const waitFor = (pred, what) =>
    withTimeout(
      new Promise((resolve) => {
        const check = () => {
          const hit = pushes.find(pred);
          if (hit) resolve(hit);
        };
        waiters.push(check);
        check();
      }),
      STEP_MS,
      `${what} (pushes so far: ${show(pushes)})`,
    );

  const joined = await reply(channel.join(), `join polls:${id}`);
  assert(joined.status === "ok", `join replied ${show(joined)}`);
  const poll = joined.response.poll;
  assert(poll && poll.id === id && poll.question === "Which editor?" &&
    show(poll.options) === show(["vim", "emacs", "nano"]) && show(poll.counts) === show([0, 0, 0]) &&
    poll.total === 0 && poll.closed === false,
  `the join reply is the poll with its counts: ${show(joined.response)}`);
  assert(!("creator" in poll), `no creator in the reply: ${show(poll)}`);

  // A vote over HTTP reaches the channel as vote_counted with the new counts.
  const cast = await voter("POST", `/api/polls/${id}/votes`, { option: 1 });
  assert(cast.status === 200, `vote answered ${cast.status}: ${show(cast.body)}`);
  const first = await waitFor((p) => p.event === "vote_counted" && p.payload.total === 1, "vote_counted after a vote");
  assert(counts(first.payload) === show([id, [0, 1, 0], 1]) && Object.keys(first.payload).length === 3,
    `vote_counted is {poll_id, counts, total}: ${show(first.payload)}`);

  // The same visitor moves their vote: one count moves, the total stays.
  await voter("POST", `/api/polls/${id}/votes`, { option: 2 });
  const moved = await waitFor((p) => p.event === "vote_counted" && p.payload.counts[2] === 1, "vote_counted after a moved vote");
  assert(counts(moved.payload) === show([id, [0, 0, 1], 1]),
    `a moved vote moves one count: ${show(moved.payload)}`);

  // The topic is read-only.
  const pushed = await reply(channel.push("vote", { option: 0 }, STEP_MS), "a push on the topic");
  assert(pushed.status === "error", `the topic takes no commands: ${show(pushed)}`);

  // Only the asker closes it; then poll_closed with the final counts, and votes are refused.
  const notYours = await voter("POST", `/api/polls/${id}/close`);
  assert(notYours.status === 403, `another session cannot close it: ${notYours.status}`);
  const closed = await asker("POST", `/api/polls/${id}/close`);
  assert(closed.status === 200, `the asker closes it: ${closed.status} ${show(closed.body)}`);
  const end = await waitFor((p) => p.event === "poll_closed", "poll_closed");
  assert(counts(end.payload) === show([id, [0, 0, 1], 1]) && Object.keys(end.payload).length === 3,
    `poll_closed is {poll_id, counts, total}: ${show(end.payload)}`);
  const late = await voter("POST", `/api/polls/${id}/votes`, { option: 0 });
  assert(late.status === 422, `a vote after closing is refused: ${late.status}`);
  assert(pushes.length === 3, `one push per change, none for the refused vote: ${show(pushes)}`);

  // A later join starts from the poll as it is.
  await reply(channel.leave(STEP_MS), "leave");
  const again = socket.channel(`polls:${id}`, {});
  const rejoined = await reply(again.join(), "second join");
  assert(rejoined.status === "ok" && rejoined.response.poll.closed === true &&
    show(rejoined.response.poll.counts) === show([0, 0, 1]),
  `a second join gets the closed poll: ${show(rejoined)}`);

  await withTimeout(new Promise((resolve) => socket.disconnect(resolve)), STEP_MS, "disconnect");
});

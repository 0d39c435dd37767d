// The chat topic with the official Phoenix JS client, as any outside program would use it:
// join `chat:<room>`, send a message, see it broadcast with the same id, get a validation error
// for an empty one, leave.
//
//   CINDER_URL=http://127.0.0.1:4321 node phoenix_chat.mjs

import { assert, baseUrl, randomRoom, runTest, withTimeout } from "./lib.mjs";
import { openSocket } from "./phoenix_socket.mjs";

const STEP_MS = 10_000;

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

await runTest("phoenix_chat", async (onCleanup) => {
  baseUrl(); // fail early on a missing CINDER_URL
  const socket = await openSocket(onCleanup);
  const room = randomRoom("js");
  const topic = `chat:${room}`;
  const channel = socket.channel(topic, {});

  // Listen before joining so no broadcast can slip past.
  const seen = [];
  const waiters = [];
  channel.on("message_sent", (payload) => {
    seen.push(payload);
    waiters.forEach((w) => w());
  });
  const waitForMessage = (pred, what) =>
    withTimeout(
      new Promise((resolve) => {
        const check = () => {
          const hit = seen.find(pred);
          if (hit) resolve(hit);
        };
        waiters.push(check);
        check();
      }),
      STEP_MS,
      what,
    );

  const joined = await reply(channel.join(), `join ${topic}`);
  assert(joined.status === "ok", `join ${topic} replied ${JSON.stringify(joined)}`);
  assert(
    joined.response && Array.isArray(joined.response.messages),
    `join reply has a "messages" array, got ${JSON.stringify(joined.response)}`,
  );

  // A good message: ok {id}, then a broadcast with the same id.
  const content = "hello from phoenix.js";
  const sent = await reply(
    channel.push("send_message", { sender: "js-client", content }, STEP_MS),
    "send_message",
  );
  assert(sent.status === "ok", `send_message replied ${JSON.stringify(sent)}`);
  const id = sent.response && sent.response.id;
  assert(id !== undefined && id !== null && id !== "", `ok reply has an id: ${JSON.stringify(sent)}`);

  const msg = await waitForMessage(
    (m) => m && m.content === content && m.sender === "js-client",
    `message_sent for "${content}" (seen: ${JSON.stringify(seen)})`,
  );
  for (const key of ["id", "room", "sender", "content", "sent_at"]) {
    assert(key in msg, `message_sent payload has "${key}": ${JSON.stringify(msg)}`);
  }
  assert(msg.id === id, `broadcast id ${JSON.stringify(msg.id)} equals reply id ${JSON.stringify(id)}`);
  assert(msg.room === room, `broadcast room ${JSON.stringify(msg.room)} equals "${room}"`);

  // An empty message: error {errors: {content: [strings]}}, and no broadcast for it.
  const refused = await reply(
    channel.push("send_message", { sender: "js-client", content: "" }, STEP_MS),
    "send_message with empty content",
  );
  assert(refused.status === "error", `empty content is refused, got ${JSON.stringify(refused)}`);
  const errors = refused.response && refused.response.errors;
  assert(
    errors && Array.isArray(errors.content) && errors.content.length > 0 &&
      errors.content.every((e) => typeof e === "string"),
    `error reply has errors.content as an array of strings: ${JSON.stringify(refused.response)}`,
  );

  // Leave: ok reply.
  const left = await reply(channel.leave(STEP_MS), `leave ${topic}`);
  assert(left.status === "ok", `leave replied ${JSON.stringify(left)}`);

  // A later join of the room starts from the current state: it includes our message.
  const again = socket.channel(topic, {});
  const rejoined = await reply(again.join(), `second join of ${topic}`);
  assert(rejoined.status === "ok", `second join replied ${JSON.stringify(rejoined)}`);
  const history = rejoined.response && rejoined.response.messages;
  assert(
    Array.isArray(history) && history.some((m) => m && m.id === id && m.content === content),
    `second join's messages include id ${JSON.stringify(id)}: ${JSON.stringify(history)}`,
  );
  assert(
    seen.filter((m) => m && m.content === "").length === 0,
    `no message_sent for the refused empty message: ${JSON.stringify(seen)}`,
  );
  await reply(again.leave(STEP_MS), `leave ${topic} again`);

  await withTimeout(new Promise((resolve) => socket.disconnect(resolve)), STEP_MS, "disconnect");
});

// The official Phoenix JS client forced onto its LongPoll transport (as when a proxy blocks
// websockets), beside a websocket client in the same room: joins with presence, live pushes both
// ways, an error reply, a live view's patches, a leave seen by the others, and a long poller that
// goes away (it never says so) dropping out of presence once its session idles out.
//
//   CINDER_URL=http://127.0.0.1:4321 node phoenix_longpoll.mjs
//
// The server should run with a short socket idle timeout (tests/integration/js.rs uses 2 s), or
// the last step waits for the default 60 s.

import { LongPoll, Presence } from "phoenix";
import WebSocket from "ws";
import { assert, baseUrl, randomRoom, runTest, withTimeout } from "./lib.mjs";
import { openSocket } from "./phoenix_socket.mjs";

const STEP_MS = 10_000;

// Opens a socket over `transport`, checking it stays there.
async function openOver(onCleanup, transport) {
  const socket = await openSocket(onCleanup, {
    stepMs: STEP_MS,
    transport,
    heartbeatIntervalMs: 500, // the websocket's, within the server's short idle timeout
    longpollerTimeout: 20_000,
  });
  assert(
    socket.transport === transport,
    `the socket stays on the transport it was given (${socket.transport && socket.transport.name})`,
  );
  return socket;
}

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

// Joins `topic` with `params`, following its presence and its `event` pushes.
async function member(socket, topic, params, event = "message_sent") {
  const channel = socket.channel(topic, params);
  const presence = new Presence(channel);
  const seen = [];
  const waiters = [];
  const wake = () => waiters.forEach((check) => check());
  presence.onSync(wake);
  channel.on(event, (payload) => {
    seen.push(payload);
    wake();
  });
  const joined = await reply(channel.join(), `join ${topic}`);
  assert(joined.status === "ok", `join ${topic}: ${JSON.stringify(joined)}`);
  const names = () => presence.list((name) => name).sort();
  const waitFor = (test, what) =>
    withTimeout(
      new Promise((resolve) => {
        const check = () => {
          const hit = test();
          if (hit) resolve(hit);
        };
        waiters.push(check);
        check();
      }),
      STEP_MS,
      `${what} (names ${JSON.stringify(names())}, pushes ${JSON.stringify(seen)})`,
    );
  const waitForNames = (want, what) =>
    waitFor(() => JSON.stringify(names()) === JSON.stringify(want), what);
  const waitForPush = (test, what) => waitFor(() => seen.find(test), what);
  return { channel, joined: joined.response, waitForNames, waitForPush };
}

await runTest("phoenix_longpoll", async (onCleanup) => {
  baseUrl(); // fail early on a missing CINDER_URL
  const room = randomRoom("lp");
  const topic = `chat:${room}`;

  const adaSocket = await openOver(onCleanup, LongPoll);
  const ada = await member(adaSocket, topic, { name: "ada" });
  assert(Array.isArray(ada.joined.messages), `the join reply has messages: ${JSON.stringify(ada.joined)}`);
  await ada.waitForNames(["ada"], "ada (long poll) is listed once joined");

  const bobSocket = await openOver(onCleanup, WebSocket);
  const bob = await member(bobSocket, topic, { name: "bob" });
  await bob.waitForNames(["ada", "bob"], "bob (websocket) sees ada");
  await ada.waitForNames(["ada", "bob"], "ada sees bob join");

  const carolSocket = await openOver(onCleanup, LongPoll);
  const carol = await member(carolSocket, topic, { name: "carol" });
  await ada.waitForNames(["ada", "bob", "carol"], "ada sees carol (long poll) join");

  // Long poll to everyone, websocket to the long pollers.
  const sent = await reply(ada.channel.push("send_message", { sender: "ada", content: "over long poll" }), "ada sends");
  assert(sent.status === "ok" && sent.response.id, `ada's message is accepted: ${JSON.stringify(sent)}`);
  for (const [who, m] of [["ada", ada], ["bob", bob], ["carol", carol]]) {
    const got = await m.waitForPush((p) => p.content === "over long poll", `${who} gets ada's message`);
    assert(got.id === sent.response.id, `${who} got the same id`);
  }
  await reply(bob.channel.push("send_message", { sender: "bob", content: "over websocket" }), "bob sends");
  await ada.waitForPush((p) => p.content === "over websocket", "ada gets bob's message");
  await carol.waitForPush((p) => p.content === "over websocket", "carol gets bob's message");

  // Several pushes at once go out in one batch and are all answered.
  const burst = await Promise.all(
    [1, 2, 3, 4, 5].map((n) => reply(carol.channel.push("send_message", { sender: "carol", content: `burst ${n}` }), `burst ${n}`)),
  );
  assert(burst.every((r) => r.status === "ok"), `every message of a burst is accepted: ${JSON.stringify(burst)}`);
  for (const n of [1, 2, 3, 4, 5]) {
    await ada.waitForPush((p) => p.content === `burst ${n}`, `ada gets burst ${n}`);
  }

  // Refusals come back as error replies.
  const refused = await reply(ada.channel.push("send_message", { sender: "ada", content: "" }), "an empty message");
  assert(refused.status === "error" && Array.isArray(refused.response.errors.content), `refused: ${JSON.stringify(refused)}`);

  // A live view over long poll: its patches arrive as messages are sent.
  const page = await (await fetch(`${baseUrl()}/chat/${room}`)).text();
  const token = (page.match(/data-cinder-token="([^"]+)"/) || [])[1];
  assert(token, "the room page has a live view token");
  const view = await member(adaSocket, `lv:/chat/${room}`, { token }, "patch");
  assert(Array.isArray(view.joined.patches), `the live view's join reply has patches: ${JSON.stringify(view.joined)}`);
  await reply(bob.channel.push("send_message", { sender: "bob", content: "patched in" }), "bob sends again");
  await view.waitForPush(
    (p) => p.ops.some((op) => op.op === "append" && op.html.includes("patched in")),
    "the live view over long poll gets the append",
  );

  // Carol leaves: everyone sees it.
  const left = await reply(carol.channel.leave(STEP_MS), "carol leaves");
  assert(left.status === "ok", `carol's leave: ${JSON.stringify(left)}`);
  await ada.waitForNames(["ada", "bob"], "ada sees carol leave");
  await bob.waitForNames(["ada", "bob"], "bob sees carol leave");

  // Ada's long poller goes away without a word: her session idles out and she drops out.
  adaSocket.disconnect();
  await bob.waitForNames(["bob"], "bob sees ada's session end");
});

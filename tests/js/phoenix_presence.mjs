// Presence of a chat room with the official Phoenix JS client and its `Presence` helper: a
// client that joins `chat:<room>` with a name is listed; a second one (another socket) appears
// in both lists; when it leaves, it disappears from the first one's list; a client that joins
// without a name only watches.
//
//   CINDER_URL=http://127.0.0.1:4321 node phoenix_presence.mjs

import { Presence } from "phoenix";
import { assert, baseUrl, randomRoom, runTest, withTimeout } from "./lib.mjs";
import { openSocket } from "./phoenix_socket.mjs";

const STEP_MS = 10_000;

// Joins `topic` with `params` and follows its presence with the official helper.
async function present(socket, topic, params) {
  const channel = socket.channel(topic, params);
  const presence = new Presence(channel);
  const waiters = [];
  presence.onSync(() => waiters.forEach((check) => check()));
  const joined = await withTimeout(
    new Promise((resolve, reject) => {
      channel
        .join()
        .receive("ok", resolve)
        .receive("error", (e) => reject(new Error(`join ${topic} refused: ${JSON.stringify(e)}`)))
        .receive("timeout", () => reject(new Error(`no reply to the join of ${topic}`)));
    }),
    STEP_MS + 1_000,
    `join ${topic}`,
  );
  assert(Array.isArray(joined.messages), `the join reply has messages: ${JSON.stringify(joined)}`);
  // The names listed, sorted, as the helper sees them.
  const names = () => presence.list((name) => name).sort();
  const waitFor = (want, what) =>
    withTimeout(
      new Promise((resolve) => {
        const check = () => {
          if (JSON.stringify(names()) === JSON.stringify(want)) resolve();
        };
        waiters.push(check);
        check();
      }),
      STEP_MS,
      `${what}: wanted ${JSON.stringify(want)}, the list shows ${JSON.stringify(names())}`,
    );
  return { channel, presence, names, waitFor };
}

await runTest("phoenix_presence", async (onCleanup) => {
  baseUrl(); // fail early on a missing CINDER_URL
  const topic = `chat:${randomRoom("presence")}`;

  const first = await openSocket(onCleanup);
  const ada = await present(first, topic, { name: "ada" });
  await ada.waitFor(["ada"], "ada is listed once joined");

  // The metas have the Phoenix shape: a phx_ref, and our name and online_at.
  const metas = ada.presence.list((name, { metas }) => ({ name, metas }));
  assert(metas.length === 1 && metas[0].metas.length === 1, `one entry: ${JSON.stringify(metas)}`);
  const meta = metas[0].metas[0];
  assert(typeof meta.phx_ref === "string" && meta.phx_ref !== "", `a phx_ref: ${JSON.stringify(meta)}`);
  assert(meta.name === "ada", `meta.name: ${JSON.stringify(meta)}`);
  assert(typeof meta.online_at === "number", `meta.online_at: ${JSON.stringify(meta)}`);

  // A watcher (no name) sees ada and is not listed.
  const third = await openSocket(onCleanup);
  const watcher = await present(third, topic, {});
  await watcher.waitFor(["ada"], "the watcher sees ada");

  // Bob joins from another socket: everyone sees both.
  const second = await openSocket(onCleanup);
  const bob = await present(second, topic, { name: "bob" });
  await bob.waitFor(["ada", "bob"], "bob sees ada and himself");
  await ada.waitFor(["ada", "bob"], "ada sees bob join");
  await watcher.waitFor(["ada", "bob"], "the watcher sees bob join");

  // Bob leaves: one again.
  await withTimeout(
    new Promise((resolve) => bob.channel.leave(STEP_MS).receive("ok", resolve)),
    STEP_MS,
    "bob leaves",
  );
  await ada.waitFor(["ada"], "ada sees bob leave");
  await watcher.waitFor(["ada"], "the watcher sees bob leave");

  // Ada's socket goes away: nobody is left.
  await withTimeout(new Promise((resolve) => first.disconnect(resolve)), STEP_MS, "disconnect");
  await watcher.waitFor([], "the watcher sees ada's socket close");

  // A name that breaks the rules is refused.
  const refused = await withTimeout(
    new Promise((resolve) => {
      third
        .channel(`${topic}-x`, { name: "x".repeat(33) })
        .join()
        .receive("ok", () => resolve("ok"))
        .receive("error", (e) => resolve(e));
    }),
    STEP_MS,
    "a join with a 33-character name",
  );
  assert(refused !== "ok" && typeof refused.reason === "string", `refused: ${JSON.stringify(refused)}`);
});

// The official `phoenix` client's socket as the Phoenix client scripts open it: over `ws` (Node
// 20 has no global WebSocket), failing loudly instead of retrying forever when the server cannot
// be reached.

import { Socket } from "phoenix";
import WebSocket from "ws";
import { withTimeout, wsUrl } from "./lib.mjs";

// Opens a socket to the server under test (the client appends /websocket?vsn=2.0.0, or turns
// it into /longpoll for that transport), waiting at most `stepMs` for it; `onCleanup`
// disconnects it. `options` are more of the client's Socket options (`transport`, `params` …).
export async function openSocket(onCleanup, { stepMs = 10_000, ...options } = {}) {
  const endpoint = `${wsUrl()}/socket`;
  const socket = new Socket(endpoint, {
    transport: WebSocket,
    timeout: stepMs,
    reconnectAfterMs: () => 60_000,
    rejoinAfterMs: () => 60_000,
    ...options,
  });
  onCleanup(async () => socket.disconnect());
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.onOpen(resolve);
      socket.onError((e) =>
        reject(new Error(`cannot connect to ${endpoint}: ${e && (e.message || e.type || JSON.stringify(e))}`)),
      );
      socket.connect();
    }),
    stepMs,
    `connecting to ${endpoint}`,
  );
  return socket;
}

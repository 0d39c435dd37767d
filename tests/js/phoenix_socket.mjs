// The official `phoenix` client's socket as the Phoenix client scripts open it: over `ws` (Node
// 20 has no global WebSocket), failing loudly instead of retrying forever when the server cannot
// be reached.

import { Socket } from "phoenix";
import WebSocket from "ws";
import { withTimeout, wsUrl } from "./lib.mjs";

// Opens a socket to the server under test (the client appends /websocket?vsn=2.0.0), waiting at
// most `stepMs` for it; `onCleanup` disconnects it.
export async function openSocket(onCleanup, stepMs = 10_000) {
  const endpoint = `${wsUrl()}/socket`;
  const socket = new Socket(endpoint, {
    transport: WebSocket,
    timeout: stepMs,
    reconnectAfterMs: () => 60_000,
    rejoinAfterMs: () => 60_000,
  });
  onCleanup(async () => socket.disconnect());
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.onOpen(resolve);
      socket.onError((e) =>
        reject(new Error(`cannot connect to ${endpoint}/websocket: ${e && (e.message || e.type)}`)),
      );
      socket.connect();
    }),
    stepMs,
    `connecting to ${endpoint}`,
  );
  return socket;
}

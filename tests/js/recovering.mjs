// socket.io-client sessions that recover what they missed, exactly as the README shows, on a
// flaky network: each session drops its connection every `blip` ms and comes back after `down`
// ms (to the next URL when `alternate` is set: each reconnect goes to the other node).
//
// Usage: node recovering.mjs '<json>' with
//   {"urls": ["http://127.0.0.1:P/ns", ...], "sessions": [{"name": "a", "token": "alice"}, ...],
//    "event": "note", "blip": [700, 2000], "down": [100, 300], "alternate": false}
// stdout, one JSON object a line:
//   {"type": "ready"}                  every session connected once
//   {"type": "done", "sessions": {name: {"received": [payload, ...], "connects": n,
//     "recoveries": [{recovered, replayed, reason, lost}, ...]}}}
// stdin: "stop\n" ends the blips; once every session is connected again and `settle` ms passed
// without an event, "done" is printed and the process exits.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const between = ([lo, hi]) => lo + Math.random() * (hi - lo);

let stopping = false;
let lastEvent = Date.now();
const sessions = config.sessions.map((s, i) => ({ ...s, index: i, received: [], connects: 0, recoveries: [] }));

function open(session) {
  const url = config.urls[session.connects % config.urls.length];
  // ---- the README's snippet: remember what this page saw, send it back on every connect ----
  let recover = session.recover; // { offset, channels } of the previous connection, if any
  const socket = io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: !config.alternate,
    reconnectionDelay: config.down[0],
    reconnectionDelayMax: config.down[1],
    auth: (cb) => cb({ token: session.token, recover }),
  });
  socket.on("/ops/connection-success", (info) => {
    recover = { offset: info.offset, channels: info.channels };
    session.recover = recover;
    if (info.recovery) session.recoveries.push(info.recovery);
  });
  socket.onAny((event, ...args) => {
    const at = args[args.length - 1]; // a recorded event's position
    if (recover && args.length > 1 && typeof at === "string") {
      recover.offset = at;
      session.recover = recover;
    }
  });
  // ---- end of the snippet ----
  socket.on(config.event, (payload) => {
    session.received.push(payload);
    lastEvent = Date.now();
  });
  socket.on("connect", () => {
    session.connects += 1;
    if (session.connects === 1 && sessions.every((s) => s.connects > 0)) out({ type: "ready" });
  });
  socket.on("connect_error", (err) => {
    if (config.alternate) setTimeout(() => open(session), between(config.down));
    else process.stderr.write(`connect_error ${session.name}: ${err.message}\n`);
  });
  socket.on("disconnect", () => {
    if (config.alternate) setTimeout(() => open(session), between(config.down));
  });
  session.socket = socket;
}

function blip(session) {
  if (stopping) return;
  setTimeout(() => {
    if (stopping) return;
    if (session.socket.connected) session.socket.io.engine.close();
    blip(session);
  }, between(config.blip));
}

for (const session of sessions) {
  open(session);
  blip(session);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "stop") return;
  stopping = true;
  const check = setInterval(() => {
    const settled = Date.now() - lastEvent >= (config.settle ?? 1000);
    if (settled && sessions.every((s) => s.socket.connected)) {
      clearInterval(check);
      const result = {};
      for (const s of sessions) {
        result[s.name] = { received: s.received, connects: s.connects, recoveries: s.recoveries };
      }
      out({ type: "done", sessions: result });
      process.exit(0);
    }
  }, 100);
});

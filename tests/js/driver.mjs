// A socket.io-client driven by tether's Rust tests over stdin/stdout, one JSON object a line.
//
// Commands (stdin):  {"id": 1, "op": "connect", "name": "a", "url": "http://127.0.0.1:PORT/ns", "opts": {...}}
//                      opts are socket.io-client's, plus `tetherAck`: a value to ack every server event with
//                    {"id": 2, "op": "emit", "name": "a", "event": "ev", "args": [..]}
//                    {"id": 3, "op": "emitWithAck", "name": "a", "event": "ev", "args": [..], "timeout": 2000}
//                    {"id": 4, "op": "disconnect", "name": "a"}
//                    {"id": 5, "op": "burst", "name": "a", "emits": [{"event": "ev", "args": [..]}, ..], "timeout": 5000}
//                      emits every event at once (each with an ack), then replies with the acks in the
//                      order the emits were made and `arrival`: the emit indices in the order acks came back
// Replies (stdout):  {"type": "reply", "id": 1, "ok": true, ...} or {"type": "reply", "id": 1, "ok": false, "error": ..}
// Events (stdout):   {"type": "event", "name": "a", "event": "ev", "args": [..]}
//                    {"type": "disconnect", "name": "a", "reason": ".."}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const sockets = new Map();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function connect({ id, name, url, opts }) {
  // `tetherAck` (not a socket.io option): answer every server event that asks for an ack with it.
  const { tetherAck, ...ioOpts } = opts ?? {};
  const socket = io(url, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...ioOpts,
  });
  if (tetherAck !== undefined) {
    socket.onAny((event, ...args) => {
      const ack = args[args.length - 1];
      if (typeof ack === "function") ack(tetherAck);
    });
  }
  sockets.set(name, socket);
  let settled = false;
  socket.on("connect", () => {
    if (!settled) {
      settled = true;
      out({ type: "reply", id, ok: true, socketId: socket.id });
    }
  });
  socket.on("connect_error", (err) => {
    if (!settled) {
      settled = true;
      out({ type: "reply", id, ok: false, error: { message: err.message, data: err.data ?? null } });
    }
  });
  socket.on("disconnect", (reason) => out({ type: "disconnect", name, reason }));
  socket.onAny((event, ...args) => out({ type: "event", name, event, args }));
}

function handle(cmd) {
  const socket = sockets.get(cmd.name);
  switch (cmd.op) {
    case "connect":
      return connect(cmd);
    case "emit":
      socket.emit(cmd.event, ...(cmd.args ?? []));
      return out({ type: "reply", id: cmd.id, ok: true });
    case "emitWithAck":
      socket
        .timeout(cmd.timeout ?? 3000)
        .emitWithAck(cmd.event, ...(cmd.args ?? []))
        .then((ack) => out({ type: "reply", id: cmd.id, ok: true, ack: ack ?? null }))
        .catch((err) => out({ type: "reply", id: cmd.id, ok: false, error: { message: err.message } }));
      return;
    case "burst": {
      const arrival = [];
      const pending = cmd.emits.map(({ event, args }, i) =>
        socket
          .timeout(cmd.timeout ?? 5000)
          .emitWithAck(event, ...(args ?? []))
          .then((ack) => {
            arrival.push(i);
            return ack ?? null;
          })
          .catch((err) => ({ driverError: err.message })),
      );
      Promise.all(pending).then((acks) => out({ type: "reply", id: cmd.id, ok: true, acks, arrival }));
      return;
    }
    case "disconnect":
      socket.disconnect();
      return out({ type: "reply", id: cmd.id, ok: true });
    default:
      return out({ type: "reply", id: cmd.id, ok: false, error: { message: `unknown op ${cmd.op}` } });
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return out({ type: "fatal", error: `bad command line: ${e.message}` });
  }
  try {
    handle(cmd);
  } catch (e) {
    out({ type: "reply", id: cmd.id, ok: false, error: { message: `driver: ${e.message}` } });
  }
});
rl.on("close", () => {
  for (const s of sockets.values()) s.disconnect();
  process.exit(0);
});

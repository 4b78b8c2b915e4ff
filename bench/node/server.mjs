// The Node socket.io baseline of tether's benchmarks: the bench contract (bench/README.md) on
// socket.io 4.8, with @socket.io/redis-adapter 8.3 when REDIS_URL is set.
//
//   BENCH_KEY=<base64url 32 bytes> PORT=3000 [REDIS_URL=redis://127.0.0.1:6379] [RECOVERY=1] node server.mjs
//
// RECOVERY=1 turns on socket.io's own connection state recovery (two minutes, like tether's
// default window), which needs the in-memory adapter: it is refused with REDIS_URL
// (@socket.io/redis-adapter does not support it).
//
// It is written the way a Node team would write it: rooms `user:<id>` and `channel:<name>`,
// auth in a namespace middleware with jose.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { jwtDecrypt } from "jose";

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";
if (!process.env.BENCH_KEY) {
  console.error("node bench server: set BENCH_KEY (base64url, 32 bytes)");
  process.exit(2);
}
const key = Buffer.from(process.env.BENCH_KEY, "base64url");
if (key.length !== 32) {
  console.error(`node bench server: BENCH_KEY must be 32 bytes, got ${key.length}`);
  process.exit(2);
}

const recovery = process.env.RECOVERY === "1";
if (recovery && process.env.REDIS_URL) {
  console.error("node bench server: RECOVERY=1 needs the in-memory adapter (no REDIS_URL)");
  process.exit(2);
}

const httpServer = createServer();
const io = new Server(httpServer, {
  // As tether: a sane message size limit (socket.io's default is 1 MB too).
  maxHttpBufferSize: 1e6,
  ...(recovery && {
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: false },
  }),
});

if (process.env.REDIS_URL) {
  const pubClient = createClient({ url: process.env.REDIS_URL });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (e) => console.error("redis pub:", e.message));
  subClient.on("error", (e) => console.error("redis sub:", e.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

const bench = io.of("/bench");

bench.use(async (socket, next) => {
  const token = socket.handshake.auth?.token;
  if (typeof token !== "string" || token.length === 0) {
    return next(new Error("missing_token: send auth.token"));
  }
  try {
    const { payload } = await jwtDecrypt(token, key, {
      keyManagementAlgorithms: ["dir"],
      contentEncryptionAlgorithms: ["A256GCM"],
      requiredClaims: ["exp", "sub"],
    });
    socket.data.user = String(payload.sub);
    next();
  } catch (e) {
    next(new Error(`invalid_token: ${e.code ?? "the token could not be verified"}`));
  }
});

function info(socket) {
  return {
    client_id: socket.id,
    client_key: socket.data.user,
    user_id: socket.data.user,
    channels: [...socket.rooms].filter((r) => r.startsWith("channel:")).map((r) => r.slice(8)),
    namespace: "/bench",
  };
}

bench.on("connection", (socket) => {
  socket.join(`user:${socket.data.user}`);
  socket.emit("/ops/connection-success", info(socket));

  socket.on("send", (p) => {
    if (p && typeof p.to === "string") bench.to(`user:${p.to}`).emit("msg", p.data);
  });
  socket.on("channel", (p) => {
    if (p && typeof p.to === "string") bench.to(`channel:${p.to}`).emit("msg", p.data);
  });
  socket.on("join", (p, ack) => {
    const channel = typeof p === "string" ? p : p?.channel;
    if (typeof channel !== "string" || channel.length === 0) {
      if (typeof ack === "function") ack({ error: { code: "invalid_payload", message: "a channel name" } });
      return;
    }
    socket.join(`channel:${channel}`);
    if (typeof ack === "function") ack(info(socket));
  });
});

httpServer.listen(port, host, () => {
  console.log(`node bench server on http://${host}:${port}${process.env.REDIS_URL ? " (redis adapter)" : ""}${recovery ? " (connection state recovery)" : ""}`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}

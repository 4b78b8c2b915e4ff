// The jitter scenario of tether's benchmarks: users on the stock socket.io-client whose
// connections drop every `--blip` ms (of being connected) and come back after `--down` ms,
// while steady senders have the server emit `--rate` events/s to each of them. Prints (and
// writes to `--out`) one JSON object: delivered %, duplicates, order, and how long the
// replay of what a reconnecting user missed takes.
//
//   BENCH_KEY=.. node jitter.mjs --impl tether --label "recovery on" --mode readme \
//     --url http://127.0.0.1:P [--url ..] --ns /bench-recovery [--users 200] [--rate 10] \
//     [--duration 20] [--blip 700,2000] [--down 100,300] [--senders S] [--pid PID ..] \
//     [--redis-pid PID] [--out F]
//
// --mode readme  the README's recovery snippet (`auth.recover = {offset, channels}`): tether
//        native  socket.io's own connection state recovery (Node with `RECOVERY=1`): one Socket
//                per user, reconnected with `socket.connect()`, so the client sends pid/offset
//        none    no recovery: a plain reconnect
// With one URL a user keeps its Socket and calls `socket.connect()` after each drop; with
// several, each reconnect opens a new Socket to the next URL (so it lands on the other node).
//
// The senders (default one per 10 users, each on the next URL) never drop: a server runs one
// socket's events one at a time, so a single sender would be a bottleneck of its own. They ask
// for acks, so an event the server refuses (`overloaded`) is counted, not mistaken for a loss.
//
// Definitions (every time on this process's clock; the senders stamp each event with it):
// - an event received on connection k before its CONNECT, or emitted before connection k
//   started (so while the user had no connection), was *replayed*; one emitted during k's
//   handshake counts as live (the sender starts once every user connected once);
// - catch-up: from the moment a reconnect starts (after the down time) to the arrival of the
//   last event replayed on it, over the reconnects that replayed at least one event;
// - replayed age / live latency: arrival − emission of replayed / of the other events.
import { readFileSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { EncryptJWT } from "jose";

const opts = parseArgs(process.argv.slice(2));
const key = Buffer.from(process.env.BENCH_KEY ?? "", "base64url");
if (key.length !== 32) fail("set BENCH_KEY (base64url, 32 bytes)");
if (opts.url.length === 0) fail("at least one --url is needed");
const mode = opts.mode ?? "readme";
if (!["readme", "native", "none"].includes(mode)) fail(`--mode ${mode}: readme, native or none`);
const ns = opts.ns ?? "/bench";
const users = Number(opts.users ?? 200);
const rate = Number(opts.rate ?? 10);
const duration = Number(opts.duration ?? 20) * 1000;
const blipMs = range(opts.blip ?? "700,2000");
const downMs = range(opts.down ?? "100,300");
const settleMs = Number(opts.settle ?? 1500);
const senderCount = Number(opts.senders ?? Math.ceil(users / 10));
const reuse = opts.url.length === 1;

const now = () => performance.now();
const between = ([lo, hi]) => lo + Math.random() * (hi - lo);

async function token(sub) {
  return new EncryptJWT({ sub })
    .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
    .setExpirationTime("1d")
    .encrypt(key);
}

let stopping = false;
let lastEvent = now();
const recoveries = { recovered: 0, not_recovered: 0, replayed: 0, reasons: {} };
const lat = { live: [], replayedAge: [], catchUp: [], handshake: [] };

const sessions = await Promise.all(
  Array.from({ length: users }, async (_, i) => ({
    name: `j${i}`,
    token: await token(`j${i}`),
    connects: 0,
    seen: new Set(),
    maxSeq: -1,
    received: 0,
    duplicates: 0,
    outOfOrder: 0,
    conn: null, // {start, connectedAt, closedAt, lastReplay}: the current connection
    history: [], // every connection, in order
  })),
);

function socketFor(session) {
  const url = opts.url[session.connects % opts.url.length] + ns;
  const auth =
    mode === "readme"
      ? (cb) => cb({ token: session.token, recover: session.recover }) // the README's snippet
      : { token: session.token };
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth });
  if (mode === "readme") {
    socket.on("/ops/connection-success", (info) => {
      session.recover = { offset: info.offset, channels: info.channels };
      const r = info.recovery;
      if (!r) return;
      recoveries[r.recovered ? "recovered" : "not_recovered"] += 1;
      recoveries.replayed += r.replayed ?? 0;
      if (r.reason) recoveries.reasons[r.reason] = (recoveries.reasons[r.reason] ?? 0) + 1;
    });
    socket.onAny((event, ...args) => {
      if (session.recover && args.length > 1) session.recover.offset = args[args.length - 1];
    });
  }
  socket.on("msg", (data) => onMsg(session, data));
  socket.on("connect", () => {
    const c = session.conn;
    c.connectedAt = now();
    session.pending = false;
    session.connects += 1;
    if (session.connects > 1) lat.handshake.push(c.connectedAt - c.start);
    if (mode === "native" && session.connects > 1) {
      recoveries[socket.recovered ? "recovered" : "not_recovered"] += 1;
    }
    setTimeout(() => drop(session, c), between(blipMs));
  });
  // Whoever closed it (a blip, the server), the user comes back after the down time.
  socket.on("disconnect", () => {
    session.conn.closedAt ??= now();
    setTimeout(() => reconnect(session), between(downMs));
  });
  socket.on("connect_error", (err) => {
    session.pending = false;
    if (session.connects === 0) process.stderr.write(`jitter: ${session.name}: ${err.message}\n`);
    setTimeout(() => reconnect(session), between(downMs));
  });
  return socket;
}

function onMsg(session, data) {
  const t = now();
  lastEvent = t;
  session.received += 1;
  const c = session.conn;
  if (session.seen.has(data.s)) {
    session.duplicates += 1;
    return;
  }
  session.seen.add(data.s);
  if (data.s < session.maxSeq) session.outOfOrder += 1;
  session.maxSeq = Math.max(session.maxSeq, data.s);
  // Before this connection's CONNECT (socket.io's own recovery sends the missed packets ahead
  // of it; the client buffers them), or emitted before this reconnect started: replayed.
  if (c.connectedAt === null || data.t < c.start) {
    lat.replayedAge.push(t - data.t);
    c.lastReplay = t;
  } else {
    lat.live.push(t - data.t);
  }
}

function connect(session) {
  if (session.conn?.lastReplay) lat.catchUp.push(session.conn.lastReplay - session.conn.start);
  session.conn = { start: now(), connectedAt: null, closedAt: null, lastReplay: null };
  session.history.push(session.conn);
  session.pending = true;
  if (reuse && session.socket) {
    session.socket.connect();
  } else {
    session.socket?.close();
    session.socket = socketFor(session);
  }
}

function drop(session, conn) {
  if (stopping || session.conn !== conn || !session.socket.connected) return;
  conn.closedAt = now();
  session.socket.io.engine.close(); // the transport goes away, as on a network blip
}

function reconnect(session) {
  if (!session.pending && !session.socket.connected) connect(session);
}

// --- connect everyone once, then send and blip ---------------------------------------------
for (const s of sessions) connect(s);
await until(() => sessions.every((s) => s.connects > 0), 30_000, "every user connected once");

const senders = await Promise.all(
  Array.from({ length: senderCount }, async (_, k) =>
    io(opts.url[k % opts.url.length] + ns, {
      transports: ["websocket"],
      forceNew: true,
      auth: { token: await token(`jsender${k}`) },
    }),
  ),
);
await until(() => senders.every((s) => s.connected), 10_000, "the senders connected");
let senderDrops = 0;
for (const s of senders) s.on("disconnect", () => (senderDrops += 1));
const refused = {};
const onAck = (reply) => {
  const code = reply?.error?.code;
  if (code) refused[code] = (refused[code] ?? 0) + 1;
};

const cpu0 = cpuNow();
const sent = new Array(users).fill(0);
const sentAt = Array.from({ length: users }, () => []); // user → seq → emission time
const t0 = now();
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const elapsed = now() - t0;
    if (elapsed >= duration) {
      clearInterval(tick);
      return resolve();
    }
    for (let i = 0; i < users; i += 1) {
      // User i's events are due at (k + i/users) / rate seconds: spread over each period.
      const due = Math.floor((elapsed / 1000) * rate - i / users) + 1;
      while (sent[i] < due) {
        const t = now();
        senders[i % senderCount].emit("send", { to: `j${i}`, data: { t, s: sent[i] } }, onAck);
        sentAt[i].push(t);
        sent[i] += 1;
      }
    }
  }, 5);
});

// --- stop blipping, let everyone come back and catch up -------------------------------------
stopping = true;
await until(
  () => sessions.every((s) => s.socket.connected) && now() - lastEvent >= settleMs,
  60_000,
  "every user back and quiet",
);
for (const s of sessions) if (s.conn.lastReplay) lat.catchUp.push(s.conn.lastReplay - s.conn.start);
const cpu1 = cpuNow();

const total = (f) => sessions.reduce((a, s) => a + f(s), 0);
const sentTotal = sent.reduce((a, b) => a + b, 0);
const unique = total((s) => s.seen.size);
const result = {
  jitter: true,
  impl: opts.impl ?? "tether",
  label: opts.label ?? mode,
  mode,
  nodes: opts.url.length,
  ns,
  users,
  rate,
  duration_s: duration / 1000,
  blip_ms: blipMs,
  down_ms: downMs,
  senders: senderCount,
  sent: sentTotal,
  refused,
  sender_drops: senderDrops,
  received: total((s) => s.received),
  unique,
  delivered_pct: (100 * unique) / Math.max(sentTotal, 1),
  missing: sentTotal - unique,
  missing_by_state: missingByState(),
  duplicates: total((s) => s.duplicates),
  out_of_order: total((s) => s.outOfOrder),
  reconnects: total((s) => s.connects - 1),
  recoveries,
  replayed_events: lat.replayedAge.length,
  catch_up_ms: summary(lat.catchUp),
  handshake_ms: summary(lat.handshake),
  replayed_age_ms: summary(lat.replayedAge),
  live_ms: summary(lat.live),
  server_cpu_s: cpu1.server - cpu0.server,
  redis_cpu_s: opts["redis-pid"].length ? cpu1.redis - cpu0.redis : null,
  client_cpu_s: cpu1.client - cpu0.client,
};
const text = JSON.stringify(result, null, 2);
if (opts.out) writeFileSync(opts.out, text);
process.stdout.write(text + "\n");
for (const s of senders) s.close();
for (const s of sessions) s.socket.close();
process.exit(0);

// --- helpers ----------------------------------------------------------------------------------
/** Where the user was when each missing event was emitted: connected, down, or handshaking. */
function missingByState() {
  const out = { connected: 0, down: 0, handshake: 0, sample: [] };
  sessions.forEach((session, i) => {
    sentAt[i].forEach((t, seq) => {
      if (session.seen.has(seq)) return;
      const k = session.history.findLastIndex((c) => c.start <= t);
      const c = session.history[k];
      const state =
        c.connectedAt === null || t < c.connectedAt
          ? "handshake"
          : c.closedAt === null || t < c.closedAt
            ? "connected"
            : "down";
      out[state] += 1;
      if (out.sample.length < 10) {
        const rel = (x) => (x === null ? null : +(x - t).toFixed(2));
        out.sample.push({ user: session.name, seq, state, conn: k, start: rel(c.start), connected: rel(c.connectedAt), closed: rel(c.closedAt) });
      }
    });
  });
  return out;
}

function parseArgs(args) {
  const out = { url: [], pid: [], "redis-pid": [] };
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i].replace(/^--/, "");
    const value = args[i + 1];
    if (value === undefined) fail(`--${flag} needs a value`);
    if (Array.isArray(out[flag])) out[flag].push(value);
    else out[flag] = value;
  }
  out.url = out.url.map((u) => u.replace(/\/$/, ""));
  return out;
}

function range(text) {
  const [lo, hi] = text.split(",").map(Number);
  if (!(lo >= 0 && hi >= lo)) fail(`bad range ${text}: LO,HI in ms`);
  return [lo, hi];
}

function fail(message) {
  process.stderr.write(`jitter: ${message}\n`);
  process.exit(2);
}

function until(done, timeoutMs, what) {
  const deadline = now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (done()) {
        clearInterval(check);
        resolve();
      } else if (now() > deadline) {
        clearInterval(check);
        reject(new Error(`jitter: timed out waiting for ${what}`));
      }
    }, 20);
  });
}

/** CPU seconds (user + system) of a process from /proc/<pid>/stat; 0 when it is gone. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function cpuNow() {
  const u = process.cpuUsage();
  return {
    server: opts.pid.reduce((a, p) => a + cpuOf(p), 0),
    redis: opts["redis-pid"].reduce((a, p) => a + cpuOf(p), 0),
    client: (u.user + u.system) / 1e6,
  };
}

function summary(values) {
  if (values.length === 0) return { count: 0, p50: null, p99: null, max: null };
  const v = Float64Array.from(values).sort();
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  return { count: v.length, p50: q(0.5), p99: q(0.99), max: v[v.length - 1] };
}

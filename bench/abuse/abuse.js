#!/usr/bin/env node
// What a hostile client does to the chat demo server (examples/chat). Speaks engine.io v4 /
// socket.io v5 over raw websockets (the `ws` package; no socket.io-client), so that the client
// side costs as little CPU as possible on a small machine.
//
//   node abuse.js handshakes --url http://127.0.0.1:PORT --pid SERVER_PID
//   node abuse.js flood      --url http://127.0.0.1:PORT --pid SERVER_PID
//   node abuse.js joins      --url http://127.0.0.1:PORT --pid SERVER_PID
//   (also: joins-event, idle; options in README.md)
//
// Each prints one line `RESULT <scenario> key=value ...` (see README.md for the keys). The
// flood and joins scenarios run the measuring "side" client in a process of its own, so that
// the attacking sockets' work in Node does not delay its event loop.
'use strict';

const fs = require('fs');
const path = require('path');
const { fork } = require('child_process');
const WebSocket = require('ws');

const NS = '/chat';
const CHANNEL = 'general';

// ---------------------------------------------------------------- helpers

function args(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) out[a.slice(2)] = argv[++i];
    else out._.push(a);
  }
  return out;
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procStatus(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => {
      const m = s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) : NaN;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), threads: Number((s.match(/^Threads:\s+(\d+)/m) || [])[1]) };
  } catch {
    return { rss: NaN, hwm: NaN, threads: NaN };
  }
}

// Server CPU time (user + system), in ms.
function cpuMs(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const mib = (kb) => (kb / 1024).toFixed(1);

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

// p50/p99/max (ms) of the side's round trips sent in the first `untilS` seconds after go.
function during(side, untilS) {
  const r = side.samples.filter(([t]) => t <= untilS * 1000).map(([, rtt]) => rtt).sort((a, b) => a - b);
  return { n: r.length, p50: percentile(r, 50), p99: percentile(r, 99), max: r.length ? r[r.length - 1] : NaN };
}

function codes(map) {
  const e = Object.entries(map);
  return e.length ? e.map(([k, v]) => `${k}:${v}`).join(',') : '-';
}

function bump(map, k, n = 1) {
  map[k] = (map[k] || 0) + n;
}

function line(scenario, kv) {
  const parts = Object.entries(kv).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : v}`);
  console.log(`RESULT ${scenario} ${parts.join(' ')}`);
}

async function login(base, user) {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  if (!res.ok) throw new Error(`login ${user}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

const wsUrl = (base) => `${base.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;

// The error code of an error ack or a refusal: `{"error":{"code":..}}`, `{"data":{"code":..}}`,
// `{"code":..}`, else the start of `message`.
function errorCode(obj) {
  if (!obj || typeof obj !== 'object') return 'unknown';
  const e = obj.error || obj.data || obj;
  if (e && typeof e.code === 'string') return e.code;
  if (typeof obj.message === 'string') return obj.message.split(/[:\s]/)[0] || 'message';
  return 'unknown';
}

const P_EVENT = Buffer.from(`42${NS},`);
const P_ACK = Buffer.from(`43${NS},`);
const P_CONNECT = `40${NS},`;
const P_REFUSED = `44${NS},`;
const P_DISCONNECT = `41${NS}`;

const startsWith = (buf, prefix) => buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

// A connected `/chat` socket: resolves once the namespace accepted it.
//   onEvent(name, buf): every `42/chat,` frame (name read from a prefix, no JSON parse)
//   onAck(id, buf): every `43/chat,<id>` frame
function connect(base, token, { onEvent = () => {}, onAck = () => {}, onClose = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base), { perMessageDeflate: false });
    let state = 'open';
    const sock = { ws, closedByServer: false, disconnectCode: null, closed: false };
    ws.on('message', (data) => {
      if (data.length === 1 && data[0] === 0x32) return ws.send('3'); // ping → pong
      if (state === 'open') {
        if (data[0] === 0x30) {
          state = 'connecting';
          ws.send(P_CONNECT + JSON.stringify({ token }));
        }
        return;
      }
      if (state === 'connecting') {
        const s = data.toString();
        if (s.startsWith(P_CONNECT)) {
          state = 'connected';
          resolve(sock);
        } else if (s.startsWith(P_REFUSED)) {
          state = 'refused';
          reject(new Error(`refused: ${s.slice(0, 200)}`));
        }
        return;
      }
      if (startsWith(data, P_ACK)) {
        let i = P_ACK.length;
        let id = 0;
        while (i < data.length && data[i] >= 0x30 && data[i] <= 0x39) id = id * 10 + (data[i++] - 0x30);
        onAck(id, data, i);
      } else if (startsWith(data, P_EVENT)) {
        const head = data.subarray(P_EVENT.length, P_EVENT.length + 40).toString();
        const m = head.match(/^\["([^"]*)"/);
        const name = m ? m[1] : '?';
        if (name === '/ops/disconnected') {
          try {
            sock.disconnectCode = errorCode(JSON.parse(data.subarray(P_EVENT.length).toString())[1]);
          } catch {
            sock.disconnectCode = 'unparsed';
          }
        }
        onEvent(name, data);
      } else if (data.toString().startsWith(P_DISCONNECT)) {
        sock.disconnectCode = sock.disconnectCode || 'ns_disconnect';
      }
    });
    ws.on('error', (e) => {
      if (state !== 'connected') reject(e);
    });
    ws.on('close', (code) => {
      sock.closed = true;
      sock.closedAt = now();
      sock.closeCode = code;
      if (!sock.closing) sock.closedByServer = true;
      if (state !== 'connected') reject(new Error('closed before connect'));
      onClose(sock);
    });
  });
}

// An ack's payload is `[value]`; an error ack is `[{"error":{..}}]`. Reads only the head of
// large acks (the connection info may list thousands of channels).
function ackResult(buf, from) {
  const head = buf.subarray(from, from + 12).toString();
  if (!head.startsWith('[{"error"')) return { ok: true };
  try {
    return { ok: false, code: errorCode(JSON.parse(buf.subarray(from).toString())[0]) };
  } catch {
    return { ok: false, code: 'unparsed' };
  }
}

function ackValue(buf, from) {
  try {
    return JSON.parse(buf.subarray(from).toString())[0];
  } catch {
    return undefined;
  }
}

function emit(sock, id, event, data) {
  sock.ws.send(`42${NS},${id}${JSON.stringify(data === undefined ? [event] : [event, data])}`);
}

// Emits with an ack and waits for it.
function request(sock, ids, event, data) {
  return new Promise((resolve) => {
    const id = ids.next++;
    ids.waiting.set(id, resolve);
    emit(sock, id, event, data);
  });
}

// ---------------------------------------------------------------- 1. refused handshakes

async function handshakes(o) {
  const base = o.url;
  const pid = Number(o.pid);
  const n = Number(o.n ?? 9000);
  const concurrency = Number(o.concurrency ?? 50);
  const after = Number(o['wait-after'] ?? 10000);
  // --waves 2: a second 9,000 on the same server after the first's 10 s (whether the memory of
  // the first is reused); every wave prints its line, and no socket is closed before the end.
  const waves = Number(o.waves ?? 1);
  const url = wsUrl(base);
  const socks = [];
  let closedByServer = 0;

  function one(stats) {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      socks.push(ws);
      let state = 'open';
      let settled = false;
      const done = (ok) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          resolve(ok);
        }
      };
      const timer = setTimeout(() => {
        stats.failed++;
        bump(stats.refusals, 'no_answer_10s');
        done(false);
      }, 10000);
      ws.on('message', (data) => {
        if (data.length === 1 && data[0] === 0x32) return ws.send('3');
        const s = data.toString();
        if (state === 'open' && s[0] === '0') {
          state = 'sent';
          ws.send(`${P_CONNECT}{"token":"not-a-token"}`);
        } else if (state === 'sent' && s.startsWith(P_REFUSED)) {
          state = 'refused';
          stats.refused++;
          let code = 'unparsed';
          try {
            code = errorCode(JSON.parse(s.slice(P_REFUSED.length)));
          } catch {}
          bump(stats.refusals, code);
          done(true);
        } else if (state === 'sent' && s.startsWith(P_CONNECT)) {
          state = 'accepted';
          bump(stats.refusals, 'ACCEPTED');
          done(false);
        }
      });
      ws.on('error', () => {
        if (state === 'open' || state === 'sent') {
          stats.failed++;
          bump(stats.refusals, `error_${state}`);
          done(false);
        }
      });
      ws.on('close', () => {
        closedByServer++;
        if (state === 'open' || state === 'sent') {
          stats.failed++;
          bump(stats.refusals, `closed_${state}`);
        }
        done(false);
      });
    });
  }

  for (let wave = 1; wave <= waves; wave++) {
    const stats = { refused: 0, failed: 0, refusals: {} };
    const before = procStatus(pid);
    const cpu0 = cpuMs(pid);
    const closed0 = closedByServer;
    let next = 0;
    const t0 = now();
    const worker = async () => {
      while (next < n) {
        next++;
        await one(stats);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = now() - t0;
    const atEnd = procStatus(pid);
    const closedAtEnd = closedByServer - closed0;
    await sleep(after);
    const later = procStatus(pid);
    const cpu1 = cpuMs(pid);
    line(wave === 1 ? 'handshakes' : `handshakes-wave${wave}`, {
      n,
      concurrency,
      refused: stats.refused,
      failed: stats.failed,
      codes: codes(stats.refusals),
      secs: elapsed / 1000,
      rss_before_mib: mib(before.rss),
      rss_at_last_mib: mib(atEnd.rss),
      rss_plus10s_mib: mib(later.rss),
      peak_rss_mib: mib(later.hwm),
      closed_by_server_at_last: closedAtEnd,
      closed_by_server_plus10s: closedByServer - closed0,
      server_cpu_s: ((cpu1 - cpu0) / 1000).toFixed(2),
      server_alive: alive(pid) ? 'yes' : 'NO',
    });
  }
  for (const ws of socks) ws.terminate();
}

// ---------------------------------------------------------------- the side client (child)

// Measures round trips of `who` every 10 ms from `go` until `stop`, then waits for the acks
// still out (at most `drain` ms) and for the channel's messages to stop coming (1 s quiet).
async function sideRole(cfg) {
  let messages = 0;
  let lastFrame = now();
  const ids = { next: 1, waiting: new Map() };
  const sent = new Map();
  const rtts = [];
  const samples = []; // [sent at, ms after go; round trip, ms]
  let t0 = 0;
  const refused = {};
  const sock = await connect(cfg.url, cfg.token, {
    onEvent: (name) => {
      lastFrame = now();
      if (name === 'message') messages++;
    },
    onAck: (id, buf, from) => {
      lastFrame = now();
      const w = ids.waiting.get(id);
      if (w) {
        ids.waiting.delete(id);
        return w(ackValue(buf, from));
      }
      const t = sent.get(id);
      if (t === undefined) return;
      sent.delete(id);
      const r = ackResult(buf, from);
      if (r.ok) {
        rtts.push(now() - t);
        samples.push([Math.round(t - t0), Number((now() - t).toFixed(3))]);
      }
      else bump(refused, r.code);
    },
  });
  if (cfg.join) {
    const ack = await request(sock, ids, 'join', { channel: CHANNEL });
    if (ack && ack.error) throw new Error(`side join: ${JSON.stringify(ack)}`);
  }
  process.send({ type: 'ready' });
  await new Promise((r) => process.once('message', (m) => m.type === 'go' && r()));
  messages = 0;
  let id = 1000000;
  let stopped = false;
  t0 = now();
  // Every `probe` ms (10) on a fixed schedule: a tick that came late sends the requests it missed.
  const probe = cfg.probe || 10;
  const timer = setInterval(() => {
    const due = Math.floor((now() - t0) / probe) + 1;
    while (!stopped && !sock.closed && id - 1000000 < due) {
      sent.set(id, now());
      emit(sock, id++, 'who');
    }
  }, probe);
  await new Promise((r) => process.once('message', (m) => m.type === 'stop' && r()));
  stopped = true;
  clearInterval(timer);
  const window = now() - t0;
  const asked = id - 1000000;
  const tEnd = now();
  while (now() - tEnd < cfg.drain && !sock.closed && (sent.size > 0 || now() - lastFrame < 1000)) await sleep(50);
  const lost = sent.size;
  rtts.sort((a, b) => a - b);
  sock.closing = true;
  sock.ws.terminate();
  process.send({
    type: 'result',
    side: {
      window_s: window / 1000,
      asked,
      answered: rtts.length,
      lost,
      refused: codes(refused),
      p50: percentile(rtts, 50),
      p99: percentile(rtts, 99),
      max: rtts.length ? rtts[rtts.length - 1] : NaN,
      messages,
      closed_by_server: sock.closedByServer ? sock.disconnectCode || `ws${sock.closeCode}` : 'no',
      samples,
    },
  });
}

// ---------------------------------------------------------------- 2. flood (child: flooders)

async function floodersRole(cfg) {
  const text = 'x'.repeat(96) + ' hi!'; // 100 characters
  const socks = [];
  let frames = 0;
  let lastFrame = now();
  let stopped = false;
  const stats = { sent: 0, ok: 0, delivered: 0, refused: {} };
  const out = new Set();
  for (const token of cfg.tokens) {
    const ids = { next: 1, waiting: new Map() };
    const s = await connect(cfg.url, token, {
      onEvent: () => {
        frames++;
        lastFrame = now();
      },
      onAck: (id, buf, from) => {
        lastFrame = now();
        const w = ids.waiting.get(id);
        if (w) {
          ids.waiting.delete(id);
          return w(ackValue(buf, from));
        }
        s.out--;
        const r = ackResult(buf, from);
        if (r.ok) {
          stats.ok++;
          const v = ackValue(buf, from);
          if (v && typeof v.delivered === 'number') stats.delivered += v.delivered;
        } else bump(stats.refused, r.code);
      },
    });
    s.out = 0;
    s.nextId = 1000000;
    const ack = await request(s, ids, 'join', { channel: CHANNEL });
    if (ack && ack.error) throw new Error(`flooder join: ${JSON.stringify(ack)}`);
    socks.push(s);
  }
  process.send({ type: 'ready' });
  await new Promise((r) => process.once('message', (m) => m.type === 'go' && r()));
  frames = 0;
  const tGo = now();
  process.once('message', (m) => m.type === 'stop' && (stopped = true));
  const payload = JSON.stringify({ channel: CHANNEL, text });
  // As fast as the sockets take it: each socket writes while its buffer is under 64 KiB, in
  // batches of 64 so the process keeps reading.
  await new Promise((resolve) => {
    const pump = () => {
      if (stopped) return resolve();
      for (const s of socks) {
        if (s.closed) continue;
        for (let k = 0; k < 64 && s.ws.bufferedAmount < 65536; k++) {
          s.ws.send(`42${NS},${s.nextId++}["say",${payload}]`);
          s.out++;
          stats.sent++;
        }
      }
      setImmediate(pump);
    };
    pump();
  });
  const tEnd = now();
  while (now() - tEnd < cfg.drain && socks.some((s) => !s.closed && s.out > 0) && now() - lastFrame < 2000) await sleep(50);
  const unacked = socks.reduce((n, s) => n + (s.closed ? 0 : s.out), 0);
  const lostToClose = socks.reduce((n, s) => n + (s.closed ? s.out : 0), 0);
  const closed = socks.filter((s) => s.closedByServer);
  const why = {};
  for (const s of closed) bump(why, s.disconnectCode || `ws${s.closeCode}`);
  // null (not NaN, which IPC turns into null anyway) when some flooder was never closed.
  const lastClose = closed.length === socks.length ? Math.max(...closed.map((s) => s.closedAt - tGo)) / 1000 : null;
  for (const s of socks) {
    s.closing = true;
    s.ws.terminate();
  }
  process.send({
    type: 'result',
    flood: {
      sent: stats.sent,
      accepted: stats.ok,
      delivered: stats.delivered,
      refused: codes(stats.refused),
      unacked_open: unacked,
      unacked_closed: lostToClose,
      flooder_frames: frames,
      flooders_closed: closed.length,
      closed_why: codes(why),
      all_closed_at_s: lastClose,
    },
  });
}

// ---------------------------------------------------------------- 3. joins (child: joiner)

async function joinerRole(cfg) {
  const n = cfg.joins;
  let ok = 0;
  let acked = 0;
  const refused = {};
  let lastAck = 0;
  let infoEvents = 0;
  let bytes = 0;
  let held; // the `/ops/connection` ack at the end
  const sock = await connect(cfg.url, cfg.token, {
    onEvent: (name, buf) => {
      bytes += buf.length;
      if (name === '/ops/connection-success') infoEvents++;
    },
    onAck: (id, buf, from) => {
      bytes += buf.length;
      if (id === 0) return void (held = ackValue(buf, from));
      acked++;
      lastAck = now();
      const r = ackResult(buf, from);
      if (r.ok) ok++;
      else bump(refused, r.code);
    },
  });
  process.send({ type: 'ready' });
  await new Promise((r) => process.once('message', (m) => m.type === 'go' && r()));
  const t0 = now();
  let next = 0;
  await new Promise((resolve) => {
    const pump = () => {
      if (sock.closed) return resolve();
      for (let k = 0; k < 256 && next < n && sock.ws.bufferedAmount < 65536; k++) {
        emit(sock, next + 1, cfg.event, { channel: `c${next}` });
        next++;
      }
      if (next >= n) return resolve();
      setImmediate(pump);
    };
    pump();
  });
  const sentAt = now() - t0;
  // Until every join is answered, the server closes the socket, no ack came for 5 s (the
  // server may drop acks it cannot queue), or the deadline.
  const quiet = () => now() - Math.max(lastAck, t0 + sentAt) > 5000;
  while (acked < next && !sock.closed && !quiet() && now() - t0 < cfg.deadline) await sleep(20);
  const done = (acked < next && !sock.closed && quiet() ? Math.max(lastAck, t0 + sentAt) : now()) - t0;
  // How many channels the socket is in now (some acks of successful joins may have been dropped).
  let channels = null;
  if (!sock.closed) {
    emit(sock, 0, '/ops/connection');
    const t = now();
    while (held === undefined && !sock.closed && now() - t < 5000) await sleep(20);
    if (held && Array.isArray(held.channels)) channels = held.channels.length;
  }
  process.send({
    type: 'result',
    joins: {
      sent: next,
      send_s: sentAt / 1000,
      joined: ok,
      refused: codes(refused),
      unanswered: next - acked,
      last_ack_s: lastAck ? (lastAck - t0) / 1000 : null,
      done_s: done / 1000,
      rx_mib: (bytes / 1048576).toFixed(1),
      info_events: infoEvents,
      channels_held: channels,
      joiner_closed: sock.closedByServer ? sock.disconnectCode || `ws${sock.closeCode}` : 'no',
    },
  });
  sock.closing = true;
  sock.ws.terminate();
}

// ---------------------------------------------------------------- orchestration (parent)

function child(role, cfg) {
  const c = fork(__filename, ['--role', role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = new Promise((resolve, reject) => {
    c.on('message', (m) => m.type === 'result' && resolve(m));
    c.on('exit', (code) => code && reject(new Error(`${role} exited with ${code}`)));
  });
  const ready = new Promise((resolve) => c.on('message', (m) => m.type === 'ready' && resolve()));
  c.send({ type: 'config', cfg });
  return { c, ready, result };
}

// Samples the server's RSS every 100 ms until stopped: the peak during a scenario.
function rssSampler(pid) {
  let peak = 0;
  const t = setInterval(() => {
    const r = procStatus(pid).rss;
    if (r > peak) peak = r;
  }, 100);
  return () => {
    clearInterval(t);
    return peak;
  };
}

async function flood(o) {
  const base = o.url;
  const pid = Number(o.pid);
  const secs = Number(o.secs ?? 5);
  const flooders = Number(o.flooders ?? 20);
  const users = ['side', ...Array.from({ length: flooders }, (_, i) => `f${i}`)];
  const tokens = await Promise.all(users.map((u) => login(base, u)));
  const side = child('side', { url: base, token: tokens[0], join: true, drain: 20000, probe: Number(o['probe-ms'] ?? 10) });
  const fl = child('flooders', { url: base, tokens: tokens.slice(1), drain: 20000 });
  await Promise.all([side.ready, fl.ready]);
  await sleep(500);
  const rss0 = procStatus(pid).rss;
  const cpu0 = cpuMs(pid);
  const stopRss = rssSampler(pid);
  side.c.send({ type: 'go' });
  fl.c.send({ type: 'go' });
  await sleep(secs * 1000);
  side.c.send({ type: 'stop' });
  fl.c.send({ type: 'stop' });
  const [s, f] = await Promise.all([side.result, fl.result]);
  const peak = stopRss();
  const cpu1 = cpuMs(pid);
  line('flood', {
    side_p50_ms: s.side.p50,
    side_p99_ms: s.side.p99,
    side_max_ms: s.side.max,
    side_asked: s.side.asked,
    side_answered: s.side.answered,
    side_lost: s.side.lost,
    side_refused: s.side.refused,
    ...(() => {
      // While every flooder was still connected (the whole window when they all were).
      const until = f.flood.all_closed_at_s == null ? secs : Math.min(secs, f.flood.all_closed_at_s);
      const d = during(s.side, until);
      return { flood_live_s: until, side_live_n: d.n, side_live_p50_ms: d.p50, side_live_p99_ms: d.p99, side_live_max_ms: d.max };
    })(),
    side_messages: s.side.messages,
    side_closed: s.side.closed_by_server,
    says_sent: f.flood.sent,
    says_accepted: f.flood.accepted,
    says_refused: f.flood.refused,
    says_unacked_open: f.flood.unacked_open,
    says_unacked_closed: f.flood.unacked_closed,
    delivered_sum: f.flood.delivered,
    flooders_closed: f.flood.flooders_closed,
    flooders_closed_why: f.flood.closed_why,
    flooders_all_closed_at_s: f.flood.all_closed_at_s,
    rss_before_mib: mib(rss0),
    rss_peak_mib: mib(peak),
    server_cpu_s: ((cpu1 - cpu0) / 1000).toFixed(2),
    server_alive: alive(pid) ? 'yes' : 'NO',
  });
  side.c.kill();
  fl.c.kill();
}

async function joins(o) {
  const base = o.url;
  const pid = Number(o.pid);
  const n = Number(o.joins ?? 10000);
  const minSecs = Number(o.secs ?? 5);
  const deadline = Number(o.deadline ?? 120) * 1000;
  const [sideToken, joinerToken] = await Promise.all([login(base, 'side'), login(base, 'joiner')]);
  const side = child('side', { url: base, token: sideToken, join: false, drain: 20000, probe: Number(o['probe-ms'] ?? 10) });
  const jr = child('joiner', { url: base, token: joinerToken, joins: n, deadline, event: o.event });
  await Promise.all([side.ready, jr.ready]);
  await sleep(500);
  const rss0 = procStatus(pid).rss;
  const cpu0 = cpuMs(pid);
  const stopRss = rssSampler(pid);
  const t0 = now();
  side.c.send({ type: 'go' });
  jr.c.send({ type: 'go' });
  const j = await jr.result;
  const left = minSecs * 1000 - (now() - t0);
  if (left > 0) await sleep(left);
  side.c.send({ type: 'stop' });
  const s = await side.result;
  const peak = stopRss();
  const cpu1 = cpuMs(pid);
  line(o.scenario, {
    side_p50_ms: s.side.p50,
    side_p99_ms: s.side.p99,
    side_max_ms: s.side.max,
    side_window_s: s.side.window_s,
    ...(() => {
      // While the joiner was at work: until its last ack, or until it was closed.
      const d = during(s.side, j.joins.done_s);
      return { side_live_n: d.n, side_live_p50_ms: d.p50, side_live_p99_ms: d.p99, side_live_max_ms: d.max };
    })(),
    side_asked: s.side.asked,
    side_answered: s.side.answered,
    side_lost: s.side.lost,
    side_refused: s.side.refused,
    side_closed: s.side.closed_by_server,
    joins_sent: j.joins.sent,
    joined: j.joins.joined,
    join_refused: j.joins.refused,
    join_unanswered: j.joins.unanswered,
    joins_done_s: j.joins.done_s,
    joiner_rx_mib: j.joins.rx_mib,
    joiner_info_events: j.joins.info_events,
    joiner_channels_at_end: j.joins.channels_held,
    joiner_closed: j.joins.joiner_closed,
    rss_before_mib: mib(rss0),
    rss_peak_mib: mib(peak),
    server_cpu_s: ((cpu1 - cpu0) / 1000).toFixed(2),
    server_alive: alive(pid) ? 'yes' : 'NO',
  });
  side.c.kill();
  jr.c.kill();
}

async function main() {
  const o = args(process.argv.slice(2));
  if (o.role) {
    const cfg = await new Promise((r) => process.once('message', (m) => m.type === 'config' && r(m.cfg)));
    const roles = { side: sideRole, flooders: floodersRole, joiner: joinerRole };
    await roles[o.role](cfg);
    // The parent kills children once it has their results.
    return;
  }
  const scenario = o._[0];
  // joins: tether's `/ops/join`; joins-event: the demo's own `join` event.
  const run = {
    handshakes,
    flood,
    joins: (o) => joins({ ...o, scenario, event: '/ops/join' }),
    // The side alone for 5 s (a joiner that sends nothing): the baseline of its round trips.
    idle: (o) => joins({ ...o, scenario, event: '/ops/join', joins: 0 }),
    'joins-event': (o) => joins({ ...o, scenario, event: 'join' }),
  }[scenario];
  if (!run || !o.url || !o.pid) {
    console.error(`usage: ${path.basename(__filename)} idle|handshakes|flood|joins|joins-event --url http://127.0.0.1:PORT --pid SERVER_PID`);
    process.exit(2);
  }
  await run(o);
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});

// The chat demo in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
// playwright-core (no browser download). Two browser contexts log in as two users, join a channel,
// exchange a channel message and a DM, see a notification posted over HTTP, an error ack for a
// bad channel name, and log out and back in on the same socket. A second server with 2 s tokens
// checks that the page renews an expired token by itself (same socket, messages still arrive)
// and, when it cannot, shows why the server disconnected it. A third is stopped with SIGTERM
// while a page is open: the page is told the server is restarting and the process exits 0.
// Saves screenshots to tests/artifacts/.
//
//   node --test tests/browser/chat.spec.mjs
//
// Environment: CHAT_BIN (the chat server binary; default target/debug/examples/chat, build it with
// `cargo build --example chat`), CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default
// tests/artifacts). tests/tests/browser.rs runs this file from `cargo test`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const CHAT_BIN = process.env.CHAT_BIN ?? join(root, "target/debug/examples/chat");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = process.env.ARTIFACTS ?? join(root, "tests/artifacts");
const TIMEOUT = 10_000;

let server; // { child, url, output, secret }
let shortLived; // the same, with tokens of 2 s and a grace of 1 s
let browser;

/** Starts the chat binary on a port the OS picks (PORT=0) and waits for its address. */
function startServer(extraEnv = {}) {
  // What POST /api/notify/{user} needs as `Authorization: Bearer ..`.
  const secret = randomBytes(24).toString("base64url");
  const key = randomBytes(32);
  assert.ok(existsSync(CHAT_BIN), `the chat server is not built: run \`cargo build --example chat\` (missing ${CHAT_BIN})`);
  const child = spawn(CHAT_BIN, [], {
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      TETHER_KEY: key.toString("base64url"),
      NO_COLOR: "1",
      RUST_LOG: process.env.RUST_LOG ?? "info",
      NOTIFY_SECRET: secret,
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`the chat server did not start in 20 s:\n${output}`)), 20_000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/chat demo on (http:\/\/[\d.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, url: m[1], output: () => output, secret, key });
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the chat server exited (${code ?? signal}):\n${output}`));
    });
  });
}

/** A token the server's key opens: compact JWE, `alg: dir`, `enc: A256GCM` (what tether issues). */
function mintToken(key, claims) {
  const header = Buffer.from(JSON.stringify({ alg: "dir", enc: "A256GCM" })).toString("base64url");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(header, "ascii"));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(claims), "utf8"), cipher.final()]);
  return [header, "", iv.toString("base64url"), ciphertext.toString("base64url"),
    cipher.getAuthTag().toString("base64url")].join(".");
}

/** `POST /api/notify/{user}` to `srv` with its secret (or `secret`, e.g. none). */
async function notify(user, body, { srv = server, secret = srv.secret } = {}) {
  const headers = { "content-type": "application/json" };
  if (secret != null) headers.authorization = `Bearer ${secret}`;
  const res = await fetch(`${srv.url}/api/notify/${user}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** A browser context with the page of `srv` open and logged in as `user`. */
async function openAs(user, srv = server) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  await page.goto(srv.url);
  // The name field has the focus on load.
  await page.waitForFunction(() => document.activeElement?.id === "login-name");
  await expectText(page, "#login-panel", "demo without passwords");
  await logIn(page, user);
  return { context, page, problems };
}

async function logIn(page, user) {
  await page.fill("#login-name", user);
  await page.press("#login-name", "Enter");
  await page.waitForSelector("#chat", { state: "visible" });
  await waitForText(page, "#conn-user-id", user);
  await page.waitForSelector('#status[data-state="online"]');
}

async function expectText(page, selector, text) {
  const content = await page.textContent(selector);
  assert.ok(content.includes(text), `${selector} should contain ${JSON.stringify(text)}, has ${JSON.stringify(content)}`);
}

async function waitForText(page, selector, text) {
  try {
    await page.waitForFunction(
      ([sel, t]) => document.querySelector(sel)?.textContent.includes(t),
      [selector, text],
      { timeout: TIMEOUT },
    );
  } catch (err) {
    const content = await page.textContent(selector).catch(() => "(no such element)");
    throw new Error(`${selector} never contained ${JSON.stringify(text)}; it has ${JSON.stringify(content)}`, { cause: err });
  }
}

async function joinChannel(page, channel) {
  await page.fill("#join-channel", channel);
  await page.click("#join-submit");
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}: run scripts/setup.sh (apt-get install chromium)`);
  [server, shortLived] = await Promise.all([
    startServer(),
    startServer({ TOKEN_TTL_SECS: "2", TOKEN_GRACE_SECS: "1" }),
  ]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.child.kill("SIGTERM");
  shortLived?.child.kill("SIGTERM");
});

test("two users chat, DM, get a notification and see error acks in the browser", async () => {
  const alice = await openAs("alice");
  const bob = await openAs("bob");

  // Connection info from /ops/connection-success.
  await waitForText(alice.page, "#conn-namespace", "/chat");
  const aliceClientId = (await alice.page.textContent("#conn-client-id")).trim();
  assert.match(aliceClientId, /^[\w-]{8,}$/, "a socket id in the connection info");

  // Who is online: bob's arrival reaches alice as `presence`; bob's `who` ack lists alice.
  await alice.page.waitForSelector('#who-list [data-user="bob"]');
  await bob.page.waitForSelector('#who-list [data-user="alice"]');

  // Both join #general; the join ack updates the channel list and the connection info.
  await joinChannel(alice.page, "general");
  await joinChannel(bob.page, "general");
  for (const { page } of [alice, bob]) {
    await page.waitForSelector('#channel-list [data-channel="general"]');
    await waitForText(page, "#conn-channels", "general");
  }

  // A channel message reaches both members.
  await alice.page.fill("#say-text", "Hello from alice <b>not bold</b>");
  await alice.page.press("#say-text", "Enter");
  for (const { page } of [alice, bob]) {
    const msg = page.locator('#messages [data-kind="message"][data-from="alice"][data-channel="general"]');
    await msg.waitFor();
    assert.equal((await msg.locator(".text").textContent()).trim(), "Hello from alice <b>not bold</b>");
  }
  assert.equal(await bob.page.locator("#messages b").count(), 0, "message text is not HTML");

  // A DM from bob to alice: she receives it, bob sees it sent (online).
  await bob.page.click('#who-list [data-user="alice"] [data-testid="who-dm"]');
  assert.equal(await bob.page.inputValue("#dm-to"), "alice");
  assert.equal(await bob.page.evaluate(() => document.activeElement?.id), "dm-text", "DM button focuses the text");
  await bob.page.keyboard.type("psst, alice");
  await bob.page.keyboard.press("Enter");
  const dmIn = alice.page.locator('#messages [data-kind="dm"][data-direction="in"][data-from="bob"]');
  await dmIn.waitFor();
  assert.equal((await dmIn.locator(".text").textContent()).trim(), "psst, alice");
  await bob.page.waitForSelector('#messages [data-kind="dm"][data-direction="out"][data-to="alice"][data-online="true"]');

  // A DM to someone offline says so.
  await bob.page.fill("#dm-to", "carol");
  await bob.page.fill("#dm-text", "are you there?");
  await bob.page.click("#dm-submit");
  await bob.page.waitForSelector('#messages [data-to="carol"][data-online="false"] [data-testid="dm-offline"]');

  // A notification POSTed without the notify secret is refused and shows nowhere.
  const refused = await notify("alice", { title: "Phishing" }, { secret: null });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, "unauthorized");
  const wrong = await notify("alice", { title: "Phishing" }, { secret: "guess" });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.error.code, "forbidden");

  // A notification POSTed over HTTP with the secret appears on alice's page only.
  const notified = await notify("alice", { title: "Build finished", text: "main is green" });
  assert.equal(notified.status, 200);
  assert.equal(notified.body.delivered, true);
  const note = alice.page.locator('#notifications [data-testid="notification"]');
  await note.waitFor();
  assert.match(await note.textContent(), /Build finished.*main is green/s);
  assert.equal(await bob.page.locator('#notifications [data-testid="notification"]').count(), 0);
  assert.equal(await alice.page.locator("#notifications").textContent().then((t) => t.includes("Phishing")), false);
  // The page tells how to notify, never the secret.
  await expectText(alice.page, "#notify-example", "Authorization: Bearer $NOTIFY_SECRET");
  assert.equal((await alice.page.content()).includes(server.secret), false, "the page never shows the secret");

  // An error ack for a bad channel name is shown to the user.
  await joinChannel(bob.page, "no spaces!");
  await bob.page.waitForSelector('#errors [data-testid="error"][data-code="invalid_channel"]');
  await waitForText(bob.page, "#join-feedback", "invalid_channel");

  await alice.page.screenshot({ path: join(ARTIFACTS, "chat-alice.png"), fullPage: true });
  await bob.page.screenshot({ path: join(ARTIFACTS, "chat-bob.png"), fullPage: true });

  // Leaving: bob's leave ack removes #general; alice's next message does not reach him.
  await bob.page.click('#channel-list [data-channel="general"] [data-testid="channel-leave"]');
  await bob.page.waitForSelector('#channel-list [data-channel="general"]', { state: "detached" });
  await alice.page.fill("#say-text", "only for members");
  await alice.page.press("#say-text", "Enter");
  await waitForText(alice.page, "#messages", "only for members");

  // Log out and back in on the same socket (/ops/logout, then /ops/login with a new token).
  await alice.page.click("#logout");
  await alice.page.waitForSelector("#login-panel", { state: "visible" });
  await waitForText(alice.page, "#conn-user-id", "null");
  await waitForText(alice.page, "#status", "logged out");
  assert.equal(await alice.page.evaluate(() => document.activeElement?.id), "login-name");
  await alice.page.screenshot({ path: join(ARTIFACTS, "chat-alice-logged-out.png"), fullPage: true });
  await logIn(alice.page, "alice");
  assert.equal((await alice.page.textContent("#conn-client-id")).trim(), aliceClientId, "same socket after logout/login");
  assert.equal((await alice.page.textContent("#status-text")).trim(), "connected");
  // Still reachable as alice on that socket.
  await bob.page.fill("#dm-to", "alice");
  await bob.page.fill("#dm-text", "welcome back");
  await bob.page.click("#dm-submit");
  await alice.page.waitForSelector('#messages [data-kind="dm"][data-from="bob"]');
  await waitForText(alice.page, "#messages", "welcome back");
  await alice.page.screenshot({ path: join(ARTIFACTS, "chat-alice-relogin.png"), fullPage: true });

  assert.equal(await bob.page.textContent("#messages").then((t) => t.includes("only for members")), false,
    "a member who left receives no more channel messages");
  assert.deepEqual([...alice.problems, ...bob.problems], [], "no page errors");
  await alice.context.close();
  await bob.context.close();
});

test("the page renews an expired token by itself, and shows why when it cannot", async () => {
  const carol = await openAs("carol", shortLived);
  const clientId = (await carol.page.textContent("#conn-client-id")).trim();
  await joinChannel(carol.page, "general");
  await carol.page.waitForSelector('#channel-list [data-channel="general"]');

  // Tokens last 2 s: /ops/token-expired, a fresh token from /api/login, /ops/login. Nothing
  // shows: same socket, same user, still connected past the grace.
  await carol.page.waitForSelector('body[data-token-renewals="1"]', { timeout: 8_000 });
  const renewed = Date.now();
  assert.equal((await carol.page.textContent("#conn-client-id")).trim(), clientId, "the same socket");
  assert.equal((await carol.page.textContent("#status-text")).trim(), "connected");
  await waitForText(carol.page, "#conn-user-id", "carol");
  assert.equal(await carol.page.locator('#errors [data-testid="error"]').count(), 0, "no error shown");
  // Still receiving: a notification, and its own channel message.
  const notified = await notify("carol", { title: "after renewal" }, { srv: shortLived });
  assert.equal(notified.body.delivered, true);
  await waitForText(carol.page, "#notifications", "after renewal");
  await carol.page.fill("#say-text", "still here");
  await carol.page.press("#say-text", "Enter");
  await carol.page.locator('#messages [data-kind="message"][data-from="carol"]').waitFor();
  // The old token's grace (1 s) runs out without a disconnect.
  await carol.page.waitForTimeout(Math.max(0, renewed + 1_300 - Date.now()));
  assert.equal((await carol.page.textContent("#status-text")).trim(), "connected");
  assert.equal(await carol.page.locator('#errors [data-testid="error"]').count(), 0, "no disconnect");
  assert.deepEqual(carol.problems, [], "no page errors while renewing");

  // The login endpoint goes down: the renewed token expires in turn, its renewal fails, the
  // server disconnects the socket after the grace, and the page says why.
  await carol.page.route("**/api/login", (route) => route.fulfill({
    status: 503,
    contentType: "application/json",
    body: JSON.stringify({ error: { code: "unavailable", message: "logins are down" } }),
  }));
  await carol.page.waitForSelector("#login-panel", { state: "visible", timeout: 8_000 });
  await waitForText(carol.page, "#login-error", "expired_token");
  await waitForText(carol.page, "#status-text", "disconnected by the server (expired_token)");
  await carol.page.screenshot({ path: join(ARTIFACTS, "chat-token-expired.png"), fullPage: true });
  await carol.context.close();
});

test("a saved session whose token expired connects again with a fresh token", async () => {
  // A token that expired 10 minutes ago, well past the handshake's leeway, saved by an earlier visit.
  const stale = mintToken(server.key, { sub: "dave", exp: Math.floor(Date.now() / 1000) - 600 });
  const context = await browser.newContext();
  await context.addInitScript((token) => {
    sessionStorage.setItem("tether-chat-session", JSON.stringify({ token, user: "dave" }));
  }, stale);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const refused = [];
  page.on("pageerror", (err) => refused.push(`pageerror: ${err.message}`));
  await page.goto(server.url);
  // Refused with expired_token, then connected as dave with a token from /api/login.
  await page.waitForSelector('#status[data-state="online"]');
  await waitForText(page, "#conn-user-id", "dave");
  assert.equal(await page.locator("#login-panel").isVisible(), false);
  const saved = await page.evaluate(() => JSON.parse(sessionStorage.getItem("tether-chat-session")));
  assert.equal(saved.user, "dave");
  assert.notEqual(saved.token, stale, "the fresh token is saved");
  assert.deepEqual(refused, []);
  await context.close();
});

test("SIGTERM drains the demo: the page is told server_shutdown and the process exits 0", async () => {
  const draining = await startServer();
  const exited = new Promise((resolveExit) => {
    draining.child.on("exit", (code, signal) => resolveExit({ code, signal }));
  });
  const erin = await openAs("erin", draining);
  draining.child.kill("SIGTERM");
  // The page hears `/ops/disconnected {code: "server_shutdown", reconnect: true}` and says so
  // before its first reconnection attempt (0.25–1.25 s later).
  await waitForText(erin.page, "#status-text", "the server is restarting; reconnecting…");
  const { code, signal } = await Promise.race([
    exited,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no exit 5 s after SIGTERM:\n${draining.output()}`)), 5_000)),
  ]);
  assert.equal(signal, null, draining.output());
  assert.equal(code, 0, draining.output());
  assert.match(draining.output(), /drained; stopping.*sockets=1/);
  await erin.context.close();
});

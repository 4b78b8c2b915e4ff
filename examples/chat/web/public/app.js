// The tether chat demo's page: plain JavaScript on the official socket.io-client (global `io`,
// served at /vendor/socket.io.min.js). No build step.
//
// Server contract (examples/chat/server.rs): POST /api/login {user} -> {token}; namespace /chat with
// auth.token; client events join/leave {channel}, say {channel, text}, dm {to, text}, who, and
// tether's /ops/login {token}, /ops/logout, /ops/connection; server events message, dm,
// notification, presence, /ops/connection-success, /ops/token-expired, /ops/disconnected. Error
// acks are {"error": {"code", "message"}}.
//
// Tokens expire (TOKEN_TTL_SECS on the server). When tether says so (/ops/token-expired), the page
// fetches a fresh token for the same user and sends /ops/login on the same socket: the user does
// not notice. A handshake refused with expired_token (a saved session, a long disconnection) is
// retried once with a fresh token the same way. /ops/disconnected shows the server's reason.
//
// Nothing is lost on a blip: /chat records what it sends (recovery), and the page sends back, on
// every reconnect, the last position it saw and its channels (`auth.recover`, the README's
// snippet). The server then replays what the page missed, in order, before anything new, and
// says whether that was everything (/ops/connection-success `recovery`).
"use strict";

(() => {
  const ACK_TIMEOUT_MS = 5000;
  const NAME_RE = /^[A-Za-z0-9_-]{1,32}$/;
  const STORAGE_KEY = "tether-chat-session";

  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "class") node.className = value;
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child != null) node.append(child);
    }
    return node;
  };

  const state = {
    socket: null,
    token: null,
    user: null, // the user the server says this socket belongs to (null: anonymous)
    info: null, // the last /ops/connection-success
    channels: new Set(), // joined channels, as the server acked them
    online: new Set(),
    members: new Map(), // channel -> Set of users, from the join ack and member_joined/member_left
    rejoin: [], // channels to join again after a reconnect
    recover: null, // {offset, channels}: what this page saw, sent back on every reconnect
    kick: null, // the last /ops/disconnected {code, message}, until the disconnect it announces
    reconnectSoon: false, // the server said it is going away (/ops/disconnected reconnect: true)
    retriedExpired: false, // a handshake refused with expired_token was retried with a new token
    renewals: 0, // tokens renewed after /ops/token-expired (shown as body[data-token-renewals])
  };

  // ---------------------------------------------------------------- helpers

  /** An `{code, message}` error from an ack, an HTTP body or an exception. */
  function errorOf(value, fallbackCode = "error") {
    if (value && typeof value === "object" && value.error && typeof value.error === "object") {
      return { code: String(value.error.code ?? fallbackCode), message: String(value.error.message ?? "") };
    }
    if (value instanceof Error) return { code: fallbackCode, message: value.message };
    return { code: fallbackCode, message: String(value) };
  }

  const isError = (ack) => ack && typeof ack === "object" && "error" in ack;

  /** Emits with an ack; a timeout or a closed socket becomes an error ack. */
  async function request(event, payload) {
    const socket = state.socket;
    if (!socket || !socket.connected) {
      return { error: { code: "not_connected", message: "the connection to the server is down" } };
    }
    try {
      const args = payload === undefined ? [event] : [event, payload];
      return await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(...args);
    } catch (err) {
      return { error: { code: "timeout", message: `no answer to \`${event}\`: ${err.message}` } };
    }
  }

  function time() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function saveSession() {
    try {
      if (state.token && state.user) {
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ token: state.token, user: state.user }));
      } else {
        sessionStorage.removeItem(STORAGE_KEY);
      }
    } catch {
      // Storage can be disabled; the page works without it.
    }
  }

  function loadSession() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
      return saved && typeof saved.token === "string" ? saved : null;
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------- rendering

  function setStatus(kind, text) {
    $("status").dataset.state = kind;
    $("status-text").textContent = text;
  }

  /** Server messages quote names in `backticks`: show those as code. */
  function richText(message) {
    const fragment = document.createDocumentFragment();
    message.split("`").forEach((part, i) => {
      if (part) fragment.append(i % 2 ? el("code", {}, part) : part);
    });
    return fragment;
  }

  function showError(context, err, formFeedback) {
    const item = el(
      "li",
      { dataset: { testid: "error", code: err.code, context } },
      el("span", { class: "meta" }, `${time()} · ${context}`),
      el("code", { class: "code" }, err.code),
      el("span", { class: "text" }, richText(err.message)),
    );
    $("errors").prepend(item);
    $("errors-empty").hidden = true;
    while ($("errors").children.length > 20) $("errors").lastElementChild.remove();
    if (formFeedback) {
      formFeedback.replaceChildren(`${err.code}: `, richText(err.message));
      formFeedback.dataset.code = err.code;
    }
  }

  function clearFeedback(node) {
    node.textContent = "";
    delete node.dataset.code;
  }

  function addLine(kind, parts, data = {}) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const item = el("li", { class: `msg msg-${kind}`, dataset: { testid: "message", kind, ...data } });
    item.append(el("span", { class: "meta" }, time()), ...parts.filter((part) => part != null));
    list.append(item);
    while (list.children.length > 500) list.firstElementChild.remove();
    if (atBottom || kind !== "message") list.scrollTop = list.scrollHeight;
    return item;
  }

  function renderInfo() {
    const info = state.info;
    $("conn-client-id").textContent = info?.client_id ?? "–";
    $("conn-user-id").textContent = info ? (info.user_id ?? "null (anonymous)") : "–";
    $("conn-channels").textContent = info ? (info.channels.length ? info.channels.join(", ") : "none") : "–";
    $("conn-namespace").textContent = info?.namespace ?? "–";
  }

  function renderChannels() {
    const list = $("channel-list");
    const select = $("say-channel");
    const previous = select.value;
    list.replaceChildren();
    select.replaceChildren();
    const channels = [...state.channels].sort();
    for (const channel of channels) {
      const pick = el("button", {
        type: "button",
        class: "channel-pick",
        dataset: { testid: "channel-pick" },
        "aria-label": `Write to #${channel}`,
      }, `#${channel}`);
      pick.addEventListener("click", () => {
        select.value = channel;
        $("say-text").focus();
      });
      const leave = el("button", {
        type: "button",
        class: "link danger",
        dataset: { testid: "channel-leave" },
        "aria-label": `Leave #${channel}`,
      }, "Leave");
      leave.addEventListener("click", () => leaveChannel(channel));
      const members = [...(state.members.get(channel) ?? [])].sort();
      const who = el("span", {
        class: "members",
        dataset: { testid: "channel-members", members: members.join(",") },
        title: members.join(", "),
      }, `${members.length} ${members.length === 1 ? "member" : "members"}`);
      list.append(el("li", { dataset: { testid: "channel", channel } }, pick, who, leave));
      select.append(el("option", { value: channel }, `#${channel}`));
    }
    if (channels.includes(previous)) select.value = previous;
    $("channels-empty").hidden = channels.length > 0;
    select.disabled = channels.length === 0;
    $("say-text").disabled = channels.length === 0;
    $("say-submit").disabled = channels.length === 0;
    $("say-text").placeholder = channels.length ? "Write to the channel…" : "Join a channel to write";
  }

  function renderWho() {
    const list = $("who-list");
    const people = $("dm-people");
    list.replaceChildren();
    people.replaceChildren();
    const users = [...state.online].sort();
    for (const user of users) {
      const me = user === state.user;
      const item = el("li", { dataset: { testid: "who", user } },
        el("span", { class: "dot online", "aria-hidden": "true" }),
        el("span", { class: "name" }, user, me ? el("span", { class: "you" }, " (you)") : null));
      if (!me) {
        const dm = el("button", {
          type: "button",
          class: "link",
          dataset: { testid: "who-dm" },
          "aria-label": `Direct message ${user}`,
        }, "DM");
        dm.addEventListener("click", () => {
          $("dm-to").value = user;
          $("dm-text").focus();
        });
        item.append(dm);
      }
      list.append(item);
      people.append(el("option", { value: user }));
    }
    if (!users.length) list.append(el("li", { class: "empty" }, "nobody"));
  }

  function renderSignedIn() {
    const signedIn = state.user != null;
    $("login-panel").hidden = signedIn;
    $("sidebar").hidden = !signedIn;
    $("chat").hidden = !signedIn;
    $("side-right").hidden = !signedIn;
    $("me").hidden = !signedIn;
    $("me-name").textContent = state.user ?? "";
    $("notify-url").textContent = `${location.origin}/api/notify/${state.user ?? "you"}`;
    document.body.dataset.signedIn = String(signedIn);
    const reuse = !signedIn && state.socket?.connected && state.info;
    $("login-socket").hidden = !reuse;
    $("login-socket-id").textContent = reuse ? state.info.client_id : "";
  }

  // ---------------------------------------------------------------- socket

  function onConnectionInfo(info) {
    state.info = info;
    const wasUser = state.user;
    state.user = info.user_id ?? null;
    state.channels = new Set(info.channels ?? []);
    if (state.recover) state.recover.channels = [...state.channels];
    renderInfo();
    renderChannels();
    if (wasUser !== state.user) renderSignedIn();
  }

  async function refreshWho() {
    const ack = await request("who");
    if (isError(ack)) return showError("who", errorOf(ack));
    state.online = new Set(Array.isArray(ack) ? ack : []);
    renderWho();
  }

  function connect(token) {
    state.token = token;
    if (state.socket) {
      // Same socket object: its next handshake carries the new token.
      state.socket.connect();
      return;
    }
    // `auth` is read on every (re)connect: the current token, and what to recover.
    const socket = io("/chat", { auth: (cb) => cb({ token: state.token, recover: state.recover }) });
    state.socket = socket;
    setStatus("connecting", "connecting…");

    socket.on("connect", async () => {
      state.retriedExpired = false;
      setStatus("online", "connected");
      // A reconnect is a new server-side session: join the channels again.
      const channels = state.rejoin;
      state.rejoin = [];
      if (state.user != null) {
        for (const channel of channels) {
          const ack = await request("join", { channel });
          if (isError(ack)) showError(`rejoin #${channel}`, errorOf(ack));
          else {
            state.members.set(channel, new Set(Array.isArray(ack.members) ? ack.members : []));
            onConnectionInfo(ack);
          }
        }
      }
      refreshWho();
    });

    socket.on("connect_error", (err) => {
      // `socket.active` is false when the server refused the handshake (no retry follows).
      if (socket.active) {
        setStatus("connecting", `reconnecting… (${err.message})`);
        return;
      }
      const message = err.message || "refused";
      // tether puts a stable code first: `invalid_token: the token could not be decrypted`.
      const code = /^([a-z0-9_]+): /.exec(message)?.[1];
      if (code === "expired_token" && state.user != null && !state.retriedExpired) {
        state.retriedExpired = true;
        reconnectWithFreshToken(state.user, message);
        return;
      }
      setStatus("offline", code ? `refused (${code})` : "refused");
      state.token = null;
      state.user = null;
      saveSession();
      renderSignedIn();
      $("login-error").textContent = `The server refused the connection: ${message}. Log in again.`;
      $("login-name").focus();
    });

    socket.on("disconnect", (reason) => {
      // The server forgets this socket's channels; the next `connect` joins them again.
      if (state.channels.size) state.rejoin = [...state.channels];
      state.online.clear();
      renderWho();
      const kick = state.kick;
      state.kick = null;
      if (state.reconnectSoon && !socket.active) {
        state.reconnectSoon = false;
        setStatus("connecting", "the server is restarting; reconnecting…");
        // Spread out, so a drained node's clients do not all arrive at once.
        setTimeout(() => socket.connect(), 250 + Math.random() * 1000);
        return;
      }
      if (kick && !socket.active) return showKicked(kick);
      setStatus(socket.active ? "connecting" : "offline",
        socket.active ? `reconnecting… (${reason})` : `disconnected (${reason})`);
    });

    socket.on("/ops/connection-success", (info) => {
      // Where this page stands in the server's history: the next reconnect continues from here.
      state.recover = { offset: info.offset, channels: info.channels ?? [] };
      if (info.recovery && !info.recovery.recovered) showUnrecovered(info.recovery);
      onConnectionInfo(info);
    });
    // Every recorded event carries its position as a last argument.
    socket.onAny((_event, ...args) => {
      const at = args[args.length - 1];
      if (state.recover && args.length > 1 && typeof at === "string") state.recover.offset = at;
    });

    socket.on("/ops/token-expired", () => renewToken());

    socket.on("/ops/disconnected", (kick) => {
      if (kick?.reconnect) {
        // The server is going away (server_shutdown), not us: connect again, to another node
        // behind a load balancer; recovery brings what is sent meanwhile.
        state.reconnectSoon = true;
        return;
      }
      state.kick = { code: String(kick?.code ?? "kicked"), message: String(kick?.message ?? "") };
      showError("disconnected by the server", state.kick);
    });

    socket.on("message", ({ from, channel, text }) => {
      addLine("message", [
        el("span", { class: "channel-tag" }, `#${channel}`),
        el("strong", { class: "from" }, from),
        el("span", { class: "text" }, text),
      ], { from, channel });
    });

    socket.on("dm", ({ from, text }) => {
      addLine("dm", [
        el("span", { class: "tag dm-tag" }, "DM"),
        el("strong", { class: "from" }, `${from} → you`),
        el("span", { class: "text" }, text),
      ], { from, direction: "in" });
    });

    socket.on("notification", (body) => {
      $("notifications-empty").hidden = true;
      const title = body && typeof body === "object" && (body.title ?? body.subject);
      const text = body && typeof body === "object" && (body.text ?? body.body ?? body.message);
      const item = el("li", { dataset: { testid: "notification" } },
        el("span", { class: "meta" }, time()));
      if (title) item.append(el("strong", {}, String(title)));
      if (text) item.append(el("span", { class: "text" }, String(text)));
      if (!title && !text) item.append(el("code", { class: "json" }, JSON.stringify(body)));
      item.dataset.body = JSON.stringify(body);
      $("notifications").prepend(item);
    });

    // Channel presence, cluster-wide: once per user, after the server's grace for departures.
    socket.on("member_joined", ({ channel, user }) => {
      if (!state.members.has(channel)) return;
      state.members.get(channel).add(user);
      renderChannels();
      addLine("presence", [el("span", { class: "text" }, `${user} joined #${channel}`)],
        { channel, user, member: "joined" });
    });
    socket.on("member_left", ({ channel, user }) => {
      if (!state.members.has(channel)) return;
      state.members.get(channel).delete(user);
      renderChannels();
      addLine("presence", [el("span", { class: "text" }, `${user} left #${channel}`)],
        { channel, user, member: "left" });
    });

    socket.on("presence", ({ user, online }) => {
      if (online) state.online.add(user);
      else state.online.delete(user);
      renderWho();
      if (user !== state.user) {
        addLine("presence", [el("span", { class: "text" }, `${user} is ${online ? "online" : "offline"}`)],
          { user, online: String(online) });
      }
    });
  }

  /** A reconnect that could not recover everything (back after the window, or the server lost
   * its history): say so, since messages may be missing above. */
  function showUnrecovered(recovery) {
    addLine("presence", [el("span", { class: "text" },
      `reconnected, but some messages may be missing (${recovery.reason ?? "not recovered"})`)],
      { recovery: String(recovery.reason ?? "") });
  }

  /** The server disconnected this socket and said why: back to the login form, with the reason. */
  function showKicked(kick) {
    setStatus("offline", `disconnected by the server (${kick.code})`);
    state.token = null;
    state.user = null;
    state.rejoin = [];
    state.recover = null;
    saveSession();
    renderSignedIn();
    $("login-error").replaceChildren(`Disconnected by the server: ${kick.code}: `, richText(kick.message),
      ". Log in again.");
    $("login-name").focus();
  }

  // ---------------------------------------------------------------- tokens

  /** `/ops/token-expired`: a fresh token for the same user, sent with `/ops/login` on the same
   * socket within the grace. Nothing changes on the page. */
  async function renewToken() {
    const user = state.user;
    if (user == null) return;
    try {
      const token = await fetchToken(user);
      // The user may have logged out meanwhile: do not log them back in.
      if (state.user !== user || !state.socket?.connected) return;
      const ack = await request("/ops/login", { token });
      if (isError(ack)) throw errorOf(ack);
      state.token = token; // for later reconnections
      saveSession();
      onConnectionInfo(ack);
      state.renewals += 1;
      document.body.dataset.tokenRenewals = String(state.renewals);
    } catch (err) {
      // The server disconnects the socket after the grace and says why (`/ops/disconnected`).
      showError("renew the expired token", errorOf(err, "renew_failed"));
    }
  }

  /** A handshake refused with `expired_token`: connect again once with a fresh token. */
  async function reconnectWithFreshToken(user, refusal) {
    setStatus("connecting", "renewing the expired token…");
    try {
      const token = await fetchToken(user);
      if (state.user !== user) return;
      state.token = token;
      saveSession();
      connect(token);
    } catch (err) {
      showError("renew the expired token", errorOf(err, "renew_failed"));
      setStatus("offline", "refused (expired_token)");
      state.token = null;
      state.user = null;
      saveSession();
      renderSignedIn();
      $("login-error").textContent = `The server refused the connection: ${refusal}. Log in again.`;
    }
  }

  // ---------------------------------------------------------------- actions

  async function fetchToken(user) {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user }),
    });
    const body = await res.json().catch(() => null);
    if (!res.ok || typeof body?.token !== "string") {
      throw errorOf(body ?? { error: { code: `http_${res.status}`, message: res.statusText } });
    }
    return body.token;
  }

  async function logIn(user, token) {
    state.token = token;
    if (state.socket?.connected) {
      // Same socket, new user: no reconnect.
      const ack = await request("/ops/login", { token });
      if (isError(ack)) {
        state.token = null;
        throw errorOf(ack);
      }
      onConnectionInfo(ack);
      setStatus("online", "connected");
      refreshWho();
    } else {
      // The page's first connection, or a reconnect after a refusal.
      state.user = user;
      connect(token);
      renderSignedIn();
    }
    saveSession();
  }

  async function logOut() {
    if (!state.socket?.connected) {
      // No server to tell: close the (re)connecting socket and forget the session here.
      state.socket?.disconnect();
      state.token = null;
      state.recover = null;
      state.user = null;
      state.rejoin = [];
      saveSession();
      setStatus("offline", "logged out");
      renderSignedIn();
      $("login-name").focus();
      return;
    }
    // Leave the channels first: a logged-out socket should not keep receiving them.
    for (const channel of [...state.channels]) await request("leave", { channel });
    const ack = await request("/ops/logout");
    if (isError(ack)) return showError("log out", errorOf(ack));
    state.token = null;
    state.recover = null;
    state.rejoin = [];
    saveSession();
    onConnectionInfo(ack);
    $("messages").replaceChildren();
    $("notifications").replaceChildren();
    $("notifications-empty").hidden = false;
    $("errors").replaceChildren();
    $("errors-empty").hidden = false;
    clearFeedback($("join-feedback"));
    clearFeedback($("chat-feedback"));
    setStatus("online", "connected · logged out (same socket)");
    refreshWho();
    $("login-name").focus();
  }

  async function joinChannel(channel) {
    const feedback = $("join-feedback");
    clearFeedback(feedback);
    const ack = await request("join", { channel });
    if (isError(ack)) {
      showError(`join #${channel}`, errorOf(ack), feedback);
      return false;
    }
    state.members.set(channel, new Set(Array.isArray(ack.members) ? ack.members : []));
    onConnectionInfo(ack);
    $("say-channel").value = channel;
    addLine("system", [el("span", { class: "text" }, `You joined #${channel}`)], { channel });
    return true;
  }

  async function leaveChannel(channel) {
    const ack = await request("leave", { channel });
    if (isError(ack)) return showError(`leave #${channel}`, errorOf(ack));
    state.members.delete(channel);
    onConnectionInfo(ack);
    addLine("system", [el("span", { class: "text" }, `You left #${channel}`)], { channel });
    $("join-channel").focus();
  }

  // ---------------------------------------------------------------- forms

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("login-name");
    const user = input.value.trim();
    $("login-error").textContent = "";
    if (!NAME_RE.test(user)) {
      $("login-error").textContent = "A name is 1 to 32 letters, digits, - or _.";
      input.focus();
      return;
    }
    $("login-submit").disabled = true;
    try {
      await logIn(user, await fetchToken(user));
      input.value = "";
      $("join-channel").focus();
    } catch (err) {
      const { code, message } = errorOf(err);
      $("login-error").textContent = `${code}: ${message}`;
      input.focus();
    } finally {
      $("login-submit").disabled = false;
    }
  });

  $("join-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("join-channel");
    const channel = input.value.trim().replace(/^#/, "");
    if (!channel) return input.focus();
    if (await joinChannel(channel)) {
      input.value = "";
      $("say-text").focus();
    }
  });

  $("say-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const feedback = $("chat-feedback");
    clearFeedback(feedback);
    const channel = $("say-channel").value;
    const text = $("say-text").value;
    if (!text.trim()) return $("say-text").focus();
    const ack = await request("say", { channel, text });
    if (isError(ack)) return showError(`say in #${channel}`, errorOf(ack), feedback);
    $("say-text").value = "";
    $("say-text").focus();
  });

  $("dm-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const feedback = $("chat-feedback");
    clearFeedback(feedback);
    const to = $("dm-to").value.trim();
    const text = $("dm-text").value;
    if (!to) return $("dm-to").focus();
    if (!text.trim()) return $("dm-text").focus();
    const ack = await request("dm", { to, text });
    if (isError(ack)) return showError(`DM to ${to}`, errorOf(ack), feedback);
    const online = ack?.online === true;
    addLine("dm", [
      el("span", { class: "tag dm-tag" }, "DM"),
      el("strong", { class: "from" }, `you → ${to}`),
      el("span", { class: "text" }, text),
      online ? null : el("span", { class: "tag offline", dataset: { testid: "dm-offline" } }, "offline · not delivered"),
    ], { to, direction: "out", online: String(online) });
    $("dm-text").value = "";
    $("dm-text").focus();
  });

  $("logout").addEventListener("click", () => logOut());
  $("who-refresh").addEventListener("click", () => refreshWho());
  $("errors-clear").addEventListener("click", () => {
    $("errors").replaceChildren();
    $("errors-empty").hidden = false;
  });

  // ---------------------------------------------------------------- start

  renderInfo();
  renderChannels();
  renderWho();
  renderSignedIn();
  if (typeof io !== "function") {
    setStatus("offline", "the socket.io client did not load (run scripts/demo.sh)");
    $("login-error").textContent =
      "/vendor/socket.io.min.js is missing: install the page's packages with scripts/demo.sh.";
    $("login-submit").disabled = true;
    return;
  }
  const saved = loadSession();
  if (saved && NAME_RE.test(saved.user ?? "")) {
    state.token = saved.token;
    state.user = saved.user;
    renderSignedIn();
    connect(saved.token);
  } else {
    $("login-name").focus();
  }
})();

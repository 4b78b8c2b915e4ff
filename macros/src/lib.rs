//! Procedural macros of [tether](https://docs.rs/tether): `#[socket_namespace]` and
//! `#[derive(Events)]`.
//!
//! Depend on `tether`, not on this crate: it re-exports both macros (`tether::socket_namespace`,
//! `tether::Events`), and the generated code refers to `tether`'s items.
//!
//! This file is a bridge only: the attribute is parsed (`args`, `attr` → `ast`), checked
//! (`valid`) and expanded (`expand`); on error, `fallback` emits the errors together with the
//! user's code. `events` does the same for the derive. Errors are collected in a `ctxt::Ctxt`
//! so all of them are reported at once.

mod args;
mod ast;
mod attr;
mod ctxt;
mod duration;
mod events;
mod expand;
mod fallback;
mod rate;
mod typescript;
mod valid;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Turns an inherent `impl` block into a socket.io namespace: keeps the impl as written and adds
/// an `impl tether::Namespace` that registers its marked methods.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tether::{Client, DisconnectReason, Handshake, SocketError, SocketNok, SocketOk};
///
/// #[derive(Clone)]
/// struct DevUser { user_id: String }
/// #[derive(Deserialize)]
/// struct SayStuff { text: String }
/// #[derive(Serialize)]
/// struct Sent { chars: usize }
/// #[derive(Serialize)]
/// struct Pong;
///
/// struct DevUserSocket;
///
/// #[tether::socket_namespace(path = "/devUser", client_connection_key = "user_id")]
/// impl DevUserSocket {
///     #[middleware]
///     async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
///         // accept with typed metadata, or refuse with a reason
///         match hs.auth_str("user") {
///             Some(user) => Ok(SocketOk::new(DevUser { user_id: user.to_owned() })),
///             None => Err(SocketNok::with_code("missing_user", "send `auth.user`")),
///         }
///     }
///
///     #[on_connect]
///     async fn joined(&self, client: &Client<DevUser>) {
///         println!("{} joined", client.key());
///     }
///
///     #[on("sayStuff")] // the return value is the ack
///     async fn say_stuff(&self, msg: SayStuff) -> Result<Sent, SocketError> {
///         if msg.text.is_empty() {
///             return Err(SocketError::invalid_payload("say something"));
///         }
///         Ok(Sent { chars: msg.text.chars().count() })
///     }
///
///     #[on("ping")]
///     async fn ping(&self) -> Pong { Pong }
///
///     #[on_disconnect]
///     async fn left(&self, client: &Client<DevUser>, reason: DisconnectReason) {
///         self.helper(client.key(), reason);
///     }
///
///     fn helper(&self, key: &str, reason: DisconnectReason) { // unmarked: a plain method
///         println!("{key} left: {reason}");
///     }
/// }
/// ```
///
/// # Arguments
///
/// - `path = "/chat"` (required): the socket.io namespace path; starts with `/`.
/// - `client_connection_key = "user_id"`: the field of the middleware's metadata that keys the
///   connected-clients map (several sockets may share a key: a user's tabs). The field must
///   implement `Display`; a missing field is reported on the string. Needs a `#[middleware]`.
///   Without it, a client's key is its socket id.
/// - `user_key = "user_id"`: the field of the metadata naming the user a connection belongs to
///   (a string, an integer, or an `Option` of one; `None` is anonymous). Needs a `#[middleware]`.
/// - `anonymous = true|false`: whether connections without a user are accepted (by default:
///   accepted without `user_key`, refused with it). `false` needs a `user_key`.
/// - `max_connections_per_user = 3`: caps one user's sockets in this namespace (at least 1); a
///   new connection over the cap disconnects the user's oldest socket.
/// - `rate = "50/s"` (unit `s`, `min` or `h`) and optionally `burst = 100`: how many events one
///   socket may send in this namespace, all events together, instead of the builder's default
///   (`TetherBuilder::rate_limit`, 100/s with bursts of 200). Over it, an event is answered with
///   the error ack `rate_limited` (with `retry_after_ms`) and not run.
/// - `recovery = true` or `recovery = "2min"` (a window in `s`, `min` or `h`) and optionally
///   `recovery_max_len = 1000`: missed-message recovery. Every event emitted to a user, a
///   channel or a client key is recorded (for the window, at most `recovery_max_len` per
///   recipient) and sent with its position as a last argument; a client that reconnects with
///   `auth.recover = {offset, channels}` receives what it missed, in order and once, before new
///   events (see `tether::Recovery`).
/// - `presence = true` or `presence = "2s"` (a grace in `ms`, `s` or `min`; `true`: the
///   builder's, 5 s by default): channel presence. Members of a channel are listed once per user
///   cluster-wide (`Emitter::members`) and receive `member_joined` / `member_left`
///   `{channel, user}` when a user's first socket anywhere joins it / their last one has been
///   gone for the grace (see `tether::Presence`).
/// - `presence_channels = "is_room"` (with `presence`): only the channels the function
///   (`fn(&str) -> bool`, a path in a string as serde's `skip_serializing_if`) accepts are
///   tracked; the others send no `member_*` events, and `Emitter::members` lists the users of
///   their sockets at the time (no grace).
/// - `share_metadata = true`: `Emit::clients()` returns each socket's metadata (which must be
///   `Serialize`), from any node or worker (`ClusterClient::metadata_as`).
/// - `events = ChatEvents`: the namespace's server→client events, an enum deriving
///   `tether::Events` (a type, not a string). Default: `tether::AnyEvent`, checked at run time.
/// - `typescript = true`: implements `tether::typescript::NamespaceTypes` (needs tether's
///   `typescript` feature), so `tether::typescript::typings::<Self>()` writes the namespace's
///   socket.io-client typings; every payload and ack type must derive `ts_rs::TS`, and the
///   `events` enum must have `#[events(typescript = true)]`.
/// - `crate = "::tether"`: how the generated code names the runtime crate, for a renamed
///   dependency (`extern crate tether as tether2;` → `crate = "tether2"`). Under
///   `#![no_implicit_prelude]` give an absolute path (`"::tether2"`).
///
/// # Methods
///
/// Every marked method is an `async fn` taking `&self`: the namespace value is shared (in an
/// `Arc`) by all connections, so keep mutable state behind a `Mutex` or an atomic. Unmarked
/// methods and other items are left alone; the helper attributes are removed, and marked methods
/// get `#[allow(clippy::unused_async)]` since they must be `async` even when they do not await.
///
/// - `#[middleware]` (at most one): `(&self, hs: &Handshake) -> Result<SocketOk<M>, SocketNok>`.
///   Runs before the connection is accepted; `SocketOk<M>` accepts it with the metadata `M`
///   (the namespace's `Metadata`), `SocketNok` refuses it with a reason. Without a middleware
///   every connection is accepted and the metadata is `()`.
/// - `#[on("event")]` (one per event name): `&self`, then optionally `client: &Client<M>`, then
///   optionally one payload by value whose type implements `serde::Deserialize`. The return
///   value is the client's ack: nothing for `()`, the value for any `Serialize` type, and for a
///   `Result<T, E>` (`E: Into<SocketError>`) either the value or
///   `{"error": {"code", "message"}}`. The names socket.io reserves (`connect`,
///   `connect_error`, `disconnect`, `disconnecting`, `newListener`, `removeListener`) and the
///   names starting with `/ops/` (tether's own events) cannot be listened to. Options after
///   the name: `concurrent` (the listener's events run as they arrive instead of one at a time
///   in the socket's order), `rate = "5/s"` and `burst = 10` (how often one user, across its
///   sockets, or one anonymous socket may send this event; over it, `rate_limited`).
/// - `#[on_connect]` (at most one): `(&self)` or `(&self, client: &Client<M>)`, returns nothing.
/// - `#[on_disconnect]` (at most one): `(&self)`, `(&self, client: &Client<M>)` or
///   `(&self, client: &Client<M>, reason: DisconnectReason)`, returns nothing.
/// - `#[on_user_change]` (at most one): `(&self)`, `(&self, client: &Client<M>)` or
///   `(&self, client: &Client<M>, previous: Option<String>)`, runs after `/ops/login` or
///   `/ops/logout` changed the socket's user (the new one is `client.user_id()`).
/// - `#[on_user_online]` / `#[on_user_offline]` (at most one each): `(&self)`,
///   `(&self, user: &str)` or `(&self, user: &str, clients: &ConnectedClients<M>)`, returns
///   nothing; runs once cluster-wide, on one node, when a user's first socket anywhere
///   connects (or logs in) / when their last socket anywhere has been gone for the presence
///   grace (a reconnection within it runs neither). `clients.emitter::<Self>()` emits from it.
/// - `#[authorize_channel]` (at most one): `(&self, client: &Client<M>, channel: &str)`, may the
///   client join this channel by itself? Returns `bool` or `Result<(), E: Into<SocketError>>`.
/// - `#[authorize_relay]` (at most one): `(&self, client: &Client<M>, relay: &Relay)`, may the
///   client relay this event to other clients? Returns like `#[authorize_channel]`.
///
/// Types are recognised by their last path segment (`Client`, `Handshake`, `SocketOk`, …), so
/// `tether::Client<M>` and an imported `Client<M>` both work, but a type alias does not.
///
/// # Errors
///
/// Every mistake is reported in one compile, on the offending token: a method that is not
/// `async`, a wrong receiver or parameter list, a duplicate event, a second middleware, an unknown
/// argument, a payload that is not `Deserialize`, a `client_connection_key` the metadata lacks…
#[proc_macro_attribute]
pub fn socket_namespace(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::socket_namespace(args.into(), input.into()).into()
}

/// Derives `tether::Events` (and the `Serialize` it needs) for an enum whose variants are a
/// namespace's server→client events, so emitting an undeclared event or a wrong payload does
/// not compile.
///
/// ```
/// # use serde::Serialize;
/// # #[derive(Serialize)] struct Ping { hello: String }
/// # #[derive(Serialize)] struct ChatMessage { text: String }
/// #[derive(tether::Events)]
/// enum ChatEvents {
///     #[event("/users/ping")]
///     UsersPing(Ping),         // emitted as "/users/ping" with a `Ping` payload
///     Message(ChatMessage),    // no `#[event]`: the variant's name, verbatim ("Message")
///     Typing,                  // a unit variant: no payload (`null`)
/// }
///
/// struct Chat;
///
/// #[tether::socket_namespace(path = "/chat", events = ChatEvents)]
/// impl Chat { /* .. */ }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tether = tether::Tether::builder().namespace(Chat).build().await?;
/// let emitter = tether.emitter::<Chat>();
/// emitter.to_user("42").emit(ChatEvents::UsersPing(Ping { hello: "world".into() })).await?;
/// # Ok(()) }
/// ```
///
/// Variants are `Name(Payload)` with a payload that implements `serde::Serialize`, or `Name`.
/// Event names are unique, non-empty, not reserved by socket.io (`connect`, `disconnect`, …)
/// and do not start with `/ops/` (tether's own events). The enum cannot be generic.
///
/// `#[events(crate = "::tether2")]` on the enum names a renamed tether dependency;
/// `#[events(typescript = true)]` describes the events to `tether::typescript` (each payload must
/// derive `ts_rs::TS`).
#[proc_macro_derive(Events, attributes(event, events))]
pub fn derive_events(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    events::derive(&input).into()
}

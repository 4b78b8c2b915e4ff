//! TypeScript typings for `socket.io-client`, generated from a namespace (`typescript` feature).
//!
//! `#[socket_namespace(typescript = true)]` describes the namespace's listeners (payload and ack
//! types), and `#[derive(Events)]` with `#[events(typescript = true)]` its server events, from the same
//! Rust types, through [ts-rs](https://docs.rs/ts-rs) (derive [`TS`] on each payload: it reads
//! their serde attributes). [`typings`] then writes one TypeScript file: the payload types, and
//! the `ServerToClientEvents` / `ClientToServerEvents` interfaces that socket.io-client's typed
//! `io<ServerToClientEvents, ClientToServerEvents>(url)` takes, tether's own `/ops/*` events
//! included.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tether::typescript::TS;
//! use tether::{Events, socket_namespace};
//!
//! #[derive(Deserialize, TS)]
//! struct Say { channel: String, text: String }
//!
//! #[derive(Serialize, TS)]
//! struct Said { delivered: usize }
//!
//! #[derive(Serialize, TS)]
//! struct Message { from: String, text: String }
//!
//! #[derive(Events)]
//! #[events(typescript = true)]
//! enum ChatEvent {
//!     #[event("message")]
//!     Message(Message),
//! }
//!
//! struct Chat;
//!
//! #[socket_namespace(path = "/chat", events = ChatEvent, typescript = true)]
//! impl Chat {
//!     #[on("say")]
//!     async fn say(&self, say: Say) -> Said {
//!         Said { delivered: say.text.len() }
//!     }
//! }
//!
//! let ts = tether::typescript::typings::<Chat>();
//! assert!(ts.contains("export type Say = { channel: string, text: string, };"));
//! assert!(ts.contains(r#""say": (payload: Say, ack: (res: Said | TetherError) => void) => void;"#));
//! assert!(ts.contains(r#""message": (payload: Message) => void;"#));
//! ```
//!
//! The payload types derive [`TS`] from [ts-rs](https://docs.rs/ts-rs) 12, which the application
//! adds to its dependencies (`cargo add ts-rs@12 --features serde-json-impl`).
//!
//! Write the file from a test, so it is regenerated and checked on every `cargo test`; the chat
//! demo's `examples/chat/web/chat.d.ts` is checked that way.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The derive and trait the payload types need (`#[derive(TS)]`). The derive's expansion names
/// the `ts_rs` crate: add `ts-rs = "12"` to the application's dependencies (or point the derive
/// at this re-export with `#[ts(crate = "tether::typescript::ts_rs")]`).
pub use ts_rs::{self, TS};
use ts_rs::{Config, TypeVisitor};

use crate::namespace::{Namespace, NamespaceDef};
use crate::protocol::{
    CONNECTION_INFO_EVENT, ConnectionInfo, DISCONNECTED_EVENT, Kick, RecoveryInfo,
    TOKEN_EXPIRED_EVENT, TokenExpired, request,
};

/// A namespace whose events can be written as TypeScript: implemented by
/// `#[socket_namespace(typescript = true)]`.
pub trait NamespaceTypes: Namespace {
    /// Adds the namespace's listeners and server events to `typings`.
    fn describe(typings: &mut Typings);
}

/// Server events that can be written as TypeScript: implemented by `#[derive(Events)]` with
/// `#[events(typescript = true)]`, and by [`AnyEvent`](crate::AnyEvent) (any name, any payload).
#[diagnostic::on_unimplemented(
    message = "the server events `{Self}` have no TypeScript description",
    label = "add `#[events(typescript = true)]` to `{Self}`, and derive `TS` on its payloads"
)]
pub trait EventTypes {
    /// Adds the events to `typings`.
    fn describe(typings: &mut Typings);
}

impl EventTypes for crate::AnyEvent {
    fn describe(typings: &mut Typings) {
        typings.any_server_event = true;
    }
}

/// What [`typings`] collects: the declarations of the payload types, and each event's
/// parameters.
pub struct Typings {
    cfg: Config,
    seen: HashSet<TypeId>,
    /// Each declared TypeScript name and its declaration.
    names: HashMap<String, String>,
    declarations: Vec<String>,
    server: Vec<(String, String)>,
    client: Vec<(String, String)>,
    any_server_event: bool,
    /// Recorded emits (recovery on) carry the event's position as a last argument.
    positions: bool,
}

impl std::fmt::Debug for Typings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typings")
            .field("declarations", &self.declarations.len())
            .field("server_events", &self.server.len())
            .field("client_events", &self.client.len())
            .finish_non_exhaustive()
    }
}

/// The TypeScript typings of namespace `T`: every payload type it uses, and its
/// `ServerToClientEvents` and `ClientToServerEvents` interfaces.
///
/// # Panics
/// When two of its types have the same TypeScript name but different declarations (or one is
/// named like one of tether's own: `TetherError`, `MemberChange`, `Relay`, `ConnectionInfo`,
/// `RecoveryInfo`, `Kick`, `TokenExpired`): rename one with `#[ts(rename = "..")]`.
pub fn typings<T: NamespaceTypes>() -> String {
    let def = NamespaceDef::<T>::collect();
    let mut typings = Typings {
        // JSON numbers: `u64` is a `number`, not a `bigint`.
        cfg: Config::new().with_large_int("number"),
        seen: HashSet::new(),
        names: OWN_NAMES
            .iter()
            .map(|name| ((*name).to_owned(), String::new()))
            .collect(),
        declarations: Vec::new(),
        server: Vec::new(),
        client: Vec::new(),
        any_server_event: false,
        positions: def.recovery.is_some(),
    };
    // tether's own types first: a payload type of the same name is then reported, not
    // silently put in their place.
    typings.type_name::<ConnectionInfo>();
    typings.type_name::<RecoveryInfo>();
    typings.type_name::<Kick>();
    typings.type_name::<TokenExpired>();
    T::describe(&mut typings);
    typings.render::<T>(def.presence.is_some())
}

impl Typings {
    /// A server event `event` whose payload is `P`.
    #[doc(hidden)]
    pub fn server_event<P: TS + ?Sized + 'static>(&mut self, event: &str) {
        let payload = self.type_name::<P>();
        let position = self.position();
        self.server.push((
            event.to_owned(),
            format!("(payload: {payload}{position}) => void"),
        ));
    }

    /// A server event `event` without payload.
    #[doc(hidden)]
    pub fn server_event_unit(&mut self, event: &str) {
        self.server
            .push((event.to_owned(), "() => void".to_owned()));
    }

    /// A listener of `event`: payload `P` when `payload`, ack `A` when `ack` (`()` for either
    /// when there is none).
    #[doc(hidden)]
    pub fn listener<P: TS + ?Sized + 'static, A: TS + ?Sized + 'static>(
        &mut self,
        event: &str,
        payload: bool,
        ack: bool,
    ) {
        let mut params = Vec::new();
        if payload {
            params.push(format!("payload: {}", self.type_name::<P>()));
        }
        if ack {
            let ack = self.type_name::<A>();
            params.push(format!("ack: (res: {ack} | TetherError) => void"));
        } else {
            // A listener that answers nothing: the callback, if the client passes one, is
            // called only when the event is refused (rate_limited, invalid_payload, ..).
            params.push("ack?: (res: TetherError) => void".to_owned());
        }
        self.client
            .push((event.to_owned(), format!("({}) => void", params.join(", "))));
    }

    /// The last parameter of an event a namespace with recovery may record: its position.
    fn position(&self) -> &'static str {
        if self.positions {
            ", position?: string"
        } else {
            ""
        }
    }

    /// The name `P` has in TypeScript, declaring it (and what it uses) on first sight.
    fn type_name<P: TS + ?Sized + 'static>(&mut self) -> String {
        let mut visit = Declare { typings: self };
        if P::output_path().is_some() {
            visit.visit::<P>();
        } else {
            P::visit_dependencies(&mut visit);
        }
        P::name(&self.cfg)
    }

    fn render<T: Namespace>(mut self, presence: bool) -> String {
        let mut out = format!(
            "// socket.io-client typings of namespace `{}`, generated by tether from `{}`.\n\
             // Do not edit: regenerate with `tether::typescript::typings`.\n\
             // Use: `io<ServerToClientEvents, ClientToServerEvents>(url)`.\n\n{OWN_TYPES}",
            T::PATH,
            std::any::type_name::<T>()
        );
        for declaration in &self.declarations {
            out.push_str(declaration);
            out.push_str("\n\n");
        }
        let recorded = self.position();
        let mut server = vec![
            (
                CONNECTION_INFO_EVENT.to_owned(),
                "(info: ConnectionInfo) => void".to_owned(),
            ),
            (
                DISCONNECTED_EVENT.to_owned(),
                "(notice: Kick) => void".to_owned(),
            ),
            (
                TOKEN_EXPIRED_EVENT.to_owned(),
                "(notice: TokenExpired) => void".to_owned(),
            ),
        ];
        if presence {
            for event in [crate::MEMBER_JOINED_EVENT, crate::MEMBER_LEFT_EVENT] {
                server.push((
                    event.to_owned(),
                    format!("(change: MemberChange{recorded}) => void"),
                ));
            }
        }
        server.append(&mut self.server);
        let info_ack = "ack: (res: ConnectionInfo | TetherError) => void";
        let mut client = vec![
            (
                request::CONNECTION.to_owned(),
                format!("({info_ack}) => void"),
            ),
            (
                request::LOGIN.to_owned(),
                format!("(request: {{ token: string }}, {info_ack}) => void"),
            ),
            (request::LOGOUT.to_owned(), format!("({info_ack}) => void")),
            (
                request::JOIN.to_owned(),
                format!("(request: {{ channel: string }}, {info_ack}) => void"),
            ),
            (
                request::LEAVE.to_owned(),
                format!("(request: {{ channel: string }}, {info_ack}) => void"),
            ),
        ];
        for relay in [
            request::RELAY_USER,
            request::RELAY_CHANNEL,
            request::RELAY_CLIENT,
        ] {
            client.push((
                relay.to_owned(),
                "(request: Relay, ack: (res: { delivered: number } | TetherError) => void) => void"
                    .to_owned(),
            ));
        }
        client.append(&mut self.client);
        interface(
            &mut out,
            "ServerToClientEvents",
            &server,
            self.any_server_event,
        );
        out.push('\n');
        interface(&mut out, "ClientToServerEvents", &client, false);
        out
    }
}

/// Declares each type it visits that has a declaration, once, then what it uses.
struct Declare<'a> {
    typings: &'a mut Typings,
}

impl TypeVisitor for Declare<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_none() || !self.typings.seen.insert(TypeId::of::<T>()) {
            return;
        }
        let name = T::ident(&self.typings.cfg);
        let decl = T::decl(&self.typings.cfg);
        match self.typings.names.get(&name) {
            // Two Rust types may declare the same thing (`serde_json::Value` and its alias are
            // both `JsonValue`): declared once.
            Some(known) if *known == decl => {}
            Some(_) => panic!(
                "two types are named `{name}` in TypeScript (`{}` and another, or one of \
                 tether's own: {OWN_NAMES:?}, ConnectionInfo, RecoveryInfo, Kick, TokenExpired); \
                 rename one with `#[ts(rename = \"..\")]`",
                std::any::type_name::<T>()
            ),
            None => {
                let mut declaration = T::docs().map(|docs| jsdoc(&docs)).unwrap_or_default();
                declaration.push_str("export ");
                declaration.push_str(&decl);
                self.typings
                    .declarations
                    .push(declaration.replace("[`", "`").replace("`]", "`"));
                self.typings.names.insert(name, decl);
            }
        }
        T::visit_dependencies(self);
    }
}

/// A type's doc comment as JSDoc, without its Rust examples.
fn jsdoc(docs: &str) -> String {
    match docs.find(" * ```") {
        Some(code) => {
            let mut kept = docs[..code].trim_end_matches([' ', '*', '\n']).to_owned();
            kept.push_str("\n */\n");
            kept
        }
        None => docs.to_owned(),
    }
}

fn interface(out: &mut String, name: &str, events: &[(String, String)], any: bool) {
    let _ = writeln!(out, "export interface {name} {{");
    for (event, signature) in events {
        let _ = writeln!(out, "  {}: {signature};", json_string(event));
    }
    if any {
        out.push_str("  [event: string]: (...args: any[]) => void;\n");
    }
    out.push_str("}\n");
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The names [`OWN_TYPES`] declares.
const OWN_NAMES: [&str; 3] = ["TetherError", "MemberChange", "Relay"];

/// tether's own shapes that are not Rust types of its API.
const OWN_TYPES: &str = r#"/** What every event may be answered with instead of its ack (`SocketError`). */
export type TetherError = { error: { code: string, message: string, retry_after_ms?: number } };

/** `member_joined` / `member_left` (namespaces with presence). */
export type MemberChange = { channel: string, user: string };

/** `/ops/user`, `/ops/channel`, `/ops/client`: relay `event` with `data` to `to`. */
export type Relay = { to: string, event: string, data?: unknown };

"#;

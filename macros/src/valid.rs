//! Checks the IR against what the runtime can register, recording every mistake in the `Ctxt`.
//! The parameter lists of each role are checked in [`params`].

mod params;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use syn::{GenericParam, ItemImpl, Type};

use crate::ast::{self, Method, Namespace};
use crate::attr::Role;
use crate::ctxt::Ctxt;

/// Event names socket.io itself uses; a listener for them would never run or would break
/// the protocol.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The prefix of the events tether handles and emits itself (e.g. `/ops/connection-success`).
const TETHER_PREFIX: &str = "/ops/";

const SHARED: &str =
    "the namespace is shared between all connections, keep mutable state behind a Mutex or atomic";

/// Records every problem of `ns` in `cx`.
pub(crate) fn check(cx: &Ctxt, ns: &Namespace<'_>) {
    check_impl(cx, ns.original);
    for method in &ns.methods {
        check_signature(cx, method);
        params::check(cx, method);
    }
    check_at_most_one(cx, ns);
    check_events(cx, ns);
    check_keys(cx, ns);
}

fn check_impl(cx: &Ctxt, item: &ItemImpl) {
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            "`#[socket_namespace]` goes on an inherent impl block, not on a trait impl: \
             write `impl MyNamespace { .. }` with the listener methods",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "`#[socket_namespace]` does not support generic impls: a namespace is one concrete \
             type; remove the generic parameters",
        );
    } else if let Some(where_clause) = &item.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "`#[socket_namespace]` does not support where clauses on the impl",
        );
    }
}

/// What every marked method needs: `async`, `&self`, no type parameters.
fn check_signature(cx: &Ctxt, method: &Method<'_>) {
    let sig = &method.original.sig;
    let noun = method.marker.role.noun();
    if sig.asyncness.is_none() {
        cx.error_spanned_by(sig.fn_token, format_args!("{noun} must be `async fn`"));
    }
    if let Some(unsafety) = sig.unsafety {
        cx.error_spanned_by(unsafety, format_args!("{noun} cannot be `unsafe`"));
    }
    if sig
        .generics
        .params
        .iter()
        .any(|param| !matches!(param, GenericParam::Lifetime(_)))
    {
        cx.error_spanned_by(
            &sig.generics,
            format_args!("{noun} cannot be generic: the namespace calls them with concrete types"),
        );
    }
    match method.receiver {
        None => cx.error_at(
            params::parens(method),
            format_args!("{noun} must take `&self` first; {SHARED}"),
        ),
        Some(receiver) if !is_shared_self(&receiver.ty) => {
            let written = match (&receiver.reference, &receiver.mutability) {
                _ if receiver.colon_token.is_some() => "",
                (Some(_), Some(_)) => ", not `&mut self`",
                (None, Some(_)) => ", not `mut self`",
                _ => ", not `self`",
            };
            cx.error_spanned_by(
                receiver,
                format_args!("{noun} must take `&self`{written}; {SHARED}"),
            );
        }
        Some(_) => {}
    }
}

/// `&Self` (what `&self` and `self: &Self` declare).
fn is_shared_self(ty: &Type) -> bool {
    matches!(ast::ungroup(ty), Type::Reference(reference)
        if reference.mutability.is_none() && ast::is_named(&reference.elem, "Self"))
}

/// One middleware and one of each hook at most: errors on the extra ones.
fn check_at_most_one(cx: &Ctxt, ns: &Namespace<'_>) {
    let mut seen = Vec::new();
    for method in &ns.methods {
        let (name, advice) = match method.marker.role {
            Role::On(_) => continue,
            Role::Middleware => ("#[middleware]", "do all the checks in one method"),
            Role::OnConnect => ("#[on_connect]", "do everything in one hook"),
            Role::OnDisconnect => ("#[on_disconnect]", "do everything in one hook"),
            Role::OnUserChange => ("#[on_user_change]", "do everything in one hook"),
            Role::OnUserOnline => ("#[on_user_online]", "do everything in one hook"),
            Role::OnUserOffline => ("#[on_user_offline]", "do everything in one hook"),
            Role::AuthorizeChannel => ("#[authorize_channel]", "decide in one hook"),
            Role::AuthorizeRelay => ("#[authorize_relay]", "decide in one hook"),
        };
        if seen.contains(&name) {
            cx.error_spanned_by(
                method.marker.original,
                format_args!("a namespace has at most one `{name}`; {advice}"),
            );
        }
        seen.push(name);
    }
}

fn check_events(cx: &Ctxt, ns: &Namespace<'_>) {
    let mut seen = HashMap::new();
    for method in &ns.methods {
        let Role::On(listen) = &method.marker.role else {
            continue;
        };
        let lit = &listen.event;
        let event = lit.value();
        if let Some(problem) = event_name_problem(&event) {
            cx.error_spanned_by(lit, problem);
            continue;
        }
        match seen.entry(event) {
            Entry::Vacant(vacant) => {
                vacant.insert(method.ident());
            }
            Entry::Occupied(first) => cx.error_spanned_by(
                lit,
                format_args!(
                    "duplicate event `{}`: the method `{}` already listens to it",
                    first.key(),
                    first.get()
                ),
            ),
        }
    }
}

/// Why `event` cannot be a tether event name, if it cannot.
pub(crate) fn event_name_problem(event: &str) -> Option<String> {
    if event.is_empty() {
        Some("the event name must not be empty".to_owned())
    } else if RESERVED_EVENTS.contains(&event) {
        Some(format!(
            "`{event}` is a reserved socket.io event; pick another event name"
        ))
    } else if event.starts_with(TETHER_PREFIX) {
        Some(format!(
            "event names starting with `{TETHER_PREFIX}` are reserved for tether; pick another \
             event name"
        ))
    } else {
        None
    }
}

/// The metadata keys need a middleware to produce the metadata; `anonymous = false` needs a user.
fn check_keys(cx: &Ctxt, ns: &Namespace<'_>) {
    let args = &ns.args;
    if ns.middleware().is_none() {
        let keys = [
            ("client_connection_key", &args.client_key),
            ("user_key", &args.user_key),
        ];
        for (name, key) in keys {
            if let Some(key) = key {
                cx.error_spanned_by(
                    &key.original,
                    format_args!(
                        "`{name}` needs a `#[middleware]` returning `SocketOk<Metadata>`: the \
                         key is a field of that metadata"
                    ),
                );
            }
        }
    }
    if let (Some(anonymous), None) = (&args.anonymous, &args.user_key)
        && !anonymous.value
    {
        cx.error_spanned_by(
            anonymous,
            "`anonymous = false` needs a `user_key`: without one every connection is anonymous \
             and would be refused",
        );
    }
}

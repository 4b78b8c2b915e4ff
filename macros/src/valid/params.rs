//! The parameter list and return type each role accepts.

use proc_macro2::Span;
use syn::{ReturnType, Type};

use crate::ast::{self, Method, Output, ParamKind};
use crate::attr::Role;
use crate::ctxt::Ctxt;

const LISTENER_SHAPES: &str = "listeners take `(&self)`, then optionally `client: &Client<M>`, \
     then optionally one payload by value, e.g. `(&self, client: &Client<M>, msg: SayStuff)`";

/// Records what is wrong with `method`'s parameters and return type for its role.
pub(super) fn check(cx: &Ctxt, method: &Method<'_>) {
    match &method.marker.role {
        Role::Middleware => middleware(cx, method),
        Role::On(_) => listener(cx, method),
        Role::OnConnect => {
            hook(
                cx,
                method,
                &[ParamKind::Client],
                "`#[on_connect]` hooks take `(&self)` or `(&self, client: &Client<M>)`",
            );
        }
        Role::OnDisconnect => hook(
            cx,
            method,
            &[ParamKind::Client, ParamKind::Reason],
            "`#[on_disconnect]` hooks take `(&self)`, `(&self, client: &Client<M>)` or \
             `(&self, client: &Client<M>, reason: DisconnectReason)`",
        ),
        Role::OnUserOnline | Role::OnUserOffline => hook(
            cx,
            method,
            &[ParamKind::Str, ParamKind::Clients],
            &format!(
                "{} take `(&self)`, `(&self, user: &str)` or \
                 `(&self, user: &str, clients: &ConnectedClients<M>)`",
                method.marker.role.noun()
            ),
        ),
        Role::OnUserChange => hook(
            cx,
            method,
            &[ParamKind::Client, ParamKind::Value],
            "`#[on_user_change]` hooks take `(&self)`, `(&self, client: &Client<M>)` or \
             `(&self, client: &Client<M>, previous: Option<String>)`",
        ),
        Role::AuthorizeChannel => authorize(
            cx,
            method,
            ParamKind::Str,
            "`#[authorize_channel]` hooks take `(&self, client: &Client<M>, channel: &str)`",
        ),
        Role::AuthorizeRelay => authorize(
            cx,
            method,
            ParamKind::Relay,
            "`#[authorize_relay]` hooks take `(&self, client: &Client<M>, relay: &Relay)`",
        ),
    }
}

fn middleware(cx: &Ctxt, method: &Method<'_>) {
    const SHAPE: &str = "`#[middleware]` methods take `(&self, hs: &Handshake)`";
    match method.params.split_first() {
        None => cx.error_at(parens(method), SHAPE),
        Some((first, rest)) => {
            if first.kind != ParamKind::Handshake {
                cx.error_spanned_by(
                    &first.original.ty,
                    format_args!("expected `&Handshake`: {SHAPE}"),
                );
            }
            for extra in rest {
                cx.error_spanned_by(
                    extra.original,
                    format_args!("unexpected parameter: {SHAPE}"),
                );
            }
        }
    }
    if method.metadata().is_none() {
        let message = "`#[middleware]` methods must return `Result<SocketOk<Metadata>, SocketNok>`";
        match &method.original.sig.output {
            ReturnType::Type(_, ty) => cx.error_spanned_by(ty, message),
            ReturnType::Default => cx.error_at(parens(method), message),
        }
    }
}

fn listener(cx: &Ctxt, method: &Method<'_>) {
    let (mut client, mut payload) = (false, false);
    for param in &method.params {
        let ty = &param.original.ty;
        let problem = match param.kind {
            ParamKind::Client if client => {
                format!("a listener takes one client; {LISTENER_SHAPES}")
            }
            ParamKind::Client if payload => {
                format!("the client comes before the payload; {LISTENER_SHAPES}")
            }
            ParamKind::Client => {
                client = true;
                continue;
            }
            ParamKind::Value if ast::is_named(ty, "Client") => {
                "take the client by reference: `client: &Client<M>`".to_owned()
            }
            ParamKind::Value if payload => format!(
                "a listener takes at most one payload: put the values in one struct that \
                 derives `Deserialize`; {LISTENER_SHAPES}"
            ),
            ParamKind::Value => {
                payload = true;
                continue;
            }
            ParamKind::Handshake => "only `#[middleware]` methods see the handshake; listeners \
                                     can take `client: &Client<M>`, whose metadata the \
                                     middleware produced"
                .to_owned(),
            ParamKind::Reason => {
                "only `#[on_disconnect]` hooks take a `DisconnectReason`".to_owned()
            }
            ParamKind::Clients => "a listener reaches the connected clients through \
                                   `client.clients()`: take `client: &Client<M>`"
                .to_owned(),
            ParamKind::Reference if reference_to(ty, "Client") => {
                "take the client as `&Client<M>`, not `&mut`".to_owned()
            }
            ParamKind::Reference | ParamKind::Str | ParamKind::Relay => {
                "take the payload by value (`msg: SayStuff`), not by reference: it is \
                 deserialized for this call"
                    .to_owned()
            }
            ParamKind::ImplTrait => {
                "the payload must be a concrete type that derives `Deserialize`, not `impl Trait`"
                    .to_owned()
            }
        };
        cx.error_spanned_by(param.original, problem);
    }
}

/// `#[on_connect]` and `#[on_disconnect]`: the parameters are an in-order subset of `allowed`,
/// and nothing is returned.
fn hook(cx: &Ctxt, method: &Method<'_>, allowed: &[ParamKind], shapes: &str) {
    let mut next = 0;
    for param in &method.params {
        match allowed[next..].iter().position(|kind| *kind == param.kind) {
            Some(found) => next += found + 1,
            None => cx.error_spanned_by(param.original, shapes),
        }
    }
    if let Output::Result(ty) | Output::Value(ty) = method.output {
        cx.error_spanned_by(
            ty,
            format_args!(
                "{} return nothing; handle errors inside the hook",
                method.marker.role.noun()
            ),
        );
    }
}

/// `#[authorize_channel]` and `#[authorize_relay]`: exactly a client and `subject`, and an answer.
fn authorize(cx: &Ctxt, method: &Method<'_>, subject: ParamKind, shape: &str) {
    let expected = [ParamKind::Client, subject];
    for (param, kind) in method.params.iter().zip(expected) {
        if param.kind != kind {
            cx.error_spanned_by(param.original, shape);
        }
    }
    for extra in method.params.iter().skip(expected.len()) {
        cx.error_spanned_by(
            extra.original,
            format_args!("unexpected parameter: {shape}"),
        );
    }
    if method.params.len() < expected.len() {
        cx.error_at(parens(method), shape);
    }
    // Other return types are checked by the runtime's `Authorization` trait, on the type.
    if let Output::Unit = method.output {
        let message = format!(
            "{} must return `bool` or `Result<(), SocketError>`",
            method.marker.role.noun()
        );
        match &method.original.sig.output {
            ReturnType::Type(_, ty) => cx.error_spanned_by(ty, message),
            ReturnType::Default => cx.error_at(parens(method), message),
        }
    }
}

/// Whether `ty` is `&Name<..>` or `&mut Name<..>`.
fn reference_to(ty: &Type, name: &str) -> bool {
    matches!(ast::ungroup(ty), Type::Reference(reference) if ast::is_named(&reference.elem, name))
}

/// The parameter list `(...)`: where errors about missing parameters point.
pub(super) fn parens(method: &Method<'_>) -> Span {
    method.original.sig.paren_token.span.join()
}

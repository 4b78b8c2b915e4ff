//! The helper attributes that mark a method's role: `#[middleware]`, `#[on("event")]`,
//! `#[on_connect]`, `#[on_disconnect]`, `#[on_user_change]`, `#[on_user_online]`,
//! `#[on_user_offline]`, `#[authorize_channel]` and
//! `#[authorize_relay]`.

use proc_macro2::Literal;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, ImplItem, ItemImpl, LitInt, LitStr, Meta, Token};

use crate::ctxt::Ctxt;
use crate::rate::{RATE_FORMAT, Rate, parse_burst, parse_rate};

/// What a marked method does for the namespace.
pub(crate) enum Role {
    /// `#[middleware]`: accepts or refuses a connection and produces its metadata.
    Middleware,
    /// `#[on("event")]`: listens to one event.
    On(Listen),
    /// `#[on_connect]`: runs once a client is connected.
    OnConnect,
    /// `#[on_disconnect]`: runs once a client is gone.
    OnDisconnect,
    /// `#[on_user_change]`: runs after `/ops/login` or `/ops/logout` changed a socket's user.
    OnUserChange,
    /// `#[on_user_online]`: runs once cluster-wide when a user comes online.
    OnUserOnline,
    /// `#[on_user_offline]`: runs once cluster-wide when a user goes offline (after the grace).
    OnUserOffline,
    /// `#[authorize_channel]`: may a client join a channel by itself?
    AuthorizeChannel,
    /// `#[authorize_relay]`: may a client relay an event to other clients?
    AuthorizeRelay,
}

impl Role {
    /// How error messages name methods with this role.
    pub(crate) fn noun(&self) -> &'static str {
        match self {
            Role::Middleware => "`#[middleware]` methods",
            Role::On(_) => "listener methods",
            Role::OnConnect => "`#[on_connect]` hooks",
            Role::OnDisconnect => "`#[on_disconnect]` hooks",
            Role::OnUserChange => "`#[on_user_change]` hooks",
            Role::OnUserOnline => "`#[on_user_online]` hooks",
            Role::OnUserOffline => "`#[on_user_offline]` hooks",
            Role::AuthorizeChannel => "`#[authorize_channel]` hooks",
            Role::AuthorizeRelay => "`#[authorize_relay]` hooks",
        }
    }
}

/// What `#[on("event", options…)]` says.
pub(crate) struct Listen {
    /// The event name.
    pub(crate) event: LitStr,
    /// `concurrent`: the listener's events run as they arrive, not in the socket's order.
    pub(crate) concurrent: bool,
    /// `rate = "5/s"`: how often one user may send the event.
    pub(crate) rate: Option<Rate>,
    /// `burst = 10`: the burst of `rate`.
    pub(crate) burst: Option<Literal>,
}

/// The options `#[on("event", …)]` accepts after the name.
const LISTEN_OPTIONS: &str = "`concurrent`, `rate = \"5/s\"`, `burst = 10`";

/// A method's role and the attribute that gave it, for spans.
pub(crate) struct Marker<'a> {
    pub(crate) original: &'a Attribute,
    pub(crate) role: Role,
}

const HELPERS: [&str; 9] = [
    "middleware",
    "on",
    "on_connect",
    "on_disconnect",
    "on_user_change",
    "on_user_online",
    "on_user_offline",
    "authorize_channel",
    "authorize_relay",
];

/// Whether `attr` is one of the helper attributes `#[socket_namespace]` consumes.
pub(crate) fn is_helper(attr: &Attribute) -> bool {
    attr.path()
        .get_ident()
        .is_some_and(|ident| HELPERS.iter().any(|helper| ident == helper))
}

/// The role the helper attributes in `attrs` give a method, if any. Records an error for a
/// malformed attribute and for every helper attribute after the first.
pub(crate) fn marker<'a>(cx: &Ctxt, attrs: &'a [Attribute]) -> Option<Marker<'a>> {
    let mut helpers = attrs.iter().filter(|attr| is_helper(attr));
    let first = helpers.next()?;
    let first_name = first.path().get_ident()?;
    for extra in helpers {
        cx.error_spanned_by(
            extra,
            format_args!("this method is already `#[{first_name}]`; a method has only one role"),
        );
    }
    let role = role(cx, first)?;
    Some(Marker {
        original: first,
        role,
    })
}

fn role(cx: &Ctxt, attr: &Attribute) -> Option<Role> {
    let role = match attr.path().get_ident()?.to_string().as_str() {
        "on" => return event(cx, attr).map(Role::On),
        "middleware" => Role::Middleware,
        "on_connect" => Role::OnConnect,
        "on_disconnect" => Role::OnDisconnect,
        "on_user_change" => Role::OnUserChange,
        "on_user_online" => Role::OnUserOnline,
        "on_user_offline" => Role::OnUserOffline,
        "authorize_channel" => Role::AuthorizeChannel,
        _ => Role::AuthorizeRelay,
    };
    let name = attr.path().get_ident()?;
    match &attr.meta {
        Meta::Path(_) => Some(role),
        Meta::List(list) => {
            cx.error_spanned_by(list, format_args!("`#[{name}]` takes no arguments"));
            None
        }
        Meta::NameValue(value) => {
            cx.error_spanned_by(value, format_args!("`#[{name}]` takes no arguments"));
            None
        }
    }
}

/// The event name and options of `#[on("event", …)]`.
fn event(cx: &Ctxt, attr: &Attribute) -> Option<Listen> {
    const EXAMPLE: &str = "e.g. `#[on(\"sayStuff\")]`";
    match &attr.meta {
        Meta::Path(path) => {
            cx.error_spanned_by(
                path,
                format_args!("`#[on]` needs the event name, {EXAMPLE}"),
            );
            None
        }
        Meta::List(list) if list.tokens.is_empty() => {
            cx.error_at(
                list.delimiter.span().join(),
                format_args!("`#[on]` needs the event name, {EXAMPLE}"),
            );
            None
        }
        Meta::List(list) => {
            match list.parse_args_with(|input: ParseStream<'_>| listen(cx, input)) {
                Ok(listen) => Some(listen),
                Err(err) if err.to_string() == NOT_A_NAME => {
                    cx.error_spanned_by(
                        &list.tokens,
                        format_args!("expected the event name as one string literal, {EXAMPLE}"),
                    );
                    None
                }
                Err(err) => {
                    cx.syn_error(err);
                    None
                }
            }
        }
        Meta::NameValue(value) => {
            cx.error_spanned_by(
                value,
                format_args!("write the event name in parentheses, {EXAMPLE}"),
            );
            None
        }
    }
}

const NOT_A_NAME: &str = "not an event name";

/// `"event"` then `, option` for each option.
fn listen(cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<Listen> {
    let event: LitStr = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), NOT_A_NAME))?;
    let mut concurrent: Option<Ident> = None;
    // Each option with the name it was given by, for errors about it.
    let mut rate: Option<(Ident, Option<Rate>)> = None;
    let mut burst: Option<(Ident, Option<Literal>)> = None;
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        let option: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected a listener option: {LISTEN_OPTIONS}"),
            )
        })?;
        let given_twice = |seen: bool| {
            if seen {
                cx.error_spanned_by(&option, format_args!("`{option}` is given twice"));
            }
        };
        if option == "concurrent" {
            given_twice(concurrent.is_some());
            concurrent = Some(option);
        } else if option == "rate" {
            given_twice(rate.is_some());
            input.parse::<Token![=]>()?;
            let lit = input
                .parse::<LitStr>()
                .map_err(|e| syn::Error::new(e.span(), format!("expected {RATE_FORMAT}")))?;
            rate = Some((option, parse_rate(cx, &lit)));
        } else if option == "burst" {
            given_twice(burst.is_some());
            input.parse::<Token![=]>()?;
            let lit: LitInt = input.parse()?;
            burst = Some((option, parse_burst(cx, &lit)));
        } else {
            cx.error_spanned_by(
                &option,
                format_args!("unknown listener option `{option}`; expected {LISTEN_OPTIONS}"),
            );
        }
    }
    if let (Some((option, _)), None) = (&burst, &rate) {
        cx.error_spanned_by(
            option,
            "`burst` needs a `rate`, e.g. `rate = \"5/s\", burst = 10`",
        );
    }
    Ok(Listen {
        event,
        concurrent: concurrent.is_some(),
        rate: rate.and_then(|(_, rate)| rate),
        burst: burst.and_then(|(_, burst)| burst),
    })
}

/// Removes the helper attributes from every item of `item`: they mean nothing to rustc.
pub(crate) fn strip(item: &mut ItemImpl) {
    for item in &mut item.items {
        if let Some(attrs) = attrs_mut(item) {
            attrs.retain(|attr| !is_helper(attr));
        }
    }
}

/// The attributes of an impl item, for the kinds that can carry them.
pub(crate) fn attrs(item: &ImplItem) -> &[Attribute] {
    match item {
        ImplItem::Const(item) => &item.attrs,
        ImplItem::Fn(item) => &item.attrs,
        ImplItem::Type(item) => &item.attrs,
        ImplItem::Macro(item) => &item.attrs,
        _ => &[],
    }
}

fn attrs_mut(item: &mut ImplItem) -> Option<&mut Vec<Attribute>> {
    match item {
        ImplItem::Const(item) => Some(&mut item.attrs),
        ImplItem::Fn(item) => Some(&mut item.attrs),
        ImplItem::Type(item) => Some(&mut item.attrs),
        ImplItem::Macro(item) => Some(&mut item.attrs),
        _ => None,
    }
}

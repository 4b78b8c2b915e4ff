//! The arguments of `#[socket_namespace(...)]`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::parse::{ParseStream, Parser as _};
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitInt, LitStr, Member, Token, Type};

use crate::ctxt::Ctxt;
use crate::duration::{parse_grace, parse_window};
use crate::rate::{RATE_FORMAT, Rate, parse_burst, parse_rate};

/// What `#[socket_namespace(path = "/chat", ...)]` says, with the literals kept for their spans.
pub(crate) struct Args {
    /// The namespace path, e.g. `"/chat"`. When it is missing an error was recorded and this is a
    /// placeholder: check the [`Ctxt`] before expanding.
    pub(crate) path: LitStr,
    /// `client_connection_key = "field"`: keys the connected-clients map.
    pub(crate) client_key: Option<FieldArg>,
    /// `user_key = "field"`: the user a connection belongs to.
    pub(crate) user_key: Option<FieldArg>,
    /// `anonymous = true|false`: whether connections without a user are accepted.
    pub(crate) anonymous: Option<LitBool>,
    /// `max_connections_per_user = 3`, as an unsuffixed literal spanned at the user's.
    pub(crate) max_connections: Option<Literal>,
    /// `events = ChatEvents`: the namespace's server→client events.
    pub(crate) events: Option<Type>,
    /// `rate = "50/s"`: every socket's rate limit in this namespace.
    pub(crate) rate: Option<Rate>,
    /// `burst = 100`: the burst of `rate`.
    pub(crate) burst: Option<Literal>,
    /// `recovery = true` or `recovery = "90s"`: recovery on, with its window in seconds (the
    /// default window when `None`).
    pub(crate) recovery: Option<Option<Literal>>,
    /// `recovery_max_len = 1000`: the bound of each stream.
    pub(crate) recovery_max_len: Option<Literal>,
    /// `presence = true` or `presence = "2s"`: channel presence on, with its grace in
    /// milliseconds (the builder's when `None`).
    pub(crate) presence: Option<Option<Literal>>,
    /// `presence_channels = "is_room"`: the function (`fn(&str) -> bool`) that picks the
    /// channels presence tracks, spanned at the literal; every channel when `None`.
    pub(crate) presence_channels: Option<syn::Path>,
    /// `share_metadata = true`: fetches return each socket's metadata.
    pub(crate) share_metadata: bool,
    /// `typescript = true`: the namespace's events can be written as TypeScript.
    pub(crate) typescript: bool,
    /// How the generated code names the runtime crate: `::tether` unless `crate = "..."` says
    /// otherwise.
    pub(crate) krate: syn::Path,
}

/// An argument naming a field of the metadata: `client_connection_key = "user_id"`.
pub(crate) struct FieldArg {
    /// The string literal the user wrote, where errors about the key point.
    pub(crate) original: LitStr,
    /// The field, spanned at the literal so rustc reports a missing field on it.
    pub(crate) member: Member,
}

const NAMES: [&str; 15] = [
    "path",
    "client_connection_key",
    "user_key",
    "anonymous",
    "max_connections_per_user",
    "events",
    "rate",
    "burst",
    "recovery",
    "recovery_max_len",
    "presence",
    "presence_channels",
    "share_metadata",
    "typescript",
    "crate",
];

impl Args {
    /// Parses the attribute's arguments, recording every mistake in `cx`.
    pub(crate) fn from_tokens(cx: &Ctxt, tokens: TokenStream) -> Args {
        let mut raw = RawArgs::default();
        let parser = |input: ParseStream<'_>| raw.parse(cx, input);
        // After a syntax error the rest is unread: do not also report `path` as missing.
        let complete = parser
            .parse2(tokens)
            .map_err(|err| cx.syn_error(err))
            .is_ok();
        raw.finish(cx, complete)
    }
}

/// The arguments as written, before the required ones are checked.
#[derive(Default)]
struct RawArgs {
    /// The argument names seen so far, valid or not, to report duplicates.
    seen: Vec<String>,
    path: Option<LitStr>,
    client_key: Option<FieldArg>,
    user_key: Option<FieldArg>,
    anonymous: Option<LitBool>,
    max_connections: Option<Literal>,
    events: Option<Type>,
    rate: Option<Rate>,
    burst: Option<(Literal, LitInt)>,
    recovery: Option<Option<Literal>>,
    recovery_max_len: Option<(Literal, LitInt)>,
    presence: Option<Option<Literal>>,
    presence_channels: Option<(syn::Path, LitStr)>,
    share_metadata: bool,
    typescript: bool,
    krate: Option<syn::Path>,
}

/// The value after `name =`.
enum Value {
    Expr(Expr),
    Type(Type),
    /// Unusable, and the error is already recorded.
    Reported,
}

impl RawArgs {
    fn parse(&mut self, cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<()> {
        while !input.is_empty() {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                cx.error_spanned_by(
                    &lit,
                    format_args!("name the argument: `path = {}`", lit.to_token_stream()),
                );
                self.seen.push("path".to_owned());
            } else {
                let key = input.call(Ident::parse_any)?;
                let value = parse_value(cx, &key, input)?;
                self.set(cx, &key, value);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    }

    /// Stores `key = value`, or records why it cannot.
    fn set(&mut self, cx: &Ctxt, key: &Ident, value: Option<Value>) {
        let name = key.unraw().to_string();
        if !NAMES.contains(&name.as_str()) {
            let expected = NAMES.map(|name| format!("`{name}`")).join(", ");
            cx.error_spanned_by(
                key,
                format_args!("unknown argument `{name}`; expected one of {expected}"),
            );
            return;
        }
        if self.seen.contains(&name) {
            cx.error_spanned_by(key, format_args!("duplicate argument `{name}`"));
            return;
        }
        self.seen.push(name.clone());
        let expr = match value {
            None => {
                cx.error_spanned_by(key, format_args!("expected `{}`", example(&name)));
                return;
            }
            Some(Value::Type(ty)) => {
                self.events = Some(ty);
                return;
            }
            Some(Value::Reported) => return,
            Some(Value::Expr(expr)) => expr,
        };
        let Some(lit) = literal(cx, &name, expr) else {
            return;
        };
        match (name.as_str(), lit) {
            ("path", Lit::Str(lit)) => self.path = Some(path(cx, lit)),
            ("client_connection_key", Lit::Str(lit)) => self.client_key = field(cx, &name, lit),
            ("user_key", Lit::Str(lit)) => self.user_key = field(cx, &name, lit),
            ("crate", Lit::Str(lit)) => self.krate = krate(cx, &lit),
            ("anonymous", Lit::Bool(lit)) => self.anonymous = Some(lit),
            ("rate", Lit::Str(lit)) => self.rate = parse_rate(cx, &lit),
            ("burst", Lit::Int(lit)) => self.burst = parse_burst(cx, &lit).map(|b| (b, lit)),
            ("recovery", Lit::Bool(lit)) => {
                if lit.value {
                    self.recovery = Some(None);
                }
            }
            ("recovery", Lit::Str(lit)) => {
                self.recovery = parse_window(cx, &lit).map(Some);
            }
            ("share_metadata", Lit::Bool(lit)) => self.share_metadata = lit.value,
            ("typescript", Lit::Bool(lit)) => self.typescript = lit.value,
            ("presence", Lit::Bool(lit)) => {
                if lit.value {
                    self.presence = Some(None);
                }
            }
            ("presence", Lit::Str(lit)) => {
                self.presence = parse_grace(cx, &lit).map(Some);
            }
            ("presence_channels", Lit::Str(lit)) => match lit.parse::<syn::Path>() {
                Ok(path) => self.presence_channels = Some((path, lit)),
                Err(_) => cx.error_spanned_by(
                    &lit,
                    "expected the path of a `fn(&str) -> bool`, e.g. `presence_channels = \"is_room\"`",
                ),
            },
            ("recovery_max_len", Lit::Int(lit)) => match lit.base10_parse::<usize>() {
                Ok(0) => cx.error_spanned_by(&lit, "`recovery_max_len` must be at least 1"),
                Ok(n) => {
                    let mut max = Literal::usize_unsuffixed(n);
                    max.set_span(lit.span());
                    self.recovery_max_len = Some((max, lit));
                }
                Err(err) => cx.syn_error(err),
            },
            ("max_connections_per_user", Lit::Int(lit)) => match lit.base10_parse::<usize>() {
                Ok(0) => cx.error_spanned_by(
                    &lit,
                    "`max_connections_per_user` must be at least 1; leave it out for no cap",
                ),
                Ok(cap) => {
                    let mut cap = Literal::usize_unsuffixed(cap);
                    cap.set_span(lit.span());
                    self.max_connections = Some(cap);
                }
                Err(err) => cx.syn_error(err),
            },
            (_, lit) => cx.error_spanned_by(
                lit,
                format_args!("expected {}, e.g. `{}`", kind(&name), example(&name)),
            ),
        }
    }

    fn finish(self, cx: &Ctxt, complete: bool) -> Args {
        if complete && !self.seen.iter().any(|name| name == "path") {
            cx.error_at(
                Span::call_site(),
                "missing argument `path`: write `#[socket_namespace(path = \"/chat\")]`",
            );
        }
        if let (Some((_, lit)), None) = (&self.burst, &self.rate)
            && !self.seen.iter().any(|name| name == "rate")
        {
            cx.error_spanned_by(
                lit,
                "`burst` needs a `rate`, e.g. `rate = \"50/s\", burst = 100`",
            );
        }
        if let (Some((_, lit)), None) = (&self.recovery_max_len, &self.recovery)
            && !self.seen.iter().any(|name| name == "recovery")
        {
            cx.error_spanned_by(
                lit,
                "`recovery_max_len` needs `recovery`, e.g. `recovery = \"2min\", recovery_max_len = 1000`",
            );
        }
        if let (Some((_, lit)), None) = (&self.presence_channels, &self.presence)
            && !self.seen.iter().any(|name| name == "presence")
        {
            cx.error_spanned_by(
                lit,
                "`presence_channels` needs `presence`, e.g. `presence = true, presence_channels = \"is_room\"`",
            );
        }
        // Only a placeholder when an error was recorded above or while parsing.
        let path = self
            .path
            .unwrap_or_else(|| LitStr::new("/", Span::call_site()));
        Args {
            path,
            client_key: self.client_key,
            user_key: self.user_key,
            anonymous: self.anonymous,
            max_connections: self.max_connections,
            events: self.events,
            rate: self.rate,
            burst: self.burst.map(|(b, _)| b),
            recovery: self.recovery,
            recovery_max_len: self.recovery_max_len.map(|(m, _)| m),
            presence: self.presence,
            presence_channels: self.presence_channels.map(|(path, _)| path),
            share_metadata: self.share_metadata,
            typescript: self.typescript,
            krate: self.krate.unwrap_or_else(|| syn::parse_quote!(::tether)),
        }
    }
}

/// Parses the `= <value>` after an argument's name; `None` when there is no `=`.
fn parse_value(cx: &Ctxt, key: &Ident, input: ParseStream<'_>) -> syn::Result<Option<Value>> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        if key != "events" {
            return input.parse().map(|expr| Some(Value::Expr(expr)));
        }
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            cx.error_spanned_by(
                &lit,
                format_args!(
                    "`events` is a type, not a string: write `events = {}`",
                    lit.value()
                ),
            );
            return Ok(Some(Value::Reported));
        }
        return input.parse().map(|ty| Some(Value::Type(ty)));
    }
    // Skip `name(...)` so the remaining arguments are still checked.
    if input.peek(syn::token::Paren) || input.peek(syn::token::Bracket) {
        input.parse::<proc_macro2::Group>()?;
    }
    Ok(None)
}

/// The literal of `name = <literal>`, or an error on the expression.
fn literal(cx: &Ctxt, name: &str, value: Expr) -> Option<Lit> {
    if let Expr::Lit(ExprLit { lit, .. }) = value {
        return Some(lit);
    }
    cx.error_spanned_by(
        value,
        format_args!("expected {}, e.g. `{}`", kind(name), example(name)),
    );
    None
}

/// What kind of value an argument takes, for error messages.
fn kind(name: &str) -> &'static str {
    match name {
        "anonymous" | "share_metadata" | "typescript" => "`true` or `false`",
        "max_connections_per_user" | "burst" | "recovery_max_len" => "an integer",
        "recovery" => "`true` or a window such as `\"90s\"`, `\"2min\"`, `\"1h\"`",
        "presence" => "`true` or a grace such as `\"500ms\"`, `\"5s\"`, `\"1min\"`",
        "rate" => RATE_FORMAT,
        "presence_channels" => "the path of a `fn(&str) -> bool` as a string",
        "events" => "a type",
        _ => "a string literal",
    }
}

/// How an argument is written, for error messages.
fn example(name: &str) -> &'static str {
    match name {
        "path" => "path = \"/chat\"",
        "client_connection_key" => "client_connection_key = \"user_id\"",
        "user_key" => "user_key = \"user_id\"",
        "anonymous" => "anonymous = false",
        "max_connections_per_user" => "max_connections_per_user = 3",
        "events" => "events = ChatEvents",
        "rate" => "rate = \"50/s\"",
        "burst" => "burst = 100",
        "recovery" => "recovery = \"2min\"",
        "recovery_max_len" => "recovery_max_len = 1000",
        "presence" => "presence = \"5s\"",
        "presence_channels" => "presence_channels = \"is_room\"",
        "share_metadata" => "share_metadata = true",
        "typescript" => "typescript = true",
        _ => "crate = \"::tether\"",
    }
}

fn path(cx: &Ctxt, lit: LitStr) -> LitStr {
    if !lit.value().starts_with('/') {
        cx.error_spanned_by(&lit, "namespace path must start with `/`, e.g. `/chat`");
    }
    lit
}

/// A metadata field named by a string literal.
fn field(cx: &Ctxt, name: &str, lit: LitStr) -> Option<FieldArg> {
    // `LitStr::parse` gives the parsed tokens the literal's span.
    if let Ok(member) = lit.parse::<Member>() {
        return Some(FieldArg {
            original: lit,
            member,
        });
    }
    cx.error_spanned_by(
        &lit,
        format_args!(
            "`{name}` must name a field of the metadata type, e.g. `{}`",
            example(name)
        ),
    );
    None
}

fn krate(cx: &Ctxt, lit: &LitStr) -> Option<syn::Path> {
    let path = lit.parse_with(syn::Path::parse_mod_style).ok();
    if path.is_none() {
        cx.error_spanned_by(
            lit,
            "`crate` must be the path of the tether crate, e.g. `crate = \"::tether\"`",
        );
    }
    path
}

//! The enum as `#[derive(Events)]` understands it, with its `#[event]` and `#[events]` attributes.

use syn::ext::IdentExt as _;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Meta, Type};

use crate::ctxt::Ctxt;

/// The derived enum.
pub(crate) struct Events<'a> {
    pub(crate) original: &'a DeriveInput,
    /// `::tether`, or what `#[events(crate = "...")]` says.
    pub(crate) krate: syn::Path,
    /// `#[events(typescript = true)]`: the events can be written as TypeScript.
    pub(crate) typescript: bool,
    pub(crate) variants: Vec<Variant<'a>>,
}

/// One event.
pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    /// The event name: the `#[event("...")]` literal, or the variant's name spanned at it.
    pub(crate) name: LitStr,
    /// The payload type of `Name(Payload)`; `None` for a unit variant.
    pub(crate) payload: Option<&'a Type>,
}

impl<'a> Events<'a> {
    /// Builds the IR, recording malformed input in `cx`.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let (krate, typescript) = container_args(cx, &input.attrs);
        let variants = match &input.data {
            Data::Enum(data) => data
                .variants
                .iter()
                .filter_map(|variant| Variant::from_syn(cx, variant))
                .collect(),
            Data::Struct(data) => {
                not_an_enum(cx, &data.struct_token, &input.ident);
                Vec::new()
            }
            Data::Union(data) => {
                not_an_enum(cx, &data.union_token, &input.ident);
                Vec::new()
            }
        };
        Events {
            original: input,
            krate: krate.unwrap_or_else(|| syn::parse_quote!(::tether)),
            typescript,
            variants,
        }
    }
}

fn not_an_enum(cx: &Ctxt, keyword: &dyn quote::ToTokens, ident: &Ident) {
    cx.error_spanned_by(
        quote::quote!(#keyword #ident),
        "`#[derive(Events)]` goes on an enum whose variants are the events, \
         e.g. `enum ChatEvents { Message(ChatMessage) }`",
    );
}

impl<'a> Variant<'a> {
    fn from_syn(cx: &Ctxt, variant: &'a syn::Variant) -> Option<Self> {
        let ident = &variant.ident;
        let name = event_name(cx, &variant.attrs, ident);
        let payload = match &variant.fields {
            Fields::Unit => None,
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Some(&fields.unnamed[0].ty),
            fields => {
                cx.error_spanned_by(
                    fields,
                    format_args!(
                        "an event variant carries one payload: write `{ident}(Payload)`, or \
                         `{ident}` for none"
                    ),
                );
                return None;
            }
        };
        Some(Variant {
            ident,
            name: name?,
            payload,
        })
    }
}

/// The event name of a variant: its `#[event("name")]`, else the variant's name verbatim
/// (spanned at it). `None` when the attribute is malformed.
fn event_name(cx: &Ctxt, attrs: &[Attribute], ident: &Ident) -> Option<LitStr> {
    const EXAMPLE: &str = "e.g. `#[event(\"/users/ping\")]`";
    let mut attrs = attrs.iter().filter(|attr| attr.path().is_ident("event"));
    let Some(attr) = attrs.next() else {
        return Some(LitStr::new(&ident.unraw().to_string(), ident.span()));
    };
    for extra in attrs {
        cx.error_spanned_by(extra, "an event has one name; remove this `#[event]`");
    }
    let list = match &attr.meta {
        Meta::List(list) => list,
        Meta::Path(path) => {
            cx.error_spanned_by(
                path,
                format_args!("`#[event]` needs the event name, {EXAMPLE}"),
            );
            return None;
        }
        Meta::NameValue(value) => {
            cx.error_spanned_by(
                value,
                format_args!("write the event name in parentheses, {EXAMPLE}"),
            );
            return None;
        }
    };
    match list.parse_args::<LitStr>() {
        Ok(name) => Some(name),
        Err(_) if list.tokens.is_empty() => {
            cx.error_at(
                list.delimiter.span().join(),
                format_args!("`#[event]` needs the event name, {EXAMPLE}"),
            );
            None
        }
        Err(_) => {
            cx.error_spanned_by(
                &list.tokens,
                format_args!("expected the event name as one string literal, {EXAMPLE}"),
            );
            None
        }
    }
}

/// `#[events(crate = "...", typescript = true)]` on the enum.
fn container_args(cx: &Ctxt, attrs: &[Attribute]) -> (Option<syn::Path>, bool) {
    let (mut krate, mut typescript) = (None, false);
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("events")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("typescript") {
                typescript = meta.value()?.parse::<syn::LitBool>()?.value;
                return Ok(());
            }
            if !meta.path.is_ident("crate") {
                let name = quote::ToTokens::to_token_stream(&meta.path).to_string();
                return Err(meta.error(format_args!(
                    "unknown argument `{name}`; expected `crate` or `typescript`"
                )));
            }
            let lit: LitStr = meta.value()?.parse()?;
            if krate.is_some() {
                cx.error_spanned_by(&meta.path, "duplicate argument `crate`");
            }
            match lit.parse_with(syn::Path::parse_mod_style) {
                Ok(path) => krate = Some(path),
                Err(_) => cx.error_spanned_by(
                    &lit,
                    "`crate` must be the path of the tether crate, e.g. `crate = \"::tether\"`",
                ),
            }
            Ok(())
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }
    (krate, typescript)
}

//! Turns a valid namespace into the user's impl plus one `impl tether::Namespace`.

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{ImplItem, Item, ItemImpl, ReturnType};

use crate::args::{Args, FieldArg};
use crate::ast::{Method, Namespace, Output, ParamKind};
use crate::attr::{self, Role};
use crate::ctxt::Ctxt;
use crate::rate::rate_limit;
use crate::{fallback, valid};

/// The whole attribute: parse, validate, expand; on error, [`fallback`].
pub(crate) fn socket_namespace(args: TokenStream, input: TokenStream) -> TokenStream {
    match syn::parse2::<Item>(input.clone()) {
        Ok(Item::Impl(item)) => expand_impl(args, &item),
        other => fallback::not_an_impl(input, other),
    }
}

fn expand_impl(args: TokenStream, item: &ItemImpl) -> TokenStream {
    let cx = Ctxt::new();
    let args = Args::from_tokens(&cx, args);
    let ns = Namespace::from_syn(&cx, args, item);
    valid::check(&cx, &ns);
    match cx.check() {
        Ok(()) => namespace(&ns),
        Err(error) => fallback::expand(&ns, error),
    }
}

/// The user's impl (helper attributes stripped) and the `Namespace` impl that registers it.
fn namespace(ns: &Namespace<'_>) -> TokenStream {
    let args = &ns.args;
    let krate = &args.krate;
    let item = user_impl(ns);
    let self_ty = &item.self_ty;
    let path = &args.path;
    let metadata = ns
        .middleware()
        .and_then(Method::metadata)
        .map_or_else(|| quote!(()), ToTokens::to_token_stream);
    let events = args
        .events
        .as_ref()
        .map_or_else(|| quote!(#krate::AnyEvent), ToTokens::to_token_stream);

    let client_key = args.client_key.as_ref().map(|key| {
        let key = read_key(key, quote!(#krate::__private::ClientKey::to_key));
        quote!(def.client_key(|meta: &#metadata| #key);)
    });
    let user_key = args.user_key.as_ref().map(|key| {
        let key = read_key(key, quote!(#krate::__private::UserKey::user_key));
        quote!(def.user_key(|meta: &#metadata| #key);)
    });
    let anonymous = args
        .anonymous
        .as_ref()
        .map(|allow| quote!(def.allow_anonymous(#allow);));
    let max_connections = args
        .max_connections
        .as_ref()
        .map(|cap| quote!(def.max_connections_per_user(#cap);));
    let share_metadata = args.share_metadata.then(|| quote!(def.share_metadata();));
    let rate = args.rate.as_ref().map(|rate| {
        let limit = rate_limit(krate, rate, args.burst.as_ref());
        quote!(def.rate_limit(#limit);)
    });
    let recovery = args.recovery.as_ref().map(|window| {
        let mut recovery = quote!(#krate::Recovery::new());
        if let Some(secs) = window {
            recovery = quote!(#recovery.window(::core::time::Duration::from_secs(#secs)));
        }
        if let Some(max) = &args.recovery_max_len {
            recovery = quote!(#recovery.max_len(#max));
        }
        quote!(def.recovery(#recovery);)
    });
    let presence = args.presence.as_ref().map(|grace| {
        let mut presence = quote!(#krate::Presence::new());
        if let Some(ms) = grace {
            presence = quote!(#presence.grace(::core::time::Duration::from_millis(#ms)));
        }
        if let Some(filter) = &args.presence_channels {
            presence = quote!(#presence.channels(#filter));
        }
        quote!(def.presence(#presence);)
    });
    let middleware = ns.middleware().map(|method| register(krate, method));
    let others = ns
        .methods
        .iter()
        .filter(|method| !matches!(method.marker.role, Role::Middleware))
        .map(|method| register(krate, method));
    let body = quote! {
        #client_key
        #user_key
        #anonymous
        #max_connections
        #rate
        #recovery
        #presence
        #share_metadata
        #middleware
        #(#others)*
    };
    // `_` when nothing is registered, so the parameter is not unused.
    let def = if body.is_empty() {
        quote!(_)
    } else {
        quote!(def)
    };

    let typescript = crate::typescript::namespace_types(ns, self_ty);
    quote! {
        #item

        #typescript

        #[automatically_derived]
        impl #krate::Namespace for #self_ty {
            type Metadata = #metadata;
            type Events = #events;
            const PATH: &'static str = #path;
            fn define(#def: &mut #krate::NamespaceDef<Self>) {
                #body
            }
        }
    }
}

/// The user's impl as rustc should see it: helper attributes stripped, and `clippy::unused_async`
/// allowed on the marked methods, which the macro requires to be `async` even when they do not
/// await.
fn user_impl(ns: &Namespace<'_>) -> ItemImpl {
    let mut item = ns.original.clone();
    attr::strip(&mut item);
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item
            && ns
                .methods
                .iter()
                .any(|marked| *marked.ident() == method.sig.ident)
        {
            method
                .attrs
                .push(syn::parse_quote!(#[allow(clippy::unused_async)]));
        }
    }
    item
}

/// `convert(&meta.field)`, all spanned at the user's string literal: a missing field, or one of
/// the wrong type, is reported there and only there.
fn read_key(key: &FieldArg, convert: TokenStream) -> TokenStream {
    let span = key.original.span();
    let member = &key.member;
    let convert = respan(convert, span);
    quote_spanned!(span=> #convert(&meta.#member))
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            }
            tree.set_span(span);
            tree
        })
        .collect()
}
/// The `def.…(..);` statement(s) that register one method.
fn register(krate: &syn::Path, method: &Method<'_>) -> TokenStream {
    let ident = method.ident();
    let private = quote!(#krate::__private);

    // The closure's parameters (`_` where the method does not want one) and the call's arguments.
    let mut params = Vec::new();
    let mut args = vec![quote!(&this)];
    let mut param = |name: TokenStream, wanted: bool, arg: TokenStream| {
        if wanted {
            params.push(name);
            args.push(arg);
        } else {
            params.push(quote!(_));
        }
    };
    // For `#[on]`: the payload check before the registration, the payload type, the event name.
    let (mut check, mut turbofish, mut event, mut options) = Default::default();
    let (register, body) = match &method.marker.role {
        Role::Middleware => {
            param(quote!(hs), true, quote!(&hs));
            ("middleware", quote!(Self::#ident(#(#args),*).await))
        }
        Role::On(listen) => {
            let name = &listen.event;
            param(
                quote!(client),
                method.takes(ParamKind::Client),
                quote!(&client),
            );
            let payload = method.payload();
            param(quote!(payload), payload.is_some(), quote!(payload));
            let call = quote!(Self::#ident(#(#args),*).await);
            let reply = match method.output {
                Output::Unit => quote!(#call; #krate::Reply::none()),
                Output::Result(_) => quote!(#krate::Reply::result(#call)),
                Output::Value(_) => quote!(#krate::Reply::value(&#call)),
            };
            let payload_ty = if let Some(ty) = payload {
                // On the user's type: a payload that is not `Deserialize` is reported there.
                check = quote_spanned!(ty.span()=> #private::assert_payload::<#ty>(););
                ty.to_token_stream()
            } else {
                quote!(#krate::NoPayload)
            };
            turbofish = quote!(::<#payload_ty, _, _>);
            event = quote!(#name,);
            if listen.concurrent {
                options = quote!(.concurrent());
            }
            if let Some(rate) = &listen.rate {
                let limit = rate_limit(krate, rate, listen.burst.as_ref());
                options = quote!(#options .rate_limit(#limit));
            }
            ("on", reply)
        }
        Role::OnConnect => {
            param(
                quote!(client),
                method.takes(ParamKind::Client),
                quote!(&client),
            );
            ("on_connect", quote!(Self::#ident(#(#args),*).await;))
        }
        Role::OnDisconnect => {
            param(
                quote!(client),
                method.takes(ParamKind::Client),
                quote!(&client),
            );
            param(
                quote!(reason),
                method.takes(ParamKind::Reason),
                quote!(reason),
            );
            ("on_disconnect", quote!(Self::#ident(#(#args),*).await;))
        }
        Role::OnUserChange => {
            param(
                quote!(client),
                method.takes(ParamKind::Client),
                quote!(&client),
            );
            param(
                quote!(previous),
                method.takes(ParamKind::Value),
                quote!(previous),
            );
            ("on_user_change", quote!(Self::#ident(#(#args),*).await;))
        }
        Role::OnUserOnline | Role::OnUserOffline => {
            param(quote!(user), method.takes(ParamKind::Str), quote!(&user));
            param(
                quote!(clients),
                method.takes(ParamKind::Clients),
                quote!(&clients),
            );
            let register = match method.marker.role {
                Role::OnUserOnline => "on_user_online",
                _ => "on_user_offline",
            };
            (register, quote!(Self::#ident(#(#args),*).await;))
        }
        Role::AuthorizeChannel | Role::AuthorizeRelay => {
            let (register, subject) = match method.marker.role {
                Role::AuthorizeChannel => ("authorize_channel", quote!(channel)),
                _ => ("authorize_relay", quote!(relay)),
            };
            param(quote!(client), true, quote!(&client));
            param(subject.clone(), true, quote!(&#subject));
            let call = quote!(Self::#ident(#(#args),*).await);
            // `<Answer as Authorization>`: an answer type that is not one is reported on the
            // user's return type (validation ensured there is one).
            let answer = match &method.original.sig.output {
                ReturnType::Type(_, ty) => ty.to_token_stream(),
                ReturnType::Default => quote!(()),
            };
            let body = quote!(<#answer as #private::Authorization>::into_authorization(#call));
            (register, body)
        }
    };
    // Spanned at the method's name (but for the payload type): a future that is not `Send`
    // is reported there.
    let span = ident.span();
    let register = Ident::new(register, span);
    quote_spanned! {span=>
        #check
        def.#register #turbofish(#event |this, #(#params),*| async move { #body }) #options;
    }
}

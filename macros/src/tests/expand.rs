//! What a valid namespace expands to.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;

use super::{assert_contains, errors, expansion};
use crate::expand::socket_namespace;

const FULL: &str = r#"
impl DevUserSocket {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> { todo!() }
    #[on_connect]
    async fn joined(&self, client: &Client<DevUser>) {}
    #[on("sayStuff")]
    async fn say_stuff(&self, client: &Client<DevUser>, msg: SayStuff) -> Result<Sent, SocketError> { todo!() }
    #[on("ping")]
    async fn ping(&self) -> Pong { Pong }
    #[on("note")]
    async fn note(&self, msg: Note) {}
    #[on_disconnect]
    async fn left(&self, client: &Client<DevUser>, reason: DisconnectReason) {}
    fn helper(&self) {}
}
"#;

const ARGS: &str = r#"path = "/devUser", client_connection_key = "user_id""#;

#[test]
fn full_namespace_registers_every_marked_method() {
    let out = expansion(ARGS, FULL);
    for expected in [
        quote!(#[automatically_derived] impl ::tether::Namespace for DevUserSocket),
        quote!(
            type Metadata = DevUser;
        ),
        quote!(
            const PATH: &'static str = "/devUser";
        ),
        quote!(fn define(def: &mut ::tether::NamespaceDef<Self>)),
        quote!(def.client_key(|meta: &DevUser| ::tether::__private::ClientKey::to_key(&meta.user_id));),
        quote!(def.middleware(|this, hs| async move { Self::authenticate(&this, &hs).await });),
        quote!(def.on_connect(|this, client| async move { Self::joined(&this, &client).await; });),
        quote!(::tether::__private::assert_payload::<SayStuff>();),
        quote!(def.on::<SayStuff, _, _>("sayStuff", |this, client, payload| async move {
            ::tether::Reply::result(Self::say_stuff(&this, &client, payload).await)
        });),
        quote!(def.on::<::tether::NoPayload, _, _>("ping", |this, _, _| async move {
            ::tether::Reply::value(&Self::ping(&this).await)
        });),
        quote!(def.on::<Note, _, _>("note", |this, _, payload| async move {
            Self::note(&this, payload).await; ::tether::Reply::none()
        });),
        quote!(def.on_disconnect(|this, client, reason| async move {
            Self::left(&this, &client, reason).await;
        });),
        quote!(
            fn helper(&self) {}
        ),
    ] {
        assert_contains(&out, &expected);
    }
}

#[test]
fn a_concurrent_listener_is_registered_as_one() {
    let out = expansion(
        r#"path = "/chat""#,
        r#"impl Chat { #[on("search", concurrent)] async fn search(&self, q: Query) -> Hits { todo!() } }"#,
    );
    assert_contains(
        &out,
        &quote!(def.on::<Query, _, _>("search", |this, _, payload| async move {
            ::tether::Reply::value(&Self::search(&this, payload).await)
        }).concurrent();),
    );
}

#[test]
fn helper_attributes_are_stripped() {
    let out = expansion(ARGS, FULL);
    for helper in [
        "# [middleware]",
        "# [on (",
        "# [on_connect]",
        "# [on_disconnect]",
    ] {
        assert!(!out.contains(helper), "{helper} left in {out}");
    }
}

#[test]
fn middleware_comes_first_whatever_the_source_order() {
    let out = expansion(
        r#"path = "/a""#,
        r"impl A {
            #[on_connect] async fn c(&self) {}
            #[middleware] async fn m(&self, hs: &Handshake) -> Result<SocketOk<M>, SocketNok> { todo!() }
        }",
    );
    assert!(out.find("def . middleware").unwrap() < out.find("def . on_connect").unwrap());
}

#[test]
fn without_middleware_the_metadata_is_unit() {
    let out = expansion(
        r#"path = "/chat""#,
        r#"impl Chat { #[on("hi")] async fn hi(&self, client: &Client<()>) {} }"#,
    );
    assert_contains(
        &out,
        &quote!(
            type Metadata = ();
        ),
    );
    assert!(errors(r#"path = "/chat""#, "impl Chat {}").is_empty());
}

#[test]
fn an_empty_namespace_does_not_name_the_unused_def() {
    let out = expansion(r#"path = "/chat""#, "impl Chat { fn plain(&self) {} }");
    assert_contains(
        &out,
        &quote!(
            fn define(_: &mut ::tether::NamespaceDef<Self>) {}
        ),
    );
}

#[test]
fn renamed_crate_is_used_everywhere() {
    let out = expansion(
        r#"path = "/chat", crate = "::tether2""#,
        r#"impl Chat { #[on("hi")] async fn hi(&self, m: Msg) {} }"#,
    );
    assert_contains(&out, &quote!(impl ::tether2::Namespace for Chat));
    assert_contains(
        &out,
        &quote!(::tether2::__private::assert_payload::<Msg>();),
    );
    assert!(!out.contains(":: tether ::"), "{out}");
}

#[test]
fn hooks_without_client() {
    let out = expansion(
        r#"path = "/a""#,
        r"impl A {
            #[on_connect] async fn c(&self) {}
            #[on_disconnect] async fn d(&self, why: tether::DisconnectReason) {}
        }",
    );
    assert_contains(
        &out,
        &quote!(def.on_connect(|this, _| async move { Self::c(&this).await; });),
    );
    assert_contains(
        &out,
        &quote!(def.on_disconnect(|this, _, reason| async move { Self::d(&this, reason).await; });),
    );
}

#[test]
fn client_key_field_is_spanned_at_the_literal() {
    let tokens: TokenStream = r#"path = "/a", client_connection_key = "user_id""#.parse().unwrap();
    let out = socket_namespace(
        tokens,
        "impl A { #[middleware] async fn m(&self, hs: &Handshake) -> Result<SocketOk<M>, SocketNok> { todo!() } }"
            .parse()
            .unwrap(),
    );
    let field = find_ident(out, "user_id").expect("the field access");
    assert_eq!(field.span().source_text().as_deref(), Some(r#""user_id""#));
}

fn find_ident(tokens: TokenStream, name: &str) -> Option<proc_macro2::Ident> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(ident) if ident == name => Some(ident),
        TokenTree::Group(group) => find_ident(group.stream(), name),
        _ => None,
    })
}

#[test]
fn fallback_keeps_the_impl_and_stubs_the_namespace() {
    let out = expansion(
        r#"path = "chat""#,
        r#"impl A { #[on("a")] async fn a(&self) {} fn plain(&self) {} }"#,
    );
    assert_contains(
        &out,
        &quote!(impl A { async fn a(&self) {} fn plain(&self) {} }),
    );
    assert_contains(
        &out,
        &quote!(
            #[automatically_derived]
            impl ::tether::Namespace for A {
                type Metadata = ();
                type Events = ::tether::AnyEvent;
                const PATH: &'static str = "/";
                fn define(_: &mut ::tether::NamespaceDef<Self>) {}
            }
        ),
    );
    let generic = expansion(r#"path = "/a""#, "impl<T> A<T> {}");
    assert!(!generic.contains("Namespace"), "{generic}");
}

#[test]
fn round_two_arguments_and_hooks() {
    let out = expansion(
        r#"path = "/a", user_key = "user_id", anonymous = true, max_connections_per_user = 3u8,
           events = crate::ChatEvents"#,
        r"impl A {
            #[middleware] async fn m(&self, hs: &Handshake) -> Result<SocketOk<M>, SocketNok> { todo!() }
            #[authorize_channel] async fn can_join(&self, client: &Client<M>, channel: &str) -> bool { true }
            #[authorize_relay] async fn can_relay(&self, c: &Client<M>, relay: &Relay) -> Result<(), SocketError> { Ok(()) }
        }",
    );
    for expected in [
        quote!(
            type Events = crate::ChatEvents;
        ),
        quote!(def.user_key(|meta: &M| ::tether::__private::UserKey::user_key(&meta.user_id));),
        quote!(def.allow_anonymous(true);),
        quote!(def.max_connections_per_user(3);),
        quote!(def.authorize_channel(|this, client, channel| async move {
            <bool as ::tether::__private::Authorization>::into_authorization(
                Self::can_join(&this, &client, &channel).await
            )
        });),
        quote!(def.authorize_relay(|this, client, relay| async move {
            <Result<(), SocketError> as ::tether::__private::Authorization>::into_authorization(
                Self::can_relay(&this, &client, &relay).await
            )
        });),
    ] {
        assert_contains(&out, &expected);
    }
    let default = expansion(r#"path = "/a""#, "impl A {}");
    assert_contains(
        &default,
        &quote!(
            type Events = ::tether::AnyEvent;
        ),
    );
}

#[test]
fn marked_methods_may_be_async_without_awaiting() {
    let out = expansion(
        r#"path = "/a""#,
        r#"impl A { #[on("a")] async fn a(&self) {} fn plain(&self) {} }"#,
    );
    assert_contains(
        &out,
        &quote!(
            #[allow(clippy::unused_async)]
            async fn a(&self) {}
            fn plain(&self) {}
        ),
    );
}

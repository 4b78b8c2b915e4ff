//! `#[derive(Events)]`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{assert_contains, errors_in};
use crate::events::derive;

fn run(item: &str) -> TokenStream {
    derive(&syn::parse2(item.parse().unwrap()).unwrap())
}

#[track_caller]
fn assert_errors(item: &str, expected: &[(&str, &str)]) {
    let found = errors_in(run(item));
    let found: Vec<(&str, &str)> = found
        .iter()
        .map(|(m, t)| (m.as_str(), t.as_str()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn variants_name_events_and_serialize_their_payload() {
    let out = run(r#"
        enum ChatEvents {
            #[event("/users/ping")]
            UsersPing(Ping),
            Message(ChatMessage),
            Typing,
        }
    "#)
    .to_string();
    for expected in [
        quote! {
            #[automatically_derived]
            impl ::tether::Events for ChatEvents {
                fn name(&self) -> &'static str {
                    match self {
                        Self::UsersPing(..) => "/users/ping",
                        Self::Message(..) => "Message",
                        Self::Typing => "Typing",
                    }
                }
            }
        },
        quote!(impl ::tether::__private::serde::Serialize for ChatEvents),
        quote!(::tether::__private::assert_event_payload::<Ping>();),
        quote!(::tether::__private::assert_event_payload::<ChatMessage>();),
        quote!(Self::UsersPing(payload) => {
            <Ping as ::tether::__private::serde::Serialize>::serialize(payload, serializer)
        }),
        quote!(Self::Typing => ::tether::__private::serde::Serializer::serialize_unit(serializer),),
    ] {
        assert_contains(&out, &expected);
    }
}

#[test]
fn empty_enum_matches_on_the_value() {
    let out = run("enum NoEvents {}").to_string();
    assert_contains(&out, &quote!(match *self {}));
    assert_contains(&out, &quote!(_: __S));
}

#[test]
fn renamed_crate() {
    let out = run(r#"#[events(crate = "::tether2")] enum E { A(u8) }"#).to_string();
    assert_contains(&out, &quote!(impl ::tether2::Events for E));
    assert!(!out.contains(":: tether ::"), "{out}");
}

#[test]
fn shape_errors() {
    let enum_only = "`#[derive(Events)]` goes on an enum whose variants are the events, e.g. \
                     `enum ChatEvents { Message(ChatMessage) }`";
    assert_errors(
        "struct ChatEvents { a: u8 }",
        &[(enum_only, "struct ChatEvents")],
    );
    assert_errors(
        "enum E<T> { A(T) }",
        &[(
            "`#[derive(Events)]` does not support generic enums: a namespace's events are one \
             concrete type",
            "<T>",
        )],
    );
    assert_errors(
        "enum E { A(u8, u8), B { x: u8 }, C(u8) }",
        &[
            (
                "an event variant carries one payload: write `A(Payload)`, or `A` for none",
                "(u8, u8)",
            ),
            (
                "an event variant carries one payload: write `B(Payload)`, or `B` for none",
                "{ x: u8 }",
            ),
        ],
    );
}

#[test]
fn name_errors() {
    assert_errors(
        r#"enum E { #[event("ping")] A, #[event("ping")] B(u8), ping }"#,
        &[
            (
                "duplicate event `ping`: the variant `A` already has this name",
                r#""ping""#,
            ),
            (
                "duplicate event `ping`: the variant `A` already has this name",
                "ping",
            ),
        ],
    );
    assert_errors(
        r#"enum E { #[event("/ops/kick")] A, disconnect, #[event("")] C }"#,
        &[
            (
                "event names starting with `/ops/` are reserved for tether; pick another event name",
                r#""/ops/kick""#,
            ),
            (
                "`disconnect` is a reserved socket.io event; pick another event name",
                "disconnect",
            ),
            ("the event name must not be empty", r#""""#),
        ],
    );
}

#[test]
fn attribute_errors() {
    let example = "e.g. `#[event(\"/users/ping\")]`";
    assert_errors(
        r#"enum E { #[event] A, #[event(1)] B, #[event()] C, #[event = "d"] D }"#,
        &[
            (
                &format!("`#[event]` needs the event name, {example}"),
                "event",
            ),
            (
                &format!("expected the event name as one string literal, {example}"),
                "1",
            ),
            (&format!("`#[event]` needs the event name, {example}"), "()"),
            (
                &format!("write the event name in parentheses, {example}"),
                r#"event = "d""#,
            ),
        ],
    );
    assert_errors(
        r#"#[events(krate = "x")] enum E { A }"#,
        &[(
            "unknown argument `krate`; expected `crate` or `typescript`",
            "krate",
        )],
    );
}

#[test]
fn fallback_stubs_both_impls() {
    let out = run(r#"enum E { #[event("")] A }"#).to_string();
    assert_contains(&out, &quote!(impl ::tether::Events for E));
    assert_contains(
        &out,
        &quote!(impl ::tether::__private::serde::Serialize for E),
    );
}

//! What each mistake reports, and where.

use super::{assert_errors, errors};

#[test]
fn impl_shape_errors() {
    assert_errors(
        r#"path = "/a""#,
        "impl Display for A {}",
        &[(
            "`#[socket_namespace]` goes on an inherent impl block, not on a trait impl: write \
             `impl MyNamespace { .. }` with the listener methods",
            "Display",
        )],
    );
    assert_errors(
        r#"path = "/a""#,
        "impl<T> A<T> {}",
        &[(
            "`#[socket_namespace]` does not support generic impls: a namespace is one concrete \
             type; remove the generic parameters",
            "<T>",
        )],
    );
    assert_errors(
        r#"path = "/a""#,
        "struct A;",
        &[(
            "`#[socket_namespace]` goes on an inherent `impl` block, e.g. `impl ChatSocket { .. }`",
            "struct A",
        )],
    );
}

#[test]
fn method_signature_errors() {
    let check = |method: &str, expected: &[(&str, &str)]| {
        assert_errors(
            r#"path = "/a""#,
            &format!("impl A {{ {method} }}"),
            expected,
        );
    };
    let shared = "the namespace is shared between all connections, keep mutable state behind a \
                  Mutex or atomic";
    check(
        r#"#[on("a")] fn a(&self) {}"#,
        &[("listener methods must be `async fn`", "fn")],
    );
    check(
        "#[on_connect] fn a(&self) {}",
        &[("`#[on_connect]` hooks must be `async fn`", "fn")],
    );
    check(
        r#"#[on("a")] async fn a() {}"#,
        &[(
            &format!("listener methods must take `&self` first; {shared}"),
            "()",
        )],
    );
    check(
        r#"#[on("a")] async fn a(&mut self) {}"#,
        &[(
            &format!("listener methods must take `&self`, not `&mut self`; {shared}"),
            "&mut self",
        )],
    );
    check(
        r#"#[on("a")] async fn a(self) {}"#,
        &[(
            &format!("listener methods must take `&self`, not `self`; {shared}"),
            "self",
        )],
    );
    check(
        r#"#[on("a")] async fn a(mut self) {}"#,
        &[(
            &format!("listener methods must take `&self`, not `mut self`; {shared}"),
            "mut self",
        )],
    );
    check(
        r#"#[on("a")] async fn a(self: Box<Self>) {}"#,
        &[(
            &format!("listener methods must take `&self`; {shared}"),
            "self: Box<Self>",
        )],
    );
    check(r#"#[on("a")] async fn a(self: &Self) {}"#, &[]);
    check(r#"#[on("a")] async fn a<'a>(&'a self) {}"#, &[]);
    check(
        r#"#[on("a")] async fn a<T>(&self) {}"#,
        &[(
            "listener methods cannot be generic: the namespace calls them with concrete types",
            "<T>",
        )],
    );
    check(
        r#"#[on("a")] async unsafe fn a(&self) {}"#,
        &[("listener methods cannot be `unsafe`", "unsafe")],
    );
}

#[test]
fn middleware_errors() {
    let check = |method: &str, expected: &[(&str, &str)]| {
        assert_errors(
            r#"path = "/a""#,
            &format!("impl A {{ {method} }}"),
            expected,
        );
    };
    let ret = "`#[middleware]` methods must return `Result<SocketOk<Metadata>, SocketNok>`";
    let shape = "`#[middleware]` methods take `(&self, hs: &Handshake)`";
    check(
        "#[middleware] async fn m(&self, hs: &Handshake) -> Result<M, SocketNok> {}",
        &[(ret, "Result<M, SocketNok>")],
    );
    check(
        "#[middleware] async fn m(&self, hs: &Handshake) -> Result<SocketOk<M>, String> {}",
        &[(ret, "Result<SocketOk<M>, String>")],
    );
    check(
        "#[middleware] async fn m(&self, hs: &Handshake) {}",
        &[(ret, "(&self, hs: &Handshake)")],
    );
    check(
        "#[middleware] async fn m(&self) -> Result<SocketOk<M>, SocketNok> {}",
        &[(shape, "(&self)")],
    );
    check(
        "#[middleware] async fn m(&self, hs: Handshake) -> Result<SocketOk<M>, SocketNok> {}",
        &[(&format!("expected `&Handshake`: {shape}"), "Handshake")],
    );
    check(
        "#[middleware] async fn m(&self, hs: &Handshake, x: u8) -> Result<SocketOk<M>, SocketNok> {}",
        &[(&format!("unexpected parameter: {shape}"), "x: u8")],
    );
    check(
        "#[middleware] async fn m(&self, hs: &tether::Handshake) -> \
         tether::__x::Result<tether::SocketOk<M>, tether::SocketNok> {}",
        &[],
    );
    assert_errors(
        r#"path = "/a""#,
        "impl A {
            #[middleware] async fn m(&self, hs: &Handshake) -> Result<SocketOk<M>, SocketNok> {}
            #[middleware] async fn n(&self, hs: &Handshake) -> Result<SocketOk<M>, SocketNok> {}
        }",
        &[(
            "a namespace has at most one `#[middleware]`; do all the checks in one method",
            "#[middleware]",
        )],
    );
}

#[test]
fn listener_parameter_errors() {
    let check = |params: &str, expected: &[(&str, &str)]| {
        let item = format!(r#"impl A {{ #[on("a")] async fn a(&self{params}) {{}} }}"#);
        assert_errors(r#"path = "/a""#, &item, expected);
    };
    let shapes = "listeners take `(&self)`, then optionally `client: &Client<M>`, then optionally \
                  one payload by value, e.g. `(&self, client: &Client<M>, msg: SayStuff)`";
    check("", &[]);
    check(", c: &Client<M>", &[]);
    check(", m: Msg", &[]);
    check(", c: &tether::Client<M>, m: (u8, String)", &[]);
    check(
        ", m: Msg, c: &Client<M>",
        &[(
            &format!("the client comes before the payload; {shapes}"),
            "c: &Client<M>",
        )],
    );
    check(
        ", c: &Client<M>, m: Msg, n: Other",
        &[(
            &format!(
                "a listener takes at most one payload: put the values in one struct that derives \
                 `Deserialize`; {shapes}"
            ),
            "n: Other",
        )],
    );
    check(
        ", c: &Client<M>, d: &Client<M>",
        &[(
            &format!("a listener takes one client; {shapes}"),
            "d: &Client<M>",
        )],
    );
    check(
        ", c: Client<M>",
        &[(
            "take the client by reference: `client: &Client<M>`",
            "c: Client<M>",
        )],
    );
    check(
        ", c: &mut Client<M>",
        &[(
            "take the client as `&Client<M>`, not `&mut`",
            "c: &mut Client<M>",
        )],
    );
    check(
        ", m: &Msg",
        &[(
            "take the payload by value (`msg: SayStuff`), not by reference: it is deserialized \
             for this call",
            "m: &Msg",
        )],
    );
    check(
        ", m: impl Deserialize",
        &[(
            "the payload must be a concrete type that derives `Deserialize`, not `impl Trait`",
            "m: impl Deserialize",
        )],
    );
}

#[test]
fn hook_errors() {
    let check = |method: &str, expected: &[(&str, &str)]| {
        assert_errors(
            r#"path = "/a""#,
            &format!("impl A {{ {method} }}"),
            expected,
        );
    };
    check(
        "#[on_disconnect] async fn d(&self, c: &Client<M>, r: DisconnectReason) {}",
        &[],
    );
    check(
        "#[on_disconnect] async fn d(&self, r: DisconnectReason) {}",
        &[],
    );
    check(
        "#[on_disconnect] async fn d(&self, r: DisconnectReason, c: &Client<M>) {}",
        &[(
            "`#[on_disconnect]` hooks take `(&self)`, `(&self, client: &Client<M>)` or \
             `(&self, client: &Client<M>, reason: DisconnectReason)`",
            "c: &Client<M>",
        )],
    );
    check(
        "#[on_connect] async fn c(&self, c: &Client<M>, m: Msg) {}",
        &[(
            "`#[on_connect]` hooks take `(&self)` or `(&self, client: &Client<M>)`",
            "m: Msg",
        )],
    );
    check(
        "#[on_connect] async fn c(&self) -> Result<(), E> {}",
        &[(
            "`#[on_connect]` hooks return nothing; handle errors inside the hook",
            "Result<(), E>",
        )],
    );
    check("#[on_connect] async fn c(&self) -> () {}", &[]);
    check(
        "#[on_user_online] async fn on(&self, u: &str, c: &ConnectedClients<M>) {}",
        &[],
    );
    check("#[on_user_offline] async fn off(&self) {}", &[]);
    check(
        "#[on_user_offline] async fn off(&self, c: &Client<M>) {}",
        &[(
            "`#[on_user_offline]` hooks take `(&self)`, `(&self, user: &str)` or \
             `(&self, user: &str, clients: &ConnectedClients<M>)`",
            "c: &Client<M>",
        )],
    );
    check(
        "#[on_user_online] async fn a(&self) {} #[on_user_online] async fn b(&self) {}",
        &[(
            "a namespace has at most one `#[on_user_online]`; do everything in one hook",
            "#[on_user_online]",
        )],
    );
}

#[test]
fn event_name_errors() {
    let check = |event: &str, expected: &[(&str, &str)]| {
        let item = format!(r"impl A {{ #[on({event})] async fn a(&self) {{}} }}");
        assert_errors(r#"path = "/a""#, &item, expected);
    };
    check(r#""""#, &[("the event name must not be empty", r#""""#)]);
    check(
        r#""disconnect""#,
        &[(
            "`disconnect` is a reserved socket.io event; pick another event name",
            r#""disconnect""#,
        )],
    );
    check(
        r#""/ops/kick""#,
        &[(
            "event names starting with `/ops/` are reserved for tether; pick another event name",
            r#""/ops/kick""#,
        )],
    );
    let example = "e.g. `#[on(\"sayStuff\")]`";
    check(
        "123",
        &[(
            &format!("expected the event name as one string literal, {example}"),
            "123",
        )],
    );
    check(
        "",
        &[(&format!("`#[on]` needs the event name, {example}"), "()")],
    );
    assert_errors(
        r#"path = "/a""#,
        r"impl A { #[on] async fn a(&self) {} }",
        &[(&format!("`#[on]` needs the event name, {example}"), "on")],
    );
    assert_errors(
        r#"path = "/a""#,
        r"impl A { #[middleware(strict)] async fn a(&self) {} }",
        &[("`#[middleware]` takes no arguments", "middleware(strict)")],
    );
    assert_errors(
        r#"path = "/a""#,
        r#"impl A {
            #[on("a")] async fn a(&self) {}
            #[on("a")] async fn b(&self) {}
        }"#,
        &[(
            "duplicate event `a`: the method `a` already listens to it",
            r#""a""#,
        )],
    );
}

#[test]
fn one_role_per_method() {
    assert_errors(
        r#"path = "/a""#,
        r#"impl A { #[on("a")] #[on_connect] async fn a(&self) {} #[on("b")] const X: u8 = 1; }"#,
        &[
            (
                "this method is already `#[on]`; a method has only one role",
                "#[on_connect]",
            ),
            ("this attribute goes on a method", r#"#[on("b")]"#),
        ],
    );
}

#[test]
fn all_errors_are_reported_together() {
    let found = errors(
        r#"path = "chat", colour = "red""#,
        r#"impl A {
            #[on("a")] fn a(&mut self) {}
            #[on("a")] async fn b(&self) {}
        }"#,
    );
    assert_eq!(found.len(), 5, "{found:#?}");
}

#[test]
fn authorize_errors() {
    let check = |method: &str, expected: &[(&str, &str)]| {
        assert_errors(
            r#"path = "/a""#,
            &format!("impl A {{ {method} }}"),
            expected,
        );
    };
    let channel = "`#[authorize_channel]` hooks take `(&self, client: &Client<M>, channel: &str)`";
    check(
        "#[authorize_channel] async fn c(&self, c: &Client<M>, channel: String) -> bool {}",
        &[(channel, "channel: String")],
    );
    check(
        "#[authorize_channel] async fn c(&self, channel: &str) -> bool {}",
        &[
            (channel, "channel: &str"),
            (channel, "(&self, channel: &str)"),
        ],
    );
    check(
        "#[authorize_channel] async fn c(&self, c: &Client<M>, channel: &str, x: u8) -> bool {}",
        &[(&format!("unexpected parameter: {channel}"), "x: u8")],
    );
    check(
        "#[authorize_relay] async fn r(&self, c: &Client<M>, relay: &tether::Relay) {}",
        &[(
            "`#[authorize_relay]` hooks must return `bool` or `Result<(), SocketError>`",
            "(&self, c: &Client<M>, relay: &tether::Relay)",
        )],
    );
    check(
        "#[authorize_relay] fn r(&self, c: &Client<M>, relay: &Relay) -> bool {}",
        &[("`#[authorize_relay]` hooks must be `async fn`", "fn")],
    );
}

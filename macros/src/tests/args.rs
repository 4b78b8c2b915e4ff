//! Mistakes in the attribute's arguments.

use super::assert_errors;

const UNKNOWN_COLOUR: &str = "unknown argument `colour`; expected one of `path`, \
     `client_connection_key`, `user_key`, `anonymous`, `max_connections_per_user`, `events`, \
     `rate`, `burst`, `recovery`, `recovery_max_len`, `presence`, `presence_channels`, `share_metadata`, `typescript`, `crate`";

#[test]
fn presence_channels_errors() {
    let item = "impl A {}";
    assert_errors(
        r#"path = "/a", presence_channels = "is_room""#,
        item,
        &[(
            "`presence_channels` needs `presence`, e.g. `presence = true, presence_channels = \"is_room\"`",
            r#""is_room""#,
        )],
    );
    assert_errors(
        r#"path = "/a", presence = true, presence_channels = "not a path""#,
        item,
        &[(
            "expected the path of a `fn(&str) -> bool`, e.g. `presence_channels = \"is_room\"`",
            r#""not a path""#,
        )],
    );
    assert_errors(
        r#"path = "/a", presence = true, presence_channels = true"#,
        item,
        &[(
            "expected the path of a `fn(&str) -> bool` as a string, e.g. `presence_channels = \"is_room\"`",
            "true",
        )],
    );
}

#[test]
fn recovery_argument_errors() {
    let item = "impl A {}";
    assert_errors(
        r#"path = "/a", recovery = "2 weeks""#,
        item,
        &[(
            "expected a recovery window such as `\"90s\"`, `\"2min\"` or `\"1h\"` (or `true` for the default, two minutes)",
            r#""2 weeks""#,
        )],
    );
    assert_errors(
        r#"path = "/a", recovery = true, recovery_max_len = 0"#,
        item,
        &[("`recovery_max_len` must be at least 1", "0")],
    );
    assert_errors(
        r#"path = "/a", recovery_max_len = 10"#,
        item,
        &[(
            "`recovery_max_len` needs `recovery`, e.g. `recovery = \"2min\", recovery_max_len = 1000`",
            "10",
        )],
    );
    assert_errors(
        r#"path = "/a", recovery = 5"#,
        item,
        &[(
            "expected `true` or a window such as `\"90s\"`, `\"2min\"`, `\"1h\"`, e.g. `recovery = \"2min\"`",
            "5",
        )],
    );
}

#[test]
fn presence_argument_errors() {
    let item = "impl A {}";
    assert_errors(r#"path = "/a", presence = "250ms""#, item, &[]);
    assert_errors(r#"path = "/a", presence = true"#, item, &[]);
    assert_errors(
        r#"path = "/a", presence = "soon""#,
        item,
        &[(
            "expected a presence grace such as `\"500ms\"`, `\"5s\"` or `\"1min\"` (or `true` for the builder's, five seconds by default)",
            r#""soon""#,
        )],
    );
    assert_errors(
        r#"path = "/a", presence = 5"#,
        item,
        &[(
            "expected `true` or a grace such as `\"500ms\"`, `\"5s\"`, `\"1min\"`, e.g. `presence = \"5s\"`",
            "5",
        )],
    );
}

#[test]
fn argument_errors() {
    let item = "impl A {}";
    assert_errors(
        r#"path = "/a", colour = "red""#,
        item,
        &[(UNKNOWN_COLOUR, "colour")],
    );
    assert_errors(
        r#"path = "/a", path = "/b""#,
        item,
        &[("duplicate argument `path`", "path")],
    );
    assert_errors(
        "",
        item,
        &[(
            "missing argument `path`: write `#[socket_namespace(path = \"/chat\")]`",
            "<call site>",
        )],
    );
    assert_errors(
        r#"path = "chat""#,
        item,
        &[(
            "namespace path must start with `/`, e.g. `/chat`",
            r#""chat""#,
        )],
    );
    assert_errors(
        "path = 5",
        item,
        &[("expected a string literal, e.g. `path = \"/chat\"`", "5")],
    );
    assert_errors(
        r#""/chat""#,
        item,
        &[("name the argument: `path = \"/chat\"`", r#""/chat""#)],
    );
    assert_errors(
        r#"path = "/a", crate = "not a path""#,
        item,
        &[(
            "`crate` must be the path of the tether crate, e.g. `crate = \"::tether\"`",
            r#""not a path""#,
        )],
    );
    assert_errors(
        r#"path = "/a", client_connection_key = "user id""#,
        item,
        &[(
            "`client_connection_key` must name a field of the metadata type, e.g. \
                 `client_connection_key = \"user_id\"`",
            r#""user id""#,
        )],
    );
}

#[test]
fn client_key_needs_a_middleware() {
    assert_errors(
        r#"path = "/a", client_connection_key = "user_id""#,
        "impl A {}",
        &[(
            "`client_connection_key` needs a `#[middleware]` returning `SocketOk<Metadata>`: the \
             key is a field of that metadata",
            r#""user_id""#,
        )],
    );
}

#[test]
fn one_error_per_mistake() {
    assert_errors(
        r#"path = "/a", strict"#,
        "impl A {}",
        &[(&UNKNOWN_COLOUR.replace("colour", "strict"), "strict")],
    );
    assert_errors(
        r#"path("/a")"#,
        "impl A {}",
        &[("expected `path = \"/chat\"`", "path")],
    );
    // A syntax error stops the parse; `path` is not reported missing on top of it.
    assert_eq!(
        super::errors("colour = , path = \"/a\"", "impl A {}").len(),
        1
    );
}

#[test]
fn round_two_arguments() {
    let item = "impl A {}";
    assert_errors(
        r#"path = "/a", max_connections_per_user = 0"#,
        item,
        &[(
            "`max_connections_per_user` must be at least 1; leave it out for no cap",
            "0",
        )],
    );
    assert_errors(
        r#"path = "/a", max_connections_per_user = "3""#,
        item,
        &[(
            "expected an integer, e.g. `max_connections_per_user = 3`",
            r#""3""#,
        )],
    );
    assert_errors(
        r#"path = "/a", anonymous = "no""#,
        item,
        &[(
            "expected `true` or `false`, e.g. `anonymous = false`",
            r#""no""#,
        )],
    );
    assert_errors(
        r#"path = "/a", anonymous = false"#,
        item,
        &[(
            "`anonymous = false` needs a `user_key`: without one every connection is anonymous \
             and would be refused",
            "false",
        )],
    );
    assert_errors(
        r#"path = "/a", events = "ChatEvents""#,
        item,
        &[(
            "`events` is a type, not a string: write `events = ChatEvents`",
            r#""ChatEvents""#,
        )],
    );
    assert_errors(
        r#"path = "/a", user_key = "user_id""#,
        item,
        &[(
            "`user_key` needs a `#[middleware]` returning `SocketOk<Metadata>`: the key is a \
             field of that metadata",
            r#""user_id""#,
        )],
    );
}

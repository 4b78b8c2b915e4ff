//! Just enough of engine.io v4 / socket.io v5 over a websocket: classify incoming text frames
//! without allocating, and write the few outgoing packets the scenarios send.

use std::fmt::Write as _;

/// What an incoming text frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// engine.io `0{..}`: the handshake.
    Open,
    /// engine.io `1`: the server closes the transport.
    Close,
    /// engine.io `2`: the server's heartbeat; answer `3`.
    Ping,
    /// socket.io CONNECT `40/ns,{..}` to our namespace.
    Connected,
    /// socket.io CONNECT_ERROR `44/ns,{"message":..}`.
    ConnectError(&'a str),
    /// socket.io DISCONNECT `41/ns,`.
    Disconnect,
    /// The bench event `msg`, with the send timestamp found in its data (`"t":<ns>`).
    Msg(Option<u64>),
    /// Another event (e.g. `/ops/connection-success`).
    Event,
    /// An ACK.
    Ack,
    /// Anything else (another namespace, noop, binary).
    Other,
}

/// Classifies a text frame for namespace `ns` (e.g. `/bench`).
pub(crate) fn classify<'a>(text: &'a str, ns: &str) -> Incoming<'a> {
    let b = text.as_bytes();
    match b.first() {
        Some(b'0') => Incoming::Open,
        Some(b'1') => Incoming::Close,
        Some(b'2') => Incoming::Ping,
        Some(b'4') => {
            let Some(kind) = b.get(1).copied() else {
                return Incoming::Other;
            };
            let Some(body) = text
                .get(2..)
                .and_then(|r| r.strip_prefix(ns))
                .and_then(|r| r.strip_prefix(','))
            else {
                // `41/ns` without a comma is a valid DISCONNECT too.
                if kind == b'1' && text.get(2..) == Some(ns) {
                    return Incoming::Disconnect;
                }
                return Incoming::Other;
            };
            match kind {
                b'0' => Incoming::Connected,
                b'1' => Incoming::Disconnect,
                b'2' => {
                    if body.starts_with("[\"msg\",") {
                        Incoming::Msg(find_t(body))
                    } else {
                        Incoming::Event
                    }
                }
                b'3' => Incoming::Ack,
                b'4' => Incoming::ConnectError(body),
                _ => Incoming::Other,
            }
        }
        _ => Incoming::Other,
    }
}

/// The number after the first `"t":` in `body`.
fn find_t(body: &str) -> Option<u64> {
    let at = body.find("\"t\":")? + 4;
    let digits = &body[at..];
    let end = digits
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// `40/ns,{"token":".."}`: connect to the namespace with an auth payload; with `recover`
/// (`{"offset":..,"channels":[..]}`), `40/ns,{"token":"..","recover":{..}}` asks tether to
/// replay what the user missed.
pub(crate) fn connect(ns: &str, token: &str, recover: Option<&serde_json::Value>) -> String {
    // Tokens are compact JWEs (base64url and dots): nothing to escape. Anything else is sent
    // JSON-escaped so a test token cannot break the frame.
    let token = serde_json::Value::String(token.to_owned());
    match recover {
        None => format!("40{ns},{{\"token\":{token}}}"),
        Some(recover) => format!("40{ns},{{\"token\":{token},\"recover\":{recover}}}"),
    }
}

/// The JSON array of an event frame `42/ns,[..]` of namespace `ns`.
pub(crate) fn event_body<'a>(text: &'a str, ns: &str) -> Option<&'a str> {
    text.strip_prefix("42")?.strip_prefix(ns)?.strip_prefix(',')
}

/// `42/ns,["send",{"to":"u7","data":{"t":..,"p":".."}}]`, appended to `out`.
pub(crate) fn send(out: &mut String, ns: &str, to_user: u32, t: u64, pad: &str) {
    let _ = write!(
        out,
        "42{ns},[\"send\",{{\"to\":\"u{to_user}\",\"data\":{{\"t\":{t},\"p\":\"{pad}\"}}}}]"
    );
}

/// `42/ns,<seq>["send",{"to":"u7","data":{"t":..,"s":..,"p":".."}}]`, appended to `out`: the
/// storm's feed, each event numbered `seq`, its number its ack id too (so that an event the
/// server refused is known: see [`refused_ack`]).
pub(crate) fn feed(out: &mut String, ns: &str, to_user: u32, t: u64, seq: u64, pad: &str) {
    let _ = write!(
        out,
        "42{ns},{seq}[\"send\",{{\"to\":\"u{to_user}\",\"data\":{{\"t\":{t},\"s\":{seq},\"p\":\"{pad}\"}}}}]"
    );
}

/// The id of an ACK frame `43/ns,<id>[..]` that answers with an error
/// (`[{"error": {"code", ..}}]`: the server did not run the event), with the error's code.
pub(crate) fn refused_ack<'a>(text: &'a str, ns: &str) -> Option<(u64, &'a str)> {
    let body = text
        .strip_prefix("43")?
        .strip_prefix(ns)?
        .strip_prefix(',')?;
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let id = body[..digits].parse().ok()?;
    let code = body[digits..].split("\"code\":\"").nth(1)?;
    Some((id, code.split('"').next()?))
}

/// `42/ns,["channel",{"to":"c3","data":{"t":..,"p":".."}}]`, appended to `out`.
pub(crate) fn channel(out: &mut String, ns: &str, chan: u32, t: u64, pad: &str) {
    let _ = write!(
        out,
        "42{ns},[\"channel\",{{\"to\":\"c{chan}\",\"data\":{{\"t\":{t},\"p\":\"{pad}\"}}}}]"
    );
}

/// `42/ns,<id>["join","c3"]`, appended to `out`.
pub(crate) fn join(out: &mut String, ns: &str, id: u32, chan: u32) {
    let _ = write!(out, "42{ns},{id}[\"join\",\"c{chan}\"]");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_frames() {
        let ns = "/bench";
        assert_eq!(classify("0{\"sid\":\"x\"}", ns), Incoming::Open);
        assert_eq!(classify("2", ns), Incoming::Ping);
        assert_eq!(classify("1", ns), Incoming::Close);
        assert_eq!(
            classify("40/bench,{\"sid\":\"a\"}", ns),
            Incoming::Connected
        );
        assert_eq!(
            classify("44/bench,{\"message\":\"invalid_token: no\"}", ns),
            Incoming::ConnectError("{\"message\":\"invalid_token: no\"}")
        );
        assert_eq!(classify("41/bench,", ns), Incoming::Disconnect);
        assert_eq!(classify("41/bench", ns), Incoming::Disconnect);
        assert_eq!(
            classify("42/bench,[\"msg\",{\"p\":\"xx\",\"t\":12345}]", ns),
            Incoming::Msg(Some(12345))
        );
        assert_eq!(
            classify("42/bench,[\"msg\",{\"t\":7,\"p\":\"\"}]", ns),
            Incoming::Msg(Some(7))
        );
        assert_eq!(
            classify("42/bench,[\"/ops/connection-success\",{}]", ns),
            Incoming::Event
        );
        assert_eq!(classify("43/bench,3[{}]", ns), Incoming::Ack);
        assert_eq!(classify("42/other,[\"msg\",{}]", ns), Incoming::Other);
        assert_eq!(classify("", ns), Incoming::Other);
    }

    #[test]
    fn writes_packets() {
        let mut s = String::new();
        send(&mut s, "/bench", 7, 99, "xx");
        assert_eq!(
            s,
            "42/bench,[\"send\",{\"to\":\"u7\",\"data\":{\"t\":99,\"p\":\"xx\"}}]"
        );
        let body = s.strip_prefix("42/bench,").unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v[1]["data"]["t"], 99);
        s.clear();
        channel(&mut s, "/bench", 3, 1, "");
        assert!(s.contains("\"to\":\"c3\""));
        s.clear();
        join(&mut s, "/bench", 12, 3);
        assert_eq!(s, "42/bench,12[\"join\",\"c3\"]");
        assert_eq!(
            connect("/bench", "a.b", None),
            "40/bench,{\"token\":\"a.b\"}"
        );
    }

    #[test]
    fn writes_recovery_packets() {
        let recover = serde_json::json!({"offset": "1733430000000-3", "channels": ["c1"]});
        let packet = connect("/bench-recovery", "a.b", Some(&recover));
        // The keys of `recover` come in serde_json's map order: compare it parsed.
        assert!(
            packet.starts_with("40/bench-recovery,{\"token\":\"a.b\",\"recover\":{"),
            "{packet}"
        );
        let auth: serde_json::Value =
            serde_json::from_str(packet.strip_prefix("40/bench-recovery,").unwrap()).unwrap();
        assert_eq!(
            auth,
            serde_json::json!({"token": "a.b", "recover": recover})
        );
        let mut s = String::new();
        feed(&mut s, "/bench-recovery", 7, 99, 12, "xx");
        assert_eq!(
            s,
            "42/bench-recovery,12[\"send\",{\"to\":\"u7\",\"data\":{\"t\":99,\"s\":12,\"p\":\"xx\"}}]"
        );
        let ns = "/bench-recovery";
        assert_eq!(
            refused_ack(
                "43/bench-recovery,12[{\"error\":{\"code\":\"overloaded\",\"message\":\"m\"}}]",
                ns
            ),
            Some((12, "overloaded"))
        );
        assert_eq!(refused_ack("43/bench-recovery,12[null]", ns), None);
        assert_eq!(refused_ack("43/bench-recovery,12[]", ns), None);
        assert_eq!(
            refused_ack("43/bench,12[{\"error\":{\"code\":\"x\"}}]", ns),
            None
        );
        assert_eq!(
            event_body("42/bench-recovery,[\"msg\",{}]", "/bench-recovery"),
            Some("[\"msg\",{}]")
        );
        assert_eq!(event_body("42/bench,[\"msg\",{}]", "/bench-recovery"), None);
        assert_eq!(event_body("43/bench-recovery,1[]", "/bench-recovery"), None);
    }
}

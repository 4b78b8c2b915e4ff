//! The messages nodes exchange over Redis pub/sub. Versioned and documented in docs/cluster.md, so
//! any process (even `redis-cli PUBLISH`) can emit.
//!
//! A message on a channel is the envelope's JSON, or `<sig>.<json>` when the cluster has a key
//! (see `sign`: `sig` is the unpadded base64url HMAC-SHA256 of exactly the JSON bytes that
//! follow the `.`). A node accepts at most `max_envelope_size` bytes (signature included), and
//! no `emit` of a reserved event name (`/ops/…`, `connect`, `disconnect`, …).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::protocol::{Kick, Target};
use crate::remote::Order;

/// The envelope version this build writes and reads.
pub const VERSION: u32 = 1;

/// One message on a recipient channel (JSON):
///
/// ```text
/// {"v": 1, "id": "…", "node": "…" | null, "ns": "/chat",
///  "targets": [{"kind": "user", "id": "alice"}], "except": [],
///  "kind": "emit", "event": "message", "data": <any JSON>}
/// {"v": 1, …, "kind": "kick", "kick": {"code": "…", "message": "…"}}
/// {"v": 1, …, "kind": "kick_socket", "sid": "…", "kick": {…}}
/// {"v": 1, …, "kind": "emit_with_ack", "event": "…", "data": …, "request": "…",
///  "reply_to": "<node id>", "timeout_ms": 5000}
/// {"v": 1, …, "kind": "join" | "leave", "channel": "…", "request": "…", "reply_to": "…"}
/// {"v": 1, …, "kind": "fetch", "request": "…", "reply_to": "…"}
/// {"v": 1, …, "targets": [{"kind": "all"}], "kind": "server", "event": "…", "data": …}
/// ```
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope<'a> {
    /// Format version; messages of another version are logged and ignored.
    pub(crate) v: u32,
    /// Unique per message; a node that receives one message on several of its channels
    /// (an emit to two users it both holds) delivers it once.
    #[serde(borrow)]
    pub(crate) id: &'a str,
    /// The publishing node (`null` from a Redis-only emitter); a node ignores its own messages.
    #[serde(default, borrow)]
    pub(crate) node: Option<&'a str>,
    /// The namespace path.
    #[serde(borrow)]
    pub(crate) ns: &'a str,
    /// Who it is for.
    pub(crate) targets: Vec<Target>,
    /// Who is excluded.
    #[serde(default)]
    pub(crate) except: Vec<Target>,
    /// What to do.
    kind: Kind,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    /// Present means present, even `null` (a plain `Option` would read `null` as absent, and
    /// an emit with a `null` payload would be dropped as incomplete).
    #[serde(
        default,
        borrow,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    data: Option<&'a RawValue>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kick: Option<Kick>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    request: Option<&'a str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    reply_to: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
}

fn present<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'a RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Emit,
    Kick,
    KickSocket,
    EmitWithAck,
    Join,
    Leave,
    Fetch,
    Server,
}

impl<'a> Envelope<'a> {
    pub(crate) fn new(
        id: &'a str,
        node: Option<&'a str>,
        ns: &'a str,
        targets: Vec<Target>,
        except: Vec<Target>,
        order: Order<'a>,
    ) -> Self {
        let (mut request, mut reply_to, mut timeout_ms, mut channel) = (None, None, None, None);
        let (kind, event, data, sid, kick) = match order {
            Order::Emit { event, data } => (Kind::Emit, Some(event), Some(data), None, None),
            Order::Kick { kick } => (Kind::Kick, None, None, None, Some(kick)),
            Order::KickSocket { sid, kick } => {
                (Kind::KickSocket, None, None, Some(sid), Some(kick))
            }
            Order::EmitWithAck {
                event,
                data,
                request: id,
                reply_to: to,
                timeout_ms: ms,
            } => {
                (request, reply_to, timeout_ms) = (Some(id), Some(to), Some(ms));
                (Kind::EmitWithAck, Some(event), Some(data), None, None)
            }
            Order::Fetch {
                request: id,
                reply_to: to,
            } => {
                (request, reply_to) = (Some(id), Some(to));
                (Kind::Fetch, None, None, None, None)
            }
            Order::Server { event, data } => (Kind::Server, Some(event), Some(data), None, None),
            Order::Member {
                channel: name,
                join,
                request: id,
                reply_to: to,
            } => {
                (request, reply_to, channel) = (Some(id), Some(to), Some(name));
                let kind = if join { Kind::Join } else { Kind::Leave };
                (kind, None, None, None, None)
            }
        };
        Self {
            v: VERSION,
            id,
            node,
            ns,
            targets,
            except,
            kind,
            event,
            data,
            sid,
            kick,
            request,
            reply_to,
            timeout_ms,
            channel,
        }
    }

    /// The length of the envelope's JSON, counted without writing it (the payload is counted,
    /// not copied).
    pub(crate) fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        match serde_json::to_writer(&mut count, self) {
            Ok(()) => count.0,
            // Never for these types; no bound then, `publish` measures the bytes it writes.
            Err(_) => 0,
        }
    }

    /// What to do; `None` when a field the kind needs is missing.
    pub(crate) fn order(&self) -> Option<Order<'a>> {
        Some(match self.kind {
            Kind::Emit => Order::Emit {
                event: self.event?,
                data: self.data?,
            },
            Kind::Server => Order::Server {
                event: self.event?,
                data: self.data?,
            },
            Kind::Kick => Order::Kick {
                kick: self.kick.clone()?,
            },
            Kind::KickSocket => Order::KickSocket {
                sid: self.sid?,
                kick: self.kick.clone()?,
            },
            Kind::Fetch => Order::Fetch {
                request: self.request?,
                reply_to: self.reply_to?,
            },
            Kind::Join | Kind::Leave => Order::Member {
                channel: self.channel?,
                join: matches!(self.kind, Kind::Join),
                request: self.request?,
                reply_to: self.reply_to?,
            },
            Kind::EmitWithAck => Order::EmitWithAck {
                event: self.event?,
                data: self.data?,
                request: self.request?,
                reply_to: self.reply_to?,
                timeout_ms: self.timeout_ms?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Envelope;
    use crate::protocol::Target;
    use crate::remote::Order;

    #[test]
    fn the_counted_length_is_the_written_length() {
        let data = serde_json::value::to_raw_value(&serde_json::json!({"a": "é\"x", "n": [1, 2]}))
            .unwrap();
        let order = Order::Emit {
            event: "note \u{1}",
            data: &data,
        };
        let targets = vec![Target::User("ü".into()), Target::All];
        let envelope = Envelope::new("id-1", Some("n"), "/chat", targets, Vec::new(), order);
        assert_eq!(
            envelope.encoded_len(),
            serde_json::to_vec(&envelope).unwrap().len()
        );
    }

    #[test]
    fn a_null_payload_is_a_payload() {
        let json = r#"{"v":1,"id":"x","ns":"/chat","targets":[{"kind":"all"}],"kind":"emit","event":"e","data":null}"#;
        let envelope: Envelope<'_> = serde_json::from_str(json).unwrap();
        match envelope.order() {
            Some(Order::Emit { event, data }) => assert_eq!((event, data.get()), ("e", "null")),
            other => panic!("{other:?}"),
        }
        let missing = json.replace(r#","data":null"#, "");
        let envelope: Envelope<'_> = serde_json::from_str(&missing).unwrap();
        assert!(envelope.order().is_none(), "an emit needs `data`");
    }
}

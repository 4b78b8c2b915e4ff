//! Recovery in cluster mode: a namespace's history in Redis streams, one per recipient, numbered
//! by one clock per namespace that Redis keeps (so every node and emitter agrees on the order).
//!
//! An emit is recorded and published by a script, atomically (the `record` module): the clock
//! gives it the next position, it is added to each target's stream (bounded, expiring after the
//! window), and it is published as `@<position> <message>` on each target's channel. Every node
//! holding a recipient (the publisher's included) receives it in the history's order. A
//! reconnecting socket's node reads the streams since the client's position with a second
//! script.
//!
//! Redis is not trusted more than for pub/sub: what the streams hold is the signed envelope, read
//! back through the same checks as a message.

use std::sync::LazyLock;

use redis::{Script, Value};

use super::config::ClusterState;
use super::envelope::Envelope;
use super::keys::{clock_key, origin_key, stream_key};
use super::node::Cluster;
use super::record::{NEXT_POSITION, Record};
use super::sign::open;
use crate::protocol::{Target, is_reserved_event, redis_channel};
use crate::recovery::{Entry, Missed, Position, Recovery};
use crate::remote::Order;

/// KEYS: clock, origin, the streams. ARGV: since (empty: only the head), bound.
/// Returns `{head, origin, now}`, then for each stream its latest trimmed position and its
/// entries after `since`.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NEXT_POSITION}
local head = redis.call('GET', KEYS[1])
local now
if not head then
  head, now = next_position(KEYS[1], KEYS[2])
else
  now = now_ms()
  redis.call('SET', KEYS[2], head, 'NX')
end
local origin = redis.call('GET', KEYS[2])
local out = {{head, origin, string.format('%.0f', now)}}
if ARGV[1] == '' then return out end
for i = 3, #KEYS do
  local trimmed = redis.call('GET', KEYS[i] .. ':trimmed') or '0-0'
  local entries = redis.call('XRANGE', KEYS[i], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
  table.insert(out, trimmed)
  table.insert(out, entries)
end
return out"
    ))
});

/// A position just before `origin`, to read a history from its first entry.
fn origin_before(origin: Position) -> Position {
    match origin.seq {
        0 => Position {
            ms: origin.ms.saturating_sub(1),
            seq: u64::MAX,
        },
        seq => Position {
            ms: origin.ms,
            seq: seq - 1,
        },
    }
}

/// The text of a Redis reply.
fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        Value::VerbatimString { text, .. } => Some(text),
        _ => None,
    }
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        _ => None,
    }
}

fn position(v: &Value) -> Option<Position> {
    text(v)?.parse().ok()
}

impl Cluster {
    /// Records an emit and publishes it (see the module); `None` when Redis could not be
    /// reached or the order was refused.
    pub(super) async fn record(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: Order<'_>,
        recovery: Recovery,
    ) -> Option<(Position, usize)> {
        if self.subs.is_some() && self.state() != ClusterState::Connected {
            crate::metrics::redis_publish_skipped();
            return None;
        }
        let message = match self.seal_order(ns, targets, except, order) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, ns, "not recorded");
                return None;
            }
        };
        // Each stream once: the script adds one position to a stream once.
        let mut streams: Vec<String> = targets
            .iter()
            .filter(|t| **t != Target::All)
            .map(|t| stream_key(&self.prefix, ns, t))
            .collect();
        streams.sort_unstable();
        streams.dedup();
        let mut channels: Vec<String> = targets
            .iter()
            .map(|t| redis_channel(&self.prefix, ns, t))
            .collect();
        channels.sort_unstable();
        channels.dedup();
        let record = Record {
            clock: clock_key(&self.prefix, ns),
            origin: origin_key(&self.prefix, ns),
            streams,
            channels,
            window_ms: recovery.window_ms(),
            max_len: recovery.max_len_value(),
            message,
        };
        let started = std::time::Instant::now();
        // With the node's other emits, batched (see `batch`).
        let recorded = self
            .publishes
            .record(record)
            .await
            .and_then(|reply| Ok(redis::from_redis_value::<(String, usize)>(reply)?));
        // The script publishes: it is the publish of a recorded emit.
        crate::metrics::redis_publish(started, recorded.is_ok());
        match recorded {
            Ok((pos, reached)) => Some((pos.parse().ok()?, reached)),
            Err(e) => {
                tracing::warn!(error = %e, ns, "recording in Redis failed; only this node's sockets got the emit");
                None
            }
        }
    }

    /// What a client at `since` missed on `streams` (see [`Missed`]); `None` when Redis could
    /// not be reached.
    pub(super) async fn missed(
        &self,
        ns: &str,
        streams: &[Target],
        since: Option<Position>,
        recovery: Recovery,
    ) -> Option<Missed> {
        if self.subs.is_some() && self.state() != ClusterState::Connected {
            return None;
        }
        let mut invocation = READ.prepare_invoke();
        invocation
            .key(clock_key(&self.prefix, ns))
            .key(origin_key(&self.prefix, ns));
        for target in streams {
            invocation.key(stream_key(&self.prefix, ns, target));
        }
        invocation
            .arg(since.map(|p| p.to_string()).unwrap_or_default())
            .arg(recovery.max_len_value());
        // On the background connection: a reconnect storm's thousands of reads would otherwise
        // queue ahead of every emit's recording on the publisher's (answered in order), and
        // stall live events for seconds. The order between the two does not matter: a socket
        // is held while it reads, and what is both read and delivered live is sent once.
        let reply: Value = match invocation.invoke_async(&mut self.background()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, ns, "reading the recovery history failed");
                return None;
            }
        };
        let reply = array(&reply)?;
        let (head, origin) = (position(reply.first()?)?, position(reply.get(1)?)?);
        let now: u64 = text(reply.get(2)?)?.parse().ok()?;
        let Some(since) = since else {
            return Some(Missed {
                head,
                ..Missed::default()
            });
        };
        if since.ms.saturating_add(recovery.window_ms()) < now {
            return Some(Missed {
                lost: streams.to_vec(),
                expired: true,
                head,
                ..Missed::default()
            });
        }
        if since > head {
            // Another history's position (a wiped Redis whose clock restarted behind it): read
            // this history whole, as a reset.
            return Box::pin(self.missed(ns, streams, Some(origin_before(origin)), recovery))
                .await
                .map(|mut m| {
                    m.reset = true;
                    m.lost = streams.to_vec();
                    m
                });
        }
        let reset = since < origin;
        let mut missed = Missed {
            lost: if reset { streams.to_vec() } else { Vec::new() },
            reset,
            head,
            ..Missed::default()
        };
        for (target, pair) in streams.iter().zip(reply[3..].chunks(2)) {
            let [trimmed, entries] = pair else { break };
            if position(trimmed).is_some_and(|t| t > since) {
                if !reset {
                    missed.lost.push(target.clone());
                }
                continue;
            }
            for entry in array(entries).unwrap_or_default() {
                if let Some(entry) = self.entry(ns, entry) {
                    missed.entries.push(std::sync::Arc::new(entry));
                }
            }
        }
        missed.entries.sort_by_key(|e| e.pos);
        missed.entries.dedup_by_key(|e| e.pos);
        Some(missed)
    }

    /// One stream entry (`[position, ["m", message]]`) read back through the checks every
    /// message passes; `None` (logged) when it does not.
    fn entry(&self, ns: &str, raw: &Value) -> Option<Entry> {
        let [pos, fields] = array(raw)? else {
            return None;
        };
        let pos = position(pos)?;
        let message = array(fields)?.get(1).and_then(bytes)?;
        let checked = open(self.guard.key.as_ref(), message)
            .ok()
            .and_then(|json| serde_json::from_slice::<Envelope<'_>>(json).ok())
            .filter(|e| e.ns == ns);
        let Some(envelope) = checked else {
            tracing::warn!(ns, %pos, "a recorded entry failed its checks; not replayed");
            return None;
        };
        match envelope.order() {
            Some(Order::Emit { event, data }) if !is_reserved_event(event) => Some(Entry {
                pos,
                event: event.to_owned(),
                data: data.to_owned(),
                targets: envelope.targets,
                except: envelope.except,
            }),
            _ => None,
        }
    }
}

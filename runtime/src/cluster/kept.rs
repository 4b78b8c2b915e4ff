//! The offline inbox in cluster mode: a sorted set per user, `{prefix}:{ns}:inbox:{user}`, of
//! signed envelopes scored by when they expire. Taking it is atomic (read and delete in one
//! script), so two sockets of the user connecting at once never both get an event.

use std::sync::LazyLock;

use redis::{Script, Value};

use super::envelope::Envelope;
use super::keys::{inbox_key, now_ms};
use super::node::Cluster;
use super::sign::open;
use crate::offline::{Kept, MAX_KEPT_PER_USER};
use crate::protocol::{Target, is_reserved_event};
use crate::remote::Order;

/// KEYS: the inbox. ARGV: now (ms), the bound, then `expires_ms, message` pairs.
static KEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[2])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return n",
    )
});

/// KEYS: the inbox. ARGV: now (ms). Returns the unexpired `message, expires_ms` pairs and
/// deletes the inbox.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local kept = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
redis.call('DEL', KEYS[1])
return kept",
    )
});

impl Cluster {
    /// See `Remote::keep`.
    pub(super) async fn keep(&self, ns: &str, user: &str, kept: Vec<Kept>) -> bool {
        let mut invocation = KEEP.prepare_invoke();
        invocation
            .key(inbox_key(&self.prefix, ns, user))
            .arg(now_ms())
            .arg(MAX_KEPT_PER_USER);
        for k in &kept {
            let order = Order::Emit {
                event: &k.event,
                data: &k.data,
            };
            match self.seal_order(ns, &[Target::User(user.to_owned())], &[], order) {
                Ok(message) => {
                    invocation.arg(k.expires_ms).arg(message);
                }
                Err(e) => tracing::error!(error = %e, ns, "not kept"),
            }
        }
        match invocation
            .invoke_async::<usize>(&mut self.publisher())
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, ns, "keeping an event for an offline user failed");
                false
            }
        }
    }

    /// See `Remote::take_kept`.
    pub(super) async fn take_kept(&self, ns: &str, user: &str) -> Option<Vec<Kept>> {
        let mut invocation = TAKE.prepare_invoke();
        invocation
            .key(inbox_key(&self.prefix, ns, user))
            .arg(now_ms());
        // Every signed-in socket's connect reads its inbox: on the connection of presence writes,
        // with the rest of what follows sockets coming, not ahead of emits.
        let reply: Value = match invocation.invoke_async(&mut self.background()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, ns, "reading an offline inbox failed");
                return None;
            }
        };
        let Value::Array(items) = reply else {
            return Some(Vec::new());
        };
        let mut kept = Vec::new();
        for pair in items.chunks(2) {
            let [Value::BulkString(message), score] = pair else {
                continue;
            };
            let expires_ms = match score {
                Value::BulkString(b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok()),
                Value::Double(d) => Some(*d),
                _ => None,
            };
            // Scores are whole milliseconds.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let expires_ms = expires_ms.map(|ms| ms as u64);
            let checked = open(self.guard.key.as_ref(), message)
                .ok()
                .and_then(|json| serde_json::from_slice::<Envelope<'_>>(json).ok())
                .filter(|e| e.ns == ns);
            let entry = checked.as_ref().and_then(Envelope::order);
            match (entry, expires_ms) {
                (Some(Order::Emit { event, data }), Some(expires_ms))
                    if !is_reserved_event(event) =>
                {
                    kept.push(Kept {
                        event: event.to_owned(),
                        data: data.to_owned(),
                        expires_ms,
                    });
                }
                _ => tracing::warn!(ns, "a kept event failed its checks; dropped"),
            }
        }
        Some(kept)
    }
}

//! Recovery's history lives in Redis keys that must stay until they expire: a Redis that
//! evicts keys under memory pressure could drop a stream, and a client would then recover
//! without the events it held, and without being told. A node with recovery on checks the
//! server's eviction policy once it has joined, and says so in its log.

use std::sync::Arc;

use super::node::Cluster;

/// Why a server's memory settings put recovery's history at risk, if they do: `None` when
/// it never evicts (`maxmemory` 0, or `maxmemory-policy noeviction`).
fn evicting(maxmemory: u64, policy: &str) -> Option<String> {
    (maxmemory > 0 && policy != "noeviction")
        .then(|| format!("maxmemory is {maxmemory} bytes and maxmemory-policy is `{policy}`"))
}

impl Cluster {
    /// Warns, once, when Redis may evict the history of `namespaces` (recovery on). A server
    /// that does not answer `CONFIG GET` (a managed service may refuse it) is not checked.
    pub(crate) fn check_eviction(self: &Arc<Self>, namespaces: Vec<&'static str>) {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut conn = cluster.background();
            let reply: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory*")
                .query_async(&mut conn)
                .await;
            let settings = match reply {
                Ok(settings) => settings,
                Err(e) => {
                    tracing::debug!(error = %e, "Redis's eviction policy not checked");
                    return;
                }
            };
            let value = |name: &str| {
                settings
                    .chunks(2)
                    .find(|pair| pair[0] == name)
                    .and_then(|pair| pair.get(1))
            };
            let maxmemory = value("maxmemory").and_then(|v| v.parse().ok()).unwrap_or(0);
            let policy = value("maxmemory-policy").map_or("noeviction", String::as_str);
            if let Some(why) = evicting(maxmemory, policy) {
                tracing::warn!(
                    namespaces = ?namespaces,
                    "recovery's history needs a Redis that does not evict keys, and this one may ({why}): \
                     set `maxmemory-policy noeviction`, or a client may recover without events it missed, \
                     and without being told"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::evicting;

    #[test]
    fn only_a_memory_limit_with_an_evicting_policy_is_a_risk() {
        assert_eq!(
            evicting(0, "allkeys-lru"),
            None,
            "no limit: nothing is evicted"
        );
        assert_eq!(evicting(1 << 30, "noeviction"), None);
        assert_eq!(
            evicting(1 << 30, "volatile-ttl").as_deref(),
            Some("maxmemory is 1073741824 bytes and maxmemory-policy is `volatile-ttl`")
        );
        assert!(evicting(100, "allkeys-lfu").is_some());
    }
}

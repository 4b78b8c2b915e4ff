//! A node with recovery on warns when its Redis may evict keys (a stream evicted would lose
//! its entries without a trace), and says nothing when Redis does not evict.

use std::time::Duration;

use tether::Tether;
use tether::cluster::ClusterConfig;
use tether_tests::lobby::Inbox;
use tether_tests::log::CapturedLog;
use tether_tests::redis::RedisServer;

async fn node(redis: &RedisServer) -> Tether {
    Tether::builder()
        .namespace(Inbox)
        .cluster(ClusterConfig::new(redis.url()))
        .build()
        .await
        .expect("join the cluster")
}

#[tokio::test]
async fn a_node_with_recovery_warns_when_redis_may_evict_its_history() {
    let log = CapturedLog::install("warn");
    let redis = RedisServer::start();
    const WARNING: &str = "recovery's history needs a Redis that does not evict keys";

    // A memory limit, but nothing evicted (Redis's default policy): no warning.
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1gb"]), "OK");
    let quiet = node(&redis).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(log.line(WARNING), None, "noeviction: nothing to warn about");

    // The same limit with an evicting policy: the next node warns, naming the policy.
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        "OK"
    );
    let warned = node(&redis).await;
    tether_tests::eventually("the warning", || log.line(WARNING).is_some()).await;
    let line = log.line(WARNING).unwrap();
    assert!(line.contains("`allkeys-lru`"), "{line}");
    assert!(line.contains("maxmemory is 1073741824 bytes"), "{line}");
    assert!(line.contains("/inbox"), "the namespaces: {line}");
    drop((quiet, warned));
}

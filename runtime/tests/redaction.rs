//! Issue 11: a Redis password never shows in a `BuildError`, a `ClusterError` or a `Debug`.

use tether::Tether;
use tether::cluster::ClusterConfig;

#[tokio::test]
async fn a_redis_password_is_in_no_error_and_no_debug_output() {
    // Port 1 refuses at once; a URL that does not parse is refused before connecting.
    for url in [
        "redis://app:hunter2@127.0.0.1:1/0",
        "redis://:hunter2@127.0.0.1:1",
        "redis+cluster://app:hunter2@127.0.0.1:1,127.0.0.1:2",
        "redis://app:hunter2@",
    ] {
        let err = Tether::builder()
            .redis(url)
            .build()
            .await
            .expect_err("no Redis there");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let debug = format!("{:?}", ClusterConfig::new(url));
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}

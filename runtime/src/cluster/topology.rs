//! Where the cluster's Redis is, read from a [`ClusterConfig`]: one server, a Redis Cluster, or
//! a master found through Redis Sentinel; each over TLS or not. Bad settings are refused here,
//! when the node is built, with an error that names them (and never a password).

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};

use super::config::{ClusterConfig, redacted_url};
use super::error::ClusterError;
use super::tls::ensure_crypto_provider;

/// The port sentinels listen on unless a URL says otherwise.
const SENTINEL_PORT: u16 = 26379;

/// Where the cluster's Redis is, and the certificates to reach it over TLS.
#[derive(Clone)]
pub(crate) struct Topology {
    pub(crate) shape: Shape,
    /// A private CA or a client certificate for `rediss://` (`None`: the built-in public roots).
    pub(crate) tls: Option<TlsCertificates>,
}

/// The three shapes of Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One Redis server (`redis://` or `rediss://`): `PUBLISH` / `SUBSCRIBE`.
    Server(String),
    /// A Redis Cluster reached through these seed nodes: sharded pub/sub.
    Cluster(Vec<String>),
    /// The master that Redis Sentinel names: `PUBLISH` / `SUBSCRIBE` on it, found again after a
    /// failover.
    Sentinel(SentinelSpec),
}

/// The sentinels to ask, the master's name, and how to log in to the master.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SentinelSpec {
    /// The sentinels' addresses (`TcpTls` for `rediss+sentinel://`).
    pub(crate) sentinels: Vec<ConnectionAddr>,
    /// The name the sentinels monitor the master under.
    pub(crate) master: String,
    /// Credentials, database and protocol for the master (`rediss+sentinel://`: over TLS).
    pub(crate) node: ConnectionInfoEq,
    /// Whether the master is reached over TLS.
    pub(crate) tls: bool,
}

impl std::fmt::Debug for SentinelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelSpec")
            .field("sentinels", &self.sentinels)
            .field("master", &self.master)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The master's login as redis-rs reads it from a URL, compared by its URL (redis-rs's
/// `RedisConnectionInfo` has no `PartialEq`).
#[derive(Clone)]
pub(crate) struct ConnectionInfoEq {
    url: String,
    pub(crate) info: redis::RedisConnectionInfo,
}

impl PartialEq for ConnectionInfoEq {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for ConnectionInfoEq {}

/// Splits `scheme://rest` into the base scheme (`redis` or `rediss`), the variant after `+`
/// (`cluster`, `sentinel`) if any, and the rest.
fn split_scheme(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (base, variant) = match scheme.split_once('+') {
        Some((base, variant)) => (base, Some(variant)),
        None => (scheme, None),
    };
    Some((base, variant, rest))
}

/// Whether `url` names a Redis Cluster (`redis+cluster://`, `rediss+cluster://`).
pub(crate) fn names_a_redis_cluster(url: &str) -> bool {
    matches!(split_scheme(url), Some((_, Some("cluster"), _)))
}

impl Topology {
    /// The topology a configuration names, its TLS settings checked.
    pub(crate) fn of(config: &ClusterConfig) -> Result<Self, ClusterError> {
        let shape = if config.seeds.is_empty() {
            Shape::parse(&config.url)?
        } else {
            for seed in &config.seeds {
                Shape::check_url(seed, seed)?;
            }
            Shape::Cluster(config.seeds.clone())
        };
        let tls = config.tls.certificates()?;
        if shape.uses_tls() {
            ensure_crypto_provider();
        } else if tls.is_some() {
            return Err(ClusterError(format!(
                "a TLS certificate was configured but {} does not use TLS (use `rediss://`)",
                shape.describe()
            )));
        }
        Ok(Self { shape, tls })
    }

    /// How this topology is named in logs.
    pub(crate) fn describe(&self) -> String {
        self.shape.describe()
    }

    /// Why connecting failed, with a hint for the usual TLS mix-ups.
    pub(crate) fn explain(&self, e: &redis::RedisError) -> String {
        let tls = self.shape.uses_tls();
        let text = e.to_string();
        let hint = if !tls && e.is_connection_dropped() {
            "if this Redis serves TLS only, use a `rediss` URL"
        } else if tls && text.contains("invalid peer certificate") {
            "trust the CA that signed the server's certificate with \
             `ClusterConfig::tls_ca_certificate`"
        } else if tls && text.contains("CertificateRequired") {
            "this Redis checks clients: give a certificate with \
             `ClusterConfig::tls_client_certificate`"
        } else {
            return text;
        };
        format!("{text} ({hint})")
    }
}

impl Shape {
    /// `redis://…` (`rediss://…` over TLS) is a server; `redis+cluster://[user:pass@]h1:p1,h2:p2
    /// [/…]` is a Redis Cluster with those seed nodes (each becomes `redis://[user:pass@]host:port
    /// [/…]`); `redis+sentinel://[user:pass@]h1:p1,h2:p2/master[/db]` is the master that those
    /// sentinels name (`user:pass` and `db` are the master's).
    pub(crate) fn parse(url: &str) -> Result<Self, ClusterError> {
        let invalid =
            |why: &str| ClusterError(format!("invalid Redis URL `{}`: {why}", redacted_url(url)));
        let Some((base, variant, rest)) = split_scheme(url) else {
            return Err(invalid(
                "expected `redis://…`, `redis+cluster://…` or `redis+sentinel://…`",
            ));
        };
        if !matches!(base, "redis" | "rediss") {
            return Err(invalid("the scheme must be `redis` or `rediss` (TLS)"));
        }
        let shape = match variant {
            None => {
                Self::check_url(url, url)?;
                Self::Server(url.to_owned())
            }
            Some("cluster") => {
                let (userinfo, hosts, tail) = split_hosts(rest);
                let seeds: Vec<String> = hosts
                    .iter()
                    .map(|h| format!("{base}://{userinfo}{h}{tail}"))
                    .collect();
                if seeds.is_empty() {
                    return Err(invalid(
                        "no seed node (`redis+cluster://host:port,host:port`)",
                    ));
                }
                for seed in &seeds {
                    Self::check_url(seed, url)?;
                }
                Self::Cluster(seeds)
            }
            Some("sentinel") => Self::Sentinel(SentinelSpec::parse(base, rest, &invalid)?),
            Some(other) => {
                return Err(invalid(&format!(
                    "unknown `+{other}`: expected `+cluster` or `+sentinel`"
                )));
            }
        };
        Ok(shape)
    }

    /// Parses `url` as redis-rs does; errors name `shown` (redacted).
    fn check_url(url: &str, shown: &str) -> Result<ConnectionInfo, ClusterError> {
        let invalid = |why: &str| {
            ClusterError(format!(
                "invalid Redis URL `{}`: {why}",
                redacted_url(shown)
            ))
        };
        if url.split_once('#').is_some_and(|(_, f)| f == "insecure") {
            // redis-rs's way to skip certificate checks, which tether does not build in.
            return Err(invalid(
                "`#insecure` (TLS without certificate checks) is not supported: trust the \
                 server's CA with `ClusterConfig::tls_ca_certificate` instead",
            ));
        }
        url.into_connection_info()
            .map_err(|e| invalid(&e.to_string()))
    }

    /// Whether Redis is reached over TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        match self {
            Self::Server(url) => url.starts_with("rediss://"),
            Self::Cluster(seeds) => seeds.iter().any(|s| s.starts_with("rediss://")),
            Self::Sentinel(spec) => spec.tls,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Server(url) => redacted_url(url),
            Self::Cluster(seeds) => {
                let seeds: Vec<_> = seeds.iter().map(|s| redacted_url(s)).collect();
                format!("Redis Cluster [{}]", seeds.join(", "))
            }
            Self::Sentinel(spec) => {
                let sentinels: Vec<String> = spec
                    .sentinels
                    .iter()
                    .map(|a| match a {
                        ConnectionAddr::Tcp(h, p) => format!("{h}:{p}"),
                        ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port} (TLS)"),
                        other => format!("{other}"),
                    })
                    .collect();
                format!(
                    "Redis master `{}` via sentinels [{}]",
                    spec.master,
                    sentinels.join(", ")
                )
            }
        }
    }
}

/// `[user:pass@]h1,h2[/tail]` → (`user:pass@` or empty, the hosts, `/tail` or empty). Split by
/// hand because a list of hosts is not a URL (the `url` crate reads `h1:1,h2:2` as one host with
/// a bad port); each host's own URL is then parsed by redis-rs (`check_url`), and errors show
/// the URL redacted.
fn split_hosts(rest: &str) -> (String, Vec<&str>, &str) {
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    (userinfo, hosts, tail)
}

impl SentinelSpec {
    /// The part after `redis+sentinel://`: `[user:pass@]h1:p1,h2:p2/master[/db][?…]`.
    fn parse(
        base: &str,
        rest: &str,
        invalid: &dyn Fn(&str) -> ClusterError,
    ) -> Result<Self, ClusterError> {
        let (userinfo, hosts, tail) = split_hosts(rest);
        if hosts.is_empty() {
            return Err(invalid(
                "no sentinel (`redis+sentinel://host:port,host:port/master`)",
            ));
        }
        if tail.starts_with('#') {
            return Err(invalid("a URL fragment is not supported here"));
        }
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, format!("?{query}")),
            None => (tail, String::new()),
        };
        let mut parts = path.trim_start_matches('/').split('/');
        let master = parts.next().unwrap_or_default();
        if master.is_empty() {
            return Err(invalid(
                "no master name (`redis+sentinel://host:port/master`)",
            ));
        }
        let db = parts.next().unwrap_or("0");
        if parts.next().is_some() || db.parse::<i64>().is_err() {
            return Err(invalid(
                "after the master's name, only a database number may follow (`/master/0`)",
            ));
        }
        let mut sentinels = Vec::with_capacity(hosts.len());
        for host in &hosts {
            // A host without a port (`h` or `[::1]`) gets the sentinels' port.
            let has_port = host
                .rsplit_once(':')
                .is_some_and(|(_, port)| !port.ends_with(']'));
            let url = if has_port {
                format!("{base}://{host}")
            } else {
                format!("{base}://{host}:{SENTINEL_PORT}")
            };
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| invalid(&format!("sentinel `{host}`: {e}")))?;
            sentinels.push(info.addr().clone());
        }
        // The master's login, read by redis-rs's own URL parser (percent-decoding included).
        let url = format!("{base}://{userinfo}{}/{db}{query}", hosts[0]);
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            sentinels,
            master: master.to_owned(),
            node: ConnectionInfoEq {
                url,
                info: info.redis_settings().clone(),
            },
            tls: base == "rediss",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Shape;

    #[test]
    fn urls_name_a_server_or_a_cluster() {
        assert_eq!(
            Shape::parse("redis://127.0.0.1:6379/").unwrap(),
            Shape::Server("redis://127.0.0.1:6379/".into())
        );
        assert_eq!(
            Shape::parse("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001/?protocol=3").unwrap(),
            Shape::Cluster(vec![
                "redis://u:p@10.0.0.1:7000/?protocol=3".into(),
                "redis://u:p@10.0.0.2:7001/?protocol=3".into(),
            ])
        );
        assert_eq!(
            Shape::parse("redis+cluster://h:1").unwrap(),
            Shape::Cluster(vec!["redis://h:1".into()])
        );
        assert!(Shape::parse("redis+cluster://").is_err());
        assert!(Shape::parse("127.0.0.1:6379").is_err());
        assert!(Shape::parse("http://h:1").is_err());
        assert!(Shape::parse("redis+shard://h:1").is_err());
    }

    #[test]
    fn rediss_is_tls_and_insecure_is_refused() {
        let server = Shape::parse("rediss://db.example:6380/0").unwrap();
        assert!(server.uses_tls());
        let cluster = Shape::parse("rediss+cluster://a:1,b:2").unwrap();
        assert_eq!(
            cluster,
            Shape::Cluster(vec!["rediss://a:1".into(), "rediss://b:2".into()])
        );
        assert!(cluster.uses_tls());
        assert!(!Shape::parse("redis://a:1").unwrap().uses_tls());
        let err = Shape::parse("rediss://:pw@a:1/#insecure")
            .expect_err("refused")
            .to_string();
        assert!(err.contains("#insecure") && !err.contains("pw"), "{err}");
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_and_the_master() {
        let Shape::Sentinel(spec) =
            Shape::parse("redis+sentinel://:s3cret@10.0.0.1:26380,10.0.0.2/mymaster/2").unwrap()
        else {
            panic!("a sentinel topology");
        };
        assert_eq!(spec.master, "mymaster");
        assert_eq!(
            spec.sentinels,
            vec![
                redis::ConnectionAddr::Tcp("10.0.0.1".into(), 26380),
                redis::ConnectionAddr::Tcp("10.0.0.2".into(), 26379),
            ]
        );
        assert_eq!(spec.node.info.password(), Some("s3cret"));
        assert_eq!(spec.node.info.db(), 2);
        assert!(!spec.tls);
        assert!(!format!("{spec:?}").contains("s3cret"));
        let tls = Shape::parse("rediss+sentinel://h:1/m").unwrap();
        assert!(tls.uses_tls());
        for bad in [
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/",
            "redis+sentinel:///m",
            "redis+sentinel://h:1/m/x",
            "redis+sentinel://h:1/m/0/1",
        ] {
            assert!(Shape::parse(bad).is_err(), "{bad}");
        }
    }
}

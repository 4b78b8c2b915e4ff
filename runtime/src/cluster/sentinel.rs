//! Redis Sentinel: the master is whichever server the sentinels name now. A command connection
//! that fails as a lost or demoted master would ([`needs_new_master`]) is dropped, and the next
//! command asks the sentinels again; the pub/sub link asks them each time it reconnects
//! (`transport`). So after a failover the node follows the promoted replica the way it comes
//! back after a lost Redis.
//!
//! redis-rs's `SentinelClient` finds the master (and checks that it says it is one), but hands
//! out plain clients: the reconnecting connection on top is this module's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, TlsCertificates, Value};

use super::topology::SentinelSpec;
use super::transport::{TIMEOUT, manager_config, timed_out};

/// How long asking the sentinels (and checking the master they name) may take.
pub(crate) const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// After the sentinels could not name a reachable master, commands fail at once for this long
/// instead of each asking again (during a failover, until a replica is promoted).
const RESOLVE_PAUSE: Duration = Duration::from_millis(100);

/// A sentinel client for `spec` that finds its master.
pub(crate) fn client(
    spec: &SentinelSpec,
    tls: Option<&TlsCertificates>,
) -> RedisResult<SentinelClient> {
    let login = &spec.node.info;
    let mut builder = SentinelClientBuilder::new(
        spec.sentinels.clone(),
        &spec.master,
        SentinelServerType::Master,
    )?
    .set_client_to_redis_db(login.db())
    .set_client_to_redis_protocol(login.protocol());
    if let Some(user) = login.username() {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = login.password() {
        builder = builder.set_client_to_redis_password(password);
    }
    if spec.tls {
        builder = builder.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
        if let Some(certs) = tls {
            builder = builder
                .set_client_to_redis_certificates(certs.clone())
                .set_client_to_sentinel_certificates(certs.clone());
        }
    }
    builder.build()
}

/// Asks the sentinels for the master: a client for it, checked to be the master.
pub(crate) async fn find_master(resolver: &mut SentinelClient) -> RedisResult<redis::Client> {
    // Boxed: redis-rs's lookup is a deep nest of futures, and the futures that await this one
    // (building a `Tether`, in an application's `main`) would otherwise nest past rustc's
    // default depth limit when their layout is computed.
    let lookup = Box::pin(resolver.async_get_client());
    tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| timed_out())?
}

/// Whether `e` says the connection's server is gone or no longer the master: the sentinels
/// are asked again.
fn needs_new_master(e: &RedisError) -> bool {
    e.is_io_error() || e.is_unrecoverable_error() || surely_not_run(e)
}

/// Whether the command in error certainly did not run: it may be sent to the new master at once.
fn surely_not_run(e: &RedisError) -> bool {
    e.code() == Some("READONLY") || e.is_connection_refusal()
}

/// A command connection to the master the sentinels name. Cheap to clone.
#[derive(Clone)]
pub(crate) struct SentinelConn {
    inner: Arc<Inner>,
}

struct Inner {
    /// Held while the sentinels are asked: one question at a time.
    resolver: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Current>,
    db: i64,
}

#[derive(Default)]
struct Current {
    /// The master's connection; `None` until found, and after it failed as a lost master.
    manager: Option<ConnectionManager>,
    /// Counts the masters found, so a failure forgets only the connection it happened on.
    generation: u64,
    /// When the sentinels last failed to name a reachable master, and why.
    failed: Option<(Instant, String)>,
}

impl SentinelConn {
    /// A connection that finds the master on first use.
    pub(crate) fn lazy(spec: &SentinelSpec, tls: Option<&TlsCertificates>) -> RedisResult<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                resolver: tokio::sync::Mutex::new(client(spec, tls)?),
                current: Mutex::new(Current::default()),
                db: spec.node.info.db(),
            }),
        })
    }

    /// A connection to the master, found now.
    pub(crate) async fn connect(
        spec: &SentinelSpec,
        tls: Option<&TlsCertificates>,
    ) -> RedisResult<Self> {
        let conn = Self::lazy(spec, tls)?;
        conn.manager().await?;
        Ok(conn)
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The master's connection and its generation, asking the sentinels if there is none.
    async fn manager(&self) -> RedisResult<(u64, ConnectionManager)> {
        if let Some(found) = self.known() {
            return Ok(found);
        }
        let mut resolver = self.inner.resolver.lock().await;
        // Found by another command while this one waited.
        if let Some(found) = self.known() {
            return Ok(found);
        }
        if let Some((at, why)) = &self.current().failed
            && at.elapsed() < RESOLVE_PAUSE
        {
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "no reachable Redis master named by the sentinels",
                why.clone(),
            )));
        }
        let found = async {
            let client = find_master(&mut resolver).await?;
            tokio::time::timeout(
                TIMEOUT,
                ConnectionManager::new_with_config(client, manager_config()),
            )
            .await
            .map_err(|_| timed_out())?
        }
        .await;
        let mut current = self.current();
        match found {
            Ok(manager) => {
                current.generation += 1;
                current.manager = Some(manager.clone());
                current.failed = None;
                tracing::info!("connected to the Redis master the sentinels name");
                Ok((current.generation, manager))
            }
            Err(e) => {
                current.failed = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    fn known(&self) -> Option<(u64, ConnectionManager)> {
        let current = self.current();
        current
            .manager
            .clone()
            .map(|manager| (current.generation, manager))
    }

    /// Forgets the master's connection of `generation` (not a newer one).
    fn forget(&self, generation: u64) {
        let mut current = self.current();
        if current.generation == generation && current.manager.take().is_some() {
            tracing::warn!("lost the Redis master; asking the sentinels for the current one");
        }
    }

    /// Runs `op` on the master's connection. On a failure that says the master is lost or
    /// demoted, the connection is forgotten; when the command surely did not run, it is sent
    /// once more, to the master the sentinels name now.
    async fn run<T, F, Fut>(&self, op: F) -> RedisResult<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (generation, manager) = self.manager().await?;
        match op(manager).await {
            Err(e) if needs_new_master(&e) => {
                self.forget(generation);
                if !surely_not_run(&e) {
                    return Err(e);
                }
                let (_, manager) = self.manager().await?;
                op(manager).await
            }
            result => result,
        }
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.run(move |mut m| async move { m.req_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(
            self.run(
                move |mut m| async move { m.req_packed_commands(pipeline, offset, count).await },
            ),
        )
    }

    fn get_db(&self) -> i64 {
        self.inner.db
    }
}

//! The shapes of Redis a cluster can run on, behind one API: a single server, or the master
//! that Redis Sentinel names (PUBLISH / SUBSCRIBE), or a Redis Cluster (sharded pub/sub:
//! SPUBLISH / SSUBSCRIBE, Redis ≥ 7); each over TLS or not (`topology` reads which).
//!
//! Everything above this module (publishing, presence, the cap, the subscriber loop) is written
//! once against [`Conn`] and [`Link`].

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushInfo, PushKind, RedisFuture, RedisResult, Value};
use tokio::sync::mpsc;

use super::sentinel::{self, SentinelConn};
use super::topology::{Shape, Topology};

/// How long connecting, and each command, may take before it counts as a failure.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(1);
/// Pauses before the second and third attempts of a presence write or a heartbeat: right after
/// Redis returns, the first commands on the command connection can fail while it reconnects.
pub(crate) const RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(200)];
/// Sharded subscriptions sent at once (each channel may live on another shard, so a command
/// carries one channel).
const CONCURRENT_SUBSCRIPTIONS: usize = 64;
/// Channels per `SUBSCRIBE` / `UNSUBSCRIBE` command on a server's link.
const SUBSCRIBE_BATCH: usize = 512;

/// The settings of every connection manager (a server's, or a sentinel-named master's).
pub(crate) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500))
}

impl Topology {
    /// A client for one server, with the configured certificates for `rediss://`.
    fn server_client(&self, url: &str) -> RedisResult<redis::Client> {
        match &self.tls {
            Some(certs) => redis::Client::build_with_tls(url, certs.clone()),
            None => redis::Client::open(url),
        }
    }

    fn cluster_client(
        &self,
        seeds: &[String],
        pushes: Option<mpsc::UnboundedSender<PushInfo>>,
    ) -> RedisResult<redis::cluster::ClusterClient> {
        let mut builder = ClusterClientBuilder::new(seeds.to_vec())
            .connection_timeout(TIMEOUT)
            .response_timeout(TIMEOUT)
            .overall_response_timeout(Some(TIMEOUT * 2))
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(200);
        if let Some(certs) = &self.tls {
            // The seeds are `rediss://` (checked in `Topology::of`); each node found from them
            // is reached with the same certificates.
            builder = builder.certs(certs.clone());
        }
        if let Some(pushes) = pushes {
            // Push messages (what SSUBSCRIBE delivers) need RESP3.
            builder = builder
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(pushes);
        }
        builder.build()
    }

    /// A connection for commands (publish, presence, the cap). `lazy`: do not fail when Redis
    /// is unreachable now; connect on first use.
    pub(crate) async fn connect(&self, lazy: bool) -> RedisResult<Conn> {
        match &self.shape {
            Shape::Server(url) => {
                let client = self.server_client(url)?;
                let manager = if lazy {
                    ConnectionManager::new_lazy_with_config(client, manager_config())?
                } else {
                    ConnectionManager::new_with_config(client, manager_config()).await?
                };
                Ok(Conn::Server(manager))
            }
            Shape::Cluster(seeds) => {
                let client = self.cluster_client(seeds, None)?;
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(TIMEOUT)
                    .set_response_timeout(TIMEOUT);
                let conn = if lazy {
                    client.get_pending_async_connection_with_config(config)
                } else {
                    tokio::time::timeout(
                        TIMEOUT * 2,
                        client.get_async_connection_with_config(config),
                    )
                    .await
                    .map_err(|_| timed_out())??
                };
                Ok(Conn::Cluster(conn))
            }
            Shape::Sentinel(spec) => Ok(Conn::Sentinel(if lazy {
                SentinelConn::lazy(spec, self.tls.as_ref())?
            } else {
                SentinelConn::connect(spec, self.tls.as_ref()).await?
            })),
        }
    }

    /// A fresh pub/sub link, subscribed to nothing yet, and the feed of what it receives (read
    /// on its own task, see `inbox::read`).
    pub(crate) async fn subscribe_link(&self) -> RedisResult<(Link, Feed)> {
        let client = match &self.shape {
            Shape::Server(url) => self.server_client(url)?,
            // The master the sentinels name now: after a failover, the promoted replica.
            Shape::Sentinel(spec) => {
                sentinel::find_master(&mut sentinel::client(spec, self.tls.as_ref())?).await?
            }
            Shape::Cluster(seeds) => {
                // Unbounded, but drained by a task that only screens sizes and queues (bounded).
                let (tx, pushes) = mpsc::unbounded_channel();
                let client = self.cluster_client(seeds, Some(tx))?;
                let conn = tokio::time::timeout(TIMEOUT * 2, client.get_async_connection())
                    .await
                    .map_err(|_| timed_out())??;
                return Ok((Link::Cluster { conn }, Feed::Cluster { pushes }));
            }
        };
        let pubsub = tokio::time::timeout(TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| timed_out())??;
        let (sink, stream) = pubsub.split();
        Ok((Link::Server { sink }, Feed::Server { stream }))
    }
}

pub(crate) fn timed_out() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "timed out connecting to Redis"))
}

/// A connection for commands, to a server, a cluster or a sentinel-named master. Cheap to
/// clone.
#[derive(Clone)]
pub(crate) enum Conn {
    /// Reconnects by itself.
    Server(ConnectionManager),
    /// Reconnects by itself, to the master the sentinels name after a failover.
    Sentinel(SentinelConn),
    /// Routes each command to the shard of its key; reconnects by itself.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Publishes `payload` on every channel; returns how many subscriptions received it, summed.
    ///
    /// A server (or a sentinel-named master) gets one pipeline of PUBLISH. A cluster gets one
    /// SPUBLISH per channel, sent together (each channel may live on another shard, and a
    /// pipeline may not cross slots).
    pub(crate) async fn publish(&self, channels: &[String], payload: &[u8]) -> RedisResult<usize> {
        match self {
            Self::Server(_) | Self::Sentinel(_) if channels.len() == 1 => {
                redis::cmd("PUBLISH")
                    .arg(&channels[0])
                    .arg(payload)
                    .query_async(&mut self.clone())
                    .await
            }
            Self::Server(_) | Self::Sentinel(_) => {
                let mut pipe = redis::pipe();
                for channel in channels {
                    pipe.publish(channel, payload);
                }
                let counts: Vec<usize> = pipe.query_async(&mut self.clone()).await?;
                Ok(counts.iter().sum())
            }
            Self::Cluster(c) => {
                let sends = channels.iter().map(|channel| {
                    let mut conn = c.clone();
                    let cmd = redis::cmd("SPUBLISH").arg(channel).arg(payload).clone();
                    async move { cmd.query_async::<usize>(&mut conn).await }
                });
                let counts = futures_util::future::try_join_all(sends).await?;
                Ok(counts.iter().sum())
            }
        }
    }
}

/// What a [`Link`] hands to the subscriber loop.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A message on a channel.
    Message { channel: String, payload: Vec<u8> },
    /// Redis dropped a subscription on its own (a cluster slot moved to another shard); it must
    /// be made again if the channel is still wanted.
    Dropped(String),
    /// The link is lost: reconnect.
    Lost,
}

/// One pub/sub link, its subscribing side: a dedicated connection to a server, or a cluster
/// connection (one connection per shard) receiving sharded messages as RESP3 pushes.
pub(crate) enum Link {
    Server { sink: redis::aio::PubSubSink },
    Cluster { conn: ClusterConnection },
}

/// What a [`Link`] receives. redis-rs reads the connection into an unbounded queue of its own
/// as fast as Redis sends; the node reads that queue on a task that does nothing else, so it
/// stays short.
pub(crate) enum Feed {
    Server {
        stream: redis::aio::PubSubStream,
    },
    Cluster {
        pushes: mpsc::UnboundedReceiver<PushInfo>,
    },
}

impl Link {
    /// Subscribes to every channel (in batches for a server; one command per channel, a few
    /// dozen at a time, for a cluster, where channels live on different shards).
    pub(crate) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        self.change(channels, true).await
    }

    /// Unsubscribes from every channel, as [`subscribe`](Self::subscribe) subscribes.
    pub(crate) async fn unsubscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        self.change(channels, false).await
    }

    async fn change(&mut self, channels: &[String], follow: bool) -> RedisResult<()> {
        match self {
            Self::Server { sink, .. } => {
                for batch in channels.chunks(SUBSCRIBE_BATCH) {
                    if follow {
                        sink.subscribe(batch).await?;
                    } else {
                        sink.unsubscribe(batch).await?;
                    }
                }
                Ok(())
            }
            Self::Cluster { conn, .. } => {
                let conn = conn.clone();
                futures_util::stream::iter(channels.to_vec())
                    .map(move |channel| {
                        let mut conn = conn.clone();
                        async move {
                            if follow {
                                conn.ssubscribe(channel).await
                            } else {
                                conn.sunsubscribe(channel).await
                            }
                        }
                    })
                    .buffer_unordered(CONCURRENT_SUBSCRIPTIONS)
                    .try_collect::<()>()
                    .await
            }
        }
    }
}

impl Feed {
    /// The next message. Cancel-safe (used in `select!`).
    pub(crate) async fn next(&mut self) -> Incoming {
        match self {
            Self::Server { stream, .. } => match stream.next().await {
                Some(msg) => Incoming::Message {
                    channel: msg.get_channel_name().to_owned(),
                    payload: msg.get_payload_bytes().to_vec(),
                },
                None => Incoming::Lost,
            },
            Self::Cluster { pushes, .. } => loop {
                let Some(push) = pushes.recv().await else {
                    return Incoming::Lost;
                };
                match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        if let Some(msg) = redis::Msg::from_push_info(push) {
                            return Incoming::Message {
                                channel: msg.get_channel_name().to_owned(),
                                payload: msg.get_payload_bytes().to_vec(),
                            };
                        }
                    }
                    // One shard's connection closed: its subscriptions are gone with it.
                    PushKind::Disconnection => return Incoming::Lost,
                    PushKind::SUnsubscribe => {
                        if let Some(Value::BulkString(channel)) = push.data.first() {
                            return Incoming::Dropped(
                                String::from_utf8_lossy(channel).into_owned(),
                            );
                        }
                    }
                    _ => {}
                }
            },
        }
    }
}

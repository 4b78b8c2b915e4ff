//! Publishes, batched: the emits of every socket of a node go to Redis through one queue, and
//! what queued while earlier batches were on their way leaves as one pipeline.
//!
//! Each PUBLISH on its own costs a write on the node, a read and a write on Redis, and a read
//! back on the node (on loopback the kernel does the receiver's work in the sender's write as
//! well). Under load many emits wait at the same moment; one pipeline carries them in one
//! write, and Redis, reading them at once, answers them in one write too, and passes them on
//! to each subscribing node in one write per node. At rest nothing waits: a lone emit leaves
//! at once, as before.
//!
//! Batches leave in the order of the queue, at most [`MAX_IN_FLIGHT`] on their way at once:
//! while fewer are, an emit leaves as soon as the queue's task runs, so at low load no emit
//! waits for another's round trip; under load the emits queue while the batches are out, and
//! the next batch carries all of them (its size follows the load by itself, within
//! [`MAX_BATCH`] publishes and [`MAX_BATCH_BYTES`] bytes). An emit is answered once Redis has
//! taken it, so the emits a caller makes one after the other (awaiting each) reach the other
//! nodes in that order, as before.
//!
//! A recorded emit (recovery on) is one script call, which records and publishes it: it goes
//! through the same queue, so plain and recorded emits share the batches. A script Redis does
//! not know (it restarted, or `SCRIPT FLUSH`) is loaded and the calls that missed it are made
//! again; they were made at the same moment as the rest of their batch, so no caller's order
//! depends on which goes first.
//!
//! A Redis Cluster gets no batching: each channel may live on another shard, and a pipeline
//! may not cross slots; its connection already sends concurrent commands to a shard together.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use redis::{ErrorKind, RedisError, RedisResult, ScriptInvocation, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::transport::Conn;

/// Most emits in one batch.
pub(crate) const MAX_BATCH: usize = 256;
/// Most payload bytes in one batch; one emit always goes, whatever its size.
pub(crate) const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Most batches on their way at once. While fewer are, an emit leaves as soon as the queue's
/// task runs (a lone emit waits for no round trip); when that many are, the emits queue and
/// leave together with the next.
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// One emit, waiting for its batch.
struct Queued {
    ask: Ask,
    /// The payload bytes it puts on the batch.
    bytes: usize,
}

/// What one emit asks of Redis, and where the answer goes.
enum Ask {
    /// A PUBLISH on each channel; answered with how many subscriptions received it, summed.
    Publish {
        channels: Vec<String>,
        payload: Vec<u8>,
        reply: oneshot::Sender<RedisResult<usize>>,
    },
    /// One script call; answered with the script's reply.
    Script {
        invocation: ScriptInvocation<'static>,
        reply: oneshot::Sender<RedisResult<Value>>,
    },
}

/// Where a node's publishes go: a batching queue, or (a Redis Cluster) the connection itself.
/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct Publishes(Route);

#[derive(Clone)]
enum Route {
    Batched(mpsc::UnboundedSender<Queued>),
    Direct(Conn),
}

impl Publishes {
    /// Publishes through `conn`: batched on a server or a Sentinel-named master (its task ends
    /// when this is dropped), straight on a Redis Cluster.
    pub(crate) fn new(conn: Conn) -> Self {
        if matches!(conn, Conn::Cluster(_)) {
            return Self(Route::Direct(conn));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drain(conn, rx));
        Self(Route::Batched(tx))
    }

    /// Publishes `payload` on every channel, after the emits queued before it; returns how
    /// many subscriptions received it, summed.
    pub(crate) async fn publish(
        &self,
        channels: Vec<String>,
        payload: Vec<u8>,
    ) -> RedisResult<usize> {
        match &self.0 {
            Route::Direct(conn) => conn.publish(&channels, &payload).await,
            Route::Batched(queue) => {
                let bytes = payload.len() * channels.len();
                let (reply, answer) = oneshot::channel();
                let ask = Ask::Publish {
                    channels,
                    payload,
                    reply,
                };
                queued(queue, ask, bytes, answer).await
            }
        }
    }

    /// Calls a script (loading it if Redis does not know it), after the emits queued before
    /// it; `bytes` is about what its arguments weigh. Returns the script's reply.
    pub(crate) async fn invoke(
        &self,
        invocation: ScriptInvocation<'static>,
        bytes: usize,
    ) -> RedisResult<Value> {
        match &self.0 {
            Route::Direct(conn) => invocation.invoke_async(&mut conn.clone()).await,
            Route::Batched(queue) => {
                let (reply, answer) = oneshot::channel();
                let ask = Ask::Script { invocation, reply };
                queued(queue, ask, bytes, answer).await
            }
        }
    }
}

/// Queues `ask` and waits for its answer.
async fn queued<T>(
    queue: &mpsc::UnboundedSender<Queued>,
    ask: Ask,
    bytes: usize,
    answer: oneshot::Receiver<RedisResult<T>>,
) -> RedisResult<T> {
    if queue.send(Queued { ask, bytes }).is_err() {
        return Err(gone());
    }
    answer.await.unwrap_or_else(|_| Err(gone()))
}

fn gone() -> RedisError {
    RedisError::from((ErrorKind::Io, "the publishing task is gone"))
}

/// Sends what the queue holds, in batches, at most [`MAX_IN_FLIGHT`] on their way at once,
/// until every sender is dropped and every batch answered.
async fn drain(conn: Conn, mut queue: mpsc::UnboundedReceiver<Queued>) {
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            first = queue.recv(), if open && in_flight.len() < MAX_IN_FLIGHT => {
                let Some(first) = first else {
                    open = false;
                    continue;
                };
                let batch = gather(first, &mut queue);
                crate::metrics::redis_publish_batch(batch.len());
                in_flight.push(send(conn.clone(), batch));
            }
            else => return,
        }
    }
}

/// `first` and what else waits in the queue, within the bounds of a batch.
fn gather(first: Queued, queue: &mut mpsc::UnboundedReceiver<Queued>) -> Vec<Queued> {
    let mut bytes = first.bytes;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        let Ok(next) = queue.try_recv() else { break };
        bytes += next.bytes;
        batch.push(next);
    }
    batch
}

/// Sends one batch (as one pipeline when it holds more than one emit) and answers each emit.
async fn send(mut conn: Conn, mut batch: Vec<Queued>) {
    if batch.len() == 1 {
        match batch.pop().expect("one").ask {
            Ask::Publish {
                channels,
                payload,
                reply,
            } => {
                let _ = reply.send(conn.publish(&channels, &payload).await);
            }
            Ask::Script { invocation, reply } => {
                let _ = reply.send(invocation.invoke_async(&mut conn).await);
            }
        }
        return;
    }
    let mut pipe = redis::pipe();
    // Each command's reply comes back on its own: one failure fails its emit only.
    pipe.ignore_errors();
    for queued in &batch {
        match &queued.ask {
            Ask::Publish {
                channels, payload, ..
            } => {
                for channel in channels {
                    pipe.publish(channel, payload);
                }
            }
            Ask::Script { invocation, .. } => {
                pipe.invoke_script(invocation);
            }
        }
    }
    let replies = match pipe.query_async::<Vec<Value>>(&mut conn).await {
        Ok(replies) => replies,
        Err(e) => {
            for queued in batch {
                queued.ask.fail(&e);
            }
            return;
        }
    };
    let mut replies = replies.into_iter();
    let mut unknown_script = Vec::new();
    for queued in batch {
        match queued.ask {
            Ask::Publish {
                channels, reply, ..
            } => {
                let counts = replies.by_ref().take(channels.len());
                let _ = reply.send(counts.map(count).sum());
            }
            Ask::Script { invocation, reply } => match replies.next() {
                Some(Value::ServerError(e)) => {
                    let e = RedisError::from(e);
                    if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) {
                        unknown_script.push((invocation, reply));
                    } else {
                        let _ = reply.send(Err(e));
                    }
                }
                Some(value) => {
                    let _ = reply.send(Ok(value));
                }
                None => {
                    let _ = reply.send(Err(missing_reply()));
                }
            },
        }
    }
    // Loaded by the first (`invoke_async` does), then found by the others.
    for (invocation, reply) in unknown_script {
        let _ = reply.send(invocation.invoke_async(&mut conn).await);
    }
}

/// A PUBLISH's count of subscriptions, or its error.
fn count(reply: Value) -> RedisResult<usize> {
    match reply {
        Value::ServerError(e) => Err(e.into()),
        v => Ok(redis::from_redis_value(v)?),
    }
}

fn missing_reply() -> RedisError {
    RedisError::from((ErrorKind::Io, "the pipeline's reply was short"))
}

impl Ask {
    /// Answers the emit with `e`.
    fn fail(self, e: &RedisError) {
        match self {
            Self::Publish { reply, .. } => {
                let _ = reply.send(Err(e.clone()));
            }
            Self::Script { reply, .. } => {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

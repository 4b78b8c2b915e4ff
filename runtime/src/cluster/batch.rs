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
//! A Redis Cluster gets no batching: each channel may live on another shard, and a pipeline
//! may not cross slots; its connection already sends concurrent commands to a shard together.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use redis::RedisResult;
use tokio::sync::{mpsc, oneshot};

use super::transport::Conn;

/// Most publishes in one batch.
pub(crate) const MAX_BATCH: usize = 256;
/// Most payload bytes in one batch; one publish always goes, whatever its size.
pub(crate) const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Most batches on their way at once. While fewer are, an emit leaves as soon as the queue's
/// task runs (a lone emit waits for no round trip); when that many are, the emits queue and
/// leave together with the next.
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// One emit's publishes, waiting for its batch.
struct Queued {
    channels: Vec<String>,
    payload: Vec<u8>,
    /// How many subscriptions received it, summed over its channels.
    reply: oneshot::Sender<RedisResult<usize>>,
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

    /// Publishes `payload` on every channel, after the publishes queued before it; returns how
    /// many subscriptions received it, summed.
    pub(crate) async fn publish(
        &self,
        channels: Vec<String>,
        payload: Vec<u8>,
    ) -> RedisResult<usize> {
        match &self.0 {
            Route::Direct(conn) => conn.publish(&channels, &payload).await,
            Route::Batched(queue) => {
                let (reply, answer) = oneshot::channel();
                let queued = Queued {
                    channels,
                    payload,
                    reply,
                };
                if queue.send(queued).is_err() {
                    return Err(gone());
                }
                answer.await.unwrap_or_else(|_| Err(gone()))
            }
        }
    }
}

fn gone() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "the publishing task is gone"))
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
    let mut bytes = first.payload.len() * first.channels.len();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        let Ok(next) = queue.try_recv() else { break };
        bytes += next.payload.len() * next.channels.len();
        batch.push(next);
    }
    batch
}

/// Sends one batch as one pipeline and answers each of its publishes.
async fn send(conn: Conn, mut batch: Vec<Queued>) {
    if let [one] = batch.as_slice() {
        let result = conn.publish(&one.channels, &one.payload).await;
        let _ = batch.pop().expect("one").reply.send(result);
        return;
    }
    let mut pipe = redis::pipe();
    for queued in batch.iter() {
        for channel in &queued.channels {
            pipe.publish(channel, &queued.payload);
        }
    }
    let result: RedisResult<Vec<usize>> = pipe.query_async(&mut conn.clone()).await;
    match result {
        Ok(counts) => {
            let mut counts = counts.into_iter();
            for queued in batch.drain(..) {
                let reached = counts.by_ref().take(queued.channels.len()).sum();
                let _ = queued.reply.send(Ok(reached));
            }
        }
        Err(e) => {
            for queued in batch.drain(..) {
                let _ = queued.reply.send(Err(e.clone()));
            }
        }
    }
}

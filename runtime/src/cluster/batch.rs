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
//! Batches leave in the order of the queue (within a batch, see below), at most
//! [`MAX_IN_FLIGHT`] on their way at once:
//! while fewer are, an emit leaves as soon as the queue's task runs, so at low load no emit
//! waits for another's round trip; under load the emits queue while the batches are out, and
//! the next batch carries all of them (its size follows the load by itself, within
//! [`MAX_BATCH`] publishes and [`MAX_BATCH_BYTES`] bytes). An emit is answered once Redis has
//! taken it, so the emits a caller makes one after the other (awaiting each) reach the other
//! nodes in that order, as before.
//!
//! A recorded emit (recovery on) is recorded and published by a script: it goes through the same
//! queue, so plain and recorded emits share the batches, and the recorded emits of one namespace
//! in a batch are one script call (`record`). A script Redis does not know (it restarted, or
//! `SCRIPT FLUSH`) is loaded and the calls that missed it are made again. Within a batch, the
//! commands need no order: they were all made at the same moment, and a caller's next emit
//! waits for the answer to its last, so it is in a later batch.
//!
//! A Redis Cluster gets no batching: each channel may live on another shard, and a pipeline
//! may not cross slots; its connection already sends concurrent commands to a shard together.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use redis::{ErrorKind, RedisError, RedisResult, ScriptInvocation, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::record::{Record, split};
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
    /// An emit to record; answered with the script's reply for it (`{position, reached}`).
    Record {
        record: Record,
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

    /// Records an emit and publishes it (see `record`), after the emits queued before it.
    /// Returns the script's reply for it, `{position, reached}`.
    pub(crate) async fn record(&self, record: Record) -> RedisResult<Value> {
        match &self.0 {
            Route::Direct(conn) => record.invocation().invoke_async(&mut conn.clone()).await,
            Route::Batched(queue) => {
                let bytes = record.bytes();
                let (reply, answer) = oneshot::channel();
                let ask = Ask::Record { record, reply };
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
async fn send(mut conn: Conn, batch: Vec<Queued>) {
    let mut publishes = Vec::new();
    let mut records: Vec<Group> = Vec::new();
    for queued in batch {
        match queued.ask {
            Ask::Publish {
                channels,
                payload,
                reply,
            } => publishes.push((channels, payload, reply)),
            Ask::Record { record, reply } => {
                match records
                    .iter_mut()
                    .find(|g| g.records[0].same_history(&record))
                {
                    Some(group) => group.push(record, reply),
                    None => records.push(Group {
                        records: vec![record],
                        replies: vec![reply],
                    }),
                }
            }
        }
    }
    if let ([], [group]) = (publishes.as_slice(), records.as_slice()) {
        let reply = call(&mut conn, &Record::invocation_for(&group.records)).await;
        records.pop().expect("one").answer(reply);
        return;
    }
    if let ([(channels, payload, _)], []) = (publishes.as_slice(), records.as_slice()) {
        let published = conn.publish(channels, payload).await;
        let (_, _, reply) = publishes.pop().expect("one");
        let _ = reply.send(published);
        return;
    }
    let mut pipe = redis::pipe();
    // Each command's reply comes back on its own: one failure fails its emits only.
    pipe.ignore_errors();
    for (channels, payload, _) in &publishes {
        for channel in channels {
            pipe.publish(channel, payload);
        }
    }
    let invocations: Vec<_> = records
        .iter()
        .map(|g| Record::invocation_for(&g.records))
        .collect();
    for invocation in &invocations {
        pipe.invoke_script(invocation);
    }
    let replies = match pipe.query_async::<Vec<Value>>(&mut conn).await {
        Ok(replies) => replies,
        Err(e) => {
            for (_, _, reply) in publishes {
                let _ = reply.send(Err(e.clone()));
            }
            for group in records {
                group.answer(Err(e.clone()));
            }
            return;
        }
    };
    let mut replies = replies.into_iter();
    for (channels, _, reply) in publishes {
        let counts = replies.by_ref().take(channels.len());
        let _ = reply.send(counts.map(count).sum());
    }
    let mut unknown_script = Vec::new();
    for (group, invocation) in records.into_iter().zip(invocations) {
        match replies.next() {
            Some(Value::ServerError(e)) => {
                let e = RedisError::from(e);
                if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) {
                    unknown_script.push((group, invocation));
                } else {
                    group.answer(Err(e));
                }
            }
            Some(value) => group.answer(Ok(value)),
            None => group.answer(Err(missing_reply())),
        }
    }
    // Loaded by the first, then found by the others.
    for (group, invocation) in unknown_script {
        group.answer(call(&mut conn, &invocation).await);
    }
}

/// Calls a script, loading it first if Redis does not know it. Its reply is taken as it is: an
/// error inside it (one emit's, of several) stays that emit's.
async fn call(conn: &mut Conn, invocation: &ScriptInvocation<'_>) -> RedisResult<Value> {
    match call_once(conn, invocation).await {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            invocation.load_async(conn).await?;
            call_once(conn, invocation).await
        }
        reply => reply,
    }
}

async fn call_once(conn: &mut Conn, invocation: &ScriptInvocation<'_>) -> RedisResult<Value> {
    let mut pipe = redis::pipe();
    // `ignore_errors`: the reply is not searched for errors (a lone call would be).
    pipe.ignore_errors().invoke_script(invocation);
    match pipe.query_async::<Vec<Value>>(conn).await?.pop() {
        Some(Value::ServerError(e)) => Err(e.into()),
        Some(reply) => Ok(reply),
        None => Err(missing_reply()),
    }
}

/// The recorded emits of one history in a batch: one script call.
struct Group {
    records: Vec<Record>,
    replies: Vec<oneshot::Sender<RedisResult<Value>>>,
}

impl Group {
    fn push(&mut self, record: Record, reply: oneshot::Sender<RedisResult<Value>>) {
        self.records.push(record);
        self.replies.push(reply);
    }

    /// Answers each emit from the script's reply.
    fn answer(self, reply: RedisResult<Value>) {
        for (reply, answer) in split(reply, self.replies.len())
            .into_iter()
            .zip(self.replies)
        {
            let _ = answer.send(reply);
        }
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

//! A socketioxide message handler that runs where socketioxide receives the event, with no
//! task of its own. socketioxide spawns a task for every event a closure handler receives;
//! tether schedules each event itself (on its socket's queue, in order, or on a task for a
//! concurrent listener), so that task would only carry an empty future: one spawn, one
//! allocation and two task switches per event for nothing.

use std::sync::Arc;

use socketioxide::adapter::LocalAdapter;
use socketioxide::handler::{MessageHandler, Value};
use socketioxide::socket::Socket;

use crate::serial::Job;

/// Sets [`Inline`]'s implementation apart from socketioxide's own (for closures).
pub(crate) struct InlineMarker;

/// A handler `F` called in socketioxide's receive path with the socket, the event's arguments
/// and its ack id; it returns the work to run on a task of its own, if any (a concurrent
/// listener), and `None` when it queued the work on the socket (or refused the event).
pub(crate) struct Inline<F>(pub(crate) F);

impl<F> MessageHandler<LocalAdapter, (InlineMarker,)> for Inline<F>
where
    F: Fn(Arc<Socket<LocalAdapter>>, Value, Option<i64>) -> Option<Job> + Send + Sync + 'static,
{
    fn call(&self, s: Arc<Socket<LocalAdapter>>, v: Value, ack_id: Option<i64>) {
        if let Some(job) = (self.0)(s, v, ack_id) {
            tokio::spawn(job);
        }
    }
}

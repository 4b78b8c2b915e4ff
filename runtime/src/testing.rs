//! Test helpers for applications: record what a namespace emits and assert on it
//! (like Psychic's `assertBroadcast`).
//!
//! ```
//! # use tether::{socket_namespace, Tether, AnyEvent, Target};
//! # struct Chat;
//! # #[socket_namespace(path = "/chat")]
//! # impl Chat {}
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let tether = Tether::builder().namespace(Chat).build().await.unwrap();
//! let log = tether.record_emits::<Chat>();
//! tether
//!     .emitter::<Chat>()
//!     .to_user("42")
//!     .emit(AnyEvent::new("/users/ping", serde_json::json!({"hello": "world"})))
//!     .await
//!     .unwrap();
//! log.assert_emitted(&Target::User("42".into()), "/users/ping", &serde_json::json!({"hello": "world"}));
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::delivery::Delivery;
use crate::protocol::Target;

/// One recorded emit.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEmit {
    /// Who it was for.
    pub targets: Vec<Target>,
    /// Who was excluded.
    pub except: Vec<Target>,
    /// The event name.
    pub event: String,
    /// The payload, as JSON.
    pub payload: Value,
    /// What it reached on this node.
    pub delivery: Delivery,
}

/// The emits of one namespace since recording started.
#[derive(Clone, Default)]
pub struct EmitLog {
    emits: Arc<Mutex<Vec<RecordedEmit>>>,
}

impl fmt::Debug for EmitLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.emits().iter()).finish()
    }
}

impl EmitLog {
    pub(crate) fn push(&self, emit: RecordedEmit) {
        self.emits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(emit);
    }

    /// Every recorded emit, oldest first.
    pub fn emits(&self) -> Vec<RecordedEmit> {
        self.emits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        self.emits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether `event` with `payload` was emitted to `target` (among other targets, possibly).
    pub fn was_emitted(&self, target: &Target, event: &str, payload: &Value) -> bool {
        self.emits()
            .iter()
            .any(|e| e.event == event && &e.payload == payload && e.targets.contains(target))
    }

    /// Panics, listing what was emitted, unless `event` with `payload` was emitted to `target`.
    #[track_caller]
    pub fn assert_emitted(&self, target: &Target, event: &str, payload: &Value) {
        assert!(
            self.was_emitted(target, event, payload),
            "expected `{event}` {payload} to be emitted to {target:?}; emitted: {:#?}",
            self.emits()
        );
    }

    /// Panics unless nothing named `event` was emitted.
    #[track_caller]
    pub fn assert_not_emitted(&self, event: &str) {
        let found: Vec<_> = self
            .emits()
            .into_iter()
            .filter(|e| e.event == event)
            .collect();
        assert!(
            found.is_empty(),
            "expected no `{event}`; emitted: {found:#?}"
        );
    }
}

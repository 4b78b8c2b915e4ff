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
///
/// ```
/// # use tether::{AnyEvent, Target, Tether, socket_namespace};
/// # struct Billing;
/// # #[socket_namespace(path = "/billing")]
/// # impl Billing {}
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Billing).build().await.unwrap();
/// let log = tether.record_emits::<Billing>();
/// let ev = AnyEvent::new("invoice", serde_json::json!({"id": 7}));
/// tether.emitter::<Billing>().to_user("42").except_client("tab-1").emit(ev).await.unwrap();
///
/// let emits = log.emits();
/// let emit = &emits[0];
/// assert_eq!(emit.targets, [Target::User("42".into())]);
/// assert_eq!(emit.except, [Target::Client("tab-1".into())]);
/// assert_eq!((emit.event.as_str(), &emit.payload["id"]), ("invoice", &serde_json::json!(7)));
/// assert_eq!(emit.delivery.sockets, 0); // user 42 has no socket here
/// # }
/// ```
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
///
/// ```
/// # use tether::{AnyEvent, Target, Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Chat).build().await.unwrap();
/// let log = tether.record_emits::<Chat>();
///
/// // The code under test.
/// let ev = AnyEvent::new("message", serde_json::json!({"text": "hi"}));
/// tether.emitter::<Chat>().to_channel("general").emit(ev).await.unwrap();
///
/// let general = Target::Channel("general".into());
/// assert!(log.was_emitted(&general, "message", &serde_json::json!({"text": "hi"})));
/// log.assert_not_emitted("typing");
/// log.clear();
/// assert!(log.emits().is_empty());
/// # }
/// ```
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

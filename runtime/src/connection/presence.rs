//! Announcing presence changes: a channel's members are told who joined or left, and the
//! namespace's `on_user_online` / `on_user_offline` hooks run, one change at a time, in the
//! order they were taken.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::runtime::Runtime;
use crate::listener::panic_message;
use crate::namespace::Namespace;
use crate::presence::{
    Announce, Change, Group, MEMBER_JOINED_EVENT, MEMBER_LEFT_EVENT, MemberChange,
};
use crate::protocol::Target;

/// What the map calls with each change: queues it for one task that announces them in order.
pub(super) fn announcer<T: Namespace>(rt: Weak<Runtime<T>>) -> Announce {
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    tokio::spawn(async move {
        while let Some(change) = rx.recv().await {
            let Some(rt) = rt.upgrade() else {
                return;
            };
            rt.announce(change).await;
        }
    });
    Arc::new(move |change| {
        let _ = tx.send(change);
    })
}

impl<T: Namespace> Runtime<T> {
    async fn announce(&self, change: Change) {
        let Change {
            group,
            user,
            joined,
        } = change;
        match group {
            Group::Channel(channel) => {
                let (event, except) = if joined {
                    // The user's own sockets know: their join was answered.
                    (MEMBER_JOINED_EVENT, vec![Target::User(user.clone())])
                } else {
                    (MEMBER_LEFT_EVENT, Vec::new())
                };
                let payload = MemberChange {
                    channel: &channel,
                    user: &user,
                };
                let target = [Target::Channel(channel.clone())];
                if let Err(e) = self
                    .clients
                    .emit_targets(&target, &except, event, &payload)
                    .await
                {
                    tracing::warn!(ns = T::PATH, channel, user, error = %e, "{event} not sent");
                }
            }
            Group::Users => {
                tracing::info!(ns = T::PATH, user, online = joined, "user presence changed");
                let hook = if joined {
                    &self.def.on_user_online
                } else {
                    &self.def.on_user_offline
                };
                let Some(hook) = hook else {
                    return;
                };
                let fut = hook(self.state.clone(), user.clone(), self.clients.clone());
                if let Err(panic) =
                    futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await
                {
                    let which = if joined {
                        "on_user_online"
                    } else {
                        "on_user_offline"
                    };
                    tracing::error!(
                        ns = T::PATH,
                        user,
                        panic = panic_message(&panic),
                        "{which} panicked"
                    );
                }
            }
        }
    }
}

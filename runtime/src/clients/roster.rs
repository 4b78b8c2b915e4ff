//! Presence groups as the map feeds them: each tracked socket entering or leaving a group (its
//! user's, and its tracked channels'), kept here in embedded mode and in the cluster otherwise,
//! and the arrivals and departures that follow, handed to the namespace to announce.

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use socketioxide::socket::Sid;

use super::map::{ConnectedClients, WeakClients};
use crate::presence::{Announce, Change, Group};
use crate::remote::{RosterHooks, RosterSource};

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// Sets what announces the namespace's presence changes (once, when it is mounted).
    pub(crate) fn on_announce(&self, announce: Announce) {
        if self.inner().announce.set(announce).is_err() {
            tracing::error!(ns = self.namespace(), "presence announcer set twice");
        }
    }

    /// What the cluster needs to track this namespace's groups; `None` when it tracks none.
    pub(crate) fn roster_hooks(&self) -> Option<RosterHooks> {
        let tracking = &self.inner().tracking;
        if !tracking.is_on() {
            return None;
        }
        let (entries, announce) = (self.downgrade(), self.downgrade());
        let source: RosterSource = Box::new(move || {
            entries
                .upgrade()
                .map(|c| c.roster_entries())
                .unwrap_or_default()
        });
        Some(RosterHooks {
            grace: tracking.grace,
            entries: source,
            announce: Arc::new(move |change| {
                if let Some(clients) = announce.upgrade() {
                    clients.announce(change);
                }
            }),
        })
    }

    /// `(group, user, socket id)` of every tracked socket here.
    pub(crate) fn roster_entries(&self) -> Vec<(Group, String, String)> {
        let tracking = &self.inner().tracking;
        let indexes = self.read();
        let mut entries = Vec::new();
        for (sid, entry) in &indexes.by_sid {
            let session = entry.data.session();
            let Some(user) = &session.user else {
                continue;
            };
            for group in tracking.groups(&session.channels) {
                entries.push((group, user.clone(), sid.to_string()));
            }
        }
        entries
    }

    /// The tracked groups of a signed-in socket in `channels`.
    pub(super) fn groups_of<'a>(
        &self,
        channels: impl IntoIterator<Item = &'a String>,
    ) -> Vec<Group> {
        self.inner().tracking.groups(channels)
    }

    /// The tracked group of a signed-in socket's channel `channel`, if tracked.
    pub(super) fn channel_group(&self, channel: &str) -> Vec<Group> {
        let tracked = self.inner().tracking.tracks(channel);
        tracked
            .then(|| Group::Channel(channel.to_owned()))
            .into_iter()
            .collect()
    }

    /// Socket `sid` of `user` entered (`present`) or left `groups`. Called under the map's
    /// lock, so a user's changes keep their order.
    pub(super) fn roster(&self, user: &str, groups: &[Group], sid: Sid, present: bool) {
        if groups.is_empty() {
            return;
        }
        let sid = sid.to_string();
        if let Some(remote) = self.remote() {
            for group in groups {
                remote.set_member(self.namespace(), group, user, &sid, present);
            }
            return;
        }
        let grace = self.inner().tracking.grace;
        let mut arrivals = Vec::new();
        let mut departing = false;
        {
            let mut roster = self
                .inner()
                .roster
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = Instant::now() + grace;
            for group in groups {
                if present {
                    if roster.add(group, user, &sid) {
                        arrivals.push(Change {
                            group: group.clone(),
                            user: user.to_owned(),
                            joined: true,
                        });
                    }
                } else {
                    departing |= roster.remove(group, user, &sid, due);
                }
            }
        }
        for change in arrivals {
            self.announce(change);
        }
        if departing {
            let clients = self.downgrade();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                settle(&clients);
            });
        }
    }

    fn announce(&self, change: Change) {
        if let Some(announce) = self.inner().announce.get() {
            announce(change);
        }
    }

    /// The users of a tracked channel on every node, each once, those within their grace
    /// included, sorted; `None` when the channel is not tracked (or the cluster cannot be
    /// reached).
    pub(crate) async fn roster_members(&self, channel: &str) -> Option<Vec<String>> {
        if !self.inner().tracking.tracks(channel) {
            return None;
        }
        let group = Group::Channel(channel.to_owned());
        match self.remote() {
            Some(remote) => remote.members(self.namespace(), &group).await,
            None => Some(
                self.inner()
                    .roster
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .members(&group),
            ),
        }
    }
}

/// Announces the departures that are due (embedded mode).
fn settle<M: Send + Sync + 'static>(clients: &WeakClients<M>) {
    let Some(clients) = clients.upgrade() else {
        return;
    };
    let due = clients
        .inner()
        .roster
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .settle(Instant::now());
    for change in due {
        clients.announce(change);
    }
}
